//! Making mappings: of files ([`file`](mod@file), by path or already open),
//! of anonymous memory ([`anon`]),
//! with options checked before any system call ([`options`]). Owns the rules
//! for opening and creating what is mapped; must not know how a region is
//! later named from C or what lives inside it.

pub mod anon;
pub mod file;
pub mod options;

use std::ffi::CStr;
use std::os::fd::OwnedFd;

use crate::error::{Error, ErrorKind, Result};
use crate::lifecycle::{self, Join, Unnamed};
use crate::region::Region;
use options::{Create, MapOptions};

/// How the object handed to a mapping step came to be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// It was there; the step must not remove it on failure.
    Existing,
    /// This call created it under its name: a failing step removes it.
    Created,
    /// A new temporary object that gets its name only once mapped: a
    /// failing step has nothing to remove.
    Unnamed,
}

// How often a lookup starts over when what it found vanished or was
// replaced meanwhile (another process removing a stale object, a creator
// racing this one). Each round means another process made progress; after
// a few, this one yields to let them finish.
const ROUNDS: usize = 1000;

/// Opens or creates the object at `path` (a file, or a POSIX object's path
/// in /dev/shm), with the lifetime rules of `lifecycle`, and maps it with
/// `map`. A stale temporary object counts as absent (and is removed); a
/// live one is joined; a new temporary one is named only once mapped.
/// `open` gets the extra open flags (`O_CREAT | O_EXCL` or none) and
/// returns the raw errno; `fail` words an errno of opening. The region
/// keeps a descriptor of the object (`offset`: where its first byte is).
pub(crate) fn open_named(
    path: &CStr,
    opts: MapOptions,
    offset: u64,
    mut open: impl FnMut(libc::c_int) -> std::result::Result<OwnedFd, i32>,
    fail: impl Fn(i32) -> Error,
    mut map: impl FnMut(&OwnedFd, Origin) -> Result<Region>,
) -> Result<Region> {
    check_lifetime_options(&opts)?;
    let creating = opts.create != Create::Never;
    // A new temporary object, mapped, waiting for its name to be free.
    let mut pending: Option<(Unnamed, Region)> = None;
    for round in 0..ROUNDS {
        if round >= 4 {
            // Others are creating and removing this name as fast as we
            // look: let them finish.
            std::thread::yield_now();
        }
        if creating && opts.temporary {
            let (unnamed, mut region) = match pending.take() {
                Some(ready) => ready,
                None => {
                    let unnamed = Unnamed::create(path, opts.mode).map_err(&fail)?;
                    let mut region = map(unnamed.fd(), Origin::Unnamed)?;
                    let own = unnamed
                        .fd()
                        .try_clone()
                        .map_err(|e| fail(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
                    region.keep_object(own, offset);
                    (unnamed, region)
                }
            };
            match unnamed.publish(path) {
                Ok(user) => {
                    region.keep(Box::new(user));
                    return Ok(region);
                }
                Err((unnamed, libc::EEXIST)) => pending = Some((unnamed, region)),
                Err((_, e)) => return Err(fail(e)),
            }
        } else if creating {
            match open(libc::O_CREAT | libc::O_EXCL) {
                Ok(fd) => {
                    if let Some(mode) = opts.mode {
                        set_mode(path, &fd, mode, &fail)?;
                    }
                    let mut region = map(&fd, Origin::Created)?;
                    region.keep_object(fd, offset);
                    return Ok(region);
                }
                Err(libc::EEXIST) => {}
                Err(e) => return Err(fail(e)),
            }
        }
        let fd = match open(0) {
            Ok(fd) => fd,
            Err(libc::ENOENT) if creating => continue,
            Err(e) => return Err(fail(e)),
        };
        let user = match lifecycle::join(&fd, path).map_err(&fail)? {
            // Removed, or replaced while this lookup waited: look again.
            Join::Absent => continue,
            Join::Stuck if !creating => return Err(fail(libc::ENOENT)),
            Join::Stuck => return Err(stuck(path)),
            _ if opts.create == Create::Exclusive => return Err(fail(libc::EEXIST)),
            Join::Permanent => None,
            Join::Joined(user) => Some(user),
        };
        drop(pending);
        let mut region = map(&fd, Origin::Existing)?;
        region.keep_object(fd, offset);
        if let Some(user) = user {
            region.keep(Box::new(user));
        }
        return Ok(region);
    }
    Err(Error::new(
        ErrorKind::System,
        format!(
            "cannot open \"{}\": it was replaced or removed {ROUNDS} times while being looked up",
            sys_path(path)
        ),
    ))
}

/// Mode and temporary only mean something for an object a call creates.
fn check_lifetime_options(opts: &MapOptions) -> Result<()> {
    let invalid = |m: String| Err(Error::new(ErrorKind::InvalidArgument, m));
    match opts.mode {
        Some(m) if m & !0o777 != 0 => {
            return invalid(format!(
                "mode {m:#o} has bits outside 0777 (setuid, setgid, sticky or larger): only \
                 permission bits may be given"
            ))
        }
        Some(m) if opts.create == Create::Never => {
            return invalid(format!("mode {m:#o} is given without MAPIPC_CREATE"))
        }
        _ => {}
    }
    if opts.temporary && opts.create == Create::Never {
        return invalid("MAPIPC_TEMPORARY is given without MAPIPC_CREATE".into());
    }
    Ok(())
}

/// Gives a just-created object exactly `mode`, whatever the umask.
fn set_mode(path: &CStr, fd: &OwnedFd, mode: u32, fail: &impl Fn(i32) -> Error) -> Result<()> {
    crate::sys::fchmod(fd, mode as libc::mode_t).map_err(|e| {
        // SAFETY: path is NUL-terminated; the object is ours, just created.
        unsafe { libc::unlink(path.as_ptr()) };
        fail(e)
    })
}

fn stuck(path: &CStr) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "cannot create \"{}\": a stale temporary object of that name is in the way and this \
             process may not remove it",
            sys_path(path)
        ),
    )
}

fn sys_path(path: &CStr) -> std::path::Display<'_> {
    crate::sys::path_of(path).display()
}

/// Opens an object that may have to be created, telling whether this call
/// created it (so that a later failure knows what is its to remove).
/// `open` gets the extra flags (`O_CREAT | O_EXCL` or none) and returns the
/// raw errno. Creation is tried exclusively first; an object that appears
/// or vanishes in between makes it try again, a bounded number of times.
pub fn open_or_create<T>(
    create: Create,
    mut open: impl FnMut(libc::c_int) -> std::result::Result<T, i32>,
) -> std::result::Result<(T, bool), i32> {
    let excl = libc::O_CREAT | libc::O_EXCL;
    match create {
        Create::Never => open(0).map(|t| (t, false)),
        Create::Exclusive => open(excl).map(|t| (t, true)),
        Create::IfMissing => {
            for _ in 0..8 {
                match open(excl) {
                    Ok(t) => return Ok((t, true)),
                    Err(libc::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                match open(0) {
                    Ok(t) => return Ok((t, false)),
                    Err(libc::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(libc::ENOENT)
        }
    }
}
