//! The channel's bytes in shared memory: format version 1, documented in
//! docs/channel-format.md. Everything is little-endian, positions are byte
//! counts since the channel was created (they only grow), and a field is
//! written by one side only, on its own 64-byte line.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};

/// "MPC1" in the high half of `ident`; the low half is the size / 64.
pub(crate) const MAGIC_V1: u64 = 0x4d50_4331;

/// Bytes before the ring.
pub const HEADER: usize = 384;

/// Each message starts with an 8-byte frame header: its length (u32) and
/// the length's complement (u32), a cheap check against damage.
pub(crate) const FRAME_HEADER: usize = 8;

/// Channels are at least this big (the API's promise) and at most this
/// big (the size is kept in 32 bits of 64-byte units).
pub(crate) const MIN_SIZE: usize = 4096;
pub(crate) const MAX_SIZE: usize = (u32::MAX as usize) << 6;

#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Header {
    // Line 0, written once at init and by close: read-mostly.
    /// `MAGIC_V1 << 32 | size / 64`; 0 in memory never initialised.
    pub(crate) ident: AtomicU64,
    /// 1 once either side called close.
    pub(crate) closed: AtomicU32,
    pad0: [u32; 13],

    // Line 1, the sender's own: the receiver reads it only while waiting.
    /// Robust futex word: the id of the thread inside send (0: none), with
    /// the kernel's FUTEX_OWNER_DIED bit if it died there.
    pub(crate) send_word: AtomicU32,
    /// The process that last called send.
    pub(crate) sender_pid: AtomicU32,
    /// The sender's last look at `head`.
    pub(crate) head_seen: AtomicU64,
    /// `sender_pid` with the PID namespace it means something in (inode
    /// number of /proc/PID/ns/pid) in the high half.
    pub(crate) sender_id: AtomicU64,
    /// The robust-list back link of `send_word` while a send is under way.
    pub(crate) send_prev: AtomicUsize,
    /// The robust-list link of `send_word` (an address in the sender's
    /// process): the kernel finds the word 32 bytes before it.
    pub(crate) send_next: AtomicUsize,
    pad1: [u64; 3],

    // Line 2: what the sender publishes, alone on its line.
    /// Bytes ever published (end of the last whole message).
    pub(crate) tail: AtomicU64,
    pad2: [u64; 7],

    // Line 3, the receiver's own.
    pub(crate) recv_word: AtomicU32,
    /// The process that last called recv.
    pub(crate) receiver_pid: AtomicU32,
    /// The receiver's last look at `tail`.
    pub(crate) tail_seen: AtomicU64,
    /// `receiver_pid` and its PID namespace, as `sender_id`.
    pub(crate) receiver_id: AtomicU64,
    pub(crate) recv_prev: AtomicUsize,
    pub(crate) recv_next: AtomicUsize,
    pad3: [u64; 3],

    // Line 4: what the receiver publishes.
    /// Bytes ever consumed.
    pub(crate) head: AtomicU64,
    pad4: [u64; 7],

    // Line 5: futex words of a side that sleeps (1) and wants a wake-up.
    pub(crate) recv_sleeping: AtomicU32,
    pub(crate) send_sleeping: AtomicU32,
    pad5: [u32; 14],
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER);
// The robust-list entries sit where the kernel expects them from the futex
// word (see sync::robust).
const _: () = assert!(
    std::mem::offset_of!(Header, send_next) - std::mem::offset_of!(Header, send_word) == 32
);
const _: () = assert!(
    std::mem::offset_of!(Header, recv_next) - std::mem::offset_of!(Header, recv_word) == 32
);
// Offsets docs/channel-format.md (and the C tests) rely on.
const _: () = assert!(std::mem::offset_of!(Header, sender_pid) == 68);
const _: () = assert!(std::mem::offset_of!(Header, sender_id) == 80);
const _: () = assert!(std::mem::offset_of!(Header, send_prev) == 88);
const _: () = assert!(std::mem::offset_of!(Header, receiver_id) == 208);
const _: () = assert!(std::mem::offset_of!(Header, recv_prev) == 216);
const _: () = assert!(std::mem::offset_of!(Header, tail) == 128);
const _: () = assert!(std::mem::offset_of!(Header, head) == 256);
const _: () = assert!(std::mem::offset_of!(Header, recv_sleeping) == 320);
const _: () = assert!(std::mem::offset_of!(Header, send_sleeping) == 324);

impl Header {
    /// Whether every field is zero (memory never used for anything).
    pub(crate) fn is_zeroed(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let words = [
            self.closed.load(Relaxed),
            self.send_word.load(Relaxed),
            self.sender_pid.load(Relaxed),
            self.recv_word.load(Relaxed),
            self.receiver_pid.load(Relaxed),
            self.recv_sleeping.load(Relaxed),
            self.send_sleeping.load(Relaxed),
        ];
        let longs = [
            self.ident.load(Relaxed),
            self.tail.load(Relaxed),
            self.head_seen.load(Relaxed),
            self.head.load(Relaxed),
            self.tail_seen.load(Relaxed),
            self.send_next.load(Relaxed) as u64,
            self.recv_next.load(Relaxed) as u64,
            self.send_prev.load(Relaxed) as u64,
            self.recv_prev.load(Relaxed) as u64,
            self.sender_id.load(Relaxed),
            self.receiver_id.load(Relaxed),
        ];
        words.iter().all(|&w| w == 0) && longs.iter().all(|&l| l == 0)
    }
}

/// The identity word of a channel of `size` bytes (a multiple of 64).
pub(crate) fn ident_for(size: usize) -> u64 {
    MAGIC_V1 << 32 | (size >> 6) as u64
}

/// The size an identity word records, if it is a version 1 channel.
pub(crate) fn size_of_ident(ident: u64) -> Option<usize> {
    (ident >> 32 == MAGIC_V1).then_some(((ident & 0xffff_ffff) as usize) << 6)
}

/// Ring bytes of a channel of `size` bytes (at least `MIN_SIZE`: callers
/// check that first, as the size comes from shared memory).
pub(crate) fn capacity(size: usize) -> u64 {
    debug_assert!(size >= MIN_SIZE);
    (size.saturating_sub(HEADER) & !7) as u64
}

/// The largest message a ring of `capacity` bytes carries: what fits
/// beside its frame header, and at most `u32::MAX` (the frame stores the
/// length in 32 bits).
pub(crate) fn max_message(capacity: u64) -> usize {
    capacity
        .saturating_sub(FRAME_HEADER as u64)
        .min(u32::MAX as u64) as usize
}

/// Positions never reach this (2^62 bytes: 146 years at 1 TB/s), so that
/// adding a frame to a valid position cannot overflow.
pub(crate) const MAX_POSITION: u64 = 1 << 62;

/// Bytes a message of `len` bytes takes in the ring.
pub(crate) fn frame_len(len: usize) -> u64 {
    (FRAME_HEADER + len.next_multiple_of(8)) as u64
}
