//! The process's SIGBUS handler while mapipc needs one.
//!
//! Installed the first time a guarded region or a fault-proof copy needs it,
//! never before. It handles exactly two cases: a fault inside mapipc's own
//! copy on the copy's region side (resumed at its recovery point) and a
//! fault past the end of the file of a guarded region (the vanished pages
//! are replaced with zeros and the access retried). Every other SIGBUS
//! (other codes, other addresses, signals sent with kill) goes to the
//! disposition the program had, as the kernel would have applied it:
//! SIG_IGN ignores a sent signal, SIG_DFL kills, a handler is called with
//! its own sa_mask, SA_NODEFER and SA_RESETHAND honoured.
//!
//! A program may install its own SIGBUS handler after mapipc's: mapipc
//! notices at its next map call (and when a copy fails), puts its own
//! handler back in front and chains to the program's (`reclaim`).
//!
//! It runs inside arbitrary code, so it takes no lock, allocates nothing,
//! keeps errno, and calls only async-signal-safe system calls.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::{copy, table};
use crate::error::{Error, Result};
use crate::sys::page_size;

/// The disposition to chain to, in words the handler reads without locks:
/// a sequence lock (odd while a writer is busy; writers are serialised by
/// `WRITER` and block SIGBUS meanwhile, so no handler of theirs spins).
struct Previous {
    seq: AtomicU32,
    handler: AtomicUsize,
    flags: AtomicI32,
    /// Signals 1..=64 of its sa_mask (the kernel knows no others).
    mask: AtomicU64,
}

static PREVIOUS: Previous = Previous {
    seq: AtomicU32::new(0),
    handler: AtomicUsize::new(libc::SIG_DFL),
    flags: AtomicI32::new(0),
    mask: AtomicU64::new(0),
};

/// Serialises installation and every write of PREVIOUS (never taken in the
/// handler). A flag rather than a mutex so that fork can hold it across
/// (`pthread_atfork`): a child never starts with a write half done or the
/// lock held by a thread it does not have.
static WRITER: AtomicBool = AtomicBool::new(false);
static ATFORK: AtomicBool = AtomicBool::new(false);

struct Writing;

impl Writing {
    fn start() -> Writing {
        lock_writer();
        Writing
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        unlock_writer();
    }
}

extern "C" fn lock_writer() {
    while WRITER
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

extern "C" fn unlock_writer() {
    WRITER.store(false, Ordering::Release);
}

extern "C" fn child_after_fork() {
    unlock_writer();
    table::after_fork_child();
}
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// errno of a failed installation (0: none).
static INSTALL_ERRNO: AtomicI32 = AtomicI32::new(0);

/// Page size, read once outside the handler (sysconf is not promised to be
/// async-signal-safe).
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// Whether the handler is installed (one load).
#[inline(always)]
pub(crate) fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

/// Installs the handler if it is not yet; cheap once it is.
#[inline]
pub(crate) fn install() -> Result<()> {
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    install_slow()
}

#[cold]
fn install_slow() -> Result<()> {
    let _w = Writing::start();
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    PAGE.store(page_size(), Ordering::SeqCst);
    if !ATFORK.swap(true, Ordering::AcqRel) {
        // SAFETY: plain functions that take or release a flag and reset
        // counters; valid for the life of the process (never unloaded).
        unsafe {
            libc::pthread_atfork(
                Some(lock_writer),
                Some(unlock_writer),
                Some(child_after_fork),
            )
        };
    }
    match take_over() {
        Ok(()) => {
            INSTALL_ERRNO.store(0, Ordering::Relaxed);
            INSTALLED.store(true, Ordering::Release);
            Ok(())
        }
        Err(errno) => {
            INSTALL_ERRNO.store(errno, Ordering::Relaxed);
            Err(Error::from_os(
                errno,
                "cannot install mapipc's SIGBUS handler",
            ))
        }
    }
}

/// If the program installed its own SIGBUS disposition after mapipc's,
/// puts mapipc's back in front and chains to the program's. Called where a
/// system call costs nothing that matters: every map call, every guarded
/// map, every failed copy.
pub(crate) fn reclaim() {
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    if current().map(|a| a.sa_sigaction) == Ok(ours()) {
        return;
    }
    let _w = Writing::start();
    let _ = take_over();
}

fn ours() -> usize {
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigbus;
    handler as usize
}

fn current() -> std::result::Result<libc::sigaction, i32> {
    // SAFETY: a zeroed sigaction is a valid value to be filled in.
    let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a NULL new action only queries; cur is valid for writing.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut cur) } != 0 {
        return Err(errno::errno().0);
    }
    Ok(cur)
}

/// Stores the program's disposition as the one to chain to, then installs
/// ours; the previous one is stored before ours can run, and stored again
/// if it changed between the two calls. Caller holds WRITER.
fn take_over() -> std::result::Result<(), i32> {
    let before = current()?;
    if before.sa_sigaction != ours() {
        remember(&before);
    }
    // SAFETY: a zeroed sigaction is a valid value to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ours();
    // SA_ONSTACK: a program with an alternate signal stack keeps using it.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: sa_mask is a valid sigset_t inside action.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: a zeroed sigaction is a valid value to be filled in.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid.
    if unsafe { libc::sigaction(libc::SIGBUS, &action, &mut old) } != 0 {
        return Err(errno::errno().0);
    }
    if old.sa_sigaction != ours() && !same_action(&old, &before) {
        remember(&old);
    }
    Ok(())
}

fn same_action(a: &libc::sigaction, b: &libc::sigaction) -> bool {
    a.sa_sigaction == b.sa_sigaction
        && a.sa_flags == b.sa_flags
        && low_mask(&a.sa_mask) == low_mask(&b.sa_mask)
}

/// The first 64 signals of a set (all the kernel has on Linux).
fn low_mask(set: &libc::sigset_t) -> u64 {
    // SAFETY: sigset_t is at least 8 bytes of plain data, suitably aligned.
    unsafe { *(set as *const libc::sigset_t).cast::<u64>() }
}

fn sigbus_bit() -> u64 {
    1u64 << (libc::SIGBUS - 1)
}

/// Writes PREVIOUS under the sequence lock, with SIGBUS blocked in this
/// thread so that no handler here waits for a write it interrupted.
fn remember(action: &libc::sigaction) {
    let mut block = sigbus_bit();
    let mut old = 0u64;
    // SAFETY: 8-byte kernel signal sets, valid pointers.
    unsafe { rt_sigprocmask(libc::SIG_BLOCK, &mut block, &mut old) };
    PREVIOUS.seq.fetch_add(1, Ordering::SeqCst);
    PREVIOUS
        .handler
        .store(action.sa_sigaction, Ordering::SeqCst);
    PREVIOUS.flags.store(action.sa_flags, Ordering::SeqCst);
    PREVIOUS
        .mask
        .store(low_mask(&action.sa_mask), Ordering::SeqCst);
    PREVIOUS.seq.fetch_add(1, Ordering::SeqCst);
    // SAFETY: as above; restores the mask this thread had.
    unsafe { rt_sigprocmask(libc::SIG_SETMASK, &mut old, std::ptr::null_mut()) };
}

/// A consistent copy of PREVIOUS: (handler, flags, mask).
fn previous() -> (usize, i32, u64) {
    loop {
        let seq = PREVIOUS.seq.load(Ordering::SeqCst);
        if seq & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let got = (
            PREVIOUS.handler.load(Ordering::SeqCst),
            PREVIOUS.flags.load(Ordering::SeqCst),
            PREVIOUS.mask.load(Ordering::SeqCst),
        );
        if PREVIOUS.seq.load(Ordering::SeqCst) == seq {
            return got;
        }
    }
}

/// rt_sigprocmask on 8-byte kernel sets: a raw system call, so that no
/// library wrapper (or sanitizer interceptor) runs inside the handler.
///
/// # Safety
/// `set` and `old` are NULL or valid for 8 bytes.
unsafe fn rt_sigprocmask(how: libc::c_int, set: *mut u64, old: *mut u64) {
    // SAFETY: the caller's promise.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set, old, 8usize) };
}

/// Chains in flight: (siginfo address, stack pointer when chaining). A
/// program handler installed after ours that chains back to ours (its
/// "previous") calls us again with the same siginfo from deeper on the
/// same stack; then the signal is nobody's and gets the default action.
const CHAINS: usize = 64;
#[allow(clippy::declare_interior_mutable_const)]
const NONE: AtomicUsize = AtomicUsize::new(0);
static CHAIN_INFO: [AtomicUsize; CHAINS] = [NONE; CHAINS];
static CHAIN_SP: [AtomicUsize; CHAINS] = [NONE; CHAINS];

fn chain_slot(info: usize) -> usize {
    (info >> 4) % CHAINS
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let saved = errno::errno();
    let marker = 0u8;
    let sp = &marker as *const u8 as usize;
    // SAFETY: the kernel (or a chaining handler) passes a valid siginfo_t.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    let slot = chain_slot(info as usize);
    let looped = CHAIN_INFO[slot].load(Ordering::SeqCst) == info as usize
        && sp < CHAIN_SP[slot].load(Ordering::SeqCst);
    // A signal sent with kill(), sigqueue() or raise() (si_code <= 0) is
    // not a fault of ours.
    if code > 0 && !looped {
        // SAFETY: ctx is the ucontext_t the kernel passed with the signal.
        if unsafe { copy::redirect(ctx, addr, code) } {
            errno::set_errno(saved);
            return;
        }
        let page = PAGE.load(Ordering::Relaxed);
        if table::absorb(addr, code, page) {
            errno::set_errno(saved);
            return;
        }
    }
    errno::set_errno(saved);
    // SAFETY: the arguments are the ones this handler received.
    unsafe { pass_on(sig, info, ctx, looped, sp) };
    errno::set_errno(saved);
}

/// Hands a SIGBUS that is not ours to the disposition the program had,
/// applied as the kernel would have applied it.
///
/// # Safety
/// The arguments are those of a SIGBUS delivered to `on_sigbus`.
unsafe fn pass_on(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
    looped: bool,
    sp: usize,
) {
    // SAFETY: the caller's promise.
    let sent = unsafe { (*info).si_code } <= 0;
    let (target, flags, mask) = if looped {
        (libc::SIG_DFL, 0, 0)
    } else {
        previous()
    };
    if target == libc::SIG_IGN && sent {
        return;
    }
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // Die of it as the program would have (the kernel kills for an
        // ignored fault too): restore the default and let the faulting
        // instruction run again, or re-send a signal that was sent (it
        // stays pending until this handler returns).
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask.
        let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        // SAFETY: valid pointers; sigaction and raise are async-signal-safe.
        unsafe {
            libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut());
            if sent {
                libc::raise(libc::SIGBUS);
            }
        }
        return;
    }
    if flags & libc::SA_RESETHAND != 0 {
        // One call only: later SIGBUS that are not ours get the default.
        let _ = PREVIOUS.handler.compare_exchange(
            target,
            libc::SIG_DFL,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    // The mask the kernel would have set for that handler: the interrupted
    // code's, its sa_mask, and SIGBUS itself unless SA_NODEFER.
    // SAFETY: ctx is the ucontext_t the kernel passed with the signal.
    let interrupted = low_mask(unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_sigmask });
    let mut want = interrupted | mask;
    if flags & libc::SA_NODEFER == 0 {
        want |= sigbus_bit();
    } else {
        want &= !sigbus_bit();
    }
    let mut old = 0u64;
    // SAFETY: 8-byte kernel signal sets, valid pointers.
    unsafe { rt_sigprocmask(libc::SIG_SETMASK, &mut want, &mut old) };
    let slot = chain_slot(info as usize);
    CHAIN_SP[slot].store(sp, Ordering::SeqCst);
    CHAIN_INFO[slot].store(info as usize, Ordering::SeqCst);
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the program installed this function as an SA_SIGINFO
        // handler; it gets exactly what the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(target) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the program installed this function as a plain handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(target) };
        f(sig);
    }
    let _ = CHAIN_INFO[slot].compare_exchange(info as usize, 0, Ordering::SeqCst, Ordering::SeqCst);
    // SAFETY: as above; back to the mask this handler ran with.
    unsafe { rt_sigprocmask(libc::SIG_SETMASK, &mut old, std::ptr::null_mut()) };
}
