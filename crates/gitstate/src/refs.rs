//! The branch ref: reading it, and moving it by git's lock-file protocol with compare-and-swap.
//!
//! The move is the commit point of every write. `refs/heads/main.lock` is created exclusively
//! (so plain git, which honours the same protocol, cannot move the branch at the same time),
//! the current value is compared with the expected one, the new id is written and synced, a
//! reflog line is appended, the lock file is renamed over the ref and the directory is synced.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::durable::{self, Durability};
use crate::error::{Error, GitContext, IoContext};
use crate::permissions::Sharing;

/// How gitstate's reflog lines begin: their time is the commit's time, which lets time
/// travel use the reflog as an index (see `revision`).
pub(crate) const REFLOG_PREFIX: &str = "gitstate: ";

/// How long a write waits for git's ref lock held by another program.
pub(crate) const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// The one branch a store uses.
pub const BRANCH: &str = "refs/heads/main";

/// Read the branch; `None` while it is unborn.
pub(crate) fn read_branch(repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
    let reference = repo
        .try_find_reference(BRANCH)
        .git_context(|| format!("read {BRANCH}"))?;
    match reference {
        None => match last_reflog_value(repo.git_dir()) {
            // A branch whose reflog says it existed has been deleted or damaged: building a
            // new history from nothing would orphan the old one.
            Some(last) => Err(Error::Corrupt {
                what: format!(
                    "{BRANCH} is missing, but its reflog says it was at {last}; `gitstate recover` restores it"
                ),
            }),
            None => Ok(None),
        },
        Some(r) => match r.target().try_id() {
            Some(id) => Ok(Some(id.to_owned())),
            None => Err(Error::Corrupt {
                what: format!("{BRANCH} is a symbolic ref"),
            }),
        },
    }
}

/// The branch's last value according to its reflog, if the reflog has any line.
pub(crate) fn last_reflog_value(git_dir: &Path) -> Option<ObjectId> {
    let text = std::fs::read(git_dir.join("logs/refs/heads/main")).ok()?;
    let line = text.split(|b| *b == b'\n').rev().find(|l| !l.is_empty())?;
    let new = line.get(41..81)?;
    ObjectId::from_hex(new).ok().filter(|id| !id.is_null())
}

/// Restore a missing branch to its reflog's last value, when that is a readable commit.
/// The caller holds the store lock. Returns the commit restored.
pub(crate) fn restore_from_reflog(
    repo: &gix::Repository,
    sharing: Sharing,
    durability: Durability,
) -> Result<Option<ObjectId>, Error> {
    let git_dir = repo.git_dir();
    let ref_path = git_dir.join("refs/heads/main");
    if repo.try_find_reference(BRANCH).ok().flatten().is_some() {
        return Ok(None);
    }
    let Some(last) = last_reflog_value(git_dir) else {
        return Ok(None);
    };
    if repo.find_commit(last).is_err() {
        return Err(Error::Corrupt {
            what: format!(
                "{BRANCH} is missing and its reflog's last value {last} is not a readable commit"
            ),
        });
    }
    if let Ok(m) = std::fs::symlink_metadata(&ref_path) {
        if m.is_dir() {
            std::fs::remove_dir(&ref_path).io_context("remove directory in place of", &ref_path)?;
        } else {
            std::fs::remove_file(&ref_path).io_context("remove damaged", &ref_path)?;
        }
    }
    let heads = git_dir.join("refs/heads");
    let tmp = heads.join("main.lock");
    durable::replace_file(
        &tmp,
        &ref_path,
        format!("{last}\n").as_bytes(),
        sharing.file_mode(),
        durability,
    )?;
    if durability.syncs() {
        durable::sync_dir(&heads)?;
    }
    Ok(Some(last))
}

/// What to record in the reflog for a move.
pub(crate) struct ReflogEntry<'a> {
    pub(crate) identity: &'a str,
    pub(crate) time: gix::date::Time,
    pub(crate) message: &'a str,
}

/// A branch move in progress: `refs/heads/main.lock` is held and holds the new id, and the
/// branch was found at the expected commit. [`PendingMove::commit`] finishes the move;
/// dropping it instead removes the lock and leaves the branch alone.
pub(crate) struct PendingMove<'r> {
    repo: &'r gix::Repository,
    lock: Option<File>,
    lock_path: PathBuf,
    expected: Option<ObjectId>,
    new: ObjectId,
    sharing: Sharing,
}

/// Start moving the branch from `expected` to `new`: take git's ref lock, compare, write.
/// Fails with [`Error::Conflict`] (changing nothing) when the branch is elsewhere or another
/// program holds the ref lock.
pub(crate) fn prepare_move(
    repo: &gix::Repository,
    sharing: Sharing,
    expected: Option<ObjectId>,
    new: ObjectId,
) -> Result<PendingMove<'_>, Error> {
    let lock_path = repo.git_dir().join("refs/heads/main.lock");
    // A git process (a `git commit`, a reflog expiry) holds the ref lock for milliseconds:
    // wait a little for it before reporting a conflict.
    let mut pause = std::time::Duration::from_millis(1);
    let mut waited = std::time::Duration::ZERO;
    let lock = loop {
        match durable::create_new(&lock_path, sharing.file_mode()) {
            Ok(f) => break f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && waited < LOCK_PATIENCE => {
                std::thread::sleep(pause);
                waited += pause;
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Conflict {
                    branch: BRANCH.into(),
                    expected: hex_or_none(expected),
                    actual: format!("locked by another program ({} exists)", lock_path.display()),
                });
            }
            Err(e) => return Err(e).io_context("create ref lock", &lock_path),
        }
    };
    let mut pending = PendingMove {
        repo,
        lock: Some(lock),
        lock_path,
        expected,
        new,
        sharing,
    };
    let actual = read_branch(repo)?;
    if actual != expected {
        return Err(Error::Conflict {
            branch: BRANCH.into(),
            expected: hex_or_none(expected),
            actual: hex_or_none(actual),
        });
    }
    if let Some(lock) = pending.lock.as_mut() {
        lock.write_all(format!("{new}\n").as_bytes())
            .io_context("write", &pending.lock_path)?;
    }
    Ok(pending)
}

impl PendingMove<'_> {
    /// The lock file, to be synced by the caller's barrier before [`PendingMove::commit`].
    pub(crate) fn lock_file(&self) -> Option<(&File, &Path)> {
        self.lock.as_ref().map(|f| (f, self.lock_path.as_path()))
    }

    /// Finish the move: rename the lock over the ref, (with full durability) sync
    /// `refs/heads`, then append the reflog line. The lock file's content must already be
    /// durable.
    pub(crate) fn commit(
        mut self,
        reflog: &ReflogEntry<'_>,
        durability: Durability,
    ) -> Result<(), Error> {
        let git_dir = self.repo.git_dir();
        let heads = git_dir.join("refs/heads");
        let ref_path = heads.join("main");
        std::fs::rename(&self.lock_path, &ref_path).io_context("rename into place", &ref_path)?;
        self.lock = None;
        if durability.syncs() {
            durable::sync_dir(&heads)?;
        }
        // After the move, so the reflog never records a move that did not happen; a lost line
        // is harmless (time travel then walks commits instead).
        let _ = append_reflog(git_dir, self.sharing, self.expected, self.new, reflog);
        Ok(())
    }
}

impl Drop for PendingMove<'_> {
    fn drop(&mut self) {
        if self.lock.take().is_some() {
            let _ = std::fs::remove_file(&self.lock_path);
        }
    }
}

fn hex_or_none(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "(none)".to_owned(), |id| id.to_string())
}

/// Append one line to `logs/refs/heads/main`. Not synced: the reflog is a convenience, and a
/// lost line never affects the branch or its objects.
fn append_reflog(
    git_dir: &Path,
    sharing: Sharing,
    old: Option<ObjectId>,
    new: ObjectId,
    entry: &ReflogEntry<'_>,
) -> Result<(), Error> {
    let dir = git_dir.join("logs/refs/heads");
    if !dir.is_dir() {
        durable::create_dirs_below(git_dir, "logs/refs/heads", sharing.dir_mode())?;
    }
    let path = dir.join("main");
    let old = old.unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));
    let summary = entry.message.lines().next().unwrap_or_default();
    let line = format!("{old} {new} {} {}\t{summary}\n", entry.identity, entry.time);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(sharing.file_mode() & 0o777)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .io_context("append to reflog", &path)?;
    // Made by this append (it is empty), the umask may have taken bits a shared store needs.
    // Best effort: failing, it was made by another user, whose modes it has.
    if file.metadata().is_ok_and(|m| m.len() == 0) {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(sharing.file_mode()));
    }
    file.write_all(line.as_bytes())
        .io_context("append to reflog", &path)
}
