//! Edge cases where gitstate meets other programs and unusual input: edits staged with
//! `git add`, a git process holding the index lock, names that would collide, patches that
//! nest too deep, invalid schema files, symlinks, checkpoint labels git would reject; and
//! the permissions of what a store creates, private or shared.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use gitstate::{Error, Options, Sharing, Store};
use gitstate_tests::{Run, TEST_TIME, TempStore, assert_git_clean, commit_count, git, head};
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

/// Every file and directory below `root`, `root` included, with its mode bits (permissions,
/// setgid).
fn modes_below(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("inspect");
        let is_dir = meta.is_dir();
        if is_dir {
            for entry in std::fs::read_dir(&path).expect("list") {
                todo.push(entry.expect("entry").path());
            }
        }
        found.push((path, is_dir, meta.permissions().mode() & 0o7777));
    }
    found
}

/// Whether `path` is an object file (loose object, pack, pack index, commit-graph): git and
/// gitstate make those read-only.
fn is_object_file(store: &Path, path: &Path) -> bool {
    path.strip_prefix(store.join(".git/objects"))
        .is_ok_and(|rela| rela.components().count() == 2 && !rela.ends_with("info/packs"))
}

/// The CLI on `store`, run under `sh` with `umask` set first.
fn gs_with_umask(store: &Path, umask: &str, args: &[&str]) -> Run {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask} && exec \"$@\""))
        .arg("sh")
        .arg(EXE)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("GITSTATE_DIR")
        .env_remove("GITSTATE_AUTHOR")
        .env_remove("GITSTATE_DURABILITY")
        .env("GITSTATE_COMMIT_TIME", TEST_TIME);
    gitstate_tests::run(c)
}

#[test]
fn everything_a_default_store_creates_is_private() {
    let s = TempStore::init();
    let store = s.open();
    assert_eq!(store.sharing(), Sharing::Private);
    store.set("a/b", &json!({"v": 1})).expect("set");
    store.set("top", &1).expect("set");
    store.checkpoint("c1", None).expect("checkpoint");
    store.gc().expect("gc");
    // After the pack: new loose objects and fan-out directories, a deeper document.
    store.set("a/c/d", &2).expect("set");
    store.delete("top", None).expect("delete");
    assert_eq!(
        store.recover().expect("recover"),
        Vec::<String>::new(),
        "nothing to repair"
    );
    // And a write from another process, through the CLI.
    let r = gs_with_umask(&s.path, "022", &["set", "e/f", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut open = Vec::new();
    for (path, is_dir, mode) in modes_below(&s.path) {
        let expected = if is_dir {
            0o700
        } else if is_object_file(&s.path, &path) {
            0o400
        } else {
            0o600
        };
        if mode != expected {
            open.push(format!("{mode:o} (want {expected:o}) {}", path.display()));
        }
    }
    assert!(
        open.is_empty(),
        "with umask 022, a private store has:\n{}",
        open.join("\n")
    );
    let config = std::fs::read_to_string(s.path.join(".git/config")).expect("config");
    assert!(!config.contains("sharedRepository"), "{config}");
}

#[test]
fn a_group_store_is_group_writable_whatever_the_umask() {
    let s = TempStore::new();
    // umask 077 would make every file private: the modes must not depend on it.
    let r = gs_with_umask(&s.path, "077", &["--json", "init", "--shared"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).expect("json")["created"],
        json!(true)
    );
    for args in [
        &["set", "a/b", "{\"v\": 1}"][..],
        &["set", "top", "1"],
        &["checkpoint", "c1"],
        &["gc"],
        &["set", "a/c/d", "2"],
        &["rm", "top"],
    ] {
        let r = gs_with_umask(&s.path, "077", args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    // The library, opened without asking for sharing, follows the store's config.
    let store = s.open();
    assert_eq!(store.sharing(), Sharing::Group);
    store.set("a/b", &json!({"v": 2})).expect("a second writer");

    let mut wrong = Vec::new();
    for (path, is_dir, mode) in modes_below(&s.path) {
        let expected = if is_dir {
            0o2770
        } else if is_object_file(&s.path, &path) {
            0o440
        } else {
            0o660
        };
        if mode != expected {
            wrong.push(format!("{mode:o} (want {expected:o}) {}", path.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "with umask 077, a group store has:\n{}",
        wrong.join("\n")
    );
    let r = git(&s.path, &["config", "core.sharedRepository"]);
    assert_eq!(r.stdout.trim(), "group", "{}", r.stderr);
    assert_eq!(store.get_value("a/b").expect("get"), Some(json!({"v": 2})));
    assert_git_clean(&s.path);

    // init on it again, asking for something else, changes nothing.
    let (again, outcome) = Store::init(&s.path, Options::default().shared(Sharing::All))
        .expect("init on an existing store");
    assert_eq!(outcome, gitstate::InitOutcome::Existed);
    assert_eq!(again.sharing(), Sharing::Group);
}

#[test]
fn a_store_shared_with_all_is_readable_by_everyone() {
    let s = TempStore::new();
    let (store, _) = Store::init(&s.path, Options::default().shared(Sharing::All)).expect("init");
    store.set("a/b", &1).expect("set");
    for (path, is_dir, mode) in modes_below(&s.path) {
        let expected = if is_dir {
            0o2775
        } else if is_object_file(&s.path, &path) {
            0o444
        } else {
            0o664
        };
        assert_eq!(mode, expected, "{mode:o} {}", path.display());
    }
    let r = git(&s.path, &["config", "core.sharedRepository"]);
    assert_eq!(r.stdout.trim(), "all", "{}", r.stderr);
    let r = gs_with_umask(&s.path, "022", &["init", "--shared=nobody-in-particular"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: invalid value"), "{}", r.stderr);
}

/// Two users of one group write the same store: each one's files stay usable by the other.
/// Needs root (to act as those users) and `setpriv`; elsewhere it says so and passes.
#[test]
fn two_users_of_a_group_write_one_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let am_root = std::fs::metadata(dir.path()).expect("inspect").uid() == 0;
    let setpriv = Command::new("setpriv").arg("--version").output();
    if !am_root || !setpriv.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: acting as two users needs root and setpriv");
        return;
    }
    const GROUP: u32 = 64_200;
    std::os::unix::fs::chown(dir.path(), None, Some(GROUP)).expect("chgrp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o2770)).expect("chmod");
    let store = dir.path().join("store");
    let as_user = |uid: u32, args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={GROUP}"))
            .arg("--clear-groups")
            .arg(EXE)
            .arg("--store")
            .arg(&store)
            .args(args)
            .env_remove("GITSTATE_DIR")
            .env("GITSTATE_COMMIT_TIME", TEST_TIME)
            .env("HOME", dir.path());
        let r = gitstate_tests::run(c);
        assert_eq!(r.code, 0, "user {uid}, {args:?}: {}", r.stderr);
    };
    let (alice, bob) = (64_201, 64_202);
    as_user(alice, &["init", "--shared=group"]);
    as_user(alice, &["set", "a/b", "1"]);
    as_user(bob, &["set", "a/b", "2"]);
    as_user(bob, &["set", "c/d", "1"]);
    as_user(alice, &["set", "c/d", "2"]);
    as_user(bob, &["checkpoint", "c1"]);
    as_user(bob, &["gc"]);
    as_user(alice, &["set", "e", "1"]);
    as_user(bob, &["rm", "a/b"]);
    as_user(alice, &["verify"]);
    let owners: std::collections::BTreeSet<u32> = modes_below(&store)
        .iter()
        .map(|(p, _, _)| std::fs::symlink_metadata(p).expect("inspect").uid())
        .collect();
    assert_eq!(owners, [alice, bob].into(), "both wrote files");
    let opened = Store::open(&store, Options::default()).expect("open");
    assert_eq!(opened.get::<u32, _>("c/d").expect("get"), Some(2));
    assert_eq!(opened.get::<u32, _>("e").expect("get"), Some(1));
}

#[test]
fn an_unsupported_shared_repository_value_is_a_clear_error() {
    let s = TempStore::init();
    s.open().set("doc", &1).expect("set");
    let h = head(&s.path);
    let r = git(&s.path, &["config", "core.sharedRepository", "0640"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let err = Store::open(&s.path, Options::default()).expect_err("octal modes are refused");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("core.sharedRepository") && text.contains("\"0640\""),
        "{text}"
    );
    let r = gs_with_umask(&s.path, "022", &["set", "doc", "2"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains("core.sharedRepository = \"0640\""),
        "{}",
        r.stderr
    );
    assert_eq!(head(&s.path), h, "nothing was written");
    // git's other spellings are understood.
    for (value, sharing) in [
        ("umask", Sharing::Private),
        ("true", Sharing::Group),
        ("everybody", Sharing::All),
    ] {
        let r = git(&s.path, &["config", "core.sharedRepository", value]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let store = Store::open(&s.path, Options::default()).expect("open");
        assert_eq!(store.sharing(), sharing, "{value}");
    }
}
