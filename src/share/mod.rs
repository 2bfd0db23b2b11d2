//! Shared memory with no name anywhere: memfd regions with sealed sizes
//! ([`memfd`]), mapping any descriptor and handing a region's descriptor out
//! ([`fd`]), and passing regions over UNIX sockets ([`pass`]). Owns what it
//! checks of a descriptor (access mode, seals) and the wire format of a
//! passed region; must not trust a received message over what the kernel
//! says of the descriptor, nor leave a received descriptor open on failure.

pub mod fd;
pub mod memfd;
pub mod pass;

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, ErrorKind, Result};

/// Whether a mapping needs the object's size sealed against shrinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSeal {
    /// Any object: one that shrinks later makes touching its lost pages
    /// fault (unless the region is guarded).
    Any,
    /// Only an object with `F_SEAL_SHRINK`, so that no access can fault;
    /// else `NotSealed`.
    Required,
}

/// How messages name what is worked on: formatted only when a message is
/// made, so that a call that succeeds builds no string.
pub(crate) type Shown<'a> = &'a dyn fmt::Display;

/// A descriptor as messages name it: "descriptor 5".
struct Descriptor(RawFd);

impl fmt::Display for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "descriptor {}", self.0)
    }
}

/// `fcntl(fd, F_GETFL)`: the descriptor's status flags and access mode.
fn status_flags(fd: BorrowedFd<'_>) -> std::result::Result<libc::c_int, i32> {
    // SAFETY: F_GETFL reads no memory; a bad descriptor gives EBADF.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        Err(errno::errno().0)
    } else {
        Ok(flags)
    }
}

/// `fcntl(fd, F_GET_SEALS)`; EINVAL for an object that cannot be sealed.
fn seals(fd: BorrowedFd<'_>) -> std::result::Result<libc::c_int, i32> {
    // SAFETY: F_GET_SEALS reads no memory.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        Err(errno::errno().0)
    } else {
        Ok(seals)
    }
}

/// A new `O_CLOEXEC` descriptor for the same open file (`F_DUPFD_CLOEXEC`).
fn dup(fd: BorrowedFd<'_>, shown: Shown) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC reads no memory; the result is a new
    // descriptor owned by nobody else.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        let e = errno::errno().0;
        let kind = match e {
            libc::EBADF => ErrorKind::InvalidArgument,
            _ => ErrorKind::from_errno(e),
        };
        return Err(Error::from_os_as(
            kind,
            e,
            format!("cannot duplicate {shown}"),
        ));
    }
    // SAFETY: just returned by fcntl, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}
