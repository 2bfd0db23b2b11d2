//! A robust, process-shared, error-checking mutex that lives in 64 bytes
//! of any shared region.
//!
//! Layout (little-endian, offsets in bytes; everything else is zero):
//! - 0: the futex word, as the kernel's robust-futex protocol defines it:
//!   holder's thread id (bits 0-29), `FUTEX_OWNER_DIED` (bit 30),
//!   `FUTEX_WAITERS` (bit 31). [`UNRECOVERABLE_WORD`] once unrecoverable.
//! - 4: state: 0 never initialised, else one of the `STATE_*` values.
//! - 8: the holder's PID namespace (inode number of /proc/PID/ns/pid, u32),
//!   0 when free: thread ids of different namespaces may be equal, so a
//!   thread is the holder only if both the id and the namespace match.
//! - 12: process id of the thread that last took the lock, for inspection
//!   (`sync::inspect`): it survives the holder's death, when the kernel
//!   clears the thread id from the futex word.
//! - 24, 32: the holder's robust-list links (see `robust`): addresses in
//!   the holder's process, meaningless elsewhere.
//!
//! glibc's robust mutex hangs a locker in another process once it was
//! unlocked after an owner death without being made consistent (measured
//! with glibc 2.36). This one keeps that state in its own word, which never
//! returns to "free", so every locker sees it at once.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::futex::{self, Deadline, Scope, Timeout};
use super::robust::{self, Me, Pending};
use crate::error::{Error, ErrorKind, Result};
use crate::region::Region;

const FUTEX_WAITERS: u32 = 0x8000_0000;
pub(super) const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub(super) const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// A holder id no thread can have (ids stay below 2^22): the lock can never
/// be taken again.
pub(super) const UNRECOVERABLE_WORD: u32 = FUTEX_TID_MASK;

pub(super) const STATE_CONSISTENT: u32 = 0x4d58_0001;
pub(super) const STATE_INCONSISTENT: u32 = 0x4d58_0002;
pub(super) const STATE_UNRECOVERABLE: u32 = 0x4d58_0003;

/// Rounds of busy-waiting before sleeping: a critical section between
/// processes is usually shorter than the ~15 µs a futex sleep costs.
const SPINS: u32 = 200;

/// A sleeping locker looks at the word again at least this often.
const RECHECK_SLICE: std::time::Duration = std::time::Duration::from_millis(250);

/// A mutex in shared memory. Build one in zeroed memory with
/// [`SharedMutex::init`]; every process mapping the memory can then use it.
#[repr(C, align(8))]
#[derive(Debug)]
pub struct SharedMutex {
    word: AtomicU32,
    state: AtomicU32,
    holder_ns: AtomicU32,
    holder_pid: AtomicU32,
    reserved_a: [AtomicU32; 2],
    prev: AtomicUsize,
    next: AtomicUsize,
    reserved_b: [AtomicU64; 3],
}

const _: () = assert!(std::mem::size_of::<SharedMutex>() == 64);
// Offsets sync::inspect decodes.
pub(super) const WORD_AT: usize = std::mem::offset_of!(SharedMutex, word);
pub(super) const STATE_AT: usize = std::mem::offset_of!(SharedMutex, state);
pub(super) const HOLDER_PID_AT: usize = std::mem::offset_of!(SharedMutex, holder_pid);
const _: () = assert!(std::mem::offset_of!(SharedMutex, next) as isize == -robust::FUTEX_OFFSET);

/// How a lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Normally.
    Clean,
    /// The previous holder died holding it: the caller holds it now, and
    /// must repair the data, call [`SharedMutex::consistent`] and unlock.
    OwnerDied,
}

impl SharedMutex {
    /// Size in bytes of a mutex in memory.
    pub const SIZE: usize = 64;
    /// Alignment a mutex needs.
    pub const ALIGN: usize = 8;

    /// The mutex `offset` bytes into `region`, which must be writable.
    pub fn in_region(region: &Region, offset: usize) -> Result<&SharedMutex> {
        let addr = region.info().addr().wrapping_add(offset);
        super::check_placement(&region.info(), addr, Self::SIZE, Self::ALIGN, "mutex")?;
        // SAFETY: the 64 aligned bytes lie inside the region's writable
        // memory, which lives as long as the borrow of `region`; SharedMutex
        // is only atomics, valid for any bit pattern.
        Ok(unsafe { &*(addr as *const SharedMutex) })
    }

    fn addr(&self) -> usize {
        self as *const SharedMutex as usize
    }

    /// Makes zero-filled memory a mutex. Safe to race: one caller
    /// initialises, the others see it done. On an existing mutex it changes
    /// nothing; bytes that are neither zero nor a mutex are refused.
    pub fn init(&self) -> Result<()> {
        let state = self.state.load(Ordering::Acquire);
        if state == 0 {
            if !self.other_bytes_zero() {
                // A racing init may have published the mutex, and a locker
                // used it, since the state was read: look again.
                return self.check_state(self.state.load(Ordering::Acquire));
            }
            // Every other field of a fresh mutex is zero already, so one
            // compare-and-swap publishes it whole: no half-built state that
            // a caller killed mid-way could leave behind.
            match self.state.compare_exchange(
                0,
                STATE_CONSISTENT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => return self.check_state(now),
            }
        }
        self.check_state(state)
    }

    fn other_bytes_zero(&self) -> bool {
        self.word.load(Ordering::Relaxed) == 0
            && self.holder_ns.load(Ordering::Relaxed) == 0
            && self.prev.load(Ordering::Relaxed) == 0
            && self.next.load(Ordering::Relaxed) == 0
            && self.holder_pid.load(Ordering::Relaxed) == 0
            && self
                .reserved_a
                .iter()
                .all(|r| r.load(Ordering::Relaxed) == 0)
            && self
                .reserved_b
                .iter()
                .all(|r| r.load(Ordering::Relaxed) == 0)
    }

    fn check_state(&self, state: u32) -> Result<()> {
        match state {
            STATE_CONSISTENT | STATE_INCONSISTENT | STATE_UNRECOVERABLE => Ok(()),
            _ => Err(self.not_a_mutex(state)),
        }
    }

    #[cold]
    fn not_a_mutex(&self, state: u32) -> Error {
        let what = if state == 0 {
            "is not zero-filled and is not a mapipc mutex"
        } else {
            "does not hold a mapipc mutex"
        };
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the memory at {:#x} {what}; initialise zero-filled memory with \
                 mapipc_mutex_init",
                self.addr()
            ),
        )
    }

    /// Checks that this is a live mutex, for every operation but init.
    #[inline]
    fn ready(&self) -> Result<()> {
        match self.state.load(Ordering::Acquire) {
            STATE_CONSISTENT | STATE_INCONSISTENT => Ok(()),
            state => Err(self.not_ready(state)),
        }
    }

    #[cold]
    #[inline(never)]
    fn not_ready(&self, state: u32) -> Error {
        match state {
            STATE_UNRECOVERABLE => self.unrecoverable(),
            0 if self.other_bytes_zero() => Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the mutex at {:#x} was never initialised; call mapipc_mutex_init first",
                    self.addr()
                ),
            ),
            state => self.not_a_mutex(state),
        }
    }

    #[cold]
    fn unrecoverable(&self) -> Error {
        Error::new(
            ErrorKind::NotRecoverable,
            format!(
                "the mutex at {:#x} is not recoverable: it was unlocked after its holder died \
                 without mapipc_mutex_consistent",
                self.addr()
            ),
        )
    }

    /// Locks, waiting at most `timeout`.
    #[inline]
    pub fn lock(&self, timeout: Timeout) -> Result<Acquired> {
        self.ready()?;
        let me = robust::me()?;
        let pending = me.set_pending(&self.next);
        let got = match self
            .word
            .compare_exchange(0, me.tid, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(Acquired::Clean),
            Err(_) => self.lock_contended(me, pending, timeout),
        };
        if got.is_ok() {
            self.holder_ns.store(robust::ns(), Ordering::Relaxed);
            self.holder_pid.store(me.pid, Ordering::Relaxed);
            me.enqueue(&self.prev, &self.next);
            me.note_held(self.addr());
        }
        me.restore_pending(pending);
        got
    }

    /// The slow path of `lock`. The pending slot names this mutex only
    /// around each attempt to take it, never while waiting: the kernel
    /// releases the word a dead thread's slot names if it holds that
    /// thread's id as the thread's own PID namespace numbers it, which a
    /// holder in another namespace may have. (A waiter killed just after an
    /// unlock woke it thus wakes no one else: sleepers look again within
    /// `RECHECK_SLICE`.) Returns with the slot naming this mutex when it
    /// took it, else as it found it.
    #[cold]
    fn lock_contended(&self, me: Me, pending: Pending, timeout: Timeout) -> Result<Acquired> {
        me.restore_pending(pending);
        let (tid, ns) = (me.tid, robust::ns());
        let deadline = Deadline::after(timeout);
        let mut spins = if timeout == Timeout::Poll { SPINS } else { 0 };
        let mut slept = false;
        loop {
            let word = self.word.load(Ordering::Relaxed);
            let holder = word & FUTEX_TID_MASK;
            if holder == UNRECOVERABLE_WORD {
                return Err(self.unrecoverable());
            }
            // The same id in another PID namespace is another thread.
            if holder == tid && self.is_mine(&me, ns) {
                return Err(Error::new(
                    ErrorKind::Deadlock,
                    format!(
                        "the calling thread already holds the mutex at {:#x}",
                        self.addr()
                    ),
                ));
            }
            if holder == 0 {
                // Having slept, this thread cannot know whether others still
                // sleep: keep FUTEX_WAITERS so that its unlock wakes one.
                let waiters = if slept {
                    FUTEX_WAITERS
                } else {
                    word & FUTEX_WAITERS
                };
                me.set_pending(&self.next);
                if self
                    .word
                    .compare_exchange(word, tid | waiters, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(self.took_over(word));
                }
                me.restore_pending(pending);
                continue;
            }
            if spins < SPINS && word & FUTEX_WAITERS == 0 {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            if deadline.expired() {
                // Having slept, this thread may have taken the one wake-up
                // an unlock gave (and then found the lock re-taken by a
                // locker that never slept): hand it on by making sure the
                // holder's unlock wakes the next sleeper.
                if slept
                    && word & FUTEX_WAITERS == 0
                    && self
                        .word
                        .compare_exchange(
                            word,
                            word | FUTEX_WAITERS,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_err()
                {
                    continue;
                }
                return Err(self.timed_out(holder, timeout));
            }
            let sleeping = word | FUTEX_WAITERS;
            if word != sleeping
                && self
                    .word
                    .compare_exchange(word, sleeping, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // Any return (woken, changed, interrupted, timed out) re-reads
            // the word; the deadline is checked above.
            // At most a slice at a time: an unlock that made the mutex
            // unrecoverable and was killed before its wake (the kernel
            // wakes a waiter only for a word left at 0) is seen this way.
            futex::wait(
                &self.word,
                sleeping,
                &deadline.at_most(RECHECK_SLICE),
                Scope::Shared,
            );
            slept = true;
        }
    }

    /// Records what the word said when this thread took the lock over.
    fn took_over(&self, word: u32) -> Acquired {
        if word & FUTEX_OWNER_DIED == 0 {
            return Acquired::Clean;
        }
        self.state.store(STATE_INCONSISTENT, Ordering::Relaxed);
        Acquired::OwnerDied
    }

    #[cold]
    fn timed_out(&self, holder: u32, timeout: Timeout) -> Error {
        let waited = match timeout {
            Timeout::After(d) => format!("within {} ns", d.as_nanos()),
            _ => "without waiting".to_string(),
        };
        Error::new(
            ErrorKind::TimedOut,
            format!(
                "could not lock the mutex at {:#x} {waited}: thread {holder} holds it",
                self.addr()
            ),
        )
        .with_errno(timeout.expired_errno())
    }

    /// Checks that the calling thread holds the lock.
    #[inline]
    fn held_by(&self, me: &Me, verb: &str) -> Result<()> {
        let holder = self.word.load(Ordering::Relaxed) & FUTEX_TID_MASK;
        if holder == me.tid && self.is_mine(me, robust::ns()) {
            return Ok(());
        }
        Err(self.not_held(holder, me, verb))
    }

    /// Whether a holder with the caller's thread id is the caller: its PID
    /// namespace is the caller's `ns`, and, if no one could tell which
    /// namespace either lives in (0: no /proc), the caller noted taking it.
    #[inline]
    fn is_mine(&self, me: &Me, ns: u32) -> bool {
        self.holder_ns.load(Ordering::Relaxed) == ns && (ns != 0 || me.may_hold(self.addr()))
    }

    #[cold]
    #[inline(never)]
    fn not_held(&self, holder: u32, me: &Me, verb: &str) -> Error {
        let who = match holder {
            0 => "nobody holds it".to_string(),
            UNRECOVERABLE_WORD => "it is not recoverable".to_string(),
            _ if holder == me.tid => {
                format!("a thread with the same id ({holder}) in another PID namespace holds it")
            }
            _ => format!("thread {holder} holds it"),
        };
        Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "cannot {verb} the mutex at {:#x}: the calling thread (id {}) does not hold \
                 it, {who}",
                self.addr(),
                me.tid
            ),
        )
        .with_errno(libc::EPERM)
    }

    /// Unlocks. Only the holding thread may. Unlocking after an owner death
    /// without [`SharedMutex::consistent`] makes the mutex unrecoverable for
    /// everyone and returns that error (the lock is released all the same).
    /// A holder whose lock's state another process overwrote meanwhile
    /// gives it back all the same (its robust list and unmaps stay right)
    /// and is told.
    #[inline]
    pub fn unlock(&self) -> Result<()> {
        if let Err(not_ready) = self.ready() {
            return self.unlock_overwritten(not_ready);
        }
        let me = robust::me()?;
        self.held_by(&me, "unlock")?;
        // Only the holder changes the state, so it cannot move under us
        // (but for a hostile writer: see unlock_overwritten).
        self.release(me, self.state.load(Ordering::Relaxed))
    }

    /// `unlock` of a mutex whose state is not a live one: by its holder
    /// (another process overwrote the state meanwhile), it is released all
    /// the same, so the holder's robust list and unmaps stay right.
    #[cold]
    #[inline(never)]
    fn unlock_overwritten(&self, not_ready: Error) -> Result<()> {
        let me = robust::me()?;
        if self.held_by(&me, "unlock").is_err() {
            return Err(not_ready);
        }
        self.release(me, self.state.load(Ordering::Relaxed))
    }

    /// Gives the lock back; the caller holds it, and read `state`.
    #[inline(always)]
    fn release(&self, me: Me, state: u32) -> Result<()> {
        let abandoned = state == STATE_INCONSISTENT;
        let pending = me.set_pending(&self.next);
        me.dequeue(&self.prev, &self.next);
        me.note_released(self.addr());
        self.holder_ns.store(0, Ordering::Relaxed);
        let free = if abandoned || state == STATE_UNRECOVERABLE {
            self.state.store(STATE_UNRECOVERABLE, Ordering::Relaxed);
            UNRECOVERABLE_WORD
        } else {
            0
        };
        let before = self.word.swap(free, Ordering::Release);
        if free != 0 {
            // Every sleeper must see the new state, not just one.
            let _ = futex::wake(&self.word, u32::MAX, Scope::Shared);
        } else if before & FUTEX_WAITERS != 0 {
            let _ = futex::wake(&self.word, 1, Scope::Shared);
        }
        me.restore_pending(pending);
        match state {
            STATE_CONSISTENT => Ok(()),
            STATE_INCONSISTENT | STATE_UNRECOVERABLE => Err(self.unrecoverable()),
            _ => Err(self.overwritten(state)),
        }
    }

    #[cold]
    fn overwritten(&self, state: u32) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the mutex at {:#x} was overwritten while the calling thread held it (its state \
                 reads {state:#x}, no mapipc mutex's); the thread released it",
                self.addr()
            ),
        )
    }

    /// Marks the data repaired after [`Acquired::OwnerDied`]: the mutex
    /// goes on as normal. Only the holder may, and only in that state.
    pub fn consistent(&self) -> Result<()> {
        self.ready()?;
        let me = robust::me()?;
        self.held_by(&me, "make consistent")?;
        if self.state.load(Ordering::Relaxed) != STATE_INCONSISTENT {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the mutex at {:#x} needs no repair: its previous holder did not die \
                     holding it",
                    self.addr()
                ),
            ));
        }
        self.state.store(STATE_CONSISTENT, Ordering::Relaxed);
        Ok(())
    }
}
