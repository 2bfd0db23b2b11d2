//! Synchronisation between the threads of any processes that map the same
//! memory: a robust mutex ([`SharedMutex`]) and wait/wake on a 32-bit word
//! ([`wait`], [`wake`]), both built on `futex(2)`. Owns the thread's robust
//! futex list; must not trust a byte of the shared memory it works in, nor
//! know of channels.

pub(crate) mod futex;
pub mod inspect;
mod mutex;
pub(crate) mod robust;

use std::sync::atomic::{AtomicU32, Ordering};

pub use futex::{Scope, Timeout};
pub use inspect::{LockState, MutexState};
pub use mutex::{Acquired, SharedMutex};

use crate::error::{Error, ErrorKind, Result};
use crate::region::{Region, RegionInfo};
use futex::Deadline;

/// Checks that `size` bytes at `addr`, `align`-aligned, lie inside the
/// caller's bytes of the writable region `info` (for callers that hold a
/// [`Region`]; C callers go through `registry::locate`).
pub(crate) fn check_placement(
    info: &RegionInfo,
    addr: usize,
    size: usize,
    align: usize,
    what: &str,
) -> Result<()> {
    let offset = addr.wrapping_sub(info.addr());
    if addr % align != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("a {what} at offset {offset} of a region is not {align}-byte aligned"),
        ));
    }
    if offset > info.len() || size > info.len() - offset {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "a {size}-byte {what} at offset {offset} does not fit in a {}-byte region",
                info.len()
            ),
        ));
    }
    if !info.is_writable() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("a {what} needs a writable region"),
        ));
    }
    Ok(())
}

/// The 32-bit word `offset` bytes into `region`, to wait and wake on.
pub fn word_in_region(region: &Region, offset: usize) -> Result<&AtomicU32> {
    let addr = region.info().addr().wrapping_add(offset);
    check_placement(&region.info(), addr, 4, 4, "word")?;
    // SAFETY: 4 aligned bytes inside the region's memory, which lives as
    // long as the borrow of `region`; any bit pattern is a valid u32.
    Ok(unsafe { &*(addr as *const AtomicU32) })
}

/// The scope of futex operations on memory in `info`.
pub fn scope_of(info: &RegionInfo) -> Scope {
    Scope::for_pages(info.is_private())
}

/// `futex(FUTEX_WAIT)`: returns at once if `*word != expected`, else sleeps
/// until [`wake`] on the same word, or `timeout` (then `TimedOut`). May
/// return `Ok` spuriously: callers re-check the word.
#[inline]
pub fn wait(word: &AtomicU32, expected: u32, timeout: Timeout, scope: Scope) -> Result<()> {
    if word.load(Ordering::Acquire) != expected {
        return Ok(());
    }
    if timeout == Timeout::Poll {
        return Err(wait_timed_out(word, expected, timeout));
    }
    let deadline = Deadline::after(timeout);
    match futex::wait(word, expected, &deadline, scope) {
        0 | libc::EAGAIN | libc::EINTR => Ok(()),
        libc::ETIMEDOUT => Err(wait_timed_out(word, expected, timeout)),
        errno => Err(Error::from_os(
            errno,
            format_args!("futex wait on the word at {:p} failed", word.as_ptr()),
        )),
    }
}

#[cold]
fn wait_timed_out(word: &AtomicU32, expected: u32, timeout: Timeout) -> Error {
    Error::new(
        ErrorKind::TimedOut,
        format!(
            "the word at {:p} still held {expected} when the timeout ran out",
            word.as_ptr()
        ),
    )
    .with_errno(timeout.expired_errno())
}

/// `futex(FUTEX_WAKE)`: wakes up to `count` threads waiting on `word`
/// (`u32::MAX`: all); returns how many woke.
pub fn wake(word: &AtomicU32, count: u32, scope: Scope) -> Result<u32> {
    futex::wake(word, count, scope).map_err(|errno| {
        Error::from_os(
            errno,
            format_args!("futex wake on the word at {:p} failed", word.as_ptr()),
        )
    })
}
