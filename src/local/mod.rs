//! The calling thread's hot state: what the fast paths (locating a region,
//! locking, copying) remember per thread, in one small block reached once
//! per call.
//!
//! A Rust `thread_local!` in a shared library uses the general-dynamic TLS
//! model: every access calls `__tls_get_addr`, and a mutex lock touched
//! three of them. Stable Rust has no switch for the model, so on x86_64 the
//! block is defined in assembly and addressed with the initial-exec model
//! (`%fs` plus an offset the loader writes into the GOT): two instructions,
//! no call, in the static and the shared library alike. The price: a
//! library that uses the initial-exec model anywhere is marked STATIC_TLS,
//! and when it is loaded with `dlopen` glibc places its whole TLS segment
//! (this block and the `thread_local!`s, 224 bytes in all) in the static
//! TLS surplus, 512 bytes by default for all such libraries; so the block is
//! kept small (`SIZE` is asserted below) and c_tests/test_tls_budget.sh
//! keeps the segment under a budget.
//!
//! Every field is zero in a new thread (`.tbss`), which must mean "nothing
//! known yet". The owners: `region::registry` (the last region found),
//! `sync::robust` (the thread's id, robust list and held-lock table),
//! `guard` (whether SIGBUS reaches this thread), `channel::here` (the
//! channel calls' state, on the heap so that it costs no static TLS). Plain integers, so that
//! this lowest layer names no type of the layers above.

use std::cell::Cell;
use std::marker::PhantomData;

/// The block. Only the owning thread (or a signal handler on it, which
/// uses none of it) reads and writes it.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Local {
    /// Registry generation of the cached region; 0: none.
    pub(crate) found_generation: Cell<u64>,
    /// The cached region's bytes `[start, end)`.
    pub(crate) found_start: Cell<usize>,
    pub(crate) found_end: Cell<usize>,
    /// `FOUND_WRITABLE | FOUND_PRIVATE`.
    pub(crate) found_flags: Cell<u8>,
    /// Whether SIGBUS was seen to reach this thread.
    pub(crate) sigbus_open: Cell<bool>,
    /// Kernel thread id; 0: not looked up (again after fork).
    pub(crate) tid: Cell<u32>,
    /// Process id, as of the lookup.
    pub(crate) pid: Cell<u32>,
    /// The thread's robust list head (`*mut robust_list_head`).
    pub(crate) robust_head: Cell<usize>,
    /// The thread's held-lock table (`*const HeldTable`).
    pub(crate) held: Cell<usize>,
    /// The thread's channel state (`*const channel::here::Here`); 0: not
    /// made yet, 1: freed as the thread ended.
    pub(crate) channel: Cell<usize>,
    /// Not Send, not Sync: a `&Local` never leaves its thread.
    _thread: PhantomData<*const ()>,
}

pub(crate) const FOUND_WRITABLE: u8 = 1;
pub(crate) const FOUND_PRIVATE: u8 = 2;

/// Bytes of static TLS the block takes. Private to its thread, so it needs
/// no cache line of its own.
const SIZE: usize = std::mem::size_of::<Local>();
const ALIGN: usize = std::mem::align_of::<Local>();
const _: () = assert!(SIZE <= 64, "keep the initial-exec TLS block small");
const _: () = assert!(ALIGN == 8);

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    // Hidden: the name must not be exported from the shared library.
    ".pushsection .tbss.mapipc_local,\"awT\",@nobits",
    ".p2align 3",
    ".globl mapipc_local",
    ".hidden mapipc_local",
    ".type mapipc_local,@object",
    ".size mapipc_local, {size}",
    "mapipc_local:",
    ".zero {size}",
    ".popsection",
    size = const SIZE,
);

/// The calling thread's block. The reference cannot leave the thread
/// (`Local` is neither Send nor Sync), and the block lives as long as the
/// thread, thread-local destructors included.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn local() -> &'static Local {
    let addr: usize;
    // SAFETY: fs:0 holds the thread pointer (x86_64 TLS ABI); the GOT entry
    // the initial-exec relocation names holds the block's offset from it,
    // the same for the thread's whole life: pure, reads no Rust memory.
    unsafe {
        std::arch::asm!(
            "mov {addr}, qword ptr fs:[0]",
            "add {addr}, qword ptr [rip + mapipc_local@GOTTPOFF]",
            addr = out(reg) addr,
            options(pure, nomem, nostack),
        );
    }
    // SAFETY: the block is SIZE zero-initialised bytes of this thread,
    // 8-aligned like Local; every field of Local is valid for any bit pattern that
    // Local's own code writes, and all-zero is valid.
    unsafe { &*(addr as *const Local) }
}

#[cfg(not(target_arch = "x86_64"))]
thread_local! {
    static LOCAL: Local = const {
        Local {
            found_generation: Cell::new(0),
            found_start: Cell::new(0),
            found_end: Cell::new(0),
            found_flags: Cell::new(0),
            sigbus_open: Cell::new(false),
            tid: Cell::new(0),
            pid: Cell::new(0),
            robust_head: Cell::new(0),
            held: Cell::new(0),
            channel: Cell::new(0),
            _thread: PhantomData,
        }
    };
}

/// The calling thread's block (elsewhere: a plain thread-local, which has
/// no destructor and so outlives every use).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn local() -> &'static Local {
    // SAFETY: the thread-local has no destructor: it lives as long as the
    // thread, and the reference cannot leave the thread.
    LOCAL.with(|l| unsafe { &*(l as *const Local) })
}
