//! Exports for copies that cannot crash.

use std::ffi::c_void;

use super::boundary::call;
use super::error::mapipc_status;
use crate::error::{Error, ErrorKind, Result};
use crate::guard::{self, Direction};
use crate::region::registry::{self, Need};

/// Checks both sides of a copy, then copies: the region side must lie in
/// one live region that allows the direction, the caller's side must not be
/// NULL (it cannot be checked further).
///
/// # Safety
/// The caller's side is valid for `len` bytes and does not overlap.
unsafe fn checked_copy(
    dst: *mut c_void,
    src: *const c_void,
    len: usize,
    direction: Direction,
) -> Result<()> {
    let (region, buffer, need, names) = match direction {
        Direction::Read => (
            src as usize,
            dst as usize,
            Need::Read,
            ["source", "destination"],
        ),
        Direction::Write => (
            dst as usize,
            src as usize,
            Need::Write,
            ["destination", "source"],
        ),
    };
    registry::locate(region, len, 1, need, names[0])?;
    if buffer == 0 && len > 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("the {} buffer is NULL", names[1]),
        ));
    }
    // SAFETY: locate checked the region side; the caller vouches for the
    // other side and that they do not overlap.
    unsafe { guard::copy(dst.cast(), src.cast(), len, direction, region) }
}

/// Copies `len` bytes from `src`, inside a live mapipc region, to the
/// caller's buffer `dst` (the two must not overlap).
///
/// If the file behind the region shrank (another process truncated it), so
/// that some of the bytes are gone, the call returns MAPIPC_ERR_TRUNCATED
/// (errno EFAULT) with a message naming the file and its size now, instead
/// of the process dying of SIGBUS; the bytes before the hole may have been
/// copied. Bytes the file still has that could not be read (I/O error, no
/// space to fill a hole, a damaged page) are MAPIPC_ERR_TRUNCATED with
/// errno EIO, and the message says which. Bytes of a MAPIPC_GUARDED region
/// that were replaced by zeros are MAPIPC_ERR_TRUNCATED too. Costs what
/// memcpy costs: no system call, except in a thread that blocks SIGBUS
/// (the kernel would kill the process for a fault there): such a thread is
/// noticed at its first copy and after each map call it makes, and copies
/// through process_vm_readv instead.
///
/// Only a fault on the region's bytes is reported: one on `dst` (say, the
/// caller's own mapping of a truncated file) goes to the program's SIGBUS
/// handler, or kills, as a memcpy fault would. So does unmapping the region
/// in another thread during the copy (SIGSEGV).
///
/// SIGBUS handlers: mapipc installs its own at the first copy or guarded
/// map and passes every SIGBUS that is not its own to the disposition the
/// program had (flags and mask honoured; SIG_IGN ignores sent signals and
/// BUS_MCEERR_AO; SIG_DFL ends the process with that signal). A handler
/// the program installs later replaces mapipc's until the next mapipc map
/// call, which puts mapipc's back in front and chains to the program's;
/// install yours first, or map something after installing it. Yours may
/// chain back to mapipc's with the siginfo it got (or a copy): the signal
/// then goes to what yours replaced.
///
/// `src .. src + len` must lie in one live region (MAPIPC_ERR_NOT_MAPPED if
/// `src` is in none, MAPIPC_ERR_OUT_OF_RANGE if the range leaves it); NULL
/// is MAPIPC_ERR_INVALID_ARGUMENT. `len == 0` checks and copies nothing.
///
/// # Safety
/// `dst` is writable for `len` bytes (it is the caller's memory and cannot
/// be checked).
#[no_mangle]
pub unsafe extern "C" fn mapipc_read(
    src: *const c_void,
    dst: *mut c_void,
    len: usize,
) -> mapipc_status {
    // SAFETY: the caller's promise above.
    call(|| unsafe { checked_copy(dst, src, len, Direction::Read) })
}

/// Copies `len` bytes from the caller's buffer `src` into a live, writable
/// mapipc region at `dst` (the two must not overlap).
///
/// Bytes whose page vanished because the file shrank are not written and
/// the call returns MAPIPC_ERR_TRUNCATED (errno EFAULT; EIO for a page the
/// file still has that could not be read or filled, e.g. no space under a
/// hole) naming the file and its size now; the file never grows. Bytes of
/// a MAPIPC_GUARDED region replaced by zeros are MAPIPC_ERR_TRUNCATED too.
/// A read-only region is MAPIPC_ERR_PERMISSION_DENIED; other pointer errors,
/// faults on `src` and threads that block SIGBUS as for mapipc_read().
///
/// # Safety
/// `src` is readable for `len` bytes (it is the caller's memory and cannot
/// be checked).
#[no_mangle]
pub unsafe extern "C" fn mapipc_write(
    dst: *mut c_void,
    src: *const c_void,
    len: usize,
) -> mapipc_status {
    // SAFETY: the caller's promise above.
    call(|| unsafe { checked_copy(dst, src, len, Direction::Write) })
}
