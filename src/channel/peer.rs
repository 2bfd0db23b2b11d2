//! Who is on the other side of a channel, and whether that process still
//! runs. A zombie counts as gone: it answers `kill(pid, 0)` but will never
//! send or receive again, so its pidfd (readable once a process has exited,
//! reaped or not) is asked instead. Each thread keeps the pidfd of the
//! last process it watched (in its channel state, `here`), and looks at
//! most every few milliseconds: a receiver polling an empty channel must
//! not pay three system calls per try. Knows nothing of channels' memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

/// This process's id, cached: `getpid` is a system call. Cleared in a
/// child after fork.
static MY_ID: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn forget_after_fork() {
    MY_ID.store(0, Ordering::Relaxed);
}

/// The calling process's id.
#[inline]
pub(crate) fn my_pid() -> u32 {
    my_id() as u32
}

/// The calling process's id in the low half, its PID namespace (see
/// `robust::Me::ns`) in the high half: what a side records of itself.
#[inline]
pub(crate) fn my_id() -> u64 {
    match MY_ID.load(Ordering::Relaxed) {
        0 => my_id_slow(),
        id => id,
    }
}

#[cold]
fn my_id_slow() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: a plain function that lives as long as the library.
        unsafe { libc::pthread_atfork(None, None, Some(forget_after_fork)) };
    });
    let id = u64::from(crate::sync::robust::my_namespace()) << 32 | u64::from(std::process::id());
    MY_ID.store(id, Ordering::Relaxed);
    id
}

/// Set once pidfd_open turned out not to exist here (an old kernel, a
/// seccomp filter, valgrind): /proc is asked from then on.
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// Whether the process a side recorded as `id` (see `my_id`) has exited
/// (as a zombie or for good). 0 (no one yet) and this process are never
/// gone. A process of another PID namespace cannot be looked up by its pid
/// here (the number names another process or none): never gone; nor one
/// whose namespace is unknown (0: no /proc), which may be another.
/// Waits ask [`is_gone_lately`], which keeps the pidfd.
#[cfg(test)]
fn is_gone(id: u64) -> bool {
    judged(id) && pid_is_gone(id as u32)
}

/// Whether `id` names another process that this one can look up by pid:
/// known and not 0, not this process, of this PID namespace.
#[inline]
fn judged(id: u64) -> bool {
    let (ns, pid) = ((id >> 32) as u32, id as u32);
    let mine = my_id();
    pid != 0 && id != mine && ns != 0 && ns == (mine >> 32) as u32
}

/// Whether process `pid` of this namespace has exited.
fn pid_is_gone(pid: u32) -> bool {
    if NO_PIDFD.load(Ordering::Relaxed) {
        return proc_says_gone(pid);
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (close-on-exec by definition) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return match errno::errno().0 {
            libc::ESRCH => true,
            libc::ENOSYS | libc::EPERM => {
                NO_PIDFD.store(true, Ordering::Relaxed);
                proc_says_gone(pid)
            }
            // Out of descriptors or memory: no answer now, so not gone;
            // the waiter asks again at its next look-around.
            _ => false,
        };
    }
    let mut poll = libc::pollfd {
        fd: fd as libc::c_int,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one valid pollfd; close takes the
    // descriptor opened above, used nowhere else.
    let ready = unsafe {
        let n = libc::poll(&mut poll, 1, 0);
        libc::close(fd as libc::c_int);
        n
    };
    ready > 0 && poll.revents & libc::POLLIN != 0
}

/// How long an answer of "still running" is trusted: the contract allows a
/// second to notice a death, waits look every 100 ms.
const TRUST_NS: u64 = 20_000_000;

/// The process this thread watched last: its pidfd (-1: none) and when it
/// was last seen running.
pub(super) struct Watched {
    pid: u32,
    fd: i32,
    seen_at: u64,
}

impl Watched {
    pub(super) const NONE: Watched = Watched {
        pid: 0,
        fd: -1,
        seen_at: 0,
    };
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.fd >= 0 {
            // SAFETY: a pidfd this thread opened and owns.
            unsafe { libc::close(self.fd) };
        }
    }
}

/// Like [`is_gone`], but answers "still running" from this thread's last
/// look when that is recent, and keeps the pidfd between looks.
pub(crate) fn is_gone_lately(id: u64) -> bool {
    if !judged(id) {
        return false;
    }
    let pid = id as u32;
    let now = coarse_now_ns();
    // Kept in the thread's channel state, which closes the pidfd as the
    // thread ends; without one (the thread ending), asked afresh.
    let cached = super::here::get().map(|here| {
        let mut w = here.watched.borrow_mut();
        if w.pid != pid {
            // The old pidfd is closed as the old value drops.
            *w = Watched {
                pid,
                fd: open_pidfd(pid),
                seen_at: 0,
            };
        } else if now.wrapping_sub(w.seen_at) < TRUST_NS {
            return Some(false);
        }
        if w.fd < 0 {
            return None;
        }
        if pidfd_readable(w.fd) {
            // Exited, or the number was reused since: ask afresh below.
            *w = Watched::NONE;
            return None;
        }
        w.seen_at = now;
        Some(false)
    });
    match cached {
        Ok(Some(answer)) => answer,
        _ => pid_is_gone(pid),
    }
}

fn open_pidfd(pid: u32) -> i32 {
    if NO_PIDFD.load(Ordering::Relaxed) {
        return -1;
    }
    // SAFETY: as in is_gone.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        -1
    } else {
        fd as i32
    }
}

fn pidfd_readable(fd: i32) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one valid pollfd.
    let n = unsafe { libc::poll(&mut poll, 1, 0) };
    n > 0 && poll.revents & libc::POLLIN != 0
}

/// A cheap monotonic clock (a few ms coarse), in nanoseconds.
pub(crate) fn coarse_now_ns() -> u64 {
    now_ns(libc::CLOCK_MONOTONIC_COARSE)
}

/// The monotonic clock in nanoseconds.
pub(crate) fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; both clocks always exist.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn proc_says_gone(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => matches!(state_letter(&stat), Some(b'Z' | b'X')),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// The state letter of a `/proc/PID/stat` line (R, S, Z...).
fn state_letter(stat: &[u8]) -> Option<u8> {
    // "pid (comm) S ...": the command may hold spaces and parentheses.
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_gone() {
        assert_eq!(my_pid(), std::process::id());
        assert!(!is_gone(my_id()));
        assert!(!is_gone(0));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let ns = my_id() & !0xffff_ffff;
        assert!(is_gone(ns | u64::from(pid)));
        assert!(is_gone_lately(ns | u64::from(pid)));
        assert!(!is_gone_lately(my_id()));
        // The same pid in another namespace, or an unknown one: not
        // judged, never gone.
        assert!(!is_gone((ns ^ (1 << 32)) | u64::from(pid)));
        assert!(!is_gone_lately((ns ^ (1 << 32)) | u64::from(pid)));
        assert!(!is_gone_lately(u64::from(pid)));
        assert_eq!(state_letter(b"12 (a) b) Z 1 2"), Some(b'Z'));
        assert!(!proc_says_gone(my_pid()));
    }
}
