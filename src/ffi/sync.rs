//! Exports for the robust mutex and wait/wake.

use std::sync::atomic::AtomicU32;

use super::boundary::call;
use super::error::mapipc_status;
use crate::error::{Error, ErrorKind, Result};
use crate::region::registry::{self, Need};
use crate::sync::{self, Acquired, SharedMutex, Timeout};

/// A robust mutex shared by every thread of every process that maps the
/// memory holding it. 64 bytes, 8-byte aligned; place it in a mapipc region
/// (anonymous, file, POSIX or System V), zero-filled, then call
/// mapipc_mutex_init(). Never copy it: the bytes are the lock.
#[repr(C)]
#[derive(Debug)]
pub struct mapipc_mutex {
    pub opaque: [u64; 8],
}

/// The mutex at `m`, checked: inside one live writable region, aligned.
fn mutex_at<'a>(m: *mut mapipc_mutex) -> Result<&'a SharedMutex> {
    let addr = m as usize;
    registry::locate(
        addr,
        SharedMutex::SIZE,
        SharedMutex::ALIGN,
        Need::Write,
        "mutex",
    )?;
    // SAFETY: locate checked that the 64 aligned bytes lie inside a live,
    // writable region; SharedMutex is made of atomics only, so any bytes
    // (and other processes writing them) are sound. The region outlives
    // this call unless the caller unmaps it concurrently, which the API
    // forbids.
    Ok(unsafe { &*(addr as *const SharedMutex) })
}

/// Makes the zero-filled memory at `m` a mutex usable by every process that
/// maps it.
///
/// Safe to race: any number of threads and processes may call it on the
/// same zeroed bytes at once; exactly one initialises and all return
/// MAPIPC_OK. On an already initialised mutex it returns MAPIPC_OK and
/// changes nothing (a held lock stays held). Non-zero bytes that are not a
/// mapipc mutex are MAPIPC_ERR_INVALID_ARGUMENT; NULL or misaligned is
/// MAPIPC_ERR_INVALID_ARGUMENT; memory in no live region is
/// MAPIPC_ERR_NOT_MAPPED; a mutex reaching past its region's end is
/// MAPIPC_ERR_OUT_OF_RANGE; a read-only region is
/// MAPIPC_ERR_PERMISSION_DENIED.
///
/// # Safety
/// None beyond passing a pointer value: it is checked against the live
/// regions before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_mutex_init(m: *mut mapipc_mutex) -> mapipc_status {
    call(|| mutex_at(m)?.init())
}

/// Locks the mutex, waiting at most `timeout_ns` nanoseconds
/// (CLOCK_MONOTONIC; 0: try once; negative: wait for ever).
///
/// MAPIPC_OK: the caller holds it.
/// MAPIPC_ERR_OWNER_DIED: the caller holds it, but the previous holder's
/// thread or process ended while holding it (also when that process is a
/// zombie not yet reaped, even by the caller). Repair the data it guards,
/// call mapipc_mutex_consistent(), then unlock; unlocking without that
/// makes the mutex unrecoverable for everyone.
/// MAPIPC_ERR_NOT_RECOVERABLE: it was unlocked after an owner death without
/// being made consistent; it can never be locked again.
/// MAPIPC_ERR_TIMED_OUT: not acquired in time (errno EAGAIN for a timeout
/// of 0, ETIMEDOUT otherwise).
/// MAPIPC_ERR_DEADLOCK: the calling thread already holds it.
/// Pointer errors as for mapipc_mutex_init; never-initialised memory is
/// MAPIPC_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_mutex_lock(m: *mut mapipc_mutex, timeout_ns: i64) -> mapipc_status {
    call(|| {
        let mutex = mutex_at(m)?;
        match mutex.lock(Timeout::from_nanos(timeout_ns))? {
            Acquired::Clean => Ok(()),
            Acquired::OwnerDied => Err(Error::new(
                ErrorKind::OwnerDied,
                format!(
                    "the previous holder of the mutex at {:#x} died holding it; the caller holds \
                     it now: repair the data, call mapipc_mutex_consistent, then unlock",
                    m as usize
                ),
            )),
        }
    })
}

/// Unlocks the mutex. Only the thread that holds it may: any other caller
/// gets MAPIPC_ERR_PERMISSION_DENIED and nothing changes.
///
/// After MAPIPC_ERR_OWNER_DIED without mapipc_mutex_consistent(), the
/// unlock releases the lock but makes it unrecoverable for every process,
/// and returns MAPIPC_ERR_NOT_RECOVERABLE to say so. If another process
/// overwrote the mutex's state while the caller held it, the unlock still
/// releases it and returns MAPIPC_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_mutex_unlock(m: *mut mapipc_mutex) -> mapipc_status {
    call(|| mutex_at(m)?.unlock())
}

/// Declares the data repaired after mapipc_mutex_lock() returned
/// MAPIPC_ERR_OWNER_DIED: the mutex works normally again once unlocked.
/// Only the holder may call it (else MAPIPC_ERR_PERMISSION_DENIED), and only
/// after an owner death (else MAPIPC_ERR_INVALID_ARGUMENT).
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_mutex_consistent(m: *mut mapipc_mutex) -> mapipc_status {
    call(|| mutex_at(m)?.consistent())
}

/// The word at `word`, checked: 4-byte aligned inside one live region.
fn word_at<'a>(word: *const u32, need: Need) -> Result<(&'a AtomicU32, sync::Scope)> {
    let addr = word as usize;
    let place = registry::locate(addr, 4, 4, need, "word")?;
    let scope = sync::Scope::for_pages(place.is_private());
    // SAFETY: locate checked that the 4 aligned bytes lie inside a live
    // region; an AtomicU32 has the size and alignment of a u32 and is only
    // read here (wait) or not dereferenced at all (wake).
    Ok((unsafe { &*(addr as *const AtomicU32) }, scope))
}

/// Sleeps while `*word == expected`: returns MAPIPC_OK at once if it
/// differs, else when mapipc_wake() is called on the same word by any
/// thread of any process mapping it, or MAPIPC_ERR_TIMED_OUT after
/// `timeout_ns` nanoseconds (CLOCK_MONOTONIC; 0: check once, errno EAGAIN;
/// negative: no limit).
///
/// It may return MAPIPC_OK spuriously (a signal, a wake meant for an older
/// value): always re-check the word in a loop. `word` is 4-byte aligned
/// inside a live mapipc region; in a MAPIPC_PRIVATE region only threads of
/// this process can wake it.
///
/// # Safety
/// None beyond passing a pointer value: it is checked before use.
#[no_mangle]
pub unsafe extern "C" fn mapipc_wait(
    word: *const u32,
    expected: u32,
    timeout_ns: i64,
) -> mapipc_status {
    call(|| {
        let (word, scope) = word_at(word, Need::Read)?;
        sync::wait(word, expected, Timeout::from_nanos(timeout_ns), scope)
    })
}

/// Wakes up to `count` threads sleeping in mapipc_wait() on `word`
/// (UINT32_MAX: all of them). Change the word before waking, or a waiter
/// may go back to sleep. Same pointer rules as mapipc_wait().
///
/// # Safety
/// None beyond passing a pointer value: it is checked, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn mapipc_wake(word: *mut u32, count: u32) -> mapipc_status {
    call(|| {
        let (word, scope) = word_at(word, Need::Read)?;
        sync::wake(word, count, scope).map(drop)
    })
}
