//! Many processes writing one store: no lost update, one commit per write, clean git.

use std::process::Command;

use gitstate_tests::{TempStore, assert_git_clean, cli, commit_count, run};

const WRITER: &str = env!("CARGO_BIN_EXE_gitstate-writer");
const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

#[test]
fn four_processes_times_fifty_updates_lose_nothing() {
    let store = TempStore::init();
    let before = commit_count(&store.path);
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(WRITER)
                .arg(&store.path)
                .args(["incr", "counter", "50"])
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a writer failed");
    }
    let value: Option<u64> = store.open().get("counter").expect("read");
    assert_eq!(value, Some(200));
    assert_eq!(commit_count(&store.path) - before, 200);
    assert_git_clean(&store.path);
}

#[test]
fn cli_update_from_several_processes_loses_nothing() {
    let store = TempStore::init();
    let before = commit_count(&store.path);
    let script = r#"read x; [ "$x" = null ] && x=0; echo $((x+1))"#;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let path = store.path.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut c = cli(EXE, &path);
                    c.args(["update", "counter", "--", "sh", "-c", script]);
                    let r = run(c);
                    assert_eq!(r.code, 0, "update failed: {}", r.stderr);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let value: Option<u64> = store.open().get("counter").expect("read");
    assert_eq!(value, Some(40));
    assert_eq!(commit_count(&store.path) - before, 40);
    assert_git_clean(&store.path);
}

#[test]
fn maintenance_never_breaks_a_concurrent_writer() {
    let s = TempStore::init();
    let before = commit_count(&s.path);
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(WRITER)
                .arg(&s.path)
                .args(["incr", "counter", "100"])
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    let store = s.open();
    let mut overlapping = 0;
    let running = |children: &mut Vec<std::process::Child>| {
        children
            .iter_mut()
            .any(|c| c.try_wait().expect("poll").is_none())
    };
    while running(&mut children) {
        store.gc().expect("git gc beside writers");
        // Counted only when a writer was still running as this gc finished.
        if running(&mut children) {
            overlapping += 1;
        }
    }
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a writer failed");
    }
    assert!(overlapping >= 1, "gc never ran while the writers did");
    let value: Option<u64> = store.get("counter").expect("read");
    assert_eq!(value, Some(200));
    assert_eq!(commit_count(&s.path) - before, 200);
    store.gc().expect("final gc");
    assert!(store.verify().expect("verify").is_empty());
    assert_git_clean(&s.path);
    // Everything is packed now, and still readable.
    assert_eq!(
        store.get::<u64, _>("counter").expect("read packed"),
        Some(200)
    );
}

#[test]
fn gc_says_clearly_when_git_is_missing() {
    let s = TempStore::init();
    let mut c = cli(EXE, &s.path);
    c.arg("gc").env("PATH", "/nonexistent");
    let r = run(c);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("git is not installed"), "{}", r.stderr);
}

#[test]
fn writers_with_a_reader_alongside_lose_nothing_and_the_reader_never_goes_back() {
    for (processes, each) in [(2, 40), (4, 30), (8, 15)] {
        let store = TempStore::init();
        let before = commit_count(&store.path);
        let stop = store.path.parent().expect("parent").join("stop");
        let reader = Command::new(WRITER)
            .arg(&store.path)
            .args(["watch", "counter"])
            .arg(&stop)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn reader");
        let writers: Vec<_> = (0..processes)
            .map(|_| {
                Command::new(WRITER)
                    .arg(&store.path)
                    .args(["incr", "counter", &each.to_string()])
                    .spawn()
                    .expect("spawn writer")
            })
            .collect();
        for mut w in writers {
            assert!(w.wait().expect("wait").success(), "a writer failed");
        }
        std::fs::write(&stop, "").expect("stop");
        let out = reader.wait_with_output().expect("reader");
        assert!(out.status.success(), "the reader failed (a torn read?)");
        let total = processes * each;
        let seen: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| *l != "none")
            .map(|l| l.parse().expect("a committed value"))
            .collect();
        assert!(
            seen.len() > 10,
            "the reader read only {} values",
            seen.len()
        );
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "the reader went back: {seen:?}"
        );
        assert!(seen.iter().all(|v| *v as usize <= total));
        assert_eq!(seen.last().copied(), Some(total as u64), "P={processes}");
        assert_eq!(commit_count(&store.path) - before, total, "P={processes}");
        assert_git_clean(&store.path);
    }
}

/// A program that ignores gitstate's lock — plain `git commit` on the branch, in a loop —
/// racing gitstate writes: every write either side reports as made stays in the history,
/// and every race is a visible failure on one side (gitstate's `Conflict`, or git refusing
/// to move the branch), never a silent overwrite.
#[test]
fn plain_git_commits_racing_gitstate_writes_lose_nothing() {
    let s = TempStore::init();
    let path = s.path.clone();
    let git_side = std::thread::spawn(move || {
        let mut made = Vec::new();
        let mut refused = 0;
        for i in 0..40 {
            std::fs::write(path.join("plain.txt"), format!("{i}\n")).expect("write");
            let add = gitstate_tests::git(&path, &["add", "plain.txt"]);
            let commit = gitstate_tests::git(&path, &["commit", "-q", "-m", &format!("plain-{i}")]);
            if add.code == 0 && commit.code == 0 {
                made.push(format!("plain-{i}"));
            } else {
                refused += 1;
            }
        }
        (made, refused)
    });
    let store = s.open();
    let mut acknowledged = Vec::new();
    let mut conflicts = 0;
    for i in 0..150 {
        match store.set("doc", &serde_json::json!({ "n": i })) {
            Ok(outcome) => acknowledged.push(outcome.commit.expect("a change").to_string()),
            Err(gitstate::Error::Conflict { .. } | gitstate::Error::OutsideEdit { .. }) => {
                conflicts += 1;
            }
            Err(e) => panic!("write {i}: {e}"),
        }
    }
    let (made, refused) = git_side.join().expect("git side");
    eprintln!(
        "gitstate: {} made, {conflicts} conflicts; git: {} made, {refused} refused",
        acknowledged.len(),
        made.len()
    );
    assert!(!acknowledged.is_empty() && !made.is_empty());
    // Every acknowledged gitstate commit is on the branch...
    for id in &acknowledged {
        let r = gitstate_tests::git(&s.path, &["merge-base", "--is-ancestor", id, "main"]);
        assert_eq!(
            r.code, 0,
            "gitstate commit {id} was lost ({conflicts} conflicts)"
        );
    }
    // ...and so is every commit plain git reported as made.
    let log = gitstate_tests::git(&s.path, &["log", "--format=%s", "main"]);
    for subject in &made {
        assert!(
            log.stdout.lines().any(|l| l == subject),
            "plain git commit {subject} was lost"
        );
    }
    // The last acknowledged value is what the store holds, unless plain git's commits
    // came after it (they never touch doc.json).
    let last: serde_json::Value = store.get_value("doc").expect("read").expect("doc");
    let n = last["n"].as_u64().expect("n");
    assert!(n < 150);
    let fsck = gitstate_tests::git(&s.path, &["fsck", "--strict", "--no-progress"]);
    assert_eq!(fsck.code, 0, "{}{}", fsck.stdout, fsck.stderr);
}
