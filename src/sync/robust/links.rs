//! Following the list's links. They lie in the entries, in shared memory
//! that a hostile peer may rewrite at any time: a link read from an entry
//! is believed only when the entry it names points back, and memory this
//! thread cannot vouch for is reached through the kernel, which reports a
//! bad address instead of faulting. Writing through a forged link would
//! let a peer store into this process wherever it likes.

use std::ptr;
use std::sync::atomic::Ordering;

use super::{Me, FUTEX_OFFSET};
use crate::sys;

impl Me {
    /// Whether the entry whose link is `entry` stays mapped while this
    /// thread runs: the list head, or a lock this thread notes as held
    /// (whose region refuses to be unmapped).
    fn vouched(&self, entry: usize) -> bool {
        entry == self.head as usize
            || self.held().slots.iter().any(|s| {
                let word = s.load(Ordering::Relaxed);
                word != 0 && word == entry.wrapping_add_signed(FUTEX_OFFSET)
            })
    }

    /// The link stored at `slot`, a field of the entry whose link is
    /// `entry`; None if that memory cannot be read.
    pub(super) fn load_link(&self, entry: usize, slot: usize) -> Option<usize> {
        if self.vouched(entry) {
            // SAFETY: slot is a field of an entry that stays mapped (vouched).
            return Some(unsafe { ptr::read_volatile(slot as *const usize) });
        }
        sys::read_word_checked(slot).ok()
    }

    /// Stores `value` at `slot`, a field of the entry whose link is `entry`.
    fn store_link(&self, entry: usize, slot: usize, value: usize) {
        if self.vouched(entry) {
            // SAFETY: as in load_link; the entry is a lock's or the head's,
            // writable.
            unsafe { ptr::write_volatile(slot as *mut usize, value) };
        } else {
            // A neighbour that vanished since it pointed back: nothing to fix.
            let _ = sys::write_word_checked(slot, value);
        }
    }

    /// Joins the neighbours of the entry whose link is `me`, read once as
    /// `before` and `after`, if both name it back. Returns whether it did;
    /// if not, a peer rewrote the links and the entry stays where it is on
    /// the list (the kernel and `holds_lock_within` follow any link safely).
    pub(super) fn unlink(&self, me: usize, before: usize, after: usize) -> bool {
        let (b, a) = (before & !1, after & !1);
        let prev_slot = a.wrapping_sub(std::mem::size_of::<usize>());
        let linked = self.load_link(b, b).map(|l| l & !1) == Some(me)
            && self.load_link(a, prev_slot).map(|l| l & !1) == Some(me);
        if linked {
            self.store_link(a, prev_slot, before);
            self.store_link(b, b, after);
        }
        linked
    }
}
