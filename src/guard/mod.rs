//! Access to mapped files that survives the file shrinking underneath.
//!
//! When another process truncates a mapped file (log rotation, an editor,
//! the seed labs' writer), the next load or store through the mapping raises
//! SIGBUS and the process dies. Two ways out, both built on one SIGBUS
//! handler (`handler`) that is installed only when first needed:
//! - [`read()`] and [`write()`] copy between a region and ordinary memory with a
//!   copy the handler can stop (`copy`), and report `Truncated` instead;
//! - a region mapped with `MapOptions::guarded` is listed in a lock-free
//!   table (`table`); a fault there past the file's end replaces every
//!   page past the end with private zeros at once, and the region's next
//!   sync (and any copy of those bytes) reports `Truncated`.
//!
//! Only SIGBUS is handled, and only mapipc's own faults (the copy's region
//! side; a guarded page past its file's end); every other SIGBUS reaches
//! the program's own disposition as the kernel would have applied it.
//! Owns the SIGBUS disposition; must never take a lock or allocate in the
//! handler, and knows regions only through their info.

mod copy;
mod handler;
mod table;

use table::SlotId;

use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::{Error, ErrorKind, Result};
use crate::region::{Region, RegionInfo, Watcher};
use crate::sys;

/// Puts a freshly mapped region of the file `fd` (mapped from file offset
/// `offset`) under guard. On failure the region is dropped (unmapped) and
/// the error returned.
pub(crate) fn protect(mut region: Region, fd: &OwnedFd, offset: u64) -> Result<Region> {
    handler::install()?;
    handler::reclaim();
    let info = region.info();
    let prot = if info.is_writable() {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    let what = || format!("cannot guard the region at {:#x}", info.addr());
    let st = sys::fstat(fd).map_err(|e| Error::from_os(e, what()))?;
    // SAFETY: a zeroed statfs is a valid value to be filled in.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; fs is writable.
    let on_hugetlbfs =
        unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) } == 0 && fs.f_type == HUGETLBFS_MAGIC;
    // On hugetlbfs a mapping can only be split at huge page boundaries.
    let gran = if on_hugetlbfs {
        (st.st_blksize as usize).max(sys::page_size())
    } else {
        sys::page_size()
    };
    // The handler needs the file's size at fault time: a descriptor of its
    // own (the caller's is closed after mapping).
    // SAFETY: fd is open; F_DUPFD_CLOEXEC makes a new descriptor.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(Error::last_os(format!(
            "{}: no descriptor for the guard",
            what()
        )));
    }
    let start = info.base_addr();
    // The identity the handler will compare with: the kernel's view of the
    // mapping (on overlayfs that is the underlying file), else fstat's.
    let (ino, dev_major, dev_minor) = table::mapping_identity(start).unwrap_or((
        st.st_ino,
        libc::major(st.st_dev),
        libc::minor(st.st_dev),
    ));
    let guarded = table::Guarded {
        start,
        end: start + info.map_len(),
        prot,
        fd: dup,
        fd_dev: st.st_dev,
        fd_ino: st.st_ino,
        offset,
        ino,
        dev_major,
        dev_minor,
        gran,
    };
    let slot = match table::register(&guarded) {
        Some(slot) => slot,
        None => {
            // SAFETY: dup was opened above and is not stored anywhere.
            unsafe { libc::close(dup) };
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "{}: {} guarded regions are live already, the most a process may have",
                    what(),
                    table::SLOTS
                ),
            ));
        }
    };
    region.set_watch(&GUARD, slot.token());
    Ok(region)
}

const HUGETLBFS_MAGIC: libc::c_long = 0x9584_58f6;

/// Puts mapipc's SIGBUS handler back in front of one the program installed
/// after it (the program's is chained to). A system call when installed.
pub(crate) fn reclaim_handler() {
    handler::reclaim();
    recheck_mask();
}

/// How the region layer reaches the guard table without knowing it.
struct Guard;

static GUARD: Guard = Guard;

impl Watcher for Guard {
    fn suspend(&self, token: usize) {
        table::disable(SlotId::from_token(token));
    }

    fn resume(&self, token: usize) {
        table::enable(SlotId::from_token(token));
    }

    fn forget(&self, token: usize) {
        table::free(SlotId::from_token(token));
    }

    fn after_sync(&self, region: &RegionInfo, token: usize) -> Result<()> {
        check_nothing_lost(SlotId::from_token(token), region.addr())
    }
}

/// For a guarded region's sync: `Truncated` once any of its pages
/// vanished (stores to them never reached the file), on every sync after
/// that, naming the file and its size now.
fn check_nothing_lost(slot: SlotId, addr: usize) -> Result<()> {
    let (zero_from, end, fd) = table::lost(slot);
    if zero_from >= end {
        return Ok(());
    }
    let pages = (end - zero_from).div_ceil(sys::page_size());
    Err(Error::new(
        ErrorKind::Truncated,
        format!(
            "{} behind the guarded region at {addr:#x} shrank: {pages} of its pages (from \
             {zero_from:#x} to its end) vanished, read as zeros since, and stores to them never \
             reached the file",
            file_of(fd)
        ),
    )
    .with_errno(libc::EFAULT))
}

/// "the file \"path\" (now N bytes long)", from a descriptor.
fn file_of(fd: i32) -> String {
    let path = std::fs::read_link(format!("/proc/self/fd/{fd}"));
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is writable; a bad descriptor only fails.
    let size = (unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0)
        // SAFETY: fstat succeeded and filled st.
        .then(|| unsafe { st.assume_init() }.st_size);
    let size = match size {
        Some(size) => format!("now {size} bytes long"),
        None => "size unknown".to_string(),
    };
    match path {
        Ok(path) => format!("the file \"{}\" ({size})", path.display()),
        Err(_) => format!("the file ({size})"),
    }
}

/// Which way a copy goes, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the region into the caller's memory.
    Read,
    /// From the caller's memory into the region.
    Write,
}

/// The address of a copy's region side.
fn region_side(direction: Direction, dst: *const u8, src: *const u8) -> usize {
    match direction {
        Direction::Read => src as usize,
        Direction::Write => dst as usize,
    }
}

/// Copies `len` bytes from `src` to `dst`, one of which lies in a live
/// region (at `region_addr`), reporting vanished pages as `Truncated`.
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes, apart from pages of
/// the region that may have vanished; they do not overlap.
#[inline(always)]
pub(crate) unsafe fn copy(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    direction: Direction,
    region_addr: usize,
) -> Result<()> {
    if !(cfg!(target_arch = "x86_64")
        && handler::installed()
        && SIGBUS_OPEN.with(Cell::get)
        && table::nothing_lost())
    {
        // SAFETY: the caller's promise.
        return unsafe { copy_slow(dst, src, len, direction, region_addr) };
    }
    let lo = region_side(direction, dst, src);
    // SAFETY: the caller's promise; the handler is installed and SIGBUS
    // reaches it in this thread.
    match unsafe { copy::copy(dst, src, len, lo, lo + len) } {
        Ok(()) => Ok(()),
        Err(f) => Err(truncated(f, direction, len, region_addr)),
    }
}

/// Everything but the plain copy: installing the handler, a thread not yet
/// seen (or blocking SIGBUS), another architecture, or guarded pages that
/// were replaced somewhere in the process.
///
/// # Safety
/// As for [`copy`].
#[cold]
#[inline(never)]
unsafe fn copy_slow(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    direction: Direction,
    region_addr: usize,
) -> Result<()> {
    handler::install()?;
    let lo = region_side(direction, dst, src);
    let copied = if cfg!(not(target_arch = "x86_64")) {
        // No signal-based copy there: the kernel copies.
        // SAFETY: the caller's promise.
        match unsafe { kernel_copy(dst, src, len, direction) } {
            Ok(copied) => copied,
            Err(errno) => return Err(kernel_copy_failed(errno, direction, len, region_addr)),
        }
    } else if SIGBUS_OPEN.with(Cell::get) {
        // SAFETY: the caller's promise; the handler is installed and SIGBUS
        // reaches it in this thread.
        unsafe { copy::copy(dst, src, len, lo, lo + len) }
    } else {
        // SAFETY: the caller's promise.
        unsafe { copy_without_signal(dst, src, len, direction) }
    };
    copied.map_err(|f| truncated(f, direction, len, region_addr))?;
    // Pages of a guarded region that vanished read as zeros and take
    // writes that never reach the file: those bytes are gone too.
    match table::first_lost(lo, lo + len) {
        None => Ok(()),
        Some((first, fd)) => Err(lost(direction, len, region_addr, first, fd)),
    }
}

thread_local! {
    /// Whether this thread was seen to let SIGBUS through (not blocked), so
    /// that the signal-based copy is safe here: the kernel kills a process
    /// whose thread faults with SIGBUS blocked, whatever the handler.
    /// Checked at the thread's first copy and again after each map call it
    /// makes (`reclaim_handler`).
    static SIGBUS_OPEN: Cell<bool> = const { Cell::new(false) };
}

/// Forgets what this thread's signal mask was: the next copy looks again.
pub(crate) fn recheck_mask() {
    let _ = SIGBUS_OPEN.try_with(|open| open.set(false));
}

/// The copy for a thread that blocks SIGBUS (or not known yet not to):
/// `kernel_copy`. A system call per copy: only threads that block SIGBUS
/// pay it.
///
/// # Safety
/// As for [`copy`].
unsafe fn copy_without_signal(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    direction: Direction,
) -> std::result::Result<(), copy::Fault> {
    let mut current = 0u64;
    // SAFETY: SIG_BLOCK with a NULL set only reads the mask into current.
    unsafe { sys_sigprocmask(libc::SIG_BLOCK, std::ptr::null_mut(), &mut current) };
    if current & (1u64 << (libc::SIGBUS - 1)) == 0 {
        let _ = SIGBUS_OPEN.try_with(|open| open.set(true));
        let lo = region_side(direction, dst, src);
        // SAFETY: the caller's promise; SIGBUS reaches the handler.
        return unsafe { copy::copy(dst, src, len, lo, lo + len) };
    }
    // SAFETY: the caller's promise.
    match unsafe { kernel_copy(dst, src, len, direction) } {
        Ok(copied) => copied,
        // SAFETY: the caller's promise.
        Err(_) => unsafe { copy_unblocked(dst, src, len, direction) },
    }
}

/// The signal-based copy with SIGBUS let through in this thread for its
/// duration only: for a thread that blocks SIGBUS where the kernel's copy
/// is refused (a seccomp filter, no memory for it). A SIGBUS sent to the
/// process meanwhile may be taken by this thread, as if it did not block it.
///
/// # Safety
/// As for [`copy`].
#[cfg(target_arch = "x86_64")]
unsafe fn copy_unblocked(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    direction: Direction,
) -> std::result::Result<(), copy::Fault> {
    let lo = region_side(direction, dst, src);
    let mut bus = 1u64 << (libc::SIGBUS - 1);
    let mut old = 0u64;
    // SAFETY: 8-byte kernel signal sets, valid pointers.
    unsafe { sys_sigprocmask(libc::SIG_UNBLOCK, &mut bus, &mut old) };
    // SAFETY: the caller's promise; SIGBUS reaches the handler meanwhile.
    let copied = unsafe { copy::copy(dst, src, len, lo, lo + len) };
    // SAFETY: as above; the thread's own mask back.
    unsafe { sys_sigprocmask(libc::SIG_SETMASK, &mut old, std::ptr::null_mut()) };
    copied
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn copy_unblocked(
    _dst: *mut u8,
    _src: *const u8,
    _len: usize,
    _direction: Direction,
) -> std::result::Result<(), copy::Fault> {
    unreachable!("only x86-64 copies with a signal")
}

/// rt_sigprocmask on the kernel's 8-byte sets.
///
/// # Safety
/// `set` and `old` are NULL or valid for 8 bytes.
unsafe fn sys_sigprocmask(how: libc::c_int, set: *mut u64, old: *mut u64) {
    // SAFETY: the caller's promise.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set, old, 8usize) };
}

/// The copy done by the kernel: process_vm_readv/writev on this process,
/// in as many calls as it takes (each moves at most about 2 GiB). The
/// region is the "remote" side, so its vanished pages fail with EFAULT
/// instead of raising SIGBUS: `Ok(Err(fault))`. Any other failure (the
/// call refused by a seccomp filter, no memory for it) is no answer about
/// the bytes: `Err(errno)`.
///
/// # Safety
/// As for [`copy`].
unsafe fn kernel_copy(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    direction: Direction,
) -> std::result::Result<std::result::Result<(), copy::Fault>, i32> {
    let mut done = 0usize;
    while done < len {
        // SAFETY: done < len, inside both buffers.
        let (d, s) = unsafe { (dst.add(done), src.add(done)) };
        let local_remote = match direction {
            // The region is the "remote" side: its faults are EFAULT.
            Direction::Read => (d as usize, s as usize),
            Direction::Write => (s as usize, d as usize),
        };
        let local = libc::iovec {
            iov_base: local_remote.0 as *mut libc::c_void,
            iov_len: len - done,
        };
        let remote = libc::iovec {
            iov_base: local_remote.1 as *mut libc::c_void,
            iov_len: len - done,
        };
        // SAFETY: both iovecs describe memory of this process that the
        // caller vouches for; the kernel checks every page and fails
        // instead of faulting.
        let n = unsafe {
            let pid = libc::getpid();
            match direction {
                Direction::Read => libc::process_vm_readv(pid, &local, 1, &remote, 1, 0),
                Direction::Write => libc::process_vm_writev(pid, &local, 1, &remote, 1, 0),
            }
        };
        let errno = errno::errno().0;
        if n < 0 && errno != libc::EFAULT {
            return Err(errno);
        }
        if n <= 0 {
            let region = region_side(direction, d, s);
            return Ok(Err(copy::Fault {
                addr: region,
                code: libc::BUS_ADRERR,
            }));
        }
        done += n as usize;
    }
    Ok(Ok(()))
}

/// The error for a copy the kernel refused to make (on an architecture
/// without the signal-based copy): nothing is known about the bytes.
#[cold]
fn kernel_copy_failed(errno: i32, direction: Direction, len: usize, at: usize) -> Error {
    let (verb, call) = match direction {
        Direction::Read => ("read", "process_vm_readv"),
        Direction::Write => ("write", "process_vm_writev"),
    };
    Error::from_os(
        errno,
        format!("cannot {verb} {len} bytes at {at:#x}: the kernel's copy ({call}) failed"),
    )
}

#[cold]
fn lost(direction: Direction, len: usize, at: usize, first: usize, fd: i32) -> Error {
    let verb = match direction {
        Direction::Read => "read",
        Direction::Write => "write",
    };
    Error::new(
        ErrorKind::Truncated,
        format!(
            "cannot {verb} {len} bytes at {at:#x}: the bytes from {first:#x} on are gone: {} \
             shrank under the guarded mapping; they read as zeros since and writes to them never \
             reach the file",
            file_of(fd)
        ),
    )
    .with_errno(libc::EFAULT)
}

/// Copies `dst.len()` bytes from `offset` bytes into `region`.
pub fn read(region: &Region, offset: usize, dst: &mut [u8]) -> Result<()> {
    let at = span(region, offset, dst.len(), "read")?;
    // SAFETY: span checked the bytes lie in the region; dst is a distinct
    // exclusive borrow, so they cannot overlap.
    unsafe {
        copy(
            dst.as_mut_ptr(),
            at as *const u8,
            dst.len(),
            Direction::Read,
            at,
        )
    }
}

/// Copies `src` to `offset` bytes into the writable `region`.
pub fn write(region: &Region, offset: usize, src: &[u8]) -> Result<()> {
    let at = span(region, offset, src.len(), "write")?;
    if !region.info().is_writable() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "cannot write to the read-only region at {:#x}",
                region.info().addr()
            ),
        ));
    }
    // SAFETY: span checked the bytes lie in the writable region; src is a
    // shared borrow of other memory.
    unsafe { copy(at as *mut u8, src.as_ptr(), src.len(), Direction::Write, at) }
}

fn span(region: &Region, offset: usize, len: usize, verb: &str) -> Result<usize> {
    let info = region.info();
    if offset > info.len() || len > info.len() - offset {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "cannot {verb} {len} bytes at offset {offset} of a {}-byte region",
                info.len()
            ),
        ));
    }
    Ok(info.addr() + offset)
}

/// The error for a copy stopped by SIGBUS: names the file and its size now.
#[cold]
fn truncated(fault: copy::Fault, direction: Direction, len: usize, at: usize) -> Error {
    handler::reclaim();
    let verb = match direction {
        Direction::Read => "read",
        Direction::Write => "write",
    };
    // Only bytes past the file's end now are a truncation; a fault on a
    // byte the file still has is a failure to read or fill it.
    let source = sys::mapping_source(fault.addr);
    let size = source
        .as_ref()
        .and_then(|src| sys::file_size(&src.path, src.inode));
    let shrank = match (&source, size) {
        (Some(src), Some(size)) => src.offset >= size,
        _ => fault.code == libc::BUS_ADRERR,
    };
    let (errno, why) = if shrank {
        (libc::EFAULT, "is gone: the file shrank under the mapping")
    } else if fault.code == copy::BUS_MCEERR_AR {
        (libc::EIO, "is in a damaged page of memory (hardware error)")
    } else {
        (
            libc::EIO,
            "could not be read or filled: an I/O error, or no space (full file system or \
             quota) for a page of a hole",
        )
    };
    let whose = match source {
        Some(src) => format!(
            "byte {} of \"{}\" ({})",
            src.offset,
            src.path.display(),
            match size {
                Some(size) => format!("now {size} bytes long"),
                None => "no longer at that path".to_string(),
            }
        ),
        None => format!("the memory at {:#x}", fault.addr),
    };
    Error::new(
        ErrorKind::Truncated,
        format!("cannot {verb} {len} bytes at {at:#x}: {whose} {why}"),
    )
    .with_errno(errno)
}
