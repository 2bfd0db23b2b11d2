//! Export for the lifetimes of temporary objects: collecting stale ones.

use super::boundary::call;
use super::error::mapipc_status;
use crate::lifecycle;

/// Removes every stale temporary POSIX object in /dev/shm: made with
/// MAPIPC_TEMPORARY, and whose users have all gone (the last one ended by
/// exit, exec or a signal instead of mapipc_unmap()). Sets `*removed` to
/// how many this call removed (`removed` may be NULL; it is 0 on failure).
///
/// Never removes an object that is not temporary, nor one that a process
/// maps through mapipc. Safe to call at any time from any process; objects
/// this process may not open or remove are left alone. Stale temporary
/// files elsewhere go at the next lookup of their path.
///
/// # Safety
/// `removed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_gc(removed: *mut usize) -> mapipc_status {
    call(|| {
        if !removed.is_null() {
            // SAFETY: non-NULL and, by the caller's promise, writable.
            unsafe { removed.write(0) };
        }
        let count = lifecycle::collect(false)?.len();
        if !removed.is_null() {
            // SAFETY: as above.
            unsafe { removed.write(count) };
        }
        Ok(())
    })
}
