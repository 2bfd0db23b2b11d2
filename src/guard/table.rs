//! The guarded address ranges, in a fixed table the SIGBUS handler can read
//! without locks or allocation.
//!
//! A slot goes FREE -> CLAIMED (being filled) -> ACTIVE -> DISABLED -> FREE.
//! The handler counts itself in `users` before it re-checks ACTIVE, and
//! `disable` waits for `users` to drain after leaving ACTIVE, so no handler
//! can still be putting pages into a range that is being unmapped.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

const FREE: u32 = 0;
const CLAIMED: u32 = 1;
const ACTIVE: u32 = 2;
const DISABLED: u32 = 3;

/// How many guarded regions a process may have at once.
pub(crate) const SLOTS: usize = 1024;

struct Slot {
    state: AtomicU32,
    users: AtomicU32,
    start: AtomicUsize,
    end: AtomicUsize,
    prot: AtomicU32,
    /// Pages that vanished and were replaced by private zero pages.
    lost: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    state: AtomicU32::new(FREE),
    users: AtomicU32::new(0),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    prot: AtomicU32::new(0),
    lost: AtomicU32::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// Slots below this index have been used at least once: the handler scans
/// no further.
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

/// A guarded range's place in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId(u32);

/// Starts guarding `[start, end)`, whose pages have protection `prot`.
/// None when the table is full.
pub(crate) fn register(start: usize, end: usize, prot: i32) -> Option<SlotId> {
    for (i, slot) in TABLE.iter().enumerate() {
        if slot
            .state
            .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        slot.start.store(start, Ordering::Relaxed);
        slot.end.store(end, Ordering::Relaxed);
        slot.prot.store(prot as u32, Ordering::Relaxed);
        slot.lost.store(0, Ordering::Relaxed);
        HIGH_WATER.fetch_max(i + 1, Ordering::SeqCst);
        slot.state.store(ACTIVE, Ordering::SeqCst);
        return Some(SlotId(i as u32));
    }
    None
}

/// Stops guarding: after this returns no handler touches the range.
pub(crate) fn disable(id: SlotId) {
    let slot = &TABLE[id.0 as usize];
    slot.state.store(DISABLED, Ordering::SeqCst);
    while slot.users.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

/// Guards again after `disable` (the unmap it preceded failed).
pub(crate) fn enable(id: SlotId) {
    TABLE[id.0 as usize].state.store(ACTIVE, Ordering::SeqCst);
}

/// Gives a disabled slot back.
pub(crate) fn free(id: SlotId) {
    TABLE[id.0 as usize].state.store(FREE, Ordering::Release);
}

/// How many pages of the range vanished so far.
pub(crate) fn lost_pages(id: SlotId) -> u32 {
    TABLE[id.0 as usize].lost.load(Ordering::Acquire)
}

/// Called from the SIGBUS handler: if `addr` lies in a guarded range,
/// replaces its page with a private zero page (so that the faulting access
/// can be retried) and returns true. Async-signal-safe: atomics and one
/// system call.
pub(crate) fn absorb(addr: usize, code: i32, page: usize) -> bool {
    if code != libc::BUS_ADRERR {
        return false;
    }
    let used = HIGH_WATER.load(Ordering::SeqCst);
    for slot in &TABLE[..used.min(SLOTS)] {
        if slot.state.load(Ordering::Acquire) != ACTIVE {
            continue;
        }
        slot.users.fetch_add(1, Ordering::SeqCst);
        let hit = slot.state.load(Ordering::SeqCst) == ACTIVE
            && addr >= slot.start.load(Ordering::Relaxed)
            && addr < slot.end.load(Ordering::Relaxed)
            && replace_with_zeros(addr & !(page - 1), page, slot.prot.load(Ordering::Relaxed));
        if hit {
            slot.lost.fetch_add(1, Ordering::AcqRel);
        }
        slot.users.fetch_sub(1, Ordering::SeqCst);
        if hit {
            return true;
        }
    }
    false
}

/// Puts a private zero page at `page_addr`. A raw system call: the libc
/// wrapper is not promised to be async-signal-safe.
fn replace_with_zeros(page_addr: usize, page: usize, prot: u32) -> bool {
    // SAFETY: the page lies inside a live guarded region (the caller holds a
    // user count that keeps it from being unmapped); replacing it discards
    // nothing that still exists, since its file page is gone.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mmap,
            page_addr,
            page,
            prot as libc::c_long,
            (libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as libc::c_long,
            -1 as libc::c_long,
            0 as libc::c_long,
        )
    };
    rc as usize == page_addr
}

/// In the child of a fork: only the forking thread exists, so no handler
/// is inside any slot; counts left by threads of the parent are dropped
/// (else `disable` would wait for them for ever).
pub(crate) extern "C" fn after_fork_child() {
    for slot in &TABLE {
        slot.users.store(0, Ordering::SeqCst);
    }
}
