//! What lives at an offset of an object: a mapipc channel, a mapipc mutex,
//! or unknown bytes, decoded by the library from a copy of the bytes.

use mapipc::channel::ChannelState;
use mapipc::sync::MutexState;

use crate::object::Object;

/// The most of a channel read to count its messages; a larger channel
/// shows its bytes queued but not its message count.
const WHOLE_CHANNEL_LIMIT: usize = 64 << 20;

#[derive(Debug)]
pub enum Found {
    Channel(ChannelState),
    Mutex(MutexState),
    Unknown,
}

/// What is at `offset` of `obj`. With `count`, a channel's ring is read too
/// so that its messages are counted.
pub fn at(obj: &Object, offset: u64, count: bool) -> Result<Found, String> {
    if offset > obj.size {
        return Err(format!(
            "{}: offset {offset} is past its end ({} bytes)",
            obj.label(),
            obj.size
        ));
    }
    let room = obj.size - offset;
    let head = obj.read(offset, mapipc::channel::HEADER)?;
    if offset % mapipc::channel::ALIGN as u64 == 0 {
        if let Some(ch) = mapipc::channel::inspect(&head).filter(|c| c.size as u64 <= room) {
            if !count || ch.size > WHOLE_CHANNEL_LIMIT {
                return Ok(Found::Channel(ch));
            }
            let whole = obj.read(offset, ch.size)?;
            // Re-read: the header may have moved on between the two reads.
            return Ok(Found::Channel(
                mapipc::channel::inspect(&whole).unwrap_or(ch),
            ));
        }
    }
    if offset % mapipc::sync::SharedMutex::ALIGN as u64 == 0 {
        if let Some(m) = mapipc::sync::inspect::inspect(&head) {
            return Ok(Found::Mutex(m));
        }
    }
    Ok(Found::Unknown)
}
