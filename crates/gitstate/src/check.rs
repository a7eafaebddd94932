//! Looking at a store without changing it: `status` (lock, drift, leftovers) and `verify`
//! (every reachable object readable and intact, every document valid).

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use gix::ObjectId;
use gix::bstr::ByteSlice;

use crate::canonical;
use crate::error::Error;
use crate::lock::{self, LockState};
use crate::name::DocName;
use crate::refs;
use crate::snapshot::Snapshot;
use crate::store::Store;
pub use crate::worktree::Drift;

/// The state of a store beyond its documents.
#[derive(Debug, Clone)]
pub struct Status {
    /// The branch's commit.
    pub head: Option<ObjectId>,
    /// Who holds the store lock, if anyone.
    pub lock: LockState,
    /// How the working tree differs from HEAD.
    pub drift: Vec<Drift>,
    /// Lock and temporary files left by crashed writers (removed by the next write or
    /// `recover`).
    pub leftovers: Vec<PathBuf>,
    /// A warning about the file system the store is on (network file systems may not
    /// honour the lock or fsync).
    pub filesystem_warning: Option<String>,
}

impl Store {
    /// Report the lock holder, working-tree drift and leftovers. Changes nothing.
    ///
    /// # Errors
    /// Unreadable refs, objects or directories.
    pub fn status(&self) -> Result<Status, Error> {
        let repo = self.repo();
        let head = refs::read_branch(&repo)?;
        let files = Snapshot::new(repo, head, None)?.files()?;
        let wt = self.worktree();
        let index = wt.load_index()?;
        let lock = lock::state(self.git_dir())?;
        // While a writer holds the lock, its own temporary files are not leftovers.
        let leftovers = if matches!(lock, LockState::Held(_)) {
            Vec::new()
        } else {
            self.leftovers(matches!(lock, LockState::Stale(_)))?
        };
        Ok(Status {
            head,
            lock,
            drift: wt.drift(&files, &index)?,
            leftovers,
            filesystem_warning: filesystem_warning(self.git_dir()),
        })
    }

    /// Check the store: HEAD and the branch are sane, every object reachable from the branch
    /// can be read and hashes to its id, and every file at HEAD is a valid document. Returns
    /// the problems found, each naming the object, ref or path; empty means healthy.
    ///
    /// # Errors
    /// Only when the store cannot be inspected at all.
    pub fn verify(&self) -> Result<Vec<String>, Error> {
        let mut problems = Vec::new();
        let repo = self.repo();
        let head = match refs::read_branch(&repo) {
            Ok(h) => h,
            Err(e) => {
                problems.push(format!("{}: {e}", refs::BRANCH));
                return Ok(problems);
            }
        };
        for path in symlinks_below(self.root()) {
            problems.push(format!(
                "{}: a symlink inside the store; gitstate never follows it (remove it)",
                path.display()
            ));
        }
        for path in crate::objects::empty_loose_objects(&self.git_dir().join("objects"), None)? {
            problems.push(format!(
                "{}: empty object file, left by an interrupted write (`gitstate recover` removes it)",
                path.display()
            ));
        }
        let mut seen = HashSet::new();
        let mut commits: Vec<ObjectId> = head.into_iter().collect();
        while let Some(id) = commits.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(data) = read_checked(&repo, id, gix::objs::Kind::Commit, &mut problems) else {
                continue;
            };
            match gix::objs::CommitRef::from_bytes(&data, gix::hash::Kind::Sha1) {
                Ok(c) => {
                    commits.extend(c.parents());
                    check_tree(&repo, c.tree(), "", &mut seen, &mut problems);
                }
                Err(e) => problems.push(format!("commit {id}: cannot decode: {e}")),
            }
        }
        if let Some(head) = head {
            let snapshot = Snapshot::new(repo, Some(head), None)?;
            let files = snapshot.files()?;
            let mut names = BTreeSet::new();
            for (path, id) in &files {
                let Some(name) = DocName::from_rela_path(path) else {
                    problems.push(format!(
                        "{path}: not a document (names must match the document-name rules and end in .json)"
                    ));
                    continue;
                };
                match snapshot.get_bytes(&name) {
                    Ok(Some(bytes)) => {
                        if let Err(e) = canonical::parse(&bytes) {
                            problems.push(format!("{path} (blob {id}): invalid JSON: {e}"));
                        }
                    }
                    Ok(None) => problems.push(format!("{path}: listed but unreadable")),
                    Err(e) => problems.push(format!("{path}: {e}")),
                }
                names.insert(name);
            }
        }
        Ok(problems)
    }
}

/// Every symlink below `dir`, which is not followed.
fn symlinks_below(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            match entry.file_type() {
                Ok(t) if t.is_symlink() => found.push(entry.path()),
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// Read object `id`, check its kind and that its content hashes to `id`.
fn read_checked(
    repo: &gix::Repository,
    id: ObjectId,
    kind: gix::objs::Kind,
    problems: &mut Vec<String>,
) -> Option<Vec<u8>> {
    match repo.find_object(id) {
        Ok(object) => {
            if object.kind != kind {
                problems.push(format!(
                    "object {id}: expected a {kind}, found a {}",
                    object.kind
                ));
                return None;
            }
            match gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, &object.data) {
                Ok(actual) if actual == id => Some(object.data.clone()),
                Ok(actual) => {
                    problems.push(format!("{kind} {id}: content hashes to {actual} (corrupt)"));
                    None
                }
                Err(e) => {
                    problems.push(format!("{kind} {id}: cannot hash: {e}"));
                    None
                }
            }
        }
        Err(e) => {
            problems.push(format!("{kind} {id}: missing or unreadable: {e}"));
            None
        }
    }
}

fn check_tree(
    repo: &gix::Repository,
    id: ObjectId,
    prefix: &str,
    seen: &mut HashSet<ObjectId>,
    problems: &mut Vec<String>,
) {
    if !seen.insert(id) {
        return;
    }
    let Some(data) = read_checked(repo, id, gix::objs::Kind::Tree, problems) else {
        return;
    };
    let tree = match gix::objs::TreeRef::from_bytes(&data, gix::hash::Kind::Sha1) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("tree {id} ({prefix}): cannot decode: {e}"));
            return;
        }
    };
    for entry in &tree.entries {
        let path = format!("{prefix}{}", entry.filename.to_str_lossy());
        let oid = entry.oid.to_owned();
        if entry.mode.is_tree() {
            check_tree(repo, oid, &format!("{path}/"), seen, problems);
        } else if entry.mode.is_blob() {
            if seen.insert(oid) {
                read_checked(repo, oid, gix::objs::Kind::Blob, problems);
            }
        } else {
            problems.push(format!(
                "{path}: unexpected entry mode (symlink or submodule)"
            ));
        }
    }
}

/// A warning when `dir` is on a network or FUSE file system, where `flock` and `fsync` may
/// not do what gitstate relies on.
pub(crate) fn filesystem_warning(dir: &std::path::Path) -> Option<String> {
    let stat = rustix::fs::statfs(dir).ok()?;
    // The magic numbers are 32-bit; the field's width varies by platform.
    #[allow(clippy::unnecessary_cast)]
    let magic = (stat.f_type as u64 & 0xffff_ffff) as u32;
    let kind = match magic {
        0x6969 => "NFS",
        0x517b => "SMB",
        0xff53_4d42 => "CIFS",
        0xfe53_4d42 => "SMB2",
        0x6573_5546 => "FUSE",
        0x0102_1997 => "9P",
        _ => return None,
    };
    Some(format!(
        "the store is on a {kind} file system: file locks and fsync may not be honoured there, so concurrent writers could lose updates and a crash could lose acknowledged writes"
    ))
}
