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
    /// load from and store to directly.
    fn knows(&self, link: usize) -> bool {
        if link == self.head as usize {
            return true;
        }
        let held = self.held();
        let word = link.wrapping_add_signed(FUTEX_OFFSET);
        // The table of ended threads holds other threads' locks.
        !ptr::eq(held, &ENDED)
            && word != 0
            && held.slots.iter().any(|s| s.load(Ordering::Relaxed) == word)
    }

    /// The pointer in `slot` of the entry whose link is `link`, or `None`
    /// if it cannot be read (misaligned, not mapped).
    pub(super) fn read_slot(&self, link: usize, slot: Slot) -> Option<usize> {
        let at = slot.of(link);
        if link % WORD != 0 {
            return None;
        }
        if self.knows(link) {
            // SAFETY: aligned, inside this thread's list head or a lock it
            // holds (see `knows`); an atomic load, as peers may store there.
            return Some(unsafe { &*(at as *const AtomicUsize) }.load(Ordering::Relaxed));
        }
        let mut value = 0usize;
        let local = libc::iovec {
            iov_base: (&mut value as *mut usize).cast::<c_void>(),
            iov_len: WORD,
        };
        let remote = libc::iovec {
            iov_base: at as *mut c_void,
            iov_len: WORD,
        };
        // SAFETY: `local` is this frame's `value`; the kernel checks the
        // remote address and fails (EFAULT) instead of faulting.
        let n =
            unsafe { libc::process_vm_readv(self.pid as libc::pid_t, &local, 1, &remote, 1, 0) };
        (n == WORD as isize).then_some(value)
    }

    /// Stores `value` in `slot` of the entry whose link is `link`, unless it
    /// cannot be written (then nothing happens).
    pub(super) fn write_slot(&self, link: usize, slot: Slot, value: usize) {
        let at = slot.of(link);
        if link % WORD != 0 {
            return;
        }
        if self.knows(link) {
            // SAFETY: as in read_slot; this thread owns these links.
            unsafe { &*(at as *const AtomicUsize) }.store(value, Ordering::Relaxed);
            return;
        }
        let local = libc::iovec {
            iov_base: (&value as *const usize).cast_mut().cast::<c_void>(),
            iov_len: WORD,
        };
        let remote = libc::iovec {
            iov_base: at as *mut c_void,
            iov_len: WORD,
        };
        // SAFETY: the kernel only reads `local` (this frame's `value`) and
        // checks the remote address, failing where a store would fault.
        unsafe { libc::process_vm_writev(self.pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    }

    /// Whether the entry whose link is `link`, another than `me`, names the
    /// entry whose link is `me` in `slot`.
    pub(super) fn names(&self, link: usize, slot: Slot, me: usize) -> bool {
        link != me && self.read_slot(link, slot).map(|v| v & !1) == Some(me)
    }
}
