//! Comparing states (`diff`, `show`) and attributing values to commits (`blame`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::canonical;
use crate::diff;
use crate::error::Error;
use crate::log::{LogEntry, LogOptions, read_commit};
use crate::name::{DocName, InvalidName};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::worktree::Drift;

/// How a document differs between two states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Absent before, present after.
    Added,
    /// Present before, absent after.
    Deleted,
    /// Present in both, with different content.
    Modified,
}

/// One document's change between two states.
#[derive(Debug, Clone)]
pub struct DocChange {
    /// The document (for an untracked working-tree file, its path without `.json`).
    pub name: String,
    /// Added, deleted or modified.
    pub kind: ChangeKind,
    /// The stored text before (absent: `None`).
    pub before_text: Option<String>,
    /// The stored text after.
    pub after_text: Option<String>,
    /// The value before, when the text is valid JSON.
    pub before: Option<Value>,
    /// The value after, when the text is valid JSON (a hand-edited file may not be).
    pub after: Option<Value>,
}

impl DocChange {
    /// The RFC 6902 JSON Patch that turns the before-value into the after-value (a missing
    /// document counts as `null`).
    ///
    /// # Errors
    /// [`Error::InvalidJson`] when either side is text that is not valid JSON.
    pub fn json_patch(&self) -> Result<Value, Error> {
        let side = |text: &Option<String>, value: &Option<Value>| -> Result<Value, Error> {
            match (text, value) {
                (None, _) => Ok(Value::Null),
                (Some(_), Some(v)) => Ok(v.clone()),
                (Some(t), None) => {
                    canonical::parse(t.as_bytes()).map_err(|source| Error::InvalidJson {
                        what: format!("document {}", self.name),
                        source,
                    })
                }
            }
        };
        Ok(diff::json_patch(
            &side(&self.before_text, &self.before)?,
            &side(&self.after_text, &self.after)?,
        ))
    }

    /// Counts of leaf values added, removed and changed.
    pub fn stat(&self) -> diff::LeafStat {
        diff::leaf_stat(self.before.as_ref(), self.after.as_ref())
    }
}

/// What `show` reports about one commit.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The commit's log entry (metadata and trailers).
    pub entry: LogEntry,
    /// What it changed, document by document, against its first parent.
    pub changes: Vec<DocChange>,
}

/// One line of `blame`: a value and the commit that last set it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlameLine {
    /// JSON Pointer of the value.
    pub pointer: String,
    /// The value.
    pub value: Value,
    /// The commit that gave it this value.
    pub commit: String,
    /// Its time, RFC 3339.
    pub time: String,
    /// Its author.
    pub author: String,
    /// Its op.
    pub op: String,
    /// Its message.
    pub message: String,
}

impl Store {
    /// Compare two states, document by document. `from` and `to` are revisions; with neither,
    /// HEAD is compared with the working tree (edits made outside gitstate); with only
    /// `from`, `from` is compared with HEAD. `names` limits the documents (none: all).
    ///
    /// # Errors
    /// [`Error::Revision`], invalid names, unreadable objects or files.
    pub fn diff<N: AsRef<str>>(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        names: &[N],
    ) -> Result<Vec<DocChange>, Error> {
        let names: Vec<DocName> = names
            .iter()
            .map(|n| DocName::new(n.as_ref()))
            .collect::<Result<_, InvalidName>>()?;
        let before = match from {
            Some(rev) => self.snapshot_at(rev)?,
            None => self.snapshot()?,
        };
        match (from, to) {
            (None, _) => self.diff_worktree(&before, &names),
            (Some(_), Some(rev)) => compare(&before, &self.snapshot_at(rev)?, &names),
            (Some(_), None) => compare(&before, &self.snapshot()?, &names),
        }
    }

    fn diff_worktree(&self, head: &Snapshot, names: &[DocName]) -> Result<Vec<DocChange>, Error> {
        let wt = self.worktree();
        let index = wt.load_index()?;
        let mut out = Vec::new();
        for drift in wt.drift(&head.files()?, &index)? {
            let rela = match &drift {
                Drift::Missing(p) | Drift::Modified(p) | Drift::Untracked(p) => p.clone(),
            };
            let name = rela.strip_suffix(".json").unwrap_or(&rela).to_owned();
            if !names.is_empty() && !names.iter().any(|n| n.as_str() == name) {
                continue;
            }
            let before_text = match DocName::from_rela_path(&rela) {
                Some(doc) => head.get_bytes(&doc)?.map(text),
                None => None,
            };
            let after_text = match drift {
                Drift::Missing(_) => None,
                _ => Some(text(wt.read_file(&rela)?)),
            };
            out.push(change(name, before_text, after_text));
        }
        Ok(out)
    }

    /// What commit `rev` did: its metadata and its changes against its first parent.
    ///
    /// # Errors
    /// [`Error::Revision`], unreadable objects.
    pub fn show(&self, rev: &str) -> Result<Shown, Error> {
        let after = self.snapshot_at(rev)?;
        let id = after.commit_id().expect("a resolved revision has a commit");
        let repo = self.repo();
        let info = read_commit(&repo, id)?;
        let before = Snapshot::new(repo, info.parent, None)?;
        Ok(Shown {
            entry: info.entry(id),
            changes: compare(&before, &after, &[])?,
        })
    }

    /// For every leaf value of document `name` (or only the value at `pointer`), the commit
    /// that last set it, following the document's history on the branch. Values inside
    /// arrays are blamed by position.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the document does not exist, [`Error::Pointer`] when the
    /// pointer is malformed or does not resolve, unreadable objects.
    pub fn blame(&self, name: &str, pointer: Option<&str>) -> Result<Vec<BlameLine>, Error> {
        let doc = DocName::new(name)?;
        let current = self.snapshot()?;
        let value = current
            .get_value(&doc)?
            .ok_or_else(|| current.not_found(&doc))?;
        if let Some(ptr) = pointer {
            let found = crate::patch::pointer_get(&value, ptr).map_err(|e| Error::Pointer {
                name: doc.to_string(),
                pointer: ptr.to_owned(),
                reason: e.to_string(),
            })?;
            if found.is_none() {
                return Err(Error::Pointer {
                    name: doc.to_string(),
                    pointer: ptr.to_owned(),
                    reason: "no value there".into(),
                });
            }
        }
        let options = LogOptions {
            names: vec![doc.clone()],
            ..LogOptions::default()
        };
        let commits = self.log(&options)?;
        let repo = self.repo();
        let mut versions = Vec::with_capacity(commits.len());
        for entry in commits.into_iter().rev() {
            let id =
                gix::ObjectId::from_hex(entry.commit.as_bytes()).map_err(|e| Error::Corrupt {
                    what: format!("commit id {}: {e}", entry.commit),
                })?;
            let value = Snapshot::new(repo.clone(), Some(id), None)?.get_value(&doc)?;
            versions.push((entry, value));
        }
        Ok(diff::blame(&versions, pointer)
            .into_iter()
            .map(|(ptr, entry)| BlameLine {
                value: crate::patch::pointer_get(&value, &ptr)
                    .ok()
                    .flatten()
                    .cloned()
                    .unwrap_or(Value::Null),
                pointer: ptr,
                commit: entry.commit,
                time: entry.time,
                author: entry.author,
                op: entry.op,
                message: entry.message,
            })
            .collect())
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

fn change(name: String, before_text: Option<String>, after_text: Option<String>) -> DocChange {
    let kind = match (&before_text, &after_text) {
        (None, _) => ChangeKind::Added,
        (_, None) => ChangeKind::Deleted,
        _ => ChangeKind::Modified,
    };
    let parse = |t: &Option<String>| t.as_ref().and_then(|t| canonical::parse(t.as_bytes()).ok());
    DocChange {
        before: parse(&before_text),
        after: parse(&after_text),
        name,
        kind,
        before_text,
        after_text,
    }
}

/// Compare two snapshots, limited to `names` when not empty.
fn compare(
    before: &Snapshot,
    after: &Snapshot,
    names: &[DocName],
) -> Result<Vec<DocChange>, Error> {
    let a = before.files()?;
    let b = after.files()?;
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for rela in paths {
        if a.get(rela) == b.get(rela) {
            continue;
        }
        let Some(doc) = DocName::from_rela_path(rela) else {
            continue;
        };
        if !names.is_empty() && !names.contains(&doc) {
            continue;
        }
        out.push(change(
            doc.to_string(),
            before.get_bytes(&doc)?.map(text),
            after.get_bytes(&doc)?.map(text),
        ));
    }
    Ok(out)
}
