//! Objects that vanish with their last user (`MAPIPC_TEMPORARY`): how a
//! temporary object is marked (the sticky bit), the open-file-description
//! read lock every user holds, removal by the last user, and collecting
//! stale objects in /dev/shm. Offers primitives to `map`, which owns the
//! open-or-create loop; must not know how regions are mapped or named.
//!
//! The protocol (docs/lifecycle.md): a user holds `F_RDLCK` through an
//! `F_OFD_SETLK` lock on a descriptor its region keeps (`O_CLOEXEC`, so
//! exec ends the user; shared with `fork` children, so they count). Only a
//! remover takes `F_WRLCK`, which succeeds only when no user is left; it
//! unlinks the path only if the path still names the same inode.

mod collect;
mod lock;

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;

use crate::error::{Error, Result};
use crate::region::Kept;
use crate::sys;

pub use collect::collect;

/// Where POSIX shared memory objects live (glibc's `shm_open` directory).
pub const SHM_DIR: &str = "/dev/shm";

/// What mapipc knows of an object's lifetime, read without disturbing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Not made with `MAPIPC_TEMPORARY`: mapipc never removes it.
    Permanent,
    /// Made with `MAPIPC_TEMPORARY`; `stale` when no user holds it any more
    /// (the next lookup or `mapipc_gc` removes it).
    Temporary { stale: bool },
}

/// Reads the marker and probes the users' locks of the object open at `fd`.
/// Takes no lock and changes nothing.
pub fn lifetime(fd: BorrowedFd<'_>) -> Result<Lifetime> {
    let st = sys::fstat_raw(fd.as_raw_fd())
        .map_err(|e| Error::from_os(e, "cannot inspect the object's descriptor"))?;
    if !is_marked(&st) {
        return Ok(Lifetime::Permanent);
    }
    let held = lock::probe(fd)
        .map_err(|e| Error::from_os(e, "cannot probe the users' locks of a temporary object"))?;
    Ok(Lifetime::Temporary {
        stale: held != Some(libc::F_RDLCK as libc::c_short),
    })
}

/// A regular file whose mode has the sticky bit: the temporary marker.
fn is_marked(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & libc::S_ISVTX != 0
}

/// Device and inode: what "the same object" means across paths.
type Id = (u64, u64);

fn id_of(st: &libc::stat) -> Id {
    (st.st_dev, st.st_ino)
}

/// The object `path` names now, if any.
fn id_at(path: &CStr) -> Option<Id> {
    sys::stat(path).ok().map(|st| id_of(&st))
}

/// What the last component of `path` itself is (a symbolic link is not
/// followed): what unlinking `path` would remove.
fn entry_at(path: &CStr) -> Option<Id> {
    let m = std::fs::symlink_metadata(OsStr::from_bytes(path.to_bytes())).ok()?;
    Some((m.dev(), m.ino()))
}

/// The path that names object `id` itself, for its remover: `path`, or
/// where `path` leads if its last component is a symbolic link (a remover
/// unlinks only the object's own name, never a link to it).
fn removal_path(path: &CStr, id: Id) -> CString {
    if entry_at(path) == Some(id) {
        return path.to_owned();
    }
    std::fs::canonicalize(OsStr::from_bytes(path.to_bytes()))
        .ok()
        .and_then(|p| CString::new(p.into_os_string().into_vec()).ok())
        .filter(|p| entry_at(p) == Some(id))
        .unwrap_or_else(|| path.to_owned())
}

/// A second open file description of the object open as `fd`, for a
/// user's lock: the object's own descriptor, which `mapipc_region_fd` and
/// `mapipc_send_region` hand out, must not carry the lock to others.
fn lock_description(fd: &OwnedFd) -> std::result::Result<OwnedFd, i32> {
    let link =
        CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|_| libc::EINVAL)?;
    sys::open(&link, libc::O_RDONLY | libc::O_NOCTTY, 0)
}

/// Open flags of a remover's own description: never through a link, never
/// waiting (a FIFO put in the object's place), never a terminal.
const REMOVER_OPEN: libc::c_int =
    libc::O_RDWR | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW;

/// One process's use of a temporary object: its locked descriptor. Dropped
/// after the region's mapping goes; then, if no user is left, the object is
/// removed at once.
#[derive(Debug)]
pub(crate) struct User {
    fd: Option<OwnedFd>,
    path: CString,
    id: Id,
}

impl Kept for User {}

impl Drop for User {
    fn drop(&mut self) {
        // Open a second description before letting ours go: if the path no
        // longer names our object, it is not ours to remove.
        let fresh = sys::open(&self.path, REMOVER_OPEN, 0);
        drop(self.fd.take());
        if let Ok(fresh) = fresh {
            if sys::fstat(&fresh).is_ok_and(|st| id_of(&st) == self.id) {
                let _ = remove_locked(&fresh, &self.path, self.id);
            }
        }
    }
}

/// Removes `path` if nobody uses the object `fd` describes (a write lock is
/// granted only then, and keeps joiners out while it is held) and the path
/// still names it (not through a link). The lock goes with `fd`. The
/// errno of a failure: `EAGAIN` (a lock is held), `ESTALE` (the path names
/// something else now), or `unlink`'s.
fn remove_locked(fd: &OwnedFd, path: &CStr, id: Id) -> std::result::Result<(), i32> {
    lock::try_write(fd.as_fd())?;
    if entry_at(path) != Some(id) {
        return Err(libc::ESTALE);
    }
    // SAFETY: path is NUL-terminated.
    if unsafe { libc::unlink(path.as_ptr()) } < 0 {
        return Err(errno::errno().0);
    }
    Ok(())
}

/// Removes the stale temporary object `id` at `path`. Only a refusal of
/// this process's rights is `Stuck`: a lock held or a name changed means
/// another process is at work, and the lookup looks again.
fn remove_if_stale(path: &CStr, id: Id) -> Join {
    let done = sys::open(path, REMOVER_OPEN, 0).and_then(|fd| match sys::fstat(&fd) {
        Ok(st) if id_of(&st) == id => remove_locked(&fd, path, id),
        _ => Err(libc::ESTALE),
    });
    match done {
        // ELOOP: a link that leads nowhere this process may unlink.
        Err(libc::EACCES | libc::EPERM | libc::EROFS | libc::ELOOP) => Join::Stuck,
        _ => Join::Absent,
    }
}

/// What an existing object at a path turned out to be.
#[derive(Debug)]
pub(crate) enum Join {
    /// Not temporary: map it as it is.
    Permanent,
    /// A live temporary object; this process is now one of its users.
    Joined(User),
    /// Stale and removed, being removed, or replaced meanwhile: absent for
    /// this lookup; look again.
    Absent,
    /// Stale, but this process may not remove it.
    Stuck,
}

/// Classifies the object just opened at `path` as `fd`, joining it as a
/// user if it is a live temporary object. A stale one is never revived:
/// users are probed before this process takes its own lock, so a lock
/// seen is always that of a process that found the object live.
pub(crate) fn join(fd: &OwnedFd, path: &CStr) -> std::result::Result<Join, i32> {
    let st = sys::fstat(fd)?;
    if !is_marked(&st) {
        return Ok(Join::Permanent);
    }
    let id = id_of(&st);
    match lock::probe(fd.as_fd())? {
        None => return Ok(remove_if_stale(&removal_path(path, id), id)),
        // A remover holds it: wait until it is done (it holds the lock for
        // a stat and an unlink), then look again.
        Some(ty) if ty == libc::F_WRLCK as libc::c_short => {
            lock::wait_read(fd.as_fd())?;
            return Ok(Join::Absent);
        }
        Some(_) => {}
    }
    let own = lock_description(fd)?;
    lock::wait_read(own.as_fd())?;
    if id_at(path) != Some(id) {
        return Ok(Join::Absent);
    }
    Ok(Join::Joined(User {
        fd: Some(own),
        path: removal_path(path, id),
        id,
    }))
}

/// A new temporary object not yet visible at its path: marked, with the
/// permission bits wanted, and locked by its creator, so that it is live
/// from the instant [`Unnamed::publish`] names it.
#[derive(Debug)]
pub(crate) struct Unnamed {
    fd: OwnedFd,
    /// The creator's user lock, on a description of its own.
    lock: Option<OwnedFd>,
    id: Id,
    /// The hidden name it has where `O_TMPFILE` is not supported.
    hidden: Option<CString>,
}

impl Unnamed {
    /// Creates it in the directory of `path`; `mode` `None` is 0600
    /// filtered by the umask, as `open(2)` does.
    pub(crate) fn create(path: &CStr, mode: Option<u32>) -> std::result::Result<Unnamed, i32> {
        let dir = directory_of(path);
        let rw = libc::O_RDWR | libc::O_NOCTTY;
        let mut unnamed = match sys::open(&dir, libc::O_TMPFILE | rw, 0o600) {
            Ok(fd) => Unnamed {
                fd,
                lock: None,
                id: (0, 0),
                hidden: None,
            },
            Err(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL) => {
                let hidden = hidden_name(&dir);
                let fd = sys::open(&hidden, libc::O_CREAT | libc::O_EXCL | rw, 0o600)?;
                Unnamed {
                    fd,
                    lock: None,
                    id: (0, 0),
                    hidden: Some(hidden),
                }
            }
            Err(e) => return Err(e),
        };
        let st = sys::fstat(&unnamed.fd)?;
        unnamed.id = id_of(&st);
        let bits = match mode {
            Some(m) => m as libc::mode_t,
            None => st.st_mode & 0o777,
        };
        // Locked before it is marked: a hidden name is visible to
        // `mapipc_gc`, which must never see it marked and unlocked.
        let lock = lock_description(&unnamed.fd)?;
        lock::try_read(lock.as_fd())?;
        unnamed.lock = Some(lock);
        sys::fchmod(&unnamed.fd, bits | libc::S_ISVTX)?;
        Ok(unnamed)
    }

    /// The descriptor, to size and map the object before it is named.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Names it `path`, atomically and only if `path` is free (`EEXIST`
    /// otherwise, with the object handed back to try again); the creator
    /// is then its first user.
    pub(crate) fn publish(mut self, path: &CStr) -> std::result::Result<User, (Unnamed, i32)> {
        if let Err(e) = self.link(path) {
            return Err((self, e));
        }
        Ok(User {
            fd: self.lock.take(),
            path: path.to_owned(),
            id: self.id,
        })
    }

    fn link(&self, path: &CStr) -> std::result::Result<(), i32> {
        let rc = match &self.hidden {
            // SAFETY: both paths are NUL-terminated.
            Some(hidden) => unsafe { libc::link(hidden.as_ptr(), path.as_ptr()) },
            None => {
                let proc_path = CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
                    .map_err(|_| libc::EINVAL)?;
                // SAFETY: both paths are NUL-terminated; linking an
                // O_TMPFILE descriptor through /proc is how open(2) says
                // to give it a name.
                unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        proc_path.as_ptr(),
                        libc::AT_FDCWD,
                        path.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                }
            }
        };
        if rc < 0 {
            return Err(errno::errno().0);
        }
        Ok(())
    }

    fn remove_hidden(&mut self) {
        if let Some(hidden) = self.hidden.take() {
            // SAFETY: hidden is NUL-terminated.
            unsafe { libc::unlink(hidden.as_ptr()) };
        }
    }
}

impl Drop for Unnamed {
    fn drop(&mut self) {
        self.remove_hidden();
    }
}

/// The directory a path's last component lives in ("." for a bare name).
fn directory_of(path: &CStr) -> CString {
    let bytes = path.to_bytes();
    let dir = match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => &b"/"[..],
        Some(i) => &bytes[..i],
        None => &b"."[..],
    };
    // Cannot fail: a part of a C string has no NUL.
    CString::new(dir).unwrap_or_default()
}

/// A name in `dir` no other process picks: pid, a counter and the clock.
fn hidden_name(dir: &CStr) -> CString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let name = format!(
        "{}/.mapipc-new-{pid}-{n}-{nanos:x}",
        String::from_utf8_lossy(dir.to_bytes())
    );
    CString::new(name).unwrap_or_default()
}
