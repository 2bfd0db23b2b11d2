//! The guarded address ranges, in a fixed table the SIGBUS handler can read
//! without locks or allocation.
//!
//! A slot goes FREE -> CLAIMED (being filled) -> ACTIVE -> DISABLED -> FREE.
//! The handler counts itself in `users` before it re-checks ACTIVE, and
//! `disable` waits for `users` to drain after leaving ACTIVE, so no handler
//! can still be putting pages into a range that is being unmapped.
//!
//! Each slot keeps a descriptor of the file, so that the handler can tell
//! a truncation (a fault on a page at or past the file's end now, `fstat`)
//! from any other SIGBUS (I/O error, no space to fill a hole, a mapping
//! that is no longer ours), and the file's identity (device, inode, offset)
//! to check that the faulting range is still the guarded mapping. The
//! descriptor is trusted only while `fstat` names the file it was opened
//! on: a program may close its number and reuse it for something else.
//!
//! A truncation replaces every page of the region past the file's end at
//! once with one private zero mapping (`zero_from .. end`): one VMA however
//! sparse the accesses, and each page is replaced once, by one thread
//! (`busy`), so no store to an already replaced page is wiped.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

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
    /// A descriptor of the file (owned by the slot, closed by `free`).
    fd: AtomicI32,
    /// What `fstat` said that descriptor was: the program may close the
    /// number behind mapipc's back and reuse it for another file.
    fd_dev: AtomicU64,
    fd_ino: AtomicU64,
    /// File offset of `start`.
    offset: AtomicU64,
    /// The file's identity, to recognise its mapping.
    ino: AtomicU64,
    dev_major: AtomicU32,
    dev_minor: AtomicU32,
    /// Unit of replacement: the page size, or the huge page size on
    /// hugetlbfs (whose mappings cannot be split elsewhere).
    gran: AtomicUsize,
    /// Pages from here to `end` vanished and are private zero pages.
    zero_from: AtomicUsize,
    /// A handler is replacing pages of this slot (others retry).
    busy: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    state: AtomicU32::new(FREE),
    users: AtomicU32::new(0),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    prot: AtomicU32::new(0),
    fd: AtomicI32::new(-1),
    fd_dev: AtomicU64::new(0),
    fd_ino: AtomicU64::new(0),
    offset: AtomicU64::new(0),
    ino: AtomicU64::new(0),
    dev_major: AtomicU32::new(0),
    dev_minor: AtomicU32::new(0),
    gran: AtomicUsize::new(0),
    zero_from: AtomicUsize::new(0),
    busy: AtomicU32::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// Slots below this index have been used at least once: the handler scans
/// no further.
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

/// How many live slots have replaced pages: while none, the copies skip
/// looking for replaced pages (one relaxed load).
static SLOTS_WITH_LOSS: AtomicUsize = AtomicUsize::new(0);

/// A guarded range's place in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId(u32);

impl SlotId {
    /// The slot's number, as the region layer keeps it.
    pub(crate) fn token(self) -> usize {
        self.0 as usize
    }

    /// Back from [`SlotId::token`]; the region hands back only tokens it
    /// was given.
    pub(crate) fn from_token(token: usize) -> SlotId {
        SlotId(token as u32)
    }
}

/// What the table needs to know about a guarded mapping.
pub(crate) struct Guarded {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) prot: i32,
    /// Owned by the slot from now on.
    pub(crate) fd: i32,
    /// `fstat`'s device and inode of `fd`.
    pub(crate) fd_dev: u64,
    pub(crate) fd_ino: u64,
    pub(crate) offset: u64,
    pub(crate) ino: u64,
    pub(crate) dev_major: u32,
    pub(crate) dev_minor: u32,
    pub(crate) gran: usize,
}

/// Starts guarding a mapping. None when the table is full (the descriptor
/// is then still the caller's).
pub(crate) fn register(g: &Guarded) -> Option<SlotId> {
    for (i, slot) in TABLE.iter().enumerate() {
        if slot
            .state
            .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        slot.start.store(g.start, Ordering::Relaxed);
        slot.end.store(g.end, Ordering::Relaxed);
        slot.prot.store(g.prot as u32, Ordering::Relaxed);
        slot.fd.store(g.fd, Ordering::Relaxed);
        slot.fd_dev.store(g.fd_dev, Ordering::Relaxed);
        slot.fd_ino.store(g.fd_ino, Ordering::Relaxed);
        slot.offset.store(g.offset, Ordering::Relaxed);
        slot.ino.store(g.ino, Ordering::Relaxed);
        slot.dev_major.store(g.dev_major, Ordering::Relaxed);
        slot.dev_minor.store(g.dev_minor, Ordering::Relaxed);
        slot.gran.store(g.gran, Ordering::Relaxed);
        slot.zero_from.store(g.end, Ordering::Relaxed);
        slot.busy.store(0, Ordering::Relaxed);
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

/// Gives a disabled slot back, closing its descriptor.
pub(crate) fn free(id: SlotId) {
    let slot = &TABLE[id.0 as usize];
    if slot.zero_from.load(Ordering::Acquire) < slot.end.load(Ordering::Relaxed) {
        SLOTS_WITH_LOSS.fetch_sub(1, Ordering::AcqRel);
    }
    let fd = slot.fd.swap(-1, Ordering::AcqRel);
    // A number the program closed and reused is not ours to close.
    if fd >= 0 && file_size(slot, fd).is_some() {
        // SAFETY: the slot owned this descriptor and it is still the same
        // file; nothing uses it any more (disabled, no handler inside).
        unsafe { libc::close(fd) };
    }
    slot.state.store(FREE, Ordering::Release);
}

/// The guarded range's vanished part, `[zero_from, end)` (empty if none),
/// and the slot's descriptor (for messages; -1 if no longer its own).
pub(crate) fn lost(id: SlotId) -> (usize, usize, i32) {
    let slot = &TABLE[id.0 as usize];
    (
        slot.zero_from.load(Ordering::Acquire),
        slot.end.load(Ordering::Relaxed),
        own_fd(slot),
    )
}

/// The slot's descriptor, or -1 if the program closed or reused its number.
fn own_fd(slot: &Slot) -> i32 {
    let fd = slot.fd.load(Ordering::Relaxed);
    match file_size(slot, fd) {
        Some(_) => fd,
        None => -1,
    }
}

/// Whether no live guarded region has replaced pages (one relaxed load).
#[inline(always)]
pub(crate) fn nothing_lost() -> bool {
    SLOTS_WITH_LOSS.load(Ordering::Relaxed) == 0
}

/// For a copy of `[lo, hi)`: the first byte in it that lies in a vanished
/// (zero-replaced) part of a guarded region, and that region's descriptor.
/// One relaxed load while no page was ever replaced.
pub(crate) fn first_lost(lo: usize, hi: usize) -> Option<(usize, i32)> {
    let used = HIGH_WATER.load(Ordering::SeqCst);
    for slot in &TABLE[..used.min(SLOTS)] {
        if slot.state.load(Ordering::Acquire) != ACTIVE {
            continue;
        }
        let zero_from = slot.zero_from.load(Ordering::Acquire);
        let end = slot.end.load(Ordering::Relaxed);
        if lo < end && hi > zero_from && zero_from < end {
            return Some((lo.max(zero_from), own_fd(slot)));
        }
    }
    None
}

/// Called from the SIGBUS handler: if `addr` lies in a guarded range past
/// its file's end, replaces the range's pages past the end with private
/// zero pages (so that the faulting access can be retried) and returns
/// true. Any other fault (another code, a page the file still has, a
/// mapping that is no longer the guarded one) returns false.
/// Async-signal-safe: atomics and system calls only.
pub(crate) fn absorb(addr: usize, code: i32, _page: usize) -> bool {
    if code != libc::BUS_ADRERR {
        return false;
    }
    let used = HIGH_WATER.load(Ordering::SeqCst);
    for slot in &TABLE[..used.min(SLOTS)] {
        if slot.state.load(Ordering::Acquire) != ACTIVE {
            continue;
        }
        slot.users.fetch_add(1, Ordering::SeqCst);
        let inside = slot.state.load(Ordering::SeqCst) == ACTIVE
            && addr >= slot.start.load(Ordering::Relaxed)
            && addr < slot.end.load(Ordering::Relaxed);
        let hit = inside && absorb_in(slot, addr);
        slot.users.fetch_sub(1, Ordering::SeqCst);
        if inside {
            // Guarded ranges do not overlap: no other slot can hold addr.
            return hit;
        }
    }
    false
}

fn absorb_in(slot: &Slot, addr: usize) -> bool {
    let start = slot.start.load(Ordering::Relaxed);
    let end = slot.end.load(Ordering::Relaxed);
    let gran = slot.gran.load(Ordering::Relaxed);
    let offset = slot.offset.load(Ordering::Relaxed);
    let size = match file_size(slot, slot.fd.load(Ordering::Relaxed)) {
        Some(size) => size,
        None => return false,
    };
    let unit = addr & !(gran - 1);
    if offset + ((unit - start) as u64) < size {
        // The file still has this page: not a truncation.
        return false;
    }
    // The first unit past the file's end (the unit holding the end keeps
    // its file page: only its tail past the end is unbacked, and that
    // reads as zeros without faulting).
    let kept = size.saturating_sub(offset).min((end - start) as u64) as usize;
    let from = (start + kept).next_multiple_of(gran).min(end);
    if slot
        .busy
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        // Another thread is replacing pages here: retry the access once
        // it is done (it faults again until then).
        // SAFETY: sched_yield has no arguments and no memory effects.
        unsafe { libc::syscall(libc::SYS_sched_yield) };
        return true;
    }
    let zero_from = slot.zero_from.load(Ordering::Acquire);
    let done = if unit >= zero_from {
        // Replaced already (by another thread after this fault): retry.
        true
    } else if !still_ours(slot, from, zero_from) {
        false
    } else if replace_with_zeros(from, zero_from - from, slot.prot.load(Ordering::Relaxed)) {
        if zero_from == slot.end.load(Ordering::Relaxed) {
            SLOTS_WITH_LOSS.fetch_add(1, Ordering::AcqRel);
        }
        slot.zero_from.store(from, Ordering::Release);
        true
    } else {
        false
    };
    slot.busy.store(0, Ordering::Release);
    done
}

/// The file's size now, by `fstat` on the slot's descriptor `fd` (a raw
/// system call: async-signal-safe, no interceptor). None if that number no
/// longer names the slot's file (closed, or reused by the program).
fn file_size(slot: &Slot, fd: i32) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is writable and sized for the kernel's struct stat.
    let rc = unsafe { libc::syscall(libc::SYS_fstat, fd, st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: fstat succeeded and filled st.
    let st = unsafe { st.assume_init() };
    let same = st.st_dev == slot.fd_dev.load(Ordering::Relaxed)
        && st.st_ino == slot.fd_ino.load(Ordering::Relaxed);
    same.then_some(st.st_size.max(0) as u64)
}

/// Whether `[from, to)` is still mapped from the slot's file at the
/// slot's offsets (no munmap and foreign mapping behind mapipc's back).
/// Checked with the PROCMAP_QUERY ioctl on /proc/self/maps (Linux 6.11+;
/// open, ioctl and close are async-signal-safe); where it is missing, the
/// fault past the end of the slot's own file is the only check.
fn still_ours(slot: &Slot, from: usize, to: usize) -> bool {
    let maps = match Maps::open() {
        Some(maps) => maps,
        None => return true,
    };
    let start = slot.start.load(Ordering::Relaxed);
    let offset = slot.offset.load(Ordering::Relaxed);
    let mut at = from;
    while at < to {
        let q = match maps.query(at) {
            Ok(q) => q,
            // ENOTTY: a kernel without the query; keep the size check only.
            // ENOENT: nothing mapped there: not ours.
            Err(errno) => return errno == libc::ENOTTY,
        };
        let expect = offset + (q.vma_start.max(start as u64) - start as u64);
        let file_off = q.vma_offset + (q.vma_start.max(start as u64) - q.vma_start);
        if q.inode != slot.ino.load(Ordering::Relaxed)
            || q.dev_major != slot.dev_major.load(Ordering::Relaxed)
            || q.dev_minor != slot.dev_minor.load(Ordering::Relaxed)
            || file_off != expect
            || q.vma_end <= at as u64
        {
            return false;
        }
        at = q.vma_end as usize;
    }
    true
}

/// The identity (inode, device major, minor) the kernel reports for the
/// mapping at `addr`, as the handler will see it (on overlayfs it is the
/// underlying file's, not what fstat says). None where the query is
/// missing.
pub(crate) fn mapping_identity(addr: usize) -> Option<(u64, u32, u32)> {
    let q = Maps::open()?.query(addr).ok()?;
    Some((q.inode, q.dev_major, q.dev_minor))
}

/// /proc/self/maps opened for PROCMAP_QUERY, with raw system calls only.
struct Maps(i32);

impl Maps {
    fn open() -> Option<Maps> {
        let path = b"/proc/self/maps\0";
        // SAFETY: path is NUL-terminated; raw system call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        } as i32;
        (fd >= 0).then_some(Maps(fd))
    }

    /// The mapping that contains `addr`, or the errno.
    fn query(&self, addr: usize) -> std::result::Result<ProcmapQuery, i32> {
        let mut q = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_addr: addr as u64,
            ..ProcmapQuery::default()
        };
        // SAFETY: q is a valid, writable procmap_query of the size given.
        let rc = unsafe { libc::syscall(libc::SYS_ioctl, self.0, PROCMAP_QUERY, &mut q) };
        if rc != 0 {
            return Err(errno::errno().0);
        }
        Ok(q)
    }
}

impl Drop for Maps {
    fn drop(&mut self) {
        // SAFETY: the descriptor was opened by `open` and is closed once.
        unsafe { libc::syscall(libc::SYS_close, self.0) };
    }
}

/// `struct procmap_query` of <linux/fs.h>.
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: u64 = (3 << 30) | (104 << 16) | ((b'f' as u64) << 8) | 17;

/// Puts private zero pages at `[addr, addr + len)`. A raw system call: the
/// libc wrapper is not promised to be async-signal-safe.
fn replace_with_zeros(addr: usize, len: usize, prot: u32) -> bool {
    // SAFETY: the range lies inside a live guarded region past its file's
    // end (the caller holds a user count that keeps it from being
    // unmapped, and checked it is still the file's mapping); replacing it
    // discards nothing that still exists, since its file pages are gone.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mmap,
            addr,
            len,
            prot as libc::c_long,
            (libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as libc::c_long,
            -1 as libc::c_long,
            0 as libc::c_long,
        )
    };
    rc as usize == addr
}

/// In the child of a fork: only the forking thread exists, so no handler
/// is inside any slot; counts and flags left by threads of the parent are
/// dropped (else `disable` would wait for them, and faults retry, for ever).
pub(crate) extern "C" fn after_fork_child() {
    for slot in &TABLE {
        slot.users.store(0, Ordering::SeqCst);
        slot.busy.store(0, Ordering::SeqCst);
    }
}
