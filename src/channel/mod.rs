//! A message channel through shared memory: one sender and one receiver at
//! a time, in any threads of any processes, with pipe semantics (whole
//! messages, in order, once; close; the other side's death noticed) at
//! shared-memory speed.
//!
//! A single-producer single-consumer ring of framed messages (`layout`,
//! docs/channel-format.md). The fast path takes the side (`side`), copies,
//! publishes with one store, and makes no system call: a side that must
//! wait spins briefly, then sets its "sleeping" word and sleeps on it, and
//! the other side wakes it only when that word says so. A sleeping side
//! wakes every 100 ms to ask whether the other side's process still runs
//! (`peer`), so the death of either side, even by SIGKILL, ends a wait
//! within a second instead of never. Owns the channel's bytes in memory;
//! must not trust them (another process may have written anything there)
//! and builds on `sync` and `region` only.

pub mod inspect;
mod layout;
mod peer;
mod side;

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::region::registry::{self, Need};
use crate::region::Region;
use crate::sync::futex::{self, Deadline, Scope, Timeout};
pub use inspect::{inspect, ChannelState};
pub use layout::HEADER;
use layout::{Header, FRAME_HEADER, MAX_POSITION, MAX_SIZE, MIN_SIZE};
use side::Token;

/// How often a sleeping side looks whether the other side's process ended.
const LIVENESS_SLICE: Duration = Duration::from_millis(100);
/// Rounds of busy-waiting before yielding, and yields before sleeping: a
/// round trip between two cores takes ~0.1-0.5 µs, a futex sleep and wake
/// ~15 µs. Yielding lets the other side run when both share a core.
const SPINS: u32 = 256;
const YIELDS: u32 = 16;

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
    /// (another size) is looked at again.
    ident: u64,
    writable: bool,
    capacity: u64,
    scope: Scope,
}

impl Known {
    const NONE: Known = Known {
        generation: 0,
        addr: 0,
        ident: 0,
        writable: false,
        capacity: 0,
        scope: Scope::Shared,
    };
}

thread_local! {
    static KNOWN: Cell<[Known; 2]> = const { Cell::new([Known::NONE; 2]) };
}

/// Which side a call plays.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Sender,
    Receiver,
}

impl<'a> Channel<'a> {
    /// Makes `size` bytes at `offset` into `region` a channel (0: to the
    /// end of the region), or checks that they are one of that size
    /// already. Safe to race: one caller initialises, the others see it
    /// done.
    pub fn init_in(region: &'a Region, offset: usize, size: usize) -> Result<Channel<'a>> {
        let (addr, room) = place_in(region, offset)?;
        // SAFETY: place_in checked `room` writable bytes at an aligned addr,
        // alive as long as the borrow of region.
        unsafe {
            init_at(addr, size, room)?;
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
        let Some(size) = layout::size_of_ident(ident) else {
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
        for k in KNOWN.with(Cell::get) {
            if k.generation == generation && k.addr == addr && (need == Need::Read || k.writable) {
                // SAFETY: found before at this generation: a live,
                // initialised channel wholly inside a live region.
                let hdr = unsafe { &*(addr as *const Header) };
                if hdr.ident.load(Ordering::Relaxed) != k.ident {
                    break;
                }
                return Ok(Channel {
                    hdr,
                    ring: (addr + HEADER) as *mut u8,
                    capacity: k.capacity,
                    scope: k.scope,
                });
            }
        }
        Self::locate_slow(addr, need, generation)
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
            scope: ch.scope,
        };
        KNOWN.with(|k| {
            let [newest, _] = k.get();
            k.set([found, newest]);
        });
        Ok(ch)
    }

    fn addr(&self) -> usize {
        self.hdr as *const Header as usize
    }

    /// The largest message this channel can carry.
    pub fn max_message(&self) -> usize {
        layout::max_message(self.capacity)
    }

    /// Bytes queued between `head` and `tail`, or `None` if these cannot
    /// be positions of this channel (misaligned, more than the ring holds,
    /// beyond any real count): any process mapping the memory may have
    /// written them.
    #[inline]
    fn queued(&self, head: u64, tail: u64) -> Option<u64> {
        let used = tail.wrapping_sub(head);
        ((head | tail) & 7 == 0 && (head | tail) < MAX_POSITION && used <= self.capacity)
            .then_some(used)
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

    /// Closes the channel: later sends fail with `Closed`; receives drain
    /// what is queued, then fail with `Closed`. Idempotent.
    pub fn close(&self) -> Result<()> {
        self.hdr.closed.store(1, Ordering::SeqCst);
        for flag in [&self.hdr.recv_sleeping, &self.hdr.send_sleeping] {
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

    /// Sends one message, waiting while the channel is full.
    #[inline]
    pub fn send(&self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if msg.len() > self.max_message() {
            return Err(self.too_large(msg.len()));
        }
        if self.is_closed() {
            return Err(self.closed_error("send"));
        }
        let hdr = self.hdr;
        let _held = Token {
            word: &hdr.send_word,
            prev: &hdr.send_prev,
            next: &hdr.send_next,
        }
        .take("sending")?;
        let me = peer::my_id();
        if hdr.sender_id.load(Ordering::Relaxed) != me {
            hdr.sender_id.store(me, Ordering::Relaxed);
            hdr.sender_pid.store(me as u32, Ordering::Release);
        }
        let frame = layout::frame_len(msg.len());
        let tail = hdr.tail.load(Ordering::Relaxed);
        let room = |head: u64| {
            self.queued(head, tail)
                .map(|used| self.capacity - used >= frame)
        };
        // Damaged positions count as "ready", to be reported below.
        let fits = || {
            let head = hdr.head.load(Ordering::SeqCst);
            hdr.head_seen.store(head, Ordering::Relaxed);
            room(head) != Some(false)
        };
        if room(hdr.head_seen.load(Ordering::Relaxed)) != Some(true) && !fits() {
            self.wait(Who::Sender, timeout, &fits)?;
        }
        let head = hdr.head_seen.load(Ordering::Relaxed);
        match self.queued(head, tail) {
            Some(used) if self.capacity - used >= frame => {}
            _ => return Err(self.bad_positions(head, tail)),
        }
        // SAFETY: `frame` bytes from `tail` are free (the receiver is past
        // them) and only this thread, holding the send side, writes there.
        unsafe {
            self.put_frame_header(tail, msg.len());
            self.put(tail + FRAME_HEADER as u64, msg);
        }
        // Publish, then look whether the receiver sleeps: the SeqCst pair
        // with its "set flag, re-check tail" means one of us sees the other.
        hdr.tail.store(tail + frame, Ordering::SeqCst);
        self.wake_if_sleeping(&hdr.recv_sleeping);
        Ok(())
    }

    /// Receives the next message into `buf`, waiting while the channel is
    /// empty.
    #[inline]
    pub fn recv(&self, buf: &mut [u8], timeout: Timeout) -> Result<Received> {
        let hdr = self.hdr;
        let _held = Token {
            word: &hdr.recv_word,
            prev: &hdr.recv_prev,
            next: &hdr.recv_next,
        }
        .take("receiving")?;
        let me = peer::my_id();
        if hdr.receiver_id.load(Ordering::Relaxed) != me {
            hdr.receiver_id.store(me, Ordering::Relaxed);
            hdr.receiver_pid.store(me as u32, Ordering::Release);
        }
        let head = hdr.head.load(Ordering::Relaxed);
        if head & 7 != 0 || head >= MAX_POSITION {
            return Err(self.bad_positions(head, hdr.tail_seen.load(Ordering::Relaxed)));
        }
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
        let len = self.frame_at(head, tail)?;
        if len > buf.len() {
            return Ok(Received::TooSmall(len));
        }
        // SAFETY: the frame lies between head and the published tail, which
        // the sender no longer writes; buf holds len bytes.
        unsafe { self.get(head + FRAME_HEADER as u64, &mut buf[..len]) };
        hdr.head
            .store(head + layout::frame_len(len), Ordering::SeqCst);
        self.wake_if_sleeping(&hdr.send_sleeping);
        Ok(Received::Message(len))
    }

    /// The length of the message at `head`, checked against what the ring
    /// can hold: damage by a stray write is reported, never followed.
    #[inline]
    fn frame_at(&self, head: u64, tail: u64) -> Result<usize> {
        // SAFETY: head is 8-aligned (checked by `queued`), capacity a
        // non-zero multiple of 8 and the ring 64-aligned, so the 8 bytes at
        // ring offset head % capacity lie inside the ring, aligned.
        let raw = unsafe {
            self.ring
                .add((head % self.capacity) as usize)
                .cast::<u64>()
                .read()
        };
        let raw = u64::from_le(raw);
        let (len, check) = (raw as u32, (raw >> 32) as u32);
        let len_usize = len as usize;
        if check != !len
            || len_usize > self.max_message()
            || layout::frame_len(len_usize) > tail - head
        {
            return Err(self.damaged(head, len));
        }
        Ok(len_usize)
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

    /// Writes the frame header of a `len`-byte message at position `pos`:
    /// the length and its complement, as one little-endian u64.
    ///
    /// # Safety
    /// The 8 bytes at `pos` are free for the caller to write.
    #[inline]
    unsafe fn put_frame_header(&self, pos: u64, len: usize) {
        let len = len as u32;
        let raw = (len as u64 | ((!len as u64) << 32)).to_le();
        // SAFETY: 8-aligned inside the ring, as in frame_at; the caller owns
        // the bytes.
        unsafe {
            self.ring
                .add((pos % self.capacity) as usize)
                .cast::<u64>()
                .write(raw)
        };
    }

    /// Waits until `ready()` (or a reason to stop): spins, then sleeps on
    /// the side's flag, waking now and then to check the other process.
    #[cold]
    fn wait(&self, who: Who, timeout: Timeout, ready: &dyn Fn() -> bool) -> Result<()> {
        let hdr = self.hdr;
        let (flag, peer_pid) = match who {
            Who::Receiver => (&hdr.recv_sleeping, &hdr.sender_id),
            Who::Sender => (&hdr.send_sleeping, &hdr.receiver_id),
        };
        let deadline = Deadline::after(timeout);
        if timeout != Timeout::Poll {
            for round in 0..SPINS + YIELDS {
                if ready() {
                    return Ok(());
                }
                if round < SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        loop {
            if self.is_closed() {
                // Queued messages are still delivered after close.
                if who == Who::Receiver && ready() {
                    return Ok(());
                }
                return Err(self.closed_error(match who {
                    Who::Sender => "send",
                    Who::Receiver => "receive from",
                }));
            }
            let id = peer_pid.load(Ordering::Relaxed);
            if peer::is_gone(id) {
                if ready() {
                    return Ok(());
                }
                return Err(self.peer_gone(who, id as u32));
            }
            if deadline.expired() {
                return Err(self.timed_out(who, timeout));
            }
            flag.store(1, Ordering::SeqCst);
            if ready() || self.is_closed() {
                flag.store(0, Ordering::Relaxed);
                if ready() {
                    return Ok(());
                }
                continue;
            }
            futex::wait(flag, 1, &deadline.at_most(LIVENESS_SLICE), self.scope);
            flag.store(0, Ordering::Relaxed);
            if ready() {
                return Ok(());
            }
        }
    }

    /// Wakes the other side if it said it sleeps; no system call otherwise.
    #[inline]
    fn wake_if_sleeping(&self, flag: &AtomicU32) {
        if flag.load(Ordering::SeqCst) != 0 && flag.swap(0, Ordering::SeqCst) != 0 {
            // A failed wake leaves the sleeper to its 100 ms look-around.
            let _ = futex::wake(flag, 1, self.scope);
        }
    }

    /// Copies `bytes` into the ring at position `pos`, wrapping at its end.
    ///
    /// # Safety
    /// The bytes from `pos` are free for the caller to write.
    unsafe fn put(&self, pos: u64, bytes: &[u8]) {
        let at = (pos % self.capacity) as usize;
        let first = bytes.len().min(self.capacity as usize - at);
        // SAFETY: at + first <= capacity and the rest starts at the ring's
        // beginning, all inside the channel; the caller owns those bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ring.add(at), first);
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr().add(first),
                self.ring,
                bytes.len() - first,
            );
        }
    }

    /// Copies out of the ring from position `pos`, wrapping at its end.
    ///
    /// # Safety
    /// The bytes from `pos` are published and not yet consumed.
    unsafe fn get(&self, pos: u64, out: &mut [u8]) {
        let at = (pos % self.capacity) as usize;
        let first = out.len().min(self.capacity as usize - at);
        // SAFETY: as in put, reading.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ring.add(at), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.ring,
                out.as_mut_ptr().add(first),
                out.len() - first,
            );
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

    #[cold]
    fn peer_gone(&self, who: Who, pid: u32) -> Error {
        let (other, state) = match who {
            Who::Receiver => ("sender", "the channel is empty"),
            Who::Sender => ("receiver", "the channel is full"),
        };
        Error::new(
            ErrorKind::Closed,
            format!(
                "the {other} of the channel at {:#x} (process {pid}) has exited and {state}; \
                 a new {other} may take its place",
                self.addr()
            ),
        )
    }

    #[cold]
    fn timed_out(&self, who: Who, timeout: Timeout) -> Error {
        let what = match who {
            Who::Receiver => "no message arrived",
            Who::Sender => "no room was made",
        };
        let within = match timeout {
            Timeout::After(d) => format!("within {} ns", d.as_nanos()),
            _ => "at once".to_string(),
        };
        Error::new(
            ErrorKind::TimedOut,
            format!("{what} on the channel at {:#x} {within}", self.addr()),
        )
        .with_errno(timeout.expired_errno())
    }
}

/// Initialises `size` bytes at `addr` (0: all `room`) as a channel, or
/// checks it is one of that size.
///
/// # Safety
/// `addr` is 64-byte aligned and `room >= HEADER` bytes from it are live
/// writable memory.
pub(crate) unsafe fn init_at(addr: usize, size: usize, room: usize) -> Result<()> {
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
    let want = layout::ident_for(size);
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
    match layout::size_of_ident(now) {
        Some(_) if now == want => Ok(()),
        Some(other) => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the channel at {addr:#x} was initialised with {other} bytes, not {size}; both \
                 sides must give the same size"
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
