//! Conformance against the third-party suites in `../shared/conformance`: the community
//! RFC 6902 JSON Patch tests (library and CLI) and Nicolas Seriot's JSONTestSuite parsing
//! cases (CLI `set`).
//!
//! Each test collects every failing case and reports them all at once, and counts the cases
//! it checked, so that it cannot pass on an empty or missing suite.

use std::path::{Path, PathBuf};

use gitstate::patch::json_equal;
use gitstate::{Durability, Error, LogOptions, Options, Store};
use gitstate_tests::{TempStore, cli, commit_count, run, run_with_stdin};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance");
const PATCH_SUITES: [&str; 2] = ["tests.json", "spec_tests.json"];
/// The document every case is written to.
const DOC: &str = "doc";

fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(SHARED);
    assert!(
        dir.is_dir(),
        "conformance suites not found at {} (expected the shared directory ../shared/conformance \
         next to the workspace; see its README.md)",
        dir.display()
    );
    dir
}

/// What a JSON Patch test record expects.
enum Outcome {
    /// The patch applies and gives this document.
    Expected(Value),
    /// The patch must fail (the suite's suggested error text).
    Error(String),
    /// Neither given: the patch must apply without error.
    Applies,
}

/// One enabled record of a JSON Patch suite.
struct PatchCase {
    label: String,
    doc: Value,
    patch: Value,
    outcome: Outcome,
}

/// The enabled records of one JSON Patch suite file (disabled and comment-only records are
/// skipped).
fn patch_cases(file: &str) -> Vec<PatchCase> {
    let path = shared_dir().join("json-patch-tests").join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let suite = gitstate::parse_json(&bytes)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let records = suite
        .as_array()
        .unwrap_or_else(|| panic!("{} is not an array of records", path.display()));
    let mut cases = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if record.get("disabled") == Some(&Value::Bool(true)) {
            continue;
        }
        let comment = record.get("comment").and_then(Value::as_str).unwrap_or("");
        let label = format!("{file}[{i}] {comment:?}");
        let (doc, patch) = match (record.get("doc"), record.get("patch")) {
            (Some(d), Some(p)) => (d.clone(), p.clone()),
            (None, None) => continue, // a comment-only record
            _ => panic!("{label}: record has only one of doc and patch: {record}"),
        };
        let outcome = match (record.get("expected"), record.get("error")) {
            (Some(_), Some(_)) => panic!("{label}: record has both expected and error"),
            (Some(e), None) => Outcome::Expected(e.clone()),
            (None, Some(err)) => Outcome::Error(err.as_str().unwrap_or_default().to_owned()),
            (None, None) => Outcome::Applies,
        };
        cases.push(PatchCase {
            label,
            doc,
            patch,
            outcome,
        });
    }
    cases
}

fn commits(store: &Store) -> usize {
    store.log(&LogOptions::default()).expect("log").len()
}

fn report(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every enabled record of both suites, through `Store::json_patch`.
#[test]
fn json_patch_suites_library() {
    let mut total = 0;
    let mut failures = Vec::new();
    for file in PATCH_SUITES {
        let cases = patch_cases(file);
        let s = TempStore::new();
        let (store, _) = Store::init(&s.path, Options::default().durability(Durability::Fast))
            .expect("init store");
        let mut passed = 0;
        for case in &cases {
            match check_patch_library(&store, case) {
                Ok(()) => passed += 1,
                Err(why) => failures.push(format!("{}: {why}", case.label)),
            }
        }
        println!("json-patch library {file}: {passed}/{} passed", cases.len());
        total += cases.len();
        if failures.is_empty() {
            assert_eq!(passed, cases.len(), "{file}: not every record passed");
        }
    }
    report("JSON Patch suites through the library", &failures);
    assert!(total > 100, "only {total} enabled JSON Patch records found");
}

fn check_patch_library(store: &Store, case: &PatchCase) -> Result<(), String> {
    store
        .set_value(DOC, case.doc.clone(), None)
        .map_err(|e| format!("set_value of doc failed: {e}"))?;
    let before = commits(store);
    let head = store.head().expect("head");
    let result = store.json_patch(DOC, &case.patch, None);
    let stored = store
        .get_value(DOC)
        .map_err(|e| format!("get_value failed: {e}"))?
        .ok_or("document is gone")?;
    match (&case.outcome, result) {
        (Outcome::Expected(expected), Ok(_)) => {
            if !json_equal(&stored, expected) {
                return Err(format!("stored {stored}, expected {expected}"));
            }
        }
        (Outcome::Applies, Ok(_)) => {}
        (Outcome::Expected(_) | Outcome::Applies, Err(e)) => {
            return Err(format!("patch failed but should apply: {e}"));
        }
        (Outcome::Error(want), Ok(out)) => {
            return Err(format!(
                "patch applied (commit {:?}, stored {stored}) but should fail with {want:?}",
                out.commit
            ));
        }
        (Outcome::Error(want), Err(e)) => {
            if !matches!(
                e,
                Error::Patch { .. } | Error::Pointer { .. } | Error::InvalidJson { .. }
            ) {
                return Err(format!(
                    "failed with an unexpected error kind ({e:?}); expected a patch error like \
                     {want:?}"
                ));
            }
            if !json_equal(&stored, &case.doc) {
                return Err(format!(
                    "failed patch changed the document: {} -> {stored}",
                    case.doc
                ));
            }
            if commits(store) != before || store.head().expect("head") != head {
                return Err("failed patch made a commit".into());
            }
        }
    }
    Ok(())
}

/// Every enabled record of both suites, through `gitstate set doc -` and
/// `gitstate patch doc --json-patch`.
#[test]
fn json_patch_suites_cli() {
    let mut total = 0;
    let mut failures = Vec::new();
    for file in PATCH_SUITES {
        let cases = patch_cases(file);
        let s = TempStore::init();
        let mut passed = 0;
        for case in &cases {
            match check_patch_cli(&s.path, case) {
                Ok(()) => passed += 1,
                Err(why) => failures.push(format!("{}: {why}", case.label)),
            }
        }
        println!("json-patch CLI {file}: {passed}/{} passed", cases.len());
        total += cases.len();
        if failures.is_empty() {
            assert_eq!(passed, cases.len(), "{file}: not every record passed");
        }
    }
    report("JSON Patch suites through the CLI", &failures);
    assert!(total > 100, "only {total} enabled JSON Patch records found");
}

fn fast(store: &Path, args: &[&str]) -> std::process::Command {
    let mut c = cli(EXE, store);
    c.args(["--durability", "fast"]).args(args);
    c
}

/// `gitstate get doc`, parsed.
fn cli_get(store: &Path) -> Result<Value, String> {
    let r = run(fast(store, &["get", DOC]));
    if r.code != 0 {
        return Err(format!("get exited {}: {}", r.code, r.stderr));
    }
    gitstate::parse_json(r.stdout.as_bytes())
        .map_err(|e| format!("get printed invalid JSON ({e}): {:?}", r.stdout))
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialize")
}

fn check_patch_cli(store: &Path, case: &PatchCase) -> Result<(), String> {
    let set = run_with_stdin(fast(store, &["set", DOC, "-"]), &json_bytes(&case.doc));
    if set.code != 0 {
        return Err(format!("set exited {}: {}", set.code, set.stderr));
    }
    let before = commit_count(store);
    let r = run_with_stdin(
        fast(store, &["patch", DOC, "--json-patch"]),
        &json_bytes(&case.patch),
    );
    match &case.outcome {
        Outcome::Expected(_) | Outcome::Applies => {
            if r.code != 0 {
                return Err(format!(
                    "patch exited {} but should apply: {}",
                    r.code, r.stderr
                ));
            }
            if let Outcome::Expected(expected) = &case.outcome {
                let stored = cli_get(store)?;
                if !json_equal(&stored, expected) {
                    return Err(format!("stored {stored}, expected {expected}"));
                }
            }
        }
        Outcome::Error(want) => {
            if r.code != 4 {
                return Err(format!(
                    "patch exited {} (want 4, invalid input; suite error {want:?}); stdout {:?}, \
                     stderr {:?}",
                    r.code, r.stdout, r.stderr
                ));
            }
            if !r.stderr.starts_with("error: ") {
                return Err(format!(
                    "stderr does not start with \"error: \": {:?}",
                    r.stderr
                ));
            }
            if commit_count(store) != before {
                return Err("failed patch made a commit".into());
            }
            let stored = cli_get(store)?;
            if !json_equal(&stored, &case.doc) {
                return Err(format!(
                    "failed patch changed the document: {} -> {stored}",
                    case.doc
                ));
            }
        }
    }
    Ok(())
}

/// Whether `text` mentions `name` as a word of its own (not as part of, say, "document").
fn names(text: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '/';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// JSONTestSuite's parsing cases through `gitstate set doc -`: `y_*` accepted and stored
/// unaltered, `n_*` rejected with exit 4 and no commit, `i_*` either, but never a crash or an
/// altered value.
#[test]
fn json_test_suite_parsing_cli() {
    let dir = shared_dir().join("JSONTestSuite").join("test_parsing");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();

    let s = TempStore::init();
    let mut commits = commit_count(&s.path);
    let (mut yes, mut no, mut either) = (0usize, 0usize, 0usize);
    let (mut i_accepted, mut i_rejected) = (0usize, 0usize);
    let mut failures = Vec::new();
    for path in &files {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name")
            .to_owned();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let kind = match file.as_bytes().first() {
            Some(b'y') => 'y',
            Some(b'n') => 'n',
            Some(b'i') => 'i',
            _ => panic!("unexpected file in the suite: {file}"),
        };
        let r = run_with_stdin(fast(&s.path, &["set", DOC, "-"]), &bytes);
        let mut fail = |why: String| failures.push(format!("{file}: {why}"));
        let accepted = match r.code {
            0 => true,
            4 => false,
            code => {
                fail(format!(
                    "set exited {code} (want 0 or 4); stderr {:?}",
                    r.stderr
                ));
                commits = commit_count(&s.path);
                continue;
            }
        };
        match (kind, accepted) {
            ('y', true) => yes += 1,
            ('n', false) => no += 1,
            ('i', true) => {
                either += 1;
                i_accepted += 1;
            }
            ('i', false) => {
                either += 1;
                i_rejected += 1;
            }
            ('y', false) => {
                fail(format!(
                    "valid JSON rejected (exit 4): {}",
                    r.stderr.trim_end()
                ));
            }
            _ => {
                fail(format!(
                    "invalid JSON accepted (exit 0): stdout {:?}",
                    r.stdout
                ));
            }
        }
        if accepted {
            commits = commit_count(&s.path);
            let want = match gitstate::parse_json(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    fail(format!(
                        "set accepted input that gitstate::parse_json rejects ({e})"
                    ));
                    continue;
                }
            };
            match cli_get(&s.path) {
                Err(why) => fail(why),
                Ok(stored) => {
                    if !json_equal(&stored, &want) {
                        fail(format!("stored value altered: {want} became {stored}"));
                    } else if stored != want {
                        // Numbers keep their exact text (arbitrary_precision): not even the
                        // spelling of a number may change.
                        fail(format!(
                            "stored number text altered: {want} became {stored}"
                        ));
                    }
                }
            }
        } else {
            if !r.stderr.starts_with("error: ") {
                fail(format!(
                    "stderr does not start with \"error: \": {:?}",
                    r.stderr
                ));
            }
            if !names(&r.stderr, DOC) {
                fail(format!(
                    "error does not name the document {DOC:?}: {:?}",
                    r.stderr
                ));
            }
            let now = commit_count(&s.path);
            if now != commits {
                fail(format!(
                    "rejected input changed the commit count {commits} -> {now}"
                ));
                commits = now;
            }
        }
    }
    println!(
        "JSONTestSuite: {} files; y accepted {yes}, n rejected {no}, i {either} \
         ({i_accepted} accepted, {i_rejected} rejected)",
        files.len()
    );
    report("JSONTestSuite parsing through the CLI", &failures);
    assert!(yes > 0, "no y_ case checked");
    assert!(no > 0, "no n_ case checked");
    assert!(either > 0, "no i_ case checked");
    assert_eq!(yes + no + either, files.len(), "not every file was checked");
}
