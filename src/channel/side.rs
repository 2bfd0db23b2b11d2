//! Robust words of a channel: one side (send or receive) taken for the
//! length of a call or held across calls (a reservation, a peek), and a
//! many-sender frame's state while its writer works on it.
//!
//! The word holds the owner's kernel thread id, and is linked into the
//! thread's kernel robust list (see `sync::robust`) for as long as it is
//! held, for one call or across calls (a reservation, a peek), like a held
//! mutex: if the thread dies, even by SIGKILL, the kernel marks the word
//! OWNER_DIED and the next caller takes it over. The list's "operation
//! pending" slot names the word only at the instants of taking and giving
//! back, and is saved and restored, so a robust operation nested in a
//! signal handler cannot lose it. Must not touch anything but the word and
//! links.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::sync::robust::{self, Me, Pending};

use super::layout::TID_MASK;

/// A robust word and its list links (the word is 32 bytes before `next`,
/// `prev` just before `next`, as for every entry of the list).
#[derive(Clone, Copy)]
pub(crate) struct Token<'a> {
    pub(crate) word: &'a AtomicU32,
    pub(crate) prev: &'a AtomicUsize,
    pub(crate) next: &'a AtomicUsize,
}

/// A word this thread owns, linked into its robust list; given back (0
/// stored) when dropped, unless kept across calls.
pub(crate) struct Held<'a> {
    token: Token<'a>,
    me: Me,
}

impl<'a> Token<'a> {
    /// Takes the side, or `Busy` if another live thread holds it
    /// (`InvalidArgument` if this thread does, across calls: `mine` says
    /// with what). `verb` words the error ("sending").
    #[inline]
    pub(crate) fn take(self, verb: &str, mine: &str) -> Result<Held<'a>> {
        let me = robust::me()?;
        let pending = me.set_pending(self.next);
        let word = self.word.load(Ordering::Relaxed);
        // A dead holder's word keeps only FUTEX_OWNER_DIED: free to take.
        let taken = word & TID_MASK == 0
            && self
                .word
                .compare_exchange(word, me.tid, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        if !taken {
            me.restore_pending(pending);
            return Err(busy(word & TID_MASK, me.tid, verb, mine));
        }
        Ok(Pend { me, pending }.own(self))
    }

    /// The calling thread, if it holds this word (across calls).
    #[inline]
    pub(crate) fn held_by_me(self) -> Option<Me> {
        robust::me()
            .ok()
            .filter(|me| self.word.load(Ordering::Relaxed) & TID_MASK == me.tid)
    }

    /// Gives back a word that `me`, the calling thread, holds across calls
    /// (see [`Held::keep`]), storing `value` in it.
    #[inline]
    pub(crate) fn give_back(self, me: Me, value: u32) {
        Held { token: self, me }.finish(value);
        me.note_released(self.word.as_ptr() as usize);
    }
}

impl Held<'_> {
    /// Keeps the word after this call returns, until [`Token::give_back`]:
    /// it stays linked, and is noted among the thread's held locks so that
    /// no thread of this process unmaps the memory meanwhile.
    pub(crate) fn keep(self) {
        self.me.note_held(self.token.word.as_ptr() as usize);
        std::mem::forget(self);
    }

    /// Unlinks the word and stores `value` in it, named as pending
    /// meanwhile, so that a death at any instant is still noticed.
    #[inline]
    pub(crate) fn finish(self, value: u32) {
        let pending = self.me.set_pending(self.token.next);
        self.me.dequeue(self.token.prev, self.token.next);
        self.token.word.store(value, Ordering::Release);
        self.me.restore_pending(pending);
        std::mem::forget(self);
    }
}

#[cold]
fn busy(holder: u32, me: u32, verb: &str, mine: &str) -> Error {
    if holder == me {
        return Error::new(
            ErrorKind::InvalidArgument,
            format!("this thread holds {mine} on this channel; finish it first"),
        );
    }
    Error::new(
        ErrorKind::Busy,
        format!("another thread (id {holder}) is {verb} on this channel right now; one at a time"),
    )
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        let pending = self.me.set_pending(self.token.next);
        self.me.dequeue(self.token.prev, self.token.next);
        self.token.word.store(0, Ordering::Release);
        self.me.restore_pending(pending);
    }
}

/// A word this thread is about to try to own (a many-sender claim), named
/// as its pending robust operation from just before the compare-and-swap
/// that may make it the owner.
pub(crate) struct Pend {
    pub(crate) me: Me,
    pending: Pending,
}

impl Pend {
    /// Names the word whose list link is `next` as pending.
    #[inline]
    pub(crate) fn start(next: &AtomicUsize) -> Result<Pend> {
        let me = robust::me()?;
        let pending = me.set_pending(next);
        Ok(Pend { me, pending })
    }

    /// The word was not taken, or was put back: the slot as it was.
    #[inline]
    pub(crate) fn undo(self) {
        self.me.restore_pending(self.pending);
    }

    /// The word (named when starting) is now this thread's: linked into its
    /// robust list, the slot as it was.
    #[inline]
    pub(crate) fn own(self, token: Token<'_>) -> Held<'_> {
        self.me.enqueue(token.prev, token.next);
        self.me.restore_pending(self.pending);
        Held { token, me: self.me }
    }
}
