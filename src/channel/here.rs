//! The calling thread's channel state (its holds, the channels it found
//! last, the process it watched last) in one heap block made on first use.
//! Static TLS is scarce (see `local`): only the block's address lives
//! there, in the thread's initial-exec block, so the fast paths reach it
//! in two instructions with no `__tls_get_addr` and no state check. A
//! thread-local destructor frees the block (closing the watched pidfd);
//! calls made later by other destructors find no block: their caches
//! miss, and a hold cannot be recorded (see [`get`]).

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};

use super::holds::Holds;
use super::peer::Watched;
use super::Known;
use crate::error::{Error, ErrorKind, Result};
use crate::local;

/// The block.
pub(super) struct Here {
    pub(super) holds: Holds,
    pub(super) known: Cell<[Known; 2]>,
    pub(super) watched: RefCell<Watched>,
}

/// `local().channel` once the block was freed.
const GONE: usize = 1;

/// Frees the thread's block when the thread ends.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        let l = local::local();
        let addr = l.channel.replace(GONE);
        if addr > GONE {
            // SAFETY: made by `make` with the global allocator for a Here and
            // owned by this thread alone; the address is no longer
            // published, and no channel call of this thread is under way
            // while its destructors run.
            drop(unsafe { Box::from_raw(addr as *mut Here) });
        }
    }
}

thread_local! {
    static OWNER: Owner = const { Owner };
}

/// The thread's block if it has one; `None` means nothing held and nothing
/// cached.
#[inline(always)]
pub(super) fn existing() -> Option<&'static Here> {
    let addr = local::local().channel.get();
    // SAFETY: a live block of this thread (`make`), freed only by `Owner`
    // at thread exit, which then unpublishes it; `Here` is not Sync, so
    // the reference stays on this thread.
    (addr > GONE).then(|| unsafe { &*(addr as *const Here) })
}

/// The thread's block, made on first use. Fails (out of memory, or the
/// thread's destructors already freed it) rather than lose track of a
/// hold: callers ask before they take anything.
#[inline(always)]
pub(super) fn get() -> Result<&'static Here> {
    match existing() {
        Some(here) => Ok(here),
        None => make(),
    }
}

#[cold]
fn make() -> Result<&'static Here> {
    let l = local::local();
    // Registering the destructor fails once it ran (or runs).
    if l.channel.get() == GONE || OWNER.try_with(|_| ()).is_err() {
        l.channel.set(GONE);
        return Err(Error::new(
            ErrorKind::NoSpace,
            "this thread is ending: its channel state was freed with its thread-locals, so it \
             can hold no reservation or peeked message any more",
        ));
    }
    let layout = Layout::new::<Here>();
    // SAFETY: Here has a non-zero size.
    let addr = unsafe { alloc::alloc(layout) } as *mut Here;
    if addr.is_null() {
        return Err(Error::new(
            ErrorKind::NoSpace,
            "out of memory for this thread's channel state",
        ));
    }
    let here = Here {
        holds: Holds::new(),
        known: Cell::new([Known::NONE; 2]),
        watched: RefCell::new(Watched::NONE),
    };
    // SAFETY: fresh memory of Here's layout, from the global allocator (as
    // Box::from_raw in Owner needs).
    unsafe { addr.write(here) };
    l.channel.set(addr as usize);
    // SAFETY: just made; as in existing.
    Ok(unsafe { &*addr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::holds::{self, Hold, Kind};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Runs after the thread's channel state is freed: destructors run
    /// last-registered first, and this one is registered before `Owner`.
    struct Late(Cell<bool>);

    impl Drop for Late {
        fn drop(&mut self) {
            if !self.0.get() {
                return;
            }
            assert!(existing().is_none());
            assert!(holds::find(64, Kind::Reserve).is_none());
            holds::forget(64, Kind::Reserve);
            let err = holds::room().err().expect("no state to note a hold in");
            assert_eq!(err.kind(), ErrorKind::NoSpace);
            assert_eq!(local::local().channel.get(), GONE);
            LATE_RAN.store(true, Ordering::Relaxed);
        }
    }

    thread_local! {
        static LATE: Late = const { Late(Cell::new(false)) };
    }

    static LATE_RAN: AtomicBool = AtomicBool::new(false);

    #[test]
    fn calls_after_the_state_is_freed_fail_cleanly() {
        let ran = std::thread::spawn(|| {
            LATE.with(|l| l.0.set(true));
            let room = holds::room().unwrap();
            let hold = Hold {
                pos: 0,
                frame: 64,
                claim: 1,
            };
            room.remember(64, Kind::Reserve, hold);
            assert_eq!(holds::find(64, Kind::Reserve).unwrap().frame, 64);
            assert!(existing().is_some());
        });
        ran.join().unwrap();
        assert!(LATE_RAN.load(Ordering::Relaxed));
    }
}
