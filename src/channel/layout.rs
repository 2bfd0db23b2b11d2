//! The channel's bytes in shared memory: format version 2, documented in
//! docs/channel-format.md. Everything is little-endian, positions are byte
//! counts since the channel was created (they only grow, in steps of 64),
//! and a header field is written by one side only, on its own 64-byte line.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};

/// "MPC2" (one sender) or "MPS2" (many senders) in the high half of
/// `ident`; the low half is the size / 64.
pub(crate) const MAGIC_ONE: u64 = 0x4d50_4332;
pub(crate) const MAGIC_MANY: u64 = 0x4d50_5332;

/// Bytes before the ring.
pub const HEADER: usize = 384;

/// Each message starts with a 64-byte frame header, so payloads are
/// 64-byte aligned (a copy between buffers 8 bytes apart modulo 4096 runs
/// at half speed on current CPUs) and a many-sender frame has room for the
/// robust-list links of its state word.
pub(crate) const FRAME_HEADER: u64 = 64;

/// Frame states (the frame's first word). A writer's thread id (low 30
/// bits non-zero) means "being written"; the kernel turns it into
/// `OWNER_DIED` if the writer dies. 0 is a free frame header (see
/// `many`). Values with no thread id bits:
pub(crate) const PUBLISHED: u32 = 0x8000_0000;
/// Bit 30: skip this frame (its writer died, or it cancelled).
pub(crate) const SKIP: u32 = 0x4000_0000;
pub(crate) const ABANDONED: u32 = 0xc000_0000;
pub(crate) const TID_MASK: u32 = 0x3fff_ffff;

/// Bits of the waiter words: the side itself sleeps, or a descriptor's
/// helper thread waits (see `notify`).
pub(crate) const SIDE_WAITS: u32 = 1;
pub(crate) const HELPER_WAITS: u32 = 2;

/// Channels are at least this big (the API's promise) and at most this
/// big (the size is kept in 32 bits of 64-byte units).
pub(crate) const MIN_SIZE: usize = 4096;
pub(crate) const MAX_SIZE: usize = (u32::MAX as usize) << 6;

#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Header {
    // Line 0, written once at init and by close: read-mostly.
    /// `MAGIC << 32 | size / 64`; 0 in memory never initialised.
    pub(crate) ident: AtomicU64,
    /// 1 once either side called close.
    pub(crate) closed: AtomicU32,
    pad0: [u32; 13],

    // Line 1, the sender's own (one-sender channels).
    /// Robust futex word: the id of the thread inside send or holding a
    /// reservation (0: none), with the kernel's OWNER_DIED bit if it died.
    pub(crate) send_word: AtomicU32,
    /// The process that last called send.
    pub(crate) sender_pid: AtomicU32,
    /// The sender's last look at `head`.
    pub(crate) head_seen: AtomicU64,
    /// `sender_pid` with the PID namespace it means something in (inode
    /// number of /proc/PID/ns/pid) in the high half.
    pub(crate) sender_id: AtomicU64,
    /// Robust-list links of `send_word` (addresses in the holder's process)
    /// while a send or reservation is under way: the kernel finds the word
    /// 32 bytes before `send_next`.
    pub(crate) send_prev: AtomicUsize,
    pub(crate) send_next: AtomicUsize,
    /// How long the sender's last wait for room took (ns): its spin budget.
    pub(crate) send_spin: AtomicU64,
    pad1: [u64; 2],

    // Line 2: what the sender publishes, alone on its line.
    /// One sender: end of the last published frame. Many senders: end of
    /// the last claimed frame (claims publish frame by frame).
    pub(crate) tail: AtomicU64,
    pad2: [u64; 7],

    // Line 3, the receiver's own.
    pub(crate) recv_word: AtomicU32,
    /// The process that last called recv or peek.
    pub(crate) receiver_pid: AtomicU32,
    /// The receiver's last look at `tail`.
    pub(crate) tail_seen: AtomicU64,
    /// `receiver_pid` and its PID namespace, as `sender_id`.
    pub(crate) receiver_id: AtomicU64,
    pub(crate) recv_prev: AtomicUsize,
    pub(crate) recv_next: AtomicUsize,
    /// How long the receiver's last wait took (ns): its spin budget.
    pub(crate) recv_spin: AtomicU64,
    pad3: [u64; 2],

    // Line 4: what the receiver publishes.
    /// Start of the next frame to receive.
    pub(crate) head: AtomicU64,
    pad4: [u64; 7],

    // Line 5: futex words of those waiting for data and for room.
    pub(crate) data_waiters: AtomicU32,
    pub(crate) room_waiters: AtomicU32,
    pad5: [u32; 14],
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER);
// The robust-list entries sit where the kernel expects them from the futex
// word (see sync::robust), with `prev` just before `next`.
const _: () = assert!(
    std::mem::offset_of!(Header, send_next) - std::mem::offset_of!(Header, send_word) == 32
);
const _: () = assert!(
    std::mem::offset_of!(Header, recv_next) - std::mem::offset_of!(Header, recv_word) == 32
);
const _: () = assert!(std::mem::offset_of!(Header, send_prev) + 8 == 96);
const _: () = assert!(std::mem::offset_of!(Header, recv_prev) + 8 == 224);
// Offsets docs/channel-format.md (and the C tests) rely on.
const _: () = assert!(std::mem::offset_of!(Header, sender_pid) == 68);
const _: () = assert!(std::mem::offset_of!(Header, sender_id) == 80);
const _: () = assert!(std::mem::offset_of!(Header, send_prev) == 88);
const _: () = assert!(std::mem::offset_of!(Header, receiver_id) == 208);
const _: () = assert!(std::mem::offset_of!(Header, recv_prev) == 216);
const _: () = assert!(std::mem::offset_of!(Header, send_spin) == 104);
const _: () = assert!(std::mem::offset_of!(Header, recv_spin) == 232);
const _: () = assert!(std::mem::offset_of!(Header, tail) == 128);
const _: () = assert!(std::mem::offset_of!(Header, recv_word) == 192);
const _: () = assert!(std::mem::offset_of!(Header, head) == 256);
const _: () = assert!(std::mem::offset_of!(Header, data_waiters) == 320);
const _: () = assert!(std::mem::offset_of!(Header, room_waiters) == 324);

/// A frame's header in the ring.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct Frame {
    /// FREE, a writer's thread id, PUBLISHED, or with SKIP set. With
    /// `claim` it forms one 64-bit word, claimed by one compare-and-swap.
    pub(crate) state: AtomicU32,
    /// Bytes of payload room the frame was claimed with.
    pub(crate) claim: AtomicU32,
    /// The message's length (at most `claim`) and its complement.
    pub(crate) len: AtomicU32,
    pub(crate) check: AtomicU32,
    pad: [u64; 1],
    /// Robust-list links while a reservation holds `state` (many senders).
    pub(crate) prev: AtomicUsize,
    pub(crate) next: AtomicUsize,
    pad2: [u64; 3],
}

const _: () = assert!(std::mem::size_of::<Frame>() == FRAME_HEADER as usize);
const _: () = assert!(std::mem::offset_of!(Frame, next) - std::mem::offset_of!(Frame, state) == 32);
const _: () = assert!(std::mem::offset_of!(Frame, prev) + 8 == 32);

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
            self.data_waiters.load(Relaxed),
            self.room_waiters.load(Relaxed),
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
            self.send_spin.load(Relaxed),
            self.recv_spin.load(Relaxed),
        ];
        words.iter().all(|&w| w == 0) && longs.iter().all(|&l| l == 0)
    }
}

/// The identity word of a channel of `size` bytes (a multiple of 64).
pub(crate) fn ident_for(size: usize, many: bool) -> u64 {
    let magic = if many { MAGIC_MANY } else { MAGIC_ONE };
    magic << 32 | (size >> 6) as u64
}

/// The size and kind (many senders?) an identity word records, if it is a
/// version 2 channel.
pub(crate) fn decode_ident(ident: u64) -> Option<(usize, bool)> {
    let size = ((ident & 0xffff_ffff) as usize) << 6;
    match ident >> 32 {
        MAGIC_ONE => Some((size, false)),
        MAGIC_MANY => Some((size, true)),
        _ => None,
    }
}

/// Whether an identity word is a version 1 channel's ("MPC1").
pub(crate) fn is_version_1(ident: u64) -> bool {
    ident >> 32 == 0x4d50_4331
}

/// Ring bytes of a channel of `size` bytes (a multiple of 64, at least
/// `MIN_SIZE`: callers check that first, as the size comes from shared
/// memory).
pub(crate) fn capacity(size: usize) -> u64 {
    debug_assert!(size >= MIN_SIZE);
    size.saturating_sub(HEADER) as u64
}

/// Positions never reach this (2^62 bytes: 146 years at 1 TB/s), so that
/// adding a frame to a valid position cannot overflow.
pub(crate) const MAX_POSITION: u64 = 1 << 62;

/// The largest message: half the ring less a frame header, so that a frame
/// fits contiguously wherever an empty ring's position stands.
pub(crate) fn max_message(capacity: u64) -> u64 {
    (((capacity - FRAME_HEADER) / 2) & !63).min(u64::from(u32::MAX) & !63)
}

/// Where a frame claimed with `claim` bytes at position `pos` puts its
/// payload (a position), and the frame's whole length. A payload that
/// would cross the ring's end starts at the next lap's offset 0 instead;
/// the header stays at `pos`.
#[inline]
pub(crate) fn frame_span(pos: u64, claim: u64, capacity: u64) -> (u64, u64) {
    let room = claim.next_multiple_of(64);
    let off = pos % capacity;
    if off + FRAME_HEADER + room <= capacity {
        (pos + FRAME_HEADER, FRAME_HEADER + room)
    } else {
        (pos - off + capacity, capacity - off + room)
    }
}
