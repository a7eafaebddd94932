//! File-system primitives with explicit durability: atomic file replacement and directory syncs.
//!
//! gix never calls fsync, so every sync the store relies on is made here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext};

/// How hard a write works to survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every file and directory that an acknowledged write depends on is synced before the
    /// write returns. A crash or power cut leaves the store at the last acknowledged write
    /// (or the one in flight).
    #[default]
    Full,
    /// No fsync at all. Atomic against a process crash (SIGKILL), **not** against a power cut
    /// or kernel crash, which may lose recent writes or leave the branch pointing at objects that
    /// never reached the disk. For throwaway state and tests.
    Fast,
}

/// How [`Durability::Full`] makes a write's objects durable before the branch moves.
///
/// Either way the guarantee is the same; they differ in cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncMethod {
    /// One `syncfs(2)` over the store's file system: a single call for all objects, their
    /// directories and the ref lock file. It also flushes other programs' unwritten data on
    /// the same file system, so a write can wait for them.
    FileSystem,
    /// `fsync` of every object file, every directory that gained an entry, and the ref lock
    /// file, after starting the writeback of all of them at once, so that a journaling file
    /// system commits them together; depends on nothing else the machine writes. The
    /// default, and measured faster than `FileSystem`.
    #[default]
    PerFile,
}

impl Durability {
    pub(crate) fn syncs(self) -> bool {
        self == Durability::Full
    }
}

/// Sync a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io_context("sync directory", dir)
}

/// Create `path` exclusively with exactly `mode`, removing a leftover at that name first.
///
/// Callers hold the store lock, so a file at `path` is a leftover of a crashed writer.
pub(crate) fn create_exclusive(path: &Path, mode: u32) -> Result<File, Error> {
    let open = || create_new(path, mode);
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(path).io_context("remove leftover temporary file", path)?;
            open().io_context("create", path)
        }
        other => other.io_context("create", path),
    }
}

/// Create the file `path`, which must not exist, with exactly `mode`: `open(2)` applies the
/// umask, which could take away bits a shared store needs, so the mode is set again on the
/// open file (before anything is written to it).
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(path)?;
    if let Err(e) = file.set_permissions(fs::Permissions::from_mode(mode)) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(file)
}

/// Create the directory `path` (its parent must exist) with exactly `mode`, which the umask
/// does not weaken. Fails with `AlreadyExists` when it exists, leaving it alone.
pub(crate) fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // Created with no more than the permission bits, then set exactly (the setgid bit of a
    // shared store's directories, and bits the umask took away).
    fs::DirBuilder::new().mode(mode & 0o777).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Write `bytes` to `tmp` (created exclusively), sync it when `durability` asks, and rename it
/// to `dest`. The directory is *not* synced here: callers batch directory syncs.
///
/// On crash: `dest` holds either its old content or all of `bytes`, never a mix; with
/// [`Durability::Full`] the new content is on disk before it becomes visible at `dest`.
pub(crate) fn replace_file(
    tmp: &Path,
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    durability: Durability,
) -> Result<(), Error> {
    let mut file = create_exclusive(tmp, mode)?;
    file.write_all(bytes).io_context("write", tmp)?;
    if durability.syncs() {
        file.sync_data().io_context("sync", tmp)?;
    }
    drop(file);
    fs::rename(tmp, dest).io_context("rename into place", dest)
}

/// Create `dir` and its missing parents below `root` with `mode`, refusing symlinks.
///
/// Returns the directories that were created, so the caller can sync their parents.
pub(crate) fn create_dirs_below(
    root: &Path,
    rela_dir: &str,
    mode: u32,
) -> Result<Vec<PathBuf>, Error> {
    let mut created = Vec::new();
    let mut current = root.to_path_buf();
    for segment in rela_dir.split('/').filter(|s| !s.is_empty()) {
        current.push(segment);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::Unsafe {
                    path: current,
                    reason: "is a symlink; gitstate never follows links out of the store",
                });
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::Unsafe {
                    path: current,
                    reason: "is a file where a directory is needed",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_dir(&current, mode).io_context("create directory", &current)?;
                created.push(current.clone());
            }
            Err(e) => return Err(e).io_context("inspect", &current),
        }
    }
    Ok(created)
}

/// Make every file (or directory) in `items` durable, as one group.
///
/// First writeback of every file's data is started at once (`posix_fadvise(DONTNEED)` writes
/// dirty pages out without waiting), so that a journaling file system allocates all their
/// blocks in one transaction; then each item is `fsync`ed in turn. The first `fsync` commits
/// that transaction; the others find their data on disk already and return quickly. Every
/// item is still `fsync`ed on its own: the guarantee rests on the POSIX rule, not on how a
/// journal orders things.
///
/// Measured on journaled ext4: as fast as issuing the `fsync`s concurrently from a thread
/// pool, and without starting threads (which costs a one-shot process like the CLI about
/// 0.4 ms). Without the writeback hint, each small file's blocks were allocated only by its
/// own `fsync`, one journal commit after another.
pub(crate) fn sync_all_together(items: &[(&File, &Path)]) -> Result<(), Error> {
    for (file, _) in items {
        // Only a hint: where it fails the fsync below still does all the work.
        let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    }
    for (file, path) in items {
        file.sync_all().io_context("sync", *path)?;
    }
    Ok(())
}
