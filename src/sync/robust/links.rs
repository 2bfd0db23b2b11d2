//! The pointers of robust-list entries, read and written when an entry is
//! taken off the list or the list is walked. An entry's links lie in the
//! shared memory of its lock, where a peer may have written anything: an
//! address is used directly only when this thread knows the memory (its
//! list head, the link of a mapipc lock it noted taking, mapped while held
//! since unmap refuses), and otherwise through the kernel
//! (`process_vm_readv`/`writev` on this process fail where a load or store
//! would fault).

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Me, ENDED, FUTEX_OFFSET};

/// Which pointer of an entry: its link (`next`, what the list names) or
/// the back link (`prev`) one pointer before it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Slot {
    Next,
    Prev,
}

impl Slot {
    #[inline(always)]
    fn of(self, link: usize) -> usize {
        match self {
            Slot::Next => link,
            Slot::Prev => link.wrapping_sub(std::mem::size_of::<usize>()),
        }
    }
}

const WORD: usize = std::mem::size_of::<usize>();

impl Me {
    /// Whether the entry whose link is `link` is memory this thread may
    /// load from and store to directly: its list head (the usual
    /// neighbour, checked first and inline) or a held lock.
    #[inline(always)]
    fn knows(&self, link: usize) -> bool {
        link == self.head as usize || self.holds_entry(link)
    }

    /// Whether `link` is the link of a mapipc lock this thread noted
    /// taking (mapped while held: unmap refuses).
    #[inline(never)]
    fn holds_entry(&self, link: usize) -> bool {
        let held = self.held();
        let word = link.wrapping_add_signed(FUTEX_OFFSET);
        // The table of ended threads holds other threads' locks.
        !ptr::eq(held, &ENDED)
            && word != 0
            && held.slots.iter().any(|s| s.load(Ordering::Relaxed) == word)
    }

    /// The pointer in `slot` of the entry whose link is `link`, or `None`
    /// if it cannot be read (misaligned, not mapped).
    #[inline(always)]
    pub(super) fn read_slot(&self, link: usize, slot: Slot) -> Option<usize> {
        if self.knows(link) {
            // SAFETY: inside this thread's list head or a lock it holds
            // (see `knows`), aligned like every such link; an atomic load,
            // as peers may store there.
            return Some(
                unsafe { &*(slot.of(link) as *const AtomicUsize) }.load(Ordering::Relaxed),
            );
        }
        self.read_through_kernel(slot.of(link))
    }

    #[cold]
    #[inline(never)]
    fn read_through_kernel(&self, at: usize) -> Option<usize> {
        let mut value = 0usize;
        let local = libc::iovec {
            iov_base: (&mut value as *mut usize).cast::<c_void>(),
            iov_len: WORD,
        };
        (self.kernel_copy(local, at, false) == WORD as isize).then_some(value)
    }

    /// Stores `value` in `slot` of the entry whose link is `link`, unless it
    /// cannot be written (then nothing happens).
    #[inline(always)]
    pub(super) fn write_slot(&self, link: usize, slot: Slot, value: usize) {
        if self.knows(link) {
            // SAFETY: as in read_slot; this thread owns these links.
            unsafe { &*(slot.of(link) as *const AtomicUsize) }.store(value, Ordering::Relaxed);
            return;
        }
        self.write_through_kernel(slot.of(link), value);
    }

    #[cold]
    #[inline(never)]
    fn write_through_kernel(&self, at: usize, value: usize) {
        let local = libc::iovec {
            iov_base: (&value as *const usize).cast_mut().cast::<c_void>(),
            iov_len: WORD,
        };
        self.kernel_copy(local, at, true);
    }

    /// Copies between `local` and the word at `at` in this process through
    /// the kernel, which fails (EFAULT) where a load or store would fault.
    fn kernel_copy(&self, local: libc::iovec, at: usize, write: bool) -> isize {
        if at % WORD != 0 {
            return -1;
        }
        let remote = libc::iovec {
            iov_base: at as *mut c_void,
            iov_len: WORD,
        };
        let pid = self.pid as libc::pid_t;
        // SAFETY: `local` is a caller's local word (only read for a write);
        // the kernel checks the remote address instead of faulting.
        unsafe {
            if write {
                libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
            } else {
                libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
            }
        }
    }

    /// Whether the entry whose link is `link`, another than `me`, names the
    /// entry whose link is `me` in `slot`.
    #[inline(always)]
    pub(super) fn names(&self, link: usize, slot: Slot, me: usize) -> bool {
        link != me && self.read_slot(link, slot).map(|v| v & !1) == Some(me)
    }
}
