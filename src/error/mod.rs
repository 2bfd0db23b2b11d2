//! Errors as Rust values: a kind (what went wrong, for callers to branch on),
//! the errno closest to it, and a message that names the object and numbers.
//! Owns the vocabulary every layer reports in; must not know how C sees it
//! (status codes and the thread-local message are `ffi`'s).

use std::fmt;

/// What went wrong, independent of how it is reported to C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// NULL or empty path, unknown or contradictory flags, overflow, bad id.
    InvalidArgument,
    /// The file, ftok path, key or named object does not exist.
    NotFound,
    /// Exclusive creation found it already there.
    AlreadyExists,
    /// The object cannot be opened with the access asked for.
    PermissionDenied,
    /// A directory, FIFO, socket, device: not a regular file.
    NotMappable,
    /// A zero-length file or object with no size given to create.
    EmptyFile,
    /// Offset or length reach past the end of the file or region.
    OutOfRange,
    /// An existing segment is smaller than the size asked for.
    SizeMismatch,
    /// A pointer that is not (the start of) a live region.
    NotMapped,
    /// Disk space, memory or a system limit ran out.
    NoSpace,
    /// Any other failure of the operating system.
    System,
    /// A bug in mapipc itself (a caught panic).
    Internal,
    /// A wait, lock, send or receive did not complete in time.
    TimedOut,
    /// The lock is now held by the caller, but its previous holder died
    /// holding it.
    OwnerDied,
    /// The lock was unlocked after an owner death without being made
    /// consistent; it can never be locked again.
    NotRecoverable,
    /// The calling thread already holds the lock.
    Deadlock,
    /// Another thread or process is using this end of a channel right now.
    Busy,
    /// A message larger than the channel or the receive buffer.
    TooLarge,
    /// The channel was closed, or the process on the other side died.
    Closed,
    /// The file behind a region shrank under the bytes touched.
    Truncated,
    /// An object whose size could still shrink where a sealed size was
    /// asked for.
    NotSealed,
}

impl ErrorKind {
    /// The errno reported when no system call supplied one.
    pub fn default_errno(self) -> i32 {
        match self {
            ErrorKind::InvalidArgument => libc::EINVAL,
            ErrorKind::NotFound => libc::ENOENT,
            ErrorKind::AlreadyExists => libc::EEXIST,
            ErrorKind::PermissionDenied => libc::EACCES,
            ErrorKind::NotMappable => libc::ENODEV,
            ErrorKind::EmptyFile => libc::EINVAL,
            ErrorKind::OutOfRange => libc::ENXIO,
            ErrorKind::SizeMismatch => libc::EINVAL,
            ErrorKind::NotMapped => libc::EINVAL,
            ErrorKind::NoSpace => libc::ENOMEM,
            ErrorKind::System => libc::EIO,
            ErrorKind::Internal => libc::ENOTRECOVERABLE,
            ErrorKind::TimedOut => libc::ETIMEDOUT,
            ErrorKind::OwnerDied => libc::EOWNERDEAD,
            ErrorKind::NotRecoverable => libc::ENOTRECOVERABLE,
            ErrorKind::Deadlock => libc::EDEADLK,
            ErrorKind::Busy => libc::EBUSY,
            ErrorKind::TooLarge => libc::EMSGSIZE,
            ErrorKind::Closed => libc::EPIPE,
            ErrorKind::Truncated => libc::EFAULT,
            ErrorKind::NotSealed => libc::EPERM,
        }
    }

    /// The kind a failed system call's errno stands for.
    pub fn from_errno(errno: i32) -> ErrorKind {
        match errno {
            libc::EINVAL | libc::ENAMETOOLONG => ErrorKind::InvalidArgument,
            libc::ENOENT | libc::ENOTDIR | libc::EIDRM => ErrorKind::NotFound,
            libc::EEXIST => ErrorKind::AlreadyExists,
            libc::EACCES | libc::EPERM | libc::EROFS | libc::ETXTBSY => ErrorKind::PermissionDenied,
            libc::EISDIR | libc::ENXIO | libc::ENODEV => ErrorKind::NotMappable,
            libc::ENOSPC
            | libc::ENOMEM
            | libc::EMFILE
            | libc::ENFILE
            | libc::EDQUOT
            | libc::EFBIG => ErrorKind::NoSpace,
            _ => ErrorKind::System,
        }
    }
}

/// A failure with everything a caller needs to report it.
///
/// Boxed, so that a `Result<(), Error>` is one register wide: the hot
/// paths (lock, unlock, wait) return it on every call and build an error
/// almost never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    errno: i32,
    message: String,
}

impl Error {
    /// A failure detected by mapipc's own checks.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            errno: kind.default_errno(),
            message: message.into(),
        }))
    }

    /// A failure of a system call that set `errno`; `what` says what was
    /// being done ("cannot open \"x\""), the OS reason is appended.
    pub fn from_os(errno: i32, what: impl fmt::Display) -> Error {
        Error::from_os_as(ErrorKind::from_errno(errno), errno, what)
    }

    /// Like [`Error::from_os`], with the kind chosen by the caller because
    /// the call's context gives the errno a more precise meaning.
    pub fn from_os_as(kind: ErrorKind, errno: i32, what: impl fmt::Display) -> Error {
        let reason = std::io::Error::from_raw_os_error(errno);
        Error(Box::new(Inner {
            kind,
            errno,
            message: format!("{what}: {}", strip_os_suffix(&reason.to_string())),
        }))
    }

    /// The same failure reported with another errno (e.g. EAGAIN for a
    /// timeout of zero).
    pub fn with_errno(mut self, errno: i32) -> Error {
        self.0.errno = errno;
        self
    }

    /// The errno of the last failed call on this thread, read at once.
    pub fn last_os(what: impl fmt::Display) -> Error {
        Error::from_os(errno::errno().0, what)
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn errno(&self) -> i32 {
        self.0.errno
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

// std renders "No such file or directory (os error 2)"; the number is noise
// in a message that C callers also get as errno.
fn strip_os_suffix(s: &str) -> &str {
    match s.rfind(" (os error ") {
        Some(i) => &s[..i],
        None => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

/// Result with mapipc's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_keep_errno_and_reason() {
        let e = Error::from_os(libc::ENOENT, "cannot open \"x\"");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.errno(), libc::ENOENT);
        assert_eq!(e.message(), "cannot open \"x\": No such file or directory");
    }

    #[test]
    fn limits_are_no_space() {
        for errno in [libc::ENOSPC, libc::ENOMEM, libc::EMFILE, libc::EDQUOT] {
            assert_eq!(ErrorKind::from_errno(errno), ErrorKind::NoSpace);
        }
        assert_eq!(ErrorKind::from_errno(libc::EBADF), ErrorKind::System);
    }
}
