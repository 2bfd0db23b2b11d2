//! Taking one side of a channel (send or receive) for the length of a call.
//!
//! A second thread that tries while a call is under way gets `Busy` at
//! once. The word that says who is inside is a robust futex word, named as
//! the calling thread's "operation pending" entry of its kernel robust list
//! (see `sync::robust`) for the length of the call: if the thread dies
//! inside the call, even by SIGKILL, the kernel marks the word, and the
//! next caller takes the side over. A side is held only inside one call, so
//! the pending entry suffices and the list itself is never touched. Nothing
//! else needs repair: a message counts only once the sender publishes its
//! end, after writing all of it.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::sync::robust::{self, Me};

const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// One side's robust word and its list link (the word is 32 bytes before
/// the link, as for every entry of the list).
pub(crate) struct Token<'a> {
    pub(crate) word: &'a AtomicU32,
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
        me.set_pending(self.next);
        let word = self.word.load(Ordering::Relaxed);
        // A dead holder's word keeps only FUTEX_OWNER_DIED: free to take.
        let taken = word & FUTEX_TID_MASK == 0
            && self
                .word
                .compare_exchange(word, me.tid, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        if !taken {
            me.clear_pending();
            return Err(busy(word & FUTEX_TID_MASK, verb));
        }
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
        self.token.word.store(0, Ordering::Release);
        self.me.clear_pending();
    }
}
