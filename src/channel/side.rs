//! Robust words of a channel: one side (send or receive) taken for the
//! length of a call or held across calls (a reservation, a peek), and a
//! many-sender frame's state while its writer works on it.
//!
//! The word holds the owner's kernel thread id. For one call it is named
//! by the thread's robust list's "operation pending" entry; held across
//! calls it is linked into the list itself (a thread may lock a mutex in
//! between, which reuses the pending entry). Either way, if the thread
//! dies, even by SIGKILL, the kernel marks the word OWNER_DIED and the next
//! caller takes it over. Must not touch anything but the word and links.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::sync::robust::{self, Me};

use super::layout::TID_MASK;

/// A robust word and its list links (the word is 32 bytes before `next`,
/// `prev` just before `next`, as for every entry of the list).
#[derive(Clone, Copy)]
pub(crate) struct Token<'a> {
    pub(crate) word: &'a AtomicU32,
    pub(crate) prev: &'a AtomicUsize,
    pub(crate) next: &'a AtomicUsize,
}

/// The side, held until dropped (one call).
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
        me.set_pending(self.next);
        let word = self.word.load(Ordering::Relaxed);
        // A dead holder's word keeps only FUTEX_OWNER_DIED: free to take.
        let taken = word & TID_MASK == 0
            && self
                .word
                .compare_exchange(word, me.tid, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        if !taken {
            me.clear_pending();
            return Err(busy(word & TID_MASK, me.tid, verb, mine));
        }
        Ok(Held { token: self, me })
    }

    /// Whether the calling thread holds this word across calls.
    pub(crate) fn held_by_me(self) -> bool {
        robust::me().is_ok_and(|me| self.word.load(Ordering::Relaxed) & TID_MASK == me.tid)
    }

    /// Gives back a word this thread holds across calls (see
    /// [`Held::keep`]), storing `value` in it: unlinked first, named as
    /// pending meanwhile, so a death at any instant is still noticed.
    pub(crate) fn give_back(self, value: u32) {
        let Ok(me) = robust::me() else { return };
        me.set_pending(self.next);
        me.dequeue(self.prev, self.next);
        self.word.store(value, Ordering::Release);
        me.clear_pending();
    }
}

impl Held<'_> {
    /// Keeps the side after this call returns: linked into the thread's
    /// robust list until [`Token::give_back`].
    pub(crate) fn keep(self) {
        self.me.enqueue(self.token.prev, self.token.next);
        self.me.clear_pending();
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
        self.token.word.store(0, Ordering::Release);
        self.me.clear_pending();
    }
}

/// Names `word` (whose list link is `next`) as this thread's pending
/// robust operation: for a many-sender claim, from just before the
/// compare-and-swap that may make it the word's owner.
#[inline]
pub(crate) fn pend(next: &AtomicUsize) -> Result<Me> {
    let me = robust::me()?;
    me.set_pending(next);
    Ok(me)
}
