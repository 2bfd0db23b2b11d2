//! Taking one side of a channel (send or receive) for the length of a call.
//!
//! A second thread that tries while a call is under way gets `Busy` at
//! once. The word that says who is inside is a robust futex word, linked
//! into the calling thread's kernel robust list (see `sync::robust`) for
//! the length of the call, like a held mutex: if the thread dies inside the
//! call, even by SIGKILL, the kernel marks the word, and the next caller
//! takes the side over. The list's "operation pending" slot covers only the
//! instants of taking and giving back, and is saved and restored, so a
//! robust operation nested in a signal handler cannot lose it. Nothing else
//! needs repair: a message counts only once the sender publishes its end,
//! after writing all of it.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::sync::robust::{self, Me};

const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// One side's robust word and its list link (the word is 32 bytes before
/// the link, as for every entry of the list).
pub(crate) struct Token<'a> {
    pub(crate) word: &'a AtomicU32,
    pub(crate) prev: &'a AtomicUsize,
    pub(crate) next: &'a AtomicUsize,
}

/// The side, held until dropped.
pub(crate) struct Held<'a> {
    token: Token<'a>,
    me: Me,
}

impl<'a> Token<'a> {
    /// Takes the side, or `Busy` if a live thread holds it. `verb` words
    /// the error ("sending").
    #[inline]
    pub(crate) fn take(self, verb: &str) -> Result<Held<'a>> {
        let me = robust::me()?;
        let pending = me.set_pending(self.next);
        let word = self.word.load(Ordering::Relaxed);
        // A dead holder's word keeps only FUTEX_OWNER_DIED: free to take.
        let taken = word & FUTEX_TID_MASK == 0
            && self
                .word
                .compare_exchange(word, me.tid, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        if !taken {
            me.restore_pending(pending);
            return Err(busy(word & FUTEX_TID_MASK, verb));
        }
        me.enqueue(self.prev, self.next);
        me.restore_pending(pending);
        Ok(Held { token: self, me })
    }
}

#[cold]
fn busy(holder: u32, verb: &str) -> Error {
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
