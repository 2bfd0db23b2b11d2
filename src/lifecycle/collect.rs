//! Collecting stale temporary objects in /dev/shm (`mapipc_gc`): only
//! objects that carry the temporary marker and whose users are all gone.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{id_of, is_marked, lock, remove_locked, SHM_DIR};
use crate::error::{Error, Result};
use crate::sys;

/// Removes (or with `dry_run` only lists) every stale temporary object in
/// /dev/shm; returns their paths. An object this process may not open or
/// remove is left alone and not listed as removed.
pub fn collect(dry_run: bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(SHM_DIR).map_err(|e| {
        Error::from_os(
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("cannot list {SHM_DIR}"),
        )
    })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        // A cheap look first (no open): most objects are not temporary.
        let marked = entry
            .metadata()
            .is_ok_and(|m| m.file_type().is_file() && m.permissions().mode() & libc::S_ISVTX != 0);
        if !marked {
            continue;
        }
        let path = entry.path();
        let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
            continue;
        };
        if stale_here(&cpath, dry_run) {
            found.push(path);
        }
    }
    Ok(found)
}

/// Whether `path` is a stale temporary object (and, unless `dry_run`, was
/// removed by this call).
fn stale_here(path: &CString, dry_run: bool) -> bool {
    let access = if dry_run {
        libc::O_RDONLY
    } else {
        libc::O_RDWR
    };
    let flags = access | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW;
    let Ok(fd) = sys::open(path, flags, 0) else {
        return false;
    };
    let Ok(st) = sys::fstat(&fd) else {
        return false;
    };
    if !is_marked(&st) {
        return false;
    }
    if dry_run {
        return lock::probe(fd.as_fd()).is_ok_and(|held| held.is_none());
    }
    remove_locked(&fd, path, id_of(&st)).is_ok()
}
