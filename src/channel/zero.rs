//! Zero-copy messages: a reservation (space in the ring the caller writes,
//! then commits or cancels) and a peek (the next message read in place,
//! then released). Both are held by the calling thread across calls,
//! through a robust word linked into its kernel robust list (the send or
//! receive side; a many-sender frame's state), so that the thread's death
//! publishes nothing and consumes nothing. Which thread holds what is also
//! kept per thread (`holds`), to tell misuse (INVALID_ARGUMENT) from BUSY.

use std::sync::atomic::Ordering;

use super::holds::{self, Hold, Kind};
use super::layout::{self, ABANDONED, PUBLISHED};
use super::side::Token;
use super::{Channel, Found};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::futex::Timeout;
use crate::sync::robust;

impl Channel<'_> {
    /// Whether this thread holds a reservation on this channel.
    #[inline]
    pub(crate) fn holds_reservation(&self) -> bool {
        holds::find(self.addr(), Kind::Reserve).is_some()
    }

    /// Reserves `len` contiguous bytes for a message, waiting for room;
    /// returns where to write them. Held until [`commit`](Self::commit) or
    /// [`cancel`](Self::cancel).
    #[inline]
    pub fn reserve(&self, len: usize, timeout: Timeout) -> Result<*mut u8> {
        self.check_sendable(len)?;
        if self.holds_reservation() {
            return Err(misuse(
                "this thread holds a reservation on this channel already; commit or cancel it",
            ));
        }
        let room = holds::room()?;
        let len64 = len as u64;
        let (pos, payload, frame) = if self.many {
            let claim = self.claim(len64, timeout)?;
            claim.held.keep();
            let frame = layout::frame_span(claim.pos, len64, self.capacity).1;
            (claim.pos, claim.payload, frame)
        } else {
            let held = self.send_side().take("sending", "a reservation")?;
            Self::note_me(&self.hdr.sender_id, &self.hdr.sender_pid);
            let hdr = self.hdr;
            let tail = self.check_position(
                hdr.tail.load(Ordering::Relaxed),
                hdr.head_seen.load(Ordering::Relaxed),
            )?;
            let (payload, frame) = layout::frame_span(tail, len64, self.capacity);
            self.wait_for_room(tail, frame, timeout)?;
            held.keep();
            (tail, payload, frame)
        };
        let hold = Hold {
            pos,
            frame,
            claim: len64,
        };
        room.remember(self.addr(), Kind::Reserve, hold);
        Ok(self.byte_at(payload))
    }

    /// Publishes the first `n` bytes of this thread's reservation as one
    /// message (`n` at most the reserved length).
    #[inline]
    pub fn commit(&self, n: usize) -> Result<()> {
        let hold = self.held(Kind::Reserve, "commit")?;
        if n as u64 > hold.claim {
            return Err(misuse(&format!(
                "cannot commit {n} bytes: the reservation holds {}",
                hold.claim
            )));
        }
        self.finish_reservation(hold, Some(n))
    }

    /// Drops this thread's reservation, publishing nothing.
    pub fn cancel(&self) -> Result<()> {
        let hold = self.held(Kind::Reserve, "cancel")?;
        self.finish_reservation(hold, None)
    }

    #[inline]
    fn finish_reservation(&self, hold: Hold, commit: Option<usize>) -> Result<()> {
        holds::forget(self.addr(), Kind::Reserve);
        let closed = self.is_closed();
        let token = self.reservation_token(hold.pos);
        let Some(me) = token.held_by_me() else {
            return Err(self.lost("reservation"));
        };
        let n = commit.filter(|_| !closed);
        if self.many {
            let f = self.frame(hold.pos);
            if let Some(n) = n {
                f.len.store(n as u32, Ordering::Relaxed);
                f.check.store(!(n as u32), Ordering::Relaxed);
            }
            token.give_back(me, if n.is_some() { PUBLISHED } else { ABANDONED });
            // The state is published before looking for sleepers (they set
            // their flag, then look at the state).
            std::sync::atomic::fence(Ordering::SeqCst);
            self.wake_waiters(&self.hdr.data_waiters);
        } else {
            if let Some(n) = n {
                self.publish_one(hold.pos, hold.frame, hold.claim as usize, n);
            }
            token.give_back(me, 0);
        }
        if closed && commit.is_some() {
            return Err(self.closed_error("commit to"));
        }
        Ok(())
    }

    /// The robust word that holds a reservation at `pos`.
    fn reservation_token(&self, pos: u64) -> Token<'_> {
        if self.many {
            let f = self.frame(pos);
            Token {
                word: &f.state,
                prev: &f.prev,
                next: &f.next,
            }
        } else {
            self.send_side()
        }
    }

    /// Waits for the next message and returns it in place: its bytes and
    /// length. It stays queued until [`release`](Self::release).
    #[inline]
    pub fn peek(&self, timeout: Timeout) -> Result<(*const u8, usize)> {
        let room = holds::room()?;
        let held = self.recv_side().take("receiving", "a peeked message")?;
        let found = self.next_message(timeout)?;
        held.keep();
        let hold = Hold {
            pos: found.pos,
            frame: found.frame,
            claim: found.len as u64,
        };
        room.remember(self.addr(), Kind::Peek, hold);
        Ok((self.byte_at(found.payload), found.len))
    }

    /// Takes the message this thread peeked off the queue.
    #[inline]
    pub fn release(&self) -> Result<()> {
        let hold = self.held(Kind::Peek, "release")?;
        holds::forget(self.addr(), Kind::Peek);
        let side = self.recv_side();
        let me = side.held_by_me();
        let Some(me) = me.filter(|_| self.hdr.head.load(Ordering::Relaxed) == hold.pos) else {
            return Err(self.lost("peeked message"));
        };
        self.consume(Found {
            pos: hold.pos,
            frame: hold.frame,
            payload: 0,
            len: 0,
        });
        side.give_back(me, 0);
        Ok(())
    }

    fn held(&self, kind: Kind, verb: &str) -> Result<Hold> {
        holds::find(self.addr(), kind).ok_or_else(|| {
            let what = match kind {
                Kind::Reserve => "a reservation (mapipc_channel_reserve)",
                Kind::Peek => "a peeked message (mapipc_channel_peek)",
            };
            misuse(&format!(
                "cannot {verb}: this thread holds no {what} on this channel"
            ))
        })
    }

    #[cold]
    fn lost(&self, what: &str) -> Error {
        let tid = robust::me().map_or(0, |m| m.tid);
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "this thread's {what} on the channel at {:#x} is no longer its own (thread {tid} \
                 does not hold it: another process wrote into the channel, or this process \
                 forked)",
                self.addr()
            ),
        )
    }
}

#[cold]
fn misuse(what: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, what.to_string())
}
