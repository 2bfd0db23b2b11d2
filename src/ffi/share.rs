//! Exports for shared memory with no name: memfd regions, mapping a
//! descriptor, a region's descriptor, and passing regions over sockets.

use std::ffi::{c_char, c_int, c_void};
use std::os::fd::{BorrowedFd, IntoRawFd};

use super::boundary::{call, call_for_region, Out};
use super::error::mapipc_status;
use super::flags;
use crate::error::{Error, ErrorKind, Result};
use crate::share::{fd as share_fd, memfd, pass};
use crate::sync::Timeout;

/// Makes `size` (> 0) bytes of zero-filled shared memory with no name in any
/// directory (memfd_create) and maps it; `*out` points at its first byte.
///
/// Every page is allocated before the call returns: too little memory is
/// MAPIPC_ERR_NO_SPACE now, never a SIGBUS later. Its size is sealed
/// (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL): no process that ever holds
/// it can shrink or grow it, so no mapping of it can fault. `flags`:
/// MAPIPC_READ and/or MAPIPC_WRITE only (any other bit, MAPIPC_SEALED
/// included, is MAPIPC_ERR_INVALID_ARGUMENT: it is always sealed).
///
/// `label` (NULL: "mapipc"; at most 200 bytes, else
/// MAPIPC_ERR_INVALID_ARGUMENT) shows in /proc/PID/maps as
/// "/memfd:label (deleted)" and in messages. The memory is freed when its
/// last mapping and descriptor are gone; a child after fork() shares it.
/// Hand it to another process with mapipc_send_region() or
/// mapipc_region_fd(). The region keeps one O_CLOEXEC descriptor open until
/// it is unmapped. `*out` is NULL on failure.
///
/// # Safety
/// `label` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_memfd(
    label: *const c_char,
    size: usize,
    flags: u32,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promises above.
    unsafe {
        call_for_region(out, || {
            let access = flags::memfd_access(flags)?;
            let label = if label.is_null() {
                memfd::DEFAULT_LABEL
            } else {
                // SAFETY: the caller promises a NUL-terminated string.
                std::ffi::CStr::from_ptr(label)
            };
            memfd::memfd(label, size, access)
        })
    }
}

/// Maps `length` bytes (0: to the end) from any byte `offset` of an object
/// the caller has a descriptor for: a regular file, a POSIX shared memory
/// object, a memfd, received from anywhere. `*out` points at byte `offset`.
///
/// Every check of mapipc_map_file() is made: not a regular file (a pipe, a
/// socket, a directory) is MAPIPC_ERR_NOT_MAPPABLE; an empty object
/// MAPIPC_ERR_EMPTY_FILE; a range past its end MAPIPC_ERR_OUT_OF_RANGE. The
/// descriptor's access mode must allow the flags: MAPIPC_WRITE (shared) on
/// an O_RDONLY descriptor, any mapping of an O_WRONLY or O_PATH one, and a
/// shared writable mapping of a write-sealed object are
/// MAPIPC_ERR_PERMISSION_DENIED. MAPIPC_WRITE | MAPIPC_PRIVATE on an
/// O_RDONLY descriptor is allowed (copy-on-write).
///
/// `flags`: MAPIPC_READ, MAPIPC_WRITE, MAPIPC_PRIVATE, MAPIPC_GUARDED,
/// MAPIPC_SEALED (refuse an object whose size could shrink:
/// MAPIPC_ERR_NOT_SEALED). MAPIPC_CREATE and MAPIPC_EXCLUSIVE are
/// MAPIPC_ERR_INVALID_ARGUMENT. A negative or closed descriptor is
/// MAPIPC_ERR_INVALID_ARGUMENT.
///
/// The caller keeps `fd` and may close it at once: the region keeps its own
/// O_CLOEXEC duplicate until it is unmapped. `*out` is NULL on failure.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_map_fd(
    fd: c_int,
    offset: usize,
    length: usize,
    flags: u32,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promise above.
    unsafe {
        call_for_region(out, || {
            let (opts, seal) = flags::fd_options(flags)?;
            let fd = descriptor(fd, "fd")?;
            share_fd::map_fd(fd, offset as u64, length, opts, seal)
        })
    }
}

/// Stores in `*out_fd` a new O_CLOEXEC descriptor, owned by the caller (who
/// closes it), for the object behind the live region that starts at
/// `addr`: a file, a POSIX object or a memfd, and regions from
/// mapipc_map_fd() and mapipc_recv_region().
///
/// The descriptor is O_RDWR for a shared writable region, O_RDONLY
/// otherwise (a MAPIPC_PRIVATE region's writes are not in the object). It
/// refers to the same object even after its name was removed or renamed:
/// it is never reopened by name. Anonymous and System V regions have none:
/// MAPIPC_ERR_NOT_MAPPABLE. An `addr` that does not start a live region is
/// MAPIPC_ERR_NOT_MAPPED. `*out_fd` is -1 on failure.
///
/// # Safety
/// `out_fd` is NULL or writable; `addr` is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn mapipc_region_fd(
    addr: *const c_void,
    out_fd: *mut c_int,
) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(out_fd, "out_fd", -1) }?;
        out.set(share_fd::region_object(addr as usize)?.fd.into_raw_fd());
        Ok(())
    })
}

/// Sends the region that starts at `addr` over the connected AF_UNIX socket
/// `sock` (SOCK_STREAM or SOCK_SEQPACKET) as one message: its object's
/// descriptor (SCM_RIGHTS; O_RDONLY unless the region is shared and
/// writable), the offset and length the region covers, and whether it is
/// writable. The region stays mapped here; mapipc_recv_region() on the
/// other end maps the same bytes.
///
/// Anonymous and System V regions: MAPIPC_ERR_NOT_MAPPABLE (make the region
/// with mapipc_memfd()). Not a socket, not AF_UNIX, not stream or
/// seqpacket, or not connected: MAPIPC_ERR_INVALID_ARGUMENT. The peer gone:
/// MAPIPC_ERR_CLOSED (never SIGPIPE). No room in the socket within
/// `timeout_ns` (negative: wait for ever; 0: one try, errno EAGAIN):
/// MAPIPC_ERR_TIMED_OUT, and then nothing at all was sent.
///
/// # Safety
/// None beyond passing a pointer value; `addr` is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn mapipc_send_region(
    sock: c_int,
    addr: *const c_void,
    timeout_ns: i64,
) -> mapipc_status {
    call(|| {
        let sock = descriptor(sock, "sock")?;
        pass::send_region(sock, addr as usize, Timeout::from_nanos(timeout_ns))
    })
}

/// Receives one message of mapipc_send_region() from `sock` and maps the
/// same bytes of the same object; `*out` points at the region's first byte.
///
/// `flags`: MAPIPC_READ, MAPIPC_WRITE (MAPIPC_ERR_PERMISSION_DENIED if the
/// sender's region was read-only), MAPIPC_GUARDED, MAPIPC_SEALED (refuse an
/// object whose size could shrink: MAPIPC_ERR_NOT_SEALED). They are checked
/// before anything is received. Not a connected AF_UNIX stream or
/// seqpacket socket: MAPIPC_ERR_INVALID_ARGUMENT (a socket of another kind
/// is found out by what it delivers). The peer closed: MAPIPC_ERR_CLOSED; nothing
/// within `timeout_ns` (as for mapipc_send_region): MAPIPC_ERR_TIMED_OUT,
/// and nothing was taken from the socket.
///
/// Anything that is not such a message (another program's bytes, a message
/// cut short, no descriptor, several descriptors, a later version of the
/// format): MAPIPC_ERR_INVALID_ARGUMENT; on a stream socket the
/// connection's framing is then lost: close it. The message is checked
/// against the descriptor, never trusted: a descriptor that is not a
/// regular file (a pipe, a directory) is MAPIPC_ERR_NOT_MAPPABLE, a range
/// past the object's end MAPIPC_ERR_OUT_OF_RANGE, as for mapipc_map_fd().
/// Whatever happens, every descriptor that arrived and is not kept by the
/// new region is closed. The region keeps the received descriptor
/// (O_CLOEXEC) until it is unmapped. `*out` is NULL on failure.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_recv_region(
    sock: c_int,
    flags: u32,
    timeout_ns: i64,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promise above.
    unsafe {
        call_for_region(out, || {
            let (opts, seal) = flags::recv_options(flags)?;
            let sock = descriptor(sock, "sock")?;
            pass::recv_region(sock, opts, seal, Timeout::from_nanos(timeout_ns))
        })
    }
}

/// A descriptor argument: negative ones are refused here; a closed one is
/// found by the first call on it.
fn descriptor<'a>(fd: c_int, what: &str) -> Result<BorrowedFd<'a>> {
    if fd < 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} is {fd}, not a descriptor"),
        ));
    }
    // SAFETY: BorrowedFd only requires that the value is not -1 (checked);
    // every use of a closed descriptor fails with EBADF, which is reported.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}
