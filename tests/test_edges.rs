//! Edge cases where gitstate meets other programs and unusual input: edits staged with
//! `git add`, a git process holding the index lock, names that would collide, patches that
//! nest too deep, invalid schema files, symlinks, checkpoint labels git would reject.

use gitstate::{Error, Options, Store};
use gitstate_tests::{TempStore, assert_git_clean, commit_count, git, head};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

#[test]
fn edits_staged_with_git_add_are_outside_edits_not_lag() {
    let s = TempStore::init();
    let store = s.open();
    store.set("prefs", &json!({"v": 1})).expect("set");
    std::fs::write(s.path.join("prefs.json"), "{\"v\": \"staged\"}\n").expect("edit");
    std::fs::write(s.path.join("new.json"), "[1]\n").expect("new");
    assert_eq!(git(&s.path, &["add", "prefs.json", "new.json"]).code, 0);
    // Opening repairs lag; a staged edit is not lag.
    let store = s.open();
    assert_eq!(
        std::fs::read_to_string(s.path.join("prefs.json")).expect("read"),
        "{\"v\": \"staged\"}\n"
    );
    assert!(
        s.path.join("new.json").exists(),
        "a staged new file was deleted"
    );
    let err = store
        .set("prefs", &json!({"v": 2}))
        .expect_err("outside edit");
    assert!(matches!(err, Error::OutsideEdit { .. }), "{err}");
    // Other writes go on, and still leave both files alone.
    store.set("other", &1).expect("set other");
    assert!(s.path.join("new.json").exists());
}

#[test]
fn a_busy_index_lock_does_not_turn_a_made_commit_into_a_failure() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &1).expect("set");
    // A git process (say `git commit` with its editor open) holds the index lock.
    let lock = s.path.join(".git/index.lock");
    std::fs::write(&lock, b"").expect("lock");
    let before = commit_count(&s.path);
    let out = store
        .set("doc", &2)
        .expect("the commit is made and reported as made");
    assert!(out.commit.is_some());
    assert!(
        out.worktree_pending.is_some(),
        "the lagging working tree is reported"
    );
    assert_eq!(commit_count(&s.path), before + 1);
    assert!(lock.exists(), "git's lock was removed");
    std::fs::remove_file(&lock).expect("git finishes");
    let store = s.open();
    assert_eq!(
        std::fs::read_to_string(s.path.join("doc.json")).expect("read"),
        "2\n"
    );
    assert!(store.status().expect("status").drift.is_empty());
    assert_git_clean(&s.path);
}

#[test]
fn names_that_would_collide_with_a_document_file_are_refused() {
    let s = TempStore::init();
    let store = s.open();
    store.set("a", &1).expect("set a");
    let mut tx = store.transaction();
    assert!(matches!(tx.set("a.json/b", &2), Err(Error::InvalidName(_))));
    assert_eq!(store.get::<u32, _>("a").expect("get"), Some(1));
}

#[test]
fn a_patch_cannot_build_a_document_too_deep_to_read_back() {
    let s = TempStore::init();
    let store = s.open();
    let mut deep = json!(0);
    for _ in 0..120 {
        deep = json!([deep]);
    }
    store
        .set_value("doc", deep, None)
        .expect("120 levels are fine");
    let before = commit_count(&s.path);
    let path = format!("{}/-", "/0".repeat(100));
    let patch = json!([{"op": "copy", "from": "", "path": path}]);
    let err = store.json_patch("doc", &patch, None).expect_err("too deep");
    assert!(matches!(err, Error::Patch { .. }), "{err}");
    assert!(format!("{err:?}").contains("deeper than 128"), "{err:?}");
    assert_eq!(commit_count(&s.path), before);
    assert!(store.get_value("doc").expect("still readable").is_some());
}

#[test]
fn an_invalid_schema_file_is_never_stored() {
    let s = TempStore::init();
    let store = s.open();
    let before = commit_count(&s.path);
    let err = store
        .set_value(gitstate::SCHEMA_DOC, json!({"schemas": 5}), None)
        .expect_err("invalid schema file");
    assert!(matches!(err, Error::Migrate { .. }), "{err}");
    assert_eq!(commit_count(&s.path), before);
    store.set("doc", &1).expect("writes go on");
}

#[test]
fn commit_never_reads_through_a_symlink() {
    let s = TempStore::init();
    let secret = s.path.parent().expect("parent").join("secret.json");
    std::fs::write(&secret, "{\"password\": \"hunter2\"}").expect("secret");
    std::os::unix::fs::symlink(&secret, s.path.join("x.json")).expect("symlink");
    let store = s.open();
    let h = head(&s.path);
    let err = store.commit_outside_edits(None).expect_err("symlink");
    assert!(matches!(err, Error::Unsafe { .. }), "{err}");
    assert_eq!(head(&s.path), h);
    let err = store
        .diff(None, None, &[] as &[&str])
        .expect_err("diff refuses too");
    assert!(matches!(err, Error::Unsafe { .. }), "{err}");
}

#[test]
fn checkpoint_labels_git_would_reject_are_refused() {
    let s = TempStore::init();
    let store = s.open();
    for bad in ["a..b", "x.lock", "main", "HEAD"] {
        let err = store.checkpoint(bad, None).expect_err(bad);
        assert!(matches!(err, Error::InvalidName(_)), "{bad}: {err}");
    }
    store.checkpoint("v1.0", None).expect("a normal label");
}

#[test]
fn init_finishes_a_store_whose_first_commit_never_happened() {
    let s = TempStore::init();
    // As if init crashed after laying out .git: no branch (and so no reflog) yet.
    std::fs::remove_file(s.path.join(".git/refs/heads/main")).expect("rm ref");
    std::fs::remove_file(s.path.join(".git/logs/refs/heads/main")).expect("rm reflog");
    let (store, outcome) = Store::init(&s.path, Options::default()).expect("init again");
    assert_eq!(outcome, gitstate::InitOutcome::Existed);
    assert!(
        store.head().expect("head").is_some(),
        "the first commit was not made"
    );
    let v: Option<Value> = store.get_value("x").expect("read");
    assert_eq!(v, None);
}

#[test]
fn commit_times_before_1970_are_refused() {
    let s = TempStore::init();
    let h = head(&s.path);
    let mut c = gitstate_tests::cli(EXE, &s.path);
    c.args(["set", "n", "1"]).env("GITSTATE_COMMIT_TIME", "-5");
    let r = gitstate_tests::run(c);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("GITSTATE_COMMIT_TIME"), "{}", r.stderr);
    assert_eq!(head(&s.path), h);
}

#[test]
fn a_git_clone_of_a_store_is_a_working_store() {
    let s = TempStore::init();
    let store = s.open();
    store.set("prefs", &json!({"theme": "dark"})).expect("set");
    store.checkpoint("v1", None).expect("checkpoint");
    let elsewhere = tempfile::tempdir().expect("tmp");
    let clone = elsewhere.path().join("clone");
    let r = git(
        elsewhere.path(),
        &["clone", "-q", s.path.to_str().expect("utf-8"), "clone"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let copy = Store::open(&clone, Options::default()).expect("open the clone");
    assert_eq!(
        copy.get_value("prefs").expect("get"),
        Some(json!({"theme": "dark"}))
    );
    assert_eq!(
        copy.snapshot_at("v1")
            .expect("checkpoint travels")
            .get_value("prefs")
            .expect("get"),
        Some(json!({"theme": "dark"}))
    );
    copy.set("prefs", &json!({"theme": "light"}))
        .expect("write in the clone");
    assert!(copy.status().expect("status").drift.is_empty());
    assert_git_clean(&clone);
}

#[test]
fn a_deleted_branch_is_never_replaced_by_a_new_history_and_recover_restores_it() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &1).expect("set");
    let h = head(&s.path);
    std::fs::remove_file(s.path.join(".git/refs/heads/main")).expect("rm ref");
    let err = store
        .set("doc", &2)
        .expect_err("must not start a new history");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("gitstate recover"), "{err}");
    assert!(!s.path.join(".git/refs/heads/main").exists());
    store.recover().expect("recover");
    assert_eq!(head(&s.path), h);
    assert_eq!(store.get::<u32, _>("doc").expect("get"), Some(1));
    store.set("doc", &2).expect("writes go on");
    assert_git_clean(&s.path);
}

#[test]
fn nothing_from_a_stores_config_or_hooks_is_ever_executed() {
    let s = TempStore::init();
    let canary = s.path.parent().expect("parent").join("executed");
    let script = s.path.parent().expect("parent").join("evil.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", canary.display())).expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // What a hostile clone could carry: fsmonitor, hooks, a hooks path, editors, pagers.
    let config = s.path.join(".git/config");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "[core]\n\tfsmonitor = {0}\n\thooksPath = {1}\n\teditor = {0}\n\tpager = {0}\n[gc]\n\tauto = 1\n",
        script.display(),
        s.path.parent().expect("parent").join("hooks").display()
    ));
    std::fs::write(&config, text).expect("write config");
    let hooks = s.path.parent().expect("parent").join("hooks");
    std::fs::create_dir_all(&hooks).expect("hooks");
    for hook in [
        "pre-auto-gc",
        "post-commit",
        "pre-commit",
        "reference-transaction",
        "post-index-change",
    ] {
        std::fs::copy(&script, hooks.join(hook)).expect("hook");
        std::fs::copy(&script, s.path.join(".git/hooks").join(hook)).ok();
    }
    let store = s.open();
    for i in 0..5 {
        store.set("doc", &i).expect("set");
    }
    store.checkpoint("c1", None).expect("checkpoint");
    let _ = store.status().expect("status");
    let _ = store.verify().expect("verify");
    store.gc().expect("gc");
    assert!(
        !canary.exists(),
        "something from the store's config or hooks was executed"
    );
}
