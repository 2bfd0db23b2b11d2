//! Small helpers around libc shared by every layer: page size, paths as C
//! strings, descriptors, what /proc says of a mapping. Must not depend on any
//! other module of the crate but `error`.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind, Result};

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The system page size, read once.
pub fn page_size() -> usize {
    let cached = PAGE_SIZE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let size = if size > 0 { size as usize } else { 4096 };
    PAGE_SIZE.store(size, Ordering::Relaxed);
    size
}

/// Path as a C string; a path with an interior NUL cannot name a file.
pub fn c_path(path: &Path) -> Result<CString> {
    if path.as_os_str().is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "the path is empty"));
    }
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the path {:?} contains a NUL byte", path.display()),
        )
    })
}

/// A C path as a `Path`, for messages and Rust APIs.
pub fn path_of(path: &CStr) -> &Path {
    Path::new(OsStr::from_bytes(path.to_bytes()))
}

/// `open(2)` with `O_CLOEXEC` always added; returns the raw errno on failure
/// so that callers can word the message for their context.
pub fn open(
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> std::result::Result<OwnedFd, i32> {
    // SAFETY: path is a valid NUL-terminated string for the whole call.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(errno::errno().0)
    } else {
        // SAFETY: fd was just returned by open and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// `fstat(2)`.
pub fn fstat(fd: &OwnedFd) -> std::result::Result<libc::stat, i32> {
    use std::os::fd::AsRawFd;
    fstat_raw(fd.as_raw_fd())
}

/// `fstat(2)` of a raw descriptor.
pub fn fstat_raw(fd: libc::c_int) -> std::result::Result<libc::stat, i32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st points to writable memory of the right size; a bad fd is
    // reported as EBADF.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } < 0 {
        Err(errno::errno().0)
    } else {
        // SAFETY: fstat succeeded, so it filled the whole struct.
        Ok(unsafe { st.assume_init() })
    }
}

/// `stat(2)`: what `path` names now.
pub fn stat(path: &CStr) -> std::result::Result<libc::stat, i32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: path is NUL-terminated; st is writable and sized.
    if unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) } < 0 {
        Err(errno::errno().0)
    } else {
        // SAFETY: stat succeeded, so it filled the whole struct.
        Ok(unsafe { st.assume_init() })
    }
}

/// `fchmod(2)`: exactly these mode bits (the umask plays no part).
pub fn fchmod(fd: &OwnedFd, mode: libc::mode_t) -> std::result::Result<(), i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall wrapper on an open descriptor.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } < 0 {
        Err(errno::errno().0)
    } else {
        Ok(())
    }
}

/// What kind of object a mode describes, for messages.
pub fn file_type_name(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "not a regular file",
    }
}

/// `posix_fallocate`, which returns the error number instead of setting errno.
pub fn fallocate(fd: &OwnedFd, offset: i64, len: i64) -> std::result::Result<(), i32> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: plain syscall wrapper on an open descriptor.
        let rc = unsafe { libc::posix_fallocate(fd.as_raw_fd(), offset, len) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// `ftruncate(2)`.
pub fn ftruncate(fd: &OwnedFd, len: i64) -> std::result::Result<(), i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall wrapper on an open descriptor.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } < 0 {
        Err(errno::errno().0)
    } else {
        Ok(())
    }
}

/// Round `n` up to a multiple of the page size, or None on overflow.
pub fn page_round_up(n: usize) -> Option<usize> {
    let page = page_size();
    n.checked_add(page - 1).map(|v| v & !(page - 1))
}

/// Where a mapped address comes from, as `/proc/self/maps` tells.
#[derive(Debug)]
pub struct MappingSource {
    pub path: std::path::PathBuf,
    /// Offset in the file of the address asked about.
    pub offset: u64,
    pub inode: u64,
}

/// The file mapped at `addr`, if any. For error messages only: it reads
/// and parses `/proc/self/maps`.
pub fn mapping_source(addr: usize) -> Option<MappingSource> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        // start-end perms offset dev inode path
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        if addr < start || addr >= end {
            return None;
        }
        let _perms = fields.next()?;
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let _dev = fields.next()?;
        let inode = fields.next()?.parse().ok()?;
        let path = fields.next()?.trim_start();
        if inode == 0 || !path.starts_with('/') {
            return None;
        }
        Some(MappingSource {
            path: path.into(),
            offset: offset + (addr - start) as u64,
            inode,
        })
    })
}

/// The size of the file at `path`, if it is still the file `inode`.
pub fn file_size(path: &Path, inode: u64) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    use std::os::unix::fs::MetadataExt;
    (meta.ino() == inode).then_some(meta.len())
}

/// The little-endian u32 at `bytes[at..at + 4]` (panics past the end: the
/// callers bound `at` first).
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// The little-endian u64 at `bytes[at..at + 8]`.
pub(crate) fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}
