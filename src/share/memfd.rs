//! Anonymous shared memory with a descriptor and no name in any directory
//! (`memfd_create`): every page reserved before it is mapped, its size
//! sealed so that no process holding it can make a mapping of it fault.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, ErrorKind, Result};
use crate::map::options::{Access, MapOptions};
use crate::region::{Backing, Region, Source};
use crate::sys;

use super::Shown;

/// Longest label, in bytes (the kernel allows 249 after "memfd:").
pub const MAX_LABEL_LEN: usize = 200;

/// The label of a memfd made without one.
pub const DEFAULT_LABEL: &CStr = c"mapipc";

/// `size` bytes of zero-filled shared memory, mapped with `access`, its
/// pages allocated now (`NoSpace` rather than SIGBUS later) and its size
/// sealed (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`). `label` shows in
/// `/proc/PID/maps` as `/memfd:label`. The memory is freed with the last
/// mapping and descriptor of it; the region keeps one descriptor.
pub fn memfd(label: &CStr, size: usize, access: Access) -> Result<Region> {
    let shown = Label(label);
    check(label, size, &shown)?;
    // SAFETY: label is NUL-terminated; the result is checked.
    let raw =
        unsafe { libc::memfd_create(label.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(Error::last_os(format!("cannot create {shown}")));
    }
    // SAFETY: just returned by memfd_create, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    reserve_and_seal(&fd, size, &shown)?;
    let opts = match access {
        Access::ReadOnly => MapOptions::read_only(),
        Access::ReadWrite => MapOptions::read_write(),
    };
    let mut region = Region::mmap(
        Source::Shmem(&fd),
        0,
        0,
        size,
        opts.prot(),
        opts.map_flags(),
        Backing::File,
    )
    .map_err(|e| Error::from_os(e, format!("cannot map the {size} bytes of {shown}")))?;
    region.keep_object(fd, 0);
    Ok(region)
}

/// A memfd as messages name it: memfd "label".
struct Label<'a>(&'a CStr);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memfd \"{}\"",
            String::from_utf8_lossy(self.0.to_bytes())
        )
    }
}

fn check(label: &CStr, size: usize, shown: Shown) -> Result<()> {
    let len = label.to_bytes().len();
    if len > MAX_LABEL_LEN {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the label of a memfd is {len} bytes long, at most {MAX_LABEL_LEN} are allowed"
            ),
        ));
    }
    if size == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot make {shown} of 0 bytes: give its size"),
        ));
    }
    // Reserving more than memory and swap hold would not fail cleanly:
    // the OOM killer would end some process first. (Asked only of sizes
    // that could come near it: small regions are made often.)
    let most = if size >= 64 << 20 {
        memory_and_swap()
    } else {
        u64::MAX
    };
    if size as u64 > most || i64::try_from(size).is_err() {
        return Err(Error::new(
            ErrorKind::NoSpace,
            format!(
                "cannot make {shown} of {size} bytes: more than the machine's memory and swap \
                 ({most} bytes)"
            ),
        ));
    }
    Ok(())
}

/// Bytes of RAM and swap in the machine (`sysinfo`); no limit if unknown.
fn memory_and_swap() -> u64 {
    // SAFETY: an all-zero sysinfo is valid; the call fills it.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: si is writable and sized for the call.
    if unsafe { libc::sysinfo(&mut si) } < 0 {
        return u64::MAX;
    }
    (si.totalram as u64)
        .saturating_add(si.totalswap as u64)
        .saturating_mul(u64::from(si.mem_unit.max(1)))
}

/// Allocates every page, then seals the size for good.
fn reserve_and_seal(fd: &OwnedFd, size: usize, shown: Shown) -> Result<()> {
    sys::fallocate(fd, 0, size as i64).map_err(|e| {
        let kind = match e {
            libc::ENOSPC | libc::EFBIG | libc::ENOMEM | libc::EDQUOT => ErrorKind::NoSpace,
            _ => ErrorKind::from_errno(e),
        };
        Error::from_os_as(kind, e, format!("cannot reserve {size} bytes for {shown}"))
    })?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS reads no memory; fd is an open memfd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(Error::last_os(format!("cannot seal the size of {shown}")));
    }
    Ok(())
}

/// A label as a C string; one with a NUL byte cannot be given to the kernel.
pub fn label(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the memfd label {s:?} contains a NUL byte"),
        )
    })
}
