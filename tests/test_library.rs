//! The library API end to end: typed access, transactions, snapshots, locking, recovery and
//! the refusal to touch edits made outside gitstate.

use std::process::Stdio;
use std::time::Duration;

use gitstate::{Durability, Error, Options, Store};
use gitstate_tests::{
    TempStore, assert_git_clean, before_boot, cli, commit_count, git, head,
    leave_dead_writer_record, set_mtime,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
struct Prefs {
    theme: String,
    volume: u8,
}

#[test]
fn typed_set_get_and_one_commit_per_change() {
    let s = TempStore::init();
    let store = s.open();
    let before = commit_count(&s.path);
    let p = Prefs {
        theme: "dark".into(),
        volume: 7,
    };
    let out = store.set("user/prefs", &p).expect("set");
    assert!(out.commit.is_some());
    assert_eq!(
        store.get::<Prefs, _>("user/prefs").expect("get"),
        Some(p.clone())
    );
    // Equal value: no commit.
    let again = store.set("user/prefs", &p).expect("set again");
    assert!(again.is_unchanged());
    assert_eq!(commit_count(&s.path), before + 1);
    // The file is canonical JSON in the working tree.
    let text = std::fs::read_to_string(s.path.join("user/prefs.json")).expect("file");
    assert_eq!(text, "{\n  \"theme\": \"dark\",\n  \"volume\": 7\n}\n");
    // Wrong type is a typed error, not a panic.
    assert!(matches!(
        store.get::<Vec<u8>, _>("user/prefs"),
        Err(Error::Type { .. })
    ));
    assert_git_clean(&s.path);
}

#[test]
fn transaction_writes_many_documents_in_one_commit() {
    let s = TempStore::init();
    let store = s.open();
    store.set("a", &1).expect("set a");
    store.set("gone", &2).expect("set gone");
    let before = commit_count(&s.path);
    let mut tx = store.transaction();
    tx.set("a", &10).expect("stage");
    tx.set("x/y/z", &json!({"k": [1, 2]})).expect("stage");
    tx.delete("gone").expect("stage");
    tx.message("reorganise");
    let out = tx.commit().expect("commit");
    assert_eq!(out.changed.len(), 3);
    assert_eq!(commit_count(&s.path), before + 1);
    let snap = store.snapshot().expect("snapshot");
    let names: Vec<String> = snap
        .list()
        .expect("list")
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["a", "x/y/z"]);
    assert!(!s.path.join("gone.json").exists());
    let log = store.log(&Default::default()).expect("log");
    assert_eq!(log[0].op, "transaction");
    assert_eq!(log[0].message, "reorganise");
    assert_eq!(log[0].names, ["a", "gone", "x/y/z"]);
    // A transaction that fails stages nothing: deleting a missing document.
    let mut tx = store.transaction();
    tx.set("a", &11).expect("stage");
    tx.delete("missing").expect("stage");
    assert!(matches!(tx.commit(), Err(Error::NotFound { .. })));
    assert_eq!(store.get::<u32, _>("a").expect("get"), Some(10));
    assert_eq!(commit_count(&s.path), before + 1);
    assert_git_clean(&s.path);
}

#[test]
fn snapshots_read_past_revisions() {
    let s = TempStore::init();
    let store = s.open();
    store.set("n", &1).expect("set");
    let first = head(&s.path);
    store.set("n", &2).expect("set");
    assert_eq!(
        store
            .snapshot_at(&first)
            .expect("at")
            .get::<u32, _>("n")
            .expect("get"),
        Some(1)
    );
    assert_eq!(
        store
            .snapshot_at("HEAD~1")
            .expect("at")
            .get::<u32, _>("n")
            .expect("get"),
        Some(1)
    );
    assert_eq!(
        store
            .snapshot_at(&first[..8])
            .expect("at")
            .get::<u32, _>("n")
            .expect("get"),
        Some(1)
    );
    assert!(matches!(
        store.snapshot_at("no-such-rev"),
        Err(Error::Revision { .. })
    ));
    assert!(matches!(
        store.snapshot_at("HEAD~99"),
        Err(Error::Revision { .. })
    ));
}

#[test]
fn update_callback_failure_writes_nothing() {
    let s = TempStore::init();
    let store = s.open();
    store.set("n", &1).expect("set");
    let before = commit_count(&s.path);
    let r = store.update_value("n", None, |_| Err::<serde_json::Value, _>("refused"));
    assert!(matches!(r, Err(Error::Callback { .. })), "{r:?}");
    assert_eq!(commit_count(&s.path), before);
}

#[test]
fn numbers_survive_read_modify_write_exactly() {
    let s = TempStore::init();
    let store = s.open();
    let doc = gitstate::parse_json(
        br#"{"x": 7.718846888376968888, "big": 123456789012345678901234567890, "n": 1}"#,
    )
    .expect("parse");
    store.set_value("nums", doc, None).expect("set");
    store
        .update_value("nums", None, |v| {
            let mut v = v.expect("exists");
            v["n"] = json!(2);
            Ok::<_, std::convert::Infallible>(v)
        })
        .expect("update");
    let text = std::fs::read_to_string(s.path.join("nums.json")).expect("read");
    assert!(text.contains("7.718846888376968888"), "{text}");
    assert!(text.contains("123456789012345678901234567890"), "{text}");
}

#[test]
fn a_blocked_writer_times_out_naming_the_holder() {
    let s = TempStore::init();
    // A CLI update whose command sleeps holds the lock meanwhile.
    let mut holder = cli(EXE, &s.path);
    holder.args(["update", "slow", "--", "sh", "-c", "sleep 3; echo 1"]);
    let mut child = holder.stdout(Stdio::null()).spawn().expect("spawn holder");
    // Wait until the holder has the lock.
    let store = Store::open(
        &s.path,
        Options::default().lock_timeout(Duration::from_millis(300)),
    )
    .expect("open");
    let mut err = None;
    for _ in 0..100 {
        match store.set("other", &1) {
            Err(e @ Error::Locked { .. }) => {
                err = Some(e);
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let err = err.expect("the lock was never seen held");
    let Error::Locked { holder, waited } = &err else {
        unreachable!()
    };
    let holder = holder.as_ref().expect("holder recorded");
    assert_eq!(holder.pid, child.id());
    assert_eq!(holder.op, "update");
    assert!(*waited >= Duration::from_millis(300));
    assert!(
        err.to_string().contains(&format!("pid {}", child.id())),
        "{err}"
    );
    assert!(child.wait().expect("wait").success());
    // Once free, the write goes through.
    store.set("other", &1).expect("set after release");
}

#[test]
fn killed_lock_holder_frees_the_lock_at_once() {
    let s = TempStore::init();
    let mut holder = cli(EXE, &s.path);
    holder.args(["update", "slow", "--", "sh", "-c", "sleep 30; echo 1"]);
    let mut child = holder.stdout(Stdio::null()).spawn().expect("spawn holder");
    let store = s.open();
    for _ in 0..1000 {
        if matches!(
            store.status().expect("status").lock,
            gitstate::LockState::Held(_)
        ) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(
        store.status().expect("status").lock,
        gitstate::LockState::Held(Some(_))
    ));
    child.kill().expect("kill");
    child.wait().expect("wait");
    // The sleeping grandchild keeps running, but the lock died with its holder.
    let quick = Store::open(
        &s.path,
        Options::default().lock_timeout(Duration::from_millis(500)),
    )
    .expect("open");
    quick
        .set("x", &1)
        .expect("lock is free after the holder died");
}

#[test]
fn outside_edits_are_never_overwritten() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &json!({"v": 1})).expect("set");
    let before = commit_count(&s.path);
    std::fs::write(s.path.join("doc.json"), "{\"v\": \"by hand\"}\n").expect("edit");
    let err = store.set("doc", &json!({"v": 2})).expect_err("must refuse");
    assert!(matches!(err, Error::OutsideEdit { .. }), "{err}");
    assert!(err.to_string().contains("doc"));
    assert_eq!(
        std::fs::read_to_string(s.path.join("doc.json")).expect("read"),
        "{\"v\": \"by hand\"}\n"
    );
    assert_eq!(commit_count(&s.path), before);
    // Other documents can still be written, and reopening does not "repair" the edit.
    store.set("other", &1).expect("set other");
    let reopened = s.open();
    assert_eq!(
        std::fs::read_to_string(s.path.join("doc.json")).expect("read"),
        "{\"v\": \"by hand\"}\n"
    );
    let status = reopened.status().expect("status");
    assert_eq!(
        status.drift,
        vec![gitstate::Drift::Modified("doc.json".into())]
    );
}

#[test]
fn crash_lag_in_the_working_tree_is_repaired_on_open() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &json!({"v": 1})).expect("set");
    let v1 = std::fs::read(s.path.join("doc.json")).expect("read");
    let index_v1 = std::fs::read(s.path.join(".git/index")).expect("index");
    store.set("doc", &json!({"v": 2})).expect("set");
    store.set("new", &json!(true)).expect("set");
    // Simulate a crash after the commit point: the files and index still show the old state.
    std::fs::write(s.path.join("doc.json"), &v1).expect("write");
    std::fs::remove_file(s.path.join("new.json")).expect("rm");
    std::fs::write(s.path.join(".git/index"), &index_v1).expect("index");
    std::fs::write(s.path.join(".git/index.lock"), b"").expect("stale lock");
    // The writer that left them died holding the store lock: its record is still there.
    leave_dead_writer_record(&s.path);
    std::fs::write(s.path.join(".git/objects/gitstate-tmp-0"), b"junk").expect("tmp");
    std::fs::write(s.path.join(".gitstate-tmp"), b"junk").expect("tmp");
    let reopened = s.open();
    let text = std::fs::read_to_string(s.path.join("doc.json")).expect("read");
    assert_eq!(text, "{\n  \"v\": 2\n}\n");
    assert!(s.path.join("new.json").exists());
    let status = reopened.status().expect("status");
    assert!(status.drift.is_empty(), "{:?}", status.drift);
    assert!(status.leftovers.is_empty(), "{:?}", status.leftovers);
    assert_git_clean(&s.path);
}

/// A program that opens a store only to write (as the CLI's `set` does) skips the check on
/// open: its write must repair the same, under the lock, before it starts.
#[test]
fn a_write_repairs_what_a_crash_left_when_opening_did_not_look() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &json!({"v": 1})).expect("set");
    let v1 = std::fs::read(s.path.join("doc.json")).expect("read");
    let index_v1 = std::fs::read(s.path.join(".git/index")).expect("index");
    store.set("doc", &json!({"v": 2})).expect("set");
    drop(store);
    // A writer died after its commit: files and index old, its holder record and temporary
    // files left.
    std::fs::write(s.path.join("doc.json"), &v1).expect("write");
    std::fs::write(s.path.join(".git/index"), &index_v1).expect("index");
    std::fs::write(s.path.join(".git/index.lock"), b"").expect("stale lock");
    leave_dead_writer_record(&s.path);
    let tmp = s.path.join(".git/objects/gitstate-tmp-3");
    std::fs::write(&tmp, b"junk").expect("tmp");
    let options = || gitstate::Options::default().recover_on_open(false);
    let store = gitstate::Store::open(&s.path, options()).expect("open");
    assert_eq!(
        std::fs::read(s.path.join("doc.json")).expect("read"),
        v1,
        "opening repaired although told not to look"
    );
    store.set("other", &1).expect("the write repairs first");
    assert_eq!(
        std::fs::read_to_string(s.path.join("doc.json")).expect("read"),
        "{\n  \"v\": 2\n}\n"
    );
    assert!(
        !tmp.exists(),
        "the dead writer's temporary file is still there"
    );
    let status = store.status().expect("status");
    assert!(status.drift.is_empty(), "{:?}", status.drift);
    assert!(status.leftovers.is_empty(), "{:?}", status.leftovers);
    assert_git_clean(&s.path);
    drop(store);

    // After a power cut (the branch's ref file predates this boot), with the holder record
    // lost: an empty object file in a directory changed since the branch moved.
    let empty = s
        .path
        .join(".git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
    std::fs::create_dir_all(empty.parent().expect("parent")).expect("mkdir");
    std::fs::write(&empty, b"").expect("empty object");
    // A `git add` beside it is writing an object: git's temporary file is empty for now.
    let gits = empty.with_file_name("tmp_obj_Ab12Cd");
    std::fs::write(&gits, b"").expect("git's temporary file");
    let booted_after = before_boot();
    set_mtime(&s.path.join(".git/refs/heads/main"), booted_after);
    let store = gitstate::Store::open(&s.path, options()).expect("open");
    assert!(empty.exists(), "opening searched although told not to look");
    store.set("other", &2).expect("write");
    assert!(!empty.exists(), "the write left the empty object file");
    assert!(
        gits.exists(),
        "git's temporary file was taken for an empty object"
    );
    std::fs::remove_file(&gits).expect("git renames it into place");
    assert!(store.verify().expect("verify").is_empty());
    assert_git_clean(&s.path);
}

/// What a power cut can leave after a commit that deleted a document: the index gone (its
/// data never synced) and the deleted file back (its removal not yet durable). Nothing but
/// HEAD's parent says that gitstate wrote that file; recovery must still remove it.
#[test]
fn a_deleted_document_that_a_power_cut_brings_back_with_the_index_lost_is_removed() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &json!({"v": 1})).expect("set");
    store.set("side/doc", &json!({"v": 1})).expect("set");
    let side = std::fs::read(s.path.join("side/doc.json")).expect("read");
    let mut tx = store.transaction();
    tx.set("doc", &json!({"v": 3})).expect("stage");
    tx.delete("side/doc").expect("stage");
    tx.commit().expect("commit");
    drop(store);
    std::fs::create_dir(s.path.join("side")).expect("mkdir");
    std::fs::write(s.path.join("side/doc.json"), &side).expect("write back");
    std::fs::write(s.path.join(".git/index"), b"").expect("index lost");
    let reopened = s.open();
    assert!(
        !s.path.join("side/doc.json").exists(),
        "the deleted document's file came back and stayed"
    );
    let status = reopened.status().expect("status");
    assert!(status.drift.is_empty(), "{:?}", status.drift);
    assert_git_clean(&s.path);
}

#[test]
fn symlinks_never_lead_writes_out_of_the_store() {
    let s = TempStore::init();
    let outside = tempfile::tempdir().expect("tmp");
    let canary = outside.path().join("b.json");
    std::fs::write(&canary, "canary").expect("canary");
    std::os::unix::fs::symlink(outside.path(), s.path.join("a")).expect("symlink");
    let store = s.open();
    let err = store.set("a/b", &1).expect_err("must refuse");
    assert!(matches!(err, Error::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("symlink"), "{err}");
    let err = store.set("a/c", &1).expect_err("must refuse");
    assert!(matches!(err, Error::Unsafe { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&canary).expect("read"), "canary");
    assert!(!outside.path().join("c.json").exists());
}

#[test]
fn fast_durability_writes_the_same_history() {
    let s = TempStore::init();
    let store =
        Store::open(&s.path, Options::default().durability(Durability::Fast)).expect("open");
    for i in 0..5 {
        store.set("n", &i).expect("set");
    }
    assert_eq!(store.get::<u32, _>("n").expect("get"), Some(4));
    assert_git_clean(&s.path);
}

#[test]
fn commits_made_with_plain_git_are_read_as_external() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &1).expect("set");
    std::fs::write(s.path.join("doc.json"), "2\n").expect("edit");
    assert_eq!(git(&s.path, &["commit", "-qam", "by hand"]).code, 0);
    let reopened = s.open();
    assert_eq!(reopened.get::<u32, _>("doc").expect("get"), Some(2));
    let log = reopened.log(&Default::default()).expect("log");
    assert_eq!(log[0].op, "external");
    assert_eq!(log[0].message, "by hand");
    // gitstate keeps writing on top of it.
    reopened.set("doc", &3).expect("set");
    assert_git_clean(&s.path);
}

#[test]
fn init_refuses_a_non_empty_directory_and_leaves_it_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("keep.txt"), "mine").expect("write");
    let err = Store::init(dir.path(), Options::default()).expect_err("must refuse");
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");
    assert!(!dir.path().join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).expect("read"),
        "mine"
    );
}

#[test]
fn store_is_usable_from_threads() {
    let s = TempStore::init();
    let store = std::sync::Arc::new(s.open());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    store
                        .update("c", |n: Option<u32>| n.unwrap_or(0) + 1)
                        .expect("update");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    assert_eq!(store.get::<u32, _>("c").expect("get"), Some(40));
}

#[test]
fn empty_object_files_left_by_a_power_cut_are_removed_on_open() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &1).expect("set");
    drop(store);
    // What a power cut can leave: an unreferenced object file whose data never reached the
    // disk, and the holder record of the writer that died holding the lock.
    let empty = s
        .path
        .join(".git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
    let fan_out = empty.parent().expect("parent");
    std::fs::create_dir_all(fan_out).expect("mkdir");
    std::fs::write(&empty, b"").expect("empty object");
    // Without a reboot since the branch moved there was no power cut: a killed writer's data
    // stays in the page cache. Opening does not search, and leaves it to verify.
    let store = s.open();
    assert!(
        empty.exists(),
        "opening searched although no power cut was possible"
    );
    drop(store);
    assert!(
        s.verify().iter().any(|p| p.contains("empty object file")),
        "verify must report it"
    );
    // After a reboot (the branch's ref file was written before this boot), its directory,
    // changed after the branch last moved, is searched on open, even when the power cut
    // also took the holder record away.
    let booted_after = before_boot();
    set_mtime(&s.path.join(".git/refs/heads/main"), booted_after);
    let store = s.open();
    assert!(
        !empty.exists(),
        "a fresh empty object file survived opening after a reboot"
    );
    drop(store);
    // In a directory that has not changed since the branch moved, and with no sign of a
    // dead writer, only a full scan finds it: verify reports it...
    std::fs::write(&empty, b"").expect("empty object");
    let long_ago = booted_after - std::time::Duration::from_secs(3600);
    set_mtime(fan_out, long_ago);
    let verify = s.verify();
    assert!(
        verify.iter().any(|p| p.contains("empty object file")),
        "verify must report it: {verify:?}"
    );
    leave_dead_writer_record(&s.path);
    // ...and the dead writer's record makes opening look everywhere.
    let store = s.open();
    assert!(!empty.exists(), "the empty object file is still there");
    assert!(store.verify().expect("verify").is_empty());
    assert_git_clean(&s.path);
}

#[test]
fn a_git_lock_held_by_a_running_git_process_is_respected() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &1).expect("set");
    // A young ref lock with no dead gitstate writer behind it belongs to a git process
    // (say `git gc` packing refs): gitstate must not delete it, and must not move the branch.
    let lock = s.path.join(".git/refs/heads/main.lock");
    std::fs::write(&lock, format!("{}\n", head(&s.path))).expect("lock");
    let h = head(&s.path);
    let err = store.set("doc", &2).expect_err("the ref is locked");
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert!(lock.exists(), "gitstate removed a lock it does not own");
    assert_eq!(head(&s.path), h);
    // Once git is done, writes go through.
    std::fs::remove_file(&lock).expect("unlock");
    store.set("doc", &2).expect("set");
}
