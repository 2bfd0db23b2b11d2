//! Reading a mutex's state from a copy of its 64 bytes, for tools that look
//! at a lock without using it (the `mapipc inspect` command). Owns only
//! decoding: nothing here may lock, wake or write, and every value read is
//! bounded (another process may have written anything there).

use super::mutex::{
    FUTEX_OWNER_DIED, FUTEX_TID_MASK, HOLDER_PID_AT, STATE_AT, STATE_CONSISTENT,
    STATE_INCONSISTENT, STATE_UNRECOVERABLE, UNRECOVERABLE_WORD, WORD_AT,
};
use super::SharedMutex;
use crate::sys::le_u32 as u32_at;

/// Thread and process ids stay below this (the kernel's `PID_MAX_LIMIT`).
const PID_LIMIT: u32 = 1 << 22;

/// Where a mutex stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Nobody holds it.
    Free,
    /// A thread holds it (possibly one repairing after an owner death:
    /// see [`MutexState::repairing`]).
    Held,
    /// Its holder died holding it and nobody has taken it since.
    OwnerDied,
    /// It was unlocked after an owner death without being made consistent:
    /// it can never be locked again.
    NotRecoverable,
}

/// What a mutex's bytes said at the moment they were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutexState {
    /// Free, held, owner died or not recoverable.
    pub state: LockState,
    /// Kernel thread id of the holder (`Held` only).
    pub holder_tid: Option<u32>,
    /// Process of the holder (`Held`), or of the holder that died
    /// (`OwnerDied`); `None` when unknown.
    pub holder_pid: Option<u32>,
    /// Held by a thread that took it after an owner death and has not yet
    /// called `consistent`.
    pub repairing: bool,
}

/// The mutex whose 64 bytes start at `bytes[0]` (a copy), or `None` if they
/// do not hold an initialised mapipc mutex.
pub fn inspect(bytes: &[u8]) -> Option<MutexState> {
    let bytes = bytes.get(..SharedMutex::SIZE)?;
    let word = u32_at(bytes, WORD_AT);
    let state = u32_at(bytes, STATE_AT);
    let pid = Some(u32_at(bytes, HOLDER_PID_AT)).filter(|&p| p != 0 && p < PID_LIMIT);
    let tid = word & FUTEX_TID_MASK;
    let (lock, holder_tid, holder_pid) = match state {
        STATE_UNRECOVERABLE => (LockState::NotRecoverable, None, None),
        STATE_CONSISTENT | STATE_INCONSISTENT => match tid {
            UNRECOVERABLE_WORD => (LockState::NotRecoverable, None, None),
            0 if word & FUTEX_OWNER_DIED != 0 => (LockState::OwnerDied, None, pid),
            0 => (LockState::Free, None, None),
            t if t < PID_LIMIT => (LockState::Held, Some(t), pid),
            _ => return None,
        },
        _ => return None,
    };
    Some(MutexState {
        state: lock,
        holder_tid,
        holder_pid,
        repairing: lock == LockState::Held && state == STATE_INCONSISTENT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::anon::map_anonymous;
    use crate::sync::Timeout;
    use crate::{Access, Sharing};

    fn snapshot(region: &crate::Region) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        crate::guard::read(region, 0, &mut b).unwrap();
        b
    }

    #[test]
    fn free_then_held_by_this_thread() {
        let region = map_anonymous(4096, Access::ReadWrite, Sharing::Shared).unwrap();
        assert_eq!(
            inspect(&snapshot(&region)),
            None,
            "zeroed memory is no mutex"
        );
        let m = SharedMutex::in_region(&region, 0).unwrap();
        m.init().unwrap();
        assert_eq!(inspect(&snapshot(&region)).unwrap().state, LockState::Free);
        m.lock(Timeout::Never).unwrap();
        let s = inspect(&snapshot(&region)).unwrap();
        assert_eq!(s.state, LockState::Held);
        assert_eq!(s.holder_pid, Some(std::process::id()));
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
        assert_eq!((s.holder_tid, s.repairing), (Some(tid), false));
        m.unlock().unwrap();
        assert_eq!(inspect(&snapshot(&region)).unwrap().holder_pid, None);
    }

    #[test]
    fn owner_died_keeps_the_dead_pid_and_bounds_garbage() {
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(&FUTEX_OWNER_DIED.to_le_bytes());
        b[4..8].copy_from_slice(&STATE_CONSISTENT.to_le_bytes());
        b[12..16].copy_from_slice(&4321u32.to_le_bytes());
        let s = inspect(&b).unwrap();
        assert_eq!(
            (s.state, s.holder_pid, s.holder_tid),
            (LockState::OwnerDied, Some(4321), None)
        );
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(inspect(&b).unwrap().holder_pid, None, "an impossible pid");
        b[0..4].copy_from_slice(&0x3fff_fff0u32.to_le_bytes());
        assert_eq!(inspect(&b), None, "an impossible thread id");
        b[4..8].copy_from_slice(&STATE_UNRECOVERABLE.to_le_bytes());
        assert_eq!(inspect(&b).unwrap().state, LockState::NotRecoverable);
        assert_eq!(inspect(&b[..10]), None);
    }
}
