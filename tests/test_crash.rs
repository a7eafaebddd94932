//! Crash consistency with real processes: a writer is killed with SIGKILL at a random moment,
//! again and again (its writes are `gitstate_tests::power_step`s: each commit sets `doc` and
//! makes or deletes a second document), and every time the store must come back at the last acknowledged write or
//! the one in flight, with a working tree equal to HEAD, clean fsck, and a working next write.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitstate_tests::{
    Lcg, POWER_SIDE, TempStore, assert_git_clean, assert_repaired, git, power_side, power_step,
};

const WRITER: &str = env!("CARGO_BIN_EXE_gitstate-writer");

fn rounds() -> u64 {
    gitstate_tests::env_count("GITSTATE_CRASH_ROUNDS", 200)
}

#[test]
fn sigkill_at_random_moments_never_loses_an_acknowledged_write() {
    let store = TempStore::init();
    let mut rng = Lcg(0x5eed);
    let mut next_value: u64 = 0;
    let mut kills_mid_run = 0;
    for round in 0..rounds() {
        let mut child = Command::new(WRITER)
            .arg(&store.path)
            .args(["step-loop", "doc", &next_value.to_string(), "1000000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let acks = Arc::new(Mutex::new(Vec::<u64>::new()));
        let reader = {
            let acks = Arc::clone(&acks);
            let stdout = child.stdout.take().expect("stdout piped");
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let n = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .expect("ack line");
                    acks.lock().expect("lock").push(n);
                }
            })
        };
        // Odd rounds kill at a random moment from the start (also during opening and
        // recovery); even rounds first wait for an acknowledged write, so that a slow,
        // loaded machine still kills writers in the middle of writing.
        if round % 2 == 0 {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while acks.lock().expect("lock").is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(Duration::from_micros(rng.next_u64() % 40_000));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("wait");
        reader.join().expect("reader");
        let acks = acks.lock().expect("lock").clone();
        if status.code().is_some() {
            let mut err = String::new();
            std::io::Read::read_to_string(
                &mut child.stderr.take().expect("stderr piped"),
                &mut err,
            )
            .expect("read stderr");
            panic!("round {round}: writer exited on its own ({status}): {err}");
        }
        if !acks.is_empty() {
            kills_mid_run += 1;
        }
        // Acknowledged writes are consecutive from next_value.
        for (i, n) in acks.iter().enumerate() {
            assert_eq!(
                *n,
                next_value + i as u64,
                "round {round}: acks out of order"
            );
        }

        // Opening repairs what the crash left.
        let opened = store.open();
        let value: Option<serde_json::Value> = opened.get_value("doc").expect("read doc");
        let stored = value.as_ref().and_then(|v| v["n"].as_u64());
        let last_ack = acks.last().copied();
        let allowed_in_flight = last_ack.map_or(next_value, |a| a + 1);
        match (stored, last_ack) {
            (Some(s), Some(a)) => assert!(
                s == a || s == allowed_in_flight,
                "round {round}: stored {s}, last acknowledged {a}"
            ),
            (Some(s), None) => assert!(
                next_value == 0 && s == 0 || s + 1 == next_value || s == next_value,
                "round {round}: stored {s}, nothing acknowledged, started at {next_value}"
            ),
            (None, Some(a)) => panic!("round {round}: acknowledged {a} but the document is gone"),
            (None, None) => assert!(
                next_value == 0,
                "round {round}: document lost before any write of this round"
            ),
        }
        // The side document comes from the same write (`power_step`: one commit).
        let side = opened
            .get_value(POWER_SIDE)
            .expect("read the side document")
            .map(|v| v["n"].as_u64());
        assert_eq!(
            side,
            stored.and_then(power_side).map(Some),
            "round {round}: {POWER_SIDE} does not match doc at step {stored:?}"
        );

        // The working tree equals HEAD, the repository is clean git, and no leftovers remain.
        assert_repaired(&opened, &format!("round {round}"));
        if round % 10 == 0 || round + 1 == rounds() {
            assert_git_clean(&store.path);
        } else {
            let s = git(&store.path, &["status", "--porcelain"]);
            assert_eq!(s.stdout, "", "round {round}: git status not clean");
        }
        assert!(
            opened.verify().expect("verify").is_empty(),
            "round {round}: verify"
        );

        // The next write succeeds.
        next_value = stored.map_or(0, |s| s + 1);
        let outcome = power_step(&opened, "doc", next_value).expect("write after crash");
        assert!(outcome.commit.is_some());
        next_value += 1;
    }
    assert!(
        kills_mid_run >= rounds() / 2,
        "the writer was killed mid-run in only {kills_mid_run} of {} rounds: the test is not exercising crashes",
        rounds()
    );
}

/// Run one write of `{"n": 1}` (over `{"n": 0}`) in a writer process told to abort at
/// `point`, or just open the store when `write` is false; returns whether it aborted.
fn writer_crashing_at(store: &std::path::Path, point: &str, write: bool) -> bool {
    let count = if write { "1" } else { "0" };
    let status = Command::new(WRITER)
        .arg(store)
        .args(["set-loop", "doc", "1", count])
        .env(gitstate::CRASH_ENV, point)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run writer");
    status.code().is_none()
}

/// After a crash: the store opens at the expected value, the working tree equals HEAD, no
/// leftovers, verify and git fsck are clean, and the next write succeeds.
fn assert_consistent(s: &TempStore, expected_n: u64, point: &str) {
    let store = s.open();
    let value: serde_json::Value = store.get_value("doc").expect("read").expect("doc");
    assert_eq!(
        value["n"],
        serde_json::json!(expected_n),
        "crash at {point}"
    );
    assert_repaired(&store, &format!("crash at {point}"));
    assert!(
        store.verify().expect("verify").is_empty(),
        "crash at {point}: verify"
    );
    assert_git_clean(&s.path);
    store
        .set("doc", &serde_json::json!({"n": 99}))
        .unwrap_or_else(|e| panic!("crash at {point}: next write failed: {e}"));
}

#[test]
fn a_crash_at_every_step_of_the_write_protocol_leaves_a_consistent_store() {
    let points: Vec<&str> = gitstate::CRASH_POINTS
        .iter()
        .copied()
        .filter(|p| *p != "during-recovery")
        .collect();
    assert!(points.len() >= 9);
    let mut committed_from = None;
    for (i, point) in points.iter().enumerate() {
        if *point == "after-rename" {
            committed_from = Some(i);
        }
    }
    let committed_from = committed_from.expect("the commit point is a crash point");
    for (i, point) in points.iter().enumerate() {
        let s = TempStore::init();
        s.open()
            .set("doc", &serde_json::json!({"n": 0}))
            .expect("set");
        assert!(
            writer_crashing_at(&s.path, point, true),
            "{point}: the writer did not abort"
        );
        // Before the commit point the write is lost; from it on, it is in.
        let expected = if i >= committed_from { 1 } else { 0 };
        assert_consistent(&s, expected, point);
    }
}

#[test]
fn a_crash_during_recovery_is_recovered_by_the_next_open() {
    let s = TempStore::init();
    s.open()
        .set("doc", &serde_json::json!({"n": 0}))
        .expect("set");
    assert!(writer_crashing_at(&s.path, "after-rename", true));
    // The working tree lags; the next opener crashes while repairing it.
    assert!(
        writer_crashing_at(&s.path, "during-recovery", false),
        "recovery did not run"
    );
    assert_consistent(&s, 1, "during-recovery");
}

/// Several writer processes at once (one document each), all killed with SIGKILL at the
/// same random moment, round after round: each document holds its writer's last
/// acknowledged value or the one in flight, and the store is consistent.
#[test]
fn several_writers_killed_at_once_never_lose_an_acknowledged_write() {
    const WRITERS: usize = 3;
    let store = TempStore::init();
    let mut rng = Lcg(0x3a11);
    // The value each writer's document must at least hold.
    let mut next = [0u64; WRITERS];
    let rounds = (rounds() / 4).max(10);
    let mut killed_after_acks = 0;
    for round in 0..rounds {
        let mut children = Vec::new();
        for (k, start) in next.iter().enumerate() {
            let mut child = Command::new(WRITER)
                .arg(&store.path)
                .args([
                    "set-loop",
                    &format!("doc-{k}"),
                    &start.to_string(),
                    "1000000",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn writer");
            let stdout = child.stdout.take().expect("stdout piped");
            let acks = Arc::new(Mutex::new(Vec::<u64>::new()));
            let reader = {
                let acks = Arc::clone(&acks);
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        if let Some(n) = line.split_whitespace().nth(1).and_then(|n| n.parse().ok())
                        {
                            acks.lock().expect("lock").push(n);
                        }
                    }
                })
            };
            children.push((child, acks, reader));
        }
        std::thread::sleep(Duration::from_micros(20_000 + rng.next_u64() % 60_000));
        for (child, _, _) in &mut children {
            child.kill().expect("SIGKILL");
        }
        let mut any = false;
        for (k, (mut child, acks, reader)) in children.into_iter().enumerate() {
            assert!(
                child.wait().expect("wait").code().is_none(),
                "round {round}: writer {k} exited by itself"
            );
            reader.join().expect("reader");
            let acks = acks.lock().expect("lock").clone();
            any |= !acks.is_empty();
            let floor = acks.last().copied().or(next[k].checked_sub(1));
            let opened = store.open();
            let stored = opened
                .get_value(format!("doc-{k}").as_str())
                .expect("read")
                .and_then(|v| v["n"].as_u64());
            match (stored, floor) {
                (Some(s), Some(f)) => assert!(
                    s == f || s == f + 1,
                    "round {round}: writer {k} acknowledged {f}, the store holds {s}"
                ),
                (None, Some(f)) => {
                    panic!("round {round}: writer {k} acknowledged {f}, the document is gone")
                }
                (Some(s), None) => assert_eq!(s, 0, "round {round}: writer {k}"),
                (None, None) => {}
            }
            next[k] = stored.map_or(0, |s| s + 1);
        }
        if any {
            killed_after_acks += 1;
        }
        let opened = store.open();
        assert_repaired(&opened, &format!("round {round}"));
        if round % 5 == 0 || round + 1 == rounds {
            assert_git_clean(&store.path);
            assert!(
                opened.verify().expect("verify").is_empty(),
                "round {round}: verify"
            );
        }
    }
    assert!(
        killed_after_acks >= rounds / 2,
        "writers were killed after acknowledging in only {killed_after_acks} of {rounds} rounds"
    );
}
