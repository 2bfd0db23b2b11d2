//! What a live mapping is: where it starts, how long it is, what is behind
//! it (and the descriptor of that object, kept open for as long as the
//! region lives), how to sync it and give it back ([`Region`]), and the process-wide
//! table that lets C name it by pointer ([`registry`]). The lowest layer:
//! it must not know what lives inside a region (locks, channels) or who
//! watches it (the SIGBUS guard); those register themselves through
//! `Watcher`, [`registry::set_unmap_check`] and `Kept` (what lives exactly
//! as long as the mapping, such as a temporary object's user lock).

pub mod options;
pub(crate) mod place;
pub mod registry;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, page_size};
use options::{Advice, SyncOptions};

/// What the pages of a region come from; decides how it is synced and freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A file (regular or POSIX shared memory object): msync writes it back.
    File,
    /// Anonymous memory: nothing to sync.
    Anonymous,
    /// A System V segment attached with `shmat`: freed with `shmdt`.
    SysV {
        /// The segment's identifier, for removing it by region.
        id: i32,
    },
}

/// An upper layer that watches regions (the SIGBUS guard), so that this
/// layer can tell it of an unmap without knowing it.
pub(crate) trait Watcher: Sync {
    /// The region is about to be unmapped: stop acting on its range.
    fn suspend(&self, token: usize);
    /// The unmap failed: the region is live again.
    fn resume(&self, token: usize);
    /// The region is gone: free what watched it.
    fn forget(&self, token: usize);
    /// What a sync of the region reports once msync itself succeeded.
    fn after_sync(&self, region: &RegionInfo, token: usize) -> Result<()>;
}

/// What an upper layer keeps alive exactly as long as a region's mapping
/// (lifecycle: the descriptor whose lock says a temporary object is in
/// use). Dropped right after the mapping goes, never before.
pub(crate) trait Kept: Send + Sync + std::fmt::Debug {}

#[derive(Clone, Copy)]
struct Watch {
    by: &'static dyn Watcher,
    token: usize,
}

impl PartialEq for Watch {
    fn eq(&self, other: &Watch) -> bool {
        std::ptr::addr_eq(self.by, other.by) && self.token == other.token
    }
}

impl Eq for Watch {}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watch({})", self.token)
    }
}

/// Where a region lies and what is behind it: a plain copy that can be
/// looked at and synced without owning (or locking) the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    /// Page-aligned start of the whole mapping.
    base: NonNull<u8>,
    /// Bytes actually mapped (page-aligned start to end of request).
    map_len: usize,
    /// Distance from `base` to the byte the caller asked for.
    lead: usize,
    /// Bytes the caller asked for.
    len: usize,
    backing: Backing,
    /// Whether the pages may be written.
    writable: bool,
    /// Copy-on-write (MAP_PRIVATE): no other process sees these pages.
    private: bool,
    /// Who watches it, for a guarded region.
    watch: Option<Watch>,
}

// SAFETY: RegionInfo is only numbers describing an address range; it grants
// no access by itself, and msync on it is thread-safe.
unsafe impl Send for RegionInfo {}
// SAFETY: as above; it is never mutated through a shared reference.
unsafe impl Sync for RegionInfo {}

impl RegionInfo {
    /// The first byte the caller asked for.
    pub fn as_ptr(&self) -> *mut u8 {
        // lead < map_len, so this stays inside the mapping.
        self.base.as_ptr().wrapping_add(self.lead)
    }

    /// Address of the first byte the caller asked for.
    pub fn addr(&self) -> usize {
        self.as_ptr() as usize
    }

    /// Bytes the caller asked for (not rounded to pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: empty regions are refused when mapping.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Page-aligned start of the underlying mapping.
    pub fn base_addr(&self) -> usize {
        self.base.as_ptr() as usize
    }

    /// Length of the underlying mapping from [`RegionInfo::base_addr`].
    pub fn map_len(&self) -> usize {
        self.map_len
    }

    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// Whether the pages may be written.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Whether the pages are private to this process (copy-on-write), so
    /// that waiting on them can only be woken by its own threads.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Whether `addr` lies in the caller's bytes `[addr(), addr() + len())`.
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.addr() && addr - self.addr() < self.len
    }

    /// The page-aligned span covering `len` bytes from `offset` bytes into
    /// the region (`len == 0`: to its end), after checking that the range
    /// stays inside the caller's bytes. `verb` words the error.
    fn page_span(
        &self,
        verb: &str,
        offset: usize,
        len: usize,
    ) -> Result<(*mut libc::c_void, usize)> {
        if offset >= self.len {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "cannot {verb} at offset {offset} of a {}-byte region",
                    self.len
                ),
            ));
        }
        let len = if len == 0 { self.len - offset } else { len };
        if len > self.len - offset {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "cannot {verb} {len} bytes at offset {offset} of a {}-byte region: \
                     the range ends {} bytes past its end",
                    self.len,
                    // Cannot overflow: offset < self.len.
                    len - (self.len - offset)
                ),
            ));
        }
        // Round the start down to its page; that page lies in the mapping
        // because `base` is page-aligned.
        let start = self.lead + offset;
        let aligned = start - start % page_size();
        // wrapping_add: only an address is formed here, never dereferenced.
        let ptr = self.base.as_ptr().wrapping_add(aligned).cast();
        Ok((ptr, start - aligned + len))
    }

    /// Writes back `len` bytes starting `offset` bytes into the region
    /// (`len == 0`: to the end). Anonymous and System V regions have no file
    /// behind them: the range is checked, nothing else is done.
    pub fn sync(&self, offset: usize, len: usize, opts: SyncOptions) -> Result<()> {
        let (ptr, span) = self.page_span("sync", offset, len)?;
        if self.backing != Backing::File {
            return Ok(());
        }
        // SAFETY: [ptr, ptr + span) lies inside the mapping described here;
        // msync reads no memory contents, and if a racing unmap removed the
        // mapping it fails with ENOMEM.
        if unsafe { libc::msync(ptr, span, opts.msync_flags()) } < 0 {
            return Err(range_error("msync", span, ptr));
        }
        self.check_nothing_lost()
    }

    /// A watcher's say after a sync: the guard reports pages that vanished.
    fn check_nothing_lost(&self) -> Result<()> {
        match self.watch {
            Some(w) => w.by.after_sync(self, w.token),
            None => Ok(()),
        }
    }

    /// Tells the kernel how `len` bytes from `offset` will be used
    /// (`madvise`), or populates their page tables now so that later
    /// accesses take no faults.
    pub fn advise(&self, offset: usize, len: usize, advice: Advice) -> Result<()> {
        let (ptr, span) = self.page_span("advise", offset, len)?;
        if advice == Advice::PopulateWrite && !self.writable {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "cannot populate {span} bytes at {ptr:p} for writing: the region is read-only"
                ),
            ));
        }
        // SAFETY: [ptr, ptr + span) lies inside the mapping described here;
        // none of the advice values used discards data, and populating only
        // faults pages in with the access the mapping already allows.
        if unsafe { libc::madvise(ptr, span, advice.madvise_value()) } < 0 {
            let err = range_error("madvise", span, ptr);
            return Err(match advice {
                // EFAULT: a page would have raised SIGBUS.
                Advice::PopulateRead | Advice::PopulateWrite => {
                    populate_failed(err, ptr as usize, span)
                }
                _ => err,
            });
        }
        Ok(())
    }
}

// ENOMEM from msync or madvise means the range is no longer mapped: a racing
// unmap in another thread.
fn range_error(call: &str, span: usize, ptr: *mut libc::c_void) -> Error {
    let errno = errno::errno().0;
    let kind = match errno {
        libc::ENOMEM => ErrorKind::NotMapped,
        libc::EFAULT => ErrorKind::OutOfRange,
        _ => ErrorKind::from_errno(errno),
    };
    Error::from_os_as(
        kind,
        errno,
        format!("{call} of {span} bytes at {ptr:p} failed"),
    )
}

/// The error for a populating madvise that failed with EFAULT (a page
/// would have raised SIGBUS): `Truncated`, naming the file and its size.
fn populate_failed(err: Error, addr: usize, len: usize) -> Error {
    if err.errno() != libc::EFAULT {
        return err;
    }
    let src = match sys::mapping_source(addr) {
        Some(src) => src,
        None => return err,
    };
    let size = sys::file_size(&src.path, src.inode);
    let shrank = size.map_or(true, |size| src.offset + len as u64 > size);
    let why = if shrank {
        "the file shrank under the mapping"
    } else {
        "a page could not be read or filled (an I/O error, or no space for a page of a hole)"
    };
    Error::new(
        ErrorKind::Truncated,
        format!(
            "cannot populate {len} bytes at {addr:#x}: bytes {} to {} of \"{}\" ({}): {why}",
            src.offset,
            src.offset + len as u64,
            src.path.display(),
            match size {
                Some(size) => format!("now {size} bytes long"),
                None => "no longer at that path".to_string(),
            }
        ),
    )
    .with_errno(if shrank { libc::EFAULT } else { libc::EIO })
}

/// What a mapping being made comes from, which decides where it goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Anonymous memory: anywhere.
    Anonymous,
    /// A file whose page cache may hold large folios: placed to match them
    /// (see `place`).
    File(&'a OwnedFd),
    /// Shared memory (tmpfs: a POSIX object, a memfd): anywhere, since the
    /// kernel itself aligns shmem mappings for the huge pages it may use.
    Shmem(&'a OwnedFd),
}

/// The object behind a file, POSIX or memfd region, kept open for as long
/// as the region lives so that it can be handed out again (as a descriptor,
/// or over a socket) without ever reopening it by name.
#[derive(Debug)]
struct Object {
    /// `O_CLOEXEC`; its access mode is the one it was opened or received
    /// with, which may be more than the region allows.
    fd: OwnedFd,
    /// Offset in the object of the region's first byte (the caller's).
    offset: u64,
}

/// One mapping. Dropping it unmaps it (and closes the descriptor it
/// keeps); [`Region::unmap`] does the same and reports a failure instead of
/// ignoring it.
#[derive(Debug)]
pub struct Region {
    info: RegionInfo,
    object: Option<Object>,
    kept: Option<Box<dyn Kept>>,
}

impl Region {
    /// `mmap(NULL, lead + len, prot, flags, fd, file_offset)` where
    /// `file_offset` is page-aligned and the caller's byte is `lead` in.
    /// Returns the raw errno so that callers can word the message.
    pub(crate) fn mmap(
        source: Source<'_>,
        file_offset: i64,
        lead: usize,
        len: usize,
        prot: libc::c_int,
        flags: libc::c_int,
        backing: Backing,
    ) -> std::result::Result<Region, i32> {
        debug_assert!(lead < page_size() && len > 0);
        let map_len = lead.checked_add(len).ok_or(libc::ENOMEM)?;
        let (fd, placed) = match source {
            Source::Anonymous => (-1, false),
            Source::File(fd) => (fd.as_raw_fd(), true),
            Source::Shmem(fd) => (fd.as_raw_fd(), false),
        };
        let ptr = if placed {
            place::mmap_file(fd, file_offset, map_len, prot, flags)?
        } else {
            // SAFETY: a NULL hint lets the kernel pick an unused range,
            // so no existing memory is replaced; checked for MAP_FAILED.
            let p =
                unsafe { libc::mmap(std::ptr::null_mut(), map_len, prot, flags, fd, file_offset) };
            if p == libc::MAP_FAILED {
                return Err(errno::errno().0);
            }
            p
        };
        let base = NonNull::new(ptr.cast()).ok_or(libc::EFAULT)?;
        Ok(Region {
            info: RegionInfo {
                base,
                map_len,
                lead,
                len,
                backing,
                writable: prot & libc::PROT_WRITE != 0,
                private: flags & libc::MAP_PRIVATE != 0,
                watch: None,
            },
            object: None,
            kept: None,
        })
    }

    /// Takes ownership of a System V attachment at `base` of a segment of
    /// `seg_size` bytes, of which the caller asked for `len`.
    pub(crate) fn from_shmat(
        id: i32,
        base: NonNull<u8>,
        len: usize,
        seg_size: usize,
        writable: bool,
    ) -> Region {
        Region {
            info: RegionInfo {
                base,
                map_len: seg_size,
                lead: 0,
                len,
                backing: Backing::SysV { id },
                writable,
                private: false,
                watch: None,
            },
            object: None,
            kept: None,
        }
    }

    /// Keeps `fd`, the object mapped, whose byte `offset` is the region's
    /// first: what [`Region::object`] answers with.
    pub(crate) fn keep_object(&mut self, fd: OwnedFd, offset: u64) {
        self.object = Some(Object { fd, offset });
    }

    /// The descriptor of the object behind the region and the offset in it
    /// of the region's first byte; `None` for anonymous and System V
    /// memory, which have no descriptor.
    pub fn object(&self) -> Option<(BorrowedFd<'_>, u64)> {
        self.object.as_ref().map(|o| (o.fd.as_fd(), o.offset))
    }

    /// A copy of where the region lies.
    pub fn info(&self) -> RegionInfo {
        self.info
    }

    /// Records that `by` watches this region under `token` (its own name
    /// for it); `by` hears of the unmap and has its say after each sync.
    pub(crate) fn set_watch(&mut self, by: &'static dyn Watcher, token: usize) {
        self.info.watch = Some(Watch { by, token });
    }

    /// Keeps `what` alive until the mapping goes (unmap, drop).
    pub(crate) fn keep(&mut self, what: Box<dyn Kept>) {
        self.kept = Some(what);
    }

    /// The first byte the caller asked for.
    pub fn as_ptr(&self) -> *mut u8 {
        self.info.as_ptr()
    }

    /// Bytes the caller asked for (not rounded to pages).
    pub fn len(&self) -> usize {
        self.info.len
    }

    /// Never true: empty regions are refused when mapping.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// See [`RegionInfo::sync`].
    pub fn sync(&self, offset: usize, len: usize, opts: SyncOptions) -> Result<()> {
        self.info.sync(offset, len, opts)
    }

    /// See [`RegionInfo::advise`].
    pub fn advise(&self, offset: usize, len: usize, advice: Advice) -> Result<()> {
        self.info.advise(offset, len, advice)
    }

    /// Unmaps (or detaches) the region. On failure the region is handed back
    /// untouched with the error, so that nothing is lost or leaked; `Busy`
    /// while a thread of this process holds a mapipc mutex inside it.
    pub fn unmap(mut self) -> std::result::Result<(), (Region, Error)> {
        match self.release() {
            Ok(()) => {
                // The descriptor is closed; the mapping must not be again.
                drop(self.object.take());
                let kept = self.kept.take();
                std::mem::forget(self);
                drop(kept);
                Ok(())
            }
            Err(e) => Err((self, e)),
        }
    }

    /// Gives up ownership without unmapping: for a registry entry whose
    /// range the kernel has already handed to someone else. What it kept
    /// goes, since its mapping is gone.
    pub(crate) fn forget(mut self) {
        drop(self.object.take());
        // Its watcher lets go: the range is someone else's now.
        if let Some(w) = self.info.watch {
            w.by.suspend(w.token);
            w.by.forget(w.token);
        }
        let kept = self.kept.take();
        std::mem::forget(self);
        drop(kept);
    }

    fn release(&self) -> Result<()> {
        let info = &self.info;
        // A thread of this process holding a lock in the range would have
        // its robust list point into whatever is mapped there next.
        registry::check_unmap(info)?;
        registry::before_unmap(info);
        // No handler may put a page into the range once it is unmapped.
        if let Some(w) = info.watch {
            w.by.suspend(w.token);
        }
        let (rc, what) = match info.backing {
            // SAFETY: base was returned by shmat and is detached only here,
            // once: release runs from unmap (which then forgets self) or drop.
            Backing::SysV { .. } => (unsafe { libc::shmdt(info.base.as_ptr().cast()) }, "shmdt"),
            // SAFETY: [base, base + map_len) is exactly the mapping mmap
            // created for this Region, unmapped only here, once.
            _ => (
                unsafe { libc::munmap(info.base.as_ptr().cast(), info.map_len) },
                "munmap",
            ),
        };
        if rc < 0 {
            let err = Error::last_os(format!(
                "{what} of {} bytes at {:p} failed",
                info.map_len, info.base
            ));
            if let Some(w) = info.watch {
                w.by.resume(w.token);
            }
            return Err(err);
        }
        if let Some(w) = info.watch {
            w.by.forget(w.token);
        }
        Ok(())
    }
}

/// Dropping a region unmaps it, except while a thread of this process holds
/// a mapipc lock inside it: the mapping then stays (leaked) rather than let
/// the thread's robust list point into the next mapping placed there.
impl Drop for Region {
    fn drop(&mut self) {
        // A failure here has nowhere to go; callers that care use unmap().
        // `kept` is dropped after this body, so after the mapping went.
        let _ = self.release();
    }
}
