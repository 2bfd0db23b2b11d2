//! The process-wide table of live regions, keyed by address, that lets C
//! callers name a region by the pointer they were given.
//!
//! One pthread mutex guards it. `pthread_atfork` handlers take the mutex
//! around `fork()`, so a child never inherits it locked by a thread that
//! does not exist there; the child's copy of the table describes exactly the
//! mappings the child inherited, so it stays correct.
//!
//! Objects that live inside regions (mutexes, words to wait on) are checked
//! on every call, so [`locate`] answers from a per-thread copy of the last
//! region it found while `GENERATION` says no region came or went since:
//! a lock/unlock pair takes no registry lock and makes no system call.

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::sync::atomic::{compiler_fence, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use super::{Region, RegionInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::local;

struct Registry {
    lock: UnsafeCell<libc::pthread_mutex_t>,
    /// Regions by the page-aligned start of their mapping. Entries never
    /// overlap.
    regions: UnsafeCell<BTreeMap<usize, Region>>,
}

// SAFETY: `regions` is only touched while `lock` is held (see `Locked`), and
// the mutex itself is designed to be shared between threads.
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    lock: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
    regions: UnsafeCell::new(BTreeMap::new()),
};

static ATFORK: Once = Once::new();

/// Bumped (under the lock) whenever a region is added or removed, so that a
/// thread's cached copy of a region is trusted only while it still holds.
static GENERATION: AtomicU64 = AtomicU64::new(1);

extern "C" fn before_fork() {
    // SAFETY: the mutex is statically initialised and lives forever.
    unsafe { libc::pthread_mutex_lock(REGISTRY.lock.get()) };
}

extern "C" fn after_fork() {
    // SAFETY: before_fork locked it on this same thread (in the child, the
    // forking thread is the only one and is the owner).
    unsafe { libc::pthread_mutex_unlock(REGISTRY.lock.get()) };
}

/// The table, locked for as long as this value lives. Not `Send`: a pthread
/// mutex must be unlocked by the thread that locked it.
struct Locked(std::marker::PhantomData<*const ()>);

impl Locked {
    fn new() -> Locked {
        ATFORK.call_once(|| {
            // SAFETY: the handlers are plain functions valid for the life of
            // the library; glibc drops them if the library is unloaded. A
            // failure (ENOMEM) only loses fork protection, so it is ignored.
            unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
        });
        // SAFETY: the mutex is statically initialised and lives forever; a
        // default mutex only fails to lock on deadlock, which cannot happen
        // because no code path locks it twice.
        unsafe { libc::pthread_mutex_lock(REGISTRY.lock.get()) };
        Locked(std::marker::PhantomData)
    }

    fn regions(&mut self) -> &mut BTreeMap<usize, Region> {
        // SAFETY: the mutex is held while self lives, and &mut self makes
        // this the only reference handed out.
        unsafe { &mut *REGISTRY.regions.get() }
    }

    /// The region whose mapping contains `addr`, if any.
    fn containing(&mut self, addr: usize) -> Option<&Region> {
        let (_, region) = self.regions().range(..=addr).next_back()?;
        let info = region.info();
        (addr - info.base_addr() < info.map_len()).then_some(region)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: locked in new() on this thread.
        unsafe { libc::pthread_mutex_unlock(REGISTRY.lock.get()) };
    }
}

/// Adds a region; returns the pointer the caller is given.
///
/// An entry that overlaps the new mapping can only be stale (its memory was
/// unmapped behind mapipc's back and the kernel reused the range); it is
/// dropped without unmapping, since the range now belongs to the new region.
pub fn insert(region: Region) -> *mut u8 {
    let info = region.info();
    let end = info.base_addr() + info.map_len();
    let mut locked = Locked::new();
    let regions = locked.regions();
    while let Some((&start, old)) = regions.range(..end).next_back() {
        if start + old.info().map_len() <= info.base_addr() {
            break;
        }
        if let Some(stale) = regions.remove(&start) {
            stale.forget();
        }
    }
    regions.insert(info.base_addr(), region);
    GENERATION.fetch_add(1, Ordering::Release);
    info.as_ptr()
}

/// Removes and returns the region that starts exactly at `addr`.
pub fn remove(addr: usize) -> Result<Region> {
    let mut locked = Locked::new();
    let base = match locked.containing(addr) {
        Some(region) if region.info().addr() == addr => region.info().base_addr(),
        other => return Err(not_a_start(addr, other.map(Region::info))),
    };
    let region = locked
        .regions()
        .remove(&base)
        .ok_or_else(|| not_a_start(addr, None))?;
    GENERATION.fetch_add(1, Ordering::Release);
    Ok(region)
}

/// Puts back a region that `remove` took out and could not unmap.
pub fn restore(region: Region) {
    insert(region);
}

/// An upper layer's objection to unmapping a region (sync: a mutex held in
/// it), checked before every [`unmap`].
pub type UnmapCheck = fn(&RegionInfo) -> Result<()>;

static UNMAP_CHECK: OnceLock<UnmapCheck> = OnceLock::new();

/// Registers the check [`unmap`] asks before unmapping; the first
/// registration stays (there is one upper layer that needs it).
pub fn set_unmap_check(check: UnmapCheck) {
    let _ = UNMAP_CHECK.set(check);
}

/// What the registered check says of unmapping `info` (nothing
/// registered: no objection). Every unmap of a [`Region`] asks it.
pub(crate) fn check_unmap(info: &RegionInfo) -> Result<()> {
    UNMAP_CHECK.get().map_or(Ok(()), |check| check(info))
}

/// What an upper layer must do before a region's pages go (channel: stop
/// the threads that watch a channel in it); it cannot object.
pub type UnmapHook = fn(&RegionInfo);

static UNMAP_HOOK: OnceLock<UnmapHook> = OnceLock::new();

/// Registers the hook every unmap of a [`Region`] runs once the check
/// passed, before the pages go; the first registration stays.
pub fn set_unmap_hook(hook: UnmapHook) {
    let _ = UNMAP_HOOK.set(hook);
}

/// Runs the registered hook (if any) for `info`, whose pages go next.
pub(crate) fn before_unmap(info: &RegionInfo) {
    if let Some(hook) = UNMAP_HOOK.get() {
        hook(info);
    }
}

/// Unmaps the region that starts exactly at `addr`, unless the registered
/// check objects. On any failure the region stays as it was.
pub fn unmap(addr: usize) -> Result<()> {
    let region = remove(addr)?;
    region.unmap().map_err(|(region, err)| {
        restore(region);
        err
    })
}

/// The region that starts exactly at `addr`.
pub fn lookup_start(addr: usize) -> Result<RegionInfo> {
    let mut locked = Locked::new();
    match locked.containing(addr).map(Region::info) {
        Some(info) if info.addr() == addr => Ok(info),
        other => Err(not_a_start(addr, other)),
    }
}

/// Runs `f` on the region that starts exactly at `addr`, under the lock:
/// for what a copy cannot carry (its descriptor). `f` must be brief.
pub fn with_start<T>(addr: usize, f: impl FnOnce(&Region) -> T) -> Result<T> {
    let mut locked = Locked::new();
    match locked.containing(addr) {
        Some(region) if region.info().addr() == addr => Ok(f(region)),
        other => Err(not_a_start(addr, other.map(Region::info))),
    }
}

/// The region whose caller-visible bytes contain `addr`.
pub fn lookup_containing(addr: usize) -> Result<RegionInfo> {
    let mut locked = Locked::new();
    match locked.containing(addr).map(Region::info) {
        Some(info) if info.contains(addr) => Ok(info),
        _ => Err(Error::new(
            ErrorKind::NotMapped,
            format!("{addr:#x} is not inside any live mapipc region"),
        )),
    }
}

/// A number that changes whenever a region comes or goes: what a cache of
/// region facts must match to be trusted.
#[inline]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// What an object inside a region needs from the region's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Only loads (waiting on a word).
    Read,
    /// Loads and stores (a mutex, a channel).
    Write,
}

/// Where an object found by [`locate`] lies: the caller's bytes of its
/// region, and what the region allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    start: usize,
    end: usize,
    writable: bool,
    private: bool,
}

impl Place {
    fn of(info: &RegionInfo) -> Place {
        Place {
            start: info.addr(),
            end: info.addr() + info.len(),
            writable: info.is_writable(),
            private: info.is_private(),
        }
    }

    /// Whether the region's pages are private to this process.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Whether the region's pages may be written.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Bytes of the region from `addr` (inside it) to its end.
    pub fn room(&self, addr: usize) -> usize {
        self.end - addr
    }

    /// Whether `size` bytes at `addr` lie inside and allow `need`.
    #[inline]
    fn holds(&self, addr: usize, size: usize, need: Need) -> bool {
        addr >= self.start
            && addr < self.end
            && size <= self.end - addr
            && (need == Need::Read || self.writable)
    }
}

/// The region [`locate`] found last on this thread, with the generation it
/// was found in (0: nothing yet; generations start at 1), from the thread's
/// block.
#[inline(always)]
fn last_found() -> (u64, Place) {
    let l = local::local();
    let flags = l.found_flags.get();
    let place = Place {
        start: l.found_start.get(),
        end: l.found_end.get(),
        writable: flags & local::FOUND_WRITABLE != 0,
        private: flags & local::FOUND_PRIVATE != 0,
    };
    (l.found_generation.get(), place)
}

fn remember_found(generation: u64, place: Place) {
    let l = local::local();
    // Invalid while half written, for a signal handler that locates on
    // this thread in between (generations start at 1).
    l.found_generation.set(0);
    compiler_fence(Ordering::SeqCst);
    l.found_start.set(place.start);
    l.found_end.set(place.end);
    let mut flags = 0;
    if place.writable {
        flags |= local::FOUND_WRITABLE;
    }
    if place.private {
        flags |= local::FOUND_PRIVATE;
    }
    l.found_flags.set(flags);
    compiler_fence(Ordering::SeqCst);
    l.found_generation.set(generation);
}

/// The live region holding the `size` bytes of the `what` at `addr`, after
/// checking that `addr` is not NULL, is `align`-aligned, lies with all its
/// bytes inside one region, and that the region allows `need`.
///
/// Answered without the registry lock when the thread's last lookup found
/// the same region and no region came or went since.
#[inline]
pub fn locate(addr: usize, size: usize, align: usize, need: Need, what: &str) -> Result<Place> {
    match located(addr, size, align, need) {
        Some(place) => Ok(place),
        None => locate_slow(addr, size, align, need, what),
    }
}

/// [`locate`] answered from the thread's last lookup alone: `None` when
/// that cannot tell (then `locate` looks, and says what is wrong).
#[inline(always)]
pub fn located(addr: usize, size: usize, align: usize, need: Need) -> Option<Place> {
    let (generation, place) = last_found();
    (addr % align == 0
        && place.holds(addr, size, need)
        && generation == GENERATION.load(Ordering::Acquire))
    .then_some(place)
}

#[cold]
#[inline(never)]
fn locate_slow(addr: usize, size: usize, align: usize, need: Need, what: &str) -> Result<Place> {
    if addr == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("the {what} pointer is NULL"),
        ));
    }
    if addr % align != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("the {what} at {addr:#x} is not {align}-byte aligned"),
        ));
    }
    // Read before the lookup: a change racing with it only makes the cached
    // copy look older than it is, never newer.
    let generation = GENERATION.load(Ordering::Acquire);
    let info = lookup_containing(addr)?;
    let place = Place::of(&info);
    remember_found(generation, place);
    // Cannot underflow: info contains addr.
    let room = place.end - addr;
    if size > room {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "the {size}-byte {what} at {addr:#x} does not fit in its region: only {room} \
                 bytes are left before the end of the {}-byte region at {:#x}",
                info.len(),
                info.addr()
            ),
        ));
    }
    if need == Need::Write && !place.writable {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("the {what} at {addr:#x} is in a read-only region; map it with MAPIPC_WRITE"),
        ));
    }
    Ok(place)
}

fn not_a_start(addr: usize, around: Option<RegionInfo>) -> Error {
    let message = match around {
        Some(info) => format!(
            "{addr:#x} is not the start of a mapipc region: it lies {} bytes into the \
             {}-byte region at {:#x}; pass the pointer mapipc returned",
            addr as isize - info.addr() as isize,
            info.len(),
            info.addr()
        ),
        None => format!(
            "{addr:#x} is not a live mapipc region: never mapped by mapipc, or already unmapped"
        ),
    };
    Error::new(ErrorKind::NotMapped, message)
}
