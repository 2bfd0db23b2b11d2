//! What the calling thread holds across calls on which channel: a
//! reservation or a peek, with where its frame lies. Kept per thread (not
//! in shared memory, which anyone may write) to tell misuse from BUSY and
//! to finish the right frame. The first few holds live in fixed slots with
//! no destructor, so the zero-copy fast path neither allocates nor checks
//! a thread-local's state; more go to a list.

use std::cell::{Cell, RefCell};

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

/// The fixed slots and how many holds the list has (read first, so the
/// list is looked at only when it has any), in one thread-local: in the
/// shared library each thread-local costs a `__tls_get_addr` call.
struct Slots {
    keys: [Cell<usize>; SLOTS],
    holds: [Cell<Hold>; SLOTS],
    more_len: Cell<usize>,
}

impl Slots {
    fn slot_of(&self, key: usize) -> Option<usize> {
        self.keys.iter().position(|k| k.get() == key)
    }
}

thread_local! {
    static HERE: Slots = const {
        Slots {
            keys: [const { Cell::new(0) }; SLOTS],
            holds: [const { Cell::new(Hold { pos: 0, frame: 0, claim: 0 }) }; SLOTS],
            more_len: Cell::new(0),
        }
    };
    /// Holds beyond the slots.
    static MORE: RefCell<Vec<(usize, Hold)>> = const { RefCell::new(Vec::new()) };
}

/// This thread's hold of `kind` on the channel at `chan`.
#[inline]
pub(crate) fn find(chan: usize, kind: Kind) -> Option<Hold> {
    let key = key(chan, kind);
    HERE.with(|s| match s.slot_of(key) {
        Some(i) => Some(s.holds[i].get()),
        None if s.more_len.get() == 0 => None,
        None => find_more(key),
    })
}

#[cold]
fn find_more(key: usize) -> Option<Hold> {
    MORE.with(|m| m.borrow().iter().find(|(k, _)| *k == key).map(|(_, h)| *h))
}

/// Forgets this thread's hold of `kind` on the channel at `chan`.
#[inline]
pub(crate) fn forget(chan: usize, kind: Kind) {
    let key = key(chan, kind);
    HERE.with(|s| match s.slot_of(key) {
        Some(i) => s.keys[i].set(0),
        None if s.more_len.get() == 0 => {}
        None => s.more_len.set(forget_more(key)),
    })
}

/// Drops `key` from the list; returns how many holds are left there.
#[cold]
fn forget_more(key: usize) -> usize {
    MORE.with(|m| {
        let mut m = m.borrow_mut();
        m.retain(|(k, _)| *k != key);
        m.len()
    })
}

/// Notes a new hold (the caller checked that none of this kind exists).
#[inline]
pub(crate) fn remember(chan: usize, kind: Kind, hold: Hold) {
    let key = key(chan, kind);
    HERE.with(|s| match s.slot_of(0) {
        Some(i) => {
            s.holds[i].set(hold);
            s.keys[i].set(key);
        }
        None => s.more_len.set(remember_more(key, hold)),
    })
}

/// Adds to the list; returns how many holds are there.
#[cold]
fn remember_more(key: usize, hold: Hold) -> usize {
    MORE.with(|m| {
        let mut m = m.borrow_mut();
        m.push((key, hold));
        m.len()
    })
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
        for c in 1..=10u64 {
            remember(c as usize * 64, Kind::Reserve, h(c));
            remember(c as usize * 64, Kind::Peek, h(c + 100));
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
        assert_eq!(HERE.with(|s| s.more_len.get()), 0);
        assert!(find(64, Kind::Peek).is_none());
    }
}
