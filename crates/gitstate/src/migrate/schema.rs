//! Schemas: which documents they cover, where the version lives, and the
//! chain of steps that migrates a document to the current version.
//!
//! # Name patterns
//!
//! A pattern is a `/`-separated list of segments matched against the
//! segments of a document name (see [`matches()`]):
//!
//! - a segment `**` matches any number of name segments, zero included, so
//!   `users/**` matches `users`, `users/ann` and `users/ann/prefs`;
//! - in any other segment, `*` matches any run of characters within one name
//!   segment (`batch/*` matches `batch/run-42` but not `batch/a/b`;
//!   `batch/run-*` matches `batch/run-42`);
//! - every other character matches itself (there is no `?` or `[...]`).
//!
//! A pattern may not be empty nor contain an empty segment (`a//b`, `/a`,
//! `a/`).
//!
//! # Chains
//!
//! A schema's steps must form exactly one chain `v0 -> v1 -> ... -> current`
//! in increasing version order: each step goes forward, no two steps start at
//! the same version, and every step lies on the path from the first version
//! to `current`. Documents without a version field are taken to be at the
//! schema's missing version (by default `v0`), which must be on the chain.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::step::{Step, StepContext};
use super::{MigrateError, Version};
use crate::patch::pointer_get;

/// Whether the document name `name` matches the glob `pattern` (see the
/// [module docs](self) for the syntax).
///
/// ```
/// use gitstate::migrate::matches;
/// assert!(matches("batch/*", "batch/run-42"));
/// assert!(!matches("batch/*", "batch/2024/run-1"));
/// assert!(matches("users/**", "users/ann/prefs"));
/// assert!(matches("prefs", "prefs"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = name.split('/').collect();
    let n = segs.len();
    // next[j]: does pat[i + 1..] match segs[j..]? Start with the empty
    // pattern, which matches only the empty rest of the name.
    let mut next = vec![false; n + 1];
    next[n] = true;
    for p in pat.iter().rev() {
        let mut cur = vec![false; n + 1];
        for j in (0..=n).rev() {
            cur[j] = if *p == "**" {
                next[j] || (j < n && cur[j + 1])
            } else {
                j < n && next[j + 1] && segment_matches(p.as_bytes(), segs[j].as_bytes())
            };
        }
        next = cur;
    }
    next[0]
}

/// Glob match of one segment where `*` matches any run of bytes.
fn segment_matches(glob: &[u8], s: &[u8]) -> bool {
    let (mut g, mut i) = (0, 0);
    // Position of the last `*` seen and where its match currently ends.
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, i));
            g += 1;
        } else if g < glob.len() && glob[g] == s[i] {
            g += 1;
            i += 1;
        } else if let Some((sg, si)) = star {
            g = sg + 1;
            i = si + 1;
            star = Some((sg, si + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

/// Check the syntax of a name pattern.
fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("pattern must not be empty".to_owned());
    }
    if pattern.split('/').any(str::is_empty) {
        return Err(format!("pattern {pattern:?} has an empty segment"));
    }
    Ok(())
}

/// What is wrong with the steps of a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainProblem {
    /// Versions of both kinds (integer and semver) are used.
    #[error("mixed version kinds: {other} is {} but current {current} is {}", .other.kind_name(), .current.kind_name())]
    MixedKinds {
        /// The current version.
        current: Version,
        /// A version of the other kind.
        other: Version,
    },
    /// Two steps start at the same version.
    #[error("duplicate steps from {from}: to {to} and to {other_to}")]
    Duplicate {
        /// The shared source version.
        from: Version,
        /// The first step's target.
        to: Version,
        /// The second step's target.
        other_to: Version,
    },
    /// Following the steps leads back to a version already visited.
    #[error("cycle: {}", join(.path))]
    Cycle {
        /// The versions of the cycle, the first repeated at the end.
        path: Vec<Version>,
    },
    /// A step does not go to a newer version.
    #[error("step {from} -> {to} goes backwards")]
    Backwards {
        /// The step's source version.
        from: Version,
        /// The step's target version, not newer than `from`.
        to: Version,
    },
    /// The chain stops before the current version and resumes later.
    #[error("gap in chain: no step from {after} (the next step starts at {next})")]
    Gap {
        /// The last version reached from the first version.
        after: Version,
        /// The source version of the next, disconnected step.
        next: Version,
    },
    /// The chain does not pass through the current version.
    #[error("current version {current} is not reachable: the chain is {}", join(.chain))]
    Unreachable {
        /// The current version.
        current: Version,
        /// The versions reached from the first version.
        chain: Vec<Version>,
    },
    /// A step starts at or after the current version.
    #[error("step {from} -> {to} goes past current version {current}")]
    PastCurrent {
        /// The step's source version.
        from: Version,
        /// The step's target version.
        to: Version,
        /// The current version.
        current: Version,
    },
    /// A step before the current version is not on the path from the first
    /// version to current.
    #[error("step {from} -> {to} is not on the chain {}", join(.chain))]
    OffChain {
        /// The step's source version.
        from: Version,
        /// The step's target version.
        to: Version,
        /// The versions of the chain.
        chain: Vec<Version>,
    },
    /// The version assumed for documents without one is not on the chain.
    #[error("missing version {version} is not on the chain {}", join(.chain))]
    MissingOffChain {
        /// The configured missing version.
        version: Version,
        /// The versions of the chain.
        chain: Vec<Version>,
    },
}

/// Versions joined as `1 -> 2 -> 3`.
fn join(versions: &[Version]) -> String {
    versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Builds a [`Schema`]; see [`SchemaBuilder::build`] for the checks.
#[derive(Debug)]
pub struct SchemaBuilder {
    name: String,
    pattern: String,
    version_field: String,
    current: Option<Version>,
    missing_version: Option<Version>,
    steps: Vec<(Version, Version, Step)>,
}

impl SchemaBuilder {
    /// Start a schema named `name` covering the documents whose names match
    /// `pattern`, with version field `version`.
    pub fn new(name: &str, pattern: &str) -> SchemaBuilder {
        SchemaBuilder {
            name: name.to_owned(),
            pattern: pattern.to_owned(),
            version_field: "version".to_owned(),
            current: None,
            missing_version: None,
            steps: Vec::new(),
        }
    }

    /// Where the version is recorded: a top-level key name (`version`), or a
    /// JSON Pointer when it starts with `/` (`/meta/version`).
    pub fn version_field(mut self, ptr_or_key: &str) -> SchemaBuilder {
        ptr_or_key.clone_into(&mut self.version_field);
        self
    }

    /// The current version, which every document is migrated to (required).
    pub fn current(mut self, version: Version) -> SchemaBuilder {
        self.current = Some(version);
        self
    }

    /// The version of documents that have no version field (default: the
    /// first version of the chain).
    pub fn missing_version(mut self, version: Version) -> SchemaBuilder {
        self.missing_version = Some(version);
        self
    }

    /// Add the step migrating documents from `from` to `to`.
    pub fn step(mut self, from: Version, to: Version, step: Step) -> SchemaBuilder {
        self.steps.push((from, to, step));
        self
    }

    /// Check the definition and build the schema.
    ///
    /// # Errors
    ///
    /// - [`MigrateError::InvalidSchema`]: empty name, invalid pattern or
    ///   version field, no current version;
    /// - [`MigrateError::Chain`]: mixed version kinds, two steps from the
    ///   same version, a cycle, a step going backwards, a gap, a current
    ///   version off the chain or a step past it, a missing version off the
    ///   chain;
    /// - [`MigrateError::InvalidStep`]: a malformed pointer in an op, an
    ///   empty command.
    pub fn build(self) -> Result<Schema, MigrateError> {
        let schema_name = self.name.clone();
        let invalid = |reason: String| MigrateError::InvalidSchema {
            schema: schema_name.clone(),
            reason,
        };
        let chain_err = |problem: ChainProblem| MigrateError::Chain {
            schema: schema_name.clone(),
            problem: Box::new(problem),
        };
        if self.name.is_empty() {
            return Err(invalid("name must not be empty".to_owned()));
        }
        validate_pattern(&self.pattern).map_err(invalid)?;
        let field = VersionField::parse(&self.version_field).map_err(invalid)?;
        let current = self
            .current
            .ok_or_else(|| invalid("current version not set".to_owned()))?;

        let other_kind = self
            .missing_version
            .iter()
            .chain(self.steps.iter().flat_map(|(f, t, _)| [f, t]))
            .find(|v| !v.same_kind(&current))
            .copied();
        if let Some(other) = other_kind {
            return Err(chain_err(ChainProblem::MixedKinds { current, other }));
        }

        // from -> index of its step
        let mut next: HashMap<Version, usize> = HashMap::new();
        for (i, (from, to, _)) in self.steps.iter().enumerate() {
            if let Some(&j) = next.get(from) {
                return Err(chain_err(ChainProblem::Duplicate {
                    from: *from,
                    to: self.steps[j].1,
                    other_to: *to,
                }));
            }
            next.insert(*from, i);
        }
        for (from, _, _) in &self.steps {
            if let Some(path) = find_cycle(from, &next, &self.steps) {
                return Err(chain_err(ChainProblem::Cycle { path }));
            }
        }
        if let Some((from, to, _)) = self.steps.iter().find(|(f, t, _)| t <= f) {
            return Err(chain_err(ChainProblem::Backwards {
                from: *from,
                to: *to,
            }));
        }

        // Walk from the oldest version that no step leads to.
        let targets: HashSet<&Version> = self.steps.iter().map(|(_, t, _)| t).collect();
        let mut starts: Vec<Version> = self
            .steps
            .iter()
            .map(|(f, _, _)| *f)
            .filter(|f| !targets.contains(f))
            .collect();
        starts.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let mut chain = vec![starts.first().copied().unwrap_or(current)];
        let mut order = Vec::with_capacity(self.steps.len());
        while let Some(&i) = chain.last().and_then(|v| next.get(v)) {
            order.push(i);
            chain.push(self.steps[i].1);
        }
        let end = chain.last().copied().unwrap_or(current);
        match chain.iter().position(|v| *v == current) {
            Some(pos) if pos + 1 < chain.len() => {
                return Err(chain_err(ChainProblem::PastCurrent {
                    from: chain[pos],
                    to: chain[pos + 1],
                    current,
                }));
            }
            Some(_) => {}
            None => {
                let resumes = starts.iter().find(|s| **s > end).copied();
                return Err(chain_err(match resumes {
                    Some(resume) if end < current => ChainProblem::Gap {
                        after: end,
                        next: resume,
                    },
                    _ => ChainProblem::Unreachable { current, chain },
                }));
            }
        }
        // The path reaches current; any step not on it is an error.
        let unvisited = (0..self.steps.len()).find(|i| !order.contains(i));
        if let Some((from, to, _)) = unvisited.map(|i| &self.steps[i]) {
            let (from, to) = (*from, *to);
            return Err(chain_err(if from >= current {
                ChainProblem::PastCurrent { from, to, current }
            } else {
                ChainProblem::OffChain { from, to, chain }
            }));
        }

        let missing_version = self.missing_version.unwrap_or(chain[0]);
        if !chain.contains(&missing_version) {
            return Err(chain_err(ChainProblem::MissingOffChain {
                version: missing_version,
                chain,
            }));
        }
        for (from, to, step) in &self.steps {
            step.validate()
                .map_err(|reason| MigrateError::InvalidStep {
                    schema: self.name.clone(),
                    from: *from,
                    to: *to,
                    reason,
                })?;
        }

        let mut slots: Vec<Option<(Version, Version, Step)>> =
            self.steps.into_iter().map(Some).collect();
        let steps = order
            .iter()
            .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
            .map(|(from, to, step)| ChainStep { from, to, step })
            .collect();
        Ok(Schema {
            name: self.name,
            pattern: self.pattern,
            field,
            current,
            missing_version,
            chain,
            steps,
        })
    }
}

/// Follow the steps from `start`; the cycle met, if any.
fn find_cycle(
    start: &Version,
    next: &HashMap<Version, usize>,
    steps: &[(Version, Version, Step)],
) -> Option<Vec<Version>> {
    let mut path = vec![*start];
    let mut cur = *start;
    while let Some(&i) = next.get(&cur) {
        cur = steps[i].1;
        if let Some(pos) = path.iter().position(|v| *v == cur) {
            let mut cycle = path.split_off(pos);
            cycle.push(cur);
            return Some(cycle);
        }
        path.push(cur);
    }
    None
}

/// The location of the version inside documents.
#[derive(Debug, Clone)]
struct VersionField {
    /// The field as a JSON Pointer (`/version`).
    pointer: String,
    /// The pointer of the object holding the field (`` for top level).
    parent: String,
    /// The field's key in that object, unescaped.
    key: String,
}

impl VersionField {
    fn parse(ptr_or_key: &str) -> Result<VersionField, String> {
        if ptr_or_key.is_empty() {
            return Err("version field must not be empty".to_owned());
        }
        if !ptr_or_key.starts_with('/') {
            return Ok(VersionField {
                pointer: format!("/{}", ptr_or_key.replace('~', "~0").replace('/', "~1")),
                parent: String::new(),
                key: ptr_or_key.to_owned(),
            });
        }
        if let Err(e) = pointer_get(&Value::Null, ptr_or_key) {
            return Err(format!("version field: {e}"));
        }
        let (parent, raw_key) = ptr_or_key.rsplit_once('/').unwrap_or(("", ptr_or_key));
        Ok(VersionField {
            pointer: ptr_or_key.to_owned(),
            parent: parent.to_owned(),
            key: raw_key.replace("~1", "/").replace("~0", "~"),
        })
    }
}

/// One step of a built schema's chain.
#[derive(Debug)]
struct ChainStep {
    from: Version,
    to: Version,
    step: Step,
}

/// A built, checked schema: see [`SchemaBuilder`].
#[derive(Debug)]
pub struct Schema {
    name: String,
    pattern: String,
    field: VersionField,
    current: Version,
    missing_version: Version,
    /// `steps[i]` goes from `chain[i]` to `chain[i + 1]`; the last is current.
    chain: Vec<Version>,
    steps: Vec<ChainStep>,
}

/// The result of [`Schema::migrate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The migrated document (the input itself when no step applied).
    pub value: Value,
    /// The version the document was at (the missing version when it had
    /// none).
    pub from: Version,
    /// The version it is at now: the schema's current version.
    pub to: Version,
    /// The steps applied, in order, as `(from, to)`.
    pub steps_applied: Vec<(Version, Version)>,
}

impl Outcome {
    /// Whether no step was applied (the document was already current).
    pub fn is_unchanged(&self) -> bool {
        self.steps_applied.is_empty()
    }
}

impl Schema {
    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name pattern of the documents it covers.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The version field as a JSON Pointer (`/version` for the default).
    pub fn version_field(&self) -> &str {
        &self.field.pointer
    }

    /// The current version.
    pub fn current(&self) -> &Version {
        &self.current
    }

    /// The version assumed for documents without a version field.
    pub fn missing_version(&self) -> &Version {
        &self.missing_version
    }

    /// The versions of the chain, oldest first; the last is current.
    pub fn versions(&self) -> &[Version] {
        &self.chain
    }

    /// Whether the schema covers the document named `name` (its pattern
    /// [`matches()`] the name).
    pub fn covers(&self, name: &str) -> bool {
        matches(&self.pattern, name)
    }

    fn field_error(&self, reason: String) -> MigrateError {
        MigrateError::VersionField {
            field: self.field.pointer.clone(),
            reason,
        }
    }

    /// The version a document is at: the value of its version field, or the
    /// missing version when the field (or an object on its path) is absent.
    ///
    /// # Errors
    ///
    /// [`MigrateError::VersionField`] when the document is not an object,
    /// the field holds something that is not a version, or a version of the
    /// other kind than the schema's.
    pub fn version_of(&self, doc: &Value) -> Result<Version, MigrateError> {
        if !doc.is_object() {
            return Err(self.field_error("document is not a JSON object".to_owned()));
        }
        let found =
            pointer_get(doc, &self.field.pointer).map_err(|e| self.field_error(e.to_string()))?;
        let Some(raw) = found else {
            return Ok(self.missing_version);
        };
        let version = Version::from_json(raw).map_err(|e| self.field_error(e.to_string()))?;
        if !version.same_kind(&self.current) {
            return Err(self.field_error(format!(
                "version {version} is {} but the schema's versions are {}",
                version.kind_name(),
                self.current.kind_name()
            )));
        }
        Ok(version)
    }

    /// Whether the document is at a version other than current (it may
    /// still be impossible to migrate, see [`Schema::migrate`]).
    ///
    /// # Errors
    ///
    /// As [`Schema::version_of`].
    pub fn needs_migration(&self, doc: &Value) -> Result<bool, MigrateError> {
        Ok(self.version_of(doc)? != self.current)
    }

    /// Record `version` in the document's version field.
    fn write_version(&self, doc: &mut Value, version: &Version) -> Result<(), String> {
        let parent_name = || {
            if self.field.parent.is_empty() {
                "the document".to_owned()
            } else {
                format!("parent {}", self.field.parent)
            }
        };
        let Some(parent) = doc.pointer_mut(&self.field.parent) else {
            return Err(format!("{} does not exist", parent_name()));
        };
        let Value::Object(map) = parent else {
            return Err(format!("{} is not a JSON object", parent_name()));
        };
        map.insert(self.field.key.clone(), version.to_json());
        Ok(())
    }

    /// Migrate the document `name` to the current version.
    ///
    /// Each step from the document's version on is applied in order, and the
    /// step's target version is written to the version field after it (in
    /// the JSON form of the schema's versions). A document already at the
    /// current version is returned unchanged with no steps. `name` is used
    /// in error messages and given to commands; whether the schema covers it
    /// is not checked (see [`Schema::covers`] and [`find_schema`]).
    ///
    /// # Errors
    ///
    /// - [`MigrateError::DocumentVersion`]: the version field is unreadable;
    /// - [`MigrateError::Newer`]: the document is newer than current;
    /// - [`MigrateError::NotOnChain`]: the version is not one of the chain's;
    /// - [`MigrateError::StepFailed`]: a step failed, or its result has no
    ///   object to hold the version field.
    pub fn migrate(&self, name: &str, value: Value) -> Result<Outcome, MigrateError> {
        let found = self.version_of(&value).map_err(|e| match e {
            MigrateError::VersionField { field, reason } => MigrateError::DocumentVersion {
                name: name.to_owned(),
                field,
                reason,
            },
            other => other,
        })?;
        if found > self.current {
            return Err(MigrateError::Newer {
                name: name.to_owned(),
                found,
                current: self.current,
            });
        }
        let Some(pos) = self.chain.iter().position(|v| *v == found) else {
            return Err(MigrateError::NotOnChain {
                name: name.to_owned(),
                found,
                chain: join(&self.chain),
            });
        };
        let mut value = value;
        let mut steps_applied = Vec::new();
        for s in &self.steps[pos..] {
            let failed = |reason: String| MigrateError::StepFailed {
                name: name.to_owned(),
                from: s.from,
                to: s.to,
                reason,
            };
            let ctx = StepContext {
                document: name,
                from: &s.from,
                to: &s.to,
            };
            value = s.step.apply(value, &ctx).map_err(failed)?;
            self.write_version(&mut value, &s.to)
                .map_err(|e| failed(format!("cannot record version: {e}")))?;
            steps_applied.push((s.from, s.to));
        }
        Ok(Outcome {
            value,
            from: found,
            to: self.current,
            steps_applied,
        })
    }
}

/// The schema among `schemas` that covers the document `name`, if any.
///
/// # Errors
///
/// [`MigrateError::Ambiguous`] when several schemas cover it.
pub fn find_schema<'a>(
    schemas: &'a [Schema],
    name: &str,
) -> Result<Option<&'a Schema>, MigrateError> {
    let mut covering = schemas.iter().filter(|s| s.covers(name));
    let first = covering.next();
    let rest: Vec<&Schema> = covering.collect();
    match (first, rest.is_empty()) {
        (Some(s), false) => Err(MigrateError::Ambiguous {
            name: name.to_owned(),
            schemas: std::iter::once(s)
                .chain(rest)
                .map(|s| s.name.clone())
                .collect(),
        }),
        (first, _) => Ok(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::Op;
    use serde_json::json;

    const fn s(a: u64, b: u64, c: u64) -> Version {
        Version::Semver(a, b, c)
    }

    const fn i(n: u64) -> Version {
        Version::Int(n)
    }

    fn noop() -> Step {
        Step::rust(Ok)
    }

    /// A step that appends its target to `/trail`.
    fn trail(tag: &'static str) -> Step {
        Step::rust(move |mut v| {
            let Some(t) = v.get_mut("trail").and_then(Value::as_array_mut) else {
                return Err("no trail".to_owned());
            };
            t.push(json!(tag));
            Ok(v)
        })
    }

    fn chain_problem(b: SchemaBuilder) -> ChainProblem {
        match b.build() {
            Err(MigrateError::Chain { problem, .. }) => *problem,
            other => panic!("expected a chain error, got {other:?}"),
        }
    }

    fn three_steps() -> Schema {
        SchemaBuilder::new("batch", "batch/*")
            .current(i(4))
            .step(i(1), i(2), trail("2"))
            .step(i(3), i(4), trail("4"))
            .step(i(2), i(3), trail("3"))
            .build()
            .expect("valid schema")
    }

    #[test]
    fn pattern_matching() {
        let yes = [
            ("prefs", "prefs"),
            ("batch/*", "batch/run-42"),
            ("batch/run-*", "batch/run-42"),
            ("batch/*-42", "batch/run-42"),
            ("batch/r*n*2", "batch/run-42"),
            ("*", "prefs"),
            ("*/*", "a/b"),
            ("users/**", "users"),
            ("users/**", "users/ann"),
            ("users/**", "users/ann/prefs/x"),
            ("**", "a"),
            ("**", "a/b/c"),
            ("**/prefs", "prefs"),
            ("**/prefs", "users/ann/prefs"),
            ("a/**/z", "a/z"),
            ("a/**/z", "a/b/c/z"),
            ("a/**/b/**/c", "a/x/b/y/z/c"),
            ("**/**/x", "x"),
            ("a**b", "ab"),
            ("a**b", "axxb"),
            ("é*", "été"),
        ];
        for (p, n) in yes {
            assert!(matches(p, n), "{p} should match {n}");
        }
        let no = [
            ("prefs", "prefs/x"),
            ("prefs", "pref"),
            ("batch/*", "batch"),
            ("batch/*", "batch/a/b"),
            ("batch/*", "other/run"),
            ("batch/run-*", "batch/walk-1"),
            ("*", "a/b"),
            ("users/**", "usersx/a"),
            ("users/**", "other"),
            ("**/prefs", "users/ann/prefs2"),
            ("a/**/z", "a/b/c"),
            ("a**b", "a/b"),
            ("batch/?", "batch/x"),
        ];
        for (p, n) in no {
            assert!(!matches(p, n), "{p} should not match {n}");
        }
        // Many stars stay fast (no exponential backtracking).
        let many = "*a".repeat(30);
        assert!(!matches(&many, &"a".repeat(29)));
        let deep = vec!["**"; 30].join("/") + "/x";
        assert!(!matches(&deep, &vec!["a"; 60].join("/")));
        assert!(matches(&deep, &(vec!["a"; 60].join("/") + "/x")));
    }

    #[test]
    fn invalid_patterns_and_fields() {
        for p in ["", "/a", "a/", "a//b"] {
            let err = SchemaBuilder::new("x", p)
                .current(i(1))
                .build()
                .expect_err(p);
            assert!(
                matches!(err, MigrateError::InvalidSchema { .. }),
                "{p}: {err}"
            );
        }
        let err = SchemaBuilder::new("x", "a")
            .build()
            .expect_err("no current");
        assert_eq!(err.to_string(), "schema x: current version not set");
        let err = SchemaBuilder::new("", "a")
            .current(i(1))
            .build()
            .expect_err("no name");
        assert!(matches!(err, MigrateError::InvalidSchema { .. }), "{err}");
        for f in ["", "/a~2", "/"] {
            let r = SchemaBuilder::new("x", "a")
                .version_field(f)
                .current(i(1))
                .build();
            if f == "/" {
                // The key "" is a valid (if odd) field.
                assert_eq!(r.expect("ok").version_field(), "/");
            } else {
                assert!(r.is_err(), "{f}");
            }
        }
    }

    #[test]
    fn chain_ordering_and_accessors() {
        let schema = three_steps();
        assert_eq!(schema.versions(), &[i(1), i(2), i(3), i(4)]);
        assert_eq!(schema.missing_version(), &i(1));
        assert_eq!(schema.current(), &i(4));
        assert_eq!(schema.name(), "batch");
        assert_eq!(schema.pattern(), "batch/*");
        assert_eq!(schema.version_field(), "/version");
        assert!(schema.covers("batch/run-1"));
        assert!(!schema.covers("prefs"));
        // No steps: the chain is just current.
        let only = SchemaBuilder::new("p", "prefs")
            .current(s(1, 0, 0))
            .build()
            .expect("ok");
        assert_eq!(only.versions(), &[s(1, 0, 0)]);
        assert_eq!(only.missing_version(), &s(1, 0, 0));
    }

    #[test]
    fn chain_gap() {
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(4))
                .step(i(1), i(2), noop())
                .step(i(3), i(4), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::Gap {
                after: i(2),
                next: i(3)
            }
        );
        assert_eq!(
            p.to_string(),
            "gap in chain: no step from 2 (the next step starts at 3)"
        );
        // A gap before current, with the later piece ending at current.
        let err = SchemaBuilder::new("b", "b")
            .current(s(3, 0, 0))
            .step(s(2, 0, 0), s(3, 0, 0), noop())
            .step(s(0, 1, 0), s(1, 0, 0), noop())
            .build()
            .expect_err("gap");
        assert_eq!(
            err.to_string(),
            "schema b: gap in chain: no step from 1.0.0 (the next step starts at 2.0.0)"
        );
    }

    #[test]
    fn chain_cycle() {
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(3))
                .step(i(1), i(2), noop())
                .step(i(2), i(1), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::Cycle {
                path: vec![i(1), i(2), i(1)]
            }
        );
        assert_eq!(p.to_string(), "cycle: 1 -> 2 -> 1");
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(3))
                .step(i(2), i(2), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::Cycle {
                path: vec![i(2), i(2)]
            }
        );
        // A cycle reached from a proper start.
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(9))
                .step(i(1), i(2), noop())
                .step(i(2), i(3), noop())
                .step(i(3), i(2), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::Cycle {
                path: vec![i(2), i(3), i(2)]
            }
        );
    }

    #[test]
    fn chain_duplicate() {
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(3))
                .step(i(1), i(2), noop())
                .step(i(1), i(3), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::Duplicate {
                from: i(1),
                to: i(2),
                other_to: i(3)
            }
        );
        assert_eq!(p.to_string(), "duplicate steps from 1: to 2 and to 3");
    }

    #[test]
    fn chain_backwards() {
        let p = chain_problem(SchemaBuilder::new("b", "b").current(s(2, 0, 0)).step(
            s(2, 0, 0),
            s(1, 5, 0),
            noop(),
        ));
        assert_eq!(
            p,
            ChainProblem::Backwards {
                from: s(2, 0, 0),
                to: s(1, 5, 0)
            }
        );
        assert_eq!(p.to_string(), "step 2.0.0 -> 1.5.0 goes backwards");
    }

    #[test]
    fn chain_mixed_kinds() {
        let p = chain_problem(SchemaBuilder::new("b", "b").current(i(2)).step(
            s(1, 0, 0),
            i(2),
            noop(),
        ));
        assert_eq!(
            p,
            ChainProblem::MixedKinds {
                current: i(2),
                other: s(1, 0, 0)
            }
        );
        assert_eq!(
            p.to_string(),
            "mixed version kinds: 1.0.0 is semver but current 2 is integer"
        );
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(2))
                .missing_version(s(0, 0, 1)),
        );
        assert!(matches!(p, ChainProblem::MixedKinds { .. }), "{p}");
    }

    #[test]
    fn chain_current_unreachable_or_passed() {
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(5))
                .step(i(1), i(2), noop())
                .step(i(2), i(3), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::Unreachable {
                current: i(5),
                chain: vec![i(1), i(2), i(3)]
            }
        );
        assert_eq!(
            p.to_string(),
            "current version 5 is not reachable: the chain is 1 -> 2 -> 3"
        );
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(2))
                .step(i(1), i(3), noop()),
        );
        assert!(matches!(p, ChainProblem::Unreachable { .. }), "{p}");
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(2))
                .step(i(1), i(2), noop())
                .step(i(2), i(3), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::PastCurrent {
                from: i(2),
                to: i(3),
                current: i(2)
            }
        );
        // A disconnected step beyond current.
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(2))
                .step(i(1), i(2), noop())
                .step(i(5), i(6), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::PastCurrent {
                from: i(5),
                to: i(6),
                current: i(2)
            }
        );
        // A disconnected step before current.
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(4))
                .step(i(1), i(2), noop())
                .step(i(2), i(4), noop())
                .step(i(3), i(5), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::OffChain {
                from: i(3),
                to: i(5),
                chain: vec![i(1), i(2), i(4)]
            }
        );
        assert_eq!(p.to_string(), "step 3 -> 5 is not on the chain 1 -> 2 -> 4");
    }

    #[test]
    fn missing_version_must_be_on_chain() {
        let p = chain_problem(
            SchemaBuilder::new("b", "b")
                .current(i(3))
                .missing_version(i(0))
                .step(i(1), i(3), noop()),
        );
        assert_eq!(
            p,
            ChainProblem::MissingOffChain {
                version: i(0),
                chain: vec![i(1), i(3)]
            }
        );
        let ok = SchemaBuilder::new("b", "b")
            .current(i(3))
            .missing_version(i(3))
            .step(i(1), i(3), noop())
            .build()
            .expect("ok");
        assert_eq!(ok.missing_version(), &i(3));
    }

    #[test]
    fn invalid_step_is_named() {
        let err = SchemaBuilder::new("b", "b")
            .current(i(2))
            .step(
                i(1),
                i(2),
                Step::Ops(vec![Op::Remove {
                    path: "nope".into(),
                }]),
            )
            .build()
            .expect_err("bad pointer");
        assert_eq!(
            err.to_string(),
            "schema b: step 1 -> 2: ops[0] (remove): invalid path \"nope\": must be empty or start with '/'"
        );
    }

    #[test]
    fn migrates_step_by_step() {
        let schema = three_steps();
        let out = schema
            .migrate("batch/a", json!({"version": 2, "trail": []}))
            .expect("migrates");
        assert_eq!(out.value, json!({"version": 4, "trail": ["3", "4"]}));
        assert_eq!(out.from, i(2));
        assert_eq!(out.to, i(4));
        assert_eq!(out.steps_applied, vec![(i(2), i(3)), (i(3), i(4))]);
        assert!(!out.is_unchanged());
    }

    #[test]
    fn version_written_after_each_step() {
        let seen = |expected: u64| {
            Step::rust(move |v| {
                if v["version"] == json!(expected) {
                    Ok(v)
                } else {
                    Err(format!("saw version {}", v["version"]))
                }
            })
        };
        let schema = SchemaBuilder::new("b", "b")
            .current(i(3))
            .step(i(1), i(2), seen(1))
            .step(i(2), i(3), seen(2))
            .build()
            .expect("ok");
        let out = schema.migrate("b", json!({"version": 1})).expect("ok");
        assert_eq!(out.value, json!({"version": 3}));
        // The semver form is a string.
        let schema = SchemaBuilder::new("b", "b")
            .current(s(2, 0, 0))
            .step(s(1, 0, 0), s(2, 0, 0), noop())
            .build()
            .expect("ok");
        let out = schema
            .migrate("b", json!({"version": "1.0.0"}))
            .expect("ok");
        assert_eq!(out.value, json!({"version": "2.0.0"}));
    }

    #[test]
    fn current_document_unchanged() {
        let schema = three_steps();
        let doc: Value =
            serde_json::from_str(r#"{"version": 4, "trail": [], "n": 1.50}"#).expect("json");
        let out = schema.migrate("batch/a", doc.clone()).expect("ok");
        assert!(out.is_unchanged());
        assert_eq!(out.value, doc);
        assert_eq!(out.value["n"].to_string(), "1.50");
        assert_eq!((out.from, out.to), (i(4), i(4)));
        assert!(!schema.needs_migration(&doc).expect("ok"));
        assert!(schema.needs_migration(&json!({"version": 1})).expect("ok"));
    }

    #[test]
    fn newer_version_refused() {
        let schema = three_steps();
        let doc = json!({"version": 7, "trail": []});
        let err = schema.migrate("batch/a", doc).expect_err("newer");
        assert_eq!(
            err,
            MigrateError::Newer {
                name: "batch/a".into(),
                found: i(7),
                current: i(4)
            }
        );
        assert_eq!(
            err.to_string(),
            "document batch/a: version 7 is newer than current version 4"
        );
    }

    #[test]
    fn version_not_on_chain() {
        let schema = SchemaBuilder::new("b", "b/*")
            .current(s(2, 0, 0))
            .step(s(1, 0, 0), s(2, 0, 0), noop())
            .build()
            .expect("ok");
        for v in ["1.5.0", "0.9.0"] {
            let err = schema.migrate("b/x", json!({"version": v})).expect_err(v);
            assert_eq!(
                err.to_string(),
                format!("document b/x: version {v} is not on the migration chain (1.0.0 -> 2.0.0)")
            );
        }
    }

    #[test]
    fn missing_version_default_and_explicit() {
        let schema = three_steps();
        assert_eq!(schema.version_of(&json!({"trail": []})), Ok(i(1)));
        let out = schema.migrate("batch/a", json!({"trail": []})).expect("ok");
        assert_eq!(out.from, i(1));
        assert_eq!(out.value, json!({"version": 4, "trail": ["2", "3", "4"]}));

        let schema = SchemaBuilder::new("b", "b")
            .current(i(3))
            .missing_version(i(2))
            .step(i(1), i(2), trail("2"))
            .step(i(2), i(3), trail("3"))
            .build()
            .expect("ok");
        let out = schema.migrate("b", json!({"trail": []})).expect("ok");
        assert_eq!(out.steps_applied, vec![(i(2), i(3))]);
        assert_eq!(out.value, json!({"version": 3, "trail": ["3"]}));
        // Missing version equal to current: returned as is, field not added.
        let schema = SchemaBuilder::new("p", "p")
            .current(i(1))
            .build()
            .expect("ok");
        let out = schema.migrate("p", json!({"a": 1})).expect("ok");
        assert_eq!(out.value, json!({"a": 1}));
        assert!(out.is_unchanged());
    }

    #[test]
    fn invalid_document_versions() {
        let schema = three_steps();
        let err = schema
            .migrate("batch/a", json!({"version": "2"}))
            .expect_err("string");
        assert!(matches!(err, MigrateError::DocumentVersion { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "document batch/a: version field /version: invalid version \"2\": must have exactly three parts MAJOR.MINOR.PATCH"
        );
        let err = schema
            .migrate("batch/a", json!({"version": "2.0.0"}))
            .expect_err("kind");
        assert_eq!(
            err.to_string(),
            "document batch/a: version field /version: version 2.0.0 is semver but the schema's versions are integer"
        );
        let err = schema.migrate("batch/a", json!([1])).expect_err("array");
        assert_eq!(
            err.to_string(),
            "document batch/a: version field /version: document is not a JSON object"
        );
        let err = schema
            .version_of(&json!({"version": null}))
            .expect_err("null");
        assert!(matches!(err, MigrateError::VersionField { .. }), "{err}");
    }

    #[test]
    fn nested_version_field() {
        let schema = SchemaBuilder::new("b", "b")
            .version_field("/meta/schema~1version")
            .current(i(2))
            .step(i(1), i(2), noop())
            .build()
            .expect("ok");
        let out = schema
            .migrate("b", json!({"meta": {"schema/version": 1}}))
            .expect("ok");
        assert_eq!(out.value, json!({"meta": {"schema/version": 2}}));
        // The parent is missing: version is the missing one, but it cannot
        // be recorded.
        let err = schema.migrate("b", json!({})).expect_err("no parent");
        assert_eq!(
            err.to_string(),
            "document b: step 1 -> 2: cannot record version: parent /meta does not exist"
        );
        // A plain key containing a slash is one top-level key.
        let schema = SchemaBuilder::new("b", "b")
            .version_field("schema/v")
            .current(i(1))
            .build()
            .expect("ok");
        assert_eq!(schema.version_field(), "/schema~1v");
        assert_eq!(schema.version_of(&json!({"schema/v": 1})), Ok(i(1)));
    }

    #[test]
    fn step_errors_name_document_and_step() {
        let schema = SchemaBuilder::new("b", "b/*")
            .current(s(3, 0, 0))
            .step(s(1, 0, 0), s(2, 0, 0), noop())
            .step(
                s(2, 0, 0),
                s(3, 0, 0),
                Step::rust(|_| Err("bad data".to_owned())),
            )
            .build()
            .expect("ok");
        let err = schema
            .migrate("b/x", json!({"version": "1.0.0"}))
            .expect_err("fails");
        assert_eq!(
            err,
            MigrateError::StepFailed {
                name: "b/x".into(),
                from: s(2, 0, 0),
                to: s(3, 0, 0),
                reason: "bad data".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "document b/x: step 2.0.0 -> 3.0.0: bad data"
        );
        // A step returning a non-object cannot hold the version.
        let schema = SchemaBuilder::new("b", "b")
            .current(i(2))
            .step(i(1), i(2), Step::rust(|_| Ok(json!([1]))))
            .build()
            .expect("ok");
        let err = schema.migrate("b", json!({})).expect_err("fails");
        assert_eq!(
            err.to_string(),
            "document b: step 1 -> 2: cannot record version: the document is not a JSON object"
        );
    }

    #[test]
    fn command_steps_in_schema() {
        let schema = SchemaBuilder::new("b", "b/*")
            .current(i(3))
            .step(
                i(1),
                i(2),
                Step::command("sh", ["-c", r#"printf '{"wrapped": '; cat; printf '}'"#]),
            )
            .step(i(2), i(3), Step::command("sh", ["-c", "exit 1"]))
            .build()
            .expect("ok");
        let err = schema
            .migrate("b/x", json!({"version": 1}))
            .expect_err("exit 1");
        assert_eq!(
            err.to_string(),
            "document b/x: step 2 -> 3: command \"sh\": exit status: 1"
        );
        let schema = SchemaBuilder::new("b", "b/*")
            .current(i(2))
            .step(
                i(1),
                i(2),
                Step::command("sh", ["-c", r#"printf '{"wrapped": '; cat; printf '}'"#]),
            )
            .build()
            .expect("ok");
        let out = schema.migrate("b/x", json!({"a": 1})).expect("ok");
        assert_eq!(out.value, json!({"wrapped": {"a": 1}, "version": 2}));
    }

    #[test]
    fn find_schema_by_name() {
        let a = SchemaBuilder::new("a", "users/**")
            .current(i(1))
            .build()
            .expect("ok");
        let b = SchemaBuilder::new("b", "batch/*")
            .current(i(1))
            .build()
            .expect("ok");
        let c = SchemaBuilder::new("c", "*/special")
            .current(i(1))
            .build()
            .expect("ok");
        let all = [a, b, c];
        let found = |n: &str| find_schema(&all, n).map(|o| o.map(Schema::name));
        assert_eq!(found("users/x"), Ok(Some("a")));
        assert_eq!(found("batch/x"), Ok(Some("b")));
        assert_eq!(found("other"), Ok(None));
        assert_eq!(
            found("batch/special"),
            Err(MigrateError::Ambiguous {
                name: "batch/special".into(),
                schemas: vec!["b".into(), "c".into()]
            })
        );
        assert_eq!(
            found("users/special").expect_err("ambiguous").to_string(),
            "document users/special: covered by several schemas: a, c"
        );
    }

    #[test]
    fn schema_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Schema>();
    }
}
