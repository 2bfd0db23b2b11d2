//! The objects the command shows: POSIX objects, System V segments and
//! files, with what the kernel says of them (size, mode, owner, users) and
//! their bytes read without a mapping of any POSIX object or file (pread),
//! so that reading them neither disturbs them nor makes this process a user.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use mapipc::lifecycle::{self, Lifetime};

use crate::procs::Users;

pub const SHM_DIR: &str = "/dev/shm";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Posix,
    Sysv,
    File,
}

/// One object and what is known of it.
#[derive(Debug)]
pub struct Object {
    pub kind: Kind,
    /// `/name` of a POSIX object, the path of a file.
    pub name: Option<String>,
    pub key: Option<i32>,
    pub id: Option<i32>,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub pids: Vec<u32>,
    pub temporary: bool,
    pub stale: bool,
    /// System V: attached count from the kernel, and whether the segment is
    /// already marked for deletion.
    pub nattch: Option<u64>,
    pub removed: bool,
    /// Where the bytes are read from: the open file, or the segment id.
    source: Source,
}

#[derive(Debug)]
enum Source {
    File(Option<File>),
    Sysv,
}

impl Object {
    /// A POSIX object or a file at `path`, shown as `name`. A file this
    /// process may not read is still listed, without lifetime or contents.
    pub fn of_path(kind: Kind, name: String, path: &Path, users: &Users) -> Result<Object, String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .ok();
        let meta = match &file {
            Some(f) => f.metadata(),
            None => std::fs::symlink_metadata(path),
        }
        .map_err(|e| format!("{name}: {}", cause(&e)))?;
        if !meta.file_type().is_file() {
            return Err(format!("{name}: not a regular file"));
        }
        let lifetime = file
            .as_ref()
            .and_then(|f| lifecycle::lifetime(f.as_fd()).ok());
        let dev = meta.dev();
        Ok(Object {
            kind,
            name: Some(name),
            key: None,
            id: None,
            size: meta.size(),
            // The permission bits alone: the sticky bit is the temporary marker,
            // shown as the lifetime (docs/lifecycle.md).
            mode: meta.mode() & 0o777,
            uid: meta.uid(),
            pids: users.of_file((libc::major(dev), libc::minor(dev), meta.ino())),
            temporary: matches!(lifetime, Some(Lifetime::Temporary { .. })),
            stale: matches!(lifetime, Some(Lifetime::Temporary { stale: true })),
            nattch: None,
            removed: false,
            source: Source::File(file),
        })
    }

    /// The POSIX object `/name`.
    pub fn posix(name: &str, users: &Users) -> Result<Object, String> {
        let path = posix_path(name)?;
        Object::of_path(Kind::Posix, name.to_string(), &path, users)
    }

    /// The names (`/name`) of everything in /dev/shm, sorted.
    pub fn posix_names() -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(SHM_DIR) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .map(|n| format!("/{n}"))
            .collect();
        names.sort();
        names
    }

    /// The System V segment `id`, as IPC_STAT describes it.
    pub fn sysv(id: i32, users: &Users) -> Result<Object, String> {
        let ds = crate::sysv::stat(id)?;
        Ok(Object {
            kind: Kind::Sysv,
            name: None,
            key: Some(ds.shm_perm.__key),
            id: Some(id),
            size: ds.shm_segsz as u64,
            mode: u32::from(ds.shm_perm.mode) & 0o777,
            uid: ds.shm_perm.uid,
            pids: users.of_sysv(id),
            temporary: false,
            stale: false,
            nattch: Some(ds.shm_nattch),
            removed: u32::from(ds.shm_perm.mode) & crate::sysv::SHM_DEST != 0,
            source: Source::Sysv,
        })
    }

    /// Up to `len` bytes from `offset` (fewer at the end of the object).
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let len = len.min(
            self.size
                .saturating_sub(offset)
                .try_into()
                .unwrap_or(usize::MAX),
        );
        match &self.source {
            Source::File(Some(f)) => {
                let mut buf = vec![0u8; len];
                let n = read_at(f, &mut buf, offset)
                    .map_err(|e| format!("{}: {}", self.label(), cause(&e)))?;
                buf.truncate(n);
                Ok(buf)
            }
            Source::File(None) => Err(format!(
                "{}: cannot read it: permission denied",
                self.label()
            )),
            Source::Sysv => crate::sysv::read(self.id.unwrap_or(-1), offset, len),
        }
    }

    /// How the object is named in messages.
    pub fn label(&self) -> String {
        match (&self.name, self.key, self.id) {
            (Some(n), _, _) => n.clone(),
            (None, Some(k), Some(id)) => format!("key {:#010x} (id {id})", k as u32),
            _ => "?".to_string(),
        }
    }
}

/// Fills `buf` as far as the file goes (it may shrink meanwhile).
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// /dev/shm/NAME for `/NAME`, with the name checked as the library checks it.
pub fn posix_path(name: &str) -> Result<PathBuf, String> {
    let c = mapipc::shm::posix::name(name).map_err(|e| e.message().to_string())?;
    mapipc::shm::posix::check_name(&c).map_err(|e| e.message().to_string())?;
    Ok(Path::new(SHM_DIR).join(&name[1..]))
}

/// "No such file or directory" without Rust's "(os error 2)".
pub fn cause(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Object {
    /// A POSIX object already removed, known only by its name.
    pub fn gone(name: String, temporary: bool, stale: bool) -> Object {
        Object {
            kind: Kind::Posix,
            name: Some(name),
            key: None,
            id: None,
            size: 0,
            mode: 0,
            uid: 0,
            pids: Vec::new(),
            temporary,
            stale,
            nattch: None,
            removed: true,
            source: Source::File(None),
        }
    }
}
