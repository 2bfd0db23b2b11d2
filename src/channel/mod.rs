//! A message channel through shared memory, with pipe semantics (whole
//! messages, in order, once; close; the other side's death noticed) at
//! shared-memory speed: one receiver at a time, and one sender at a time
//! or (made so) any number of senders at once; zero-copy reservations and
//! peeks; a descriptor for event loops.
//!
//! A ring of framed messages (`layout`, docs/channel-format.md). The fast
//! path takes the side (`side`), copies, publishes with one store, and
//! makes no system call: a side that must wait spins for about as long as
//! its last wait took, then sleeps on a waiter word that the other side
//! looks at after publishing (`wait`). Many senders claim frames without a
//! lock (`many`). Owns the channel's bytes in memory; must not trust them
//! (another process may have written anything there) and builds on `sync`
//! and `region` only.

mod here;
mod holds;
pub mod inspect;
mod layout;
mod many;
mod notify;
mod peer;
mod side;
mod wait;
mod zero;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::region::registry::{self, Need};
use crate::region::Region;
use crate::sync::futex::{self, Scope, Timeout};
pub use inspect::{inspect, ChannelState};
pub use layout::HEADER;
use layout::{
    Frame, Header, FRAME_HEADER, MAX_POSITION, MAX_SIZE, MIN_SIZE, PUBLISHED, SKIP, TID_MASK,
};
use side::Token;
use wait::Who;

/// Alignment of a channel in memory.
pub const ALIGN: usize = 64;

/// What `recv` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A message of this many bytes, now in the buffer and off the queue.
    Message(usize),
    /// The next message has this many bytes, more than the buffer holds; it
    /// stays queued.
    TooSmall(usize),
}

/// A channel in shared memory, checked and ready to use.
#[derive(Debug)]
pub struct Channel<'a> {
    hdr: &'a Header,
    ring: *mut u8,
    capacity: u64,
    many: bool,
    scope: Scope,
}

/// A channel this thread found before: trusted, without looking at the
/// registry or the header again, while no region came or went. Two slots:
/// a thread often sends on one channel and receives on another.
#[derive(Debug, Clone, Copy)]
struct Known {
    generation: u64,
    addr: usize,
    /// The header's `ident` when found: a channel re-initialised in place
    /// (another size or kind) is looked at again.
    ident: u64,
    writable: bool,
    capacity: u64,
    many: bool,
    scope: Scope,
}

impl Known {
    const NONE: Known = Known {
        generation: 0,
        addr: 0,
        ident: 0,
        writable: false,
        capacity: 0,
        many: false,
        scope: Scope::Shared,
    };
}

/// A message found at the head of the queue.
#[derive(Clone, Copy)]
struct Found {
    /// Its frame's position and whole length.
    pos: u64,
    frame: u64,
    /// Where its bytes start (a position) and how many there are.
    payload: u64,
    len: usize,
}

impl<'a> Channel<'a> {
    /// Makes `size` bytes at `offset` into `region` a channel (0: to the
    /// end of the region), or checks that they are one of that size
    /// already. Safe to race: one caller initialises, the others see it
    /// done.
    pub fn init_in(region: &'a Region, offset: usize, size: usize) -> Result<Channel<'a>> {
        Self::init_with_in(region, offset, size, false)
    }

    /// [`init_in`](Self::init_in) for many senders at once (`many`) or one.
    pub fn init_with_in(
        region: &'a Region,
        offset: usize,
        size: usize,
        many: bool,
    ) -> Result<Channel<'a>> {
        let (addr, room) = place_in(region, offset)?;
        // SAFETY: place_in checked `room` writable bytes at an aligned addr,
        // alive as long as the borrow of region.
        unsafe {
            init_at(addr, size, room, many)?;
            Channel::at(addr, room, crate::sync::scope_of(&region.info()))
        }
    }

    /// The channel already initialised at `offset` into `region`.
    pub fn open_in(region: &'a Region, offset: usize) -> Result<Channel<'a>> {
        let (addr, room) = place_in(region, offset)?;
        // SAFETY: as in init_in.
        unsafe { Channel::at(addr, room, crate::sync::scope_of(&region.info())) }
    }

    /// The channel at `addr`, with `room` bytes of live writable memory
    /// from there on.
    ///
    /// # Safety
    /// `addr` is 64-byte aligned and `room >= HEADER` bytes from it are live
    /// writable shared memory for `'a`.
    #[inline]
    pub(crate) unsafe fn at(addr: usize, room: usize, scope: Scope) -> Result<Channel<'a>> {
        // SAFETY: the caller's promise; Header is atomics only.
        let hdr = unsafe { &*(addr as *const Header) };
        let ident = hdr.ident.load(Ordering::Acquire);
        let Some((size, many)) = layout::decode_ident(ident) else {
            return Err(not_a_channel(addr, ident));
        };
        // The size comes from shared memory: bound it by what init accepts
        // and by the region's real extent (`room`), never trust it alone.
        if size < MIN_SIZE {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the memory at {addr:#x} does not hold a valid mapipc channel: its header \
                     claims {size} bytes, less than the {MIN_SIZE} every channel has"
                ),
            ));
        }
        if size > room {
            return Err(past_the_end(addr, size, room));
        }
        Ok(Channel {
            hdr,
            ring: (addr + HEADER) as *mut u8,
            capacity: layout::capacity(size),
            many,
            scope,
        })
    }

    /// The channel at `addr` in a live region that allows `need`: the C
    /// API's way in. Remembers the last two channels each thread used, so
    /// that the fast path neither takes the registry's lock nor re-reads a
    /// header.
    #[inline]
    pub(crate) fn locate(addr: usize, need: Need) -> Result<Channel<'a>> {
        let generation = registry::generation();
        if let Some(ch) = here::existing().and_then(|h| Self::known(h, addr, need, generation)) {
            return Ok(ch);
        }
        Self::locate_slow(addr, need, generation)
    }

    /// The channel at `addr` if this thread found it at `generation`.
    #[inline]
    fn known(here: &here::Here, addr: usize, need: Need, generation: u64) -> Option<Channel<'a>> {
        for k in here.known.get() {
            if k.generation == generation && k.addr == addr && (need == Need::Read || k.writable) {
                // SAFETY: found before at this generation: a live,
                // initialised channel wholly inside a live region.
                let hdr = unsafe { &*(addr as *const Header) };
                if hdr.ident.load(Ordering::Relaxed) != k.ident {
                    return None;
                }
                return Some(Channel {
                    hdr,
                    ring: (addr + HEADER) as *mut u8,
                    capacity: k.capacity,
                    many: k.many,
                    scope: k.scope,
                });
            }
        }
        None
    }

    #[cold]
    fn locate_slow(addr: usize, need: Need, generation: u64) -> Result<Channel<'a>> {
        let place = registry::locate(addr, HEADER, ALIGN, need, "channel")?;
        // SAFETY: locate checked that at least HEADER aligned bytes from
        // addr lie in a live region (room counts them to its end); at checks
        // the channel's own size against room. The region outlives the call
        // unless the caller unmaps it concurrently, which the API forbids.
        let ch =
            unsafe { Channel::at(addr, place.room(addr), Scope::for_pages(place.is_private())) }?;
        let found = Known {
            generation,
            addr,
            ident: ch.hdr.ident.load(Ordering::Relaxed),
            writable: place.is_writable(),
            capacity: ch.capacity,
            many: ch.many,
            scope: ch.scope,
        };
        // No state (out of memory, the thread ending): nothing cached.
        if let Ok(here) = here::get() {
            let [newest, _] = here.known.get();
            here.known.set([found, newest]);
        }
        Ok(ch)
    }

    fn addr(&self) -> usize {
        self.hdr as *const Header as usize
    }

    /// The largest message this channel can carry.
    pub fn max_message(&self) -> usize {
        layout::max_message(self.capacity) as usize
    }

    /// Whether any number of threads may send at once.
    pub fn is_many_senders(&self) -> bool {
        self.many
    }

    /// Closes the channel: later sends fail with `Closed`; receives drain
    /// what is queued, then fail with `Closed`. Idempotent.
    pub fn close(&self) -> Result<()> {
        self.hdr.closed.store(1, Ordering::SeqCst);
        for flag in [&self.hdr.data_waiters, &self.hdr.room_waiters] {
            flag.store(0, Ordering::SeqCst);
            futex::wake(flag, u32::MAX, self.scope).map_err(|e| {
                Error::from_os(
                    e,
                    format_args!("cannot wake the sides of the channel at {:#x}", self.addr()),
                )
            })?;
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.hdr.closed.load(Ordering::SeqCst) != 0
    }

    fn send_side(&self) -> Token<'a> {
        Token {
            word: &self.hdr.send_word,
            prev: &self.hdr.send_prev,
            next: &self.hdr.send_next,
        }
    }

    fn recv_side(&self) -> Token<'a> {
        Token {
            word: &self.hdr.recv_word,
            prev: &self.hdr.recv_prev,
            next: &self.hdr.recv_next,
        }
    }

    /// The frame header at position `pos` (a multiple of 64).
    #[inline]
    fn frame(&self, pos: u64) -> &'a Frame {
        // SAFETY: positions are multiples of 64 and the capacity too, so a
        // 64-byte frame header at pos % capacity lies inside the ring, which
        // starts 64-aligned; Frame is atomics only.
        unsafe { &*(self.ring.add((pos % self.capacity) as usize) as *const Frame) }
    }

    /// The address of the byte at position `pos`.
    #[inline]
    fn byte_at(&self, pos: u64) -> *mut u8 {
        // SAFETY: pos % capacity lies inside the ring.
        unsafe { self.ring.add((pos % self.capacity) as usize) }
    }

    /// Records this process as the sender (or receiver): its id and PID
    /// namespace in `id`, its pid alone in `pid` (for inspection).
    #[inline]
    fn note_me(id: &AtomicU64, pid: &AtomicU32) {
        let me = peer::my_id();
        if id.load(Ordering::Relaxed) != me {
            id.store(me, Ordering::Relaxed);
            pid.store(me as u32, Ordering::Release);
        }
    }

    /// Sends one message, waiting while the channel is full.
    #[inline]
    pub fn send(&self, msg: &[u8], timeout: Timeout) -> Result<()> {
        self.check_sendable(msg.len())?;
        if self.many {
            return self.send_many(msg, timeout);
        }
        let hdr = self.hdr;
        let _held = self.send_side().take("sending", "a reservation")?;
        Self::note_me(&hdr.sender_id, &hdr.sender_pid);
        let tail = self.check_position(
            hdr.tail.load(Ordering::Relaxed),
            hdr.head_seen.load(Ordering::Relaxed),
        )?;
        let (payload, frame) = layout::frame_span(tail, msg.len() as u64, self.capacity);
        self.wait_for_room(tail, frame, timeout)?;
        // SAFETY: the frame's bytes are free (the receiver is past them) and
        // only this thread, holding the send side, writes there.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.byte_at(payload), msg.len()) };
        self.publish_one(tail, frame, msg.len(), msg.len());
        Ok(())
    }

    /// Too large or closed: what every send and reserve refuses at once.
    #[inline]
    fn check_sendable(&self, len: usize) -> Result<()> {
        if len > self.max_message() {
            return Err(self.too_large(len));
        }
        if self.is_closed() {
            return Err(self.closed_error("send"));
        }
        Ok(())
    }

    /// Writes the frame header at `tail` and publishes the frame (one
    /// sender), waking a waiting receiver.
    #[inline]
    fn publish_one(&self, tail: u64, frame: u64, claim: usize, len: usize) {
        self.write_frame_header(tail, claim, len);
        // Publish, then look whether a receiver sleeps: the SeqCst pair with
        // its "set flag, re-check tail" means one of us sees the other.
        self.hdr.tail.store(tail + frame, Ordering::SeqCst);
        self.wake_waiters(&self.hdr.data_waiters);
    }

    #[inline]
    fn write_frame_header(&self, pos: u64, claim: usize, len: usize) {
        let f = self.frame(pos);
        f.claim.store(claim as u32, Ordering::Relaxed);
        f.len.store(len as u32, Ordering::Relaxed);
        f.check.store(!(len as u32), Ordering::Relaxed);
        f.state.store(PUBLISHED, Ordering::Relaxed);
    }

    /// Waits until a frame of `frame` bytes at `tail` leaves a frame header
    /// free after it.
    #[inline(always)]
    fn wait_for_room(&self, tail: u64, frame: u64, timeout: Timeout) -> Result<()> {
        let hdr = self.hdr;
        let room = |head: u64| {
            self.queued(head, tail)
                .map(|used| used + frame + FRAME_HEADER <= self.capacity)
        };
        // Damaged positions count as "ready", to be reported below.
        let fits = || {
            let head = hdr.head.load(Ordering::SeqCst);
            hdr.head_seen.store(head, Ordering::Relaxed);
            room(head) != Some(false)
        };
        if room(hdr.head_seen.load(Ordering::Relaxed)) == Some(true) {
            return Ok(());
        }
        if !fits() {
            self.wait(Who::Sender, timeout, &fits)?;
        }
        let head = hdr.head_seen.load(Ordering::Relaxed);
        match room(head) {
            Some(true) => Ok(()),
            _ => Err(self.bad_positions(head, tail)),
        }
    }

    /// Bytes queued between `head` and `tail`, or `None` if these cannot
    /// be positions of this channel (not multiples of 64, more apart than
    /// the ring holds, beyond any real count): any process mapping the
    /// memory may have written them.
    #[inline]
    fn queued(&self, head: u64, tail: u64) -> Option<u64> {
        let used = tail.wrapping_sub(head);
        ((head | tail) & 63 == 0 && (head | tail) < MAX_POSITION && used <= self.capacity)
            .then_some(used)
    }

    /// A position this channel's side may start from (see [`queued`](Self::queued)).
    #[inline]
    fn check_position(&self, pos: u64, other: u64) -> Result<u64> {
        if pos & 63 != 0 || pos >= MAX_POSITION {
            return Err(self.bad_positions(pos, other));
        }
        Ok(pos)
    }

    #[cold]
    fn bad_positions(&self, head: u64, tail: u64) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the channel at {:#x} is damaged: head {head} and tail {tail} are not positions \
                 of a channel whose ring holds {} bytes; something other than mapipc wrote into \
                 it",
                self.addr(),
                self.capacity
            ),
        )
    }

    /// Receives the next message into `buf`, waiting while the channel is
    /// empty.
    #[inline]
    pub fn recv(&self, buf: &mut [u8], timeout: Timeout) -> Result<Received> {
        match self.recv_or_empty(buf, timeout)? {
            Some(received) => Ok(received),
            None => Err(self.nothing_now()),
        }
    }

    /// [`recv`](Self::recv), but `None` instead of an error when a receive
    /// with timeout 0 finds nothing (and nothing else to report): a
    /// caller that polls in a loop pays for no error message.
    #[inline]
    pub(crate) fn recv_or_empty(
        &self,
        buf: &mut [u8],
        timeout: Timeout,
    ) -> Result<Option<Received>> {
        let _held = self.recv_side().take("receiving", "a peeked message")?;
        if timeout == Timeout::Poll && self.polled_empty() {
            return Ok(None);
        }
        let found = self.next_message(timeout)?;
        if found.len > buf.len() {
            return Ok(Some(Received::TooSmall(found.len)));
        }
        // SAFETY: the message lies between head and the published tail,
        // which no sender writes any more; buf holds len bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(self.byte_at(found.payload), buf.as_mut_ptr(), found.len)
        };
        self.consume(found);
        Ok(Some(Received::Message(found.len)))
    }

    /// Whether a poll finds the queue empty and open, its sender (one
    /// sender) looked alive lately: nothing to report but "nothing now".
    #[inline]
    fn polled_empty(&self) -> bool {
        let hdr = self.hdr;
        let head = hdr.head.load(Ordering::Relaxed);
        if head & 63 != 0 {
            return false;
        }
        if self.many {
            return hdr.tail.load(Ordering::SeqCst) == head && !self.is_closed();
        }
        let tail = hdr.tail.load(Ordering::SeqCst);
        hdr.tail_seen.store(tail, Ordering::Relaxed);
        tail == head
            && !self.is_closed()
            && hdr.receiver_id.load(Ordering::Relaxed) == peer::my_id()
            && !peer::is_gone_lately(hdr.sender_id.load(Ordering::Relaxed))
    }

    #[cold]
    fn nothing_now(&self) -> Error {
        Error::new(
            ErrorKind::TimedOut,
            format!(
                "no message arrived on the channel at {:#x} at once",
                self.addr()
            ),
        )
        .with_errno(libc::EAGAIN)
    }

    /// Takes a received frame off the queue and wakes waiting senders.
    #[inline]
    fn consume(&self, found: Found) {
        self.hdr
            .head
            .store(found.pos + found.frame, Ordering::SeqCst);
        self.wake_waiters(&self.hdr.room_waiters);
        notify::after_receive(self);
    }

    /// The message at the head of the queue, waiting for one (the caller
    /// holds the receive side). Many senders: frames abandoned by their
    /// writers are skipped on the way.
    #[inline(always)]
    fn next_message(&self, timeout: Timeout) -> Result<Found> {
        let hdr = self.hdr;
        Self::note_me(&hdr.receiver_id, &hdr.receiver_pid);
        if self.many {
            return self.next_many(timeout);
        }
        let head = self.check_position(
            hdr.head.load(Ordering::Relaxed),
            hdr.tail_seen.load(Ordering::Relaxed),
        )?;
        let arrived = || {
            let tail = hdr.tail.load(Ordering::SeqCst);
            hdr.tail_seen.store(tail, Ordering::Relaxed);
            tail != head
        };
        if hdr.tail_seen.load(Ordering::Relaxed) == head && !arrived() {
            if self.is_closed() {
                return Err(self.closed_error("receive from"));
            }
            self.wait(Who::Receiver, timeout, &arrived)?;
        }
        let tail = hdr.tail_seen.load(Ordering::Relaxed);
        if self.queued(head, tail).is_none() {
            return Err(self.bad_positions(head, tail));
        }
        self.frame_at(head, tail)
    }

    /// The published frame at `head`, checked against the ring and `tail`:
    /// damage by a stray write is reported, never followed.
    #[inline]
    fn frame_at(&self, head: u64, tail: u64) -> Result<Found> {
        let f = self.frame(head);
        let claim = u64::from(f.claim.load(Ordering::Relaxed));
        let len = f.len.load(Ordering::Relaxed);
        let check = f.check.load(Ordering::Relaxed);
        let max = layout::max_message(self.capacity);
        if claim > max || u64::from(len) > claim || check != !len || head % 64 != 0 {
            return Err(self.damaged(head, len));
        }
        let (payload, frame) = layout::frame_span(head, claim, self.capacity);
        if tail.wrapping_sub(head) < frame || tail.wrapping_sub(head) > self.capacity {
            return Err(self.damaged(head, len));
        }
        Ok(Found {
            pos: head,
            frame,
            payload,
            len: len as usize,
        })
    }

    #[cold]
    fn damaged(&self, head: u64, len: u32) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the channel at {:#x} is damaged: the message at position {head} claims {len} \
                 bytes; something other than mapipc wrote into it",
                self.addr()
            ),
        )
    }

    /// Wakes whoever waits on `word` (a side, a descriptor's helper); no
    /// system call when nobody does.
    #[inline]
    fn wake_waiters(&self, word: &AtomicU32) {
        if word.load(Ordering::SeqCst) != 0 && word.swap(0, Ordering::SeqCst) != 0 {
            // A failed wake leaves the sleepers to their 100 ms look-around.
            let _ = futex::wake(word, u32::MAX, self.scope);
        }
    }

    #[cold]
    fn too_large(&self, len: usize) -> Error {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "a {len}-byte message does not fit in the channel at {:#x}: at most {} bytes",
                self.addr(),
                self.max_message()
            ),
        )
    }

    #[cold]
    fn closed_error(&self, verb: &str) -> Error {
        Error::new(
            ErrorKind::Closed,
            format!(
                "cannot {verb} the channel at {:#x}: it is closed",
                self.addr()
            ),
        )
    }
}

/// Initialises `size` bytes at `addr` (0: all `room`) as a channel, or
/// checks it is one of that size and kind.
///
/// # Safety
/// `addr` is 64-byte aligned and `room >= HEADER` bytes from it are live
/// writable memory.
pub(crate) unsafe fn init_at(addr: usize, size: usize, room: usize, many: bool) -> Result<()> {
    let asked = if size == 0 { room } else { size };
    if asked < MIN_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("a channel needs at least {MIN_SIZE} bytes, not {asked}"),
        ));
    }
    if asked > room {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "a {asked}-byte channel at {addr:#x} does not fit: only {room} bytes are left in \
                 its region"
            ),
        ));
    }
    if asked > MAX_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("a channel holds at most {MAX_SIZE} bytes, not {asked}"),
        ));
    }
    let size = asked & !(ALIGN - 1);
    // SAFETY: the caller's promise; Header is atomics only.
    let hdr = unsafe { &*(addr as *const Header) };
    let want = layout::ident_for(size, many);
    let now = match hdr.ident.load(Ordering::Acquire) {
        // A racing init may have published the channel, and a side used
        // it, since ident was read: look at ident again before refusing.
        0 if !hdr.is_zeroed() => hdr.ident.load(Ordering::Acquire),
        // The other fields of a new channel are all zero already, so one
        // compare-and-swap publishes it whole.
        0 => match hdr
            .ident
            .compare_exchange(0, want, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return Ok(()),
            Err(now) => now,
        },
        now => now,
    };
    match layout::decode_ident(now) {
        Some(_) if now == want => Ok(()),
        Some((other, other_many)) if other != size => {
            Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                "the channel at {addr:#x} was initialised with {other} bytes, not {size}; both \
                 sides must give the same size{}",
                if other_many { " (and many senders)" } else { "" }
            ),
            ))
        }
        Some((_, other_many)) => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the channel at {addr:#x} was initialised {}; every side must give the same \
                 options",
                if other_many {
                    "for many senders"
                } else {
                    "for one sender at a time"
                }
            ),
        )),
        None => Err(not_a_channel(addr, now)),
    }
}

#[cold]
fn past_the_end(addr: usize, size: usize, room: usize) -> Error {
    Error::new(
        ErrorKind::OutOfRange,
        format!(
            "the {size}-byte channel at {addr:#x} reaches past the end of its region ({room} \
             bytes from there)"
        ),
    )
}

#[cold]
fn not_a_channel(addr: usize, ident: u64) -> Error {
    let what = if ident == 0 {
        "was never initialised as a channel (or is not zero-filled); call mapipc_channel_init"
    } else if layout::is_version_1(ident) {
        "holds a channel of memory format version 1, made by an older mapipc; both sides \
         must use the same library version"
    } else {
        "does not hold a mapipc channel"
    };
    Error::new(
        ErrorKind::InvalidArgument,
        format!("the memory at {addr:#x} {what}"),
    )
}

/// Where a channel `offset` bytes into `region` lies, and the writable
/// bytes from there to the region's end.
fn place_in(region: &Region, offset: usize) -> Result<(usize, usize)> {
    let info = region.info();
    let addr = info.addr().wrapping_add(offset);
    crate::sync::check_placement(&info, addr, HEADER, ALIGN, "channel")?;
    Ok((addr, info.len() - offset))
}

/// Whether a frame state says "skip me": its writer died or cancelled.
fn is_skipped(state: u32) -> bool {
    state & SKIP != 0 && state & TID_MASK == 0
}
