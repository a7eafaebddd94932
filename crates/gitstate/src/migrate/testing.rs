//! Golden tests for a schema's migrations, for a project's own test runner
//! (such as `cargo xtask migration-test`).
//!
//! A golden directory holds one subdirectory per source version, named by the
//! version's canonical form (`1.0.0`, `3`). Each `<case>.json` in it is an
//! input document at that version (or without a version field, in the
//! directory of the schema's missing version); `<case>.expected.json` next to
//! it is the document migrated to the current version:
//!
//! ```text
//! golden/batch/
//!   1.0.0/basic.json
//!   1.0.0/basic.expected.json
//!   2.0.0/no-priority.json
//!   2.0.0/no-priority.expected.json
//! ```
//!
//! [`run_golden`] checks, for every case `<version>/<case>`:
//!
//! 1. the input is JSON at the directory's version;
//! 2. it migrates to the current version without error;
//! 3. migrating it twice gives equal results (determinism);
//! 4. the result equals the expected document ([`json_equal`], so `1.0` and
//!    `1` are equal); with `bless`, the expected file is written instead
//!    (pretty JSON and a newline) unless it already holds an equal document;
//! 5. migrating the expected document is a no-op (no step, same document).
//!
//! Files and directories whose names start with `.` and files that are not
//! `.json` are ignored; so are plain files at the top level. A directory
//! name that is not a version, or an `.expected.json` without its input, is
//! reported as a failure.
//!
//! [`json_equal`]: crate::patch::json_equal

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{MigrateError, Schema, Version};
use crate::patch::json_equal;

/// The suffix of expected-output files.
const EXPECTED_SUFFIX: &str = ".expected.json";

/// The most differences listed in one failure message.
const MAX_DIFF_LINES: usize = 20;

/// The longest rendering of a value in a difference, in bytes.
const MAX_VALUE_LEN: usize = 80;

/// The result of [`run_golden`]: case names are `<version>/<case>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldenReport {
    /// Cases whose output matched the expected file.
    pub passed: Vec<String>,
    /// Failed cases (or directories) with what went wrong; the message may
    /// span several lines.
    pub failed: Vec<(String, String)>,
    /// Cases whose expected file was written (created or replaced) by a
    /// bless run.
    pub blessed: Vec<String>,
}

impl GoldenReport {
    /// Whether no case failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for GoldenReport {
    /// One line per case (`ok`, `blessed`, `FAILED`; failure messages
    /// indented below) and a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for name in &self.passed {
            writeln!(f, "ok       {name}")?;
        }
        for name in &self.blessed {
            writeln!(f, "blessed  {name}")?;
        }
        for (name, message) in &self.failed {
            writeln!(f, "FAILED   {name}")?;
            for line in message.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        write!(
            f,
            "{} passed, {} blessed, {} failed",
            self.passed.len(),
            self.blessed.len(),
            self.failed.len()
        )
    }
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> MigrateError {
    MigrateError::Io {
        path: path.to_owned(),
        reason: format!("{what}: {e}"),
    }
}

/// The entries of a directory, sorted by name, without hidden ones.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, MigrateError> {
    let read = fs::read_dir(dir).map_err(|e| io_error(dir, "cannot read directory", &e))?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| io_error(dir, "cannot read directory", &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            entries.push((name, entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}

/// Run the golden cases under `dir` against `schema` (see the [module
/// docs](self)); with `bless`, write the expected files instead of
/// comparing with them.
///
/// # Errors
///
/// [`MigrateError::Io`] when a directory or file cannot be read or an
/// expected file cannot be written. Problems with the cases themselves are
/// reported in [`GoldenReport::failed`].
pub fn run_golden(schema: &Schema, dir: &Path, bless: bool) -> Result<GoldenReport, MigrateError> {
    let mut report = GoldenReport::default();
    for (dir_name, path) in sorted_entries(dir)? {
        if !path.is_dir() {
            continue;
        }
        let version = match dir_name.parse::<Version>() {
            Ok(v) if v.same_kind(schema.current()) => v,
            Ok(v) => {
                report.failed.push((
                    dir_name,
                    format!(
                        "directory version {v} is {} but the schema's versions are {}",
                        v.kind_name(),
                        schema.current().kind_name()
                    ),
                ));
                continue;
            }
            Err(e) => {
                report
                    .failed
                    .push((dir_name, format!("directory name is not a version: {e}")));
                continue;
            }
        };
        let files = sorted_entries(&path)?;
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for (file_name, file_path) in &files {
            if let Some(stem) = file_name.strip_suffix(EXPECTED_SUFFIX) {
                if !names.contains(&format!("{stem}.json").as_str()) {
                    report.failed.push((
                        format!("{dir_name}/{stem}"),
                        format!("{file_name} has no input file {stem}.json"),
                    ));
                }
                continue;
            }
            let Some(stem) = file_name.strip_suffix(".json") else {
                continue;
            };
            if !file_path.is_file() {
                continue;
            }
            let case = format!("{dir_name}/{stem}");
            let expected_path = path.join(format!("{stem}{EXPECTED_SUFFIX}"));
            match run_case(schema, &case, &version, file_path, &expected_path, bless)? {
                Ok(true) => report.blessed.push(case),
                Ok(false) => report.passed.push(case),
                Err(message) => report.failed.push((case, message)),
            }
        }
    }
    Ok(report)
}

/// Read and parse a JSON file; a parse error is a case failure.
fn read_json(path: &Path) -> Result<Result<Value, String>, MigrateError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, "cannot read file", &e))?;
    Ok(serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{} is not valid JSON: {e}",
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        )
    }))
}

/// Run one case: `Ok(Ok(blessed))` when it passes (or was blessed),
/// `Ok(Err(message))` when it fails.
fn run_case(
    schema: &Schema,
    case: &str,
    dir_version: &Version,
    input_path: &Path,
    expected_path: &Path,
    bless: bool,
) -> Result<Result<bool, String>, MigrateError> {
    let input = match read_json(input_path)? {
        Ok(v) => v,
        Err(message) => return Ok(Err(message)),
    };
    let expected_name = expected_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match schema.version_of(&input) {
        Ok(v) if v == *dir_version => {}
        Ok(v) => {
            return Ok(Err(format!(
                "input is at version {v} but lies in directory {dir_version}"
            )));
        }
        Err(e) => return Ok(Err(format!("input: {e}"))),
    }
    let out = match schema.migrate(case, input.clone()) {
        Ok(out) => out,
        Err(e) => return Ok(Err(format!("migration failed: {e}"))),
    };
    let mut failures = Vec::new();
    match schema.migrate(case, input) {
        Ok(again) if again.steps_applied != out.steps_applied => {
            failures.push("migration is not deterministic: the steps applied differ".to_owned());
        }
        Ok(again) if !json_equal(&again.value, &out.value) => failures.push(format!(
            "migration is not deterministic: a second run differs:\n{}",
            diff(&out.value, &again.value)
        )),
        Ok(_) => {}
        Err(e) => failures.push(format!("migration is not deterministic: second run: {e}")),
    }

    let expected = if bless {
        out.value.clone()
    } else if !expected_path.exists() {
        failures.push(format!(
            "missing expected output {expected_name} (run with bless to create it)"
        ));
        return Ok(Err(failures.join("\n")));
    } else {
        match read_json(expected_path)? {
            Ok(v) => {
                if !json_equal(&v, &out.value) {
                    failures.push(format!(
                        "output differs from {expected_name}:\n{}",
                        diff(&v, &out.value)
                    ));
                }
                v
            }
            Err(message) => {
                failures.push(message);
                return Ok(Err(failures.join("\n")));
            }
        }
    };

    match schema.migrate(case, expected.clone()) {
        Ok(again) if !again.is_unchanged() => failures.push(format!(
            "expected output is not at the current version: migrating it applies {}",
            again
                .steps_applied
                .iter()
                .map(|(f, t)| format!("{f} -> {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Ok(again) if !json_equal(&again.value, &expected) => {
            failures.push("migrating the expected output changes it".to_owned());
        }
        Ok(_) => {}
        Err(e) => failures.push(format!("expected output does not migrate: {e}")),
    }
    if !failures.is_empty() {
        return Ok(Err(failures.join("\n")));
    }
    if !bless {
        return Ok(Ok(false));
    }
    if expected_path.exists() {
        if let Ok(current) = read_json(expected_path)? {
            if json_equal(&current, &expected) {
                return Ok(Ok(false));
            }
        }
    }
    let mut text = serde_json::to_vec_pretty(&expected).map_err(|e| MigrateError::Io {
        path: expected_path.to_owned(),
        reason: format!("cannot serialize: {e}"),
    })?;
    text.push(b'\n');
    fs::write(expected_path, text).map_err(|e| io_error(expected_path, "cannot write file", &e))?;
    Ok(Ok(true))
}

/// The differences between `expected` and `actual`, one indented line each
/// (`  /a/0: expected 1, got 2`), at most [`MAX_DIFF_LINES`].
fn diff(expected: &Value, actual: &Value) -> String {
    let mut lines = Vec::new();
    let mut total = 0;
    diff_into(&mut String::new(), expected, actual, &mut lines, &mut total);
    if total > lines.len() {
        lines.push(format!("... and {} more", total - lines.len()));
    }
    lines
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= MAX_VALUE_LEN {
        return s;
    }
    let mut end = MAX_VALUE_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Count a difference and keep its line while under the limit.
fn note(lines: &mut Vec<String>, total: &mut usize, line: String) {
    *total += 1;
    if lines.len() < MAX_DIFF_LINES {
        lines.push(line);
    }
}

fn diff_into(
    path: &mut String,
    expected: &Value,
    actual: &Value,
    lines: &mut Vec<String>,
    total: &mut usize,
) {
    let here = |p: &str| {
        if p.is_empty() {
            "(root)".to_owned()
        } else {
            p.to_owned()
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => diff_into(path, ev, av, lines, total),
                    (Some(ev), None) => {
                        note(
                            lines,
                            total,
                            format!("{path}: missing, expected {}", show(ev)),
                        );
                    }
                    (None, Some(av)) => {
                        note(lines, total, format!("{path}: unexpected {}", show(av)));
                    }
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                let line = format!(
                    "{}: expected {} elements, got {}",
                    here(path),
                    e.len(),
                    a.len()
                );
                note(lines, total, line);
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                diff_into(path, ev, av, lines, total);
                path.truncate(len);
            }
        }
        _ => {
            if !json_equal(expected, actual) {
                let line = format!(
                    "{}: expected {}, got {}",
                    here(path),
                    show(expected),
                    show(actual)
                );
                note(lines, total, line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::{Op, SchemaBuilder, Step};
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "gitstate-migrate-{tag}-{}-{nanos}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create dir");
            }
            fs::write(path, text).expect("write file");
        }

        fn read(&self, rel: &str) -> String {
            fs::read_to_string(self.0.join(rel)).expect("read file")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn schema() -> Schema {
        SchemaBuilder::new("batch", "batch/*")
            .current(Version::Semver(3, 0, 0))
            .step(
                Version::Semver(1, 0, 0),
                Version::Semver(2, 0, 0),
                Step::Ops(vec![Op::Rename {
                    from: "/items".into(),
                    path: "/work".into(),
                }]),
            )
            .step(
                Version::Semver(2, 0, 0),
                Version::Semver(3, 0, 0),
                Step::Ops(vec![Op::SetDefault {
                    path: "/priority".into(),
                    value: json!(0),
                }]),
            )
            .build()
            .expect("valid schema")
    }

    fn names(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    fn cases(dir: &TempDir) {
        dir.write(
            "1.0.0/basic.json",
            r#"{"version": "1.0.0", "items": [1, 2.50]}"#,
        );
        dir.write("1.0.0/no-version.json", r#"{"items": []}"#);
        dir.write(
            "2.0.0/mid.json",
            r#"{"version": "2.0.0", "work": [], "priority": 5}"#,
        );
        dir.write(
            "3.0.0/current.json",
            r#"{"version": "3.0.0", "work": [], "priority": 1}"#,
        );
        dir.write("README.md", "not a case");
        dir.write("1.0.0/notes.txt", "ignored");
        dir.write(".hidden/x.json", "not even JSON");
    }

    #[test]
    fn bless_then_check() {
        let dir = TempDir::new("golden");
        cases(&dir);
        let schema = schema();

        // Nothing blessed yet: every case lacks its expected file.
        let report = run_golden(&schema, &dir.0, false).expect("runs");
        assert!(!report.is_ok());
        assert_eq!(report.failed.len(), 4);
        assert!(
            report.failed[0]
                .1
                .contains("missing expected output basic.expected.json (run with bless"),
            "{report}"
        );

        let report = run_golden(&schema, &dir.0, true).expect("blesses");
        assert!(report.is_ok(), "{report}");
        assert_eq!(
            names(&report.blessed),
            [
                "1.0.0/basic",
                "1.0.0/no-version",
                "2.0.0/mid",
                "3.0.0/current"
            ]
        );
        assert!(report.passed.is_empty());
        let text = dir.read("1.0.0/basic.expected.json");
        assert_eq!(
            text,
            "{\n  \"priority\": 0,\n  \"version\": \"3.0.0\",\n  \"work\": [\n    1,\n    2.50\n  ]\n}\n"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&dir.read("2.0.0/mid.expected.json")).expect("json"),
            json!({"version": "3.0.0", "work": [], "priority": 5})
        );

        let report = run_golden(&schema, &dir.0, false).expect("checks");
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.passed.len(), 4);
        assert!(report.blessed.is_empty());
        assert!(
            report
                .to_string()
                .ends_with("4 passed, 0 blessed, 0 failed")
        );

        // Blessing again leaves equal files alone (even if formatted
        // differently).
        dir.write(
            "3.0.0/current.expected.json",
            r#"{"version":"3.0.0","work":[],"priority":1.0}"#,
        );
        let report = run_golden(&schema, &dir.0, true).expect("blesses");
        assert_eq!(report.passed.len(), 4, "{report}");
        assert_eq!(
            dir.read("3.0.0/current.expected.json"),
            r#"{"version":"3.0.0","work":[],"priority":1.0}"#
        );
    }

    #[test]
    fn reports_differences() {
        let dir = TempDir::new("golden-diff");
        cases(&dir);
        let schema = schema();
        run_golden(&schema, &dir.0, true).expect("blesses");
        dir.write(
            "1.0.0/basic.expected.json",
            r#"{"version": "3.0.0", "work": [1, 99, 3], "extra": true}"#,
        );
        let report = run_golden(&schema, &dir.0, false).expect("checks");
        assert_eq!(report.failed.len(), 1, "{report}");
        let (name, message) = &report.failed[0];
        assert_eq!(name, "1.0.0/basic");
        assert_eq!(
            message,
            "output differs from basic.expected.json:\n  /extra: missing, expected true\n  /priority: unexpected 0\n  /work: expected 3 elements, got 2\n  /work/1: expected 99, got 2.50"
        );
        assert_eq!(report.passed.len(), 3);
        // Bless repairs it.
        let report = run_golden(&schema, &dir.0, true).expect("blesses");
        assert_eq!(names(&report.blessed), ["1.0.0/basic"]);
        assert!(run_golden(&schema, &dir.0, false).expect("checks").is_ok());
    }

    #[test]
    fn expected_must_be_current() {
        let dir = TempDir::new("golden-noop");
        dir.write("2.0.0/mid.json", r#"{"version": "2.0.0", "work": []}"#);
        dir.write(
            "2.0.0/mid.expected.json",
            r#"{"version": "2.0.0", "work": []}"#,
        );
        let report = run_golden(&schema(), &dir.0, false).expect("checks");
        assert_eq!(report.failed.len(), 1);
        let message = &report.failed[0].1;
        assert!(
            message.starts_with("output differs from mid.expected.json:\n"),
            "{message}"
        );
        assert!(
            message.ends_with(
                "expected output is not at the current version: migrating it applies 2.0.0 -> 3.0.0"
            ),
            "{message}"
        );
    }

    #[test]
    fn nondeterministic_step_fails() {
        let counter = AtomicU64::new(0);
        let schema = SchemaBuilder::new("c", "c")
            .current(Version::Int(2))
            .step(
                Version::Int(1),
                Version::Int(2),
                Step::rust(move |mut v| {
                    v["n"] = json!(counter.fetch_add(1, Ordering::Relaxed));
                    Ok(v)
                }),
            )
            .build()
            .expect("valid");
        let dir = TempDir::new("golden-nondet");
        dir.write("1/a.json", r#"{"version": 1}"#);
        let report = run_golden(&schema, &dir.0, true).expect("runs");
        assert!(report.blessed.is_empty());
        assert_eq!(
            report.failed,
            vec![(
                "1/a".to_owned(),
                "migration is not deterministic: a second run differs:\n  /n: expected 0, got 1"
                    .to_owned()
            )]
        );
        assert!(!dir.0.join("1/a.expected.json").exists());
    }

    #[test]
    fn fixture_problems_are_failures() {
        let dir = TempDir::new("golden-bad");
        dir.write("latest/a.json", "{}");
        dir.write("7/a.json", "{}");
        dir.write(
            "1.0.0/wrong-dir.json",
            r#"{"version": "2.0.0", "work": []}"#,
        );
        dir.write("1.0.0/broken.json", "{");
        dir.write("1.0.0/orphan.expected.json", "{}");
        dir.write(
            "2.0.0/fails.json",
            r#"{"version": "2.0.0", "work": [], "priority": {}}"#,
        );
        dir.write("4.0.0/newer.json", r#"{"version": "4.0.0"}"#);
        let schema = SchemaBuilder::new("batch", "batch/*")
            .current(Version::Semver(4, 0, 0))
            .step(
                Version::Semver(1, 0, 0),
                Version::Semver(2, 0, 0),
                Step::rust(Ok),
            )
            .step(
                Version::Semver(2, 0, 0),
                Version::Semver(4, 0, 0),
                Step::Ops(vec![Op::Test {
                    path: "/priority".into(),
                    value: json!(0),
                }]),
            )
            .build()
            .expect("valid");
        let report = run_golden(&schema, &dir.0, true).expect("runs");
        let failed: Vec<(&str, &str)> = report
            .failed
            .iter()
            .map(|(n, m)| (n.as_str(), m.as_str()))
            .collect();
        assert_eq!(names(&report.blessed), ["4.0.0/newer"]);
        assert_eq!(failed.len(), 6, "{report}");
        assert_eq!(failed[0].0, "1.0.0/broken");
        assert!(
            failed[0].1.starts_with("broken.json is not valid JSON: "),
            "{}",
            failed[0].1
        );
        assert_eq!(
            failed[1],
            (
                "1.0.0/orphan",
                "orphan.expected.json has no input file orphan.json"
            )
        );
        assert_eq!(
            failed[2],
            (
                "1.0.0/wrong-dir",
                "input is at version 2.0.0 but lies in directory 1.0.0"
            )
        );
        assert_eq!(
            failed[3],
            (
                "2.0.0/fails",
                "migration failed: document 2.0.0/fails: step 2.0.0 -> 4.0.0: ops[0] (test): value at path /priority does not match"
            )
        );
        assert_eq!(
            failed[4],
            (
                "7",
                "directory version 7 is integer but the schema's versions are semver"
            )
        );
        assert_eq!(failed[5].0, "latest");
        assert!(
            failed[5].1.starts_with("directory name is not a version: "),
            "{}",
            failed[5].1
        );
    }

    #[test]
    fn newer_input_is_reported() {
        let dir = TempDir::new("golden-newer");
        dir.write("4.0.0/newer.json", r#"{"version": "4.0.0"}"#);
        let report = run_golden(&schema(), &dir.0, true).expect("runs");
        assert_eq!(
            report.failed,
            vec![(
                "4.0.0/newer".to_owned(),
                "migration failed: document 4.0.0/newer: version 4.0.0 is newer than current version 3.0.0"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = TempDir::new("golden-missing");
        let err = run_golden(&schema(), &dir.0.join("nope"), false).expect_err("missing");
        assert!(matches!(err, MigrateError::Io { .. }), "{err}");
        assert!(err.to_string().contains("cannot read directory"), "{err}");
        let empty = run_golden(&schema(), &dir.0, false).expect("empty");
        assert_eq!(empty, GoldenReport::default());
        assert!(empty.is_ok());
    }

    #[test]
    fn diff_limits_lines() {
        let e = json!((0..30).collect::<Vec<_>>());
        let a = json!((100..130).collect::<Vec<_>>());
        let d = diff(&e, &a);
        assert_eq!(d.lines().count(), MAX_DIFF_LINES + 1);
        assert!(d.ends_with("... and 10 more"), "{d}");
        assert_eq!(
            diff(&json!(1), &json!("1")),
            "  (root): expected 1, got \"1\""
        );
        assert_eq!(
            diff(&json!({"a/b": {"~": 1}}), &json!({"a/b": {"~": 2}})),
            "  /a~1b/~0: expected 1, got 2"
        );
    }
}
