//! Exports for the message channel.

use std::ffi::c_void;

use super::boundary::{call, fail_static, Out};
use super::error::mapipc_status;
use crate::channel::{self, Channel, Received, ALIGN, HEADER};
use crate::error::{Error, ErrorKind, Result};
use crate::region::registry::{self, Need};
use crate::sync::Timeout;

/// The channel at `chan`, checked: 64-byte aligned in a live region that
/// allows `need`, initialised, and wholly inside the region.
#[inline]
fn channel_at<'a>(chan: *const c_void, need: Need) -> Result<Channel<'a>> {
    Channel::locate(chan as usize, need)
}

#[inline]
fn null_buffer(ptr: *const c_void, len: usize, what: &str) -> Result<()> {
    if ptr.is_null() && len > 0 {
        return Err(null_with_length(len, what));
    }
    Ok(())
}

#[cold]
fn null_with_length(len: usize, what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("the {what} is NULL but its length is {len}"),
    )
}

/// Makes `size` bytes at `chan` a channel (`size == 0`: to the end of the
/// region), usable by every process that maps the memory.
///
/// `chan` is 64-byte aligned inside a live, writable mapipc region whose
/// bytes there are zero-filled. `size` is at least 4096 (else
/// MAPIPC_ERR_INVALID_ARGUMENT) and is rounded down to a multiple of 64; a
/// size reaching past the region's end is MAPIPC_ERR_OUT_OF_RANGE; a
/// read-only region is MAPIPC_ERR_PERMISSION_DENIED.
///
/// Safe to race, and both sides may call it: one initialises, the others
/// return MAPIPC_OK. On an existing channel of the same size it changes
/// nothing (queued messages stay); another size, or bytes that are not a
/// channel, are MAPIPC_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_init(chan: *mut c_void, size: usize) -> mapipc_status {
    // SAFETY: the same promise.
    unsafe { mapipc_channel_init_with(chan, size, 0) }
}

/// Option of mapipc_channel_init_with(): any number of threads, in any
/// processes, may send at the same time; senders never get
/// MAPIPC_ERR_BUSY. Each message arrives whole and once, and the messages
/// of one thread in the order it sent them. A sender that dies at any
/// instant costs only its own unfinished message; the receiver does not
/// get MAPIPC_ERR_CLOSED when a sender dies (only mapipc_channel_close
/// closes such a channel).
pub const MAPIPC_CHANNEL_MANY_SENDERS: u32 = 0x1;

/// mapipc_channel_init() with options: 0, or MAPIPC_CHANNEL_MANY_SENDERS.
/// Unknown option bits are MAPIPC_ERR_INVALID_ARGUMENT; so is an existing
/// channel made with other options or another size (size 0 is resolved to
/// the region's end first). `init_with(chan, size, 0)` is
/// `init(chan, size)`.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_init_with(
    chan: *mut c_void,
    size: usize,
    options: u32,
) -> mapipc_status {
    call(|| {
        if options & !MAPIPC_CHANNEL_MANY_SENDERS != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "unknown channel option bits {:#x} (known: MAPIPC_CHANNEL_MANY_SENDERS = {:#x})",
                    options & !MAPIPC_CHANNEL_MANY_SENDERS,
                    MAPIPC_CHANNEL_MANY_SENDERS
                ),
            ));
        }
        let addr = chan as usize;
        let place = registry::locate(addr, HEADER, ALIGN, Need::Write, "channel")?;
        let many = options & MAPIPC_CHANNEL_MANY_SENDERS != 0;
        // SAFETY: locate checked HEADER aligned writable bytes at addr; room
        // counts the live bytes to the region's end.
        unsafe { channel::init_at(addr, size, place.room(addr), many) }
    })
}

/// Stores in `*out` the largest message the channel at `chan` can carry:
/// (size - 448) / 2 rounded down to 64, so that a message of that size fits
/// contiguously in the ring wherever an empty channel's position stands.
///
/// # Safety
/// `out` is NULL or writable; `chan` is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_max_message(
    chan: *const c_void,
    out: *mut usize,
) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(out, "out", 0) }?;
        out.set(channel_at(chan, Need::Read)?.max_message());
        Ok(())
    })
}

/// Sends the `len` bytes at `msg` as one message, waiting while the channel
/// is full, at most `timeout_ns` nanoseconds (0: do not wait; negative: no
/// limit).
///
/// MAPIPC_ERR_TOO_LARGE (errno EMSGSIZE) at once for more than
/// mapipc_channel_max_message() bytes; MAPIPC_ERR_CLOSED (EPIPE) once the
/// channel is closed, or when the receiving process has exited while the
/// channel is full (noticed within 100 ms, also if that process is an
/// unreaped zombie); MAPIPC_ERR_BUSY (EBUSY) while another thread is
/// sending; MAPIPC_ERR_TIMED_OUT (EAGAIN for 0, else ETIMEDOUT). The
/// calling process becomes the channel's sender. No system call unless the
/// channel is full or the receiver sleeps.
///
/// # Safety
/// `msg` is readable for `len` bytes; `chan` is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_send(
    chan: *mut c_void,
    msg: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> mapipc_status {
    call(|| {
        let ch = channel_at(chan, Need::Write)?;
        null_buffer(msg, len, "message")?;
        let msg = if len == 0 {
            &[][..]
        } else {
            // SAFETY: non-NULL and, by the caller's promise, len readable
            // bytes.
            unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) }
        };
        ch.send(msg, Timeout::from_nanos(timeout_ns))
    })
}

/// Receives the next message into `buf` (`cap` bytes) and stores its length
/// in `*out_len`, waiting while the channel is empty, at most `timeout_ns`
/// nanoseconds (0: do not wait; negative: no limit).
///
/// MAPIPC_ERR_TOO_LARGE (errno EMSGSIZE) if the next message is longer
/// than `cap`: `*out_len` is set to its length and it stays queued.
/// MAPIPC_ERR_CLOSED (EPIPE) once the channel is closed and empty, or when
/// the sending process has exited and the channel is empty (noticed within
/// 100 ms, also if that process is an unreaped zombie); a new sender may
/// come later. MAPIPC_ERR_BUSY while another thread is receiving;
/// MAPIPC_ERR_TIMED_OUT (EAGAIN for 0, else ETIMEDOUT). `*out_len` is 0 on
/// any other failure. The calling process becomes the channel's receiver.
///
/// # Safety
/// `buf` is writable for `cap` bytes; `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_recv(
    chan: *mut c_void,
    buf: *mut c_void,
    cap: usize,
    out_len: *mut usize,
    timeout_ns: i64,
) -> mapipc_status {
    let mut empty = false;
    let status = call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(out_len, "out_len", 0) }?;
        let ch = channel_at(chan, Need::Write)?;
        null_buffer(buf, cap, "buffer")?;
        let buf = if cap == 0 {
            &mut [][..]
        } else {
            // SAFETY: non-NULL and, by the caller's promise, cap writable
            // bytes that nothing else uses during the call.
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) }
        };
        match ch.recv_or_empty(buf, Timeout::from_nanos(timeout_ns))? {
            None => {
                empty = true;
                Ok(())
            }
            Some(Received::Message(len)) => {
                out.set(len);
                Ok(())
            }
            Some(Received::TooSmall(len)) => {
                out.set(len);
                Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "the next message on the channel at {:#x} has {len} bytes, more than the \
                         {cap}-byte buffer; it stays queued",
                        chan as usize
                    ),
                ))
            }
        }
    });
    if empty {
        return fail_static(
            ErrorKind::TimedOut,
            libc::EAGAIN,
            c"no message arrived on the channel at once (timeout 0)",
        );
    }
    status
}

/// Closes the channel, from either side: later sends are
/// MAPIPC_ERR_CLOSED; receives return what is queued, then
/// MAPIPC_ERR_CLOSED. Wakes both sides. Closing again does nothing more.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_close(chan: *mut c_void) -> mapipc_status {
    call(|| channel_at(chan, Need::Write)?.close())
}

/// Reserves room for a message of `len` bytes and sets `*buf` to `len`
/// contiguous writable bytes inside the channel (64-byte aligned), waiting
/// for room at most `timeout_ns` like send. Write the message there, then
/// mapipc_channel_commit() or mapipc_channel_cancel(). On an empty channel
/// a reservation of up to max_message bytes never waits.
///
/// The calling thread holds the reservation: with one sender, other
/// threads' sends get MAPIPC_ERR_BUSY meanwhile. A thread or process that
/// ends while holding it publishes nothing and frees the channel. More
/// than max_message bytes: MAPIPC_ERR_TOO_LARGE; a second reservation by
/// the same thread: MAPIPC_ERR_INVALID_ARGUMENT. On failure `*buf` is NULL.
///
/// # Safety
/// `buf` is NULL or writable; `chan` is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_reserve(
    chan: *mut c_void,
    len: usize,
    timeout_ns: i64,
    buf: *mut *mut c_void,
) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(buf, "buf", std::ptr::null_mut()) }?;
        let ch = channel_at(chan, Need::Write)?;
        out.set(ch.reserve(len, Timeout::from_nanos(timeout_ns))?.cast());
        Ok(())
    })
}

/// Publishes the first `len` bytes of the calling thread's reservation as
/// one message (`len` at most the reserved length, else
/// MAPIPC_ERR_INVALID_ARGUMENT and the reservation stays). No reservation:
/// MAPIPC_ERR_INVALID_ARGUMENT. The channel closed while the reservation
/// was held: MAPIPC_ERR_CLOSED, nothing published, reservation dropped.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_commit(chan: *mut c_void, len: usize) -> mapipc_status {
    call(|| channel_at(chan, Need::Write)?.commit(len))
}

/// Drops the calling thread's reservation, publishing nothing. No
/// reservation: MAPIPC_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_cancel(chan: *mut c_void) -> mapipc_status {
    call(|| channel_at(chan, Need::Write)?.cancel())
}

/// Waits like recv for the next message and sets `*msg` and `*len` to it,
/// in place (read-only, valid until mapipc_channel_release()). It stays
/// queued until then: a receiver that dies before releasing leaves it for
/// the next one. Meanwhile recv and peek by this thread are
/// MAPIPC_ERR_INVALID_ARGUMENT and other threads' receives get
/// MAPIPC_ERR_BUSY. On failure `*msg` is NULL and `*len` 0.
///
/// # Safety
/// `msg` and `len` are NULL or writable; `chan` is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_peek(
    chan: *mut c_void,
    msg: *mut *const c_void,
    len: *mut usize,
    timeout_ns: i64,
) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(msg, "msg", std::ptr::null()) }?;
        // SAFETY: the same.
        let out_len = unsafe { Out::new(len, "len", 0) }?;
        let ch = channel_at(chan, Need::Write)?;
        let (at, n) = ch.peek(Timeout::from_nanos(timeout_ns))?;
        out.set(at.cast());
        out_len.set(n);
        Ok(())
    })
}

/// Removes the message the calling thread peeked from the queue. No peeked
/// message (or peeked by another thread): MAPIPC_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_release(chan: *mut c_void) -> mapipc_status {
    call(|| channel_at(chan, Need::Write)?.release())
}

/// Sets `*out_fd` to a new close-on-exec descriptor (the caller closes it)
/// that poll, select and epoll report readable (POLLIN) exactly while a
/// recv would not wait: a message is queued (a peeked one included), the
/// channel is closed, or (one-sender channels) its sender's process has
/// exited. Works in any process that maps the channel, whichever user runs
/// the senders.
///
/// How: this process gets one eventfd per channel, kept in step by a
/// helper thread that sleeps on the channel's futex words (signals
/// blocked); senders and receivers anywhere wake it through the shared
/// memory. The thread and eventfd last until the channel's region is
/// unmapped here. While no process has such a descriptor, send and recv
/// make no system call for it. On failure `*out_fd` is -1.
///
/// # Safety
/// `out_fd` is NULL or writable; `chan` is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_channel_fd(chan: *mut c_void, out_fd: *mut i32) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(out_fd, "out_fd", -1) }?;
        out.set(channel_at(chan, Need::Write)?.descriptor()?);
        Ok(())
    })
}
