//! Schemas in the store: where they come from, how writes check versions against them, and
//! `migrate` (one commit for a whole run) and `migrate --check` (every historical snapshot).
//!
//! Schemas come from two places: [`Options::schemas`](crate::Options::schemas) (Rust steps,
//! for programs using the library) and the store's own schema file, the document
//! `_gitstate/schemas` (declarative steps and external commands, for the CLI and other
//! languages; see [`crate::migrate::file`]). The schema file is a document like any other:
//! versioned, diffable, and rolled back with the rest. Documents under `_gitstate/` are never
//! covered by a schema.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::canonical;
use crate::error::Error;
use crate::history::DocChange;
use crate::migrate::{MigrateError, Schema, Version, parse_schema_file};
use crate::name::DocName;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::transaction::{Change, WriteOutcome, WriteSpec};

/// The document that holds the store's declarative schema file.
pub const SCHEMA_DOC: &str = "_gitstate/schemas";

/// Trailer naming a schema a migration applied.
pub const SCHEMA_TRAILER: &str = "Gitstate-Schema";
/// Trailer recording one migrated document: `NAME FROM -> TO`.
pub const MIGRATED_TRAILER: &str = "Gitstate-Migrated";

/// What to do with a write of a document at an older version than its schema's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OldVersionWrites {
    /// Migrate it to the current version before storing it.
    #[default]
    Migrate,
    /// Refuse the write.
    Refuse,
}

/// One document a migration moves forward.
#[derive(Debug, Clone)]
pub struct Migrated {
    /// The document.
    pub name: DocName,
    /// The schema that covers it.
    pub schema: String,
    /// Its version before.
    pub from: Version,
    /// Its version after (the schema's current one).
    pub to: Version,
    /// The change, as `diff` shows it.
    pub change: DocChange,
}

/// What `migrate` did (or, with a dry run, would do).
#[derive(Debug, Clone)]
pub struct MigrationOutcome {
    /// The commit; `None` for a dry run or when nothing was behind.
    pub commit: Option<gix::ObjectId>,
    /// The documents migrated.
    pub migrated: Vec<Migrated>,
}

/// A historical snapshot that the current schemas cannot migrate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckFailure {
    /// The commit where this version of the document first appears (walking back from HEAD,
    /// the oldest commit holding it).
    pub commit: String,
    /// The document.
    pub name: String,
    /// Why it fails: the document, version and step.
    pub error: String,
}

fn is_meta(name: &str) -> bool {
    name.starts_with("_gitstate/")
}

impl Store {
    /// The schemas in force at `snapshot`: the options' schemas, then the store's schema file.
    pub(crate) fn schemas_at(&self, snapshot: &Snapshot) -> Result<Vec<Arc<Schema>>, Error> {
        let mut all = self.options().schemas.clone();
        let doc = DocName::new(SCHEMA_DOC).expect("the schema document's name is valid");
        if let Some(bytes) = snapshot.get_bytes(&doc)? {
            let parsed = parse_schema_file(&bytes).map_err(|source| Error::Migrate {
                what: format!("schema file {SCHEMA_DOC}"),
                source: Box::new(source),
            })?;
            all.extend(parsed.into_iter().map(Arc::new));
        }
        Ok(all)
    }

    /// The schemas a write checks versions against: those of the schema file it stages, if
    /// it stages one (validated here, even when versions are not checked, so that no write
    /// can store a schema file that would block every later write), else the current ones.
    pub(crate) fn schemas_for_write(
        &self,
        snapshot: &Snapshot,
        staged: &[(DocName, Change)],
        check_versions: bool,
    ) -> Result<Vec<Arc<Schema>>, Error> {
        let staged_file = staged.iter().rev().find(|(n, _)| n.as_str() == SCHEMA_DOC);
        let from_file = match staged_file {
            Some((_, Change::Put(value))) => {
                let parsed =
                    parse_schema_file(&canonical::to_canonical_bytes(value)).map_err(|source| {
                        Error::Migrate {
                            what: format!("schema file {SCHEMA_DOC}"),
                            source: Box::new(source),
                        }
                    })?;
                Some(parsed)
            }
            Some((_, Change::PutCanonical(bytes))) => {
                Some(parse_schema_file(bytes).map_err(|source| Error::Migrate {
                    what: format!("schema file {SCHEMA_DOC}"),
                    source: Box::new(source),
                })?)
            }
            Some((_, Change::Delete)) => Some(Vec::new()),
            None => None,
        };
        if !check_versions {
            return Ok(Vec::new());
        }
        match from_file {
            Some(parsed) => {
                let mut all = self.options().schemas.clone();
                all.extend(parsed.into_iter().map(Arc::new));
                Ok(all)
            }
            None => self.schemas_at(snapshot),
        }
    }

    /// The schemas in force now.
    ///
    /// # Errors
    /// [`Error::Migrate`] when the schema file is invalid; unreadable objects.
    pub fn schemas(&self) -> Result<Vec<Arc<Schema>>, Error> {
        self.schemas_at(&self.snapshot()?)
    }

    /// Check a value being written against its schema: newer than current is refused; older
    /// is migrated or refused, as [`Options::old_version_writes`](crate::Options) says.
    /// Whether writing `name` needs its value: a schema covers it.
    pub(crate) fn needs_value(
        &self,
        schemas: &[Arc<Schema>],
        name: &DocName,
    ) -> Result<bool, Error> {
        Ok(covering(schemas, name)?.is_some())
    }

    pub(crate) fn check_version(
        &self,
        schemas: &[Arc<Schema>],
        name: &DocName,
        value: Value,
    ) -> Result<Value, Error> {
        let Some(schema) = covering(schemas, name)? else {
            return Ok(value);
        };
        let wrap = |source| Error::Migrate {
            what: "migration failed".to_owned(),
            source: Box::new(source),
        };
        if !schema
            .needs_migration(&value)
            .map_err(|e| wrap(with_name(e, name)))?
        {
            return Ok(value);
        }
        match self.options().old_version_writes {
            OldVersionWrites::Migrate => {
                Ok(schema.migrate(name.as_str(), value).map_err(wrap)?.value)
            }
            OldVersionWrites::Refuse => {
                let found = schema
                    .version_of(&value)
                    .map_err(|e| wrap(with_name(e, name)))?;
                Err(Error::Migrate {
                    what: "migration failed".to_owned(),
                    source: Box::new(MigrateError::InvalidSchema {
                        schema: schema.name().to_owned(),
                        reason: format!(
                            "version {found} is older than current {}; migrate it first",
                            schema.current()
                        ),
                    }),
                })
            }
        }
    }

    /// A document migrated to its schema's current version in memory, without writing.
    /// `None` when it does not exist; unchanged when no schema covers it.
    ///
    /// # Errors
    /// [`Error::Migrate`] naming the document, version and step.
    pub fn get_migrated(&self, name: &str) -> Result<Option<Value>, Error> {
        let doc = DocName::new(name)?;
        let snapshot = self.snapshot()?;
        let Some(value) = snapshot.get_value(&doc)? else {
            return Ok(None);
        };
        let schemas = self.schemas_at(&snapshot)?;
        match covering(&schemas, &doc)? {
            None => Ok(Some(value)),
            Some(schema) => schema
                .migrate(doc.as_str(), value)
                .map(|o| Some(o.value))
                .map_err(|source| Error::Migrate {
                    what: "migration failed".to_owned(),
                    source: Box::new(source),
                }),
        }
    }

    /// Migrate every covered document that is behind (only `names`, when given) in one
    /// commit (op `migrate`), all or nothing: if one step fails, nothing is written and the
    /// error names the document, version and step. Trailers record the schemas and, per
    /// document, the versions. With `dry_run`, nothing is written and the outcome says what
    /// would change.
    ///
    /// # Errors
    /// [`Error::Migrate`]; otherwise as [`Store::set`].
    pub fn migrate<N: AsRef<str>>(
        &self,
        names: &[N],
        dry_run: bool,
        message: Option<&str>,
    ) -> Result<MigrationOutcome, Error> {
        let names = names
            .iter()
            .map(|n| DocName::new(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if dry_run {
            let snapshot = self.snapshot()?;
            return Ok(MigrationOutcome {
                commit: None,
                migrated: self.plan(&snapshot, &names)?,
            });
        }
        let mut migrated = Vec::new();
        let mut spec = WriteSpec::new("migrate", message);
        spec.check_versions = false;
        let default_message;
        if message.is_none() {
            default_message = "migrate documents to their current schema versions".to_owned();
            spec.message = Some(&default_message);
        }
        let outcome: WriteOutcome = self.write_with_trailers(spec, |snapshot, trailers| {
            migrated = self.plan(snapshot, &names)?;
            let schemas: std::collections::BTreeSet<&str> =
                migrated.iter().map(|m| m.schema.as_str()).collect();
            for s in schemas {
                trailers.push((SCHEMA_TRAILER, s.to_owned()));
            }
            for m in &migrated {
                trailers.push((
                    MIGRATED_TRAILER,
                    format!("{} {} -> {}", m.name, m.from, m.to),
                ));
            }
            Ok(migrated
                .iter()
                .filter_map(|m| {
                    m.change
                        .after
                        .clone()
                        .map(|v| (m.name.clone(), Change::Put(v)))
                })
                .collect())
        })?;
        Ok(MigrationOutcome {
            commit: outcome.commit,
            migrated,
        })
    }

    /// Every covered document of `snapshot` (or only `names`) that is behind, migrated.
    fn plan(&self, snapshot: &Snapshot, names: &[DocName]) -> Result<Vec<Migrated>, Error> {
        let schemas = self.schemas_at(snapshot)?;
        let candidates = if names.is_empty() {
            snapshot.list()?
        } else {
            names.to_vec()
        };
        let mut out = Vec::new();
        for name in candidates {
            let Some(schema) = covering(&schemas, &name)? else {
                continue;
            };
            let value = snapshot
                .get_value(&name)?
                .ok_or_else(|| snapshot.not_found(&name))?;
            let before_text =
                String::from_utf8_lossy(&canonical::to_canonical_bytes(&value)).into_owned();
            let outcome = schema
                .migrate(name.as_str(), value.clone())
                .map_err(|source| Error::Migrate {
                    what: "migration failed".to_owned(),
                    source: Box::new(source),
                })?;
            if outcome.is_unchanged() {
                continue;
            }
            let after_text =
                String::from_utf8_lossy(&canonical::to_canonical_bytes(&outcome.value))
                    .into_owned();
            out.push(Migrated {
                change: DocChange {
                    name: name.to_string(),
                    kind: crate::history::ChangeKind::Modified,
                    before_text: Some(before_text),
                    after_text: Some(after_text),
                    before: Some(value),
                    after: Some(outcome.value),
                },
                name,
                schema: schema.name().to_owned(),
                from: outcome.from,
                to: outcome.to,
            });
        }
        Ok(out)
    }

    /// Replay every historical snapshot of every covered document (each distinct version
    /// once) through the current schemas, writing nothing. Returns each snapshot that fails.
    /// `progress` is called with the number of commits looked at so far.
    ///
    /// # Errors
    /// [`Error::Migrate`] when the schema file is invalid; unreadable objects.
    pub fn check_migrations(
        &self,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<CheckFailure>, Error> {
        let schemas = self.schemas()?;
        let repo = self.repo();
        let mut seen = HashSet::new();
        let mut first_seen: BTreeMap<(String, gix::ObjectId), String> = BTreeMap::new();
        let mut next = crate::refs::read_branch(&repo)?;
        let mut count = 0;
        while let Some(id) = next {
            let info = crate::log::read_commit(&repo, id)?;
            let snapshot = Snapshot::new(repo.clone(), Some(id), None)?;
            for (rela, blob) in snapshot.files()? {
                let Some(name) = DocName::from_rela_path(&rela) else {
                    continue;
                };
                if covering(&schemas, &name)?.is_none() {
                    continue;
                }
                // Walking back from HEAD, the last commit seen holding a blob is where it
                // first appeared.
                first_seen.insert((name.to_string(), blob), id.to_string());
                seen.insert((name, blob));
            }
            count += 1;
            progress(count);
            next = info.parent;
        }
        let mut failures = Vec::new();
        for (name, blob) in seen {
            let schema = covering(&schemas, &name)?.expect("filtered above");
            let data = crate::objects::find(&repo, blob, gix::objs::Kind::Blob)?;
            let commit = first_seen
                .get(&(name.to_string(), blob))
                .cloned()
                .unwrap_or_default();
            let result = canonical::parse(&data.data)
                .map_err(|e| format!("not valid JSON: {e}"))
                .and_then(|v| schema.migrate(name.as_str(), v).map_err(|e| e.to_string()));
            if let Err(error) = result {
                failures.push(CheckFailure {
                    commit,
                    name: name.to_string(),
                    error,
                });
            }
        }
        failures.sort_by(|a, b| a.name.cmp(&b.name).then(a.commit.cmp(&b.commit)));
        Ok(failures)
    }
}

/// The schema covering `name`, if any (documents under `_gitstate/` never are).
fn covering<'a>(schemas: &'a [Arc<Schema>], name: &DocName) -> Result<Option<&'a Schema>, Error> {
    if is_meta(name.as_str()) {
        return Ok(None);
    }
    let plain: Vec<&Schema> = schemas.iter().map(Arc::as_ref).collect();
    let found: Vec<&Schema> = plain
        .into_iter()
        .filter(|s| s.covers(name.as_str()))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(Error::Migrate {
            what: "migration failed".to_owned(),
            source: Box::new(MigrateError::InvalidSchema {
                schema: many.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
                reason: format!("several schemas cover {name}"),
            }),
        }),
    }
}

/// Put the document's name into a version error raised without one.
fn with_name(e: MigrateError, name: &DocName) -> MigrateError {
    match e {
        MigrateError::VersionField { field, reason } => MigrateError::DocumentVersion {
            name: name.to_string(),
            field,
            reason,
        },
        other => other,
    }
}
