//! Keeping the store small: packing loose objects with git.
//!
//! gitstate writes loose objects (one file each); git packs them. gix cannot pack, so this
//! shells out to `git`: `Store::gc` on demand, and automatically, off the write path, a
//! `git gc --auto` about once every 256 commits (git decides whether there is enough to
//! pack). Both are safe beside concurrent writers: they never prune recent objects
//! (`--prune=now` is never used), and neither pack refs nor expire the reflog (both take
//! the branch's lock file). They run with the user's and system git config ignored and hooks disabled, so
//! nothing from a store's config or hooks is executed, and create packs with the store's
//! modes (see `Sharing`).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::Error;
use crate::permissions::Sharing;
use crate::store::Store;

/// The `gc.auto` threshold (loose objects) of the background maintenance.
const AUTO_LOOSE_LIMIT: u32 = 1000;

/// What `gc` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GcOutcome {
    /// Bytes in `.git/objects` before.
    pub bytes_before: u64,
    /// Bytes in `.git/objects` after.
    pub bytes_after: u64,
}

/// A `git` command for the store at `root`, isolated from the user's configuration and with
/// hooks and fsmonitor disabled, creating files with the modes of `sharing`.
fn git(root: &Path, sharing: Sharing) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(root)
        // As an exact octal mode: git's `group` and `all` only add bits to what the umask
        // left, so packs would be readable by others in a private or group store.
        .arg("-c")
        .arg(format!("core.sharedRepository={}", sharing.git_octal()))
        .args([
            "-c",
            "gc.packRefs=false",
            // A store's own config cannot shorten the grace period for unreachable objects
            // (a write in flight has written objects no ref points at yet).
            "-c",
            "gc.pruneExpire=2.weeks.ago",
            // Expiring the reflog takes the branch's lock file: leave the reflog alone.
            "-c",
            "gc.reflogExpire=never",
            "-c",
            "gc.reflogExpireUnreachable=never",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .stdin(Stdio::null());
    if sharing != Sharing::Private {
        // In a shared store the files belong to several users, and git refuses to work in a
        // repository someone else owns unless told it is safe. This one is: gitstate opened it
        // as its store, and nothing of its config runs (hooks and fsmonitor are off).
        let mut safe = std::ffi::OsString::from("safe.directory=");
        safe.push(std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()));
        c.arg("-c").arg(safe);
    }
    c
}

/// Bytes used by the files below `dir`.
fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

impl Store {
    /// Pack the store's loose objects with `git gc` (never `--prune=now`, never packing
    /// refs), safe beside concurrent writers.
    ///
    /// # Errors
    /// [`Error::Tool`] when `git` is not installed or fails.
    pub fn gc(&self) -> Result<GcOutcome, Error> {
        let objects = self.git_dir().join("objects");
        let bytes_before = size_of(&objects);
        // A background `git gc --auto` may be running: git then refuses ("gc is already
        // running"); wait for it, up to a minute.
        let patience = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let out = loop {
            let out = git(self.root(), self.sharing())
                .args(["gc", "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| Error::Tool {
                    tool: "git",
                    reason: if e.kind() == std::io::ErrorKind::NotFound {
                        "git is not installed; gitstate gc packs the store by running `git gc`"
                            .into()
                    } else {
                        format!("cannot run git gc: {e}")
                    },
                })?;
            let busy = String::from_utf8_lossy(&out.stderr).contains("already running");
            if out.status.success() || !busy || std::time::Instant::now() > patience {
                break out;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        if !out.status.success() {
            return Err(Error::Tool {
                tool: "git",
                reason: format!(
                    "git gc failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(GcOutcome {
            bytes_before,
            bytes_after: size_of(&objects),
        })
    }

    /// After a write: about once every 256 commits (when the new commit's id starts with
    /// `00`), start `git gc --auto` in the background and return at once. Without git, or
    /// when maintenance is off, nothing happens.
    ///
    /// git packs when it estimates more than `gc.auto` loose objects. Its default, 6,700,
    /// lets a store of small documents carry ~26 MiB of loose objects (one 4 KiB block
    /// each), several times its packed size; at [`AUTO_LOOSE_LIMIT`] the loose part stays
    /// near 4 MiB, and each background pack is small and quick.
    pub(crate) fn maybe_maintain(&self, commit: gix::ObjectId) {
        if !self.options().maintenance || commit.as_bytes()[0] != 0 {
            return;
        }
        let child = git(self.root(), self.sharing())
            .arg("-c")
            .arg(format!("gc.auto={AUTO_LOOSE_LIMIT}"))
            // Already off the write path: no second detach into a session of its own,
            // so it stays this process's child (reaped below) and in its process group.
            .args(["-c", "gc.autoDetach=false"])
            .args(["gc", "--auto", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            // Reap it off the write path, so no zombie is left in a long-running program.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}
