//! The store: creating and opening one, and the front door for reading and writing documents.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gix::ObjectId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::durable::{self, Durability, SyncMethod};
use crate::error::{Error, IoContext};
use crate::lock::{LockState, StoreLock};
use crate::migrate::Schema;
use crate::migration::OldVersionWrites;
use crate::name::{DocName, InvalidName};
use crate::patch;
use crate::permissions::{self, Sharing};
use crate::refs;
use crate::snapshot::Snapshot;
use crate::transaction::{Change, Transaction, WriteOutcome, WriteSpec};
use crate::worktree::Worktree;

/// Settings for opening a store; every field has a default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// How hard writes work to survive a power cut. Default: [`Durability::Full`].
    pub durability: Durability,
    /// How long a write waits for the store lock before failing with [`Error::Locked`].
    /// Default: 10 seconds.
    pub lock_timeout: Duration,
    /// Commit identity as `Name <email>`; default: `GITSTATE_AUTHOR`, then the store's
    /// `user.name`/`user.email`, then [`crate::DEFAULT_AUTHOR`].
    pub author: Option<String>,
    /// Fixed commit time; default: `GITSTATE_COMMIT_TIME`, then the current time.
    pub commit_time: Option<gix::date::Time>,
    /// How full durability syncs a write's objects. Default: [`SyncMethod::PerFile`];
    /// `GITSTATE_SYNC_METHOD=syncfs` selects [`SyncMethod::FileSystem`].
    pub sync_method: SyncMethod,
    /// Schemas defined in Rust (in addition to the store's schema file).
    pub schemas: Vec<Arc<Schema>>,
    /// What a write of a document at an old schema version does. Default: migrate it.
    pub old_version_writes: OldVersionWrites,
    /// Start `git gc --auto` in the background about once every 256 commits (when git is
    /// installed). Default: on; `GITSTATE_MAINTENANCE=off` turns it off.
    pub maintenance: bool,
    /// Who besides the owner may use a store that [`Store::init`] creates. Default:
    /// [`Sharing::Private`]. Only init reads this: it records the choice in the store's git
    /// config, and every open (whatever its options say) uses what the store recorded.
    pub sharing: Sharing,
    /// Whether [`Store::open`] looks for what a crash left behind and repairs it (when no
    /// writer holds the lock). Default: on. A program that opens a store only to write can
    /// turn it off: every write repairs the same under the store lock before it starts (a
    /// lagging working tree or index, stale lock files, and, after a writer died holding the
    /// lock or a power cut, temporary and empty object files). The CLI does so for the
    /// commands that write.
    pub recover_on_open: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Full,
            lock_timeout: Duration::from_secs(10),
            author: None,
            commit_time: None,
            sync_method: match std::env::var("GITSTATE_SYNC_METHOD").as_deref() {
                Ok("syncfs") => SyncMethod::FileSystem,
                _ => SyncMethod::default(),
            },
            schemas: Vec::new(),
            old_version_writes: OldVersionWrites::default(),
            maintenance: std::env::var("GITSTATE_MAINTENANCE").map_or(true, |v| v != "off"),
            sharing: Sharing::default(),
            recover_on_open: true,
        }
    }
}

impl Options {
    /// Set [`Options::durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Set [`Options::lock_timeout`].
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Set [`Options::author`] (`Name <email>`).
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    /// Add a schema defined in Rust.
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schemas.push(Arc::new(schema));
        self
    }

    /// Set [`Options::old_version_writes`].
    pub fn old_version_writes(mut self, what: OldVersionWrites) -> Self {
        self.old_version_writes = what;
        self
    }

    /// Set [`Options::maintenance`].
    pub fn maintenance(mut self, on: bool) -> Self {
        self.maintenance = on;
        self
    }

    /// Set [`Options::sync_method`].
    pub fn sync_method(mut self, method: SyncMethod) -> Self {
        self.sync_method = method;
        self
    }

    /// Set [`Options::commit_time`].
    pub fn commit_time(mut self, time: gix::date::Time) -> Self {
        self.commit_time = Some(time);
        self
    }

    /// Set [`Options::recover_on_open`].
    pub fn recover_on_open(mut self, on: bool) -> Self {
        self.recover_on_open = on;
        self
    }

    /// Set [`Options::sharing`]: who besides the owner may use a store created with these
    /// options.
    pub fn shared(mut self, sharing: Sharing) -> Self {
        self.sharing = sharing;
        self
    }
}

/// Whether [`Store::init`] created the store or found one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// A new store was created.
    Created,
    /// A store already existed there; nothing was changed.
    Existed,
}

/// A gitstate store: a directory holding a git repository whose branch `main` holds one JSON
/// file per document.
///
/// `Store` is `Send + Sync`; clone-free sharing across threads is fine. Any number of
/// processes may open the same store: writes are serialized by the store lock, reads never
/// wait.
///
/// The first write of a large document (64 KiB or more) starts four threads
/// (`gitstate-pool`), kept for the life of the process, which compress large blobs and free
/// large values beside the writing thread; a process that writes only smaller documents
/// starts none.
pub struct Store {
    root: PathBuf,
    git_dir: PathBuf,
    repo: gix::ThreadSafeRepository,
    options: Options,
    /// What the store's config records; decides the mode of every file written.
    sharing: Sharing,
    /// Objects already read (immutable, so never stale).
    cache: Arc<crate::cache::ObjectCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

/// A git lock file older than this is a leftover, whoever made it: git holds its locks for
/// milliseconds.
const STALE_AFTER: Duration = Duration::from_secs(60);

const EXCLUDE: &str = "# temporary files of gitstate writers\n.gitstate-tmp\n";
const CONFIG: &str = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n";

impl Store {
    /// Create a store in `dir` (created if missing; it must be empty), with one initial commit
    /// of the empty state. On an existing store, change nothing and report
    /// [`InitOutcome::Existed`].
    ///
    /// Crash safety: the git directory is assembled under a temporary name and renamed into
    /// place, so a crash leaves either no store or a complete one.
    ///
    /// Permissions: everything init creates, `dir` included when init creates it, gets the
    /// modes of [`Options::sharing`], which is recorded in the store's config. A shared store
    /// adds the group's (and for [`Sharing::All`] everyone's) bits to an existing `dir`, where
    /// its documents live; an existing store keeps the sharing it recorded.
    ///
    /// # Errors
    /// A non-empty directory that is not a store, or I/O errors.
    pub fn init(dir: impl AsRef<Path>, options: Options) -> Result<(Store, InitOutcome), Error> {
        let root = dir.as_ref();
        if root.join(".git").exists() {
            let store = Store::open(root, options)?;
            if store.head()?.is_none() {
                // A crash after the git directory was renamed into place, before the first
                // commit: finish the job.
                store.write_initial_commit()?;
            }
            return Ok((store, InitOutcome::Existed));
        }
        let sharing = options.sharing;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).io_context("create directory", parent)?;
        }
        match durable::create_dir(root, sharing.dir_mode()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && root.is_dir() => {
                // A directory of the user's: a private store leaves its mode alone; a shared
                // one adds what the group needs (documents are written there), as git does.
                if sharing != Sharing::Private {
                    use std::os::unix::fs::PermissionsExt;
                    let meta = std::fs::metadata(root).io_context("inspect", root)?;
                    let current = meta.permissions().mode() & 0o7777;
                    let wanted = current | sharing.dir_mode();
                    if wanted != current {
                        std::fs::set_permissions(root, std::fs::Permissions::from_mode(wanted))
                            .io_context("set permissions of", root)?;
                    }
                }
            }
            Err(e) => return Err(e).io_context("create store directory", root),
        }
        let building = root.join(".git.gitstate-init");
        if building.exists() {
            std::fs::remove_dir_all(&building)
                .io_context("remove unfinished store skeleton", &building)?;
        }
        let mut entries = std::fs::read_dir(root).io_context("list directory", root)?;
        if let Some(entry) = entries.next() {
            let entry = entry.io_context("list directory", root)?;
            return Err(Error::NotAStore {
                path: root.to_path_buf(),
                reason: format!(
                    "directory is not empty (has {:?}); a store needs a directory of its own",
                    entry.file_name()
                ),
            });
        }
        write_skeleton(&building, options.durability, sharing)?;
        let git_dir = root.join(".git");
        std::fs::rename(&building, &git_dir).io_context("rename into place", &git_dir)?;
        if options.durability.syncs() {
            durable::sync_dir(root)?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                durable::sync_dir(parent)?;
            }
        }
        let store = Store::open(root, options)?;
        store.write_initial_commit()?;
        Ok((store, InitOutcome::Created))
    }

    /// Open the store in `dir`. When a crash left the working tree behind the branch, and no
    /// writer holds the lock, the lag is repaired (see [`Store::recover`]).
    ///
    /// # Errors
    /// [`Error::NotAStore`] when `dir` holds no gitstate store.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Store, Error> {
        let root = dir.as_ref().to_path_buf();
        let git_dir = root.join(".git");
        let not_a_store = |reason: String| Error::NotAStore {
            path: root.clone(),
            reason,
        };
        match std::fs::symlink_metadata(&git_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(not_a_store(".git is not a directory".into())),
            Err(_) => {
                return Err(not_a_store(
                    "no .git directory (create one with init)".into(),
                ));
            }
        }
        let head = std::fs::read_to_string(git_dir.join("HEAD"))
            .map_err(|e| not_a_store(format!("cannot read .git/HEAD: {e}")))?;
        if head.trim() != format!("ref: {}", refs::BRANCH) {
            return Err(not_a_store(format!(
                ".git/HEAD must point at {}, found {:?}",
                refs::BRANCH,
                head.trim()
            )));
        }
        let repo = open_repository(&git_dir)
            .map_err(|e| not_a_store(format!("git cannot open it: {e}")))?;
        if repo.work_tree.is_none() {
            return Err(not_a_store("the repository is bare".into()));
        }
        let sharing = {
            let local = repo.to_thread_local();
            let config = local.config_snapshot();
            let value = config.plumbing().string_implicit(permissions::CONFIG_KEY);
            Sharing::from_config(value.as_ref().map(|v| v.as_ref().map(|v| v.as_ref())))?
        };
        let store = Store {
            root,
            git_dir,
            repo,
            options,
            sharing,
            cache: Arc::default(),
        };
        // Reads never depend on the working tree, so a repair that cannot be done now (it is
        // retried, and reported, by the next write) does not stop the store from opening.
        if store.options.recover_on_open {
            let _ = store.recover_if_free();
        }
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store's git directory.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Who besides the owner may use the store, as its config records (see [`Sharing`]).
    pub fn sharing(&self) -> Sharing {
        self.sharing
    }

    pub(crate) fn repo(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    pub(crate) fn worktree(&self) -> Worktree<'_> {
        Worktree {
            root: &self.root,
            git_dir: &self.git_dir,
            sharing: self.sharing,
            durability: self.options.durability,
        }
    }

    /// The commit the branch points at; `None` for an empty repository.
    ///
    /// # Errors
    /// An unreadable ref.
    pub fn head(&self) -> Result<Option<ObjectId>, Error> {
        refs::read_branch(&self.repo())
    }

    /// A consistent read-only view of the current state.
    ///
    /// # Errors
    /// An unreadable ref or commit.
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        let repo = self.repo();
        let head = refs::read_branch(&repo)?;
        Snapshot::cached(repo, head, None, Arc::clone(&self.cache))
    }

    /// The store's cache of objects already read (or written).
    pub(crate) fn cache(&self) -> &crate::cache::ObjectCache {
        &self.cache
    }

    /// A view of `commit`, read through the store's object cache.
    pub(crate) fn snapshot_of(
        &self,
        repo: &gix::Repository,
        commit: Option<ObjectId>,
    ) -> Result<Snapshot, Error> {
        Snapshot::cached(repo.clone(), commit, None, Arc::clone(&self.cache))
    }

    /// A read-only view at a git revision (`HEAD~2`, a commit id, an abbreviated id, …).
    ///
    /// # Errors
    /// [`Error::Revision`] when `rev` does not resolve to a commit.
    pub fn snapshot_at(&self, rev: &str) -> Result<Snapshot, Error> {
        let repo = self.repo();
        let id = crate::revision::resolve(&repo, rev)?;
        Snapshot::cached(
            repo,
            Some(id),
            Some(rev.to_owned()),
            Arc::clone(&self.cache),
        )
    }

    /// The current value of a document, deserialized into `T`; `None` when it does not exist.
    ///
    /// # Errors
    /// See [`Snapshot::get`].
    pub fn get<T, N>(&self, name: N) -> Result<Option<T>, Error>
    where
        T: DeserializeOwned,
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.snapshot()?.get(name)
    }

    /// The current value of a document as JSON; `None` when it does not exist.
    ///
    /// # Errors
    /// See [`Snapshot::get_value`].
    pub fn get_value<N>(&self, name: N) -> Result<Option<Value>, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.snapshot()?.get_value(name)
    }

    /// The names of all current documents, sorted.
    ///
    /// # Errors
    /// Unreadable objects.
    pub fn list(&self) -> Result<Vec<DocName>, Error> {
        self.snapshot()?.list()
    }

    /// Start a transaction: staged edits to any number of documents, written as one commit.
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction::new(self)
    }

    /// Store `value` (anything serde can serialize) as document `name`: one commit, or none
    /// when the stored value is already equal.
    ///
    /// # Errors
    /// Invalid name, a value that does not serialize, [`Error::Locked`], [`Error::Conflict`],
    /// [`Error::OutsideEdit`], I/O errors.
    pub fn set<T, N>(&self, name: N, value: &T) -> Result<WriteOutcome, Error>
    where
        T: Serialize + ?Sized,
        N: TryInto<DocName, Error = InvalidName>,
    {
        let mut tx = self.transaction();
        tx.set(name, value)?;
        tx.commit()
    }

    /// One staged edit, committed with `message` if given.
    fn commit_one(
        &self,
        message: Option<&str>,
        stage: impl FnOnce(&mut Transaction<'_>) -> Result<(), Error>,
    ) -> Result<WriteOutcome, Error> {
        let mut tx = self.transaction();
        stage(&mut tx)?;
        if let Some(m) = message {
            tx.message(m);
        }
        tx.commit()
    }

    /// Store a JSON value as document `name`, with an optional commit message.
    ///
    /// # Errors
    /// As [`Store::set`].
    pub fn set_value<N>(
        &self,
        name: N,
        value: Value,
        message: Option<&str>,
    ) -> Result<WriteOutcome, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.commit_one(message, |tx| tx.set_value(name, value).map(drop))
    }

    /// Store JSON `text` as document `name`, as [`Transaction::set_json`]: the text is
    /// brought to canonical form without a tree of values, so memory stays near its size.
    ///
    /// # Errors
    /// [`Error::InvalidJson`]; otherwise as [`Store::set`].
    pub fn set_json<N>(
        &self,
        name: N,
        text: &[u8],
        message: Option<&str>,
    ) -> Result<WriteOutcome, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.commit_one(message, |tx| tx.set_json(name, text).map(drop))
    }

    /// Delete document `name`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it does not exist; otherwise as [`Store::set`].
    pub fn delete<N>(&self, name: N, message: Option<&str>) -> Result<WriteOutcome, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.commit_one(message, |tx| tx.delete(name).map(drop))
    }

    /// Read-modify-write under the store lock: `f` gets the current value (`None` when the
    /// document does not exist) and returns the new one. No other writer can interleave, so
    /// no update is lost. When `f` fails, nothing is written.
    ///
    /// # Errors
    /// [`Error::Callback`] with `f`'s error; otherwise as [`Store::set`].
    pub fn update_value<N, F, E>(
        &self,
        name: N,
        message: Option<&str>,
        f: F,
    ) -> Result<WriteOutcome, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
        F: FnOnce(Option<Value>) -> Result<Value, E>,
        E: Into<crate::error::BoxError>,
    {
        let name = name.try_into()?;
        self.write(WriteSpec::new("update", message), |snapshot| {
            let current = snapshot.get_value(&name)?;
            let new = f(current).map_err(|e| Error::Callback {
                name: name.to_string(),
                source: e.into(),
            })?;
            Ok(vec![(name, Change::Put(new))])
        })
    }

    /// Typed read-modify-write: `f` gets the current value (`None` when missing) and returns
    /// the new one.
    ///
    /// # Errors
    /// As [`Store::update_value`], and [`Error::Type`] when the stored value does not fit `T`.
    pub fn update<T, N, F>(&self, name: N, f: F) -> Result<WriteOutcome, Error>
    where
        T: Serialize + DeserializeOwned,
        N: TryInto<DocName, Error = InvalidName>,
        F: FnOnce(Option<T>) -> T,
    {
        let name = name.try_into()?;
        self.write(WriteSpec::new("update", None), |snapshot| {
            let current = snapshot.get::<T, _>(&name)?;
            let new = to_value(&name, &f(current))?;
            Ok(vec![(name, Change::Put(new))])
        })
    }

    /// Apply an RFC 7396 merge patch to a document (a missing document counts as `null`).
    ///
    /// # Errors
    /// As [`Store::set`].
    pub fn merge_patch<N>(
        &self,
        name: N,
        merge_patch: &Value,
        message: Option<&str>,
    ) -> Result<WriteOutcome, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        let name = name.try_into()?;
        self.write(WriteSpec::new("patch", message), |snapshot| {
            let current = snapshot.get_value(&name)?.unwrap_or(Value::Null);
            let new = patch::apply_merge_patch(&current, merge_patch);
            Ok(vec![(name, Change::Put(new))])
        })
    }

    /// Apply an RFC 6902 JSON Patch to an existing document; all operations or none.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Patch`] naming the failing operation; otherwise as
    /// [`Store::set`].
    pub fn json_patch<N>(
        &self,
        name: N,
        json_patch: &Value,
        message: Option<&str>,
    ) -> Result<WriteOutcome, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        let name = name.try_into()?;
        self.write(WriteSpec::new("patch", message), |snapshot| {
            let current = snapshot
                .get_value(&name)?
                .ok_or_else(|| snapshot.not_found(&name))?;
            let new =
                patch::apply_json_patch(&current, json_patch).map_err(|source| Error::Patch {
                    name: name.to_string(),
                    source,
                })?;
            Ok(vec![(name, Change::Put(new))])
        })
    }

    /// Repair what a crash left behind, under the store lock: stale lock files and temporary
    /// files of crashed writers, and a working tree or index that lags the branch. Returns the
    /// document files that were rewritten. Files edited outside gitstate are never touched.
    ///
    /// # Errors
    /// [`Error::Locked`] when the lock is not free within the timeout; I/O errors.
    pub fn recover(&self) -> Result<Vec<String>, Error> {
        let lock = StoreLock::acquire(
            &self.git_dir,
            self.sharing,
            "recover",
            self.options.lock_timeout,
        )?;
        crate::objects::remove_empty_loose_objects(&self.git_dir.join("objects"), None)?;
        refs::restore_from_reflog(&self.repo(), self.sharing, self.options.durability)?;
        self.recover_locked(&self.repo(), true, lock.previous_holder_died)
            .map(|r| r.repaired)
    }

    /// Recover on open, but only when no writer holds the lock: readers never wait.
    fn recover_if_free(&self) -> Result<(), Error> {
        let repo = self.repo();
        // A holder record in a lock nobody holds: a writer died holding it (killed, crashed,
        // or the machine lost power). After a power cut its unsynced object files may be
        // empty; they are unreferenced (the branch only moves after the sync), but git fsck
        // would report them.
        let died_holding = matches!(crate::lock::state(&self.git_dir)?, LockState::Stale(_));
        if !died_holding && !self.needs_recovery(&repo)? {
            return Ok(());
        }
        match StoreLock::acquire(&self.git_dir, self.sharing, "recover", Duration::ZERO) {
            Ok(lock) => self
                .recover_after_crash(&repo, died_holding || lock.previous_holder_died, true)
                .map(|_| ()),
            Err(Error::Locked { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Recovery under the lock, including what only a crash leaves: after a writer `died`
    /// holding the lock or a power cut, empty object files (after a power cut the holder
    /// record itself may be lost: the directories changed since the branch last moved are
    /// searched whenever a power cut can have happened since) and temporary files. With
    /// `full`, temporary files are looked for in any case. See [`Store::recover_locked`].
    pub(crate) fn recover_after_crash(
        &self,
        repo: &gix::Repository,
        died: bool,
        full: bool,
    ) -> Result<Recovered, Error> {
        if died {
            // First: a failure below must not leave the dead writer's git locks, which only
            // its holder record (overwritten by this lock) shows to be stale.
            remove_files(&self.stale_lock_files(true))?;
        }
        let since = self.branch_changed();
        // With either time unknown, a power cut is a guess that would search every object
        // directory: made for a recovery that was asked for (`full`), not before every write.
        let power_cut = match (since, boot_time()) {
            (Some(changed), Some(booted)) => changed < booted,
            _ => full,
        };
        if died || power_cut {
            let since = if died { None } else { since };
            crate::objects::remove_empty_loose_objects(&self.git_dir.join("objects"), since)?;
        }
        self.recover_locked(repo, full || died || power_cut, died)
    }

    /// When the branch's ref file was last written (`None` when it is not a loose ref).
    fn branch_changed(&self) -> Option<std::time::SystemTime> {
        std::fs::symlink_metadata(self.git_dir.join(refs::BRANCH))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Whether the machine can have lost power since the branch last moved: its ref file was
    /// written before this boot (or either time is unknown). Only a power cut leaves empty
    /// object files (a killed process's writes stay in the page cache, and its holder record
    /// in the lock file says it died), so only then are the object directories searched on
    /// open — a search that stats every fan-out directory, about a third of the time a CLI
    /// command spent opening the store.
    fn power_cut_possible(&self) -> bool {
        match (self.branch_changed(), boot_time()) {
            (Some(changed), Some(booted)) => changed < booted,
            _ => true,
        }
    }

    /// A cheap check for leftovers of a crash.
    fn needs_recovery(&self, repo: &gix::Repository) -> Result<bool, Error> {
        if !self.lock_files().is_empty() || self.has_object_tmp_files()? {
            return Ok(true);
        }
        if self.power_cut_possible()
            && let Some(since) = self.branch_changed()
            && !crate::objects::empty_loose_objects(&self.git_dir.join("objects"), Some(since))?
                .is_empty()
        {
            return Ok(true);
        }
        let wt = self.worktree();
        let Ok(index) = wt.load_index() else {
            return Ok(true);
        };
        let head = refs::read_branch(repo)?;
        let files = self.snapshot_of(repo, head)?.files()?;
        Ok(Worktree::index_files(&index) != files || wt.stat_differs(&index))
    }

    /// Recovery proper; the caller holds the lock. With `full`, also looks for temporary files
    /// of crashed writers (a directory scan); without, only for stale lock files, which is
    /// what a write needs before it starts.
    pub(crate) fn recover_locked(
        &self,
        repo: &gix::Repository,
        full: bool,
        writer_died: bool,
    ) -> Result<Recovered, Error> {
        if full {
            self.remove_leftovers(writer_died)?;
        } else {
            remove_files(&self.stale_lock_files(writer_died))?;
        }
        let wt = self.worktree();
        let mut index = wt.load_index().unwrap_or_else(|_| {
            gix::index::File::from_state(
                gix::index::State::new(gix::hash::Kind::Sha1),
                self.git_dir.join("index"),
            )
        });
        let head = refs::read_branch(repo)?;
        let snapshot = self.snapshot_of(repo, head)?;
        let files = snapshot.files()?;
        let index_lags = Worktree::index_files(&index) != files;
        if !index_lags && !wt.stat_differs(&index) {
            return Ok(Recovered {
                snapshot,
                files,
                index,
                repaired: Vec::new(),
            });
        }
        if !full {
            // A lagging index means a crash after the commit point; its temporary document
            // files may still be around.
            remove_files(&wt.leftovers()?)?;
        }
        let previous = match head {
            Some(id) => first_parent(repo, id)?,
            None => None,
        };
        let previous_files = self.snapshot_of(repo, previous)?.files()?;
        let repaired = wt.repair(
            repo,
            &files,
            &previous_files,
            &mut index,
            index_lags || writer_died,
        )?;
        Ok(Recovered {
            snapshot,
            files,
            index,
            repaired,
        })
    }

    fn object_tmp_files(&self) -> Result<Vec<PathBuf>, Error> {
        let objects = self.git_dir.join("objects");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&objects).io_context("list directory", &objects)? {
            let entry = entry.io_context("list directory", &objects)?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(crate::objects::TMP_PREFIX))
            {
                found.push(entry.path());
            }
        }
        Ok(found)
    }

    fn has_object_tmp_files(&self) -> Result<bool, Error> {
        Ok(!self.object_tmp_files()?.is_empty())
    }

    /// Git lock files that are present.
    fn lock_files(&self) -> Vec<PathBuf> {
        ["index.lock", "refs/heads/main.lock", "HEAD.lock"]
            .iter()
            .map(|l| self.git_dir.join(l))
            .filter(|p| p.exists())
            .collect()
    }

    /// Git lock files that are leftovers of a crashed gitstate writer. The caller holds the
    /// store lock. A lock file may also belong to a git process running right now (`git
    /// commit`, `git gc` packing refs); removing that one would break git's protocol. So a
    /// lock file counts as ours only when a gitstate writer is known to have died holding
    /// the store lock (`writer_died`), when it was made before this machine booted, or when
    /// it is older than [`STALE_AFTER`].
    fn stale_lock_files(&self, writer_died: bool) -> Vec<PathBuf> {
        let booted = boot_time();
        self.lock_files()
            .into_iter()
            .filter(|p| {
                let modified = std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok();
                // A lock file from before this machine booted has no live holder (a power
                // cut can also lose the holder record that would say the writer died).
                // `git commit` holds index.lock while its editor is open, for any time: only a
                // dead gitstate writer's index.lock is removed.
                writer_died
                    || modified.zip(booted).is_some_and(|(m, b)| m < b)
                    || !p.ends_with("index.lock")
                        && modified
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age > STALE_AFTER)
            })
            .collect()
    }

    /// Remove stale lock files and temporary files of crashed writers. The caller holds the
    /// store lock, so none of them can belong to a live gitstate writer.
    pub(crate) fn remove_leftovers(&self, writer_died: bool) -> Result<Vec<PathBuf>, Error> {
        let removed = self.leftovers(writer_died)?;
        remove_files(&removed)?;
        Ok(removed)
    }

    /// Stale lock files, temporary object files and temporary document files.
    pub(crate) fn leftovers(&self, writer_died: bool) -> Result<Vec<PathBuf>, Error> {
        let mut found = self.stale_lock_files(writer_died);
        found.extend(self.object_tmp_files()?);
        found.extend(self.worktree().leftovers()?);
        Ok(found)
    }

    /// The first commit of a new store: the empty state, so that the branch always exists.
    fn write_initial_commit(&self) -> Result<(), Error> {
        let _lock = StoreLock::acquire(
            &self.git_dir,
            self.sharing,
            "init",
            self.options.lock_timeout,
        )?;
        let repo = self.repo();
        if refs::read_branch(&repo)?.is_some() {
            return Ok(());
        }
        let objects_dir = self.git_dir.join("objects");
        let mut writer = self.object_writer(&objects_dir);
        // The empty tree is written like any other: git does not invent it for a commit.
        let tree = writer.write_object(&gix::objs::Tree::empty())?;
        let text = crate::message::compose(Some("init store"), "init", &[], &[]);
        self.commit_and_move(&repo, tree, None, &text, writer)
            .map(|_| ())
    }
}

/// What recovery leaves a writer: the current commit, its files, the index (equal to HEAD
/// now, but for outside edits), and the paths it rewrote.
pub(crate) struct Recovered {
    pub(crate) snapshot: Snapshot,
    pub(crate) files: crate::worktree::Files,
    pub(crate) index: gix::index::File,
    pub(crate) repaired: Vec<String>,
}

/// Remove `paths`, tolerating ones already gone.
fn remove_files(paths: &[PathBuf]) -> Result<(), Error> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).io_context("remove leftover", path),
        }
    }
    Ok(())
}

/// Serialize a value for document `name`.
pub(crate) fn to_value<T: Serialize + ?Sized>(name: &DocName, value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|source| Error::Type {
        name: name.to_string(),
        source,
    })
}

/// The first parent of `commit`, if any.
pub(crate) fn first_parent(
    repo: &gix::Repository,
    commit: ObjectId,
) -> Result<Option<ObjectId>, Error> {
    let c = crate::objects::find(repo, commit, gix::objs::Kind::Commit)?.into_commit();
    Ok(c.parent_ids().next().map(|id| id.detach()))
}

/// Open the repository at `git_dir` as gitstate always does: isolated from the user's and
/// the system's git config and environment, at exactly that path.
pub(crate) fn open_repository(git_dir: &Path) -> gix::Result<gix::ThreadSafeRepository> {
    gix::open::Options::isolated()
        .open_path_as_is(true)
        .open(git_dir)
}

/// Lay out an empty git directory at `git_dir`, its files and directories with the modes of
/// `sharing`, which the config records.
fn write_skeleton(git_dir: &Path, durability: Durability, sharing: Sharing) -> Result<(), Error> {
    let dirs = [
        "",
        "objects",
        "objects/info",
        "objects/pack",
        "refs",
        "refs/heads",
        "refs/tags",
        "info",
        "logs",
        "logs/refs",
        "logs/refs/heads",
    ];
    for d in dirs {
        let path = git_dir.join(d);
        durable::create_dir(&path, sharing.dir_mode()).io_context("create directory", &path)?;
    }
    let mut config = CONFIG.to_owned();
    if let Some(value) = sharing.config_value() {
        config.push_str(&format!("\tsharedRepository = {value}\n"));
    }
    let files = [
        ("HEAD", format!("ref: {}\n", refs::BRANCH)),
        ("config", config),
        ("info/exclude", EXCLUDE.to_owned()),
        (
            "description",
            "A gitstate store: JSON state documents, one commit per write.\n".to_owned(),
        ),
    ];
    for (name, content) in files {
        let path = git_dir.join(name);
        let tmp = path.with_extension("gitstate-tmp");
        durable::replace_file(
            &tmp,
            &path,
            content.as_bytes(),
            sharing.file_mode(),
            durability,
        )?;
    }
    if durability.syncs() {
        for d in dirs.iter().rev() {
            durable::sync_dir(&git_dir.join(d))?;
        }
    }
    Ok(())
}

/// When this machine booted (`btime` in `/proc/stat`, whole seconds, rounded down): no
/// process that ran before it is alive. `None` where the kernel does not say. Read once per
/// process: it cannot change while the process lives.
fn boot_time() -> Option<std::time::SystemTime> {
    static BOOT: std::sync::OnceLock<Option<std::time::SystemTime>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let secs: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
    })
}
