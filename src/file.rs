//! Mapping regular files: every check that turns a later SIGBUS or SIGSEGV
//! into an error now, and the undo that leaves nothing behind on failure.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::options::{Access, Create, MapOptions, Sharing};
use crate::region::{Backing, Region};
use crate::sys::{self, page_size};

// Mode of files mapipc creates: only the owner may read and write.
const CREATE_MODE: libc::mode_t = 0o600;

/// Maps `length` bytes of the file at `path` starting at byte `offset`
/// (any offset; the region's pointer is at that byte). `length == 0` maps
/// to the current end of the file.
///
/// Without [`Create`], a range past the end of the file is refused with
/// `OutOfRange` and an empty file with `EmptyFile`. With it, a missing file
/// is created (mode 0600) and a short one is extended with allocated blocks.
/// A failed call leaves no file it created, no extension, no mapping and no
/// descriptor behind.
pub fn map_file(path: &Path, offset: u64, length: usize, opts: MapOptions) -> Result<Region> {
    map_file_c(&sys::c_path(path)?, offset, length, opts)
}

/// [`map_file`] for a path that is already a C string (saves a copy).
pub fn map_file_c(cpath: &CStr, offset: u64, length: usize, opts: MapOptions) -> Result<Region> {
    if cpath.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "the path is empty"));
    }
    let path = sys::path_of(cpath);
    let shown = path.display();

    let offset_i64 = i64::try_from(offset).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("offset {offset} of \"{shown}\" is larger than any file can be"),
        )
    })?;
    // End of the requested range, when a length is given.
    let end = if length == 0 {
        None
    } else {
        let end = offset
            .checked_add(length as u64)
            .and_then(|e| i64::try_from(e).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "cannot map {length} bytes at offset {offset} of \"{shown}\": \
                         offset + length overflows a file offset"
                    ),
                )
            })?;
        Some(end)
    };

    let (fd, created) = open_for_map(cpath, path, opts)?;
    let mut undo = Undo {
        fd: &fd,
        cpath,
        created,
        restore_size: None,
    };

    let st = sys::fstat(&fd).map_err(|e| Error::from_os(e, format!("cannot stat \"{shown}\"")));
    let st = match st {
        Ok(st) => st,
        Err(e) => return Err(undo.fail(e)),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(undo.fail(Error::new(
            ErrorKind::NotMappable,
            format!(
                "cannot map \"{shown}\": it is {}, only regular files can be mapped",
                sys::file_type_name(st.st_mode)
            ),
        )));
    }
    let size = st.st_size;

    let (end, length) = match end {
        None => {
            if size == 0 {
                return Err(undo.fail(Error::new(
                    ErrorKind::EmptyFile,
                    format!(
                        "cannot map \"{shown}\" to its end: the file is 0 bytes long \
                         (give a length and MAPIPC_CREATE to size it)"
                    ),
                )));
            }
            if offset_i64 >= size {
                return Err(undo.fail(Error::new(
                    ErrorKind::OutOfRange,
                    format!(
                        "cannot map \"{shown}\" from offset {offset} to its end: \
                         the file is {size} bytes long"
                    ),
                )));
            }
            let rest = usize::try_from(size - offset_i64).map_err(|_| {
                Error::new(
                    ErrorKind::NoSpace,
                    format!(
                        "cannot map \"{shown}\" from offset {offset} to its end: \
                         {} bytes do not fit in the address space",
                        size - offset_i64
                    ),
                )
            });
            match rest {
                Ok(rest) => (size, rest),
                Err(e) => return Err(undo.fail(e)),
            }
        }
        Some(end) => (end, length),
    };

    if end > size {
        if opts.create == Create::Never {
            let err = if size == 0 {
                Error::new(
                    ErrorKind::EmptyFile,
                    format!(
                        "cannot map {length} bytes at offset {offset} of \"{shown}\": \
                         the file is 0 bytes long"
                    ),
                )
            } else {
                Error::new(
                    ErrorKind::OutOfRange,
                    format!(
                        "cannot map {length} bytes at offset {offset} of \"{shown}\": \
                         the file is {size} bytes long, the range ends {} bytes past its end",
                        end - size
                    ),
                )
            };
            return Err(undo.fail(err));
        }
        // Real blocks, not a hole: a hole that cannot be filled when the disk
        // is full raises SIGBUS on first touch instead of an error here.
        undo.restore_size = Some(size);
        if let Err(e) = sys::fallocate(&fd, size, end - size) {
            let kind = match e {
                libc::EFBIG | libc::ENOSPC | libc::EDQUOT => ErrorKind::NoSpace,
                _ => ErrorKind::from_errno(e),
            };
            return Err(undo.fail(Error::from_os_as(
                kind,
                e,
                format!(
                    "cannot extend \"{shown}\" from {size} to {end} bytes with allocated blocks"
                ),
            )));
        }
    }

    let page = page_size() as u64;
    let lead = (offset % page) as usize;
    let aligned = offset_i64 - lead as i64;
    let region = Region::mmap(
        Some(&fd),
        aligned,
        lead,
        length,
        opts.prot(),
        opts.map_flags(),
        Backing::File,
    );
    match region {
        Ok(region) => Ok(region),
        Err(e) => Err(undo.fail(Error::from_os(
            e,
            format!(
                "mmap of {} bytes at file offset {aligned} (page size {page}) of \"{shown}\" failed",
                length as u128 + lead as u128
            ),
        ))),
    }
}

/// Opens with the least access the request needs. Returns whether this call
/// created the file. Never blocks on a FIFO (`O_NONBLOCK`) and never
/// acquires a controlling terminal (`O_NOCTTY`).
fn open_for_map(cpath: &CStr, path: &Path, opts: MapOptions) -> Result<(OwnedFd, bool)> {
    // Shared writable mappings need a read-write descriptor; creating or
    // extending needs one too. Copy-on-write of a read-only file does not.
    let rw = opts.create != Create::Never
        || (opts.access == Access::ReadWrite && opts.sharing == Sharing::Shared);
    let base = libc::O_NONBLOCK | libc::O_NOCTTY | if rw { libc::O_RDWR } else { libc::O_RDONLY };
    let how = if rw { "reading and writing" } else { "reading" };
    let shown = path.display();
    let fail = |e: i32| {
        let kind = match e {
            // EISDIR: a directory asked for write; ENXIO: a socket;
            // ENODEV: a device special file with no driver.
            libc::EISDIR | libc::ENXIO | libc::ENODEV => ErrorKind::NotMappable,
            _ => ErrorKind::from_errno(e),
        };
        Error::from_os_as(kind, e, format!("cannot open \"{shown}\" for {how}"))
    };

    sys::open_or_create(opts.create, |extra| {
        sys::open(cpath, base | extra, CREATE_MODE)
    })
    .map_err(fail)
}

/// Undoes what a failing `map_file` did to the file system.
struct Undo<'a> {
    fd: &'a OwnedFd,
    cpath: &'a CStr,
    created: bool,
    restore_size: Option<i64>,
}

impl Undo<'_> {
    fn fail(&mut self, err: Error) -> Error {
        if self.created {
            // Remove the path only if it still names the file we created.
            if let Ok(ours) = sys::fstat(self.fd) {
                let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
                // SAFETY: cpath is NUL-terminated; st is writable and sized.
                let rc = unsafe { libc::stat(self.cpath.as_ptr(), st.as_mut_ptr()) };
                if rc == 0 {
                    // SAFETY: stat succeeded and filled st.
                    let now = unsafe { st.assume_init() };
                    if now.st_dev == ours.st_dev && now.st_ino == ours.st_ino {
                        // SAFETY: cpath is NUL-terminated.
                        unsafe { libc::unlink(self.cpath.as_ptr()) };
                    }
                }
            }
        } else if let Some(size) = self.restore_size {
            let _ = sys::ftruncate(self.fd, size);
        }
        err
    }
}
