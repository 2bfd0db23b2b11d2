//! The calling thread's identity and its kernel robust-futex list.
//!
//! When a thread ends (exit, SIGKILL, exec, or just its thread function
//! returning), the kernel walks the list registered with `set_robust_list`
//! and, for every futex word on it still holding the thread's id, sets
//! `FUTEX_OWNER_DIED` and wakes a waiter. That happens before the process
//! becomes a zombie, so a waiter learns of the death even when the dead
//! process is its own unreaped child.
//!
//! A thread has one list, and glibc registers it for its robust pthread
//! mutexes. mapipc links its mutexes into that same list, following the
//! layout the kernel and glibc agree on: a link points at an entry's `next`
//! field, the entry's `prev` field sits just before it, the futex word sits
//! `futex_offset` bytes from the link, and bit 0 of a link marks a PI
//! mutex. A mapipc mutex puts its word and links where a 64-bit glibc
//! `pthread_mutex_t` has them, so glibc can unlink its own mutexes around
//! ours and the kernel handles both alike.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

use crate::error::{Error, ErrorKind, Result};
use crate::region::{registry, RegionInfo};

mod links;

/// Where the word lies from the link field in every entry (`futex_offset`
/// of the list head): glibc's 64-bit layout, word at 0 and `next` at 32.
pub(crate) const FUTEX_OFFSET: isize = -32;

/// The kernel's `struct robust_list_head`.
#[repr(C)]
struct RobustHead {
    list: *mut c_void,
    futex_offset: isize,
    list_op_pending: *mut c_void,
}

/// The calling thread: its kernel thread id, its process's PID namespace,
/// its robust list head and its entry in the table of held locks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Me {
    /// The thread id as the thread's own PID namespace numbers it (as the
    /// kernel writes it into futex words).
    pub(crate) tid: u32,
    /// Its process id, recorded in a mutex it holds for inspection.
    pub(crate) pid: u32,
    head: *mut RobustHead,
}

/// How many mapipc locks a thread can hold before `holds_lock_within`
/// answers "maybe" (BUSY) for every region for the rest of that time.
const HELD_SLOTS: usize = 16;

/// The mapipc locks one thread holds, readable by every thread: an unmap
/// from any thread refuses a region where some thread holds a lock. Only
/// the owning thread writes its slots, so taking and giving back a lock
/// costs two plain stores on a line no other thread writes.
#[derive(Debug)]
pub(crate) struct HeldTable {
    /// Addresses of held locks' futex words, 0 for a free slot.
    slots: [AtomicUsize; HELD_SLOTS],
    /// Locks held beyond the slots.
    overflow: AtomicUsize,
    /// Whether a live thread owns this table.
    in_use: AtomicBool,
    /// The next table (all tables ever made, never freed).
    next: *const HeldTable,
}

// SAFETY: every field but `next` is atomic; `next` is written once before
// the table is published and never again.
unsafe impl Sync for HeldTable {}

/// All tables, newest first; tables of ended threads are reused.
static TABLES: AtomicPtr<HeldTable> = AtomicPtr::new(ptr::null_mut());

fn all_tables() -> impl Iterator<Item = &'static HeldTable> {
    let mut at = TABLES.load(Ordering::Acquire) as *const HeldTable;
    std::iter::from_fn(move || {
        // SAFETY: tables are leaked: once published they live for ever.
        let table = unsafe { at.as_ref()? };
        at = table.next;
        Some(table)
    })
}

fn claim_table() -> &'static HeldTable {
    for table in all_tables() {
        if !table.in_use.load(Ordering::Relaxed)
            && table
                .in_use
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return table;
        }
    }
    let table = Box::leak(Box::new(HeldTable {
        slots: Default::default(),
        overflow: AtomicUsize::new(0),
        in_use: AtomicBool::new(true),
        next: ptr::null(),
    }));
    let mut first = TABLES.load(Ordering::Relaxed);
    loop {
        table.next = first;
        match TABLES.compare_exchange(first, table, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return table,
            Err(now) => first = now,
        }
    }
}

/// The table of threads whose own was given back (they run destructors
/// that come after mapipc's, such as pthread key destructors): their locks
/// still work, but an unmap from another thread does not see them. Any
/// number of such threads write it; no one reads it.
static ENDED: HeldTable = HeldTable {
    slots: [const { AtomicUsize::new(0) }; HELD_SLOTS],
    overflow: AtomicUsize::new(0),
    in_use: AtomicBool::new(true),
    next: ptr::null(),
};

impl HeldTable {
    fn clear(&self) {
        for slot in &self.slots {
            slot.store(0, Ordering::Relaxed);
        }
        self.overflow.store(0, Ordering::Relaxed);
    }
}

/// Gives the thread's table back when the thread ends: the kernel has
/// released (marked OWNER_DIED) whatever the thread still held.
struct TableOwner(Cell<Option<&'static HeldTable>>);

impl Drop for TableOwner {
    fn drop(&mut self) {
        if let Some(table) = self.0.get() {
            // A later call on this thread (another destructor) must not use
            // the table once another thread may have it.
            let _ = HELD.try_with(|h| h.set(&ENDED));
            table.clear();
            table.in_use.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    /// Cached: `gettid` and `get_robust_list` are system calls. Cleared in a
    /// child after fork, where the thread has a new id.
    static ME: Cell<Option<Me>> = const { Cell::new(None) };
    static TABLE: TableOwner = const { TableOwner(Cell::new(None)) };
    /// The same table, for the fast path (set together with `ME`; kept
    /// out of `Me` so that `Me` stays two registers wide).
    static HELD: Cell<*const HeldTable> = const { Cell::new(ptr::null()) };
}

static ATFORK: Once = Once::new();

extern "C" fn forget_after_fork() {
    // The child's only thread is the one that forked, with a new id and,
    // from the kernel, an empty robust list: it holds none of the locks its
    // parent's threads held, not even its own; its namespace may be new.
    // Forget its cached self and namespace and every table's locks; free
    // the tables of threads that do not exist here.
    let mine = TABLE.try_with(|t| t.0.get()).ok().flatten();
    let _ = ME.try_with(|me| me.set(None));
    MY_NS.store(0, Ordering::Relaxed);
    for table in all_tables() {
        table.clear();
        if !mine.is_some_and(|m| ptr::eq(m, table)) {
            table.in_use.store(false, Ordering::Release);
        }
    }
}

/// The inode number of this process's PID namespace, 0 if /proc cannot
/// tell.
fn pid_namespace() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino() as u32)
}

/// The inode number of this process's PID namespace (32 bits in every
/// kernel: proc inode numbers are `unsigned int`, 0 if unknown) in the low
/// half, with `NS_KNOWN` once looked up: looked up once per process (a
/// thread that came later, after a chroot, must not see another value than
/// the locks taken before), again in a forked child, which may live in
/// another namespace. Kept process-wide rather than in `Me`, so that the
/// lock's fast path copies no more of the thread's record than before.
static MY_NS: AtomicU64 = AtomicU64::new(0);
const NS_KNOWN: u64 = 1 << 32;

/// This process's PID namespace, once the thread has called `me`.
#[inline]
pub(crate) fn ns() -> u32 {
    MY_NS.load(Ordering::Relaxed) as u32
}

/// This process's PID namespace (for callers that need no robust list).
pub(crate) fn my_namespace() -> u32 {
    me().map_or_else(|_| pid_namespace(), |_| ns())
}

/// The calling thread, from the cache when it can.
#[inline]
pub(crate) fn me() -> Result<Me> {
    match ME.with(Cell::get) {
        Some(me) => Ok(me),
        None => me_slow(),
    }
}

#[cold]
fn me_slow() -> Result<Me> {
    ATFORK.call_once(|| {
        // SAFETY: a plain function that lives as long as the library. If
        // registering fails (ENOMEM) a forked child would reuse its parent's
        // cached id; nothing else can be done about it here.
        unsafe { libc::pthread_atfork(None, None, Some(forget_after_fork)) };
        // Before this thread can hold any lock, so no unmap misses it.
        registry::set_unmap_check(refuse_unmap_of_held);
    });
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    let mut head: *mut RobustHead = ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: pid 0 asks about the calling thread; both out-pointers are
    // valid for writing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut head as *mut *mut RobustHead,
            &mut len as *mut usize,
        )
    };
    if rc < 0 {
        return Err(Error::last_os(
            "cannot find this thread's robust futex list (get_robust_list)",
        ));
    }
    // SAFETY: a registered head is the C library's per-thread structure,
    // valid for the thread's lifetime; only its futex_offset is read.
    if head.is_null() || unsafe { (*head).futex_offset } != FUTEX_OFFSET {
        return Err(Error::new(
            ErrorKind::System,
            "this thread has no robust futex list in the layout mapipc shares with glibc, \
             so a lock could not be released if the thread died; mapipc mutexes need \
             glibc on 64-bit Linux",
        ));
    }
    // A thread whose thread-local storage is gone (it is ending) uses the
    // table no one reads.
    let held = TABLE
        .try_with(|t| match t.0.get() {
            Some(table) => table,
            None => {
                let table = claim_table();
                t.0.set(Some(table));
                table
            }
        })
        .unwrap_or(&ENDED);
    if MY_NS.load(Ordering::Relaxed) == 0 {
        // Racing threads look up the same value; the first one stays.
        let ns = NS_KNOWN | u64::from(pid_namespace());
        let _ = MY_NS.compare_exchange(0, ns, Ordering::Relaxed, Ordering::Relaxed);
    }
    HELD.with(|h| h.set(held));
    let me = Me {
        tid,
        pid: std::process::id(),
        head,
    };
    ME.with(|c| c.set(Some(me)));
    Ok(me)
}

/// Unmapping memory in which a thread of this process holds a lock would
/// leave its robust list pointing into whatever is mapped there next.
fn refuse_unmap_of_held(info: &RegionInfo) -> Result<()> {
    if !holds_lock_within(info.base_addr(), info.map_len()) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Busy,
        format!(
            "cannot unmap the region at {:#x}: a thread of this process holds a mutex inside it; \
             unlock it first",
            info.addr()
        ),
    ))
}

/// Whether a thread of this process holds a mapipc mutex, or the calling
/// thread a robust lock of any kind (mapipc's or glibc's), whose word lies
/// in `[start, start + len)`. Unmapping such memory would
/// leave a dangling entry on the thread's list, which the next lock or the
/// kernel at thread exit would follow. A thread that never used a mapipc
/// mutex answers at once, without looking.
fn holds_lock_within(start: usize, len: usize) -> bool {
    // Any thread of this process: the held-lock tables. A thread whose
    // table overflowed cannot say where its further locks are: maybe.
    for table in all_tables() {
        if !table.in_use.load(Ordering::Acquire) {
            continue;
        }
        if table.overflow.load(Ordering::Acquire) != 0
            || table
                .slots
                .iter()
                .any(|s| s.load(Ordering::Acquire).wrapping_sub(start) < len)
        {
            return true;
        }
    }
    // The calling thread also for glibc's robust mutexes and channel sides.
    let Some(me) = ME.with(Cell::get) else {
        return false;
    };
    let head = me.head as usize;
    // Links in entries may be a peer's forgeries: `load_link` reads only
    // what can be read. The walk is bounded like the kernel's, and like it
    // stops at a null link (left by a lock that another thread took after
    // a peer cleared its word, and gave back) or an unreadable one.
    let mut link = head;
    for _ in 0..ROBUST_LIST_LIMIT {
        link = match me.load_link(link, link) {
            Some(next) => next & !1,
            None => return false,
        };
        if link == head || link == 0 {
            return false;
        }
        let word = link.wrapping_add_signed(FUTEX_OFFSET);
        if word.wrapping_sub(start) < len {
            return true;
        }
    }
    false
}

/// What the robust list's pending slot held before `set_pending`.
#[derive(Clone, Copy)]
pub(crate) struct Pending(*mut c_void);

/// The kernel stops walking a list after this many entries.
const ROBUST_LIST_LIMIT: usize = 2048;

/// The link field of an entry, as a pointer to its `next` slot.
type Link = *mut *mut c_void;

fn untag(link: *mut c_void) -> Link {
    (link as usize & !1) as Link
}

impl Me {
    /// Announces that this thread is about to take or give up the futex
    /// behind `link`, so that the kernel still finds it if the thread dies
    /// before the list says so. Returns what the slot held before (an
    /// operation this one interrupted, from a signal handler), for
    /// `restore_pending`.
    #[inline]
    pub(crate) fn set_pending(&self, link: &AtomicUsize) -> Pending {
        // SAFETY: head is this thread's live list head (see me_slow), and
        // only this thread (or a signal handler on it, which restores what
        // it found) writes it.
        let before = unsafe {
            let before = ptr::read_volatile(&(*self.head).list_op_pending);
            ptr::write_volatile(&mut (*self.head).list_op_pending, link.as_ptr().cast());
            before
        };
        compiler_fence(Ordering::SeqCst);
        Pending(before)
    }

    /// Puts back what `set_pending` found in the slot.
    #[inline]
    pub(crate) fn restore_pending(&self, before: Pending) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as in set_pending.
        unsafe { ptr::write_volatile(&mut (*self.head).list_op_pending, before.0) };
    }

    #[inline(always)]
    fn held(&self) -> &'static HeldTable {
        // SAFETY: set by me_slow before any `Me` of this thread exists:
        // a leaked table, claimed by this thread.
        unsafe { &*HELD.with(Cell::get) }
    }

    /// Whether this thread may hold the mapipc lock at `word`: it noted it,
    /// or cannot tell (more locks than its slots, or its table given back
    /// as it ends). For when the PID namespace cannot tell threads apart.
    #[cold]
    pub(crate) fn may_hold(&self, word: usize) -> bool {
        let held = self.held();
        ptr::eq(held, &ENDED)
            || held.overflow.load(Ordering::Relaxed) != 0
            || held.slots.iter().any(|s| s.load(Ordering::Relaxed) == word)
    }

    /// Notes a mapipc lock whose word is at `word` as held by this thread.
    #[inline(always)]
    pub(crate) fn note_held(&self, word: usize) {
        let held = self.held();
        for slot in &held.slots {
            if slot.load(Ordering::Relaxed) == 0 {
                slot.store(word, Ordering::Release);
                return;
            }
        }
        held.overflow.fetch_add(1, Ordering::Release);
    }

    /// Notes that this thread gave the lock at `word` back.
    #[inline(always)]
    pub(crate) fn note_released(&self, word: usize) {
        let held = self.held();
        for slot in &held.slots {
            if slot.load(Ordering::Relaxed) == word {
                slot.store(0, Ordering::Release);
                return;
            }
        }
        let _ = held
            .overflow
            .fetch_update(Ordering::Release, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Puts the entry whose `next` field is `next` (and `prev` field is
    /// `prev`) at the front of this thread's list. The caller has just
    /// acquired its futex.
    ///
    /// The list is whole at every instant, so that a signal handler that
    /// takes and gives back locks in between finds it whole and leaves it
    /// so: the entry is complete before the head names it, and the old
    /// first entry's back link (which neither the kernel nor a nested
    /// operation on the front of the list reads) is set last.
    #[inline]
    pub(crate) fn enqueue(&self, prev: &AtomicUsize, next: &AtomicUsize) {
        let head = self.head;
        // SAFETY: head is this thread's list head; every link on the list
        // names a live entry held by this thread (glibc's or ours), whose
        // prev slot lies one pointer before its next slot; the head's own
        // prev slot (glibc's robust_prev) lies just before it too.
        unsafe {
            let first = ptr::read_volatile(&(*head).list);
            next.store(first as usize, Ordering::Relaxed);
            prev.store(head as usize, Ordering::Relaxed);
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(&mut (*head).list, next.as_ptr().cast());
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(untag(first).sub(1), next.as_ptr().cast());
        }
    }

    /// Takes the entry out of this thread's list; it is on it.
    #[inline]
    pub(crate) fn dequeue(&self, prev: &AtomicUsize, next: &AtomicUsize) {
        // Read once: a peer may rewrite them meanwhile (see `links`).
        let after = next.load(Ordering::Relaxed);
        let before = prev.load(Ordering::Relaxed);
        if !self.unlink(next.as_ptr() as usize, before, after) {
            return;
        }
        compiler_fence(Ordering::SeqCst);
        next.store(0, Ordering::Relaxed);
        prev.store(0, Ordering::Relaxed);
    }
}
