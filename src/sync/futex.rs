//! `futex(2)` wait and wake, and deadlines on `CLOCK_MONOTONIC`.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How long a blocking call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Try once, never sleep.
    Poll,
    /// Wait at most this long.
    After(Duration),
    /// Wait for as long as it takes.
    Never,
}

impl Timeout {
    /// The C convention: negative waits for ever, 0 tries once, positive
    /// waits at most that many nanoseconds.
    pub fn from_nanos(ns: i64) -> Timeout {
        match ns {
            0 => Timeout::Poll,
            n if n < 0 => Timeout::Never,
            n => Timeout::After(Duration::from_nanos(n as u64)),
        }
    }

    /// The errno a call that ran out of this timeout reports: EAGAIN when
    /// it was only a try, ETIMEDOUT when it waited.
    pub fn expired_errno(self) -> i32 {
        match self {
            Timeout::Poll => libc::EAGAIN,
            _ => libc::ETIMEDOUT,
        }
    }
}

/// A point on `CLOCK_MONOTONIC`, or none for waits without end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<libc::timespec>);

impl Deadline {
    /// The deadline `timeout` from now (`Poll`: now itself).
    pub(crate) fn after(timeout: Timeout) -> Deadline {
        let wait = match timeout {
            Timeout::Never => return Deadline(None),
            Timeout::Poll => Duration::ZERO,
            Timeout::After(d) => d,
        };
        let now = monotonic_now();
        let mut sec = now
            .tv_sec
            .saturating_add(wait.as_secs().min(i64::MAX as u64) as i64);
        let mut nsec = now.tv_nsec + wait.subsec_nanos() as i64;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec = sec.saturating_add(1);
        }
        Deadline(Some(libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }))
    }

    /// This deadline, or `limit` from now if that comes sooner: for waits
    /// that must look up now and then (is the other side still alive?).
    pub(crate) fn at_most(&self, limit: Duration) -> Deadline {
        let soon = Deadline::after(Timeout::After(limit));
        match (&self.0, &soon.0) {
            (Some(end), Some(s)) if (end.tv_sec, end.tv_nsec) < (s.tv_sec, s.tv_nsec) => *self,
            _ => soon,
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        match &self.0 {
            None => false,
            Some(end) => {
                let now = monotonic_now();
                (now.tv_sec, now.tv_nsec) >= (end.tv_sec, end.tv_nsec)
            }
        }
    }
}

fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

/// Whether the word is seen only by this process's threads (a private
/// mapping): the kernel then keys the futex on this address space alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Any process that maps the memory.
    Shared,
    /// Only this process.
    Private,
}

impl Scope {
    /// The scope of words in pages that are private to this process or not.
    pub fn for_pages(private: bool) -> Scope {
        if private {
            Scope::Private
        } else {
            Scope::Shared
        }
    }

    fn flag(self) -> libc::c_int {
        match self {
            Scope::Shared => 0,
            Scope::Private => libc::FUTEX_PRIVATE_FLAG,
        }
    }
}

/// Sleeps while `*word == expected`, until a wake, a signal or `deadline`.
/// Returns the errno of the wait: 0 when woken (perhaps spuriously),
/// EAGAIN when the word had already changed, EINTR, ETIMEDOUT.
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: &Deadline, scope: Scope) -> i32 {
    let timeout = deadline
        .0
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live 4-byte aligned atomic; the kernel only reads
    // it. FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (or NULL
    // for no limit), which `timeout` is, and the match-any bitset.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET | scope.flag(),
            expected,
            timeout,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if rc == 0 {
        0
    } else {
        errno::errno().0
    }
}

/// Wakes up to `count` threads sleeping on `word`; returns how many woke.
pub(crate) fn wake(word: &AtomicU32, count: u32, scope: Scope) -> Result<u32, i32> {
    let count = count.min(i32::MAX as u32) as i32;
    // SAFETY: FUTEX_WAKE does not touch the word's memory; the address only
    // names the wait queue.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | scope.flag(),
            count,
        )
    };
    if rc < 0 {
        Err(errno::errno().0)
    } else {
        Ok(rc as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_follow_the_c_convention() {
        assert_eq!(Timeout::from_nanos(0), Timeout::Poll);
        assert_eq!(Timeout::from_nanos(-1), Timeout::Never);
        assert_eq!(
            Timeout::from_nanos(1_500),
            Timeout::After(Duration::from_nanos(1_500))
        );
        assert!(Deadline::after(Timeout::Poll).expired());
        assert!(!Deadline::after(Timeout::Never).expired());
        assert!(!Deadline::after(Timeout::After(Duration::from_secs(3600))).expired());
        // A huge timeout saturates instead of wrapping into the past.
        assert!(!Deadline::after(Timeout::from_nanos(i64::MAX)).expired());
    }

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let word = AtomicU32::new(5);
        let never = Deadline::after(Timeout::Never);
        assert_eq!(wait(&word, 4, &never, Scope::Private), libc::EAGAIN);
        let soon = Deadline::after(Timeout::After(Duration::from_millis(1)));
        assert_eq!(wait(&word, 5, &soon, Scope::Private), libc::ETIMEDOUT);
        assert_eq!(wake(&word, u32::MAX, Scope::Private), Ok(0));
    }
}
