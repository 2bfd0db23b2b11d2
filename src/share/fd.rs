//! Mapping a descriptor the caller has, with every check of a file mapping
//! plus its access mode and seals; and a descriptor for the object behind a
//! live region. Never reopens anything by name.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{dup, seals, status_flags, Descriptor, Shown, SizeSeal};
use crate::error::{Error, ErrorKind, Result};
use crate::map::file::{self, Kind};
use crate::map::options::{Access, MapOptions, Sharing};
use crate::region::{registry, Region};

/// Maps `length` bytes (0: to the end) from byte `offset` of the object
/// open as `fd`: a regular file, a POSIX object or a memfd. The caller
/// keeps `fd`; the region keeps a duplicate of it. Checks, in order: the
/// descriptor is open, the object is a regular file, its size (empty,
/// range), the descriptor's access mode and the object's write seals
/// against the options (`PermissionDenied`), and with
/// [`SizeSeal::Required`] its shrink seal (`NotSealed`).
pub fn map_fd(
    fd: BorrowedFd<'_>,
    offset: u64,
    length: usize,
    opts: MapOptions,
    seal: SizeSeal,
) -> Result<Region> {
    let shown = Descriptor(fd.as_raw_fd());
    map_owned(dup(fd, &shown)?, &shown, offset, length, opts, seal)
}

/// [`map_fd`] on a descriptor that becomes the region's (closed on
/// failure). `shown` names it in messages.
pub(crate) fn map_owned(
    fd: OwnedFd,
    shown: Shown,
    offset: u64,
    length: usize,
    opts: MapOptions,
    seal: SizeSeal,
) -> Result<Region> {
    let check = |fd: &OwnedFd| allows(fd.as_fd(), shown, opts, seal);
    file::map_open_object(fd, shown, offset, length, opts, &check)
}

/// Whether the descriptor's access mode and the object's seals allow a
/// mapping with `opts` (run once the object is known to be a regular file);
/// an object found sealable is shared memory.
fn allows(fd: BorrowedFd<'_>, shown: Shown, opts: MapOptions, seal: SizeSeal) -> Result<Kind> {
    let flags =
        status_flags(fd).map_err(|e| Error::from_os(e, format!("cannot inspect {shown}")))?;
    let shared_write = opts.access == Access::ReadWrite && opts.sharing == Sharing::Shared;
    let denied = |why: &str| {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("cannot map {shown}: {why}"),
        ))
    };
    match flags & (libc::O_ACCMODE | libc::O_PATH) {
        f if f & libc::O_PATH != 0 => {
            return denied("it is an O_PATH descriptor, it gives no access")
        }
        libc::O_WRONLY => return denied("it is open write-only, and every mapping reads"),
        libc::O_RDONLY if shared_write => {
            return denied(
                "it is open read-only (O_RDONLY), a shared writable mapping needs O_RDWR",
            )
        }
        _ => {}
    }
    if !shared_write && seal == SizeSeal::Any {
        return Ok(Kind::File);
    }
    // EINVAL: the file system has no seals (a plain file): never sealed.
    let (sealed, kind) = match seals(fd) {
        Ok(s) => (s, Kind::Shmem),
        Err(libc::EINVAL) => (0, Kind::File),
        Err(e) => {
            return Err(Error::from_os(
                e,
                format!("cannot read the seals of {shown}"),
            ))
        }
    };
    if shared_write && sealed & (libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) != 0 {
        return denied(
            "the object is sealed against writing, a shared writable mapping is refused",
        );
    }
    if seal == SizeSeal::Required && sealed & libc::F_SEAL_SHRINK == 0 {
        return Err(Error::new(
            ErrorKind::NotSealed,
            format!(
                "cannot map {shown} with MAPIPC_SEALED: its size is not sealed against \
                 shrinking (F_SEAL_SHRINK), so a mapping of it could fault"
            ),
        ));
    }
    Ok(kind)
}

/// What a descriptor handed out for a region stands for.
#[derive(Debug)]
pub struct RegionObject {
    /// `O_RDWR` if the region is writable, `O_RDONLY` otherwise; `O_CLOEXEC`.
    pub fd: OwnedFd,
    /// Offset in the object of the region's first byte.
    pub offset: u64,
    /// Bytes of the region.
    pub len: usize,
    /// Whether the region writes through to the object (shared, writable).
    pub writable: bool,
}

/// A new descriptor for the object behind the live region that starts at
/// `addr`. Anonymous and System V regions have none (`NotMappable`).
pub fn region_object(addr: usize) -> Result<RegionObject> {
    let (info, kept) = registry::with_start(addr, |region| {
        let kept = region
            .object()
            .map(|(fd, off)| (dup(fd, &"the region's descriptor"), off));
        (region.info(), kept)
    })?;
    let Some((fd, offset)) = kept else {
        return Err(Error::new(
            ErrorKind::NotMappable,
            format!(
                "the region at {addr:#x} is anonymous or System V memory: no descriptor stands \
                 for it"
            ),
        ));
    };
    let fd = fd?;
    let writable = info.is_writable() && !info.is_private();
    let fd = if writable { fd } else { read_only(fd, addr)? };
    Ok(RegionObject {
        fd,
        offset,
        len: info.len(),
        writable,
    })
}

/// `fd` itself if it is open read-only, else a read-only descriptor for the
/// same object, opened through `/proc/self/fd` (which names the open
/// object, not its path: a removed or renamed file is still found).
fn read_only(fd: OwnedFd, addr: usize) -> Result<OwnedFd> {
    let flags = status_flags(fd.as_fd())
        .map_err(|e| Error::from_os(e, "cannot inspect the region's descriptor"))?;
    if flags & libc::O_ACCMODE == libc::O_RDONLY {
        return Ok(fd);
    }
    let link = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    // SAFETY: link is NUL-terminated; the result is checked.
    let ro = unsafe { libc::open(link.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if ro < 0 {
        return Err(Error::last_os(format!(
            "cannot open a read-only descriptor for the region at {addr:#x} through {}",
            link.trim_end_matches('\0')
        )));
    }
    // SAFETY: just returned by open, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ro) })
}
