//! Flag bits of the C API and their decoding into the core's typed options.
//! Unknown bits and contradictions are refused here, with the bits named.

use crate::error::{Error, ErrorKind, Result};
use crate::map::options::{Access, Create, MapOptions, Sharing};
use crate::region::options::{Advice, SyncMode, SyncOptions};
use crate::share::SizeSeal;

/// Pages readable.
pub const MAPIPC_READ: u32 = 0x1;
/// Pages writable; implies MAPIPC_READ. A shared writable file mapping
/// needs the file to be writable by the caller.
pub const MAPIPC_WRITE: u32 = 0x2;
/// Copy-on-write: writes stay in this process (default: shared).
pub const MAPIPC_PRIVATE: u32 = 0x4;
/// Create the file or segment if missing (mode 0600); extend a short file
/// with allocated blocks. Needs write access to an existing file.
pub const MAPIPC_CREATE: u32 = 0x8;
/// With MAPIPC_CREATE: fail with MAPIPC_ERR_ALREADY_EXISTS if it exists.
pub const MAPIPC_EXCLUSIVE: u32 = 0x10;
/// For mapipc_map_file() (and POSIX named memory): plain loads and stores
/// through the region survive the file shrinking underneath. At the first
/// fault past the file's end, all pages of the region past the end become
/// private zero pages at once: they read as zeros, stores to them are
/// dropped, and every later mapipc_sync() on the region, and every
/// mapipc_read()/mapipc_write() of those bytes (even once the file grew
/// back), returns MAPIPC_ERR_TRUNCATED naming the file and its size, so
/// lost writes are never silent. Only truncation is absorbed: a page the
/// file still has that cannot be read or filled (I/O error, no space under
/// a hole) raises SIGBUS as without mapipc, to the program's handler.
/// Holds one O_CLOEXEC descriptor per region while mapped. Limits: a
/// thread that blocks SIGBUS dies on such a load (the kernel's rule); a
/// SIGBUS handler the program installs after mapipc's takes over until the
/// next mapipc map call, which puts mapipc's back in front of it and
/// chains to it. Not for anonymous or System V memory, which cannot
/// shrink (MAPIPC_ERR_INVALID_ARGUMENT).
pub const MAPIPC_GUARDED: u32 = 0x20;
/// For mapipc_map_fd() and mapipc_recv_region(): map only an object whose
/// size is sealed against shrinking (F_SEAL_SHRINK, as every mapipc_memfd()
/// is), so that no access through the mapping can ever fault; otherwise
/// MAPIPC_ERR_NOT_SEALED and nothing is mapped. Not for other calls
/// (MAPIPC_ERR_INVALID_ARGUMENT).
pub const MAPIPC_SEALED: u32 = 0x40;
/// With MAPIPC_CREATE, for mapipc_shm_open_name() and mapipc_map_file(): an
/// object this call creates is temporary. It lives while any process maps
/// it through mapipc (the creator, every process that opened it since,
/// every child that inherited such a mapping through fork()) and is removed
/// when the last of those mappings goes: inside the mapipc_unmap() that
/// ends it, or, when the last user ended by exit, exec or a signal, at the
/// next lookup of its name or mapipc_gc(), which see it as absent. Opening
/// an existing object never changes whether it is temporary. Without
/// MAPIPC_CREATE, for System V keys, or with any other function:
/// MAPIPC_ERR_INVALID_ARGUMENT. Marked by the sticky bit on its mode.
pub const MAPIPC_TEMPORARY: u32 = 0x80;
/// Set by MAPIPC_MODE(m): the flags carry permission bits from bit 16 up.
/// Use the macro rather than this bit.
pub const MAPIPC_MODE_GIVEN: u32 = 0x8000;
/// Set by MAPIPC_MODE(m) for an m above 07777, so that it is refused
/// instead of being cut to 16 bits.
pub const MAPIPC_MODE_TOO_LARGE: u32 = 0x1000_0000;

/// msync(MS_SYNC): return when the data is on its way to storage. The
/// default when neither MAPIPC_SYNC_BLOCKING nor MAPIPC_SYNC_ASYNC is given.
pub const MAPIPC_SYNC_BLOCKING: u32 = 0x1;
/// msync(MS_ASYNC): schedule write-back and return.
pub const MAPIPC_SYNC_ASYNC: u32 = 0x2;
/// msync(MS_INVALIDATE): also invalidate other mappings of the same file.
pub const MAPIPC_SYNC_INVALIDATE: u32 = 0x4;

/// mapipc_advise(): no special treatment (MADV_NORMAL).
pub const MAPIPC_ADVICE_NORMAL: u32 = 0;
/// mapipc_advise(): read ahead aggressively (MADV_SEQUENTIAL).
pub const MAPIPC_ADVICE_SEQUENTIAL: u32 = 1;
/// mapipc_advise(): no read-ahead (MADV_RANDOM).
pub const MAPIPC_ADVICE_RANDOM: u32 = 2;
/// mapipc_advise(): start reading the range in now (MADV_WILLNEED).
pub const MAPIPC_ADVICE_WILLNEED: u32 = 3;
/// mapipc_advise(): map every page now so that reads take no page faults
/// (MADV_POPULATE_READ, Linux 5.14+).
pub const MAPIPC_ADVICE_POPULATE_READ: u32 = 4;
/// mapipc_advise(): map every page now, writable (MADV_POPULATE_WRITE,
/// Linux 5.14+). MAPIPC_ERR_PERMISSION_DENIED on a read-only region.
pub const MAPIPC_ADVICE_POPULATE_WRITE: u32 = 5;

const MAP_KNOWN: u32 =
    MAPIPC_READ | MAPIPC_WRITE | MAPIPC_PRIVATE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE | MAPIPC_GUARDED;
/// Where MAPIPC_MODE(m) puts m.
const MODE_SHIFT: u32 = 16;
const MODE_FIELD: u32 = 0xffff << MODE_SHIFT;
const SYNC_KNOWN: u32 = MAPIPC_SYNC_BLOCKING | MAPIPC_SYNC_ASYNC | MAPIPC_SYNC_INVALIDATE;

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// Decodes the flags of a mapping request that may create a named object
/// (a file, a POSIX name, a System V key): MAPIPC_MODE and MAPIPC_TEMPORARY
/// are allowed, with MAPIPC_CREATE.
pub(crate) fn map_options(flags: u32) -> Result<MapOptions> {
    let mode = mode_bits(flags)?;
    let temporary = flags & MAPIPC_TEMPORARY != 0;
    let mut opts = plain_map_options(flags & !(MAPIPC_TEMPORARY | MAPIPC_MODE_GIVEN | MODE_FIELD))?;
    let create = flags & MAPIPC_CREATE != 0;
    if (mode.is_some() || temporary) && !create {
        return Err(invalid(format!(
            "flags {flags:#x}: MAPIPC_MODE and MAPIPC_TEMPORARY apply only to an object the call \
             creates: add MAPIPC_CREATE"
        )));
    }
    opts.mode = mode;
    opts.temporary = temporary;
    Ok(opts)
}

/// [`map_options`] for a System V key, which cannot be temporary.
pub(crate) fn key_options(flags: u32) -> Result<MapOptions> {
    if flags & MAPIPC_TEMPORARY != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: a System V segment cannot be MAPIPC_TEMPORARY (the kernel gives it \
             no way to notice its last user died); use a POSIX name or mapipc_memfd"
        )));
    }
    map_options(flags)
}

/// The permission bits MAPIPC_MODE(m) put in `flags`, if any.
fn mode_bits(flags: u32) -> Result<Option<u32>> {
    let field = (flags & MODE_FIELD) >> MODE_SHIFT;
    if flags & MAPIPC_MODE_GIVEN == 0 {
        if field != 0 {
            return Err(invalid(format!(
                "unknown flag bits {:#x} in flags {flags:#x}: give permission bits with MAPIPC_MODE(m)",
                flags & MODE_FIELD
            )));
        }
        return Ok(None);
    }
    if flags & MAPIPC_MODE_TOO_LARGE != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: MAPIPC_MODE(m) with m above 07777: only permission bits (0 to 0777) \
             may be given"
        )));
    }
    if field & !0o777 != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: MAPIPC_MODE({field:#o}) has bits outside 0777 (setuid, setgid or \
             sticky): only permission bits may be given"
        )));
    }
    Ok(Some(field))
}

/// Decodes the flags every mapping request shares.
fn plain_map_options(flags: u32) -> Result<MapOptions> {
    if flags & !MAP_KNOWN != 0 {
        return Err(invalid(format!(
            "unknown flag bits {:#x} in flags {flags:#x} (known: MAPIPC_READ|MAPIPC_WRITE|\
             MAPIPC_PRIVATE|MAPIPC_CREATE|MAPIPC_EXCLUSIVE|MAPIPC_GUARDED = {MAP_KNOWN:#x})",
            flags & !MAP_KNOWN
        )));
    }
    let access = if flags & MAPIPC_WRITE != 0 {
        Access::ReadWrite
    } else if flags & MAPIPC_READ != 0 {
        Access::ReadOnly
    } else {
        return Err(invalid(format!(
            "flags {flags:#x} ask for neither MAPIPC_READ nor MAPIPC_WRITE"
        )));
    };
    let sharing = if flags & MAPIPC_PRIVATE != 0 {
        Sharing::Private
    } else {
        Sharing::Shared
    };
    let create = match (flags & MAPIPC_CREATE != 0, flags & MAPIPC_EXCLUSIVE != 0) {
        (false, false) => Create::Never,
        (true, false) => Create::IfMissing,
        (true, true) => Create::Exclusive,
        (false, true) => {
            return Err(invalid(format!(
                "flags {flags:#x}: MAPIPC_EXCLUSIVE only makes sense with MAPIPC_CREATE"
            )))
        }
    };
    Ok(MapOptions {
        access,
        sharing,
        create,
        guarded: flags & MAPIPC_GUARDED != 0,
        mode: None,
        temporary: false,
    })
}

/// Decodes the flags of an anonymous mapping, where creating means nothing.
pub(crate) fn anonymous_options(flags: u32) -> Result<MapOptions> {
    let naming = MAPIPC_CREATE | MAPIPC_EXCLUSIVE | MAPIPC_GUARDED | MAPIPC_TEMPORARY;
    if flags & (naming | MAPIPC_MODE_GIVEN) != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: MAPIPC_CREATE, MAPIPC_EXCLUSIVE, MAPIPC_GUARDED, MAPIPC_TEMPORARY \
             and MAPIPC_MODE do not apply to anonymous memory"
        )));
    }
    plain_map_options(flags)
}

/// Decodes the flags of mapipc_map_fd: a mapping of an object that exists,
/// perhaps with a sealed size.
pub(crate) fn fd_options(flags: u32) -> Result<(MapOptions, SizeSeal)> {
    if flags & (MAPIPC_CREATE | MAPIPC_EXCLUSIVE) != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: MAPIPC_CREATE and MAPIPC_EXCLUSIVE do not apply to a descriptor \
             (the object exists)"
        )));
    }
    let seal = if flags & MAPIPC_SEALED != 0 {
        SizeSeal::Required
    } else {
        SizeSeal::Any
    };
    Ok((plain_map_options(flags & !MAPIPC_SEALED)?, seal))
}

/// Decodes the flags of mapipc_recv_region: mapipc_map_fd's, shared only.
pub(crate) fn recv_options(flags: u32) -> Result<(MapOptions, SizeSeal)> {
    if flags & MAPIPC_PRIVATE != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: MAPIPC_PRIVATE does not apply to a received region (it is shared \
             with its sender); map its descriptor with mapipc_map_fd for a private copy"
        )));
    }
    fd_options(flags)
}

/// Decodes the flags of mapipc_memfd: the access only (it is always
/// shared, created and sealed).
pub(crate) fn memfd_access(flags: u32) -> Result<Access> {
    if flags & !(MAPIPC_READ | MAPIPC_WRITE) != 0 {
        return Err(invalid(format!(
            "flags {flags:#x}: mapipc_memfd takes only MAPIPC_READ and MAPIPC_WRITE (it is always \
             shared, created and sealed)"
        )));
    }
    Ok(map_options(flags)?.access)
}

/// Decodes the flags of a sync request.
pub(crate) fn sync_options(flags: u32) -> Result<SyncOptions> {
    if flags & !SYNC_KNOWN != 0 {
        return Err(invalid(format!(
            "unknown sync flag bits {:#x} in flags {flags:#x} (known: MAPIPC_SYNC_BLOCKING|\
             MAPIPC_SYNC_ASYNC|MAPIPC_SYNC_INVALIDATE = {SYNC_KNOWN:#x})",
            flags & !SYNC_KNOWN
        )));
    }
    let mode = match (
        flags & MAPIPC_SYNC_BLOCKING != 0,
        flags & MAPIPC_SYNC_ASYNC != 0,
    ) {
        (true, true) => {
            return Err(invalid(format!(
            "sync flags {flags:#x}: MAPIPC_SYNC_BLOCKING and MAPIPC_SYNC_ASYNC exclude each other"
        )))
        }
        (false, true) => SyncMode::Async,
        _ => SyncMode::Blocking,
    };
    Ok(SyncOptions {
        mode,
        invalidate: flags & MAPIPC_SYNC_INVALIDATE != 0,
    })
}

/// Decodes an advice value.
pub(crate) fn advice(value: u32) -> Result<Advice> {
    Ok(match value {
        MAPIPC_ADVICE_NORMAL => Advice::Normal,
        MAPIPC_ADVICE_SEQUENTIAL => Advice::Sequential,
        MAPIPC_ADVICE_RANDOM => Advice::Random,
        MAPIPC_ADVICE_WILLNEED => Advice::WillNeed,
        MAPIPC_ADVICE_POPULATE_READ => Advice::PopulateRead,
        MAPIPC_ADVICE_POPULATE_WRITE => Advice::PopulateWrite,
        other => {
            return Err(invalid(format!(
                "unknown advice {other} (known: MAPIPC_ADVICE_NORMAL .. MAPIPC_ADVICE_POPULATE_WRITE = 0..5)"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_flag_rules() {
        assert_eq!(map_options(MAPIPC_READ).unwrap(), MapOptions::read_only());
        assert_eq!(map_options(MAPIPC_WRITE).unwrap(), MapOptions::read_write());
        assert_eq!(
            map_options(MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE)
                .unwrap()
                .create,
            Create::Exclusive
        );
        for bad in [
            0,
            MAPIPC_PRIVATE,
            MAPIPC_READ | 0x4000,
            MAPIPC_READ | MAPIPC_EXCLUSIVE,
            u32::MAX,
        ] {
            assert_eq!(
                map_options(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{bad:#x}"
            );
        }
        assert!(anonymous_options(MAPIPC_WRITE | MAPIPC_CREATE).is_err());
        assert!(anonymous_options(MAPIPC_WRITE | MAPIPC_GUARDED).is_err());
        assert!(map_options(MAPIPC_READ | MAPIPC_GUARDED).unwrap().guarded);
    }

    fn mode(m: u32) -> u32 {
        // What the header's MAPIPC_MODE(m) expands to.
        MAPIPC_MODE_GIVEN
            | if m <= 0o7777 {
                m << 16
            } else {
                MAPIPC_MODE_TOO_LARGE
            }
    }

    #[test]
    fn mode_and_temporary_rules() {
        let rwc = MAPIPC_WRITE | MAPIPC_CREATE;
        assert_eq!(map_options(rwc | mode(0o640)).unwrap().mode, Some(0o640));
        assert_eq!(map_options(rwc | mode(0)).unwrap().mode, Some(0));
        assert_eq!(map_options(rwc).unwrap().mode, None);
        assert!(map_options(rwc | MAPIPC_TEMPORARY).unwrap().temporary);
        for bad in [
            rwc | mode(0o4600),
            rwc | mode(0o1600),
            rwc | mode(0o10000),
            rwc | mode(u32::MAX),
            rwc | (0o600 << 16),
            MAPIPC_WRITE | mode(0o600),
            MAPIPC_WRITE | MAPIPC_TEMPORARY,
        ] {
            assert_eq!(
                map_options(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{bad:#x}"
            );
        }
        assert!(key_options(rwc | MAPIPC_TEMPORARY).is_err());
        assert_eq!(key_options(rwc | mode(0o644)).unwrap().mode, Some(0o644));
        assert!(anonymous_options(MAPIPC_WRITE | mode(0o600)).is_err());
        assert!(anonymous_options(MAPIPC_WRITE | MAPIPC_TEMPORARY).is_err());
    }

    #[test]
    fn descriptor_flag_rules() {
        let (opts, seal) = fd_options(MAPIPC_WRITE | MAPIPC_SEALED | MAPIPC_GUARDED).unwrap();
        assert_eq!(
            (opts.access, seal, opts.guarded),
            (Access::ReadWrite, SizeSeal::Required, true)
        );
        assert_eq!(
            fd_options(MAPIPC_READ | MAPIPC_PRIVATE).unwrap().1,
            SizeSeal::Any
        );
        for bad in [
            MAPIPC_READ | MAPIPC_CREATE,
            MAPIPC_SEALED,
            MAPIPC_READ | 0x80,
        ] {
            assert!(fd_options(bad).is_err(), "{bad:#x}");
        }
        assert!(recv_options(MAPIPC_READ | MAPIPC_PRIVATE).is_err());
        assert_eq!(memfd_access(MAPIPC_READ).unwrap(), Access::ReadOnly);
        for bad in [
            0,
            MAPIPC_WRITE | MAPIPC_SEALED,
            MAPIPC_WRITE | MAPIPC_PRIVATE,
        ] {
            assert!(memfd_access(bad).is_err(), "{bad:#x}");
        }
    }

    #[test]
    fn sync_flag_rules() {
        assert_eq!(sync_options(0).unwrap(), SyncOptions::BLOCKING);
        assert_eq!(
            sync_options(MAPIPC_SYNC_ASYNC).unwrap().mode,
            SyncMode::Async
        );
        assert!(sync_options(MAPIPC_SYNC_INVALIDATE).unwrap().invalidate);
        assert!(sync_options(MAPIPC_SYNC_BLOCKING | MAPIPC_SYNC_ASYNC).is_err());
        assert!(sync_options(8).is_err());
    }
}
