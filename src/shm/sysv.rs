//! System V shared memory named by `ftok(path, proj_id)`: created 0600,
//! attached read-only unless writing is asked for, sizes checked, and never
//! left behind by a call that fails after creating it.

use std::ffi::CStr;
use std::path::Path;
use std::ptr::NonNull;

use crate::error::{Error, ErrorKind, Result};
use crate::map::options::{Access, Create, MapOptions, Sharing};
use crate::region::{Backing, Region, RegionInfo};
use crate::sys;

// Mode of segments mapipc creates: only the owner may read and write.
const CREATE_MODE: libc::c_int = 0o600;

/// A System V key; shown in hex, as ipcs shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub libc::key_t);

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#010x}", self.0 as u32)
    }
}

/// Names a segment in messages; formatted only when a message is made, so
/// the success path (measured against raw shmget/shmat) does not pay for it.
struct Described<'a> {
    key: Key,
    path: &'a Path,
    proj_id: i32,
}

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "segment {} (\"{}\", project id {})",
            self.key,
            self.path.display(),
            self.proj_id
        )
    }
}

/// `ftok(path, proj_id)` with both checked: `path` must exist and
/// `proj_id` be 1..=255 (only its low 8 bits are used, and 0 is reserved).
pub fn key_for(path: &Path, proj_id: i32) -> Result<Key> {
    key_for_c(&sys::c_path(path)?, proj_id)
}

/// [`key_for`] for a path that is already a C string (saves a copy).
pub fn key_for_c(cpath: &CStr, proj_id: i32) -> Result<Key> {
    let path = sys::path_of(cpath);
    if !(1..=255).contains(&proj_id) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "project id {proj_id} for \"{}\" is out of range: it must be 1..255",
                path.display()
            ),
        ));
    }
    // SAFETY: cpath is a valid NUL-terminated string for the call.
    let key = unsafe { libc::ftok(cpath.as_ptr(), proj_id) };
    if key == -1 {
        return Err(Error::last_os(format!(
            "cannot make a System V key from \"{}\" and project id {proj_id}",
            path.display()
        )));
    }
    Ok(Key(key))
}

/// Opens (and with [`Create`] creates) the segment of `path` / `proj_id`
/// and attaches it. `size == 0` attaches all of an existing segment; a
/// `size` larger than the existing segment is `SizeMismatch`. Without
/// write access the attachment is read-only. Copy-on-write does not exist
/// for System V segments: [`Sharing::Private`] is refused.
pub fn open_key(path: &Path, proj_id: i32, size: usize, opts: MapOptions) -> Result<Region> {
    open_key_c(&sys::c_path(path)?, proj_id, size, opts)
}

/// [`open_key`] for a path that is already a C string (saves a copy).
pub fn open_key_c(cpath: &CStr, proj_id: i32, size: usize, opts: MapOptions) -> Result<Region> {
    let path = sys::path_of(cpath);
    let key = key_for_c(cpath, proj_id)?;
    let what = Described { key, path, proj_id };
    if opts.sharing == Sharing::Private {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot attach {what} privately: System V segments have no copy-on-write mode"),
        ));
    }
    if opts.guarded {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "cannot attach {what} guarded: a System V segment never shrinks, \
                 MAPIPC_GUARDED is for files"
            ),
        ));
    }
    if size == 0 && opts.create != Create::Never {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot create {what} with size 0: give its size"),
        ));
    }
    let mode = creation_mode(&opts, &what)?;

    let (id, created) = crate::map::open_or_create(opts.create, |extra| {
        // An existing segment is opened with size 0 (shmget would refuse a
        // larger size with a bare EINVAL); its size is compared below.
        let (want, flags) = if extra == 0 {
            (0, 0)
        } else {
            (size, libc::IPC_CREAT | libc::IPC_EXCL | mode)
        };
        // SAFETY: shmget only reads its integer arguments.
        let id = unsafe { libc::shmget(key.0, want, flags) };
        if id < 0 {
            // shmget says ENOENT for a missing key and EEXIST for a taken
            // one, which is what open_or_create expects.
            Err(errno::errno().0)
        } else {
            Ok(id)
        }
    })
    .map_err(|e| {
        let kind = match e {
            // EINVAL: size outside SHMMIN..SHMMAX; ENOSPC: SHMMNI or SHMALL.
            libc::EINVAL | libc::ENOSPC | libc::ENOMEM => ErrorKind::NoSpace,
            _ => ErrorKind::from_errno(e),
        };
        let doing = if opts.create == Create::Never {
            "open"
        } else {
            "create"
        };
        let sized = if size == 0 {
            String::new()
        } else {
            format!(" of {size} bytes")
        };
        Error::from_os_as(kind, e, format!("cannot {doing} {what}{sized}"))
    })?;

    // From here on a failure must not leave a segment this call created.
    let undo = |err: Error| {
        if created {
            // SAFETY: IPC_RMID takes no buffer.
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
        err
    };

    let seg_size = if created {
        size
    } else {
        let st = stat(id).map_err(|e| undo(Error::from_os(e, format!("cannot inspect {what}"))))?;
        let seg_size = st.shm_segsz;
        if size > seg_size {
            return Err(undo(Error::new(
                ErrorKind::SizeMismatch,
                format!("{what} is {seg_size} bytes, smaller than the {size} bytes asked for"),
            )));
        }
        seg_size
    };

    let shmflg = match opts.access {
        Access::ReadOnly => libc::SHM_RDONLY,
        Access::ReadWrite => 0,
    };
    // SAFETY: a NULL address lets the kernel choose where to attach, so no
    // existing memory is replaced; the result is checked below.
    let ptr = unsafe { libc::shmat(id, std::ptr::null(), shmflg) };
    if ptr as isize == -1 {
        let e = errno::errno().0;
        let how = match opts.access {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        };
        return Err(undo(Error::from_os(
            e,
            format!("cannot attach {what} {how}"),
        )));
    }
    let base = NonNull::new(ptr.cast::<u8>())
        .ok_or_else(|| undo(Error::new(ErrorKind::System, "shmat returned NULL")))?;
    let len = if size == 0 { seg_size } else { size };
    Ok(Region::from_shmat(
        id,
        base,
        len,
        seg_size,
        opts.access == Access::ReadWrite,
    ))
}

/// The mode a created segment gets (shmget applies no umask): the one asked
/// for, checked, or 0600. Temporary segments do not exist: the kernel gives
/// System V no way to notice that the last user died.
fn creation_mode(opts: &MapOptions, what: &Described) -> Result<libc::c_int> {
    let refuse = |why: String| Err(Error::new(ErrorKind::InvalidArgument, why));
    if opts.temporary {
        return refuse(format!(
            "{what} cannot be temporary: the kernel gives System V segments no way to keep that \
             promise (use a POSIX name or mapipc_memfd)"
        ));
    }
    match opts.mode {
        None => Ok(CREATE_MODE),
        Some(m) if m & !0o777 != 0 => refuse(format!(
            "mode {m:#o} for {what} has bits outside 0777: only permission bits may be given"
        )),
        Some(m) if opts.create == Create::Never => refuse(format!(
            "mode {m:#o} for {what} is given without MAPIPC_CREATE"
        )),
        Some(m) => Ok(m as libc::c_int),
    }
}

/// Marks the segment a region is attached to for removal: like
/// [`remove_key`] without looking the key up again. Regions of other kinds
/// are `InvalidArgument`.
pub fn remove_attached(region: &RegionInfo) -> Result<()> {
    let Backing::SysV { id } = region.backing() else {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the region at {:p} is not a System V segment",
                region.as_ptr()
            ),
        ));
    };
    // SAFETY: IPC_RMID takes no buffer.
    if unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
        return Err(Error::last_os(format!(
            "cannot remove System V segment id {id} (attached at {:p})",
            region.as_ptr()
        )));
    }
    Ok(())
}

/// Marks the segment of `path` / `proj_id` for removal: it disappears when
/// the last process detaches. A missing segment is `NotFound`.
pub fn remove_key(path: &Path, proj_id: i32) -> Result<()> {
    remove_key_c(&sys::c_path(path)?, proj_id)
}

/// [`remove_key`] for a path that is already a C string (saves a copy).
pub fn remove_key_c(cpath: &CStr, proj_id: i32) -> Result<()> {
    let path = sys::path_of(cpath);
    let key = key_for_c(cpath, proj_id)?;
    let what = Described { key, path, proj_id };
    // SAFETY: shmget only reads its integer arguments.
    let id = unsafe { libc::shmget(key.0, 0, 0) };
    if id < 0 {
        return Err(Error::last_os(format!("cannot remove {what}")));
    }
    // SAFETY: IPC_RMID takes no buffer.
    if unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
        return Err(Error::last_os(format!("cannot remove {what}")));
    }
    Ok(())
}

fn stat(id: libc::c_int) -> std::result::Result<libc::shmid_ds, i32> {
    let mut ds = std::mem::MaybeUninit::<libc::shmid_ds>::uninit();
    // SAFETY: IPC_STAT writes one shmid_ds into the buffer we pass.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, ds.as_mut_ptr()) } < 0 {
        return Err(errno::errno().0);
    }
    // SAFETY: shmctl succeeded and filled the struct.
    Ok(unsafe { ds.assume_init() })
}
