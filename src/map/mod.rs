//! Making mappings: of files ([`file`](mod@file), by path or already open),
//! of anonymous memory ([`anon`]),
//! with options checked before any system call ([`options`]). Owns the rules
//! for opening and creating what is mapped; must not know how a region is
//! later named from C or what lives inside it.

pub mod anon;
pub mod file;
pub mod options;

use options::Create;

/// Opens an object that may have to be created, telling whether this call
/// created it (so that a later failure knows what is its to remove).
/// `open` gets the extra flags (`O_CREAT | O_EXCL` or none) and returns the
/// raw errno. Creation is tried exclusively first; an object that appears
/// or vanishes in between makes it try again, a bounded number of times.
pub fn open_or_create<T>(
    create: Create,
    mut open: impl FnMut(libc::c_int) -> std::result::Result<T, i32>,
) -> std::result::Result<(T, bool), i32> {
    let excl = libc::O_CREAT | libc::O_EXCL;
    match create {
        Create::Never => open(0).map(|t| (t, false)),
        Create::Exclusive => open(excl).map(|t| (t, true)),
        Create::IfMissing => {
            for _ in 0..8 {
                match open(excl) {
                    Ok(t) => return Ok((t, true)),
                    Err(libc::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                match open(0) {
                    Ok(t) => return Ok((t, false)),
                    Err(libc::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(libc::ENOENT)
        }
    }
}
