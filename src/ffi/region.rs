//! Exports for any live region, however it was made: unmap, sync, advice,
//! size.

use std::ffi::c_void;

use super::boundary::{call, Out};
use super::error::mapipc_status;
use super::flags;
use crate::region::registry;

/// Unmaps (or, for System V segments, detaches) the whole region that
/// `addr` starts, and closes the descriptor a file, POSIX or memfd region
/// kept. `addr` must be exactly what a mapipc function returned.
///
/// NULL is a harmless no-op returning MAPIPC_OK. A second unmap of the same
/// pointer, a pointer mapipc never returned, or a pointer into the middle of
/// a region is MAPIPC_ERR_NOT_MAPPED and changes nothing. While any thread of
/// the process holds a mapipc_mutex inside the region, it is MAPIPC_ERR_BUSY
/// and changes nothing (unlock first). Set your pointer to
/// NULL after unmapping: if a new region later lands at the same address, a
/// stale pointer would name it.
///
/// # Safety
/// After success, no memory of the region may be used again.
#[no_mangle]
pub unsafe extern "C" fn mapipc_unmap(addr: *mut c_void) -> mapipc_status {
    call(|| {
        if addr.is_null() {
            return Ok(());
        }
        registry::unmap(addr as usize)
    })
}

/// Writes back `length` bytes starting at `addr` to the file behind the
/// region (msync). `addr` may be any pointer inside a live region; the
/// library aligns it to its page. `length == 0` means to the end of the
/// region.
///
/// `flags`: 0 or MAPIPC_SYNC_BLOCKING (MS_SYNC), MAPIPC_SYNC_ASYNC
/// (MS_ASYNC), optionally | MAPIPC_SYNC_INVALIDATE. BLOCKING | ASYNC, or
/// unknown bits, are MAPIPC_ERR_INVALID_ARGUMENT. A range that leaves the
/// region is MAPIPC_ERR_OUT_OF_RANGE; a pointer in no region is
/// MAPIPC_ERR_NOT_MAPPED. On a region with no file behind it (anonymous or
/// System V memory) it checks the range and does nothing else. On a
/// MAPIPC_GUARDED region some of whose pages vanished (the file shrank),
/// every sync returns MAPIPC_ERR_TRUNCATED (errno EFAULT) naming the file,
/// its size now and how many pages were lost.
///
/// # Safety
/// None beyond passing a pointer value; it is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn mapipc_sync(
    addr: *mut c_void,
    length: usize,
    flags: u32,
) -> mapipc_status {
    call(|| {
        let opts = flags::sync_options(flags)?;
        let info = registry::lookup_containing(addr as usize)?;
        info.sync(addr as usize - info.addr(), length, opts)
    })
}

/// Advises the kernel how `length` bytes starting at `addr` will be used
/// (madvise), or populates their page tables now. `addr` may be any
/// pointer inside a live region (aligned by the library); `length == 0`
/// means to the end of the region. `advice` is one MAPIPC_ADVICE_* value.
///
/// MAPIPC_ADVICE_POPULATE_READ maps every page in one call, so that later
/// accesses take no faults (useful before latency-sensitive reads; for one
/// sequential pass over a large file, plain faults were faster in
/// `make bench`). Ranges leaving the
/// region are MAPIPC_ERR_OUT_OF_RANGE; a pointer in no region is
/// MAPIPC_ERR_NOT_MAPPED; an unknown value is MAPIPC_ERR_INVALID_ARGUMENT.
/// Populating pages the file no longer has (it shrank) is
/// MAPIPC_ERR_TRUNCATED (errno EFAULT; EIO if the file still has them but
/// they could not be read), naming the file and its size now.
/// Advice that would discard data (MADV_DONTNEED, MADV_FREE) is not
/// offered.
///
/// # Safety
/// None beyond passing a pointer value; it is never dereferenced by mapipc.
#[no_mangle]
pub unsafe extern "C" fn mapipc_advise(
    addr: *mut c_void,
    length: usize,
    advice: u32,
) -> mapipc_status {
    call(|| {
        let advice = flags::advice(advice)?;
        let info = registry::lookup_containing(addr as usize)?;
        info.advise(addr as usize - info.addr(), length, advice)
    })
}

/// Stores in `*out` the length in bytes of the live region that `addr`
/// starts, as it was asked for (not rounded to pages); for a segment
/// attached with size 0, the segment's whole size. An `addr` that does not
/// start a live region is MAPIPC_ERR_NOT_MAPPED, and `*out` is then 0.
///
/// # Safety
/// `out` is NULL or writable; `addr` is never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn mapipc_region_size(addr: *const c_void, out: *mut usize) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(out, "out", 0) }?;
        out.set(registry::lookup_start(addr as usize)?.len());
        Ok(())
    })
}
