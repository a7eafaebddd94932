//! Helpers for the end-to-end tests: temporary stores, running the CLI and git, checking that
//! a store is ordinary, healthy git.

pub mod fuzz;
pub mod powerfs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Fixed identity and time for reproducible commits; the user's git config is never read.
pub const TEST_TIME: &str = "1795770000";

/// A temporary store directory (not yet initialised) that is removed on drop.
pub struct TempStore {
    _dir: tempfile::TempDir,
    /// The store's path.
    pub path: PathBuf,
}

impl TempStore {
    /// A fresh path for a store, inside a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create temp dir");
        let path = dir.path().join("store");
        TempStore { _dir: dir, path }
    }

    /// A fresh, initialised store.
    pub fn init() -> Self {
        let s = Self::new();
        gitstate::Store::init(&s.path, gitstate::Options::default()).expect("init store");
        s
    }

    /// The problems `verify` finds in the store.
    pub fn verify(&self) -> Vec<String> {
        self.open().verify().expect("verify")
    }

    /// Open it through the library.
    pub fn open(&self) -> gitstate::Store {
        gitstate::Store::open(&self.path, gitstate::Options::default()).expect("open store")
    }
}

impl Default for TempStore {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of a command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A command for the CLI binary `exe` on store `store`, isolated from the user's environment.
pub fn cli(exe: &str, store: &Path) -> Command {
    let mut c = Command::new(exe);
    c.env_remove("GITSTATE_DIR")
        .env_remove("GITSTATE_AUTHOR")
        .env_remove("GITSTATE_DURABILITY")
        .env("GITSTATE_COMMIT_TIME", TEST_TIME)
        .arg("--store")
        .arg(store);
    c
}

/// Run `cmd` with `stdin` as input.
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Run {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    out.into()
}

/// Run `cmd` with empty stdin.
pub fn run(cmd: Command) -> Run {
    run_with_stdin(cmd, b"")
}

/// Run plain `git -C store ARGS…`, isolated from the user's config.
pub fn git(store: &Path, args: &[&str]) -> Run {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(store)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "plain git")
        .env("GIT_AUTHOR_EMAIL", "git@example.invalid")
        .env("GIT_COMMITTER_NAME", "plain git")
        .env("GIT_COMMITTER_EMAIL", "git@example.invalid");
    run(c)
}

/// Assert that `store` is ordinary, healthy git: `status --porcelain` prints nothing and
/// `fsck --strict` is clean.
pub fn assert_git_clean(store: &Path) {
    let status = git(store, &["status", "--porcelain"]);
    assert_eq!(status.code, 0, "git status failed: {}", status.stderr);
    assert_eq!(
        status.stdout,
        "",
        "git status not clean in {}",
        store.display()
    );
    let fsck = git(store, &["fsck", "--strict", "--no-progress"]);
    assert_eq!(
        fsck.code, 0,
        "git fsck failed: {}{}",
        fsck.stdout, fsck.stderr
    );
    assert!(
        !fsck.stdout.contains("error") && !fsck.stderr.contains("error"),
        "fsck reported: {}{}",
        fsck.stdout,
        fsck.stderr
    );
}

/// Copy the directory tree `from` to `to` (files and directories; nothing else is expected).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A count from the environment variable `name`, or `default`: how long tests run.
pub fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The side document of the power-loss workload (see [`power_step`]): alone in a directory
/// of its own.
pub const POWER_SIDE: &str = "side/doc";

/// One write of the power-loss workload, as one commit: `name` = `{"n": i, "pad": …}` and,
/// in the same commit, [`POWER_SIDE`] = `{"n": i}`, except that every third write deletes
/// it (and its directory with it), so that the next one makes both again. A store at step
/// `i` therefore holds [`power_side`]`(i)` there: creations, deletions and directories all
/// go through the power cuts, and the two documents must always agree.
pub fn power_step(
    store: &gitstate::Store,
    name: &str,
    i: u64,
) -> Result<gitstate::WriteOutcome, gitstate::Error> {
    let pad = "x".repeat((i % 7) as usize * 100);
    let mut tx = store.transaction();
    tx.set(name, &serde_json::json!({ "n": i, "pad": pad }))?;
    match power_side(i) {
        Some(n) => {
            tx.set(POWER_SIDE, &serde_json::json!({ "n": n }))?;
        }
        None => {
            if store.get_value(POWER_SIDE)?.is_some() {
                tx.delete(POWER_SIDE)?;
            }
        }
    }
    tx.commit()
}

/// What [`POWER_SIDE`] holds (its `n`) after [`power_step`] `i`.
pub fn power_side(i: u64) -> Option<u64> {
    (!i.is_multiple_of(3)).then_some(i)
}

/// Assert that the working tree equals HEAD and no leftovers of a crash remain.
pub fn assert_repaired(store: &gitstate::Store, context: &str) {
    let status = store.status().expect("status");
    assert!(
        status.drift.is_empty(),
        "{context}: drift {:?}",
        status.drift
    );
    assert!(
        status.leftovers.is_empty(),
        "{context}: leftovers {:?}",
        status.leftovers
    );
}

/// Number of commits on the branch.
pub fn commit_count(store: &Path) -> usize {
    let r = git(store, &["rev-list", "--count", "main"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.trim().parse().expect("a count")
}

/// The branch's commit id.
pub fn head(store: &Path) -> String {
    let r = git(store, &["rev-parse", "main"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.trim().to_owned()
}

/// A small deterministic random generator (Knuth's MMIX constants), so that a failing
/// generated case can be replayed from its seed.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next value, 31 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Leave the holder record of a gitstate writer that died holding the store lock (as SIGKILL
/// or a crash leaves it), in the store at `store`.
pub fn leave_dead_writer_record(store: &Path) {
    std::fs::write(
        store.join(".git/gitstate.lock"),
        br#"{"pid":999999,"host":"h","op":"set doc","since":"2026-01-01T00:00:00Z"}"#,
    )
    .expect("stale record");
}

/// A time before this machine booted: what a file written before a power cut and its reboot
/// has (further back than any uptime).
pub fn before_boot() -> std::time::SystemTime {
    std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 365 * 24 * 3600)
}

/// Set the modification time of the file or directory at `path` to `time`.
pub fn set_mtime(path: &Path, time: std::time::SystemTime) {
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(time))
        .unwrap_or_else(|e| panic!("set the time of {}: {e}", path.display()));
}
