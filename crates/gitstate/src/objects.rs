//! Writing loose git objects durably.
//!
//! gix writes loose objects without fsync, and renames them into place before their bytes are
//! on disk. Here each object is compressed into a temporary file, synced, then renamed into its
//! fan-out directory; the directories are synced once, together, by [`ObjectWriter::finish`],
//! which must return before any ref may point at the objects.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::objs::{Kind, WriteTo};

use crate::durable::{self, Durability};
use crate::error::{Error, GitContext, IoContext};

/// Name prefix of the writer's temporary files, directly in `.git/objects`.
pub(crate) const TMP_PREFIX: &str = "gitstate-tmp-";

/// Writes loose objects into one object directory and remembers what must be synced.
pub(crate) struct ObjectWriter<'a> {
    objects_dir: &'a Path,
    durability: Durability,
    dirs_to_sync: BTreeSet<PathBuf>,
    written: usize,
    buf: Vec<u8>,
}

impl<'a> ObjectWriter<'a> {
    pub(crate) fn new(objects_dir: &'a Path, durability: Durability) -> Self {
        ObjectWriter {
            objects_dir,
            durability,
            dirs_to_sync: BTreeSet::new(),
            written: 0,
            buf: Vec::new(),
        }
    }

    /// Write an encodable object (tree, commit, tag).
    pub(crate) fn write_object(&mut self, object: &dyn WriteTo) -> Result<ObjectId, Error> {
        let mut data = std::mem::take(&mut self.buf);
        data.clear();
        object
            .write_to(&mut data)
            .git_context(|| format!("encode {} object", object.kind()))?;
        let id = self.write_raw(object.kind(), &data);
        self.buf = data;
        id
    }

    /// Write `data` as an object of `kind`, returning its id. An object that already exists is
    /// not rewritten (with full durability it is synced, as another program may have written it
    /// without fsync).
    pub(crate) fn write_raw(&mut self, kind: Kind, data: &[u8]) -> Result<ObjectId, Error> {
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, data)
            .git_context(|| format!("hash {kind} object"))?;
        let hex = id.to_hex().to_string();
        let fan_out = self.objects_dir.join(&hex[..2]);
        let path = fan_out.join(&hex[2..]);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() > 0 => {
                if self.durability.syncs() {
                    std::fs::File::open(&path)
                        .and_then(|f| f.sync_all())
                        .io_context("sync object", &path)?;
                    self.dirs_to_sync.insert(fan_out);
                }
                return Ok(id);
            }
            Ok(meta) if meta.is_dir() || meta.file_type().is_symlink() => {
                return Err(Error::Unsafe {
                    path,
                    reason: "is not a regular object file",
                });
            }
            _ => {}
        }
        if !fan_out.is_dir() {
            match std::fs::create_dir(&fan_out) {
                Ok(()) => {
                    self.dirs_to_sync.insert(self.objects_dir.to_path_buf());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).io_context("create object directory", &fan_out),
            }
        }
        let mut compressed = Vec::with_capacity(data.len() / 2 + 64);
        {
            let mut z = gix::zlib::stream::deflate::Write::new(
                &mut compressed,
                gix::zlib::Compression::BEST_SPEED,
            );
            z.write_all(&gix::objs::encode::loose_header(kind, data.len() as u64))
                .and_then(|()| z.write_all(data))
                .and_then(|()| z.flush())
                .io_context("compress object", &path)?;
        }
        let tmp = self
            .objects_dir
            .join(format!("{TMP_PREFIX}{}", self.written));
        self.written += 1;
        durable::replace_file(&tmp, &path, &compressed, 0o400, self.durability)?;
        if self.durability.syncs() {
            self.dirs_to_sync.insert(fan_out);
        }
        Ok(id)
    }

    /// Sync every directory an object was added to. After this returns, every object written
    /// is durable and a ref may point at it.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.durability.syncs() {
            for dir in &self.dirs_to_sync {
                durable::sync_dir(dir)?;
            }
        }
        Ok(())
    }
}
