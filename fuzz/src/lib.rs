//! What the fuzz targets share: memory fenced by PROT_NONE pages and ASan
//! poisoning, a reader of the fuzz input, a hostile thread that writes the
//! shared bytes while a call runs, and a clock that fails a call that
//! outlives its timeout.
//!
//! The targets use only the public C API (declared here as the header
//! declares it), so they stay valid when the memory formats change.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use mapipc as _; // links the library whose C API is declared below

pub type Status = i32;
pub const OK: Status = 0;
pub const ERR_INVALID_ARGUMENT: Status = 1;
pub const ERR_NOT_FOUND: Status = 2;
pub const ERR_PERMISSION_DENIED: Status = 4;
pub const ERR_OUT_OF_RANGE: Status = 7;
pub const ERR_SYSTEM: Status = 11;
pub const ERR_TIMED_OUT: Status = 13;
pub const ERR_OWNER_DIED: Status = 14;
pub const ERR_NOT_RECOVERABLE: Status = 15;
pub const ERR_DEADLOCK: Status = 16;
pub const ERR_BUSY: Status = 17;
pub const ERR_TOO_LARGE: Status = 18;
pub const ERR_CLOSED: Status = 19;
const MAPIPC_READ: u32 = 0x1;
const MAPIPC_WRITE: u32 = 0x2;

extern "C" {
    fn mapipc_map_anonymous(length: usize, flags: u32, out: *mut *mut c_void) -> Status;
    pub fn mapipc_channel_init(chan: *mut c_void, size: usize) -> Status;
    pub fn mapipc_channel_max_message(chan: *const c_void, out: *mut usize) -> Status;
    pub fn mapipc_channel_send(
        chan: *mut c_void,
        msg: *const c_void,
        len: usize,
        timeout_ns: i64,
    ) -> Status;
    pub fn mapipc_channel_recv(
        chan: *mut c_void,
        buf: *mut c_void,
        cap: usize,
        out_len: *mut usize,
        timeout_ns: i64,
    ) -> Status;
    pub fn mapipc_channel_close(chan: *mut c_void) -> Status;
    pub fn mapipc_mutex_init(m: *mut c_void) -> Status;
    pub fn mapipc_mutex_lock(m: *mut c_void, timeout_ns: i64) -> Status;
    pub fn mapipc_mutex_unlock(m: *mut c_void) -> Status;
    pub fn mapipc_mutex_consistent(m: *mut c_void) -> Status;
    fn __asan_poison_memory_region(addr: *const c_void, size: usize);
}

/// Makes a hole of `len` bytes between two PROT_NONE pages and asks for a
/// mapipc region of that size, which the kernel's top-down search usually
/// puts in the hole. None (the region stays mapped, unused) if it did not.
fn try_shared(len: usize, pg: usize) -> Option<usize> {
    // SAFETY: a fresh reservation; nothing else refers to it.
    let hole = unsafe {
        let base = libc::mmap(
            std::ptr::null_mut(),
            len + 2 * pg,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(base, libc::MAP_FAILED, "mmap");
        assert_eq!(libc::munmap((base as usize + pg) as *mut c_void, len), 0);
        base as usize + pg
    };
    let mut got: *mut c_void = std::ptr::null_mut();
    // SAFETY: got is a valid out pointer.
    let st = unsafe { mapipc_map_anonymous(len, MAPIPC_READ | MAPIPC_WRITE, &mut got) };
    assert_eq!(st, OK, "mapipc_map_anonymous");
    let got = got as usize;
    // Elsewhere (an allocation took the hole first): guards around it if
    // its neighbours are free.
    (got == hole || (guard_at(got - pg, pg) && guard_at(got + len, pg))).then_some(got)
}

/// A PROT_NONE page at `addr` unless something is mapped there.
fn guard_at(addr: usize, pg: usize) -> bool {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
    let p = unsafe { libc::mmap(addr as *mut c_void, pg, libc::PROT_NONE, flags, -1, 0) };
    p as usize == addr
}

pub fn page() -> usize {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// `len` bytes whose first byte follows poisoned bytes (or a PROT_NONE
/// page) and whose last byte is followed by a PROT_NONE page: any access
/// outside them faults or is reported by ASan. Lives for the process.
#[derive(Clone, Copy, Debug)]
pub struct Fenced {
    pub addr: usize,
    pub len: usize,
}

impl Fenced {
    /// A mapipc region of exactly `len` bytes (a multiple of the page
    /// size), shared as a peer's memory would be, with a PROT_NONE page
    /// on each side outside it: the library bounds what a peer's bytes
    /// claim by the region, so the guards must lie beyond it.
    pub fn shared(len: usize) -> Fenced {
        let pg = page();
        assert_eq!(len % pg, 0);
        for _ in 0..64 {
            let Some(addr) = try_shared(len, pg) else {
                continue;
            };
            return Fenced { addr, len };
        }
        panic!("no place for a region between two guard pages");
    }

    /// Private memory, for the caller's own buffers.
    pub fn private(len: usize) -> Fenced {
        let pg = page();
        let inner = len.div_ceil(pg).max(1) * pg;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                inner + 2 * pg,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap");
        Self::fence(base as usize, inner, len)
    }

    /// The first and last page of `[base, base + inner + 2 pages)` become
    /// PROT_NONE; the fenced bytes end where the last page starts, and the
    /// bytes before them in their first page are poisoned.
    fn fence(base: usize, inner: usize, len: usize) -> Fenced {
        let pg = page();
        let addr = base + pg + inner - len;
        // SAFETY: both pages belong to the mapping just made, which nothing
        // else uses; the poisoned bytes lie in it too.
        unsafe {
            assert_eq!(libc::mprotect(base as *mut c_void, pg, libc::PROT_NONE), 0);
            let last = (base + pg + inner) as *mut c_void;
            assert_eq!(libc::mprotect(last, pg, libc::PROT_NONE), 0);
            __asan_poison_memory_region((base + pg) as *const c_void, addr - (base + pg));
        }
        Fenced { addr, len }
    }

    /// Its last `n` bytes; the bytes before them are poisoned.
    pub fn tail(self, n: usize) -> Fenced {
        // SAFETY: the poisoned bytes are the span's own, used by no one.
        unsafe { __asan_poison_memory_region(self.addr as *const c_void, self.len - n) };
        Fenced {
            addr: self.addr + self.len - n,
            len: n,
        }
    }

    pub fn ptr(&self) -> *mut c_void {
        self.addr as *mut c_void
    }

    /// Stores `bytes` at `offset` (wrapped into the span, cut at its end),
    /// byte by byte as atomics: the library may be reading them meanwhile.
    pub fn scribble(&self, offset: usize, bytes: &[u8]) {
        let start = offset % self.len;
        for (i, b) in bytes.iter().take(self.len - start).enumerate() {
            // SAFETY: start + i < len: inside the fenced bytes, which live
            // for the process; every access to them is atomic.
            let cell = unsafe { &*((self.addr + start + i) as *const AtomicU8) };
            cell.store(*b, Ordering::Relaxed);
        }
    }

    pub fn zero(&self) {
        self.scribble(0, &vec![0; self.len]);
    }
}

/// The fuzz input, read front to back; zeros once it is used up.
#[derive(Debug)]
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input(data)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    /// A short timeout: 0 (try once), 1 ms, 2 ms or 5 ms.
    pub fn timeout_ns(&mut self) -> i64 {
        [0, 1_000_000, 2_000_000, 5_000_000][usize::from(self.u8() & 3)]
    }
    /// A write of the hostile peer: an offset, then 1 to 64 bytes.
    pub fn scribble(&mut self) -> (usize, &'a [u8]) {
        let offset = usize::from(self.u16());
        let len = usize::from(self.u8() & 63) + 1;
        (offset, self.bytes(len))
    }
}

/// Runs `call` while another thread keeps storing `bytes` (and their
/// complement, in turn) at `offset` of `span`: a peer writing during it.
pub fn while_hostile<T>(span: Fenced, offset: usize, bytes: &[u8], call: impl FnOnce() -> T) -> T {
    let stop = AtomicBool::new(false);
    let flipped: Vec<u8> = bytes.iter().map(|b| !b).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                span.scribble(offset, bytes);
                span.scribble(offset, &flipped);
            }
        });
        let out = call();
        stop.store(true, Ordering::Relaxed);
        out
    })
}

/// Slack for a call past its timeout: scheduling on a loaded machine under
/// ASan, never a hang.
const SLACK: Duration = Duration::from_secs(3);

/// Runs one library call with timeout `timeout_ns` and fails if it took
/// much longer: a hostile peer must not make a call hang.
pub fn timed<T>(what: &str, timeout_ns: i64, call: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = call();
    let took = start.elapsed();
    let limit = Duration::from_nanos(timeout_ns.max(0) as u64) + SLACK;
    assert!(
        took < limit,
        "{what} with timeout {timeout_ns} ns took {took:?}"
    );
    out
}

/// Runs each input on a fresh thread, so that whatever locks one input
/// left held die with its thread and the next starts clean.
pub fn on_fresh_thread(run: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        s.spawn(run);
    });
}

/// Fails on a status the call never returns.
pub fn expect_one_of(what: &str, st: Status, allowed: &[Status]) {
    assert!(
        allowed.contains(&st),
        "{what} returned {st}, not one of {allowed:?}"
    );
}
