//! Writing loose git objects, and the sync barrier that makes them durable.
//!
//! gix writes loose objects without fsync. Here each object is compressed into a temporary
//! file and renamed into its fan-out directory; nothing is synced per object. Instead
//! [`ObjectWriter::finish`] is one barrier for the whole write: every object file, every
//! directory that gained an entry, and the branch's lock file (see `refs`) are made durable
//! together, before the branch may move. See [`SyncMethod`] for how.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gix::ObjectId;
use gix::objs::{Kind, WriteTo};

use crate::durable::{self, Durability, SyncMethod};
use crate::error::{Error, GitContext, IoContext};
use crate::permissions::Sharing;

/// Name prefix of the writer's temporary files, directly in `.git/objects`.
pub(crate) const TMP_PREFIX: &str = "gitstate-tmp-";

/// Writes loose objects into one object directory and remembers what must be synced.
pub(crate) struct ObjectWriter<'a> {
    objects_dir: &'a Path,
    durability: Durability,
    method: SyncMethod,
    sharing: Sharing,
    files_to_sync: Vec<(File, PathBuf)>,
    dirs_to_sync: BTreeSet<PathBuf>,
    written: usize,
    buf: Vec<u8>,
    pending: Vec<Pending>,
}

/// Blobs of [`PARALLEL_MIN`] bytes or more are compressed on the thread pool.
const PARALLEL_MIN: usize = 256 * 1024;

/// An object's path and its fan-out directory.
struct Target {
    fan_out: PathBuf,
    path: PathBuf,
}

/// A blob waiting for its compression on the thread pool.
struct Pending {
    compressing: Compressing,
    target: Target,
}

/// A blob's loose-object bytes being compressed on the thread pool.
pub(crate) struct Compressing(std::sync::mpsc::Receiver<Result<Vec<u8>, Error>>);

impl Compressing {
    /// Start compressing `data` as a blob, when it is long enough to be worth a thread:
    /// [`PARALLEL_MIN`] bytes or more.
    pub(crate) fn start(data: &Arc<Vec<u8>>) -> Option<Compressing> {
        if data.len() < PARALLEL_MIN {
            return None;
        }
        let (done, result) = std::sync::mpsc::channel();
        let data = Arc::clone(data);
        crate::pool::run(Box::new(move || {
            let _ = done.send(compress(Kind::Blob, &data));
        }));
        Some(Compressing(result))
    }

    fn wait(self) -> Result<Vec<u8>, Error> {
        self.0.recv().unwrap_or_else(|_| {
            Err(Error::Corrupt {
                what: "the thread compressing a blob stopped".into(),
            })
        })
    }
}

impl<'a> ObjectWriter<'a> {
    pub(crate) fn new(
        objects_dir: &'a Path,
        durability: Durability,
        method: SyncMethod,
        sharing: Sharing,
    ) -> Self {
        ObjectWriter {
            objects_dir,
            durability,
            method,
            sharing,
            files_to_sync: Vec::new(),
            dirs_to_sync: BTreeSet::new(),
            written: 0,
            buf: Vec::new(),
            pending: Vec::new(),
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

    /// The encoded bytes of the object [`ObjectWriter::write_object`] wrote last.
    pub(crate) fn last_object(&self) -> &[u8] {
        &self.buf
    }

    /// Write `data` as an object of `kind`, returning its id. An object file that already
    /// exists is kept only if it inflates and hashes to its id (a power cut can leave a file
    /// whose data never reached the disk); otherwise it is replaced. With full durability an
    /// existing object is synced too, as another program may have written it without fsync.
    pub(crate) fn write_raw(&mut self, kind: Kind, data: &[u8]) -> Result<ObjectId, Error> {
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, data)
            .git_context(|| format!("hash {kind} object"))?;
        self.write_hashed(kind, data, id)
    }

    /// [`ObjectWriter::write_raw`] for data whose id the caller already computed.
    pub(crate) fn write_hashed(
        &mut self,
        kind: Kind,
        data: &[u8],
        id: ObjectId,
    ) -> Result<ObjectId, Error> {
        let Some(target) = self.prepare(kind, id)? else {
            return Ok(id);
        };
        let compressed = compress(kind, data)?;
        self.write_compressed(&compressed, target)?;
        Ok(id)
    }

    /// [`ObjectWriter::write_hashed`] for a blob whose compression already started on the
    /// thread pool ([`Compressing::start`]): the writer goes on (with the tree and the commit)
    /// and the blob is written and renamed into place, like every object, before
    /// [`ObjectWriter::finish`] returns.
    pub(crate) fn write_blob(
        &mut self,
        data: &[u8],
        id: ObjectId,
        compressing: Option<Compressing>,
    ) -> Result<ObjectId, Error> {
        let Some(compressing) = compressing else {
            return self.write_hashed(Kind::Blob, data, id);
        };
        if let Some(target) = self.prepare(Kind::Blob, id)? {
            self.pending.push(Pending {
                compressing,
                target,
            });
        }
        Ok(id)
    }

    /// Where object `id` goes, creating its fan-out directory; `None` when an intact copy is
    /// there already (then it is freshened, and synced with full durability).
    fn prepare(&mut self, kind: Kind, id: ObjectId) -> Result<Option<Target>, Error> {
        let hex = id.to_hex().to_string();
        let fan_out = self.objects_dir.join(&hex[..2]);
        let path = fan_out.join(&hex[2..]);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && is_intact(&path, id, kind) => {
                // Freshen it, as git does: `git gc` never prunes a recently touched object, so
                // an old unreachable copy being reused cannot vanish under this write.
                let _ =
                    File::open(&path).and_then(|f| f.set_modified(std::time::SystemTime::now()));
                if self.durability.syncs() {
                    let file = File::open(&path).io_context("open object", &path)?;
                    self.files_to_sync.push((file, path));
                    self.dirs_to_sync.insert(fan_out);
                }
                return Ok(None);
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
            self.create_fan_out(&fan_out)?;
        }
        Ok(Some(Target { fan_out, path }))
    }

    /// Write `compressed` to a new temporary file, rename it to its object path, and
    /// remember what to sync.
    fn write_compressed(&mut self, compressed: &[u8], target: Target) -> Result<(), Error> {
        let Target { fan_out, path } = target;
        let tmp = self
            .objects_dir
            .join(format!("{TMP_PREFIX}{}", self.written));
        self.written += 1;
        let mut file = durable::create_exclusive(&tmp, self.sharing.object_mode())?;
        file.write_all(compressed).io_context("write", &tmp)?;
        crate::crashpoint::crash_point("after-object");
        // `git gc` beside us removes fan-out directories it emptied (prune-packed): when the
        // directory vanished under the rename, create it again.
        let mut attempts = 0;
        loop {
            match std::fs::rename(&tmp, &path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => {
                    attempts += 1;
                    self.create_fan_out(&fan_out)?;
                }
                Err(e) => return Err(e).io_context("rename into place", &path),
            }
        }
        if self.durability.syncs() {
            self.files_to_sync.push((file, path));
            self.dirs_to_sync.insert(fan_out);
            // The fan-out directory's own entry may never have been synced (made by a fast
            // or crashed writer): sync `objects/` too.
            self.dirs_to_sync.insert(self.objects_dir.to_path_buf());
        }
        Ok(())
    }

    /// Wait for the blobs being compressed on the pool and write them into place.
    fn place_pending(&mut self) -> Result<(), Error> {
        for Pending {
            compressing,
            target,
        } in std::mem::take(&mut self.pending)
        {
            let compressed = compressing.wait()?;
            self.write_compressed(&compressed, target)?;
        }
        Ok(())
    }

    /// Create the fan-out directory `fan_out` with the store's directory mode, unless it
    /// exists. `git gc` beside us removes fan-out directories it emptied, possibly this one
    /// right after it was made, before its mode was set: that counts as made, and the rename
    /// that needs it makes it again.
    fn create_fan_out(&mut self, fan_out: &Path) -> Result<(), Error> {
        match durable::create_dir(fan_out, self.sharing.dir_mode()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.objects_dir.is_dir() => {}
            Err(e) => return Err(e).io_context("create object directory", fan_out),
        }
        self.dirs_to_sync.insert(self.objects_dir.to_path_buf());
        Ok(())
    }

    /// The sync barrier: after this returns, every object written (and `extra`, the branch's
    /// lock file) is durable, and a ref may point at the objects.
    pub(crate) fn finish(mut self, extra: Option<(&File, &Path)>) -> Result<(), Error> {
        self.place_pending()?;
        if !self.durability.syncs() {
            return Ok(());
        }
        match self.method {
            SyncMethod::FileSystem => {
                let dir = File::open(self.objects_dir).io_context("open", self.objects_dir)?;
                rustix::fs::syncfs(&dir)
                    .map_err(std::io::Error::from)
                    .io_context("sync the file system of", self.objects_dir)
            }
            SyncMethod::PerFile => {
                let mut dirs = Vec::new();
                for dir in &self.dirs_to_sync {
                    // A fan-out directory that vanished was emptied by `git gc`: every object
                    // it held is in a pack now.
                    if let Some(handle) = open_dir_if_present(dir)? {
                        dirs.push((handle, dir.clone()));
                    }
                }
                let items: Vec<(&File, &Path)> = self
                    .files_to_sync
                    .iter()
                    .chain(&dirs)
                    .map(|(f, p)| (f, p.as_path()))
                    .chain(extra)
                    .collect();
                durable::sync_all_together(&items)
            }
        }
    }
}

/// `data` as the compressed bytes of a loose object of `kind`.
///
/// Each thread keeps one compressor and resets it per object: setting one up allocates and
/// zeroes about 380 KB, which cost more than compressing a small object (three times per
/// write, and for a one-shot process like the CLI, page faults on every one).
fn compress(kind: Kind, data: &[u8]) -> Result<Vec<u8>, Error> {
    use gix::zlib::stream::deflate::{Compress, FlushCompress};
    thread_local! {
        static DEFLATE: std::cell::RefCell<Option<Compress>> = const { std::cell::RefCell::new(None) };
    }
    let header = gix::objs::encode::loose_header(kind, data.len() as u64);
    DEFLATE.with_borrow_mut(|deflate| {
        let z = deflate.get_or_insert_with(|| Compress::new(gix::zlib::Compression::BEST_SPEED));
        z.reset();
        let mut compressed = Vec::with_capacity(data.len() / 2 + 64);
        deflate_into(z, &header, FlushCompress::None, &mut compressed)
            .and_then(|()| deflate_into(z, data, FlushCompress::Finish, &mut compressed))
            .map_err(|source| Error::Io {
                op: "compress",
                path: PathBuf::from(format!("a {kind} object")),
                source,
            })?;
        Ok(compressed)
    })
}

/// Feed all of `input` to `z`, appending its output to `out`; with
/// [`FlushCompress::Finish`], until the stream has ended.
fn deflate_into(
    z: &mut gix::zlib::stream::deflate::Compress,
    mut input: &[u8],
    flush: gix::zlib::stream::deflate::FlushCompress,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    use gix::zlib::Status;
    use gix::zlib::stream::deflate::FlushCompress;
    loop {
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let len = out.len();
        out.resize(len + (input.len() / 2).clamp(64, 1 << 20), 0);
        let status = z.compress(input, &mut out[len..], flush);
        out.truncate(len + (z.total_out() - out_before) as usize);
        input = &input[(z.total_in() - in_before) as usize..];
        match status.map_err(|e| std::io::Error::other(e.to_string()))? {
            Status::StreamEnd => return Ok(()),
            Status::Ok | Status::BufError if flush == FlushCompress::Finish => {}
            Status::Ok | Status::BufError if input.is_empty() => return Ok(()),
            Status::Ok | Status::BufError => {}
        }
    }
}

/// Whether the loose object file at `path` inflates to an object of `kind` hashing to `id`.
fn is_intact(path: &Path, id: ObjectId, kind: Kind) -> bool {
    let mut compressed = Vec::new();
    if File::open(path)
        .and_then(|mut f| f.read_to_end(&mut compressed))
        .is_err()
    {
        return false;
    }
    let mut inflated = Vec::new();
    let mut z = gix::zlib::Decompress::new();
    let mut out = vec![0u8; 64 * 1024];
    let mut input = &compressed[..];
    loop {
        let before_in = z.total_in();
        let before_out = z.total_out();
        let status = z.decompress(input, &mut out, gix::zlib::FlushDecompress::None);
        let consumed = (z.total_in() - before_in) as usize;
        let produced = (z.total_out() - before_out) as usize;
        inflated.extend_from_slice(&out[..produced]);
        input = &input[consumed..];
        match status {
            Ok(gix::zlib::Status::StreamEnd) => break,
            Ok(_) if consumed == 0 && produced == 0 => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    let Some(nul) = inflated.iter().position(|b| *b == 0) else {
        return false;
    };
    let header = &inflated[..nul];
    let body = &inflated[nul + 1..];
    let expected = format!("{kind} {}", body.len());
    header == expected.as_bytes()
        && gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, body).ok() == Some(id)
}

/// Loose object files of length zero: what a power cut can leave of an object whose data was
/// not yet synced. Such an object is never referenced (the branch moves only after the sync
/// barrier) and never trusted (see [`ObjectWriter::write_raw`]), but `git fsck` reports it.
///
/// With `since`, only fan-out directories changed at or after that time are listed: a write
/// cut short after the branch last moved created its object files there, and the directory's
/// time reaches the disk with the entry it changed. That is cheap enough for every open.
pub(crate) fn empty_loose_objects(
    objects_dir: &Path,
    since: Option<std::time::SystemTime>,
) -> Result<Vec<PathBuf>, Error> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(objects_dir).io_context("list directory", objects_dir)? {
        let entry = entry.io_context("list directory", objects_dir)?;
        let name = entry.file_name();
        let is_fan_out = name.len() == 2
            && name
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
        if !is_fan_out || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(since) = since
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|changed| changed < since)
        {
            continue;
        }
        let dir = entry.path();
        // `git gc` running beside us removes fan-out directories it has emptied.
        let objects = match std::fs::read_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => other.io_context("list directory", &dir)?,
        };
        for object in objects {
            let object = object.io_context("list directory", &dir)?;
            // Only object files: git's own temporary files here (`tmp_obj_*`) are empty for
            // a moment while a `git add` beside us writes them.
            let is_object_name = object
                .file_name()
                .to_str()
                .is_some_and(|n| n.len() == 38 && n.bytes().all(|b| b.is_ascii_hexdigit()));
            let path = object.path();
            if is_object_name
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0)
            {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// Remove [`empty_loose_objects`]; returns the files removed.
pub(crate) fn remove_empty_loose_objects(
    objects_dir: &Path,
    since: Option<std::time::SystemTime>,
) -> Result<Vec<PathBuf>, Error> {
    let found = empty_loose_objects(objects_dir, since)?;
    let mut dirs = std::collections::BTreeSet::new();
    for path in &found {
        std::fs::remove_file(path).io_context("remove empty object file", path)?;
        dirs.extend(path.parent().map(Path::to_path_buf));
    }
    // Synced: a removal lost to the next power cut would bring the file back in a directory
    // whose time no longer says it changed after the branch moved.
    for dir in &dirs {
        crate::durable::sync_dir(dir)?;
    }
    Ok(found)
}

/// Look for object `id` again through freshly opened repositories (at once, then once more
/// 20 ms later).
///
/// `git gc` beside us packs loose objects, deletes them, and replaces old packs with new
/// ones; a repository handle opened earlier can miss an object in that moment, which the
/// maintenance test (`test_concurrency::maintenance_never_breaks_a_concurrent_writer`) hit
/// as a failed write. Objects are never changed, so a second look cannot give a wrong one.
fn find_afresh(repo: &gix::Repository, id: ObjectId) -> Option<gix::ObjectDetached> {
    for attempt in 0..2 {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let fresh = crate::store::open_repository(repo.git_dir())
            .ok()?
            .to_thread_local();
        if let Ok(Some(object)) = fresh.try_find_object(id) {
            return Some(object.detach());
        }
    }
    None
}

fn open_dir_if_present(dir: &Path) -> Result<Option<File>, Error> {
    match File::open(dir) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).io_context("open directory", dir),
    }
}

/// Read object `id`, expecting `kind`, and check that its content hashes to `id`.
///
/// gix checks neither: a damaged loose object can inflate to different bytes of the right
/// length without any error (the fuzzer found one), and a document must never read as a
/// value it never had. Every object gitstate reads goes through here; hashing costs about a
/// microsecond per kilobyte.
pub(crate) fn find(
    repo: &gix::Repository,
    id: ObjectId,
    kind: gix::objs::Kind,
) -> Result<gix::Object<'_>, Error> {
    let context = || format!("read {kind} {id}");
    let object = match repo.try_find_object(id).git_context(context)? {
        Some(object) => object,
        None => match find_afresh(repo, id) {
            Some(object) => object.attach(repo),
            // Missing indeed: gix's own error says so.
            None => repo.find_object(id).git_context(context)?,
        },
    };
    if object.kind != kind {
        return Err(Error::Corrupt {
            what: format!("object {id} is a {}, expected a {kind}", object.kind),
        });
    }
    let actual = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, &object.data)
        .git_context(|| format!("hash {kind} {id}"))?;
    if actual != id {
        return Err(Error::Corrupt {
            what: format!("{kind} {id} is damaged: its content hashes to {actual}"),
        });
    }
    Ok(object)
}
