//! The `gitstate` command line end to end: every command, its output formats and exit codes,
//! run as a separate process against a temporary store that must stay ordinary, healthy git.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gitstate_tests::{
    Run, TEST_TIME, TempStore, assert_git_clean, cli, commit_count, git, head, run, run_with_stdin,
};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

/// Run the CLI on `store` with `args` and empty stdin.
fn gs(store: &Path, args: &[&str]) -> Run {
    let mut c = cli(EXE, store);
    c.args(args);
    run(c)
}

/// Run the CLI on `store` with `args` and `stdin` as input.
fn gs_in(store: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut c = cli(EXE, store);
    c.args(args);
    run_with_stdin(c, stdin)
}

/// Assert that `r` exited with `code`, showing its output otherwise.
#[track_caller]
fn expect_code(r: &Run, code: i32) {
    assert_eq!(
        r.code, code,
        "expected exit {code}\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
}

/// Assert success and return stdout.
#[track_caller]
fn ok(r: Run) -> String {
    expect_code(&r, 0);
    r.stdout
}

/// Parse stdout as JSON.
#[track_caller]
fn json_out(r: Run) -> Value {
    let out = ok(r);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"))
}

/// Whether `s` is a full, lowercase hexadecimal commit id.
fn is_full_id(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Output of plain git, asserting success.
#[track_caller]
fn git_ok(store: &Path, args: &[&str]) -> String {
    let r = git(store, args);
    expect_code(&r, 0);
    r.stdout
}

/// Assert that a failed command printed exactly one `error: ` line (plus an optional hint).
#[track_caller]
fn assert_one_error_line(r: &Run) {
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("hint: "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line: {:?}", r.stderr);
    assert!(
        lines[0].starts_with("error: "),
        "error line must start with `error: `: {:?}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// init

#[test]
fn init_creates_and_is_idempotent() {
    let s = TempStore::new();
    let out = ok(gs(&s.path, &["init"]));
    assert!(out.contains("created"), "{out}");
    assert!(s.path.join(".git").is_dir());
    assert_git_clean(&s.path);
    let h = head(&s.path);
    assert_eq!(commit_count(&s.path), 1);

    let again = gs(&s.path, &["init"]);
    expect_code(&again, 0);
    assert!(
        again.stdout.contains("already exists"),
        "second init must say the store exists: {}",
        again.stdout
    );
    assert_eq!(head(&s.path), h, "second init must not move HEAD");
    assert_eq!(commit_count(&s.path), 1);
    assert_git_clean(&s.path);
}

#[test]
fn init_json_reports_created() {
    let s = TempStore::new();
    let first = json_out(gs(&s.path, &["--json", "init"]));
    assert_eq!(first["created"], json!(true), "{first}");
    let h = head(&s.path);
    assert_eq!(first["head"], json!(h), "{first}");

    let second = json_out(gs(&s.path, &["--json", "init"]));
    assert_eq!(second["created"], json!(false), "{second}");
    assert_eq!(second["head"], json!(h), "{second}");
    assert_eq!(head(&s.path), h);
    assert_git_clean(&s.path);
}

#[test]
fn init_with_dir_argument() {
    let s = TempStore::new();
    let dir = s.path.with_file_name("other");
    let d = dir.to_str().expect("utf-8 temp path");
    ok(gs(&s.path, &["init", d]));
    assert!(dir.join(".git").is_dir());
    assert!(
        !s.path.exists(),
        "--store must not be created when DIR is given"
    );
    assert_git_clean(&dir);
}

// ---------------------------------------------------------------------------------------------
// set / get

#[test]
fn set_from_argument_and_get_prints_canonical_json() {
    let s = TempStore::init();
    let before = commit_count(&s.path);
    let out = ok(gs(
        &s.path,
        &[
            "set",
            "doc",
            r#"{"b": [1, 2], "a": {"z": true, "y": null}}"#,
        ],
    ));
    assert!(out.contains("set doc"), "{out}");
    assert_eq!(commit_count(&s.path), before + 1);
    assert_git_clean(&s.path);

    let got = ok(gs(&s.path, &["get", "doc"]));
    assert_eq!(
        got,
        "{\n  \"a\": {\n    \"y\": null,\n    \"z\": true\n  },\n  \"b\": [\n    1,\n    2\n  ]\n}\n"
    );
    // The file in the working tree is a plain JSON document too.
    let file = std::fs::read_to_string(s.path.join("doc.json")).expect("doc.json");
    let v: Value = serde_json::from_str(&file).expect("file is JSON");
    assert_eq!(v, json!({"a": {"y": null, "z": true}, "b": [1, 2]}));
}

#[test]
fn set_from_stdin_omitted_and_dash() {
    let s = TempStore::init();
    ok(gs_in(&s.path, &["set", "one"], b"{\"k\": 1}\n"));
    ok(gs_in(&s.path, &["set", "two", "-"], b"[1, \"two\"]"));
    assert_eq!(ok(gs(&s.path, &["get", "one"])), "{\n  \"k\": 1\n}\n");
    assert_eq!(ok(gs(&s.path, &["get", "two"])), "[\n  1,\n  \"two\"\n]\n");
    // Scalars are documents too.
    ok(gs_in(&s.path, &["set", "three"], b"  42  "));
    assert_eq!(ok(gs(&s.path, &["get", "three"])), "42\n");
    assert_git_clean(&s.path);
}

#[test]
fn set_same_value_is_unchanged_without_commit() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"a":1,"b":2}"#]));
    let h = head(&s.path);
    let n = commit_count(&s.path);
    // Same value, different formatting and key order.
    let out = ok(gs(&s.path, &["set", "doc", "{ \"b\": 2, \"a\": 1 }"]));
    assert!(out.starts_with("unchanged"), "{out}");
    assert_eq!(head(&s.path), h);
    assert_eq!(commit_count(&s.path), n);

    let j = json_out(gs(&s.path, &["--json", "set", "doc", r#"{"a":1,"b":2}"#]));
    assert_eq!(j["commit"], Value::Null, "{j}");
    assert_eq!(j["changed"], json!([]), "{j}");
    assert_eq!(commit_count(&s.path), n);
    assert_git_clean(&s.path);
}

#[test]
fn set_message_is_the_commit_subject() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1", "-m", "bump the doc"]));
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%s"]),
        "bump the doc\n"
    );
    ok(gs(
        &s.path,
        &["set", "doc", "2", "--message", "second message"],
    ));
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%s"]),
        "second message\n"
    );
    assert_git_clean(&s.path);
}

#[test]
fn set_json_output_has_commit_and_changed() {
    let s = TempStore::init();
    let j = json_out(gs(&s.path, &["--json", "set", "dir/doc", r#"{"x":1}"#]));
    let commit = j["commit"].as_str().expect("commit is a string");
    assert!(is_full_id(commit), "{commit}");
    assert_eq!(commit, head(&s.path));
    assert_eq!(j["changed"], json!(["dir/doc"]), "{j}");
    assert!(s.path.join("dir/doc.json").is_file());
    assert_git_clean(&s.path);
}

#[test]
fn commit_trailers_name_op_and_document() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "{}"]));
    let body = git_ok(&s.path, &["log", "-1", "--format=%B"]);
    assert!(body.contains("Gitstate-Op: set"), "{body}");
    assert!(body.contains("Gitstate-Doc: doc"), "{body}");

    ok(gs(&s.path, &["rm", "doc"]));
    let body = git_ok(&s.path, &["log", "-1", "--format=%B"]);
    assert!(body.contains("Gitstate-Doc: doc"), "{body}");
    assert!(body.contains("Gitstate-Op: "), "{body}");
    assert_git_clean(&s.path);
}

// ---------------------------------------------------------------------------------------------
// get --pointer / --at

#[test]
fn get_pointer_selects_one_value() {
    let s = TempStore::init();
    ok(gs(
        &s.path,
        &[
            "set",
            "doc",
            r#"{"a": {"b": {"c": 3}}, "x/y": "slash", "m~n": "tilde", "list": [10, {"k": "v"}], "": "empty"}"#,
        ],
    ));
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/a/b"])),
        "{\n  \"c\": 3\n}\n"
    );
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/a/b/c"])),
        "3\n"
    );
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/x~1y"])),
        "\"slash\"\n"
    );
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/m~0n"])),
        "\"tilde\"\n"
    );
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/list/0"])),
        "10\n"
    );
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/list/1/k"])),
        "\"v\"\n"
    );
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--pointer", "/"])),
        "\"empty\"\n"
    );
    // The empty pointer is the whole document.
    let whole = ok(gs(&s.path, &["get", "doc", "--pointer", ""]));
    assert_eq!(whole, ok(gs(&s.path, &["get", "doc"])));
}

#[test]
fn get_pointer_missing_target_and_malformed_pointer() {
    let s = TempStore::init();
    ok(gs(
        &s.path,
        &["set", "doc", r#"{"a": {"b": 1}, "list": [1]}"#],
    ));
    for missing in ["/nope", "/a/c", "/a/b/c", "/list/5"] {
        let r = gs(&s.path, &["get", "doc", "--pointer", missing]);
        expect_code(&r, 3);
        assert_eq!(r.stdout, "", "{missing}");
        assert_one_error_line(&r);
        assert!(
            r.stderr.contains(missing),
            "error must name the pointer: {}",
            r.stderr
        );
    }
    for bad in ["a/b", "a"] {
        let r = gs(&s.path, &["get", "doc", "--pointer", bad]);
        expect_code(&r, 4);
        assert_eq!(r.stdout, "", "{bad}");
        assert_one_error_line(&r);
    }
    // A missing document is "not found" whatever the pointer.
    let r = gs(&s.path, &["get", "absent", "--pointer", "/a"]);
    expect_code(&r, 3);
}

#[test]
fn get_missing_document_is_not_found() {
    let s = TempStore::init();
    let r = gs(&s.path, &["get", "absent"]);
    expect_code(&r, 3);
    assert_eq!(r.stdout, "");
    assert_one_error_line(&r);
    assert!(r.stderr.contains("absent"), "{}", r.stderr);
}

#[test]
fn get_at_revisions() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let first = head(&s.path);
    ok(gs(&s.path, &["set", "doc", "2"]));
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "2\n");
    assert_eq!(ok(gs(&s.path, &["get", "doc", "--at", "HEAD"])), "2\n");
    assert_eq!(ok(gs(&s.path, &["get", "doc", "--at", "HEAD~1"])), "1\n");
    assert_eq!(ok(gs(&s.path, &["get", "doc", "--at", &first])), "1\n");
    assert_eq!(ok(gs(&s.path, &["get", "doc", "--at", &first[..8]])), "1\n");
    assert_eq!(
        ok(gs(
            &s.path,
            &["get", "doc", "--at", "HEAD~1", "--pointer", ""]
        )),
        "1\n"
    );
    // Before the document existed: not found.
    let r = gs(&s.path, &["get", "doc", "--at", "HEAD~2"]);
    expect_code(&r, 3);
    assert_one_error_line(&r);
}

#[test]
fn get_at_unknown_revision_is_not_found_and_named() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    for rev in [
        "no-such-branch",
        "HEAD~5",
        "0123456789abcdef0123456789abcdef01234567",
    ] {
        let r = gs(&s.path, &["get", "doc", "--at", rev]);
        expect_code(&r, 3);
        assert_eq!(r.stdout, "");
        assert_one_error_line(&r);
        assert!(
            r.stderr.contains(rev),
            "stderr must name {rev}: {}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// rm / ls

#[test]
fn rm_deletes_and_rm_missing_is_not_found() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    ok(gs(&s.path, &["set", "keep", "2"]));
    let n = commit_count(&s.path);
    let out = ok(gs(&s.path, &["rm", "doc", "-m", "drop doc"]));
    assert!(out.contains("rm doc"), "{out}");
    assert_eq!(commit_count(&s.path), n + 1);
    assert_eq!(git_ok(&s.path, &["log", "-1", "--format=%s"]), "drop doc\n");
    assert!(!s.path.join("doc.json").exists());
    expect_code(&gs(&s.path, &["get", "doc"]), 3);
    assert_eq!(ok(gs(&s.path, &["get", "keep"])), "2\n");
    assert_git_clean(&s.path);

    let h = head(&s.path);
    let r = gs(&s.path, &["rm", "doc"]);
    expect_code(&r, 3);
    assert_one_error_line(&r);
    assert!(r.stderr.contains("doc"), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
    assert_eq!(commit_count(&s.path), n + 1);
    assert_git_clean(&s.path);
}

#[test]
fn rm_json_output() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "a/b", "1"]));
    let j = json_out(gs(&s.path, &["--json", "rm", "a/b"]));
    assert_eq!(j["commit"], json!(head(&s.path)), "{j}");
    assert_eq!(j["changed"], json!(["a/b"]), "{j}");
    assert_git_clean(&s.path);
}

#[test]
fn ls_text_json_and_at() {
    let s = TempStore::init();
    assert_eq!(ok(gs(&s.path, &["ls"])), "");
    assert_eq!(json_out(gs(&s.path, &["--json", "ls"])), json!([]));
    ok(gs(&s.path, &["set", "zeta", "1"]));
    ok(gs(&s.path, &["set", "alpha", "1"]));
    let two = head(&s.path);
    ok(gs(&s.path, &["set", "dir/nested", "1"]));
    ok(gs(&s.path, &["rm", "zeta"]));

    let text = ok(gs(&s.path, &["ls"]));
    let mut names: Vec<&str> = text.lines().collect();
    let listed = names.clone();
    names.sort_unstable();
    assert_eq!(listed, names, "ls output is sorted");
    assert_eq!(names, ["alpha", "dir/nested"]);

    let j = json_out(gs(&s.path, &["--json", "ls"]));
    assert_eq!(j, json!(["alpha", "dir/nested"]));

    assert_eq!(ok(gs(&s.path, &["ls", "--at", &two])), "alpha\nzeta\n");
    assert_eq!(
        json_out(gs(&s.path, &["--json", "ls", "--at", "HEAD~1"])),
        json!(["alpha", "dir/nested", "zeta"])
    );
    let r = gs(&s.path, &["ls", "--at", "nowhere"]);
    expect_code(&r, 3);
    assert!(r.stderr.contains("nowhere"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// patch

#[test]
fn patch_merge_patch_from_stdin() {
    let s = TempStore::init();
    ok(gs(
        &s.path,
        &[
            "set",
            "doc",
            r#"{"a": 1, "b": {"c": 2, "d": 3}, "gone": true}"#,
        ],
    ));
    let n = commit_count(&s.path);
    let out = ok(gs_in(
        &s.path,
        &["patch", "doc", "-m", "merge it"],
        br#"{"a": 5, "b": {"d": null, "e": [1]}, "gone": null}"#,
    ));
    assert!(out.contains("patch doc"), "{out}");
    assert_eq!(commit_count(&s.path), n + 1);
    assert_eq!(git_ok(&s.path, &["log", "-1", "--format=%s"]), "merge it\n");
    let body = git_ok(&s.path, &["log", "-1", "--format=%B"]);
    assert!(body.contains("Gitstate-Op: patch"), "{body}");
    let v: Value = serde_json::from_str(&ok(gs(&s.path, &["get", "doc"]))).expect("json");
    assert_eq!(v, json!({"a": 5, "b": {"c": 2, "e": [1]}}));
    assert_git_clean(&s.path);

    // A patch that changes nothing: no commit.
    let out = ok(gs_in(&s.path, &["patch", "doc"], br#"{"a": 5}"#));
    assert!(out.starts_with("unchanged"), "{out}");
    assert_eq!(commit_count(&s.path), n + 1);
}

#[test]
fn patch_json_patch() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"a": 1, "list": [1, 2]}"#]));
    let j = json_out(gs_in(
        &s.path,
        &["--json", "patch", "doc", "--json-patch"],
        br#"[{"op": "test", "path": "/a", "value": 1},
             {"op": "replace", "path": "/a", "value": 2},
             {"op": "add", "path": "/list/-", "value": 3},
             {"op": "remove", "path": "/list/0"},
             {"op": "add", "path": "/new", "value": {"x": null}}]"#,
    ));
    assert_eq!(j["commit"], json!(head(&s.path)), "{j}");
    assert_eq!(j["changed"], json!(["doc"]), "{j}");
    let v: Value = serde_json::from_str(&ok(gs(&s.path, &["get", "doc"]))).expect("json");
    assert_eq!(v, json!({"a": 2, "list": [2, 3], "new": {"x": null}}));
    assert_git_clean(&s.path);
}

#[test]
fn failing_json_patch_changes_nothing() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"a": 1}"#]));
    let h = head(&s.path);
    let before = ok(gs(&s.path, &["get", "doc"]));
    let file_before = std::fs::read(s.path.join("doc.json")).expect("file");
    let patches: [&[u8]; 4] = [
        // test mismatch after a change that would otherwise apply
        br#"[{"op": "replace", "path": "/a", "value": 9}, {"op": "test", "path": "/a", "value": 1}]"#,
        br#"[{"op": "test", "path": "/a", "value": 2}]"#,
        br#"[{"op": "remove", "path": "/missing"}]"#,
        br#"[{"op": "add", "path": "/a", "value": 3}, {"op": "remove", "path": "/b/c"}]"#,
    ];
    for p in patches {
        let r = gs_in(&s.path, &["patch", "doc", "--json-patch"], p);
        expect_code(&r, 4);
        assert_one_error_line(&r);
        assert!(r.stderr.contains("doc"), "{}", r.stderr);
        assert_eq!(
            head(&s.path),
            h,
            "no commit for {}",
            String::from_utf8_lossy(p)
        );
        assert_eq!(ok(gs(&s.path, &["get", "doc"])), before);
        assert_eq!(
            std::fs::read(s.path.join("doc.json")).expect("file"),
            file_before
        );
        assert_git_clean(&s.path);
    }
    // Not a patch at all: a JSON Patch must be an array.
    let r = gs_in(&s.path, &["patch", "doc", "--json-patch"], br#"{"a": 1}"#);
    expect_code(&r, 4);
    assert_eq!(head(&s.path), h);
    // Invalid JSON as a patch.
    let r = gs_in(&s.path, &["patch", "doc"], b"{");
    expect_code(&r, 4);
    assert_eq!(head(&s.path), h);
    assert_git_clean(&s.path);
}

// ---------------------------------------------------------------------------------------------
// update

const INCREMENT: &str = r#"read x; [ "$x" = null ] && x=0; echo $((x+1))"#;

#[test]
fn update_runs_the_command_under_the_lock() {
    let s = TempStore::init();
    let n = commit_count(&s.path);
    let out = ok(gs(
        &s.path,
        &["update", "counter", "--", "sh", "-c", INCREMENT],
    ));
    assert!(out.contains("update counter"), "{out}");
    assert_eq!(ok(gs(&s.path, &["get", "counter"])), "1\n");
    ok(gs(
        &s.path,
        &[
            "update", "counter", "-m", "again", "--", "sh", "-c", INCREMENT,
        ],
    ));
    assert_eq!(ok(gs(&s.path, &["get", "counter"])), "2\n");
    assert_eq!(commit_count(&s.path), n + 2);
    assert_eq!(git_ok(&s.path, &["log", "-1", "--format=%s"]), "again\n");
    let body = git_ok(&s.path, &["log", "-1", "--format=%B"]);
    assert!(body.contains("Gitstate-Op: update"), "{body}");
    assert!(body.contains("Gitstate-Doc: counter"), "{body}");
    assert_git_clean(&s.path);
}

#[test]
fn update_failures_change_nothing() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"v": 1}"#]));
    let h = head(&s.path);
    let cases: [&[&str]; 5] = [
        &["update", "doc", "--", "false"],
        &["update", "doc", "--", "sh", "-c", "echo '{not json'"],
        &["update", "doc", "--", "sh", "-c", "echo 1; echo 2"],
        &["update", "doc", "--", "sh", "-c", "echo 5; exit 3"],
        &[
            "update",
            "doc",
            "--",
            "/nonexistent/program-that-does-not-exist",
        ],
    ];
    for args in cases {
        let r = gs(&s.path, args);
        expect_code(&r, 7);
        assert!(
            r.stderr.lines().any(|l| l.starts_with("error: ")),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(head(&s.path), h, "{args:?} must not commit");
        assert_eq!(ok(gs(&s.path, &["get", "doc"])), "{\n  \"v\": 1\n}\n");
        assert_git_clean(&s.path);
    }
    // A missing document stays missing.
    let r = gs(&s.path, &["update", "other", "--", "false"]);
    expect_code(&r, 7);
    expect_code(&gs(&s.path, &["get", "other"]), 3);
    assert_eq!(head(&s.path), h);
}

#[test]
fn update_same_value_is_unchanged() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"v": 1}"#]));
    let h = head(&s.path);
    let out = ok(gs(&s.path, &["update", "doc", "--", "cat"]));
    assert!(out.starts_with("unchanged"), "{out}");
    assert_eq!(head(&s.path), h);
}

#[test]
fn update_requires_a_command() {
    let s = TempStore::init();
    let h = head(&s.path);
    expect_code(&gs(&s.path, &["update", "doc"]), 2);
    assert_eq!(head(&s.path), h);
}

// ---------------------------------------------------------------------------------------------
// log

/// A store with a history that covers every write op: init, set, patch, update, delete.
fn store_with_history() -> TempStore {
    let s = TempStore::new();
    ok(gs(&s.path, &["init"]));
    ok(gs(&s.path, &["set", "a", r#"{"n": 1}"#, "-m", "first a"]));
    ok(gs(&s.path, &["set", "b", "1", "-m", "first b"]));
    ok(gs_in(
        &s.path,
        &["patch", "a", "-m", "patch a"],
        br#"{"n": 2}"#,
    ));
    ok(gs(
        &s.path,
        &["update", "b", "-m", "bump b", "--", "sh", "-c", INCREMENT],
    ));
    ok(gs(&s.path, &["rm", "a", "-m", "remove a"]));
    assert_git_clean(&s.path);
    s
}

#[test]
fn log_text_newest_first_one_line_per_commit() {
    let s = store_with_history();
    let out = ok(gs(&s.path, &["log"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), commit_count(&s.path), "{out}");
    assert_eq!(lines.len(), 6, "{out}");
    let messages = ["remove a", "bump b", "patch a", "first b", "first a"];
    for (line, msg) in lines.iter().zip(messages) {
        assert!(line.ends_with(msg), "{line:?} should end with {msg:?}");
    }
    assert!(lines[5].contains("init"), "{}", lines[5]);
    // Each line starts with an abbreviation of its commit id, newest first.
    let ids = git_ok(&s.path, &["rev-list", "main"]);
    for (line, id) in lines.iter().zip(ids.lines()) {
        let short = line.split_whitespace().next().expect("an id");
        assert!(
            short.len() >= 7 && id.starts_with(short),
            "{line:?} vs {id}"
        );
    }
}

#[test]
fn log_of_one_document_and_max_count() {
    let s = store_with_history();
    let out = ok(gs(&s.path, &["log", "b"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with("bump b"), "{out}");
    assert!(lines[1].ends_with("first b"), "{out}");

    let out = ok(gs(&s.path, &["log", "a"]));
    assert_eq!(out.lines().count(), 3, "{out}");

    let out = ok(gs(&s.path, &["log", "-n", "2"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with("remove a") && lines[1].ends_with("bump b"),
        "{out}"
    );
    assert_eq!(
        ok(gs(&s.path, &["log", "a", "--max-count", "1"]))
            .lines()
            .count(),
        1
    );

    // A never-written document has no history; an invalid name is invalid input.
    assert_eq!(ok(gs(&s.path, &["log", "never"])), "");
    expect_code(&gs(&s.path, &["log", "../x"]), 4);
}

#[test]
fn log_json_shape() {
    let s = store_with_history();
    let j = json_out(gs(&s.path, &["--json", "log"]));
    let entries = j.as_array().expect("an array");
    assert_eq!(entries.len(), 6);
    let ids: Vec<String> = git_ok(&s.path, &["rev-list", "main"])
        .lines()
        .map(str::to_owned)
        .collect();
    let mut ops = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let commit = e["commit"].as_str().expect("commit");
        assert!(is_full_id(commit), "{e}");
        assert_eq!(commit, ids[i], "newest first");
        let time = e["time"].as_str().expect("time");
        assert!(
            time.len() >= 20 && time.as_bytes()[10] == b'T',
            "time is RFC 3339: {time}"
        );
        assert!(e["message"].is_string(), "{e}");
        assert!(e["names"].is_array(), "{e}");
        assert_eq!(e["author"], json!("gitstate <gitstate@localhost>"), "{e}");
        match ids.get(i + 1) {
            Some(parent) => assert_eq!(e["parent"], json!(parent), "{e}"),
            None => assert_eq!(e["parent"], Value::Null, "{e}"),
        }
        ops.push(e["op"].as_str().expect("op").to_owned());
    }
    assert_eq!(ops, ["delete", "update", "patch", "set", "set", "init"]);
    assert_eq!(entries[0]["names"], json!(["a"]));
    assert_eq!(entries[0]["message"], json!("remove a"));
    assert_eq!(entries[1]["names"], json!(["b"]));
    assert_eq!(entries[5]["names"], json!([]));

    let j = json_out(gs(&s.path, &["--json", "log", "b", "-n", "1"]));
    let entries = j.as_array().expect("an array");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["op"], json!("update"));
}

// ---------------------------------------------------------------------------------------------
// status and edits made outside gitstate

#[test]
fn status_clean() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let out = ok(gs(&s.path, &["status"]));
    assert!(out.contains("working tree: clean"), "{out}");
    assert!(out.contains(&head(&s.path)), "{out}");
    let j = json_out(gs(&s.path, &["--json", "status"]));
    assert_eq!(j["drift"], json!([]), "{j}");
    assert_eq!(j["head"], json!(head(&s.path)), "{j}");
    assert_eq!(j["lock"]["state"], json!("free"), "{j}");
}

#[test]
fn hand_edit_is_reported_and_protected() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"v": 1}"#]));
    ok(gs(&s.path, &["set", "other", "1"]));
    let h = head(&s.path);
    let file = s.path.join("doc.json");
    let edit = "{\"v\": \"edited by hand\"}\n";
    std::fs::write(&file, edit).expect("hand edit");

    let out = ok(gs(&s.path, &["status"]));
    let line = out
        .lines()
        .find(|l| l.contains("doc.json"))
        .unwrap_or_else(|| panic!("status must list doc.json: {out}"));
    assert!(line.contains("modified"), "{out}");
    assert!(!out.contains("working tree: clean"), "{out}");
    let j = json_out(gs(&s.path, &["--json", "status"]));
    assert_eq!(
        j["drift"],
        json!([{"path": "doc.json", "kind": "modified"}]),
        "{j}"
    );

    let r = gs(&s.path, &["set", "doc", "2"]);
    expect_code(&r, 6);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(r.stderr.contains("doc"), "{}", r.stderr);
    assert!(r.stderr.contains("outside"), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
    assert_eq!(std::fs::read_to_string(&file).expect("file"), edit);

    // The other write commands on that document refuse too.
    expect_code(&gs(&s.path, &["rm", "doc"]), 6);
    expect_code(&gs_in(&s.path, &["patch", "doc"], br#"{"w": 1}"#), 6);
    expect_code(&gs(&s.path, &["update", "doc", "--", "cat"]), 6);
    assert_eq!(head(&s.path), h);
    assert_eq!(std::fs::read_to_string(&file).expect("file"), edit);

    // Discarding the edit with git makes the document writable again.
    git_ok(&s.path, &["checkout", "--", "doc.json"]);
    ok(gs(&s.path, &["set", "doc", "2"]));
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "2\n");
    assert_git_clean(&s.path);
}

#[test]
fn hand_created_file_is_untracked_and_protected() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let h = head(&s.path);
    std::fs::write(s.path.join("new.json"), "\"mine\"\n").expect("hand create");

    let out = ok(gs(&s.path, &["status"]));
    let line = out
        .lines()
        .find(|l| l.contains("new.json"))
        .unwrap_or_else(|| panic!("status must list new.json: {out}"));
    assert!(line.contains("untracked"), "{out}");
    let j = json_out(gs(&s.path, &["--json", "status"]));
    assert_eq!(
        j["drift"],
        json!([{"path": "new.json", "kind": "untracked"}]),
        "{j}"
    );

    let r = gs(&s.path, &["set", "new", "1"]);
    expect_code(&r, 6);
    assert!(r.stderr.contains("new"), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
    assert_eq!(
        std::fs::read_to_string(s.path.join("new.json")).expect("file"),
        "\"mine\"\n"
    );
}

#[test]
fn hand_deleted_file_is_missing_in_status() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    std::fs::remove_file(s.path.join("doc.json")).expect("hand delete");
    let j = json_out(gs(&s.path, &["--json", "status"]));
    assert_eq!(
        j["drift"],
        json!([{"path": "doc.json", "kind": "missing"}]),
        "{j}"
    );
}

// ---------------------------------------------------------------------------------------------
// verify

#[test]
fn verify_healthy_store() {
    let s = store_with_history();
    let out = ok(gs(&s.path, &["verify"]));
    assert!(out.starts_with("ok"), "{out}");
    let j = json_out(gs(&s.path, &["--json", "verify"]));
    assert_eq!(j["ok"], json!(true), "{j}");
    assert_eq!(j["problems"], json!([]), "{j}");
}

#[test]
fn verify_finds_a_corrupt_blob() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"precious": "data"}"#]));
    let blob = git_ok(&s.path, &["rev-parse", "HEAD:doc.json"]);
    let blob = blob.trim();
    assert!(is_full_id(blob), "{blob}");
    let object = s
        .path
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    assert!(object.is_file(), "blob must be loose: {}", object.display());
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).expect("chmod u+w");
    std::fs::write(&object, b"this is not a zlib stream at all").expect("corrupt");

    let r = gs(&s.path, &["verify"]);
    expect_code(&r, 8);
    assert!(
        r.stdout.contains(blob) || r.stderr.contains(blob),
        "verify must name {blob}\nstdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    let r = gs(&s.path, &["--json", "verify"]);
    expect_code(&r, 8);
    let j: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(j["ok"], json!(false), "{j}");
    assert!(j["problems"].to_string().contains(blob), "{j}");
}

// ---------------------------------------------------------------------------------------------
// invalid input

#[test]
fn hostile_names_are_invalid_input() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let h = head(&s.path);
    let long = "a".repeat(256);
    let names: Vec<&str> = vec![
        "../x", "/etc/x", "a//b", ".git", "a/.GIT/b", "x\\y", "a\nb", &long, "", "a/", "..",
        ".hidden", "a b",
    ];
    for name in names {
        for args in [
            vec!["set", name, "1"],
            vec!["get", name],
            vec!["rm", name],
            vec!["update", name, "--", "echo", "1"],
        ] {
            let r = gs(&s.path, &args);
            expect_code(&r, 4);
            assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {:?}", r.stderr);
            assert!(r.stderr.starts_with("error: "), "{args:?}: {:?}", r.stderr);
            assert_eq!(r.stdout, "", "{args:?}");
            assert_eq!(head(&s.path), h, "{args:?}");
        }
        let r = gs_in(&s.path, &["patch", name], b"{}");
        expect_code(&r, 4);
        assert_one_error_line(&r);
        assert_eq!(head(&s.path), h);
        assert_git_clean(&s.path);
    }
    // 255 bytes is still a valid name.
    let longest = format!("{}/{}", "b".repeat(127), "c".repeat(127));
    assert_eq!(longest.len(), 255);
    ok(gs(&s.path, &["set", &longest, "1"]));
    assert_eq!(ok(gs(&s.path, &["get", &longest])), "1\n");
    assert_git_clean(&s.path);
}

#[test]
fn invalid_json_is_invalid_input() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let h = head(&s.path);
    for bad in [
        "{",
        "[1,]",
        "nan",
        "NaN",
        "{} x",
        "",
        "   ",
        "'single'",
        "{\"a\":1,}",
    ] {
        let r = gs(&s.path, &["set", "doc", bad]);
        expect_code(&r, 4);
        assert_one_error_line(&r);
        assert_eq!(head(&s.path), h, "{bad:?}");

        let r = gs_in(&s.path, &["set", "doc"], bad.as_bytes());
        expect_code(&r, 4);
        assert_one_error_line(&r);
        assert_eq!(head(&s.path), h, "{bad:?} on stdin");
    }
    let invalid_utf8: [&[u8]; 3] = [b"\"\xff\xfe\"", b"{\"a\": \"\xc3\x28\"}", b"\xff"];
    for bytes in invalid_utf8 {
        let r = gs_in(&s.path, &["set", "doc", "-"], bytes);
        expect_code(&r, 4);
        assert_one_error_line(&r);
        assert_eq!(head(&s.path), h);
    }
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "1\n");
    assert_git_clean(&s.path);
}

#[test]
fn invalid_json_into_a_new_document_creates_nothing() {
    let s = TempStore::init();
    let h = head(&s.path);
    let r = gs(&s.path, &["set", "fresh", "{"]);
    expect_code(&r, 4);
    assert!(r.stderr.contains("fresh"), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
    assert!(!s.path.join("fresh.json").exists());
    expect_code(&gs(&s.path, &["get", "fresh"]), 3);
    assert_git_clean(&s.path);
}

// ---------------------------------------------------------------------------------------------
// not a store

#[test]
fn commands_on_a_missing_or_empty_store_are_not_found_with_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    for args in [
        &["get", "x"][..],
        &["ls"],
        &["log"],
        &["status"],
        &["set", "x", "1"],
    ] {
        let r = gs(&empty, args);
        expect_code(&r, 3);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
    }
    assert_eq!(
        std::fs::read_dir(&empty).expect("read dir").count(),
        0,
        "nothing is created in a directory that is not a store"
    );
    let r = gs(&dir.path().join("does-not-exist"), &["get", "x"]);
    expect_code(&r, 3);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!dir.path().join("does-not-exist").exists());
}

#[test]
fn init_refuses_a_non_empty_directory_that_is_not_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("busy");
    std::fs::create_dir_all(target.join("sub")).expect("mkdir");
    std::fs::write(target.join("notes.txt"), "keep me\n").expect("write");
    std::fs::write(target.join("sub/data.json"), "{\"x\": 1}\n").expect("write");

    let r = gs(&target, &["init"]);
    assert_ne!(
        r.code, 0,
        "init into a non-empty directory must fail: {r:?}"
    );
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).expect("file"),
        "keep me\n"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("sub/data.json")).expect("file"),
        "{\"x\": 1}\n"
    );
    let mut entries: Vec<String> = std::fs::read_dir(&target)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["notes.txt", "sub"], "nothing added");
}

// ---------------------------------------------------------------------------------------------
// identity and time

#[test]
fn author_from_environment_and_default() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "default", "1"]));
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%an <%ae>"]),
        "gitstate <gitstate@localhost>\n"
    );
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%ct"]).trim(),
        TEST_TIME
    );

    let mut c = cli(EXE, &s.path);
    c.env("GITSTATE_AUTHOR", "Jane Doe <jane@example.com>")
        .args(["set", "jane", "1"]);
    ok(run(c));
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%an <%ae>"]),
        "Jane Doe <jane@example.com>\n"
    );
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%ct"]).trim(),
        TEST_TIME
    );
    let j = json_out(gs(&s.path, &["--json", "log", "jane"]));
    assert_eq!(j[0]["author"], json!("Jane Doe <jane@example.com>"), "{j}");
    assert_git_clean(&s.path);
}

#[test]
fn invalid_author_is_rejected_without_commit() {
    let s = TempStore::init();
    let h = head(&s.path);
    let mut c = cli(EXE, &s.path);
    c.env("GITSTATE_AUTHOR", "no email here\nInjected: trailer")
        .args(["set", "doc", "1"]);
    let r = run(c);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
    assert_git_clean(&s.path);
}

// ---------------------------------------------------------------------------------------------
// usage

#[test]
fn help_and_usage_errors() {
    let s = TempStore::init();
    let r = gs(&s.path, &["--help"]);
    expect_code(&r, 0);
    assert!(r.stdout.contains("Usage"), "{}", r.stdout);
    assert!(r.stdout.contains("Exit codes"), "{}", r.stdout);
    expect_code(&gs(&s.path, &["set", "--help"]), 0);
    expect_code(&gs(&s.path, &["--version"]), 0);

    let h = head(&s.path);
    for args in [
        &["frobnicate"][..],
        &[],
        &["set"],
        &["get", "doc", "--no-such-flag"],
        &["log", "-n", "many"],
        &["--durability", "sometimes", "ls"],
        &["--lock-timeout", "-1", "set", "doc", "1"],
        &["--lock-timeout", "nan", "set", "doc", "1"],
    ] {
        let r = gs(&s.path, args);
        expect_code(&r, 2);
        assert_eq!(r.stdout, "", "{args:?}");
        assert_eq!(head(&s.path), h, "{args:?}");
    }
}

/// Long single segments: up to 250 bytes they are stored (`SEGMENT.json` fits the file
/// system's 255-byte limit), beyond that they are refused as invalid input with nothing
/// written; the store stays usable either way. Every problem is collected, then reported
/// together.
#[test]
fn long_single_segment_names_are_stored_or_refused_cleanly() {
    let mut problems = Vec::new();
    for len in [236, 237, 250, 251, 255] {
        let s = TempStore::init();
        ok(gs(&s.path, &["set", "ok", "1"]));
        let name = "b".repeat(len);
        let set: &[&str] = &["set", &name, "1"];
        let update: &[&str] = &["update", &name, "--", "echo", "1"];
        let patch: &[&str] = &["patch", &name];
        for args in [set, update, patch] {
            let h = head(&s.path);
            let r = gs_in(&s.path, args, b"{}");
            let first_line = r.stderr.lines().next().unwrap_or_default();
            let short = first_line.replace(&name, &format!("<{len} bytes>"));
            match r.code {
                0 => {
                    if gs(&s.path, &["get", &name]).code != 0 {
                        problems.push(format!("{len}: {} succeeded but get fails", args[0]));
                    }
                }
                4 if head(&s.path) == h => {}
                code => {
                    let moved = if head(&s.path) == h {
                        "no commit"
                    } else {
                        "YET COMMITTED"
                    };
                    problems.push(format!(
                        "{len}: {} exited {code} ({moved}), not 0 or 4: {short}",
                        args[0]
                    ));
                }
            }
        }
        // The store stays usable.
        for args in [
            &["get", "ok"][..],
            &["status"],
            &["recover"],
            &["set", "ok", "2"],
        ] {
            let r = gs(&s.path, args);
            if r.code != 0 {
                let short = r
                    .stderr
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .replace(&name, "<name>");
                problems.push(format!(
                    "{len}: afterwards `{}` exits {}: {short}",
                    args.join(" "),
                    r.code
                ));
            }
        }
        let status = git(&s.path, &["status", "--porcelain"]);
        if !status.stdout.is_empty() {
            problems.push(format!(
                "{len}: git status not clean: {}",
                status.stdout.replace(&name, "<name>")
            ));
        }
    }
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// more edge cases

#[test]
fn numbers_keep_their_precision_through_writes() {
    let s = TempStore::init();
    ok(gs(
        &s.path,
        &[
            "set",
            "nums",
            r#"{"big": 12345678901234567890123, "dec": 0.1000, "f": 1.0, "neg": -17}"#,
        ],
    ));
    let expect = "{\n  \"big\": 12345678901234567890123,\n  \"dec\": 0.1000,\n  \"f\": 1.0,\n  \"neg\": -17\n}\n";
    assert_eq!(ok(gs(&s.path, &["get", "nums"])), expect);
    // A read-modify-write of another key leaves the numbers alone.
    ok(gs_in(&s.path, &["patch", "nums"], br#"{"other": true}"#));
    ok(gs_in(&s.path, &["patch", "nums"], br#"{"other": null}"#));
    ok(gs(&s.path, &["update", "nums", "--", "cat"]));
    assert_eq!(ok(gs(&s.path, &["get", "nums"])), expect);
    assert_eq!(
        ok(gs(&s.path, &["get", "nums", "--pointer", "/big"])),
        "12345678901234567890123\n"
    );
    assert_git_clean(&s.path);
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"a": 1, "a": 2}"#]));
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "{\n  \"a\": 2\n}\n");
}

#[test]
fn more_pointer_and_revision_errors() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", r#"{"a": [1, 2]}"#]));
    // Malformed pointers: invalid input.
    for bad in ["/a~2", "~", "/a~"] {
        expect_code(&gs(&s.path, &["get", "doc", "--pointer", bad]), 4);
    }
    // Well-formed pointers without a target: not found.
    for missing in ["/a/01", "/a/-", "/a/2", "/a/1/x"] {
        expect_code(&gs(&s.path, &["get", "doc", "--pointer", missing]), 3);
    }
    // Revisions that are not commits.
    let blob = git_ok(&s.path, &["rev-parse", "HEAD:doc.json"]);
    let tree = git_ok(&s.path, &["rev-parse", "HEAD^{tree}"]);
    for rev in [blob.trim(), tree.trim(), "HEAD:doc.json"] {
        let r = gs(&s.path, &["get", "doc", "--at", rev]);
        expect_code(&r, 3);
        assert!(r.stderr.contains(rev), "{}", r.stderr);
    }
    assert_eq!(
        ok(gs(&s.path, &["get", "doc", "--at", "main"])),
        ok(gs(&s.path, &["get", "doc"]))
    );
    // An empty patch is invalid JSON.
    let h = head(&s.path);
    expect_code(&gs_in(&s.path, &["patch", "doc"], b""), 4);
    expect_code(&gs_in(&s.path, &["patch", "doc", "--json-patch"], b""), 4);
    assert_eq!(head(&s.path), h);
}

#[test]
fn commit_time_accepts_rfc3339() {
    let s = TempStore::init();
    let mut c = cli(EXE, &s.path);
    c.env("GITSTATE_COMMIT_TIME", "2020-01-01T00:00:00+02:00")
        .args(["set", "doc", "1"]);
    ok(run(c));
    assert_eq!(
        git_ok(&s.path, &["log", "-1", "--format=%ct %ci"]),
        "1577829600 2020-01-01 00:00:00 +0200\n"
    );
    let j = json_out(gs(&s.path, &["--json", "log", "doc"]));
    assert_eq!(j[0]["time"], json!("2020-01-01T00:00:00+02:00"), "{j}");

    let h = head(&s.path);
    let mut c = cli(EXE, &s.path);
    c.env("GITSTATE_COMMIT_TIME", "yesterday-ish")
        .args(["set", "doc", "2"]);
    let r = run(c);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("GITSTATE_COMMIT_TIME"), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
    assert_git_clean(&s.path);
}

#[test]
fn symlinks_in_the_working_tree_are_never_followed() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let h = head(&s.path);
    let outside = s.path.with_file_name("outside.json");
    std::fs::write(&outside, "\"outside\"\n").expect("write");
    std::fs::remove_file(s.path.join("doc.json")).expect("rm");
    std::os::unix::fs::symlink(&outside, s.path.join("doc.json")).expect("symlink");
    let r = gs(&s.path, &["set", "doc", "2"]);
    assert_ne!(
        r.code, 0,
        "a write through a symlink must be refused: {r:?}"
    );
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&outside).expect("file"),
        "\"outside\"\n"
    );
    assert_eq!(head(&s.path), h);

    let outdir = s.path.with_file_name("outdir");
    std::fs::create_dir(&outdir).expect("mkdir");
    std::os::unix::fs::symlink(&outdir, s.path.join("dir")).expect("symlink");
    let r = gs(&s.path, &["set", "dir/x", "1"]);
    assert_ne!(
        r.code, 0,
        "a write through a symlinked directory must be refused: {r:?}"
    );
    assert_eq!(std::fs::read_dir(&outdir).expect("dir").count(), 0);
    assert_eq!(head(&s.path), h);
}

#[test]
fn a_held_lock_makes_writes_wait_then_fail_with_exit_5() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    let signal = s.path.with_file_name("go");
    let started = s.path.with_file_name("started");
    let script = format!(
        "touch '{}'; while [ ! -e '{}' ]; do sleep 0.05; done; cat",
        started.display(),
        signal.display()
    );
    let mut holder = cli(EXE, &s.path);
    holder
        .args(["update", "doc", "--", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = holder.spawn().expect("spawn holder");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "holder never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let h = head(&s.path);
    let r = gs(&s.path, &["--lock-timeout", "0.2", "set", "other", "2"]);
    let r2 = gs(&s.path, &["--json", "status"]);
    let r3 = gs(&s.path, &["get", "doc"]);
    std::fs::write(&signal, "").expect("release");
    let out: Run = child.wait_with_output().expect("wait holder").into();

    expect_code(&r, 5);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(
        r.stderr.contains("update"),
        "the error names the holder: {}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    let status: Value = serde_json::from_str(&ok(r2)).expect("json");
    assert_eq!(status["lock"]["state"], json!("held"), "{status}");
    // Reads do not wait for the lock.
    assert_eq!(ok(r3), "1\n");

    assert!(out.stdout.starts_with("unchanged"), "{out:?}");
    assert_eq!(head(&s.path), h);
    expect_code(&gs(&s.path, &["get", "other"]), 3);
    let j = json_out(gs(&s.path, &["--json", "status"]));
    assert_eq!(j["lock"]["state"], json!("free"), "{j}");
    assert_git_clean(&s.path);
}

#[test]
fn writes_to_other_documents_keep_outside_edits() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    std::fs::write(s.path.join("doc.json"), "\"hand\"\n").expect("edit");
    std::fs::write(s.path.join("loose.json"), "\"loose\"\n").expect("create");
    let n = commit_count(&s.path);
    ok(gs(&s.path, &["set", "other", "2"]));
    ok(gs(&s.path, &["recover"]));
    assert_eq!(commit_count(&s.path), n + 1);
    assert_eq!(
        git_ok(&s.path, &["show", "--format=", "--name-only", "HEAD"]),
        "other.json\n"
    );
    assert_eq!(
        std::fs::read_to_string(s.path.join("doc.json")).expect("file"),
        "\"hand\"\n"
    );
    assert_eq!(
        std::fs::read_to_string(s.path.join("loose.json")).expect("file"),
        "\"loose\"\n"
    );
    // Reads see the committed value, not the edit.
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "1\n");
    assert_eq!(ok(gs(&s.path, &["ls"])), "doc\nother\n");
}

#[test]
fn an_outside_edit_recorded_with_git_commit_is_accepted() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    std::fs::write(s.path.join("doc.json"), "{\n  \"hand\": true\n}\n").expect("edit");
    git_ok(&s.path, &["commit", "-q", "-am", "edit by hand"]);
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "{\n  \"hand\": true\n}\n");
    let j = json_out(gs(&s.path, &["--json", "log", "-n", "1"]));
    assert_eq!(j[0]["op"], json!("external"), "{j}");
    assert_eq!(j[0]["message"], json!("edit by hand"), "{j}");
    ok(gs_in(&s.path, &["patch", "doc"], br#"{"more": 1}"#));
    assert_eq!(
        ok(gs(&s.path, &["get", "doc"])),
        "{\n  \"hand\": true,\n  \"more\": 1\n}\n"
    );
    assert_eq!(ok(gs(&s.path, &["get", "doc", "--at", "HEAD~2"])), "1\n");
    assert_git_clean(&s.path);
}

#[test]
fn store_from_gitstate_dir_or_current_directory() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "\"here\""]));

    let mut c = std::process::Command::new(EXE);
    c.env("GITSTATE_DIR", &s.path)
        .env("GITSTATE_COMMIT_TIME", TEST_TIME)
        .env_remove("GITSTATE_AUTHOR")
        .args(["get", "doc"]);
    assert_eq!(ok(run(c)), "\"here\"\n");

    let mut c = std::process::Command::new(EXE);
    c.env_remove("GITSTATE_DIR")
        .env("GITSTATE_COMMIT_TIME", TEST_TIME)
        .current_dir(&s.path)
        .args(["set", "cwd", "1"]);
    ok(run(c));
    assert_eq!(ok(gs(&s.path, &["get", "cwd"])), "1\n");

    // --store wins over GITSTATE_DIR.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let mut c = cli(EXE, &s.path);
    c.env("GITSTATE_DIR", elsewhere.path()).args(["get", "doc"]);
    assert_eq!(ok(run(c)), "\"here\"\n");
    assert_git_clean(&s.path);
}

#[test]
fn recover_and_verify_json_on_a_healthy_store() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    assert_eq!(ok(gs(&s.path, &["recover"])), "nothing to repair\n");
    let j = json_out(gs(&s.path, &["--json", "recover"]));
    assert_eq!(j, json!({"repaired": []}));
    assert_git_clean(&s.path);
}

#[test]
fn durability_fast_still_commits() {
    let s = TempStore::init();
    let n = commit_count(&s.path);
    ok(gs(&s.path, &["--durability", "fast", "set", "doc", "1"]));
    let mut c = cli(EXE, &s.path);
    c.env("GITSTATE_DURABILITY", "fast")
        .args(["set", "doc", "2"]);
    ok(run(c));
    assert_eq!(commit_count(&s.path), n + 2);
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "2\n");
    assert_git_clean(&s.path);
}

#[test]
fn verify_reports_bad_files_committed_with_plain_git() {
    let s = TempStore::init();
    ok(gs(&s.path, &["set", "doc", "1"]));
    std::fs::write(s.path.join("broken.json"), "{\n").expect("write");
    std::fs::write(s.path.join("README"), "hello\n").expect("write");
    git_ok(&s.path, &["add", "-A"]);
    git_ok(&s.path, &["commit", "-q", "-m", "plain git"]);
    let r = gs(&s.path, &["verify"]);
    expect_code(&r, 8);
    let problems: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 2, "{}", r.stdout);
    assert!(r.stdout.contains("broken.json"), "{}", r.stdout);
    assert!(r.stdout.contains("README"), "{}", r.stdout);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    // The good document is still readable; the broken one is an error, not a crash.
    assert_eq!(ok(gs(&s.path, &["get", "doc"])), "1\n");
    let r = gs(&s.path, &["get", "broken"]);
    assert_ne!(r.code, 0);
    assert_one_error_line(&r);
}

#[test]
fn large_documents_through_stdin_and_update() {
    let s = TempStore::init();
    let big = format!("\"{}\"", "a".repeat(3 << 20));
    ok(gs_in(&s.path, &["set", "big"], big.as_bytes()));
    assert_eq!(ok(gs(&s.path, &["get", "big"])), format!("{big}\n"));
    // A command that echoes the document back: unchanged.
    let out = ok(gs(&s.path, &["update", "big", "--", "cat"]));
    assert!(out.starts_with("unchanged"), "{out}");
    // A command that never reads its (large) input.
    ok(gs(&s.path, &["update", "big", "--", "echo", "1"]));
    assert_eq!(ok(gs(&s.path, &["get", "big"])), "1\n");
    assert_git_clean(&s.path);
}
