//! The branch ref: reading it, and moving it by git's lock-file protocol with compare-and-swap.
//!
//! The move is the commit point of every write. `refs/heads/main.lock` is created exclusively
//! (so plain git, which honours the same protocol, cannot move the branch at the same time),
//! the current value is compared with the expected one, the new id is written and synced, a
//! reflog line is appended, the lock file is renamed over the ref and the directory is synced.

use std::io::Write;
use std::path::Path;

use gix::ObjectId;

use crate::durable::{self, Durability};
use crate::error::{Error, GitContext, IoContext};

/// The one branch a store uses.
pub const BRANCH: &str = "refs/heads/main";

/// Read the branch; `None` while it is unborn.
pub(crate) fn read_branch(repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
    let reference = repo
        .try_find_reference(BRANCH)
        .git_context(|| format!("read {BRANCH}"))?;
    match reference {
        None => Ok(None),
        Some(r) => match r.target().try_id() {
            Some(id) => Ok(Some(id.to_owned())),
            None => Err(Error::Corrupt {
                what: format!("{BRANCH} is a symbolic ref"),
            }),
        },
    }
}

/// What to record in the reflog for a move.
pub(crate) struct ReflogEntry<'a> {
    pub(crate) identity: &'a str,
    pub(crate) time: gix::date::Time,
    pub(crate) message: &'a str,
}

/// Move the branch from `expected` to `new`, or fail with [`Error::Conflict`] and change
/// nothing. With [`Durability::Full`], the move is durable when this returns.
pub(crate) fn move_branch(
    repo: &gix::Repository,
    expected: Option<ObjectId>,
    new: ObjectId,
    reflog: &ReflogEntry<'_>,
    durability: Durability,
) -> Result<(), Error> {
    let git_dir = repo.git_dir();
    let heads = git_dir.join("refs/heads");
    let ref_path = heads.join("main");
    let lock_path = heads.join("main.lock");
    let mut lock = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Conflict {
                branch: BRANCH.into(),
                expected: hex_or_none(expected),
                actual: format!("locked by another program ({} exists)", lock_path.display()),
            });
        }
        Err(e) => return Err(e).io_context("create ref lock", &lock_path),
    };
    let result = (|| {
        let actual = read_branch(repo)?;
        if actual != expected {
            return Err(Error::Conflict {
                branch: BRANCH.into(),
                expected: hex_or_none(expected),
                actual: hex_or_none(actual),
            });
        }
        lock.write_all(format!("{new}\n").as_bytes())
            .io_context("write", &lock_path)?;
        if durability.syncs() {
            lock.sync_data().io_context("sync", &lock_path)?;
        }
        append_reflog(git_dir, expected, new, reflog)?;
        std::fs::rename(&lock_path, &ref_path).io_context("rename into place", &ref_path)?;
        if durability.syncs() {
            durable::sync_dir(&heads)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&lock_path);
    }
    result
}

fn hex_or_none(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "(none)".to_owned(), |id| id.to_string())
}

/// Append one line to `logs/refs/heads/main`. Not synced: the reflog is a convenience, and a
/// lost line never affects the branch or its objects.
fn append_reflog(
    git_dir: &Path,
    old: Option<ObjectId>,
    new: ObjectId,
    entry: &ReflogEntry<'_>,
) -> Result<(), Error> {
    let dir = git_dir.join("logs/refs/heads");
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).io_context("create directory", &dir)?;
    }
    let path = dir.join("main");
    let old = old.unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));
    let summary = entry.message.lines().next().unwrap_or_default();
    let line = format!(
        "{old} {new} {} {}\t{summary}\n",
        entry.identity,
        entry.time.to_string()
    );
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .io_context("append to reflog", &path)
}
