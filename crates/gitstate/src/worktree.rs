//! The working tree and git index: writing document files after a commit, detecting edits
//! made outside gitstate, and repairing the lag a crash can leave.
//!
//! The working tree is a convenience view of HEAD; the branch is the truth. A write moves the
//! branch first, then replaces the document files (atomically, unsynced), then rewrites the
//! index. After a crash the files may therefore hold the previous committed version: that lag
//! is repaired under the store lock. A file with any other content is an edit made outside
//! gitstate and is never overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};
use gix::index::entry::{Flags, Mode, Stat};

use crate::durable::{self, Durability};
use crate::error::{Error, GitContext, IoContext};
use crate::permissions::Sharing;

/// The temporary file a document is written to, in its own directory, before it is renamed
/// into place. One name per directory suffices: writers hold the store lock, and write one
/// file at a time. (A name derived from the document's would not fit the file system's
/// 255-byte limit for the longest document names.)
pub(crate) const TMP_NAME: &str = ".gitstate-tmp";

/// What the working tree holds at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileState {
    Missing,
    /// A regular file with this blob id.
    Blob(ObjectId),
    /// A directory, symlink or other non-file.
    NotAFile,
}

/// A document file to write (`bytes` and `id` set) or remove (both `None`).
pub(crate) struct FileChange<'a> {
    pub(crate) rela: &'a str,
    pub(crate) bytes: Option<&'a [u8]>,
    pub(crate) id: Option<ObjectId>,
}

/// Paths (relative, `/`-separated) to the blob ids of a tree, recursively.
pub(crate) type Files = BTreeMap<String, ObjectId>;

/// The working tree of a store.
pub(crate) struct Worktree<'a> {
    pub(crate) root: &'a Path,
    pub(crate) git_dir: &'a Path,
    /// The modes of the files and directories written.
    pub(crate) sharing: Sharing,
    /// With [`Durability::Full`], a name created or removed in the working tree is made
    /// durable before the index records it (see [`Worktree::apply`]).
    pub(crate) durability: Durability,
}

/// Whether `index` has an entry at `rela`.
fn is_indexed(index: &gix::index::File, rela: &str) -> bool {
    index.entry_by_path(rela.into()).is_some()
}

/// How a file relates to HEAD and to what gitstate last wrote there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The file is missing although HEAD has it (path relative to the store).
    Missing(String),
    /// The file holds content neither in HEAD nor last written by gitstate.
    Modified(String),
    /// A file at a path HEAD does not have, that gitstate did not write.
    Untracked(String),
}

impl Worktree<'_> {
    fn index_path(&self) -> PathBuf {
        self.git_dir.join("index")
    }

    /// Load the index, or an empty one when there is none.
    pub(crate) fn load_index(&self) -> Result<gix::index::File, Error> {
        let path = self.index_path();
        gix::index::File::at_or_default(
            &path,
            gix::hash::Kind::Sha1,
            false,
            gix::index::decode::Options {
                thread_limit: Some(1),
                ..Default::default()
            },
        )
        .git_context(|| format!("read index {}", path.display()))
    }

    /// Whether a document file no longer has the stat data the index recorded for it
    /// (replaced, resized, touched): one `lstat` per document, no hashing. After a
    /// power cut the index can be current while a file's data never reached the disk; this
    /// is how opening notices.
    pub(crate) fn stat_differs(&self, index: &gix::index::File) -> bool {
        let backing = index.path_backing();
        index.entries().iter().any(|e| {
            let rela = e.path_in(backing).to_str_lossy();
            match gix::index::fs::Metadata::from_path_no_follow(&self.abs(&rela)) {
                Ok(meta) if meta.is_file() => {
                    Stat::from_fs(&meta).map_or(true, |stat| !e.stat.matches(&stat, stat_options()))
                }
                // Missing: a deletion by hand, unless the index lags too (checked apart).
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                _ => true,
            }
        })
    }

    /// The index's entries as a map.
    pub(crate) fn index_files(index: &gix::index::File) -> Files {
        let backing = index.path_backing();
        index
            .entries()
            .iter()
            .map(|e| (e.path_in(backing).to_str_lossy().into_owned(), e.id))
            .collect()
    }

    fn abs(&self, rela: &str) -> PathBuf {
        self.root.join(rela)
    }

    /// What the working tree holds at `rela`, using the index's stat data to avoid hashing a
    /// file that has not changed since gitstate wrote it.
    pub(crate) fn file_state(
        &self,
        rela: &str,
        index: &gix::index::File,
    ) -> Result<FileState, Error> {
        let path = self.abs(rela);
        let meta = match gix::index::fs::Metadata::from_path_no_follow(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
                // ENOTDIR: a parent is a file; the document file cannot exist.
                return Ok(FileState::Missing);
            }
            Err(e) => return Err(e).io_context("inspect", &path),
        };
        if !meta.is_file() {
            return Ok(FileState::NotAFile);
        }
        if let Some(entry) = index.entry_by_path(BStr::new(rela.as_bytes()))
            && let Ok(stat) = Stat::from_fs(&meta)
            && entry.stat.matches(&stat, stat_options())
            && !is_racy(&entry.stat, index)
        {
            return Ok(FileState::Blob(entry.id));
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(FileState::Missing),
            Err(e) => return Err(e).io_context("read", &path),
        };
        Ok(FileState::Blob(blob_id(&bytes)?))
    }

    /// Refuse to write `rela` when its file holds an edit made outside gitstate.
    ///
    /// `head` is the blob at HEAD; a version committed at this path earlier is what a crash
    /// may have left there, which counts as lag, not as an edit.
    pub(crate) fn check_writable(
        &self,
        repo: &gix::Repository,
        name: &str,
        rela: &str,
        head: Option<ObjectId>,
        index: &gix::index::File,
    ) -> Result<(), Error> {
        self.refuse_symlinked_parents(rela)?;
        match self.file_state(rela, index)? {
            FileState::Missing => Ok(()),
            FileState::Blob(id) if Some(id) == head => Ok(()),
            FileState::Blob(id)
                if committed_at(repo, crate::refs::read_branch(repo)?, rela, id)? =>
            {
                Ok(())
            }
            FileState::Blob(_) => Err(Error::OutsideEdit {
                name: name.to_owned(),
                path: self.abs(rela),
            }),
            FileState::NotAFile => Err(Error::Unsafe {
                path: self.abs(rela),
                reason: "is not a regular file",
            }),
        }
    }

    /// Read the file at `rela`, refusing symlinks (of the file or a directory on its way) so
    /// that nothing outside the store is ever read into it.
    pub(crate) fn read_file(&self, rela: &str) -> Result<Vec<u8>, Error> {
        self.refuse_symlinked_parents(rela)?;
        let path = self.abs(rela);
        let meta = std::fs::symlink_metadata(&path).io_context("inspect", &path)?;
        if !meta.is_file() {
            return Err(Error::Unsafe {
                path,
                reason: "is not a regular file (a symlink is never followed)",
            });
        }
        std::fs::read(&path).io_context("read", &path)
    }

    /// Fail when a directory on the way to `rela` is a symlink (or not a directory), so that
    /// nothing is read or written outside the store through a planted link.
    fn refuse_symlinked_parents(&self, rela: &str) -> Result<(), Error> {
        let mut path = self.root.to_path_buf();
        let Some((dirs, _)) = rela.rsplit_once('/') else {
            return Ok(());
        };
        for segment in dirs.split('/') {
            path.push(segment);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::Unsafe {
                        path,
                        reason: "is a symlink; gitstate never follows links out of the store",
                    });
                }
                Ok(m) if !m.is_dir() => {
                    return Err(Error::Unsafe {
                        path,
                        reason: "is a file where a directory is needed",
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e).io_context("inspect", &path),
            }
        }
        Ok(())
    }

    /// Write or delete the files for `changes` (path → new content, `None` to delete) and record
    /// them in the index. Called after the branch moved; nothing here is synced.
    pub(crate) fn apply(
        &self,
        changes: &[FileChange<'_>],
        index: &mut gix::index::File,
    ) -> Result<(), Error> {
        let mut new_entries = Vec::new();
        for change in changes {
            match (change.bytes, change.id) {
                (Some(bytes), Some(id)) => {
                    let stat = self.write_file(change.rela, bytes, index)?;
                    crate::crashpoint::crash_point("after-worktree-file");
                    new_entries.push((change.rela, id, stat));
                }
                _ => self.remove_file(change.rela, index)?,
            }
        }
        crate::crashpoint::crash_point("after-worktree");
        let touched: BTreeSet<&str> = changes.iter().map(|c| c.rela).collect();
        index.remove_entries(|_, path, _| touched.contains(path.to_str_lossy().as_ref()));
        for (rela, id, stat) in new_entries {
            index.dangerously_push_entry(stat, id, Flags::empty(), Mode::FILE, rela.into());
        }
        self.write_index(index)?;
        crate::crashpoint::crash_point("after-index");
        Ok(())
    }

    /// Replace the index by git's protocol: write `index.lock` (created exclusively, so a git
    /// process holding it makes this fail) and rename it over `index`. The lock file gets the
    /// store's file mode before anything is written to it.
    fn write_index(&self, index: &mut gix::index::File) -> Result<(), Error> {
        index.sort_entries();
        index.remove_tree();
        let path = self.index_path();
        let context = || format!("write index {}", path.display());
        // git holds index.lock for milliseconds (`git add`, `git commit`, `git status`):
        // wait for it as for git's ref lock, then fail naming it.
        let lock = gix::lock::File::acquire_to_update_resource(
            &path,
            gix::lock::acquire::Fail::AfterDurationWithBackoff(crate::refs::LOCK_PATIENCE),
            None,
            self.sharing.gix_permissions(),
        )
        .git_context(context)?;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, lock);
        index
            .write_to(&mut out, gix::index::write::Options::default())
            .git_context(context)?;
        let lock = out
            .into_inner()
            .map_err(|e| e.into_error())
            .io_context("write", &path)?;
        lock.commit()
            .map_err(|e| e.error)
            .io_context("rename into place", &path)?;
        Ok(())
    }

    /// Write a document file (atomically, its data unsynced). With [`Durability::Full`], a
    /// name new to the file system or to `index` (the index before this write: a file made
    /// by hand and now adopted by `commit`) is made durable in its directory, and so is every
    /// directory created for it. The index, written next, then never records a file whose
    /// directory entry a power cut can take away, which recovery would take for a deletion by
    /// hand. Replacing a file the index lists needs no directory sync: its name is durable
    /// already, and what a power cut leaves of its content is recovery's to judge.
    fn write_file(
        &self,
        rela: &str,
        bytes: &[u8],
        index: &gix::index::File,
    ) -> Result<Stat, Error> {
        let dir = rela.rsplit_once('/').map_or("", |(dir, _)| dir);
        let created = durable::create_dirs_below(self.root, dir, self.sharing.dir_mode())?;
        let dest = self.abs(rela);
        let new_name = self.durability.syncs()
            && (!is_indexed(index, rela)
                || std::fs::symlink_metadata(&dest)
                    .is_err_and(|e| e.kind() == ErrorKind::NotFound));
        let tmp = dest.with_file_name(TMP_NAME);
        durable::replace_file(
            &tmp,
            &dest,
            bytes,
            self.sharing.file_mode(),
            Durability::Fast,
        )?;
        if self.durability.syncs() {
            let parents = created.iter().filter_map(|d| d.parent());
            let dest_dir = dest.parent().filter(|_| new_name);
            let dirs: BTreeSet<&Path> = parents.chain(dest_dir).collect();
            for dir in dirs {
                durable::sync_dir(dir)?;
            }
        }
        let meta =
            gix::index::fs::Metadata::from_path_no_follow(&dest).io_context("inspect", &dest)?;
        Ok(Stat::from_fs(&meta).unwrap_or_default())
    }

    /// Remove a document file, and the directories it leaves empty. With
    /// [`Durability::Full`] the removal (this one, or one made by hand of a file `index`
    /// lists) is made durable, in the nearest directory that remains, before the index
    /// forgets the file, for the reason [`Worktree::write_file`] gives.
    fn remove_file(&self, rela: &str, index: &gix::index::File) -> Result<(), Error> {
        let path = self.abs(rela);
        let removed = match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(e).io_context("remove", &path),
        };
        // Remove directories left empty, up to the root; a non-empty one stops the walk.
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        match dir {
            Some(remaining) if self.durability.syncs() && (removed || is_indexed(index, rela)) => {
                durable::sync_dir(remaining)
            }
            _ => Ok(()),
        }
    }

    /// Bring the working tree and index to HEAD after a crash: files that still hold a
    /// version committed at their path, or what a power cut left of one, are rewritten from
    /// HEAD; missing files too, with `restore_missing` (when the index shows the crash: a
    /// file deleted by hand while the index is current is an outside edit); anything else is
    /// an outside edit and left alone. Returns the paths repaired.
    pub(crate) fn repair(
        &self,
        repo: &gix::Repository,
        head: &Files,
        previous: &Files,
        index: &mut gix::index::File,
        restore_missing: bool,
    ) -> Result<Vec<String>, Error> {
        let indexed = Self::index_files(index);
        // The previous commit's paths too: a power cut can take the index away together with
        // the removal of a document that HEAD deleted, and then only `previous` still knows
        // that gitstate wrote the file that came back.
        let paths: BTreeSet<&String> = head
            .keys()
            .chain(indexed.keys())
            .chain(previous.keys())
            .collect();
        let mut repaired = Vec::new();
        let mut entries = Vec::new();
        let head_commit = crate::refs::read_branch(repo)?;
        for rela in paths {
            let want = head.get(rela).copied();
            // Lag is a version committed at this path: after a power cut the page cache may
            // have written back any earlier version of the file, however old. (A blob staged
            // by hand with `git add` never was committed, and is an outside edit.)
            let stale = |id: ObjectId| -> Result<bool, Error> {
                Ok(previous.get(rela) == Some(&id) || committed_at(repo, head_commit, rela, id)?)
            };
            let state = self.file_state(rela, index)?;
            let is_stale = match &state {
                FileState::Blob(id) if Some(*id) != want => {
                    stale(*id)?
                        || self.is_remnant_of(repo, rela, want)?
                        || self.is_remnant_of(repo, rela, previous.get(rela).copied())?
                }
                _ => false,
            };
            match (want, state) {
                (Some(want), FileState::Blob(id)) if id == want => {
                    // The index gains the name (it lagged): make the name durable first, as
                    // `write_file` does for the names it creates.
                    if self.durability.syncs()
                        && !indexed.contains_key(rela)
                        && let Some(dir) = self.abs(rela).parent()
                    {
                        durable::sync_dir(dir)?;
                    }
                    entries.push((rela.clone(), want, self.stat(rela)?));
                }
                (Some(want), FileState::Missing) if restore_missing => {
                    entries.push((rela.clone(), want, self.restore(repo, rela, want, index)?));
                    repaired.push(rela.clone());
                    crate::crashpoint::crash_point("during-recovery");
                }
                (Some(want), FileState::Blob(_)) if is_stale => {
                    entries.push((rela.clone(), want, self.restore(repo, rela, want, index)?));
                    repaired.push(rela.clone());
                    crate::crashpoint::crash_point("during-recovery");
                }
                (Some(want), _) => {
                    // An outside edit: keep the file, index HEAD's blob so git shows the edit.
                    entries.push((rela.clone(), want, Stat::default()));
                }
                (None, FileState::Blob(_)) if is_stale => {
                    self.remove_file(rela, index)?;
                    repaired.push(rela.clone());
                }
                (None, _) => {}
            }
        }
        let mut state = gix::index::State::new(gix::hash::Kind::Sha1);
        for (rela, id, stat) in &entries {
            state.dangerously_push_entry(
                *stat,
                *id,
                Flags::empty(),
                Mode::FILE,
                rela.as_str().into(),
            );
        }
        *index = gix::index::File::from_state(state, self.index_path());
        self.write_index(index)?;
        Ok(repaired)
    }

    /// Make the files at `paths` equal to HEAD (`head`): rewrite them from their blobs, or
    /// remove them when HEAD has none; then record them in the index.
    pub(crate) fn reset_paths(
        &self,
        repo: &gix::Repository,
        head: &Files,
        paths: &[String],
        index: &mut gix::index::File,
    ) -> Result<(), Error> {
        let mut entries = Vec::new();
        for rela in paths {
            match head.get(rela) {
                Some(id) => {
                    self.refuse_symlinked_parents(rela)?;
                    if let Ok(m) = std::fs::symlink_metadata(self.abs(rela))
                        && !m.is_file()
                    {
                        return Err(Error::Unsafe {
                            path: self.abs(rela),
                            reason: "is not a regular file",
                        });
                    }
                    let stat = self.restore(repo, rela, *id, index)?;
                    entries.push((rela.as_str(), *id, stat));
                }
                None => self.remove_file(rela, index)?,
            }
        }
        let touched: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
        index.remove_entries(|_, path, _| touched.contains(path.to_str_lossy().as_ref()));
        for (rela, id, stat) in entries {
            index.dangerously_push_entry(stat, id, Flags::empty(), Mode::FILE, rela.into());
        }
        self.write_index(index)
    }

    /// Whether the file at `rela` holds nothing that blob `id` (or, for `None`, an empty
    /// file) does not: no longer than the blob, and every byte either the blob's byte at that
    /// offset or zero. That is what a power cut leaves of a file gitstate wrote whose data had
    /// not all reached the disk (empty, cut short, or with zero-filled holes); replacing it
    /// with a committed version loses nothing, so it counts as lag, not as an outside edit.
    fn is_remnant_of(
        &self,
        repo: &gix::Repository,
        rela: &str,
        id: Option<ObjectId>,
    ) -> Result<bool, Error> {
        let bytes = self.read_file(rela)?;
        let Some(id) = id else {
            return Ok(bytes.is_empty());
        };
        let blob = crate::objects::find(repo, id, gix::objs::Kind::Blob)?;
        Ok(bytes.len() <= blob.data.len()
            && bytes
                .iter()
                .zip(blob.data.iter())
                .all(|(b, c)| *b == 0 || b == c))
    }

    fn stat(&self, rela: &str) -> Result<Stat, Error> {
        let path = self.abs(rela);
        let meta =
            gix::index::fs::Metadata::from_path_no_follow(&path).io_context("inspect", &path)?;
        Ok(Stat::from_fs(&meta).unwrap_or_default())
    }

    fn restore(
        &self,
        repo: &gix::Repository,
        rela: &str,
        id: ObjectId,
        index: &gix::index::File,
    ) -> Result<Stat, Error> {
        let blob = crate::objects::find(repo, id, gix::objs::Kind::Blob)?;
        self.write_file(rela, &blob.data, index)
    }

    /// Compare the working tree with HEAD: missing, modified and untracked document files.
    pub(crate) fn drift(
        &self,
        head: &Files,
        index: &gix::index::File,
    ) -> Result<Vec<Drift>, Error> {
        let mut drift = Vec::new();
        for (rela, want) in head {
            match self.file_state(rela, index)? {
                FileState::Blob(id) if id == *want => {}
                FileState::Missing => drift.push(Drift::Missing(rela.clone())),
                _ => drift.push(Drift::Modified(rela.clone())),
            }
        }
        let mut found = Vec::new();
        self.walk(self.root, "", &mut found, &mut |_| {})?;
        for rela in found {
            if !head.contains_key(&rela) {
                drift.push(Drift::Untracked(rela));
            }
        }
        Ok(drift)
    }

    /// Temporary files left by a crashed writer in the working tree.
    pub(crate) fn leftovers(&self) -> Result<Vec<PathBuf>, Error> {
        let mut left = Vec::new();
        self.walk(self.root, "", &mut Vec::new(), &mut |p| left.push(p))?;
        Ok(left)
    }

    /// Visit the working tree below `dir` (skipping `.git`): regular files go to `files`
    /// (relative paths), temporary files to `on_tmp`.
    fn walk(
        &self,
        dir: &Path,
        prefix: &str,
        files: &mut Vec<String>,
        on_tmp: &mut dyn FnMut(PathBuf),
    ) -> Result<(), Error> {
        let entries = std::fs::read_dir(dir).io_context("list directory", dir)?;
        for entry in entries {
            let entry = entry.io_context("list directory", dir)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                files.push(format!("{prefix}{}", name.to_string_lossy()));
                continue;
            };
            if prefix.is_empty() && name == ".git" {
                continue;
            }
            let rela = format!("{prefix}{name}");
            let file_type = entry.file_type().io_context("inspect", entry.path())?;
            if name == TMP_NAME && file_type.is_file() {
                on_tmp(entry.path());
            } else if file_type.is_dir() {
                self.walk(&entry.path(), &format!("{rela}/"), files, on_tmp)?;
            } else {
                files.push(rela);
            }
        }
        Ok(())
    }
}

/// Whether blob `id` was at `rela` in any commit of the branch's first-parent history, newest
/// first. Runs only for a file that differs from HEAD (after a crash, or an outside edit).
pub(crate) fn committed_at(
    repo: &gix::Repository,
    head: Option<ObjectId>,
    rela: &str,
    id: ObjectId,
) -> Result<bool, Error> {
    let mut next = head;
    while let Some(commit) = next {
        let info = crate::log::read_commit(repo, commit)?;
        if crate::snapshot::blob_in_tree(repo, info.tree, rela)? == Some(id) {
            return Ok(true);
        }
        next = info.parent;
    }
    Ok(false)
}

/// The id git gives `bytes` as a blob.
pub(crate) fn blob_id(bytes: &[u8]) -> Result<ObjectId, Error> {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .git_context(|| "hash blob".to_owned())
}

fn stat_options() -> gix::index::entry::stat::Options {
    gix::index::entry::stat::Options {
        trust_ctime: true,
        check_stat: true,
        use_nsec: true,
        use_stdev: false,
    }
}

/// Whether a file's stat may not tell a change apart (modified in the same instant the index
/// was written), as git's "racy git" rule.
fn is_racy(stat: &Stat, index: &gix::index::File) -> bool {
    let ts = index.timestamp();
    let secs = i64::from(stat.mtime.secs);
    ts.unix_seconds() < secs || (ts.unix_seconds() == secs && ts.nanoseconds() <= stat.mtime.nsecs)
}
