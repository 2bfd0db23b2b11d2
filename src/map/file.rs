//! Mapping regular files: every check that turns a later SIGBUS or SIGSEGV
//! into an error now, and the undo that leaves nothing behind on failure.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::options::{Access, Create, MapOptions, Sharing};
use super::Origin;
use crate::error::{Error, ErrorKind, Result};
use crate::region::{Backing, Region, Source};
use crate::sys::{self, page_size};

// Mode of files mapipc creates: only the owner may read and write.
const CREATE_MODE: libc::mode_t = 0o600;

/// Maps `length` bytes of the file at `path` starting at byte `offset`
/// (any offset; the region's pointer is at that byte). `length == 0` maps
/// to the current end of the file.
///
/// Without [`Create`], a range past the end of the file is refused with
/// `OutOfRange` and an empty file with `EmptyFile`. With it, a missing file
/// is created (mode 0600 filtered by the umask, or exactly
/// [`MapOptions::mode`](MapOptions#structfield.mode)) and a short one is
/// extended with allocated blocks. Stale temporary files count as absent.
/// A failed call leaves no file it created, no extension, no mapping and no
/// descriptor behind.
pub fn map_file(path: &Path, offset: u64, length: usize, opts: MapOptions) -> Result<Region> {
    map_file_c(&sys::c_path(path)?, offset, length, opts)
}

/// [`map_file`] for a path that is already a C string (saves a copy).
///
/// Five steps: check the numbers, open, check the file, make the range
/// exist, map. Whatever a step after the open changed is undone on failure.
/// The region keeps the descriptor (see [`Region::object`]).
pub fn map_file_c(cpath: &CStr, offset: u64, length: usize, opts: MapOptions) -> Result<Region> {
    if cpath.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "the path is empty"));
    }
    let path = sys::path_of(cpath);
    let req = Request::new(Subject::Path(path), offset, length)?;
    let (flags, fail) = open_for_map(path, opts);
    let no_more = |_: &OwnedFd| Ok(Kind::File);
    super::open_named(
        cpath,
        opts,
        offset,
        |extra| sys::open(cpath, flags | extra, CREATE_MODE),
        fail,
        |fd, origin| {
            let mut undo = Undo {
                fd,
                cpath: Some(cpath),
                created: origin == Origin::Created,
                restore_size: None,
            };
            map_opened(&req, fd, opts, &no_more, &mut undo).map_err(|e| undo.fail(e))
        },
    )
}

/// What a caller checks of an open object once it is known to be a regular
/// file, before anything else is done with it; it tells what it learned.
pub(crate) type Check<'a> = &'a dyn Fn(&OwnedFd) -> Result<Kind>;

/// What kind of regular file an object is, as far as placing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A file (or not known to be anything else): placed for large folios.
    File,
    /// Shared memory (sealable: a memfd or tmpfs object), which the kernel
    /// places itself.
    Shmem,
}

/// Maps `length` bytes (0: to the end) from byte `offset` of an object
/// that is already open as `fd`, with every check [`map_file`] makes after
/// its open (type, size, empty, range). Never creates or extends: the
/// options' [`Create`] is ignored. The region keeps `fd`; on failure it is
/// closed. `shown` names the object in messages. `check` is the caller's
/// part (the descriptor's access mode against the options).
pub(crate) fn map_open_object(
    fd: OwnedFd,
    shown: &dyn std::fmt::Display,
    offset: u64,
    length: usize,
    opts: MapOptions,
    check: Check,
) -> Result<Region> {
    let req = Request::new(Subject::Named(shown), offset, length)?;
    let mut undo = Undo {
        fd: &fd,
        cpath: None,
        created: false,
        restore_size: None,
    };
    let mut region = map_opened(&req, &fd, opts.create(Create::Never), check, &mut undo)?;
    region.keep_object(fd, offset);
    Ok(region)
}

/// What is being mapped, as messages name it.
#[derive(Clone, Copy)]
enum Subject<'a> {
    /// A file by path: shown in quotes.
    Path(&'a Path),
    /// An object with no path ("descriptor 5"): shown as it displays.
    Named(&'a dyn std::fmt::Display),
}

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Path(p) => write!(f, "\"{}\"", p.display()),
            Subject::Named(s) => s.fmt(f),
        }
    }
}

/// A mapping request whose numbers have been checked.
struct Request<'a> {
    shown: Subject<'a>,
    offset: u64,
    /// `offset` as a file offset (it fits in `i64`).
    start: i64,
    /// Bytes asked for; 0 means to the end of the file.
    length: usize,
}

impl Request<'_> {
    fn new(shown: Subject<'_>, offset: u64, length: usize) -> Result<Request<'_>> {
        let start = i64::try_from(offset).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("offset {offset} of {shown} is larger than any file can be"),
            )
        })?;
        let req = Request {
            shown,
            offset,
            start,
            length,
        };
        if length > 0 && req.end(length).is_none() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "cannot map {length} bytes at offset {offset} of {shown}: offset + length \
                     overflows a file offset"
                ),
            ));
        }
        Ok(req)
    }

    /// Where `length` bytes from the offset end, if that is a file offset.
    fn end(&self, length: usize) -> Option<i64> {
        self.offset
            .checked_add(length as u64)
            .and_then(|e| i64::try_from(e).ok())
    }

    fn error(&self, kind: ErrorKind, what: impl std::fmt::Display) -> Error {
        Error::new(kind, format!("cannot map {what}"))
    }
}

/// Steps three to five, on the open file.
fn map_opened(
    req: &Request,
    fd: &OwnedFd,
    opts: MapOptions,
    check: Check,
    undo: &mut Undo,
) -> Result<Region> {
    let size = regular_file_size(req, fd)?;
    let kind = check(fd)?;
    // Seals bind only from when `check` read them: whoever else holds the
    // object may have shrunk it and then sealed it since. Read it again.
    let size = match kind {
        Kind::Shmem => regular_file_size(req, fd)?,
        Kind::File => size,
    };
    let length = length_within(req, size)?;
    // Cannot fail: checked in Request::new, or length reaches only to `size`.
    let end = req.end(length).unwrap_or(i64::MAX);
    if end > size {
        extend(req, fd, size, end, length, opts, undo)?;
    }
    map_range(req, fd, length, opts, kind)
}

/// The file's size, after checking it is a regular file.
fn regular_file_size(req: &Request, fd: &OwnedFd) -> Result<i64> {
    let shown = req.shown;
    let st = sys::fstat(fd).map_err(|e| Error::from_os(e, format!("cannot stat {shown}")))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(req.error(
            ErrorKind::NotMappable,
            format_args!(
                "{shown}: it is {}, only regular files can be mapped",
                sys::file_type_name(st.st_mode)
            ),
        ));
    }
    Ok(st.st_size)
}

/// The number of bytes to map: the length asked for, or for 0 what lies
/// between the offset and the end of a `size`-byte file.
fn length_within(req: &Request, size: i64) -> Result<usize> {
    if req.length > 0 {
        return Ok(req.length);
    }
    let shown = req.shown;
    let offset = req.offset;
    if size == 0 {
        let hint = match shown {
            Subject::Path(_) => " (give a length and MAPIPC_CREATE to size it)",
            Subject::Named(_) => "",
        };
        return Err(req.error(
            ErrorKind::EmptyFile,
            format_args!("{shown} to its end: the file is 0 bytes long{hint}"),
        ));
    }
    if req.start >= size {
        return Err(req.error(
            ErrorKind::OutOfRange,
            format_args!("{shown} from offset {offset} to its end: the file is {size} bytes long"),
        ));
    }
    usize::try_from(size - req.start).map_err(|_| {
        req.error(
            ErrorKind::NoSpace,
            format_args!(
                "{shown} from offset {offset} to its end: {} bytes do not fit in the \
                 address space",
                size - req.start
            ),
        )
    })
}

/// Makes the file `end` bytes long with allocated blocks, if the options
/// allow creating; else the range is refused.
fn extend(
    req: &Request,
    fd: &OwnedFd,
    size: i64,
    end: i64,
    length: usize,
    opts: MapOptions,
    undo: &mut Undo,
) -> Result<()> {
    let shown = req.shown;
    let offset = req.offset;
    if opts.create == Create::Never {
        return Err(if size == 0 {
            req.error(
                ErrorKind::EmptyFile,
                format_args!(
                    "{length} bytes at offset {offset} of {shown}: the file is 0 bytes long"
                ),
            )
        } else {
            req.error(
                ErrorKind::OutOfRange,
                format_args!(
                    "{length} bytes at offset {offset} of {shown}: the file is {size} bytes \
                     long, the range ends {} bytes past its end",
                    end - size
                ),
            )
        });
    }
    // Real blocks, not a hole: a hole that cannot be filled when the disk
    // is full raises SIGBUS on first touch instead of an error here.
    undo.restore_size = Some(size);
    sys::fallocate(fd, size, end - size).map_err(|e| {
        let kind = match e {
            libc::EFBIG | libc::ENOSPC | libc::EDQUOT => ErrorKind::NoSpace,
            _ => ErrorKind::from_errno(e),
        };
        Error::from_os_as(
            kind,
            e,
            format!("cannot extend {shown} from {size} to {end} bytes with allocated blocks"),
        )
    })
}

/// The mapping itself, from the page that holds the offset.
fn map_range(
    req: &Request,
    fd: &OwnedFd,
    length: usize,
    opts: MapOptions,
    kind: Kind,
) -> Result<Region> {
    let page = page_size() as u64;
    let lead = (req.offset % page) as usize;
    let aligned = req.start - lead as i64;
    let source = match kind {
        Kind::File => Source::File(fd),
        Kind::Shmem => Source::Shmem(fd),
    };
    let region = Region::mmap(
        source,
        aligned,
        lead,
        length,
        opts.prot(),
        opts.map_flags(),
        Backing::File,
    )
    .map_err(|e| {
        Error::from_os(
            e,
            format!(
                "mmap of {} bytes at file offset {aligned} (page size {page}) of {} failed",
                length as u128 + lead as u128,
                req.shown
            ),
        )
    })?;
    if opts.guarded {
        return crate::guard::protect(region, fd, aligned as u64);
    }
    Ok(region)
}

/// The open flags with the least access the request needs, and how an
/// errno of opening is worded. Never blocks on a FIFO (`O_NONBLOCK`) and
/// never acquires a controlling terminal (`O_NOCTTY`).
fn open_for_map(path: &Path, opts: MapOptions) -> (libc::c_int, impl Fn(i32) -> Error + '_) {
    // Shared writable mappings need a read-write descriptor; creating or
    // extending needs one too. Copy-on-write of a read-only file does not.
    let rw = opts.create != Create::Never
        || (opts.access == Access::ReadWrite && opts.sharing == Sharing::Shared);
    let flags = libc::O_NONBLOCK | libc::O_NOCTTY | if rw { libc::O_RDWR } else { libc::O_RDONLY };
    let how = if rw { "reading and writing" } else { "reading" };
    let fail = move |e: i32| {
        let kind = match e {
            // EISDIR: a directory asked for write; ENXIO: a socket;
            // ENODEV: a device special file with no driver.
            libc::EISDIR | libc::ENXIO | libc::ENODEV => ErrorKind::NotMappable,
            _ => ErrorKind::from_errno(e),
        };
        Error::from_os_as(
            kind,
            e,
            format!("cannot open \"{}\" for {how}", path.display()),
        )
    };
    (flags, fail)
}

/// Undoes what a failing `map_file` did to the file system.
struct Undo<'a> {
    fd: &'a OwnedFd,
    /// The path opened, if any (an object opened elsewhere has none).
    cpath: Option<&'a CStr>,
    created: bool,
    restore_size: Option<i64>,
}

impl Undo<'_> {
    fn fail(&mut self, err: Error) -> Error {
        if let (true, Some(cpath)) = (self.created, self.cpath) {
            // Remove the path only if it still names the file we created.
            if let Ok(ours) = sys::fstat(self.fd) {
                let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
                // SAFETY: cpath is NUL-terminated; st is writable and sized.
                let rc = unsafe { libc::stat(cpath.as_ptr(), st.as_mut_ptr()) };
                if rc == 0 {
                    // SAFETY: stat succeeded and filled st.
                    let now = unsafe { st.assume_init() };
                    if now.st_dev == ours.st_dev && now.st_ino == ours.st_ino {
                        // SAFETY: cpath is NUL-terminated.
                        unsafe { libc::unlink(cpath.as_ptr()) };
                    }
                }
            }
        } else if let Some(size) = self.restore_size {
            let _ = sys::ftruncate(self.fd, size);
        }
        err
    }
}
