//! What the calling thread holds across calls on which channel: a
//! reservation or a peek, with where its frame lies. Kept per thread (not
//! in shared memory, which anyone may write) to tell misuse from BUSY and
//! to finish the right frame. The first few holds live in fixed slots, so
//! the zero-copy fast path does not allocate; more go to a list.

use std::cell::{Cell, RefCell};

use super::here;
use crate::error::Result;

/// What is held.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Reserve = 1,
    Peek = 2,
}

/// A reservation or peek: its frame's position and length, and the bytes
/// reserved (or the peeked message's length).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Hold {
    pub(crate) pos: u64,
    pub(crate) frame: u64,
    pub(crate) claim: u64,
}

/// Fixed slots per thread; a thread rarely holds more at once.
const SLOTS: usize = 4;

/// A slot's key: the channel's address (64-aligned) with the kind in its
/// low bits; 0 is a free slot.
fn key(chan: usize, kind: Kind) -> usize {
    chan | kind as usize
}

/// The fixed slots, how many holds the list has (read first, so the list
/// is looked at only when it has any), and the list, in the thread's
/// channel state (`here`).
pub(super) struct Holds {
    keys: [Cell<usize>; SLOTS],
    holds: [Cell<Hold>; SLOTS],
    more_len: Cell<usize>,
    /// Holds beyond the slots.
    more: RefCell<Vec<(usize, Hold)>>,
}

impl Holds {
    pub(super) const fn new() -> Holds {
        Holds {
            keys: [const { Cell::new(0) }; SLOTS],
            holds: [const {
                Cell::new(Hold {
                    pos: 0,
                    frame: 0,
                    claim: 0,
                })
            }; SLOTS],
            more_len: Cell::new(0),
            more: RefCell::new(Vec::new()),
        }
    }

    fn slot_of(&self, key: usize) -> Option<usize> {
        self.keys.iter().position(|k| k.get() == key)
    }

    #[inline]
    fn find(&self, key: usize) -> Option<Hold> {
        match self.slot_of(key) {
            Some(i) => Some(self.holds[i].get()),
            None if self.more_len.get() == 0 => None,
            None => self.find_more(key),
        }
    }

    #[cold]
    fn find_more(&self, key: usize) -> Option<Hold> {
        let more = self.more.borrow();
        more.iter().find(|(k, _)| *k == key).map(|(_, h)| *h)
    }

    #[inline]
    fn forget(&self, key: usize) {
        match self.slot_of(key) {
            Some(i) => self.keys[i].set(0),
            None if self.more_len.get() == 0 => {}
            None => self.forget_more(key),
        }
    }

    #[cold]
    fn forget_more(&self, key: usize) {
        let mut more = self.more.borrow_mut();
        more.retain(|(k, _)| *k != key);
        self.more_len.set(more.len());
    }

    /// Notes a new hold (the caller checked that none of this kind exists).
    #[inline]
    pub(super) fn remember(&self, chan: usize, kind: Kind, hold: Hold) {
        let key = key(chan, kind);
        match self.slot_of(0) {
            Some(i) => {
                self.holds[i].set(hold);
                self.keys[i].set(key);
            }
            None => self.remember_more(key, hold),
        }
    }

    #[cold]
    fn remember_more(&self, key: usize, hold: Hold) {
        let mut more = self.more.borrow_mut();
        more.push((key, hold));
        self.more_len.set(more.len());
    }
}

/// This thread's hold of `kind` on the channel at `chan` (none once its
/// channel state is gone).
#[inline]
pub(crate) fn find(chan: usize, kind: Kind) -> Option<Hold> {
    here::existing()?.holds.find(key(chan, kind))
}

/// Forgets this thread's hold of `kind` on the channel at `chan`.
#[inline]
pub(crate) fn forget(chan: usize, kind: Kind) {
    if let Some(here) = here::existing() {
        here.holds.forget(key(chan, kind));
    }
}

/// Where a hold about to be taken will be noted: asked before taking it,
/// so that a thread that cannot note one (see `here::get`) takes nothing.
#[inline]
pub(crate) fn room() -> Result<&'static Holds> {
    here::get().map(|here| &here.holds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_beyond_the_slots_are_kept_and_forgotten() {
        let h = |n| Hold {
            pos: n,
            frame: 64,
            claim: 1,
        };
        let room = room().unwrap();
        for c in 1..=10u64 {
            room.remember(c as usize * 64, Kind::Reserve, h(c));
            room.remember(c as usize * 64, Kind::Peek, h(c + 100));
        }
        for c in 1..=10u64 {
            assert_eq!(find(c as usize * 64, Kind::Reserve).unwrap().pos, c);
            assert_eq!(find(c as usize * 64, Kind::Peek).unwrap().pos, c + 100);
        }
        for c in 1..=10u64 {
            forget(c as usize * 64, Kind::Reserve);
            assert!(find(c as usize * 64, Kind::Reserve).is_none());
            assert!(find(c as usize * 64, Kind::Peek).is_some());
            forget(c as usize * 64, Kind::Peek);
        }
        assert_eq!(room.more_len.get(), 0);
        assert!(find(64, Kind::Peek).is_none());
    }
}
