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
use std::sync::atomic::{compiler_fence, AtomicUsize, Ordering};
use std::sync::Once;

use crate::error::{Error, ErrorKind, Result};
use crate::region::{registry, RegionInfo};

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

/// The calling thread: its kernel thread id and its robust list head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Me {
    pub(crate) tid: u32,
    /// Its process id, recorded in a mutex it holds for inspection.
    pub(crate) pid: u32,
    head: *mut RobustHead,
}

thread_local! {
    /// Cached: `gettid` and `get_robust_list` are system calls. Cleared in a
    /// child after fork, where the thread has a new id.
    static ME: Cell<Option<Me>> = const { Cell::new(None) };
}

static ATFORK: Once = Once::new();

extern "C" fn forget_after_fork() {
    // The child's only thread is the one that forked: clear its copy.
    let _ = ME.try_with(|me| me.set(None));
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
    let me = Me {
        tid,
        pid: std::process::id(),
        head,
    };
    ME.with(|c| c.set(Some(me)));
    Ok(me)
}

/// Unmapping memory in which the calling thread holds a lock would leave its
/// robust list pointing into whatever is mapped there next.
fn refuse_unmap_of_held(info: &RegionInfo) -> Result<()> {
    if !holds_lock_within(info.base_addr(), info.map_len()) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Busy,
        format!(
            "cannot unmap the region at {:#x}: the calling thread holds a mutex inside it; \
             unlock it first",
            info.addr()
        ),
    ))
}

/// Whether the calling thread holds a robust lock (mapipc's or glibc's)
/// whose word lies in `[start, start + len)`. Unmapping such memory would
/// leave a dangling entry on the thread's list, which the next lock or the
/// kernel at thread exit would follow. A thread that never used a mapipc
/// mutex answers at once, without looking.
fn holds_lock_within(start: usize, len: usize) -> bool {
    let Some(me) = ME.with(Cell::get) else {
        return false;
    };
    let head = me.head as usize;
    // SAFETY: head is this thread's live list head; every link on the list
    // names an entry this thread holds, still mapped (this check runs before
    // any unmap). The walk is bounded like the kernel's.
    unsafe {
        let mut link = ptr::read_volatile(&(*me.head).list) as usize & !1;
        for _ in 0..ROBUST_LIST_LIMIT {
            if link == head {
                return false;
            }
            let word = link.wrapping_add_signed(FUTEX_OFFSET);
            if word.wrapping_sub(start) < len {
                return true;
            }
            link = ptr::read_volatile(link as *const usize) & !1;
        }
    }
    false
}

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
    /// before the list says so.
    #[inline]
    pub(crate) fn set_pending(&self, link: &AtomicUsize) {
        // SAFETY: head is this thread's live list head (see me_slow), and
        // only this thread writes it.
        unsafe { ptr::write_volatile(&mut (*self.head).list_op_pending, link.as_ptr().cast()) };
        compiler_fence(Ordering::SeqCst);
    }

    #[inline]
    pub(crate) fn clear_pending(&self) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as in set_pending.
        unsafe { ptr::write_volatile(&mut (*self.head).list_op_pending, ptr::null_mut()) };
    }

    /// Puts the entry whose `next` field is `next` (and `prev` field is
    /// `prev`) at the front of this thread's list. The caller has just
    /// acquired its futex.
    #[inline]
    pub(crate) fn enqueue(&self, prev: &AtomicUsize, next: &AtomicUsize) {
        let head = self.head;
        // SAFETY: head is this thread's list head; every link on the list
        // names a live entry held by this thread (glibc's or ours), whose
        // prev slot lies one pointer before its next slot; the head's own
        // prev slot (glibc's robust_prev) lies just before it too.
        unsafe {
            let first = ptr::read_volatile(&(*head).list);
            ptr::write_volatile(untag(first).sub(1), next.as_ptr().cast());
            next.store(first as usize, Ordering::Relaxed);
            prev.store(head as usize, Ordering::Relaxed);
            // The entry is complete before the kernel can reach it.
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(&mut (*head).list, next.as_ptr().cast());
        }
    }

    /// Takes the entry out of this thread's list; it is on it.
    #[inline]
    pub(crate) fn dequeue(&self, prev: &AtomicUsize, next: &AtomicUsize) {
        let after = next.load(Ordering::Relaxed) as *mut c_void;
        let before = prev.load(Ordering::Relaxed) as *mut c_void;
        // SAFETY: the entry is on this thread's list (it holds the futex),
        // so its neighbours are live entries of this thread or the head,
        // each with a prev slot one pointer before its next slot.
        unsafe {
            ptr::write_volatile(untag(after).sub(1), before);
            ptr::write_volatile(untag(before), after);
        }
        compiler_fence(Ordering::SeqCst);
        next.store(0, Ordering::Relaxed);
        prev.store(0, Ordering::Relaxed);
    }
}
