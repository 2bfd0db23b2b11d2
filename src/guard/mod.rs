//! Access to mapped files that survives the file shrinking underneath.
//!
//! When another process truncates a mapped file (log rotation, an editor,
//! the seed labs' writer), the next load or store through the mapping raises
//! SIGBUS and the process dies. Two ways out, both built on one SIGBUS
//! handler (`handler`) that is installed only when first needed:
//! - [`read`] and [`write`] copy between a region and ordinary memory with a
//!   copy the handler can stop (`copy`), and report `Truncated` instead;
//! - a region mapped with `MapOptions::guarded` is listed in a lock-free
//!   table (`table`); a fault there gets a private zero page in place of
//!   the vanished one, and the region's next sync reports `Truncated`.
//!
//! Only SIGBUS is handled, and only for mapipc's own copies and guarded
//! regions; every other SIGBUS reaches the program's own handler or kills
//! it as before.

mod copy;
mod handler;
mod table;

pub(crate) use table::SlotId;

use crate::error::{Error, ErrorKind, Result};
use crate::region::Region;
use crate::sys;

/// Puts a freshly mapped region under guard. On failure the region is
/// dropped (unmapped) and the error returned.
pub(crate) fn protect(mut region: Region) -> Result<Region> {
    handler::install()?;
    handler::reclaim();
    let info = region.info();
    let prot = if info.is_writable() {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    let start = info.base_addr();
    let slot = table::register(start, start + info.map_len(), prot).ok_or_else(|| {
        Error::new(
            ErrorKind::NoSpace,
            format!(
                "cannot guard the region at {:#x}: {} guarded regions are live already, the most \
                 a process may have",
                info.addr(),
                table::SLOTS
            ),
        )
    })?;
    region.set_guard(slot);
    Ok(region)
}

/// Puts mapipc's SIGBUS handler back in front of one the program installed
/// after it (the program's is chained to). A system call when installed.
pub(crate) fn reclaim_handler() {
    handler::reclaim();
}

/// Stops guarding before an unmap; `restore` undoes it if the unmap failed.
pub(crate) fn suspend(slot: SlotId) {
    table::disable(slot);
}

pub(crate) fn restore(slot: SlotId) {
    table::enable(slot);
}

pub(crate) fn forget(slot: SlotId) {
    table::free(slot);
}

/// How many pages of a guarded region vanished so far.
pub(crate) fn lost_pages(slot: SlotId) -> u32 {
    table::lost_pages(slot)
}

/// Which way a copy goes, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the region into the caller's memory.
    Read,
    /// From the caller's memory into the region.
    Write,
}

/// Copies `len` bytes from `src` to `dst`, one of which lies in a live
/// region (at `region_addr`), reporting vanished pages as `Truncated`.
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes, apart from pages of
/// the region that may have vanished; they do not overlap.
#[inline]
pub(crate) unsafe fn copy(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    direction: Direction,
    region_addr: usize,
) -> Result<()> {
    handler::install()?;
    let lo = match direction {
        Direction::Read => src as usize,
        Direction::Write => dst as usize,
    };
    // SAFETY: the caller's promise; the handler is installed.
    unsafe { copy::copy(dst, src, len, lo, lo + len) }
        .map_err(|f| truncated(f, direction, len, region_addr))
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
