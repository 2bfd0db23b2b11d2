//! Exports that make mappings: of files and of anonymous memory.

use std::ffi::{c_char, c_void};

use super::boundary::{call_for_region, str_arg};
use super::error::mapipc_status;
use super::flags;
use crate::map::{anon, file};

/// Maps `length` bytes of the regular file `path` starting at byte `offset`.
///
/// `offset` may be any byte offset: the library maps from the page that
/// contains it and `*out` points at byte `offset` itself. `length == 0` maps
/// from `offset` to the current end of the file.
///
/// `flags`: MAPIPC_READ and/or MAPIPC_WRITE, optionally MAPIPC_PRIVATE,
/// MAPIPC_CREATE, MAPIPC_EXCLUSIVE, MAPIPC_GUARDED, and with MAPIPC_CREATE
/// MAPIPC_MODE(m) (exact permission bits of a created file) and
/// MAPIPC_TEMPORARY (a created file goes with its last user). A stale
/// temporary file (its last user died) counts as missing, and is removed.
///
/// Checked up front instead of failing later with SIGBUS or SIGSEGV:
/// NULL/empty path or out (MAPIPC_ERR_INVALID_ARGUMENT); missing file
/// (MAPIPC_ERR_NOT_FOUND); directory, FIFO (opened without blocking), socket
/// or device (MAPIPC_ERR_NOT_MAPPABLE); zero-length file
/// (MAPIPC_ERR_EMPTY_FILE); a range reaching past the end of the file
/// (MAPIPC_ERR_OUT_OF_RANGE); offset + length overflowing
/// (MAPIPC_ERR_INVALID_ARGUMENT); access the file does not allow
/// (MAPIPC_ERR_PERMISSION_DENIED). A MAPIPC_PRIVATE writable mapping of a
/// read-only file is allowed: writes stay in this process.
///
/// With MAPIPC_CREATE a missing file is created with mode 0600 (filtered
/// by the umask, or exactly MAPIPC_MODE(m)) and a short
/// one is extended with allocated blocks (posix_fallocate), so running out
/// of disk is MAPIPC_ERR_NO_SPACE now rather than SIGBUS later.
///
/// A failed call leaves nothing behind: no file it created, no extension, no
/// mapping, no open descriptor. `*out` is NULL on failure. The region keeps
/// the file's descriptor (O_CLOEXEC) until it is unmapped, so that
/// mapipc_region_fd() and mapipc_send_region() name the same file even
/// after it was renamed or removed. Release the region with mapipc_unmap().
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_map_file(
    path: *const c_char,
    offset: u64,
    length: usize,
    flags: u32,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promises above.
    unsafe {
        call_for_region(out, || {
            let path = str_arg(path, "path")?;
            file::map_file_c(path, offset, length, flags::map_options(flags)?)
        })
    }
}

/// Maps `length` bytes of zero-filled memory with no file behind it.
///
/// Shared with children created by fork() after the call (MAP_SHARED), or
/// private to this process with MAPIPC_PRIVATE. `flags` must contain
/// MAPIPC_READ and/or MAPIPC_WRITE; MAPIPC_CREATE and MAPIPC_EXCLUSIVE are
/// MAPIPC_ERR_INVALID_ARGUMENT here, and so is `length == 0`. Too much
/// memory is MAPIPC_ERR_NO_SPACE. `*out` is NULL on failure.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_map_anonymous(
    length: usize,
    flags: u32,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promise above.
    unsafe {
        call_for_region(out, || {
            let opts = flags::anonymous_options(flags)?;
            anon::map_anonymous(length, opts.access, opts.sharing)
        })
    }
}
