//! Waiting for data (a receiver) or room (a sender): spin about as long as
//! this side's last wait took, reading only what the other side publishes;
//! then sleep on the side's waiter word, which the other side looks at
//! after publishing, waking every 100 ms to look whether the other side's
//! process still runs. A wait that must not wait (timeout 0) looks at the
//! other process at most every 20 ms, through a kept pidfd. Touches no
//! line of the channel but the waiter's own, the waiter word and what
//! `ready` reads.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::layout::SIDE_WAITS;
use super::{peer, Channel};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::futex::{self, Deadline, Timeout};

/// How often a sleeping side looks whether the other side's process ended.
const LIVENESS_SLICE: Duration = Duration::from_millis(100);
/// Bounds of the spin before sleeping: a futex sleep and wake costs ~15-45
/// µs here, so spinning less is never worth it; spinning for longer than
/// a 1 MiB copy takes burns a core for nothing.
const MIN_SPIN_NS: u64 = 20_000;
const MAX_SPIN_NS: u64 = 400_000;
/// Spins before the clock is read at all.
const FAST_SPINS: u32 = 128;
/// After this long, the spin yields between rounds.
const YIELD_AFTER_NS: u64 = 2_000;

/// Which side waits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Sender,
    Receiver,
}

impl Channel<'_> {
    /// The waiter word, the other side's process (None: its death does
    /// not end the wait), and the spin estimate of `who`.
    fn waiting(&self, who: Who) -> (&AtomicU32, Option<&AtomicU64>, &AtomicU64) {
        let hdr = self.hdr;
        match who {
            Who::Receiver => (
                &hdr.data_waiters,
                (!self.many).then_some(&hdr.sender_id),
                &hdr.recv_spin,
            ),
            Who::Sender => (&hdr.room_waiters, Some(&hdr.receiver_id), &hdr.send_spin),
        }
    }

    /// Waits until `ready()` (or a reason to stop).
    #[cold]
    pub(crate) fn wait(&self, who: Who, timeout: Timeout, ready: &dyn Fn() -> bool) -> Result<()> {
        let (word, peer_id, spin) = self.waiting(who);
        if timeout == Timeout::Poll {
            let now = Deadline::after(timeout);
            return self.stop_reason(who, peer_id, ready, &now, timeout);
        }
        // Most waits of a busy channel end within a few hundred spins: those
        // read no clock and leave the estimate alone.
        for _ in 0..FAST_SPINS {
            if ready() {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        let start = peer::now_ns(libc::CLOCK_MONOTONIC);
        let deadline = Deadline::after(timeout);
        let mut budget = spin
            .load(Ordering::Relaxed)
            .saturating_mul(2)
            .clamp(MIN_SPIN_NS, MAX_SPIN_NS);
        if let Timeout::After(limit) = timeout {
            budget = budget.min(limit.as_nanos() as u64);
        }
        if !spin_until(ready, start, budget) {
            self.sleep(who, word, peer_id, &deadline, timeout, ready)?;
        }
        // The next wait spins about as long as this one took, unless this one
        // outlasted any spin (an idle channel): then briefly.
        let took = peer::now_ns(libc::CLOCK_MONOTONIC).saturating_sub(start);
        spin.store(
            if took <= MAX_SPIN_NS { took } else { 0 },
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Sleeps until `ready()`: true, or the reason to stop.
    fn sleep(
        &self,
        who: Who,
        word: &AtomicU32,
        peer_id: Option<&AtomicU64>,
        deadline: &Deadline,
        timeout: Timeout,
        ready: &dyn Fn() -> bool,
    ) -> Result<bool> {
        loop {
            self.stop_reason(who, peer_id, ready, deadline, timeout)?;
            if ready() {
                return Ok(true);
            }
            let value = word.fetch_or(SIDE_WAITS, Ordering::SeqCst) | SIDE_WAITS;
            if ready() || self.is_closed() {
                word.fetch_and(!SIDE_WAITS, Ordering::Relaxed);
                continue;
            }
            futex::wait(word, value, &deadline.at_most(LIVENESS_SLICE), self.scope);
            word.fetch_and(!SIDE_WAITS, Ordering::Relaxed);
            if ready() {
                return Ok(true);
            }
        }
    }

    /// Why a wait ends now though nothing is ready (closed, the other side
    /// gone, out of time); `Ok` if it goes on or `ready()`.
    fn stop_reason(
        &self,
        who: Who,
        peer_id: Option<&AtomicU64>,
        ready: &dyn Fn() -> bool,
        deadline: &Deadline,
        timeout: Timeout,
    ) -> Result<()> {
        if ready() {
            return Ok(());
        }
        if self.is_closed() {
            return Err(self.closed_error(match who {
                Who::Sender => "send",
                Who::Receiver => "receive from",
            }));
        }
        if let Some(field) = peer_id {
            let id = field.load(Ordering::Relaxed);
            if peer::is_gone_lately(id) {
                return Err(self.peer_gone(who, id as u32));
            }
        }
        if deadline.expired() {
            return Err(self.timed_out(who, timeout));
        }
        Ok(())
    }

    #[cold]
    fn peer_gone(&self, who: Who, pid: u32) -> Error {
        let (other, state) = match who {
            Who::Receiver => ("sender", "the channel is empty"),
            Who::Sender => ("receiver", "the channel is full"),
        };
        Error::new(
            ErrorKind::Closed,
            format!(
                "the {other} of the channel at {:#x} (process {pid}) has exited and {state}; \
                 a new {other} may take its place",
                self.addr()
            ),
        )
    }

    #[cold]
    pub(super) fn timed_out(&self, who: Who, timeout: Timeout) -> Error {
        let what = match who {
            Who::Receiver => "no message arrived",
            Who::Sender => "no room was made",
        };
        let within = match timeout {
            Timeout::Poll => "at once",
            _ => "within the timeout",
        };
        Error::new(
            ErrorKind::TimedOut,
            format!("{what} on the channel at {:#x} {within}", self.addr()),
        )
        .with_errno(timeout.expired_errno())
    }
}

/// Spins until `ready()` or `budget` ns from `start`. Past the first few
/// microseconds it yields between rounds: if the other side shares this
/// core, it gets to run (on a core of its own, a yield returns at once).
fn spin_until(ready: &dyn Fn() -> bool, start: u64, budget: u64) -> bool {
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        let spent = peer::now_ns(libc::CLOCK_MONOTONIC).saturating_sub(start);
        if spent >= budget {
            return ready();
        }
        if spent >= YIELD_AFTER_NS {
            std::thread::yield_now();
        }
    }
}
