//! The store lock: an exclusive `flock` on `.git/gitstate.lock` that guards every write and the
//! working tree, and records who holds it.
//!
//! The kernel releases the lock when its holder dies, so a crashed writer never blocks the
//! next one. The holder record in the file may outlive its writer; it is only believed while
//! the lock is actually held.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::error::{Error, IoContext};
use crate::permissions::Sharing;

/// The lock file's name inside the git directory.
pub(crate) const LOCK_FILE: &str = "gitstate.lock";

/// Who holds (or last held) the store lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The operation, e.g. `set prefs`.
    pub op: String,
    /// When the lock was taken, RFC 3339.
    pub since: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on {} ({}) since {}",
            self.pid, self.host, self.op, self.since
        )
    }
}

/// What the lock file says about the lock right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// Nobody holds it.
    Free,
    /// Nobody holds it, but a holder record was left by a process that died holding it.
    Stale(Holder),
    /// A process holds it.
    Held(Option<Holder>),
}

/// A held store lock; released on drop.
#[must_use = "the lock is released when this guard is dropped"]
#[derive(Debug)]
pub(crate) struct StoreLock {
    file: File,
    /// The previous holder died holding the lock (its record was still in the file).
    pub(crate) previous_holder_died: bool,
}

impl StoreLock {
    /// Take the lock, waiting up to `timeout`, then record `op` as the holder. A missing lock
    /// file is created with the store's file mode: in a shared store every member of the
    /// group must be able to open it.
    pub(crate) fn acquire(
        git_dir: &Path,
        sharing: Sharing,
        op: &str,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let path = git_dir.join(LOCK_FILE);
        let mut file = open_lock_file(&path, sharing)?;
        let start = Instant::now();
        match FileExt::try_lock_exclusive(&file) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
                file = wait_for_lock(file, &path, timeout).map_err(|(mut file, e)| match e {
                    None => Error::Locked {
                        holder: read_holder(&mut file),
                        waited: start.elapsed(),
                    },
                    Some(e) => Error::Io {
                        op: "lock",
                        path: path.clone(),
                        source: e,
                    },
                })?;
            }
            Err(e) => return Err(e).io_context("lock", &path),
        }
        let holder = Holder {
            pid: std::process::id(),
            host: hostname(),
            op: op.to_owned(),
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        // A record left in the file means its writer died holding the lock (a clean release
        // empties it): whatever that writer left behind is ours to clean up.
        let previous_holder_died = read_holder(&mut file).is_some();
        let record = serde_json::to_vec(&holder).expect("a Holder serializes");
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&record))
            .io_context("record lock holder in", &path)?;
        Ok(StoreLock {
            file,
            previous_holder_died,
        })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Clearing the record is best effort: a leftover record is reported as stale, not held.
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

/// Wait for the lock in the kernel (a blocking `flock` on a helper thread), so that a waiter
/// is woken as soon as the holder releases it: polling would let a busy holder take the lock
/// again and again before a sleeping poller looks. After `timeout`, give up: the helper is
/// told, and releases the lock at once if it gets it later. `Err((file, None))` is the
/// timeout; `Err((file, Some(e)))` an I/O error.
fn wait_for_lock(
    file: File,
    path: &Path,
    timeout: Duration,
) -> Result<File, (File, Option<std::io::Error>)> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};

    // A separate open file description, so that its lock is its own until handed over.
    let waiter = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return Err((file, Some(e))),
    };
    let abandoned = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let abandoned = Arc::clone(&abandoned);
        std::thread::spawn(move || {
            let result = FileExt::lock_exclusive(&waiter);
            if result.is_ok() && abandoned.load(Ordering::SeqCst) {
                let _ = FileExt::unlock(&waiter);
                return;
            }
            let _ = tx.send(result.map(|()| waiter));
        });
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(locked)) => Ok(locked),
        Ok(Err(e)) => Err((file, Some(e))),
        Err(_) => {
            abandoned.store(true, Ordering::SeqCst);
            // The helper may have got the lock just now: take it, or release it.
            match rx.try_recv() {
                Ok(Ok(locked)) => Ok(locked),
                _ => Err((file, None)),
            }
        }
    }
}

/// Inspect the lock without taking it for more than an instant.
pub(crate) fn state(git_dir: &Path) -> Result<LockState, Error> {
    let path: PathBuf = git_dir.join(LOCK_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
        Err(e) => return Err(e).io_context("open", &path),
    };
    match FileExt::try_lock_shared(&file) {
        Ok(()) => {
            let holder = read_holder(&mut file);
            let _ = FileExt::unlock(&file);
            Ok(holder.map_or(LockState::Free, LockState::Stale))
        }
        Err(_) => Ok(LockState::Held(read_holder(&mut file))),
    }
}

fn open_lock_file(path: &Path, sharing: Sharing) -> Result<File, Error> {
    use std::os::unix::fs::PermissionsExt;
    let open = |create: bool| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(create)
            .mode(sharing.file_mode() & 0o777)
            // A symlink planted here must not make the holder record land outside the store.
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
    };
    match open(true) {
        // Made now: the umask may have taken bits a shared store needs.
        Ok(file) => file
            .set_permissions(std::fs::Permissions::from_mode(sharing.file_mode()))
            .map(|()| file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => open(false),
        Err(e) => Err(e),
    }
    .io_context("open lock file", path)
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

/// This machine's name, read once per process.
fn hostname() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown-host".to_owned())
    })
    .clone()
}
