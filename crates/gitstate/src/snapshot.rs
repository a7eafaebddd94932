//! Read-only views of the store at one commit.

use std::sync::Arc;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cache::ObjectCache;
use crate::canonical;
use crate::error::{Error, GitContext};
use crate::name::DocName;
use crate::worktree::Files;

/// An immutable view of every document as of one commit.
///
/// Reading never takes the store lock: a snapshot reads only git objects, which are never
/// changed once written, so it is consistent however many writers run meanwhile.
pub struct Snapshot {
    repo: gix::Repository,
    commit: Option<ObjectId>,
    tree: Option<ObjectId>,
    rev: Option<String>,
    cache: Arc<ObjectCache>,
}

impl Snapshot {
    /// A view of `commit` (`None`: the empty state of a store without commits). `rev` is the
    /// revision as the user wrote it, for error messages.
    pub(crate) fn new(
        repo: gix::Repository,
        commit: Option<ObjectId>,
        rev: Option<String>,
    ) -> Result<Self, Error> {
        Self::cached(repo, commit, rev, Arc::default())
    }

    /// As [`Snapshot::new`], reading through (and filling) a store's object cache.
    pub(crate) fn cached(
        repo: gix::Repository,
        commit: Option<ObjectId>,
        rev: Option<String>,
        cache: Arc<ObjectCache>,
    ) -> Result<Self, Error> {
        let tree = match commit {
            None => None,
            Some(id) => Some(cache.tree_of(id, || commit_tree(&repo, id))?),
        };
        Ok(Snapshot {
            repo,
            commit,
            tree,
            rev,
            cache,
        })
    }

    /// The commit this snapshot shows; `None` for a store with no commits yet.
    pub fn commit_id(&self) -> Option<ObjectId> {
        self.commit
    }

    /// The root tree of this snapshot's commit.
    pub(crate) fn tree_id(&self) -> Option<ObjectId> {
        self.tree
    }

    /// The document `name` as a JSON value, or `None` when it does not exist.
    ///
    /// # Errors
    /// An invalid name, unreadable objects, or a stored file that is not valid JSON.
    pub fn get_value<N>(&self, name: N) -> Result<Option<Value>, Error>
    where
        N: TryInto<DocName, Error = crate::name::InvalidName>,
    {
        let name = name.try_into()?;
        match self.blob_bytes(&name)? {
            None => Ok(None),
            Some(bytes) => {
                canonical::parse(&bytes)
                    .map(Some)
                    .map_err(|source| Error::InvalidJson {
                        what: format!("stored document {name}"),
                        source,
                    })
            }
        }
    }

    /// The document `name` deserialized into `T`, or `None` when it does not exist.
    ///
    /// # Errors
    /// As [`Snapshot::get_value`], and [`Error::Type`] when it does not fit `T`.
    pub fn get<T, N>(&self, name: N) -> Result<Option<T>, Error>
    where
        T: DeserializeOwned,
        N: TryInto<DocName, Error = crate::name::InvalidName>,
    {
        let name = name.try_into()?;
        match self.get_value(&name)? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|source| Error::Type {
                    name: name.to_string(),
                    source,
                }),
        }
    }

    /// The stored bytes of a document (canonical JSON), or `None` when it does not exist.
    ///
    /// # Errors
    /// Unreadable objects.
    pub fn get_bytes(&self, name: &DocName) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.blob_bytes(name)?.map(|b| b.to_vec()))
    }

    fn blob_bytes(&self, name: &DocName) -> Result<Option<Arc<[u8]>>, Error> {
        match self.blob_id(&name.rela_path())? {
            None => Ok(None),
            Some(id) => self
                .cache
                .data(id, gix::objs::Kind::Blob, || {
                    Ok(crate::objects::find(&self.repo, id, gix::objs::Kind::Blob)?
                        .detach()
                        .data)
                })
                .map(Some),
        }
    }

    /// Whether the document exists.
    ///
    /// # Errors
    /// Unreadable objects.
    pub fn contains(&self, name: &DocName) -> Result<bool, Error> {
        Ok(self.blob_id(&name.rela_path())?.is_some())
    }

    /// The names of all documents, sorted.
    ///
    /// # Errors
    /// Unreadable objects.
    pub fn list(&self) -> Result<Vec<DocName>, Error> {
        Ok(self
            .files()?
            .keys()
            .filter_map(|p| DocName::from_rela_path(p))
            .collect())
    }

    /// The not-found error for `name` in this snapshot.
    pub(crate) fn not_found(&self, name: &DocName) -> Error {
        Error::NotFound {
            name: name.to_string(),
            at: self.rev.clone(),
        }
    }

    /// Every file in the tree (documents and anything else), path → blob id.
    pub(crate) fn files(&self) -> Result<Files, Error> {
        match self.tree {
            Some(tree) => {
                let files = self.cache.files_of(tree, || {
                    let mut files = Files::new();
                    collect_files(&self.repo, tree, "", &mut files)?;
                    Ok(files)
                })?;
                Ok(Files::clone(&files))
            }
            None => Ok(Files::new()),
        }
    }

    /// The root tree's bytes (read through the cache), when there is one.
    pub(crate) fn root_tree_data(&self) -> Result<Option<Arc<[u8]>>, Error> {
        let Some(tree) = self.tree else {
            return Ok(None);
        };
        self.cache
            .data(tree, gix::objs::Kind::Tree, || {
                Ok(
                    crate::objects::find(&self.repo, tree, gix::objs::Kind::Tree)?
                        .detach()
                        .data,
                )
            })
            .map(Some)
    }

    /// The blob at `rela` (a `/`-separated path), if the tree has one there.
    pub(crate) fn blob_id(&self, rela: &str) -> Result<Option<ObjectId>, Error> {
        match self.tree {
            Some(tree) => self
                .cache
                .blob_at(tree, rela, || blob_in_tree(&self.repo, tree, rela)),
            None => Ok(None),
        }
    }
}

/// The blob at `rela` (a `/`-separated path) below `tree`, if there is one.
pub(crate) fn blob_in_tree(
    repo: &gix::Repository,
    mut tree: ObjectId,
    rela: &str,
) -> Result<Option<ObjectId>, Error> {
    let mut components = rela.split('/').peekable();
    while let Some(component) = components.next() {
        let data = crate::objects::find(repo, tree, gix::objs::Kind::Tree)?;
        let parsed = gix::objs::TreeRef::from_bytes(&data.data, gix::hash::Kind::Sha1)
            .git_context(|| format!("decode tree {tree}"))?;
        let Some(entry) = parsed
            .entries
            .iter()
            .find(|e| e.filename == component.as_bytes())
        else {
            return Ok(None);
        };
        let last = components.peek().is_none();
        match (last, entry.mode.is_tree(), entry.mode.is_blob()) {
            (true, _, true) => return Ok(Some(entry.oid.to_owned())),
            (false, true, _) => tree = entry.oid.to_owned(),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The tree of `commit`.
pub(crate) fn commit_tree(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, Error> {
    let c = crate::objects::find(repo, commit, gix::objs::Kind::Commit)?.into_commit();
    c.tree_id()
        .map(|id| id.detach())
        .git_context(|| format!("decode commit {commit}"))
}

/// Collect the blobs below `tree` into `out`, keyed by `/`-separated path.
pub(crate) fn collect_files(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &str,
    out: &mut Files,
) -> Result<(), Error> {
    let data = crate::objects::find(repo, tree, gix::objs::Kind::Tree)?;
    let parsed = gix::objs::TreeRef::from_bytes(&data.data, gix::hash::Kind::Sha1)
        .git_context(|| format!("decode tree {tree}"))?;
    for entry in &parsed.entries {
        let path = format!("{prefix}{}", entry.filename.to_str_lossy());
        if entry.mode.is_tree() {
            collect_files(repo, entry.oid.to_owned(), &format!("{path}/"), out)?;
        } else if entry.mode.is_blob() {
            out.insert(path, entry.oid.to_owned());
        }
    }
    Ok(())
}
