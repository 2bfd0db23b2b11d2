//! PLACEHOLDER for the lifetimes of temporary objects (`MAPIPC_TEMPORARY`,
//! `mapipc_gc`): another branch adds the real module with exactly this API,
//! and the merge takes that one. Until then nothing is temporary and
//! nothing is collected, so the `mapipc` command can be built against it.

use std::os::fd::BorrowedFd;
use std::path::PathBuf;

/// Whether an object outlives its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Stays until removed.
    Permanent,
    /// Removed when its last user goes; `stale` once that has happened.
    Temporary {
        /// No user is left: the object only waits for removal.
        stale: bool,
    },
}

/// Reads the marker and probes the users' locks of the object open at `fd`,
/// without disturbing it. PLACEHOLDER: always `Permanent`.
pub fn lifetime(fd: BorrowedFd<'_>) -> crate::Result<Lifetime> {
    let _ = fd;
    Ok(Lifetime::Permanent)
}

/// Removes (or with `dry_run` only lists) every stale temporary object in
/// /dev/shm; returns their paths. PLACEHOLDER: finds none.
pub fn collect(dry_run: bool) -> crate::Result<Vec<PathBuf>> {
    let _ = dry_run;
    Ok(Vec::new())
}
