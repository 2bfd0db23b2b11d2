//! Anonymous memory: zero-filled, no file, optionally shared with children.

use super::options::{Access, MapOptions, Sharing};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{Backing, Region, Source};
use crate::sys;

/// Maps `length` zero-filled bytes. With [`Sharing::Shared`] children
/// created by `fork()` afterwards see the same pages.
pub fn map_anonymous(length: usize, access: Access, sharing: Sharing) -> Result<Region> {
    if length == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "cannot map 0 bytes of anonymous memory: give a length",
        ));
    }
    if sys::page_round_up(length).is_none() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot map {length} bytes of anonymous memory: the length overflows when rounded to pages"),
        ));
    }
    let opts = MapOptions {
        access,
        sharing,
        create: super::options::Create::Never,
        guarded: false,
        mode: None,
        temporary: false,
    };
    Region::mmap(
        Source::Anonymous,
        0,
        0,
        length,
        opts.prot(),
        opts.map_flags() | libc::MAP_ANONYMOUS,
        Backing::Anonymous,
    )
    .map_err(|e| {
        Error::from_os(
            e,
            format!(
                "cannot map {length} bytes of {} anonymous memory",
                match sharing {
                    Sharing::Shared => "shared",
                    Sharing::Private => "private",
                }
            ),
        )
    })
}
