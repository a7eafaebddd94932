//! Writes: staged edits, and the write protocol that turns them into exactly one durable
//! commit.
//!
//! The protocol, under the store lock (docs/design.md explains each step and what each sync
//! protects against):
//! 1. remove leftovers of crashed writers and repair a lagging working tree;
//! 2. stage the edits against the current commit (`update` reads here, under the lock);
//! 3. refuse documents whose files were edited outside gitstate;
//! 4. write blobs, trees and the commit as loose objects (`objects`);
//! 5. take git's ref lock and check the branch has not moved (`refs`);
//! 6. one sync barrier for the objects, their directories and the ref lock file;
//! 7. rename the ref lock over the branch and sync its directory: the commit point;
//! 8. replace the document files and the index (not synced: a crash here is repaired by 1).

use std::collections::BTreeMap;
use std::sync::Arc;

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use serde::Serialize;
use serde_json::Value;

use crate::canonical;
use crate::crashpoint::crash_point;
use crate::error::{Error, GitContext};
use crate::identity;
use crate::lock::StoreLock;
use crate::message;
use crate::name::{DocName, InvalidName};
use crate::objects::{Compressing, ObjectWriter};
use crate::refs::{self, ReflogEntry};

use crate::snapshot::Snapshot;
use crate::store::{Recovered, Store, to_value};
use crate::worktree::{self, FileChange};

/// One staged edit.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Put(Value),
    /// Canonical bytes already (from [`crate::canonical::canonicalize`]): no tree of values
    /// is built unless a schema must read the document.
    PutCanonical(Vec<u8>),
    Delete,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The new commit; `None` when every staged value equalled the stored one, so no commit
    /// was made.
    pub commit: Option<ObjectId>,
    /// The documents whose stored value changed.
    pub changed: Vec<DocName>,
    /// The commit was made, but updating the working tree failed (why): the files lag the
    /// branch until the next open or write repairs them.
    pub worktree_pending: Option<String>,
}

impl WriteOutcome {
    pub(crate) fn unchanged() -> Self {
        WriteOutcome {
            commit: None,
            changed: Vec::new(),
            worktree_pending: None,
        }
    }

    /// Whether the write made no commit because nothing changed.
    pub fn is_unchanged(&self) -> bool {
        self.commit.is_none()
    }
}

/// Staged edits to several documents, written as one commit by [`Transaction::commit`].
///
/// Nothing is written, and no lock is held, until `commit`. Dropping a transaction discards
/// it.
#[must_use = "a transaction writes nothing until commit() is called"]
pub struct Transaction<'s> {
    store: &'s Store,
    edits: BTreeMap<DocName, Change>,
    message: Option<String>,
}

impl<'s> Transaction<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Transaction {
            store,
            edits: BTreeMap::new(),
            message: None,
        }
    }

    /// Stage `value` for document `name` (a later edit of the same name replaces this one).
    ///
    /// # Errors
    /// An invalid name or a value that does not serialize.
    pub fn set<T, N>(&mut self, name: N, value: &T) -> Result<&mut Self, Error>
    where
        T: Serialize + ?Sized,
        N: TryInto<DocName, Error = InvalidName>,
    {
        let name = name.try_into()?;
        let value = to_value(&name, value)?;
        self.edits.insert(name, Change::Put(value));
        Ok(self)
    }

    /// Stage a JSON value for document `name`.
    ///
    /// # Errors
    /// An invalid name.
    pub fn set_value<N>(&mut self, name: N, value: Value) -> Result<&mut Self, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.edits.insert(name.try_into()?, Change::Put(value));
        Ok(self)
    }

    /// Stage JSON text for document `name`. It is checked and brought to canonical form
    /// without building a tree of values, so memory stays near the text's size however
    /// large the document (a schema covering the document still reads it as a value).
    ///
    /// # Errors
    /// An invalid name, or [`Error::InvalidJson`].
    pub fn set_json<N>(&mut self, name: N, text: &[u8]) -> Result<&mut Self, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        let name = name.try_into()?;
        let bytes = canonical::canonicalize(text).map_err(|source| Error::InvalidJson {
            what: format!("document {name}"),
            source,
        })?;
        self.edits.insert(name, Change::PutCanonical(bytes));
        Ok(self)
    }

    /// Stage the deletion of document `name`; [`Transaction::commit`] fails with
    /// [`Error::NotFound`] if it does not exist then.
    ///
    /// # Errors
    /// An invalid name.
    pub fn delete<N>(&mut self, name: N) -> Result<&mut Self, Error>
    where
        N: TryInto<DocName, Error = InvalidName>,
    {
        self.edits.insert(name.try_into()?, Change::Delete);
        Ok(self)
    }

    /// Set the commit message (default: what the operation did, e.g. `set prefs`).
    pub fn message(&mut self, message: impl Into<String>) -> &mut Self {
        self.message = Some(message.into());
        self
    }

    /// Write all staged edits as one commit, or none when nothing changes.
    ///
    /// On return the commit is durable (with [`crate::Durability::Full`]). On a crash before
    /// it returns, the store holds either all of the edits or none of them.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a deletion of a missing document, [`Error::Locked`],
    /// [`Error::Conflict`], [`Error::OutsideEdit`], I/O errors. Nothing is written on error.
    pub fn commit(self) -> Result<WriteOutcome, Error> {
        let op = match self.edits.len() {
            1 => match self.edits.values().next() {
                Some(Change::Delete) => "delete",
                _ => "set",
            },
            _ => "transaction",
        };
        let edits = self.edits;
        self.store
            .write(WriteSpec::new(op, self.message.as_deref()), move |_| {
                Ok(edits.into_iter().collect())
            })
    }
}

/// What a write records besides its edits.
pub(crate) struct WriteSpec<'a> {
    pub(crate) op: &'a str,
    pub(crate) message: Option<&'a str>,
    pub(crate) trailers: Vec<(&'static str, String)>,
    /// Write documents even when their files hold edits made outside gitstate (used by
    /// `commit`, which records exactly those edits).
    pub(crate) adopt_outside_edits: bool,
    /// Check new values against their schema's version (migrating or refusing old ones).
    /// Off for writes that restore earlier states (rollback, undo) or record them.
    pub(crate) check_versions: bool,
}

impl<'a> WriteSpec<'a> {
    pub(crate) fn new(op: &'a str, message: Option<&'a str>) -> Self {
        WriteSpec {
            op,
            message,
            trailers: Vec::new(),
            adopt_outside_edits: false,
            check_versions: true,
        }
    }
}

/// A value whose canonical form is this long or longer is freed on the thread pool rather
/// than by the writer: a large tree of values takes milliseconds to free.
const FREE_LATER: usize = 64 * 1024;

/// A staged change resolved to bytes and ids.
struct Resolved {
    name: DocName,
    rela: String,
    bytes: Option<Arc<Vec<u8>>>,
    id: Option<ObjectId>,
    /// A large blob's compression, started as soon as its bytes were known.
    compressing: Option<Compressing>,
}

impl Store {
    /// The write protocol (see the module docs). `stage` runs under the lock and returns the
    /// edits, read against the snapshot of the current commit.
    pub(crate) fn write<F>(&self, spec: WriteSpec<'_>, stage: F) -> Result<WriteOutcome, Error>
    where
        F: FnOnce(&Snapshot) -> Result<Vec<(DocName, Change)>, Error>,
    {
        self.write_with_trailers(spec, |snapshot, _| stage(snapshot))
    }

    /// [`Store::write`] whose `stage` may also add trailers, computed under the lock.
    pub(crate) fn write_with_trailers<F>(
        &self,
        mut spec: WriteSpec<'_>,
        stage: F,
    ) -> Result<WriteOutcome, Error>
    where
        F: FnOnce(
            &Snapshot,
            &mut Vec<(&'static str, String)>,
        ) -> Result<Vec<(DocName, Change)>, Error>,
    {
        let lock = StoreLock::acquire(
            self.git_dir(),
            self.sharing(),
            spec.op,
            self.options().lock_timeout,
        )?;
        crash_point("after-lock");
        let repo = self.repo();
        let Recovered {
            snapshot,
            files,
            mut index,
            ..
        } = self.recover_after_crash(&repo, lock.previous_holder_died, false)?;
        let head = snapshot.commit_id();
        let wt = self.worktree();

        let staged = stage(&snapshot, &mut spec.trailers)?;
        let schemas = self.schemas_for_write(&snapshot, &staged, spec.check_versions)?;
        let mut resolved = Vec::new();
        for (name, change) in staged {
            let rela = name.rela_path();
            let current = files.get(&rela).copied();
            // A document a schema covers is checked as a value.
            let change = match change {
                Change::PutCanonical(bytes) if self.needs_value(&schemas, &name)? => Change::Put(
                    canonical::parse(&bytes).map_err(|source| Error::InvalidJson {
                        what: format!("document {name}"),
                        source,
                    })?,
                ),
                other => other,
            };
            let (bytes, id, compressing) = match change {
                Change::PutCanonical(bytes) => {
                    let bytes = Arc::new(bytes);
                    // Before hashing, so that the two overlap (0.7 ms of a 1 MiB write); for a
                    // value equal to the stored one the compression is wasted, on the pool.
                    let compressing = Compressing::start(&bytes);
                    let id = worktree::blob_id(&bytes)?;
                    (Some(bytes), Some(id), compressing)
                }
                Change::Put(value) => {
                    let too_deep = || Error::TooDeep {
                        name: name.to_string(),
                    };
                    // A migration walks the value recursively: check its depth first. Otherwise
                    // serializing checks it, without a pass of its own.
                    if self.needs_value(&schemas, &name)?
                        && crate::patch::depth(&value) > crate::patch::MAX_DEPTH
                    {
                        return Err(too_deep());
                    }
                    let value = self.check_version(&schemas, &name, value)?;
                    let bytes =
                        canonical::to_canonical_bytes_within(&value, crate::patch::MAX_DEPTH)
                            .ok_or_else(too_deep)?;
                    if bytes.len() >= FREE_LATER {
                        crate::pool::drop_later(value);
                    }
                    let bytes = Arc::new(bytes);
                    let compressing = Compressing::start(&bytes);
                    let id = worktree::blob_id(&bytes)?;
                    (Some(bytes), Some(id), compressing)
                }
                Change::Delete if current.is_none() => return Err(snapshot.not_found(&name)),
                Change::Delete => (None, None, None),
            };
            if !spec.adopt_outside_edits {
                wt.check_writable(&repo, name.as_str(), &rela, current, &index)?;
            }
            if id != current {
                resolved.push(Resolved {
                    name,
                    rela,
                    bytes,
                    id,
                    compressing,
                });
            }
        }
        if resolved.is_empty() {
            return Ok(WriteOutcome::unchanged());
        }

        let objects_dir = self.git_dir().join("objects");
        let mut writer = self.object_writer(&objects_dir);
        let root = match (snapshot.tree_id(), snapshot.root_tree_data()?) {
            (Some(tree_id), Some(data)) => {
                let decoded = gix::objs::TreeRef::from_bytes(&data, gix::hash::Kind::Sha1)
                    .git_context(|| format!("decode tree {tree_id}"))?;
                gix::objs::Tree::from(decoded)
            }
            _ => gix::objs::Tree::empty(),
        };
        let mut editor = gix::objs::tree::Editor::new(root, &repo.objects, gix::hash::Kind::Sha1);
        for r in &mut resolved {
            let path = r.rela.split('/');
            match (&r.bytes, r.id) {
                (Some(bytes), Some(id)) => {
                    let id = writer.write_blob(bytes, id, r.compressing.take())?;
                    editor
                        .upsert(path, EntryKind::Blob, id)
                        .git_context(|| format!("add {} to the tree", r.rela))?;
                }
                _ => {
                    editor
                        .remove(path)
                        .git_context(|| format!("remove {} from the tree", r.rela))?;
                }
            }
        }
        let mut last_written = None;
        let tree = editor.write(|tree| {
            let id = writer.write_object(tree)?;
            last_written = Some(id);
            Ok::<_, Error>(id)
        })?;
        // The root tree is written last: its bytes are kept for the object cache.
        let root_data = (last_written == Some(tree)).then(|| writer.last_object().to_vec());
        let names: Vec<DocName> = resolved.iter().map(|r| r.name.clone()).collect();
        let text = message::compose(spec.message, spec.op, &names, &spec.trailers);
        let commit = self.commit_and_move(&repo, tree, head, &text, writer)?;
        let mut new_files = files;
        for r in &resolved {
            match r.id {
                Some(id) => new_files.insert(r.rela.clone(), id),
                None => new_files.remove(&r.rela),
            };
        }
        self.cache()
            .remember_write(commit, tree, new_files, root_data);

        let changes: Vec<FileChange<'_>> = resolved
            .iter()
            .map(|r| FileChange {
                rela: &r.rela,
                bytes: r.bytes.as_deref().map(Vec::as_slice),
                id: r.id,
            })
            .collect();
        // The commit is made and acknowledged from here on: a failure to update the working
        // tree (a `git status` holding `index.lock`, a full disk) leaves it lagging, which
        // the next open or write repairs. It is reported, not returned as a failure.
        crash_point("after-rename");
        let worktree_pending = wt.apply(&changes, &mut index).err().map(|e| e.to_string());
        drop(lock);
        self.maybe_maintain(commit);
        Ok(WriteOutcome {
            commit: Some(commit),
            changed: names,
            worktree_pending,
        })
    }

    pub(crate) fn object_writer<'p>(&self, objects_dir: &'p std::path::Path) -> ObjectWriter<'p> {
        ObjectWriter::new(
            objects_dir,
            self.options().durability,
            self.options().sync_method,
            self.sharing(),
        )
    }

    /// Write the commit object for `tree`, make every object durable, and move the branch
    /// from `parent` to it: steps 5 and 6 of the protocol. Returns the commit.
    pub(crate) fn commit_and_move(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
        parent: Option<ObjectId>,
        text: &str,
        mut writer: ObjectWriter<'_>,
    ) -> Result<ObjectId, Error> {
        let who = identity::resolve(self.options().author.as_deref(), repo)?;
        let time = identity::commit_time(self.options().commit_time)?;
        let signature = identity::signature(&who, time);
        let commit = gix::objs::Commit {
            tree,
            parents: parent.into_iter().collect(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: text.into(),
            extra_headers: Vec::new(),
        };
        let id = writer.write_object(&commit)?;
        crash_point("after-objects");
        let pending = refs::prepare_move(repo, self.sharing(), parent, id)?;
        crash_point("after-ref-lock");
        writer.finish(pending.lock_file())?;
        crash_point("after-barrier");
        let identity = format!("{} <{}>", who.0, who.1);
        let summary = format!(
            "{}{}",
            refs::REFLOG_PREFIX,
            text.lines().next().unwrap_or_default()
        );
        pending.commit(
            &ReflogEntry {
                identity: &identity,
                time,
                message: &summary,
            },
            self.options().durability,
        )?;
        Ok(id)
    }
}
