//! Power loss, simulated: the store lives on `gitstate_tests::powerfs`, a FUSE file system that
//! forgets everything not synced when the power is cut. A writer process writes and
//! acknowledges (`gitstate_tests::power_step`: each commit sets `doc` and makes or deletes a
//! second document in a directory of its own); the power is cut at a random operation; the machine "reboots" (unmount, drop
//! unsynced data, mount); then the store must hold the last acknowledged write or the one in
//! flight, with a working tree equal to HEAD, no leftovers, clean `verify` and `git fsck`, and
//! a next write that succeeds. With fsync switched off (`Durability::Fast`) the same harness
//! must see a loss, which shows that it can fail.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitstate_tests::powerfs::{Mounted, PowerFs};
use gitstate_tests::{Lcg, POWER_SIDE, assert_git_clean, git, power_side, power_step};

const WRITER: &str = env!("CARGO_BIN_EXE_gitstate-writer");

fn cuts() -> u64 {
    gitstate_tests::env_count("GITSTATE_POWER_CUTS", 100)
}

/// A mounted power-loss file system in a temporary directory, with a store initialised on it.
struct Rig {
    mounted: Mounted,
    store: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mount point");
        let mounted = PowerFs::new().mount(&mnt).unwrap_or_else(|e| {
            panic!(
                "cannot mount the power-loss FUSE file system at {} ({e}); it needs /dev/fuse \
                 and the right to mount (root)",
                mnt.display()
            )
        });
        let store = mnt.join("store");
        gitstate::Store::init(&store, gitstate::Options::default()).expect("init on powerfs");
        Rig {
            mounted,
            store,
            _dir: dir,
        }
    }

    /// Values 0..CALIBRATION_WRITES are written by [`Rig::calibrated`].
    const CALIBRATION_WRITES: u64 = 4;

    /// A new rig whose store holds `doc` = CALIBRATION_WRITES - 1, and how many file-system
    /// operations one write takes there, process start included.
    fn calibrated(fast: bool) -> (Rig, u64) {
        let rig = Rig::new();
        let before = rig.mounted.ops();
        let out = Command::new(WRITER)
            .arg(&rig.store)
            .args([
                "step-loop",
                "doc",
                "0",
                &Self::CALIBRATION_WRITES.to_string(),
            ])
            .args(fast.then_some("fast"))
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("calibration writer");
        let pid = out.id();
        let out = out.wait_with_output().expect("calibration writer");
        // A background `git gc` the writer started would outlive it.
        kill_group(pid);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let per_write = ((rig.mounted.ops() - before) / Self::CALIBRATION_WRITES).max(1);
        (rig, per_write)
    }
}

/// Whatever a writer left running on the file system (a background `git gc`) dies with the
/// power: SIGKILL its process group and wait until the group is gone.
fn kill_group(pgid: u32) {
    let group = format!("-{pgid}");
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, "--", &group])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    signal("-KILL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while signal("-0") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What one writer run acknowledged, and how it ended.
struct WriterRun {
    acks: Vec<u64>,
    stderr: String,
}

/// Run `gitstate-writer step-loop` from `start` until the file system dies under it.
fn write_until_power_cut(store: &Path, start: u64, fast: bool) -> WriterRun {
    let mut cmd = Command::new(WRITER);
    cmd.arg(store)
        .args(["step-loop", "doc", &start.to_string(), "1000000"]);
    if fast {
        cmd.arg("fast");
    }
    // Its own process group: the power cut also ends the `git gc --auto` it may have
    // started in the background, as a real one would.
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let deadline = Instant::now() + Duration::from_secs(60);
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            acks.push(
                line.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .expect("ack line"),
            );
        }
        acks
    });
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the writer ran for a minute without the power cut stopping it");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    kill_group(child.id());
    let acks = reader.join().expect("reader");
    let mut err = String::new();
    stderr.read_to_string(&mut err).expect("stderr");
    WriterRun { acks, stderr: err }
}

/// The power-loss loop; returns how many cuts lost an acknowledged write or left the store
/// unusable. With `strict` every check also asserts.
fn power_cuts(rounds: u64, fast: bool, seed: u64) -> (u64, Vec<String>) {
    let mut rng = Lcg(seed);
    let mut coin = {
        let mut rng = Lcg(seed ^ 0xc01);
        move || rng.below(1 << 20) as f64 / f64::from(1 << 20)
    };
    let (mut rig, per_write) = Rig::calibrated(fast);
    let mut next_value = Rig::CALIBRATION_WRITES;
    let mut losses = Vec::new();
    let mut cuts_after_an_ack = 0;
    for round in 0..rounds {
        // Cut somewhere in the first few writes of this run, opening and recovery included.
        rig.mounted.cut_after(1 + rng.below(per_write * 4));
        let run = write_until_power_cut(&rig.store, next_value, fast);
        assert!(
            rig.mounted.is_dead(),
            "round {round}: the writer stopped before the power cut: {}",
            run.stderr
        );
        for (i, n) in run.acks.iter().enumerate() {
            assert_eq!(
                *n,
                next_value + i as u64,
                "round {round}: acks out of order"
            );
        }
        if !run.acks.is_empty() {
            cuts_after_an_ack += 1;
        }
        // Strict rounds keep nothing unsynced; the others let writeback save some of it.
        let writeback = match round % 3 {
            0 => 0.0,
            1 => 0.5,
            _ => coin(),
        };
        rig.mounted.reboot(writeback, &mut coin).expect("reboot");

        let last_ack = run.acks.last().copied();
        // What must be there: the last acknowledged write, or the one in flight. Before this
        // run's first ack, the previous run's last value is the floor.
        let floor = last_ack.unwrap_or(next_value - 1);
        // verify and git fsck read every object: every tenth round, and the last.
        let full = round % 10 == 0 || round + 1 == rounds;
        match check_after_reboot(&rig.store, floor, full) {
            Ok(stored) => next_value = stored + 1,
            Err(loss) => {
                losses.push(format!("round {round} (writeback {writeback:.2}): {loss}"));
                if !fast {
                    panic!("{}", losses.last().expect("pushed"));
                }
                // The harness saw the loss; start again on a fresh store.
                (rig, _) = Rig::calibrated(fast);
                next_value = Rig::CALIBRATION_WRITES;
            }
        }
    }
    assert!(
        cuts_after_an_ack >= rounds / 4,
        "only {cuts_after_an_ack} of {rounds} cuts came after an acknowledged write"
    );
    (rounds, losses)
}

/// After a reboot: the value is `floor` or `floor + 1`, the store is consistent (status and
/// `git status`, and with `full` also verify and `git fsck --strict`), and a write succeeds. Returns the value stored (after that write), or what went wrong.
fn check_after_reboot(path: &Path, floor: u64, full: bool) -> Result<u64, String> {
    // No background `git gc` from this process: it would outlive the check.
    let options = gitstate::Options::default().maintenance(false);
    let store = gitstate::Store::open(path, options)
        .map_err(|e| format!("the store does not open: {e}"))?;
    let value: Option<serde_json::Value> = store
        .get_value("doc")
        .map_err(|e| format!("the document cannot be read: {e}"))?;
    let stored = value
        .as_ref()
        .and_then(|v| v["n"].as_u64())
        .ok_or_else(|| format!("acknowledged {floor}, but the document is gone"))?;
    if stored != floor && stored != floor + 1 {
        return Err(format!(
            "acknowledged {floor}, but the store holds {stored}"
        ));
    }
    let side = store
        .get_value(POWER_SIDE)
        .map_err(|e| format!("{POWER_SIDE} cannot be read: {e}"))?
        .map(|v| v["n"].as_u64());
    if side != power_side(stored).map(Some) {
        return Err(format!(
            "the store holds step {stored}, but {POWER_SIDE} is {side:?}, not {:?}",
            power_side(stored)
        ));
    }
    let status = store.status().map_err(|e| format!("status: {e}"))?;
    if !status.drift.is_empty() || !status.leftovers.is_empty() {
        let file = std::fs::read(path.join("doc.json"));
        return Err(format!(
            "drift {:?}, leftovers {:?}; doc.json: {:?}",
            status.drift,
            status.leftovers,
            file.map(|b| String::from_utf8_lossy(&b)
                .chars()
                .take(40)
                .collect::<String>())
        ));
    }
    if full {
        let problems = store.verify().map_err(|e| format!("verify: {e}"))?;
        if !problems.is_empty() {
            return Err(format!("verify: {problems:?}"));
        }
    }
    let status = git(path, &["status", "--porcelain"]);
    if status.code != 0 || !status.stdout.is_empty() {
        return Err(format!("git status: {}{}", status.stdout, status.stderr));
    }
    if full {
        let fsck = git(path, &["fsck", "--strict", "--no-progress"]);
        if fsck.code != 0 || fsck.stdout.contains("error") || fsck.stderr.contains("error") {
            return Err(format!("git fsck: {}{}", fsck.stdout, fsck.stderr));
        }
    }
    let next = stored + 1;
    power_step(&store, "doc", next).map_err(|e| format!("the next write failed: {e}"))?;
    Ok(next)
}

fn seed() -> u64 {
    gitstate_tests::env_count("GITSTATE_POWER_SEED", 0x90e4)
}

#[test]
fn power_cuts_never_lose_an_acknowledged_write() {
    let (rounds, losses) = power_cuts(cuts(), false, seed());
    assert!(losses.is_empty(), "{losses:?}");
    assert!(rounds >= 1);
}

#[test]
fn the_power_loss_harness_detects_writes_that_were_never_synced() {
    // Fast mode never calls fsync: a strict cut (round 0) must lose acknowledged writes.
    let (_, losses) = power_cuts(6, true, 0xfa57);
    assert!(
        !losses.is_empty(),
        "with fsync off, six power cuts lost nothing: the harness cannot see a missing sync"
    );
}

#[test]
fn a_store_on_the_power_loss_file_system_is_ordinary_git() {
    let rig = Rig::new();
    let store = gitstate::Store::open(&rig.store, gitstate::Options::default()).expect("open");
    store
        .set("doc", &serde_json::json!({"n": 1}))
        .expect("write");
    drop(store);
    assert_git_clean(&rig.store);
}
