//! Many senders at once: each claims its frame without a lock and
//! publishes it on its own; the receiver takes frames in position order,
//! waits for one still being written, skips one whose writer died or
//! cancelled.
//!
//! The frame header at `tail` is always free, tagged with its position
//! (`free_word`). A sender claims it by one compare-and-swap of the
//! frame's first 64 bits from that tag to its thread id and claimed length,
//! with the frame's state word named as its robust pending operation from
//! just before; then it tags the next frame header free and moves `tail`
//! past its frame. Only the owner of the frame at `tail` moves `tail`, so
//! that is no lock: if the owner dies in between, the kernel marks the
//! state word and any sender takes its place. A writer's death later
//! leaves its frame marked the same way, and the receiver skips it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::layout::{self, Frame, ABANDONED, FRAME_HEADER, PUBLISHED, TID_MASK};
use super::side::{Held, Pend, Token};
use super::wait::Who;
use super::{is_skipped, Channel, Found};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::futex::{Deadline, Timeout};

/// A frame claimed by this thread: its state word names the thread and is
/// linked into the thread's robust list.
pub(crate) struct Claim<'a> {
    pub(crate) held: Held<'a>,
    pub(crate) pos: u64,
    pub(crate) payload: u64,
}

/// What the first 64 bits of a free frame header at `pos` hold: state 0,
/// and the position's low bits where the claimed length goes, so a sender
/// with a stale idea of `tail` cannot claim bytes of another lap.
fn free_word(pos: u64) -> u64 {
    (pos >> 6 & 0xffff_ffff) << 32
}

fn claimed_word(tid: u32, claim: u64) -> u64 {
    claim << 32 | u64::from(tid)
}

impl Frame {
    /// The state and claimed length as one word.
    fn head_word(&self) -> &AtomicU64 {
        // SAFETY: the frame header is 64-aligned, and state and claim are
        // its first 8 bytes, little-endian: state is the low half.
        unsafe { &*(self as *const Frame as *const AtomicU64) }
    }
}

impl<'a> Channel<'a> {
    /// Sends one message on a many-sender channel.
    pub(crate) fn send_many(&self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if self.holds_reservation() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "this thread holds a reservation on this channel; commit or cancel it before \
                 sending",
            ));
        }
        let claim = self.claim(msg.len() as u64, timeout)?;
        // SAFETY: the claimed frame's payload is this thread's alone.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), self.byte_at(claim.payload), msg.len())
        };
        let f = self.frame(claim.pos);
        f.len.store(msg.len() as u32, Ordering::Relaxed);
        f.check.store(!(msg.len() as u32), Ordering::Relaxed);
        claim.held.finish(PUBLISHED);
        // The state is published before looking for sleepers (they set
        // their flag, then look at the state).
        std::sync::atomic::fence(Ordering::SeqCst);
        self.wake_waiters(&self.hdr.data_waiters);
        Ok(())
    }

    /// Claims a frame for `len` bytes at the end of the queue, waiting for
    /// room. On return the frame's state word holds this thread's id and is
    /// linked into its robust list.
    pub(crate) fn claim(&self, len: u64, timeout: Timeout) -> Result<Claim<'a>> {
        let hdr = self.hdr;
        let mut stall = Stall::default();
        loop {
            if self.is_closed() {
                return Err(self.closed_error("send"));
            }
            // tail first: the head read after it is fresher, so `tail - head`
            // never exceeds the ring unless the memory is damaged. A head past
            // that tail means others claimed meanwhile: look again (if tail
            // has not moved, head was past it: damage, not a reason to spin).
            let tail = hdr.tail.load(Ordering::Acquire);
            let head = hdr.head.load(Ordering::Acquire);
            if head > tail && head & 63 == 0 && head < layout::MAX_POSITION {
                if !self.tail_moved(tail) {
                    return Err(self.bad_positions(head, tail));
                }
                continue;
            }
            let Some(used) = self.queued(head, tail) else {
                return Err(self.bad_positions(head, tail));
            };
            let (payload, frame) = layout::frame_span(tail, len, self.capacity);
            if used + frame + FRAME_HEADER > self.capacity {
                let need = tail + frame + FRAME_HEADER - self.capacity;
                let fits = || {
                    hdr.head.load(Ordering::SeqCst) >= need
                        || hdr.tail.load(Ordering::Relaxed) != tail
                };
                self.wait(Who::Sender, timeout, &fits)?;
                continue;
            }
            let f = self.frame(tail);
            let now = f.head_word().load(Ordering::Acquire);
            match self.judge_tail_frame(tail, now) {
                AtTail::Free | AtTail::Dead => {}
                AtTail::Moved => continue,
                AtTail::Claiming => {
                    stall.back_off(self, tail, timeout)?;
                    continue;
                }
                AtTail::Damaged => return Err(self.damaged(tail, (now >> 32) as u32)),
            }
            let pend = Pend::start(&f.next)?;
            let tid = pend.me.tid;
            let took = if now == free_word(tail) {
                f.head_word()
                    .compare_exchange(
                        now,
                        claimed_word(tid, len),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            } else {
                // Its claimer died before moving tail: take its place.
                self.take_over(f, now, tid)
            };
            if !took {
                pend.undo();
                stall.back_off(self, tail, timeout)?;
                continue;
            }
            if hdr.tail.load(Ordering::Acquire) != tail {
                // A stale tail from another lap: put back what was there.
                f.head_word().store(now, Ordering::Release);
                pend.undo();
                continue;
            }
            if now != free_word(tail) {
                // The frame was a dead claimer's: pass it, abandoned.
                let dead_claim = now >> 32;
                let (_, dead_frame) = layout::frame_span(tail, dead_claim, self.capacity);
                self.advance(tail, dead_frame);
                f.state.store(ABANDONED, Ordering::Release);
                pend.undo();
                continue;
            }
            self.advance(tail, frame);
            let token = Token {
                word: &f.state,
                prev: &f.prev,
                next: &f.next,
            };
            return Ok(Claim {
                held: pend.own(token),
                pos: tail,
                payload,
            });
        }
    }

    /// What the frame header at `tail` holds (`now`, its first 64 bits),
    /// as a sender about to claim it sees it. Anything but a free header,
    /// a claim under way or a dead claimer's frame that fits is damage,
    /// once `tail` is seen not to have moved meanwhile.
    fn judge_tail_frame(&self, tail: u64, now: u64) -> AtTail {
        let state = now as u32;
        if now == free_word(tail) {
            return AtTail::Free;
        }
        if state & TID_MASK != 0 && state & !TID_MASK == 0 {
            return AtTail::Claiming;
        }
        if is_skipped(state) {
            // Taken over, the dead claimer's frame is passed: it must be
            // one that could have been claimed here. Head is read after
            // `now`, so no older than what the dead claimer saw.
            let claim = now >> 32;
            let (_, frame) = layout::frame_span(tail, claim, self.capacity);
            let head = self.hdr.head.load(Ordering::SeqCst);
            let fits = self
                .queued(head, tail)
                .is_some_and(|used| used + frame + FRAME_HEADER <= self.capacity);
            // A skip state carries no position: one read a lap late may be a
            // later frame's payload bytes. Tail still here narrows that to
            // the instants before the compare-and-swap.
            if fits && claim <= layout::max_message(self.capacity) && !self.tail_moved(tail) {
                return AtTail::Dead;
            }
        }
        if self.tail_moved(tail) {
            AtTail::Moved
        } else {
            AtTail::Damaged
        }
    }

    /// Whether `tail` is no longer where it was read (positions only grow).
    fn tail_moved(&self, tail: u64) -> bool {
        self.hdr.tail.load(Ordering::SeqCst) != tail
    }

    /// Takes over the frame at `tail` whose claimer died before moving
    /// `tail`, keeping its claimed length.
    fn take_over(&self, f: &Frame, now: u64, tid: u32) -> bool {
        let mine = (now & !u64::from(u32::MAX)) | u64::from(tid);
        f.head_word()
            .compare_exchange(now, mine, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Tags the frame header after the frame at `tail` free and moves
    /// `tail` past the frame (the caller owns the frame at `tail`).
    fn advance(&self, tail: u64, frame: u64) {
        let next = tail + frame;
        self.frame(next)
            .head_word()
            .store(free_word(next), Ordering::Release);
        self.hdr.tail.store(next, Ordering::SeqCst);
    }

    /// The next published message of a many-sender channel, skipping
    /// abandoned frames and waiting for one being written.
    pub(super) fn next_many(&self, timeout: Timeout) -> Result<Found> {
        let hdr = self.hdr;
        loop {
            let head = hdr.head.load(Ordering::Relaxed);
            if head & 63 != 0 || head >= layout::MAX_POSITION {
                return Err(self.bad_positions(head, hdr.tail.load(Ordering::Relaxed)));
            }
            let settled = || {
                hdr.tail.load(Ordering::SeqCst) != head
                    && self.frame(head).state.load(Ordering::SeqCst) & TID_MASK == 0
            };
            if !settled() {
                if self.is_closed() && hdr.tail.load(Ordering::SeqCst) == head {
                    return Err(self.closed_error("receive from"));
                }
                self.wait(Who::Receiver, timeout, &settled)?;
            }
            let tail = hdr.tail.load(Ordering::Acquire);
            if self.queued(head, tail).is_none() {
                return Err(self.bad_positions(head, tail));
            }
            let f = self.frame(head);
            let state = f.state.load(Ordering::Acquire);
            if state == PUBLISHED {
                return self.frame_at(head, tail);
            }
            if !is_skipped(state) {
                return Err(self.damaged(head, f.len.load(Ordering::Relaxed)));
            }
            let claim = u64::from(f.claim.load(Ordering::Relaxed));
            let (_, frame) = layout::frame_span(head, claim, self.capacity);
            if claim > layout::max_message(self.capacity) || tail.wrapping_sub(head) < frame {
                return Err(self.damaged(head, claim as u32));
            }
            hdr.head.store(head + frame, Ordering::SeqCst);
            self.wake_waiters(&hdr.room_waiters);
        }
    }

    /// Whether a many-sender channel holds a message a receive would take
    /// at once (looking past abandoned frames without taking them).
    pub(crate) fn has_message_many(&self) -> bool {
        let hdr = self.hdr;
        let mut head = hdr.head.load(Ordering::SeqCst);
        let tail = hdr.tail.load(Ordering::SeqCst);
        if self.queued(head, tail).is_none() {
            // Damaged, or a stale head: let the receive itself tell.
            return true;
        }
        while head < tail && tail - head <= self.capacity {
            let f = self.frame(head);
            let state = f.state.load(Ordering::SeqCst);
            if !is_skipped(state) {
                return state == PUBLISHED;
            }
            let claim = u64::from(f.claim.load(Ordering::Relaxed));
            head += layout::frame_span(head, claim, self.capacity).1;
        }
        false
    }
}

/// The frame header at `tail`, as a sender about to claim it sees it.
enum AtTail {
    /// Free, tagged with this position.
    Free,
    /// A claimer died before moving `tail`; its frame fits here.
    Dead,
    /// Another sender claimed it and is about to move `tail`.
    Claiming,
    /// `tail` moved meanwhile: look again.
    Moved,
    /// Nothing a sender writes there.
    Damaged,
}

/// A sender waiting for another to finish its claim: spins a little, then
/// yields, until the caller's timeout (a claimer stopped by a debugger or
/// SIGSTOP, or a forged thread id, must not hold every sender forever).
/// Counted afresh whenever `tail` moved: others got through, so the wait
/// is not for the one stuck claim.
#[derive(Default)]
struct Stall {
    tail: u64,
    spins: u32,
    deadline: Option<Deadline>,
}

/// Spins before the timeout is looked at: a claim takes a few stores, so a
/// poll gives a claimer that long plus a few yields.
const STALL_SPINS: u32 = 64;
const STALL_YIELDS: u32 = 16;

impl Stall {
    fn back_off(&mut self, ch: &Channel<'_>, tail: u64, timeout: Timeout) -> Result<()> {
        if self.tail != tail {
            *self = Stall {
                tail,
                ..Stall::default()
            };
        }
        self.spins = self.spins.saturating_add(1);
        if self.spins < STALL_SPINS {
            std::hint::spin_loop();
            return Ok(());
        }
        std::thread::yield_now();
        if self.spins < STALL_SPINS + STALL_YIELDS {
            return Ok(());
        }
        let deadline = self
            .deadline
            .get_or_insert_with(|| Deadline::after(timeout));
        if deadline.expired() {
            return Err(ch.timed_out(Who::Sender, timeout));
        }
        Ok(())
    }
}
