//! A FUSE file system that can lose power: the power-loss harness for gitstate's durability
//! claims.
//!
//! SIGKILL keeps the page cache, so it cannot show a missing fsync. This file system keeps, for
//! every file and directory, both what programs see now and what a disk would hold: the
//! *durable* copy, taken when the node is synced (`fsync` of a file makes its bytes and
//! attributes durable; `fsync` of a directory makes its entries durable — the POSIX rule, with
//! no journal ordering to rely on). A power cut ([`Mounted::reboot`]) throws away everything
//! that was not synced, except what the kernel might have written back on its own before the
//! cut: each unsynced node survives whole with probability `writeback` (0 = strict, nothing
//! unsynced survives; any other value explores the combinations a real page cache allows).
//!
//! The reboot also moves every file time back to before the machine's real boot time, as
//! a real reboot would leave them: gitstate tells a git lock file left by the power cut from
//! one a live program holds that way.
//!
//! [`Mounted::cut_after`] arms the cut: the N-th mutating operation from now fails with `EIO`,
//! and so does every operation after it, as if the machine had stopped at that point.
//!
//! Limits, said plainly: `syncfs(2)` is not forwarded by the kernel to a FUSE server, so
//! gitstate's `SyncMethod::FileSystem` cannot be checked here (the default per-file method
//! is); written-back nodes survive whole, not page by page; `flock` is handled by the kernel.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

const ROOT: u64 = 1;

/// How far back a reboot moves every file time: further than any machine's uptime.
const REBOOT_SHIFT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Clone, Debug)]
enum Body {
    File(Vec<u8>),
    Dir(BTreeMap<OsString, u64>),
    Symlink(OsString),
}

#[derive(Clone, Debug)]
struct Inode {
    body: Body,
    perm: u16,
    /// Modification time: part of the inode, durable with it.
    mtime: SystemTime,
}

impl Inode {
    /// What a node that was never synced holds after a power cut.
    fn blank(&self) -> Inode {
        let body = match &self.body {
            Body::File(_) => Body::File(Vec::new()),
            Body::Dir(_) => Body::Dir(BTreeMap::new()),
            Body::Symlink(t) => Body::Symlink(t.clone()),
        };
        Inode {
            body,
            perm: self.perm,
            mtime: self.mtime,
        }
    }
}

#[derive(Debug)]
struct Node {
    now: Inode,
    durable: Option<Inode>,
    dirty: bool,
}

#[derive(Debug)]
struct Model {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    /// Operations counted since the file system was created.
    ops: u64,
    /// The operation at which power is cut.
    cut_at: Option<u64>,
    dead: bool,
    syncs: u64,
}

impl Model {
    fn new() -> Model {
        let root = Inode {
            body: Body::Dir(BTreeMap::new()),
            perm: 0o755,
            mtime: SystemTime::now(),
        };
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                now: root.clone(),
                durable: Some(root),
                dirty: false,
            },
        );
        Model {
            nodes,
            next_ino: ROOT + 1,
            ops: 0,
            cut_at: None,
            dead: false,
            syncs: 0,
        }
    }

    /// Every operation passes here: after the cut, nothing works.
    fn alive(&self) -> Result<(), Errno> {
        if self.dead { Err(Errno::EIO) } else { Ok(()) }
    }

    /// A mutating operation: counts, and cuts the power when armed for this one.
    fn mutate(&mut self) -> Result<(), Errno> {
        self.alive()?;
        self.ops += 1;
        if self.cut_at == Some(self.ops) {
            self.dead = true;
            return Err(Errno::EIO);
        }
        Ok(())
    }

    fn node(&self, ino: u64) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: u64) -> Result<&mut Node, Errno> {
        let node = self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?;
        node.dirty = true;
        node.now.mtime = SystemTime::now();
        Ok(node)
    }

    fn entries(&self, dir: u64) -> Result<&BTreeMap<OsString, u64>, Errno> {
        match &self.node(dir)?.now.body {
            Body::Dir(entries) => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match &mut self.node_mut(dir)?.now.body {
            Body::Dir(entries) => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn lookup(&self, dir: u64, name: &OsStr) -> Result<u64, Errno> {
        self.entries(dir)?.get(name).copied().ok_or(Errno::ENOENT)
    }

    fn attr(&self, ino: u64) -> Result<FileAttr, Errno> {
        let node = self.node(ino)?;
        let (kind, size, nlink) = match &node.now.body {
            Body::File(data) => (FileType::RegularFile, data.len() as u64, 1),
            Body::Dir(_) => (FileType::Directory, 4096, 2),
            Body::Symlink(t) => (FileType::Symlink, t.len() as u64, 1),
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: node.now.mtime,
            mtime: node.now.mtime,
            ctime: node.now.mtime,
            crtime: node.now.mtime,
            kind,
            perm: node.now.perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn create(&mut self, parent: u64, name: &OsStr, inode: Inode) -> Result<FileAttr, Errno> {
        self.mutate()?;
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(
            ino,
            Node {
                now: inode,
                durable: None,
                dirty: true,
            },
        );
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        self.attr(ino)
    }

    fn sync(&mut self, ino: u64) -> Result<(), Errno> {
        self.mutate()?;
        let node = self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?;
        node.durable = Some(node.now.clone());
        node.dirty = false;
        self.syncs += 1;
        Ok(())
    }

    /// The power cut: every node falls back to its durable copy, unless the page cache wrote
    /// it back before the cut (probability `writeback`, decided by `coin`).
    fn lose_power(&mut self, writeback: f64, coin: &mut dyn FnMut() -> f64) {
        let mut inos: Vec<u64> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let node = self.nodes.get_mut(&ino).expect("listed");
            if node.dirty && writeback > 0.0 && coin() < writeback {
                node.durable = Some(node.now.clone());
            }
            node.now = match &node.durable {
                Some(durable) => durable.clone(),
                None => node.now.blank(),
            };
            node.dirty = false;
        }
        // The machine booted after everything on the disk was written: move every time
        // back by ten years, before the real boot time, keeping their order.
        for node in self.nodes.values_mut() {
            for inode in std::iter::once(&mut node.now).chain(node.durable.as_mut()) {
                inode.mtime = inode.mtime.checked_sub(REBOOT_SHIFT).unwrap_or(inode.mtime);
            }
        }
        // Nodes no directory reaches any more are gone with the reboot.
        let mut reachable = std::collections::HashSet::from([ROOT]);
        let mut pending = vec![ROOT];
        while let Some(ino) = pending.pop() {
            if let Some(Body::Dir(entries)) = self.nodes.get(&ino).map(|n| &n.now.body) {
                for child in entries.values() {
                    if reachable.insert(*child) {
                        pending.push(*child);
                    }
                }
            }
        }
        self.nodes.retain(|ino, _| reachable.contains(ino));
        self.dead = false;
        self.cut_at = None;
    }

    fn unlink(&mut self, parent: u64, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        self.mutate()?;
        let ino = self.lookup(parent, name)?;
        match (&self.node(ino)?.now.body, want_dir) {
            (Body::Dir(entries), true) if !entries.is_empty() => return Err(Errno::ENOTEMPTY),
            (Body::Dir(_), true) => {}
            (Body::Dir(_), false) => return Err(Errno::EISDIR),
            (_, true) => return Err(Errno::ENOTDIR),
            (_, false) => {}
        }
        self.entries_mut(parent)?.remove(name);
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        self.mutate()?;
        let ino = self.lookup(parent, name)?;
        let target = self.entries(newparent)?.get(newname).copied();
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            let other = target.ok_or(Errno::ENOENT)?;
            self.entries_mut(parent)?.insert(name.to_owned(), other);
            self.entries_mut(newparent)?.insert(newname.to_owned(), ino);
            return Ok(());
        }
        if let Some(target) = target {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            if let Body::Dir(entries) = &self.node(target)?.now.body
                && !entries.is_empty()
            {
                return Err(Errno::ENOTEMPTY);
            }
        }
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(newparent)?.insert(newname.to_owned(), ino);
        Ok(())
    }
}

/// A FUSE file system whose unsynced data a power cut can take away.
#[derive(Clone, Debug)]
pub struct PowerFs {
    model: Arc<Mutex<Model>>,
}

impl Default for PowerFs {
    fn default() -> Self {
        Self::new()
    }
}

impl PowerFs {
    /// An empty file system.
    pub fn new() -> PowerFs {
        PowerFs {
            model: Arc::new(Mutex::new(Model::new())),
        }
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mount at `dir` (an empty directory). Needs `/dev/fuse` and the right to mount.
    pub fn mount(&self, dir: &Path) -> std::io::Result<Mounted> {
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("gitstate-powerfs".into()),
            MountOption::NoAtime,
        ];
        let session = fuser::spawn_mount(self.clone(), dir, &config)?;
        Ok(Mounted {
            fs: self.clone(),
            dir: dir.to_owned(),
            session: Some(session),
        })
    }
}

/// A mounted [`PowerFs`]; dropping it unmounts.
pub struct Mounted {
    fs: PowerFs,
    dir: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl Mounted {
    /// Where the file system is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Mutating operations performed so far.
    pub fn ops(&self) -> u64 {
        self.fs.model().ops
    }

    /// `fsync`s (of files and directories) performed so far.
    pub fn syncs(&self) -> u64 {
        self.fs.model().syncs
    }

    /// Cut the power at the `n`-th mutating operation from now (n ≥ 1): it and everything
    /// after it fails with `EIO`.
    pub fn cut_after(&self, n: u64) {
        let mut model = self.fs.model();
        model.cut_at = Some(model.ops + n.max(1));
    }

    /// Whether the armed cut has happened.
    pub fn is_dead(&self) -> bool {
        self.fs.model().dead
    }

    /// Make everything durable, as a long idle period with the kernel's writeback would.
    pub fn settle(&self) {
        let mut model = self.fs.model();
        for node in model.nodes.values_mut() {
            node.durable = Some(node.now.clone());
            node.dirty = false;
        }
    }

    /// Lose power (now, if the armed cut has not happened yet) and boot again: unmount, keep
    /// only what was durable (plus what writeback saved, see the module docs), mount again.
    /// Every process using the file system must have exited.
    pub fn reboot(&mut self, writeback: f64, coin: &mut dyn FnMut() -> f64) -> std::io::Result<()> {
        self.fs.model().dead = true;
        if let Some(session) = self.session.take() {
            session.umount_and_join()?;
        }
        self.fs.model().lose_power(writeback, coin);
        let mounted = self.fs.mount(&self.dir)?;
        self.session = mounted.session_take();
        Ok(())
    }

    fn session_take(mut self) -> Option<fuser::BackgroundSession> {
        self.session.take()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}

const TTL: Duration = Duration::ZERO;

fn reply_entry(reply: ReplyEntry, attr: Result<FileAttr, Errno>) {
    match attr {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn reply_attr(reply: ReplyAttr, attr: Result<FileAttr, Errno>) {
    match attr {
        Ok(attr) => reply.attr(&TTL, &attr),
        Err(e) => reply.error(e),
    }
}

fn new_file(mode: u32, umask: u32) -> Inode {
    Inode {
        body: Body::File(Vec::new()),
        perm: (mode & !umask & 0o7777) as u16,
        mtime: SystemTime::now(),
    }
}

impl Filesystem for PowerFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let m = self.model();
        let attr = m
            .alive()
            .and_then(|()| m.lookup(parent.0, name))
            .and_then(|ino| m.attr(ino));
        reply_entry(reply, attr);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let m = self.model();
        reply_attr(reply, m.alive().and_then(|()| m.attr(ino.0)));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut m = self.model();
        let result = (|| {
            m.mutate()?;
            let node = m.node_mut(ino.0)?;
            if let Some(mode) = mode {
                node.now.perm = (mode & 0o7777) as u16;
            }
            if let Some(TimeOrNow::SpecificTime(t)) = mtime {
                node.now.mtime = t;
            }
            if let Some(size) = size {
                match &mut node.now.body {
                    Body::File(data) => {
                        data.resize(usize::try_from(size).map_err(|_| Errno::EFBIG)?, 0);
                    }
                    _ => return Err(Errno::EISDIR),
                }
            }
            m.attr(ino.0)
        })();
        reply_attr(reply, result);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let m = self.model();
        match m.alive().and_then(|()| m.node(ino.0)).map(|n| &n.now.body) {
            Ok(Body::Symlink(target)) => reply.data(target.as_encoded_bytes()),
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            reply.error(Errno::EPERM);
            return;
        }
        let attr = self.model().create(parent.0, name, new_file(mode, umask));
        reply_entry(reply, attr);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let inode = Inode {
            body: Body::Dir(BTreeMap::new()),
            perm: (mode & !umask & 0o7777) as u16,
            mtime: SystemTime::now(),
        };
        let attr = self.model().create(parent.0, name, inode);
        reply_entry(reply, attr);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.model().unlink(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.model().unlink(parent.0, name, true));
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let inode = Inode {
            body: Body::Symlink(target.as_os_str().to_owned()),
            perm: 0o777,
            mtime: SystemTime::now(),
        };
        let attr = self.model().create(parent.0, link_name, inode);
        reply_entry(reply, attr);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = self
            .model()
            .rename(parent.0, name, newparent.0, newname, flags);
        reply_empty(reply, result);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let m = self.model();
        match m.alive().and_then(|()| m.node(ino.0)) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let m = self.model();
        match m.alive().and_then(|()| m.node(ino.0)).map(|n| &n.now.body) {
            Ok(Body::File(data)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(size as usize).min(data.len());
                reply.data(&data[start..end]);
            }
            Ok(_) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut m = self.model();
        let result = (|| {
            m.mutate()?;
            match &mut m.node_mut(ino.0)?.now.body {
                Body::File(bytes) => {
                    let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
                    let end = start + data.len();
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                    bytes[start..end].copy_from_slice(data);
                    Ok(data.len() as u32)
                }
                _ => Err(Errno::EISDIR),
            }
        })();
        match result {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) is not a sync.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.model().sync(ino.0));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let m = self.model();
        match m.alive().and_then(|()| m.entries(ino.0)) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let m = self.model();
        let entries = match m.alive().and_then(|()| m.entries(ino.0)) {
            Ok(entries) => entries,
            Err(e) => {
                reply.error(e);
                return;
            }
        };
        let mut all: Vec<(u64, FileType, OsString)> = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ino.0, FileType::Directory, "..".into()),
        ];
        for (name, child) in entries {
            let kind = match m.nodes.get(child).map(|n| &n.now.body) {
                Some(Body::Dir(_)) => FileType::Directory,
                Some(Body::Symlink(_)) => FileType::Symlink,
                _ => FileType::RegularFile,
            };
            all.push((*child, kind, name.clone()));
        }
        for (i, (child, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.model().sync(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(1 << 20, 1 << 19, 1 << 19, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply_empty(reply, self.model().alive());
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.model().create(parent.0, name, new_file(mode, umask)) {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }
}
