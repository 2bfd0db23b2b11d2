//! The process's SIGBUS handler while mapipc needs one.
//!
//! Installed the first time a guarded region or a fault-proof copy needs it,
//! never before. It handles exactly two cases: a fault inside mapipc's own
//! copy (resumed at its recovery point) and a fault in a guarded region
//! (the vanished page is replaced with zeros and the access retried).
//! Every other SIGBUS goes to the handler the program had before, or, if it
//! had none, kills the process as SIGBUS always did.
//!
//! It runs inside arbitrary code, so it takes no lock, allocates nothing
//! and calls only async-signal-safe system calls.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;

use super::{copy, table};
use crate::error::{Error, Result};
use crate::sys::page_size;

/// The disposition SIGBUS had before ours: written once, before our handler
/// is installed, and only read afterwards.
struct Previous(UnsafeCell<MaybeUninit<libc::sigaction>>);

// SAFETY: written only inside INSTALL.call_once, before the handler that
// reads it exists; never written again.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new(MaybeUninit::uninit()));
static INSTALL: Once = Once::new();
/// errno of a failed installation (0: installed).
static INSTALL_ERRNO: AtomicI32 = AtomicI32::new(0);

/// Page size, read once outside the handler (sysconf is not promised to be
/// async-signal-safe).
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler if it is not yet; cheap once it is.
#[inline]
pub(crate) fn install() -> Result<()> {
    if !INSTALL.is_completed() {
        install_slow();
    }
    match INSTALL_ERRNO.load(Ordering::Relaxed) {
        0 => Ok(()),
        errno => Err(Error::from_os(
            errno,
            "cannot install mapipc's SIGBUS handler",
        )),
    }
}

#[cold]
fn install_slow() {
    INSTALL.call_once(|| {
        PAGE.store(page_size(), Ordering::SeqCst);
        // SAFETY: a zeroed sigaction is a valid value to fill in.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_sigbus;
        action.sa_sigaction = handler as usize;
        // SA_ONSTACK: a program with an alternate signal stack keeps using it.
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        // SAFETY: sa_mask is a valid sigset_t inside action.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: both pointers are valid; PREVIOUS is written here only, and
        // sigaction fills it before our handler can run.
        let rc =
            unsafe { libc::sigaction(libc::SIGBUS, &action, (*PREVIOUS.0.get()).as_mut_ptr()) };
        if rc != 0 {
            INSTALL_ERRNO.store(errno::errno().0, Ordering::Relaxed);
        }
    });
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    // A signal sent with kill() or raise() is not a fault of ours.
    if code > 0 {
        // SAFETY: ctx is the ucontext_t the kernel passed with the signal.
        if unsafe { copy::redirect(ctx, addr, code) } {
            return;
        }
        let page = PAGE.load(Ordering::Relaxed);
        if table::absorb(addr, page) {
            return;
        }
    }
    // SAFETY: the arguments are the ones this handler received.
    unsafe { pass_on(sig, info, ctx) };
}

/// Hands a SIGBUS that is not ours to the disposition the program had.
///
/// # Safety
/// The arguments are those of a SIGBUS delivered to `on_sigbus`.
unsafe fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: written before our handler was installed, never again.
    let previous = unsafe { (*PREVIOUS.0.get()).assume_init_ref() };
    let target = previous.sa_sigaction;
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // Die of it as the program would have: restore the default and let
        // the faulting instruction run again (or re-send a signal that was
        // sent, which stays pending until this handler returns).
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask.
        let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        // SAFETY: valid pointers; sigaction and raise are async-signal-safe.
        unsafe {
            libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut());
            if (*info).si_code <= 0 {
                libc::raise(libc::SIGBUS);
            }
        }
        return;
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
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
}
