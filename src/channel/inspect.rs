//! Reading a channel's state from a copy of its bytes, for tools that look
//! at a channel without using it (the `mapipc inspect` command). Owns only
//! decoding: every field is bounded before use, and nothing here may take a
//! side, wake anyone or write a byte. Knows format versions 1 and 2
//! (docs/channel-format.md): their headers put the fields read here at the
//! same offsets; their frames differ.

use crate::sys::{le_u32 as u32_at, le_u64 as u64_at};
use std::mem::offset_of;

use super::layout::{
    self, Header, FRAME_HEADER, HEADER, MAX_SIZE, MIN_SIZE, PUBLISHED, SKIP, TID_MASK,
};

/// Process ids stay below this (the kernel's `PID_MAX_LIMIT`): a larger
/// value read from shared memory is damage, not a process.
const PID_LIMIT: u32 = 1 << 22;

/// What a channel's header and ring said at the moment they were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelState {
    /// Format version (docs/channel-format.md).
    pub version: u32,
    /// Bytes the channel occupies, header included.
    pub size: usize,
    /// Whether any number of senders may send at once (format version 1
    /// has one sender at a time).
    pub many_senders: bool,
    /// Ring bytes (framing included).
    pub capacity: u64,
    /// Ring bytes in use by queued messages, framing included (with many
    /// senders, frames still being written too).
    pub queued_bytes: u64,
    /// Messages queued (published), when the copy held the whole ring and
    /// every frame in it was sound; `None` otherwise.
    pub queued_messages: Option<u64>,
    /// Whether `close` was called.
    pub closed: bool,
    /// The process that last took the sending side (`None`: none ever did,
    /// or many senders, which record none).
    pub sender_pid: Option<u32>,
    /// The process that last took the receiving side.
    pub receiver_pid: Option<u32>,
    /// Whether a thread was inside `send` or held a reservation (or died
    /// doing so).
    pub sending: bool,
    /// Whether a thread was inside `recv` or held a peeked message.
    pub receiving: bool,
    /// Whether positions or pids were out of bounds: the bytes were written
    /// by something other than a channel, and the counts above are zero.
    pub damaged: bool,
}

/// The channel whose bytes start at `bytes[0]`, or `None` if they do not
/// hold an initialised channel of a known format version. `bytes` should
/// be a copy (shared memory changes under a reader) of at least the header
/// ([`HEADER`] bytes); with the whole channel, queued messages are counted.
/// The caller checks that the object really has `size` bytes there.
pub fn inspect(bytes: &[u8]) -> Option<ChannelState> {
    if bytes.len() < HEADER {
        return None;
    }
    let ident = u64_at(bytes, offset_of!(Header, ident));
    let (version, size, many) = format_of(ident)?;
    let capacity = layout::capacity(size) & !7;
    let head = u64_at(bytes, offset_of!(Header, head));
    let tail = u64_at(bytes, offset_of!(Header, tail));
    let sender = u32_at(bytes, offset_of!(Header, sender_pid));
    let receiver = u32_at(bytes, offset_of!(Header, receiver_pid));
    let step = if version == 1 { 8 } else { FRAME_HEADER };
    let damaged = tail < head
        || tail - head > capacity
        || (head | tail) % step != 0
        || sender >= PID_LIMIT
        || receiver >= PID_LIMIT;
    let queued_bytes = if damaged { 0 } else { tail - head };
    let ring = bytes.get(HEADER..size).filter(|_| !damaged);
    let queued_messages = ring.and_then(|r| match version {
        1 => count_v1(r, capacity, head, tail),
        _ => count_v2(r, capacity, head, tail),
    });
    Some(ChannelState {
        version,
        size,
        many_senders: many,
        capacity,
        queued_bytes,
        queued_messages,
        closed: u32_at(bytes, offset_of!(Header, closed)) != 0,
        sender_pid: (sender != 0 && !damaged && !many).then_some(sender),
        receiver_pid: (receiver != 0 && !damaged).then_some(receiver),
        sending: !many && u32_at(bytes, offset_of!(Header, send_word)) & TID_MASK != 0,
        receiving: u32_at(bytes, offset_of!(Header, recv_word)) & TID_MASK != 0,
        damaged,
    })
}

/// Version, size and kind (many senders?) recorded by an identity word,
/// through `layout`'s own decoding for the current version.
fn format_of(ident: u64) -> Option<(u32, usize, bool)> {
    let (version, size, many) = match layout::decode_ident(ident) {
        Some((size, many)) => (2, size, many),
        None if layout::is_version_1(ident) => (1, ((ident & 0xffff_ffff) as usize) << 6, false),
        None => return None,
    };
    (MIN_SIZE..=MAX_SIZE)
        .contains(&size)
        .then_some((version, size, many))
}

/// Version 1: frames of an 8-byte header (length, its complement) and the
/// message rounded up to 8, wrapping at the ring's end. `None` at the first
/// unsound frame.
fn count_v1(ring: &[u8], capacity: u64, head: u64, tail: u64) -> Option<u64> {
    let max_message = capacity.checked_sub(8)?;
    let (mut pos, mut messages) = (head, 0);
    while pos < tail {
        let at = (pos % capacity) as usize;
        let len = u32_at(ring, at);
        if u32_at(ring, at + 4) != !len || u64::from(len) > max_message {
            return None;
        }
        pos = pos.checked_add(8 + u64::from(len).next_multiple_of(8))?;
        messages += 1;
    }
    (pos == tail).then_some(messages)
}

/// Version 2: 64-byte frame headers (state, claimed room, length, its
/// complement); published frames count, skipped ones and (many senders)
/// ones being written do not. `None` at the first unsound frame.
fn count_v2(ring: &[u8], capacity: u64, head: u64, tail: u64) -> Option<u64> {
    let max_message = layout::max_message(capacity);
    let (mut pos, mut messages) = (head, 0);
    while pos < tail {
        let at = (pos % capacity) as usize;
        let (state, claim) = (u32_at(ring, at), u64::from(u32_at(ring, at + 4)));
        let len = u32_at(ring, at + 8);
        if claim > max_message {
            return None;
        }
        if state == PUBLISHED {
            if u32_at(ring, at + 12) != !len || u64::from(len) > claim {
                return None;
            }
            messages += 1;
        } else if state & SKIP == 0 && state & TID_MASK == 0 {
            // Neither published, skipped nor claimed: not a frame.
            return None;
        }
        pos = pos.checked_add(layout::frame_span(pos, claim, capacity).1)?;
    }
    (pos == tail).then_some(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(size: usize, many: bool) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[..8].copy_from_slice(&layout::ident_for(size, many).to_le_bytes());
        b
    }

    fn put(b: &mut [u8], at: usize, v: u64, width: usize) {
        b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
    }

    /// A version 2 frame header at ring offset `at`.
    fn frame(b: &mut [u8], at: usize, state: u32, claim: u32, len: u32) {
        put(b, HEADER + at, u64::from(state) | u64::from(claim) << 32, 8);
        put(
            b,
            HEADER + at + 8,
            u64::from(len) | u64::from(!len) << 32,
            8,
        );
    }

    #[test]
    fn fresh_channel_is_empty_and_unowned() {
        let s = inspect(&channel(4096, false)).unwrap();
        assert_eq!((s.version, s.size, s.capacity), (2, 4096, 4096 - 384));
        assert_eq!((s.queued_bytes, s.queued_messages), (0, Some(0)));
        assert_eq!(
            (s.sender_pid, s.receiver_pid, s.closed, s.damaged),
            (None, None, false, false)
        );
        assert!(!s.many_senders);
        assert!(inspect(&channel(4096, true)).unwrap().many_senders);
    }

    #[test]
    fn counts_frames_and_reads_pids() {
        let mut b = channel(4096, false);
        // Two messages of 3 and 70 bytes: frames of 128 and 192 bytes.
        frame(&mut b, 0, PUBLISHED, 3, 3);
        frame(&mut b, 128, PUBLISHED, 70, 70);
        put(&mut b, offset_of!(Header, tail), 320, 8);
        put(&mut b, offset_of!(Header, sender_pid), 1234, 4);
        put(&mut b, offset_of!(Header, closed), 1, 4);
        let s = inspect(&b).unwrap();
        assert_eq!((s.queued_bytes, s.queued_messages), (320, Some(2)));
        assert_eq!(
            (s.sender_pid, s.receiver_pid, s.closed),
            (Some(1234), None, true)
        );
        // The header alone: bytes known, messages not.
        assert_eq!(inspect(&b[..HEADER]).unwrap().queued_messages, None);
        // A damaged frame is not counted.
        b[HEADER + 12] ^= 1;
        assert_eq!(inspect(&b).unwrap().queued_messages, None);
    }

    #[test]
    fn many_senders_count_only_published_frames() {
        let mut b = channel(4096, true);
        frame(&mut b, 0, 0x1234, 10, 0);
        frame(&mut b, 128, SKIP | PUBLISHED, 10, 0);
        frame(&mut b, 256, PUBLISHED, 10, 7);
        put(&mut b, offset_of!(Header, tail), 384, 8);
        put(&mut b, offset_of!(Header, sender_pid), 99, 4);
        let s = inspect(&b).unwrap();
        assert_eq!((s.queued_bytes, s.queued_messages), (384, Some(1)));
        assert_eq!(s.sender_pid, None, "many senders record none");
    }

    #[test]
    fn version_1_is_still_read() {
        let mut b = vec![0u8; 4096];
        put(&mut b, 0, 0x4d50_4331 << 32 | 4096 >> 6, 8);
        put(&mut b, HEADER, 3 | (u64::from(!3u32) << 32), 8);
        put(&mut b, HEADER + 16, 9 | (u64::from(!9u32) << 32), 8);
        put(&mut b, offset_of!(Header, tail), 40, 8);
        let s = inspect(&b).unwrap();
        assert_eq!((s.version, s.many_senders), (1, false));
        assert_eq!((s.queued_bytes, s.queued_messages), (40, Some(2)));
    }

    #[test]
    fn hostile_headers_are_bounded() {
        assert_eq!(inspect(&[0u8; 100]), None);
        assert_eq!(inspect(&[0u8; 4096]), None);
        let mut b = channel(4096, false);
        put(&mut b, 0, layout::ident_for(64, false), 8);
        assert_eq!(inspect(&b), None, "a size below the minimum");
        let mut b = channel(4096, false);
        put(&mut b, offset_of!(Header, tail), !63, 8);
        put(
            &mut b,
            offset_of!(Header, receiver_pid),
            u64::from(u32::MAX),
            4,
        );
        let s = inspect(&b).unwrap();
        assert!(s.damaged);
        assert_eq!(
            (s.queued_bytes, s.queued_messages, s.receiver_pid),
            (0, None, None)
        );
        // A frame claiming more than a message may hold.
        let mut b = channel(4096, false);
        frame(&mut b, 0, PUBLISHED, u32::MAX, 1);
        put(&mut b, offset_of!(Header, tail), 128, 8);
        assert_eq!(inspect(&b).unwrap().queued_messages, None);
    }
}
