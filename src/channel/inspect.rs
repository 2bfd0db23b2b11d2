//! Reading a channel's state from a copy of its bytes, for tools that look
//! at a channel without using it (the `mapipc inspect` command). Owns only
//! decoding: every field is bounded before use, and nothing here may take a
//! side, wake anyone or write a byte.

use crate::sys::{le_u32 as u32_at, le_u64 as u64_at};
use std::mem::offset_of;

use super::layout::{self, Header, FRAME_HEADER, HEADER, MAX_SIZE, MIN_SIZE};

/// Process ids stay below this (the kernel's `PID_MAX_LIMIT`): a larger
/// value read from shared memory is damage, not a process.
const PID_LIMIT: u32 = 1 << 22;
/// The low 30 bits of a side's robust futex word: the id of the thread
/// inside `send` or `recv`.
const TID_MASK: u32 = 0x3fff_ffff;

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
    /// Ring bytes in use by queued messages, framing included.
    pub queued_bytes: u64,
    /// Messages queued, when the copy held the whole ring and every frame
    /// in it was sound; `None` otherwise.
    pub queued_messages: Option<u64>,
    /// Whether `close` was called.
    pub closed: bool,
    /// The process that last took the sending side (`None`: none ever did).
    pub sender_pid: Option<u32>,
    /// The process that last took the receiving side.
    pub receiver_pid: Option<u32>,
    /// Whether a thread was inside `send` (or died there).
    pub sending: bool,
    /// Whether a thread was inside `recv` (or died there).
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
    let (version, size) = format_of(ident)?;
    let capacity = layout::capacity(size);
    let head = u64_at(bytes, offset_of!(Header, head));
    let tail = u64_at(bytes, offset_of!(Header, tail));
    let sender = u32_at(bytes, offset_of!(Header, sender_pid));
    let receiver = u32_at(bytes, offset_of!(Header, receiver_pid));
    let damaged = tail < head
        || tail - head > capacity
        || (head | tail) % FRAME_HEADER as u64 != 0
        || sender >= PID_LIMIT
        || receiver >= PID_LIMIT;
    let queued_bytes = if damaged { 0 } else { tail - head };
    let ring = bytes.get(HEADER..size);
    Some(ChannelState {
        version,
        size,
        many_senders: false,
        capacity,
        queued_bytes,
        queued_messages: ring.filter(|_| !damaged).and_then(|r| count(r, head, tail)),
        closed: u32_at(bytes, offset_of!(Header, closed)) != 0,
        sender_pid: (sender != 0 && !damaged).then_some(sender),
        receiver_pid: (receiver != 0 && !damaged).then_some(receiver),
        sending: u32_at(bytes, offset_of!(Header, send_word)) & TID_MASK != 0,
        receiving: u32_at(bytes, offset_of!(Header, recv_word)) & TID_MASK != 0,
        damaged,
    })
}

/// Version and size recorded by an identity word, through `layout`'s own
/// decoding (a new format version is added there, and here).
fn format_of(ident: u64) -> Option<(u32, usize)> {
    let size = layout::size_of_ident(ident)?;
    (MIN_SIZE..=MAX_SIZE).contains(&size).then_some((1, size))
}

/// Walks the frames from `head` to `tail` in `ring` (the whole ring, its
/// length at least the capacity); `None` at the first unsound frame.
fn count(ring: &[u8], head: u64, tail: u64) -> Option<u64> {
    let capacity = ring.len() as u64 & !7;
    let max_message = capacity.checked_sub(FRAME_HEADER as u64)?;
    let (mut pos, mut messages) = (head, 0);
    while pos < tail {
        let at = (pos % capacity) as usize;
        let len = u32_at(ring, at);
        if u32_at(ring, at + 4) != !len || u64::from(len) > max_message {
            return None;
        }
        pos = pos.checked_add(layout::frame_len(len as usize))?;
        messages += 1;
    }
    (pos == tail).then_some(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[..8].copy_from_slice(&layout::ident_for(size).to_le_bytes());
        b
    }

    fn put(b: &mut [u8], at: usize, v: u64, width: usize) {
        b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
    }

    #[test]
    fn fresh_channel_is_empty_and_unowned() {
        let s = inspect(&channel(4096)).unwrap();
        assert_eq!((s.version, s.size, s.capacity), (1, 4096, 4096 - 384));
        assert_eq!((s.queued_bytes, s.queued_messages), (0, Some(0)));
        assert_eq!(
            (s.sender_pid, s.receiver_pid, s.closed, s.damaged),
            (None, None, false, false)
        );
    }

    #[test]
    fn counts_frames_and_reads_pids() {
        let mut b = channel(4096);
        // Two messages of 3 and 9 bytes: frames of 16 and 24 bytes.
        put(&mut b, HEADER, 3 | (u64::from(!3u32) << 32), 8);
        put(&mut b, HEADER + 16, 9 | (u64::from(!9u32) << 32), 8);
        put(&mut b, offset_of!(Header, tail), 40, 8);
        put(&mut b, offset_of!(Header, sender_pid), 1234, 4);
        put(&mut b, offset_of!(Header, closed), 1, 4);
        let s = inspect(&b).unwrap();
        assert_eq!((s.queued_bytes, s.queued_messages), (40, Some(2)));
        assert_eq!(
            (s.sender_pid, s.receiver_pid, s.closed),
            (Some(1234), None, true)
        );
        // The header alone: bytes known, messages not.
        assert_eq!(inspect(&b[..HEADER]).unwrap().queued_messages, None);
        // A damaged frame is not counted.
        b[HEADER + 4] ^= 1;
        assert_eq!(inspect(&b).unwrap().queued_messages, None);
    }

    #[test]
    fn hostile_headers_are_bounded() {
        assert_eq!(inspect(&[0u8; 100]), None);
        assert_eq!(inspect(&[0u8; 4096]), None);
        let mut b = channel(4096);
        put(&mut b, 0, layout::ident_for(64), 8);
        assert_eq!(inspect(&b), None, "a size below the minimum");
        let mut b = channel(4096);
        put(&mut b, offset_of!(Header, tail), u64::MAX, 8);
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
    }
}
