//! POSIX named shared memory (`shm_open`): names validated, objects created
//! 0600 (or with the mode asked for, or temporary) with memory reserved up
//! front, sizes checked, and unlinked again by a call that fails after
//! creating one.

use std::ffi::{CStr, CString};
use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::{Error, ErrorKind, Result};
use crate::map::options::{Access, Create, MapOptions, Sharing};
use crate::map::Origin;
use crate::region::{Backing, Region, Source};
use crate::sys;

// Mode of objects mapipc creates: only the owner may read and write.
const CREATE_MODE: libc::mode_t = 0o600;

/// Longest name after the leading '/' (NAME_MAX of /dev/shm).
pub const MAX_NAME_LEN: usize = 255;

/// Checks a `shm_open` name: '/' followed by 1..=255 bytes, none of them
/// '/', and not "." or "..".
pub fn check_name(name: &CStr) -> Result<()> {
    let bytes = name.to_bytes();
    let shown = String::from_utf8_lossy(bytes);
    let bad = |why: &str| {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("shared memory name \"{shown}\" is invalid: {why}"),
        ))
    };
    match bytes.split_first() {
        None => bad("it is empty"),
        Some((b'/', [])) => bad("nothing follows the '/'"),
        Some((b'/', rest)) if rest.len() > MAX_NAME_LEN => bad(&format!(
            "{} bytes follow the '/', at most {MAX_NAME_LEN} are allowed",
            rest.len()
        )),
        Some((b'/', rest)) if rest.contains(&b'/') => bad("only its first character may be '/'"),
        Some((b'/', rest)) if rest == b"." || rest == b".." => {
            bad("\".\" and \"..\" name no object")
        }
        Some((b'/', _)) => Ok(()),
        Some(_) => bad("it must start with '/'"),
    }
}

fn shm_open(name: &CStr, flags: libc::c_int) -> std::result::Result<OwnedFd, i32> {
    // SAFETY: name is NUL-terminated; glibc adds O_NOFOLLOW and O_CLOEXEC.
    let fd = unsafe { libc::shm_open(name.as_ptr(), flags | libc::O_CLOEXEC, CREATE_MODE) };
    if fd < 0 {
        Err(errno::errno().0)
    } else {
        // SAFETY: fd was just returned by shm_open and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// Opens (and with [`Create`] creates) the object `name` and maps it.
/// A created object gets `size` bytes of reserved memory (`NoSpace` if
/// /dev/shm is full, instead of SIGBUS later). On an existing object
/// `size == 0` maps all of it, a larger `size` is `SizeMismatch`, and an
/// empty object is `EmptyFile`.
pub fn open_name(name: &CStr, size: usize, opts: MapOptions) -> Result<Region> {
    check_name(name)?;
    let shown = String::from_utf8_lossy(name.to_bytes()).into_owned();
    let what = format!("shared memory object \"{shown}\"");
    if size == 0 && opts.create != Create::Never {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot create {what} with size 0: give its size"),
        ));
    }
    i64::try_from(size).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("size {size} of {what} is larger than any object can be"),
        )
    })?;
    let rw = opts.create != Create::Never
        || (opts.access == Access::ReadWrite && opts.sharing == Sharing::Shared);
    let base = if rw { libc::O_RDWR } else { libc::O_RDONLY };
    let how = if rw { "reading and writing" } else { "reading" };
    let path = object_path(name)?;
    crate::map::open_named(
        &path,
        opts,
        0,
        |extra| shm_open(name, base | extra),
        |e| Error::from_os(e, format!("cannot open {what} for {how}")),
        |fd, origin| map_object(name, fd, origin, size, opts, &what),
    )
}

/// Where the object `name` lives in the file system (glibc's shm_open
/// directory), for what is done to it by path: publishing, removal.
fn object_path(name: &CStr) -> Result<CString> {
    let mut path = crate::lifecycle::SHM_DIR.as_bytes().to_vec();
    path.extend_from_slice(name.to_bytes());
    CString::new(path).map_err(|_| Error::new(ErrorKind::InvalidArgument, "name has a NUL"))
}

/// Sizes (when new) or checks (when existing) the object open at `fd`, and
/// maps it. A failure removes an object this call created by name.
fn map_object(
    name: &CStr,
    fd: &OwnedFd,
    origin: Origin,
    size: usize,
    opts: MapOptions,
    what: &str,
) -> Result<Region> {
    let undo = |err: Error| {
        if origin == Origin::Created {
            // SAFETY: name is NUL-terminated.
            unsafe { libc::shm_unlink(name.as_ptr()) };
        }
        err
    };
    let len = if origin == Origin::Existing {
        existing_len(fd, size, what)?
    } else {
        // Reserve the memory now: a hole would raise SIGBUS on first touch
        // once /dev/shm is full. Cannot overflow: checked by open_name.
        sys::fallocate(fd, 0, size as i64).map_err(|e| {
            let kind = match e {
                libc::ENOSPC | libc::EFBIG | libc::ENOMEM => ErrorKind::NoSpace,
                _ => ErrorKind::from_errno(e),
            };
            undo(Error::from_os_as(
                kind,
                e,
                format!("cannot reserve {size} bytes for {what}"),
            ))
        })?;
        size
    };
    let region = Region::mmap(
        Source::Shmem(fd),
        0,
        0,
        len,
        opts.prot(),
        opts.map_flags(),
        Backing::File,
    )
    .map_err(|e| {
        undo(Error::from_os(
            e,
            format!("cannot map {len} bytes of {what}"),
        ))
    })?;
    if opts.guarded {
        // Another process may shrink the object with ftruncate, as a file.
        return crate::guard::protect(region, fd, 0).map_err(undo);
    }
    Ok(region)
}

/// The bytes to map of an existing object: all of it for `size == 0`.
fn existing_len(fd: &OwnedFd, size: usize, what: &str) -> Result<usize> {
    let st = sys::fstat(fd).map_err(|e| Error::from_os(e, format!("cannot inspect {what}")))?;
    let have = st.st_size;
    if have == 0 {
        return Err(Error::new(
            ErrorKind::EmptyFile,
            format!("{what} is 0 bytes long: nothing to map"),
        ));
    }
    if size as u64 > have as u64 {
        return Err(Error::new(
            ErrorKind::SizeMismatch,
            format!("{what} is {have} bytes, smaller than the {size} bytes asked for"),
        ));
    }
    if size != 0 {
        return Ok(size);
    }
    usize::try_from(have)
        .map_err(|_| Error::new(ErrorKind::NoSpace, format!("{what} is too large to map")))
}

/// Removes the name; the memory goes when the last mapping is unmapped.
pub fn unlink_name(name: &CStr) -> Result<()> {
    check_name(name)?;
    // SAFETY: name is NUL-terminated.
    if unsafe { libc::shm_unlink(name.as_ptr()) } < 0 {
        return Err(Error::last_os(format!(
            "cannot unlink shared memory object \"{}\"",
            String::from_utf8_lossy(name.to_bytes())
        )));
    }
    Ok(())
}

/// Convenience for Rust callers holding a `&str`.
pub fn name(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("shared memory name {s:?} contains a NUL byte"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["/a", "/mapipc-test", &format!("/{}", "x".repeat(255))] {
            assert!(check_name(&name(good).unwrap()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/",
            "a",
            "a/b",
            "/a/b",
            "/.",
            "/..",
            &format!("/{}", "x".repeat(256)),
        ] {
            let err = check_name(&name(bad).unwrap()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
