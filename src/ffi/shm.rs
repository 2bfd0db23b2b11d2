//! Exports for System V (by key) and POSIX (by name) shared memory.

use std::ffi::{c_char, c_int, c_void};

use super::boundary::{call, call_for_region, str_arg};
use super::error::mapipc_status;
use super::flags;
use crate::region::registry;
use crate::shm::{posix as posix_shm, sysv};

/// Opens the System V shared memory segment named by `ftok(path, proj_id)`
/// and attaches it; `*out` points at its first byte.
///
/// `path` must exist (MAPIPC_ERR_NOT_FOUND) and `proj_id` be 1..255
/// (MAPIPC_ERR_INVALID_ARGUMENT). With MAPIPC_CREATE a missing segment is
/// created with mode 0600 and `size` bytes (size 0 with MAPIPC_CREATE is
/// MAPIPC_ERR_INVALID_ARGUMENT); with MAPIPC_CREATE | MAPIPC_EXCLUSIVE an
/// existing one is MAPIPC_ERR_ALREADY_EXISTS; without MAPIPC_CREATE a
/// missing one is MAPIPC_ERR_NOT_FOUND. On an existing segment `size == 0`
/// attaches all of it and a `size` larger than the segment is
/// MAPIPC_ERR_SIZE_MISMATCH. Without MAPIPC_WRITE the segment is attached
/// read-only (writes fault). MAPIPC_PRIVATE is MAPIPC_ERR_INVALID_ARGUMENT:
/// System V has no copy-on-write. Sizes beyond the system's limits are
/// MAPIPC_ERR_NO_SPACE. MAPIPC_MODE(m) with MAPIPC_CREATE gives a created
/// segment mode m; MAPIPC_TEMPORARY is MAPIPC_ERR_INVALID_ARGUMENT (the
/// kernel cannot tell when a segment's last user died).
///
/// mapipc_unmap() detaches; mapipc_shm_remove_key() removes. A failed call
/// leaves no segment it created. Messages give the key in hex, the path,
/// proj_id and sizes.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_shm_open_key(
    path: *const c_char,
    proj_id: c_int,
    size: usize,
    flags: u32,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promises above.
    unsafe {
        call_for_region(out, || {
            let path = str_arg(path, "path")?;
            let opts = flags::key_options(flags)?;
            sysv::open_key_c(path, proj_id, size, opts)
        })
    }
}

/// Marks the System V segment of `ftok(path, proj_id)` for deletion: it is
/// destroyed when the last process detaches (existing attachments stay
/// valid). A missing segment is MAPIPC_ERR_NOT_FOUND; one owned by another
/// user is MAPIPC_ERR_PERMISSION_DENIED.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mapipc_shm_remove_key(
    path: *const c_char,
    proj_id: c_int,
) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let path = unsafe { str_arg(path, "path") }?;
        sysv::remove_key_c(path, proj_id)
    })
}

/// Marks the System V segment that the live region `addr` is attached to
/// for deletion, like mapipc_shm_remove_key() but without looking the key
/// up again: call it, then mapipc_unmap(addr), and the segment is gone.
/// `addr` must start a live region (MAPIPC_ERR_NOT_MAPPED otherwise) made
/// by mapipc_shm_open_key() (MAPIPC_ERR_INVALID_ARGUMENT otherwise).
///
/// # Safety
/// None beyond passing a pointer value; it is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn mapipc_shm_remove_region(addr: *const c_void) -> mapipc_status {
    call(|| sysv::remove_attached(&registry::lookup_start(addr as usize)?))
}

/// Opens the POSIX shared memory object `name` (shm_open) and maps it;
/// `*out` points at its first byte.
///
/// `name` is '/' followed by 1..255 characters with no further '/'
/// (anything else is MAPIPC_ERR_INVALID_ARGUMENT). Creation, exclusivity,
/// size and access follow mapipc_shm_open_key(); a created object is mode
/// 0600 with its memory reserved up front, so a full /dev/shm is
/// MAPIPC_ERR_NO_SPACE now rather than SIGBUS later. An existing object of
/// size 0 is MAPIPC_ERR_EMPTY_FILE. With MAPIPC_CREATE, MAPIPC_MODE(m)
/// gives a created object exactly mode m, and MAPIPC_TEMPORARY makes it go
/// with its last user; a stale temporary object (its last user died)
/// counts as missing, also for MAPIPC_EXCLUSIVE, and is removed. MAPIPC_PRIVATE gives a copy-on-write
/// mapping. mapipc_sync() works on the region; mapipc_unmap() unmaps it.
/// The region keeps the object's descriptor (O_CLOEXEC) until it is
/// unmapped, for mapipc_region_fd() and mapipc_send_region(), which keep
/// working after the name is unlinked.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_shm_open_name(
    name: *const c_char,
    size: usize,
    flags: u32,
    out: *mut *mut c_void,
) -> mapipc_status {
    // SAFETY: the caller's promises above.
    unsafe {
        call_for_region(out, || {
            let name = str_arg(name, "name")?;
            posix_shm::open_name(name, size, flags::map_options(flags)?)
        })
    }
}

/// Removes the name of a POSIX shared memory object (shm_unlink); its
/// memory goes when the last mapping is unmapped. A missing object is
/// MAPIPC_ERR_NOT_FOUND; a bad name is MAPIPC_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mapipc_shm_unlink_name(name: *const c_char) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let name = unsafe { str_arg(name, "name") }?;
        posix_shm::unlink_name(name)
    })
}
