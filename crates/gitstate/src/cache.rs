//! What a store has already read (or just written), by object id: a commit's tree, the blob
//! at a path of a tree, the documents of a tree, and small objects' bytes. Git objects never
//! change once written, and every one is hash-checked when first read (`objects::find`), so
//! a cached answer is always right; only the branch itself is read again on every read. Bounded: it is emptied when it would
//! hold more than [`MAX_BYTES`] of blobs or [`MAX_ENTRIES`] entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use gix::ObjectId;
use gix::objs::Kind;

use crate::worktree::Files;

/// Blob bytes kept at most (larger blobs are never cached).
const MAX_BYTES: usize = 16 << 20;
/// The largest blob kept.
const MAX_BLOB: usize = 1 << 20;
/// Entries kept at most, of all kinds.
const MAX_ENTRIES: usize = 20_000;

#[derive(Debug, Default)]
pub(crate) struct ObjectCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tree_of: HashMap<ObjectId, ObjectId>,
    blob_at: HashMap<(ObjectId, String), Option<ObjectId>>,
    files_of: HashMap<ObjectId, Arc<Files>>,
    /// Keyed by kind too: a damaged tree naming a tree as a blob must not read as one.
    data: HashMap<(ObjectId, Kind), Arc<[u8]>>,
    bytes: usize,
}

impl Inner {
    fn make_room(&mut self, bytes: usize) {
        let entries = self.tree_of.len()
            + self.blob_at.len()
            + self.files_of.values().map(|f| f.len() + 1).sum::<usize>()
            + self.data.len();
        if entries >= MAX_ENTRIES || self.bytes + bytes > MAX_BYTES {
            *self = Inner::default();
        }
    }
}

impl ObjectCache {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave a wrong entry: entries are inserted whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn tree_of(
        &self,
        commit: ObjectId,
        read: impl FnOnce() -> Result<ObjectId, crate::Error>,
    ) -> Result<ObjectId, crate::Error> {
        if let Some(tree) = self.inner().tree_of.get(&commit) {
            return Ok(*tree);
        }
        let tree = read()?;
        let mut inner = self.inner();
        inner.make_room(0);
        inner.tree_of.insert(commit, tree);
        Ok(tree)
    }

    pub(crate) fn blob_at(
        &self,
        tree: ObjectId,
        rela: &str,
        read: impl FnOnce() -> Result<Option<ObjectId>, crate::Error>,
    ) -> Result<Option<ObjectId>, crate::Error> {
        {
            let inner = self.inner();
            if let Some(blob) = inner.blob_at.get(&(tree, rela.to_owned())) {
                return Ok(*blob);
            }
            // The documents of a tree a write just made, or a read listed, answer it too.
            if let Some(files) = inner.files_of.get(&tree) {
                return Ok(files.get(rela).copied());
            }
        }
        let blob = read()?;
        let mut inner = self.inner();
        inner.make_room(0);
        inner.blob_at.insert((tree, rela.to_owned()), blob);
        Ok(blob)
    }

    /// The documents below `tree` (path to blob), read once.
    pub(crate) fn files_of(
        &self,
        tree: ObjectId,
        read: impl FnOnce() -> Result<Files, crate::Error>,
    ) -> Result<Arc<Files>, crate::Error> {
        if let Some(files) = self.inner().files_of.get(&tree) {
            return Ok(Arc::clone(files));
        }
        let files = Arc::new(read()?);
        let mut inner = self.inner();
        inner.make_room(0);
        inner.files_of.insert(tree, Arc::clone(&files));
        Ok(files)
    }

    /// The bytes of object `id` of `kind`, read once when at most [`MAX_BLOB`] long.
    pub(crate) fn data(
        &self,
        id: ObjectId,
        kind: Kind,
        read: impl FnOnce() -> Result<Vec<u8>, crate::Error>,
    ) -> Result<Arc<[u8]>, crate::Error> {
        if let Some(bytes) = self.inner().data.get(&(id, kind)) {
            return Ok(Arc::clone(bytes));
        }
        let bytes: Arc<[u8]> = read()?.into();
        if bytes.len() <= MAX_BLOB {
            let mut inner = self.inner();
            inner.make_room(bytes.len());
            inner.bytes += bytes.len();
            inner.data.insert((id, kind), Arc::clone(&bytes));
        }
        Ok(bytes)
    }

    /// Remember what a write just made: its commit's tree, the documents of that tree and
    /// (when known) the tree's bytes, so that the next write or read finds them without
    /// reading them back.
    pub(crate) fn remember_write(
        &self,
        commit: ObjectId,
        tree: ObjectId,
        files: Files,
        tree_data: Option<Vec<u8>>,
    ) {
        let tree_data = tree_data.filter(|d| d.len() <= MAX_BLOB);
        let mut inner = self.inner();
        inner.make_room(tree_data.as_ref().map_or(0, Vec::len));
        inner.tree_of.insert(commit, tree);
        inner.files_of.insert(tree, Arc::new(files));
        if let Some(tree_data) = tree_data {
            inner.bytes += tree_data.len();
            inner.data.insert((tree, Kind::Tree), tree_data.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[byte; 20])
    }

    fn unread<T>() -> Result<T, crate::Error> {
        Err(crate::Error::Corrupt {
            what: "read although the cache knew".into(),
        })
    }

    #[test]
    fn the_documents_a_write_remembered_answer_blob_lookups_without_a_read() {
        let cache = ObjectCache::default();
        let files: Files = [("a.json".to_owned(), id(1)), ("d/b.json".to_owned(), id(2))].into();
        cache.remember_write(id(9), id(8), files, None);
        assert_eq!(
            cache.blob_at(id(8), "d/b.json", unread).expect("known"),
            Some(id(2))
        );
        assert_eq!(
            cache.blob_at(id(8), "a.json", unread).expect("known"),
            Some(id(1))
        );
        // A directory or a missing name is no document.
        assert_eq!(cache.blob_at(id(8), "d", unread).expect("known"), None);
        assert_eq!(cache.blob_at(id(8), "c.json", unread).expect("known"), None);
        // Another tree is still read.
        assert!(cache.blob_at(id(7), "a.json", unread).is_err());
    }
}
