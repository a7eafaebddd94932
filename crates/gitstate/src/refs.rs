//! The branch ref: reading it, and moving it by git's lock-file protocol with compare-and-swap.
//!
//! The move is the commit point of every write. `refs/heads/main.lock` is created exclusively
//! (so plain git, which honours the same protocol, cannot move the branch at the same time),
//! the current value is compared with the expected one, the new id is written, the reflog
//! line is appended, both are synced with the write's objects (one barrier), and the lock
//! file is renamed over the ref. The rename itself is not synced: with full durability the
//! synced reflog line is the record of the move, and recovery after a power cut rolls the
//! branch forward to it when the rename was lost (see [`reconcile`]).

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

/// The branch's ref as it is: `None` when there is no ref file, whatever the reflog says.
fn read_ref(repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
    match repo
        .try_find_reference(BRANCH)
        .git_context(|| format!("read {BRANCH}"))?
    {
        None => Ok(None),
        Some(r) => match r.target().try_id() {
            Some(id) => Ok(Some(id.to_owned())),
            None => Err(Error::Corrupt {
                what: format!("{BRANCH} is a symbolic ref"),
            }),
        },
    }
}

/// Read the branch; `None` while it is unborn.
pub(crate) fn read_branch(repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
    match read_ref(repo)? {
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
        some => Ok(some),
    }
}

/// The branch's last value according to its reflog, if the reflog has any whole line.
pub(crate) fn last_reflog_value(git_dir: &Path) -> Option<ObjectId> {
    let tail = reflog_tail(&git_dir.join("logs/refs/heads/main"))?;
    let end = tail.iter().rposition(|b| *b == b'\n')?;
    let line = tail[..end].rsplit(|b| *b == b'\n').next()?;
    let new = line.get(41..81)?;
    ObjectId::from_hex(new).ok().filter(|id| !id.is_null())
}

/// The end of the reflog at `path`, enough to hold its last lines (every open and write
/// looks at the last one; the whole file can hold a line per write ever made).
fn reflog_tail(path: &Path) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let from = len.saturating_sub(8192);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut tail = Vec::with_capacity((len - from) as usize);
    file.read_to_end(&mut tail).ok()?;
    Some(tail)
}

/// Whether the reflog's last whole line leaves the branch elsewhere than it is: a crash or
/// power cut stopped a write after its barrier, or took its rename away (see [`reconcile`]).
/// Cheap: reads the end of the reflog and the ref.
pub(crate) fn reflog_leads(repo: &gix::Repository) -> bool {
    match last_reflog_value(repo.git_dir()) {
        Some(last) => read_ref(repo).ok() != Some(Some(last)),
        None => false,
    }
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
    let Some(mut last) = last_reflog_value(git_dir) else {
        return Ok(None);
    };
    // The last line can belong to a write that a power cut stopped in its barrier: then
    // the branch goes back to where that line started.
    let tail = reflog_tail(&git_dir.join("logs/refs/heads/main")).unwrap_or_default();
    let last_line = tail
        .strip_suffix(b"\n")
        .and_then(|t| t.rsplit(|b| *b == b'\n').next())
        .and_then(crate::revision::parse_reflog_line);
    if let Some(line) = last_line
        && line.new == last
        && !commit_whole(repo, last, line.old)
        && let Some(old) = line.old
    {
        last = old;
    }
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
    logged: Option<Logged>,
}

/// Create `refs/heads/main.lock` exclusively, waiting a little for a git process that
/// holds it; [`Error::Conflict`] (naming `expected`) when it stays taken.
fn take_ref_lock(
    repo: &gix::Repository,
    sharing: Sharing,
    expected: Option<ObjectId>,
) -> Result<(File, PathBuf), Error> {
    let lock_path = repo.git_dir().join("refs/heads/main.lock");
    // A git process (a `git commit`, a reflog expiry) holds the ref lock for milliseconds:
    // wait a little for it before reporting a conflict.
    let mut pause = std::time::Duration::from_millis(1);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match durable::create_new(&lock_path, sharing.file_mode()) {
            Ok(f) => return Ok((f, lock_path)),
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
    }
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
    let (lock, lock_path) = take_ref_lock(repo, sharing, expected)?;
    let mut pending = PendingMove {
        repo,
        lock: Some(lock),
        lock_path,
        expected,
        new,
        sharing,
        logged: None,
    };
    // As it is: a recovery rolls a branch whose first rename a power cut lost forward from
    // nothing (a write finds a missing branch with a reflog refused by `read_branch` before).
    let actual = read_ref(repo)?;
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
    /// Append the move's reflog line, before the barrier. Dropping the move without
    /// [`PendingMove::commit`] takes the line back.
    pub(crate) fn log(&mut self, entry: &ReflogEntry<'_>) -> Result<(), Error> {
        let logged = append_reflog(
            self.repo.git_dir(),
            self.sharing,
            self.expected,
            self.new,
            entry,
        )?;
        self.logged = Some(logged);
        Ok(())
    }

    /// What the caller's barrier must sync before [`PendingMove::commit`]: the lock file, the
    /// reflog and any directory made for the reflog.
    pub(crate) fn to_sync(&self) -> Vec<(&File, &Path)> {
        let mut items: Vec<(&File, &Path)> = Vec::new();
        if let Some(lock) = &self.lock {
            items.push((lock, &self.lock_path));
        }
        if let Some(logged) = &self.logged {
            items.push((&logged.file, &logged.path));
            items.extend(logged.made.iter().map(|(f, p)| (f, p.as_path())));
        }
        items
    }

    /// Finish the move: rename the lock over the ref. The lock file's content and the reflog
    /// line must already be durable. With `sync_dir` the rename is made durable too (a
    /// recovery's move); a write leaves it to the next barrier (see [`reconcile`]).
    pub(crate) fn commit(mut self, sync_dir: bool) -> Result<(), Error> {
        let heads = self.repo.git_dir().join("refs/heads");
        let ref_path = heads.join("main");
        std::fs::rename(&self.lock_path, &ref_path).io_context("rename into place", &ref_path)?;
        self.lock = None;
        self.logged = None;
        if sync_dir {
            durable::sync_dir(&heads)?;
        }
        Ok(())
    }
}

impl Drop for PendingMove<'_> {
    fn drop(&mut self) {
        // The move did not happen: its reflog line must not say it did. Taken back (and
        // synced: the barrier may have made it durable) while the ref lock still keeps git
        // from appending a line of its own.
        if let Some(logged) = self.logged.take() {
            let _ = logged
                .file
                .set_len(logged.len_before)
                .and_then(|()| logged.file.sync_all());
        }
        if self.lock.take().is_some() {
            let _ = std::fs::remove_file(&self.lock_path);
        }
    }
}

fn hex_or_none(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "(none)".to_owned(), |id| id.to_string())
}

/// An appended reflog line: the open file (to be synced), its path, its length before the
/// line (to take the line back when the move does not happen), and the directories made for
/// it (whose entries must be synced too).
struct Logged {
    file: File,
    path: PathBuf,
    len_before: u64,
    made: Vec<(File, PathBuf)>,
}

/// Append one line to `logs/refs/heads/main`.
fn append_reflog(
    git_dir: &Path,
    sharing: Sharing,
    old: Option<ObjectId>,
    new: ObjectId,
    entry: &ReflogEntry<'_>,
) -> Result<Logged, Error> {
    let dir = git_dir.join("logs/refs/heads");
    let mut made = Vec::new();
    if !dir.is_dir() {
        for created in durable::create_dirs_below(git_dir, "logs/refs/heads", sharing.dir_mode())? {
            if let Some(parent) = created.parent() {
                made.push((
                    File::open(parent).io_context("open", parent)?,
                    parent.to_path_buf(),
                ));
            }
        }
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
    let len_before = file.metadata().io_context("inspect", &path)?.len();
    if len_before == 0 {
        // Made by this append, the umask may have taken bits a shared store needs. Best
        // effort: failing, it was made by another user, whose modes it has.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(sharing.file_mode()));
        // Its name must be durable with the line.
        made.push((File::open(&dir).io_context("open", &dir)?, dir.clone()));
    }
    if let Err(e) = file.write_all(line.as_bytes()) {
        // A part of the line (a full disk) would glue the next line onto it.
        let _ = file.set_len(len_before);
        return Err(e).io_context("append to reflog", &path);
    }
    Ok(Logged {
        file,
        path,
        len_before,
        made,
    })
}

/// After a crash or power cut, under the store lock: bring the branch and its reflog back in
/// step. A write syncs its reflog line with its objects and then renames the ref lock over
/// the ref without syncing the rename, so a power cut can leave the branch behind its
/// reflog, by the moves whose renames were lost. The line of every acknowledged write is
/// durable (it was synced before the write returned); only the last line can belong to a
/// write the cut stopped in its barrier, whose objects may be torn.
///
/// So, holding git's ref lock (a git process appending its own line is never cut): a torn
/// last line (no newline) is cut off; when the lines after the one that set the branch's
/// current value form a chain of gitstate's moves (each starting where the one before
/// ended), the branch moves, durably, to the end of that chain, or to the line before it
/// when the last line's commit is not whole (its line is then taken back too). Anything
/// else (a move by another program, lines that do not chain) is left alone, and so is a
/// ref file written after the reflog (moved by hand, without a line of its own). A missing
/// ref is rolled forward only when `missing_ref_too` (after a power cut or a dead writer, or
/// when recovery was asked for): a ref deleted by hand is otherwise refused by
/// [`read_branch`].
///
/// Returns the commit the branch was rolled forward to.
pub(crate) fn reconcile(
    repo: &gix::Repository,
    sharing: Sharing,
    missing_ref_too: bool,
) -> Result<Option<ObjectId>, Error> {
    let path = repo.git_dir().join("logs/refs/heads/main");
    let ref_path = repo.git_dir().join(BRANCH);
    let modified = |p: &Path| std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok();
    let Ok(current) = read_ref(repo) else {
        // Damaged: the caller deals with it.
        return Ok(None);
    };
    match (current, modified(&ref_path), modified(&path)) {
        (None, _, _) if !missing_ref_too => return Ok(None),
        (Some(_), Some(ref_time), Some(log_time)) if ref_time > log_time => return Ok(None),
        _ => {}
    }
    let (lock, lock_path) = take_ref_lock(repo, sharing, current)?;
    let mut pending = PendingMove {
        repo,
        lock: Some(lock),
        lock_path,
        expected: current,
        new: ObjectId::null(gix::hash::Kind::Sha1),
        sharing,
        logged: None,
    };
    // Read again under the lock: nothing moves the branch or appends now.
    if read_ref(repo)? != current {
        return Ok(None);
    }
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).io_context("read reflog", &path),
    };
    let whole_len = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut starts = Vec::new();
    let mut parsed = Vec::new();
    let mut start = 0;
    for line in text[..whole_len].split_inclusive(|b| *b == b'\n') {
        starts.push(start);
        parsed.push(crate::revision::parse_reflog_line(
            line.strip_suffix(b"\n").unwrap_or(line),
        ));
        start += line.len();
    }
    let set_current = parsed
        .iter()
        .rposition(|p| p.as_ref().is_some_and(|p| Some(p.new) == current));
    let ahead_from = match (set_current, current) {
        (Some(i), _) => i + 1,
        // A branch that has no ref file: every line is ahead of it.
        (None, None) => 0,
        (None, Some(_)) => parsed.len(),
    };
    let mut chain = Vec::new();
    let mut at = current;
    for p in &parsed[ahead_from..] {
        match p {
            Some(p) if p.old == at && p.message.starts_with(REFLOG_PREFIX.as_bytes()) => {
                chain.push((p.old, p.new));
                at = Some(p.new);
            }
            _ => {
                chain.clear();
                break;
            }
        }
    }
    let mut keep_len = whole_len;
    if let Some(&(old, new)) = chain.last()
        && !commit_whole(repo, new, old)
    {
        chain.pop();
        keep_len = starts[ahead_from + chain.len()];
    }
    let target = chain.last().map(|&(_, new)| new);
    if let Some(target) = target {
        // The objects of a write stopped inside its barrier may be whole in the page cache
        // only (a killed writer): make everything durable before the branch points at it.
        let dir = File::open(repo.git_dir()).io_context("open", repo.git_dir())?;
        rustix::fs::syncfs(&dir)
            .map_err(std::io::Error::from)
            .io_context("sync the file system of", repo.git_dir())?;
        pending.new = target;
        if let Some(lock) = pending.lock.as_mut() {
            lock.write_all(format!("{target}\n").as_bytes())
                .and_then(|()| lock.sync_all())
                .io_context("write", &pending.lock_path)?;
        }
    }
    if keep_len < text.len() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .io_context("open reflog", &path)?;
        file.set_len(keep_len as u64)
            .and_then(|()| file.sync_all())
            .io_context("cut the reflog back", &path)?;
    }
    match target {
        Some(target) => {
            pending.commit(true)?;
            Ok(Some(target))
        }
        None => Ok(None),
    }
}

/// Whether every object that commit `id` added on top of `parent` is there and whole: the
/// commit, and the trees and blobs of its tree that `parent`'s tree does not share.
fn commit_whole(repo: &gix::Repository, id: ObjectId, parent: Option<ObjectId>) -> bool {
    let Ok(tree) = crate::snapshot::commit_tree(repo, id) else {
        return false;
    };
    let base = parent.and_then(|p| crate::snapshot::commit_tree(repo, p).ok());
    tree_whole(repo, tree, base)
}

fn tree_whole(repo: &gix::Repository, tree: ObjectId, base: Option<ObjectId>) -> bool {
    if Some(tree) == base {
        return true;
    }
    let Ok(data) = crate::objects::find(repo, tree, gix::objs::Kind::Tree) else {
        return false;
    };
    let Ok(parsed) = gix::objs::TreeRef::from_bytes(&data.data, gix::hash::Kind::Sha1) else {
        return false;
    };
    let base_entries: std::collections::HashMap<Vec<u8>, ObjectId> = base
        .and_then(|b| crate::objects::find(repo, b, gix::objs::Kind::Tree).ok())
        .and_then(|d| {
            gix::objs::TreeRef::from_bytes(&d.data, gix::hash::Kind::Sha1)
                .ok()
                .map(|t| {
                    t.entries
                        .iter()
                        .map(|e| (e.filename.to_vec(), e.oid.to_owned()))
                        .collect()
                })
        })
        .unwrap_or_default();
    parsed.entries.iter().all(|e| {
        let id = e.oid.to_owned();
        let before = base_entries.get(&e.filename.to_vec()).copied();
        if before == Some(id) {
            true
        } else if e.mode.is_tree() {
            tree_whole(repo, id, before)
        } else if e.mode.is_blob() {
            crate::objects::find(repo, id, gix::objs::Kind::Blob).is_ok()
        } else {
            true
        }
    })
}
