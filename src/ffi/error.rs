//! Status codes. Values are pinned: a retired code stays reserved forever.

use std::ffi::c_char;

use crate::error::ErrorKind;

/// Result of every fallible mapipc function: `MAPIPC_OK` (0) or one of the
/// `MAPIPC_ERR_*` codes. On failure `errno` is set and
/// `mapipc_last_error()` describes the cause.
pub type mapipc_status = i32;

/// Success.
pub const MAPIPC_OK: mapipc_status = 0;
/// NULL or empty path, unknown or contradictory flags, arithmetic overflow,
/// bad project id or name. errno EINVAL.
pub const MAPIPC_ERR_INVALID_ARGUMENT: mapipc_status = 1;
/// The file, ftok path, key or named segment does not exist. errno ENOENT.
pub const MAPIPC_ERR_NOT_FOUND: mapipc_status = 2;
/// MAPIPC_CREATE | MAPIPC_EXCLUSIVE and it exists. errno EEXIST.
pub const MAPIPC_ERR_ALREADY_EXISTS: mapipc_status = 3;
/// The object cannot be opened with the access asked for. errno EACCES
/// (or EPERM / EROFS as the system reported it).
pub const MAPIPC_ERR_PERMISSION_DENIED: mapipc_status = 4;
/// A directory, FIFO, socket or device: only regular files can be mapped.
/// errno ENODEV (EISDIR for a directory opened for writing).
pub const MAPIPC_ERR_NOT_MAPPABLE: mapipc_status = 5;
/// Mapping a zero-length file or object without a size to create.
/// errno EINVAL.
pub const MAPIPC_ERR_EMPTY_FILE: mapipc_status = 6;
/// Offset/length reach past the end of the file or region. errno ENXIO.
pub const MAPIPC_ERR_OUT_OF_RANGE: mapipc_status = 7;
/// An existing segment is smaller than the size asked for. errno EINVAL.
pub const MAPIPC_ERR_SIZE_MISMATCH: mapipc_status = 8;
/// Not the start of (for sync: not inside) a live mapipc region.
/// errno EINVAL.
pub const MAPIPC_ERR_NOT_MAPPED: mapipc_status = 9;
/// No disk space or memory, or a system limit (ENOSPC, ENOMEM, EMFILE,
/// EDQUOT, SHMMAX...); errno says which.
pub const MAPIPC_ERR_NO_SPACE: mapipc_status = 10;
/// Any other OS failure; errno and the message say which.
pub const MAPIPC_ERR_SYSTEM: mapipc_status = 11;
/// A bug inside mapipc was caught before it could crash the program.
/// errno ENOTRECOVERABLE. Please report it with the message.
pub const MAPIPC_ERR_INTERNAL: mapipc_status = 12;
/// A wait, lock, send or receive did not complete within its timeout.
/// errno ETIMEDOUT, or EAGAIN when the timeout was 0 (one try, no wait).
pub const MAPIPC_ERR_TIMED_OUT: mapipc_status = 13;
/// The lock is now held by the caller, but its previous holder (a thread or
/// process) ended while holding it. Repair the data it protects, call
/// mapipc_mutex_consistent(), then unlock. errno EOWNERDEAD.
pub const MAPIPC_ERR_OWNER_DIED: mapipc_status = 14;
/// The lock was unlocked after an owner death without
/// mapipc_mutex_consistent(); every later lock fails so. errno
/// ENOTRECOVERABLE.
pub const MAPIPC_ERR_NOT_RECOVERABLE: mapipc_status = 15;
/// The calling thread already holds this lock. errno EDEADLK.
pub const MAPIPC_ERR_DEADLOCK: mapipc_status = 16;
/// Another thread or process is sending (or receiving) on this channel
/// right now. errno EBUSY.
pub const MAPIPC_ERR_BUSY: mapipc_status = 17;
/// A message larger than the channel can ever hold, or a receive buffer
/// smaller than the next message (which stays queued). errno EMSGSIZE.
pub const MAPIPC_ERR_TOO_LARGE: mapipc_status = 18;
/// The channel was closed, or the process on the other side died.
/// errno EPIPE.
pub const MAPIPC_ERR_CLOSED: mapipc_status = 19;
/// The file behind a region shrank (or could not be read) under the bytes
/// touched. errno EFAULT or EIO.
pub const MAPIPC_ERR_TRUNCATED: mapipc_status = 20;
/// MAPIPC_SEALED was asked for, but the object's size is not sealed against
/// shrinking (F_SEAL_SHRINK), or it cannot be sealed at all: a mapping of it
/// could fault. Nothing was mapped. errno EPERM.
pub const MAPIPC_ERR_NOT_SEALED: mapipc_status = 21;

/// The status code for an error kind.
pub(crate) fn status_of(kind: ErrorKind) -> mapipc_status {
    match kind {
        ErrorKind::InvalidArgument => MAPIPC_ERR_INVALID_ARGUMENT,
        ErrorKind::NotFound => MAPIPC_ERR_NOT_FOUND,
        ErrorKind::AlreadyExists => MAPIPC_ERR_ALREADY_EXISTS,
        ErrorKind::PermissionDenied => MAPIPC_ERR_PERMISSION_DENIED,
        ErrorKind::NotMappable => MAPIPC_ERR_NOT_MAPPABLE,
        ErrorKind::EmptyFile => MAPIPC_ERR_EMPTY_FILE,
        ErrorKind::OutOfRange => MAPIPC_ERR_OUT_OF_RANGE,
        ErrorKind::SizeMismatch => MAPIPC_ERR_SIZE_MISMATCH,
        ErrorKind::NotMapped => MAPIPC_ERR_NOT_MAPPED,
        ErrorKind::NoSpace => MAPIPC_ERR_NO_SPACE,
        ErrorKind::System => MAPIPC_ERR_SYSTEM,
        ErrorKind::Internal => MAPIPC_ERR_INTERNAL,
        ErrorKind::TimedOut => MAPIPC_ERR_TIMED_OUT,
        ErrorKind::OwnerDied => MAPIPC_ERR_OWNER_DIED,
        ErrorKind::NotRecoverable => MAPIPC_ERR_NOT_RECOVERABLE,
        ErrorKind::Deadlock => MAPIPC_ERR_DEADLOCK,
        ErrorKind::Busy => MAPIPC_ERR_BUSY,
        ErrorKind::TooLarge => MAPIPC_ERR_TOO_LARGE,
        ErrorKind::Closed => MAPIPC_ERR_CLOSED,
        ErrorKind::Truncated => MAPIPC_ERR_TRUNCATED,
        ErrorKind::NotSealed => MAPIPC_ERR_NOT_SEALED,
    }
}

/// The name of a status code as a static string, e.g.
/// "MAPIPC_ERR_NOT_FOUND". Never NULL: an unknown value gives
/// "MAPIPC_UNKNOWN_STATUS".
#[no_mangle]
pub extern "C" fn mapipc_status_name(status: mapipc_status) -> *const c_char {
    let name: &'static [u8] = match status {
        MAPIPC_OK => b"MAPIPC_OK\0",
        MAPIPC_ERR_INVALID_ARGUMENT => b"MAPIPC_ERR_INVALID_ARGUMENT\0",
        MAPIPC_ERR_NOT_FOUND => b"MAPIPC_ERR_NOT_FOUND\0",
        MAPIPC_ERR_ALREADY_EXISTS => b"MAPIPC_ERR_ALREADY_EXISTS\0",
        MAPIPC_ERR_PERMISSION_DENIED => b"MAPIPC_ERR_PERMISSION_DENIED\0",
        MAPIPC_ERR_NOT_MAPPABLE => b"MAPIPC_ERR_NOT_MAPPABLE\0",
        MAPIPC_ERR_EMPTY_FILE => b"MAPIPC_ERR_EMPTY_FILE\0",
        MAPIPC_ERR_OUT_OF_RANGE => b"MAPIPC_ERR_OUT_OF_RANGE\0",
        MAPIPC_ERR_SIZE_MISMATCH => b"MAPIPC_ERR_SIZE_MISMATCH\0",
        MAPIPC_ERR_NOT_MAPPED => b"MAPIPC_ERR_NOT_MAPPED\0",
        MAPIPC_ERR_NO_SPACE => b"MAPIPC_ERR_NO_SPACE\0",
        MAPIPC_ERR_SYSTEM => b"MAPIPC_ERR_SYSTEM\0",
        MAPIPC_ERR_INTERNAL => b"MAPIPC_ERR_INTERNAL\0",
        MAPIPC_ERR_TIMED_OUT => b"MAPIPC_ERR_TIMED_OUT\0",
        MAPIPC_ERR_OWNER_DIED => b"MAPIPC_ERR_OWNER_DIED\0",
        MAPIPC_ERR_NOT_RECOVERABLE => b"MAPIPC_ERR_NOT_RECOVERABLE\0",
        MAPIPC_ERR_DEADLOCK => b"MAPIPC_ERR_DEADLOCK\0",
        MAPIPC_ERR_BUSY => b"MAPIPC_ERR_BUSY\0",
        MAPIPC_ERR_TOO_LARGE => b"MAPIPC_ERR_TOO_LARGE\0",
        MAPIPC_ERR_CLOSED => b"MAPIPC_ERR_CLOSED\0",
        MAPIPC_ERR_TRUNCATED => b"MAPIPC_ERR_TRUNCATED\0",
        MAPIPC_ERR_NOT_SEALED => b"MAPIPC_ERR_NOT_SEALED\0",
        _ => b"MAPIPC_UNKNOWN_STATUS\0",
    };
    name.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_kind_has_a_distinct_named_status() {
        use ErrorKind::*;
        let kinds = [
            InvalidArgument,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            NotMappable,
            EmptyFile,
            OutOfRange,
            SizeMismatch,
            NotMapped,
            NoSpace,
            System,
            Internal,
            TimedOut,
            OwnerDied,
            NotRecoverable,
            Deadlock,
            Busy,
            TooLarge,
            Closed,
            Truncated,
            NotSealed,
        ];
        let mut seen = std::collections::HashSet::new();
        for kind in kinds {
            let status = status_of(kind);
            assert!(status != MAPIPC_OK && seen.insert(status));
            // SAFETY: mapipc_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(mapipc_status_name(status)) };
            assert!(name.to_str().unwrap().starts_with("MAPIPC_ERR_"));
        }
        assert_eq!(status_of(TimedOut), 13, "version 2 values are pinned");
        assert_eq!(status_of(Truncated), 20, "version 2 values are pinned");
        assert_eq!(status_of(NotSealed), 21, "version 3 values are pinned");
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(mapipc_status_name(-7)) };
        assert_eq!(unknown.to_str().unwrap(), "MAPIPC_UNKNOWN_STATUS");
    }
}
