//! Where large file mappings are placed.
//!
//! The page cache keeps a file in folios of up to 2 MiB, aligned in the
//! file. A fault can map a whole folio at once only if its pages fall in one
//! 2 MiB block of the address space; a mapping whose address is not
//! congruent to its file offset modulo 2 MiB splits folios across blocks,
//! and then every page faults alone (a 1 MiB cycle measured 30 us placed,
//! 1.7 ms not). `mmap(NULL)` lands either way at random, so mapipc places
//! mappings of 64 KiB and more itself: first at a hint where its last
//! placement was (usually free again, so the steady state costs one mmap,
//! as the raw call does), else inside a fresh reservation.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sys::page_round_up;

const BLOCK: usize = 2 << 20;
const MIN_LEN: usize = 64 << 10;

/// Start of the 2 MiB block of the last placed mapping (0: none yet).
static LAST_BLOCK: AtomicUsize = AtomicUsize::new(0);

/// `mmap` of `len` bytes of `fd` at page-aligned `offset`, placed so that
/// the address is congruent to `offset` modulo 2 MiB when `len` is large
/// enough to matter. Returns the raw errno on failure.
pub(crate) fn mmap_file(
    fd: RawFd,
    offset: i64,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
) -> Result<*mut libc::c_void, i32> {
    if len < MIN_LEN {
        return raw(std::ptr::null_mut(), len, prot, flags, fd, offset);
    }
    let want = offset as usize % BLOCK;

    let last = LAST_BLOCK.load(Ordering::Relaxed);
    if last != 0 {
        let hint = (last + want) as *mut libc::c_void;
        // NOREPLACE: fail with EEXIST instead of landing elsewhere when the
        // hint is taken (a kernel older than 4.17 treats it as a plain hint).
        if let Ok(p) = raw(
            hint,
            len,
            prot,
            flags | libc::MAP_FIXED_NOREPLACE,
            fd,
            offset,
        ) {
            if p as usize % BLOCK == want {
                return Ok(p);
            }
            unmap(p, len);
        }
    }

    // Reserve room for any congruent start, map over the right part of the
    // reservation, and give back what is left on both sides.
    let Some(span) = page_round_up(len).and_then(|l| l.checked_add(BLOCK)) else {
        return raw(std::ptr::null_mut(), len, prot, flags, fd, offset);
    };
    let reserve = raw(
        std::ptr::null_mut(),
        span,
        libc::PROT_NONE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    )?;
    let r = reserve as usize;
    let start = r + (want + BLOCK - r % BLOCK) % BLOCK;
    // MAP_FIXED replaces only pages of the reservation this call just made:
    // [start, start + len) lies inside [r, r + span) because start - r < BLOCK
    // and span = round_up(len) + BLOCK.
    let p = match raw(
        start as *mut _,
        len,
        prot,
        flags | libc::MAP_FIXED,
        fd,
        offset,
    ) {
        Ok(p) => p,
        Err(e) => {
            unmap(reserve, span);
            return Err(e);
        }
    };
    let end = start + page_round_up(len).unwrap_or(len);
    if start > r {
        unmap(reserve, start - r);
    }
    if r + span > end {
        unmap(end as *mut _, r + span - end);
    }
    LAST_BLOCK.store(start - want, Ordering::Relaxed);
    Ok(p)
}

fn raw(
    addr: *mut libc::c_void,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: libc::c_int,
    offset: i64,
) -> Result<*mut libc::c_void, i32> {
    // SAFETY: callers pass either a NULL or NOREPLACE hint (never replaces
    // anything) or MAP_FIXED inside a reservation they own; the result is
    // checked for MAP_FAILED.
    let p = unsafe { libc::mmap(addr, len, prot, flags, fd, offset) };
    if p == libc::MAP_FAILED {
        Err(errno::errno().0)
    } else {
        Ok(p)
    }
}

fn unmap(p: *mut libc::c_void, len: usize) {
    // SAFETY: only ranges this module mapped and nobody else has seen.
    // A failure would leave address space reserved, nothing worse.
    unsafe { libc::munmap(p, len) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::{AsRawFd, OwnedFd};

    #[test]
    fn large_mappings_are_congruent_to_their_offset() {
        // Removed on drop, so a failing assertion leaves no file behind.
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let file =
            Remove(std::env::temp_dir().join(format!("mapipc-place-{}", std::process::id())));
        let dir = &file.0;
        let mut f = std::fs::File::create(dir).unwrap();
        f.write_all(&vec![7u8; 8 << 20]).unwrap();
        drop(f);
        let fd: OwnedFd = std::fs::File::open(dir).unwrap().into();
        let mut live = Vec::new();
        // Several live at once, so that hints are taken and the
        // reservation path runs too.
        for (i, off) in [0usize, 4096, 1 << 20, (2 << 20) + 8192, 0, 4096]
            .iter()
            .enumerate()
        {
            let len = (1 << 20) + i * 4096;
            let p = mmap_file(
                fd.as_raw_fd(),
                *off as i64,
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
            )
            .unwrap();
            assert_eq!(p as usize % BLOCK, off % BLOCK);
            // SAFETY: p maps len readable bytes of the file.
            assert_eq!(unsafe { *p.cast::<u8>().add(len - 1) }, 7);
            live.push((p, len));
        }
        for (p, len) in live {
            unmap(p, len);
        }
        let small = mmap_file(fd.as_raw_fd(), 0, 4096, libc::PROT_READ, libc::MAP_SHARED).unwrap();
        unmap(small, 4096);
    }
}
