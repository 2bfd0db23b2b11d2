//! The process's SIGBUS handler while mapipc needs one.
//!
//! Installed the first time a guarded region or a fault-proof copy needs it,
//! never before. It handles exactly two cases: a fault inside mapipc's own
//! copy on the copy's region side (resumed at its recovery point) and a
//! fault past the end of the file of a guarded region (the vanished pages
//! are replaced with zeros and the access retried). Every other SIGBUS
//! (other codes, other addresses, signals sent with kill) goes to the
//! disposition the program had, as the kernel would have applied it:
//! SIG_IGN ignores a sent signal or a reported memory error, SIG_DFL kills
//! with the same siginfo, a handler is called with its own sa_mask,
//! SA_NODEFER and SA_RESETHAND honoured.
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

/// One disposition, in words the handler reads without locks.
struct Disposition {
    handler: AtomicUsize,
    flags: AtomicI32,
    /// Signals 1..=64 of its sa_mask (the kernel knows no others).
    mask: AtomicU64,
}

/// The dispositions to chain to, under a sequence lock (odd while a writer
/// is busy; writers are serialised by `WRITER` and block SIGBUS meanwhile,
/// so no handler of theirs spins). `chain[0]` is the program's latest;
/// each next one the disposition the one before it replaced: what a
/// handler of the program that chains back to mapipc's would have found
/// without mapipc.
struct Previous {
    seq: AtomicU32,
    chain: [Disposition; CHAIN],
}

/// How many program handlers chaining back through mapipc's are followed;
/// past them, the default action.
const CHAIN: usize = 4;

#[allow(clippy::declare_interior_mutable_const)]
const DEFAULT: Disposition = Disposition {
    handler: AtomicUsize::new(libc::SIG_DFL),
    flags: AtomicI32::new(0),
    mask: AtomicU64::new(0),
};

static PREVIOUS: Previous = Previous {
    seq: AtomicU32::new(0),
    chain: [DEFAULT; CHAIN],
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

/// Whether valgrind runs the process: it takes a SIGBUS queued with a
/// fault's si_code for a crash of its own, so `die_of` sends a plain one.
static UNDER_VALGRIND: AtomicBool = AtomicBool::new(false);

/// valgrind's "running on valgrind" request: a sequence of rotations by
/// 128 bits in all (no effect on a real processor) that valgrind answers
/// in rdx.
#[cfg(target_arch = "x86_64")]
fn running_on_valgrind() -> bool {
    const RUNNING_ON_VALGRIND: u64 = 0x1001;
    let request = [RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0];
    let answer: u64;
    // SAFETY: rotations of rdi by 128 bits and an exchange of rbx with
    // itself change nothing; valgrind reads the request array only.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") request.as_ptr(),
            inout("rdx") 0u64 => answer,
            inout("rdi") 0u64 => _,
            options(nostack, readonly),
        )
    };
    answer != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn running_on_valgrind() -> bool {
    false
}

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
    UNDER_VALGRIND.store(running_on_valgrind(), Ordering::SeqCst);
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
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | restart_as(&PREVIOUS.chain[0]);
    // Every signal blocked while it runs: no other handler can interrupt
    // it inside the table (where one that longjmps would leave a slot
    // counted busy for ever); a program handler it calls gets the mask the
    // kernel would have given it.
    // SAFETY: sa_mask is a valid sigset_t inside action.
    unsafe { libc::sigfillset(&mut action.sa_mask) };
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

/// SA_RESTART as the program's handler has it: whether a system call its
/// handler interrupted fails with EINTR or restarts is decided by the flags
/// of the action the kernel ran, mapipc's. Restart when there is no handler
/// (a SIGBUS that is ignored should disturb as little as it can).
fn restart_as(d: &Disposition) -> i32 {
    let (handler, flags, _) = read(d);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        libc::SA_RESTART
    } else {
        flags & libc::SA_RESTART
    }
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

/// Makes `action` the disposition to chain to (the others move one down
/// the chain), under the sequence lock, with SIGBUS blocked in this thread
/// so that no handler here waits for a write it interrupted. The same
/// action again changes nothing.
fn remember(action: &libc::sigaction) {
    let new = (
        action.sa_sigaction,
        action.sa_flags,
        low_mask(&action.sa_mask),
    );
    if read(&PREVIOUS.chain[0]) == new {
        return;
    }
    let mut block = sigbus_bit();
    let mut old = 0u64;
    // SAFETY: 8-byte kernel signal sets, valid pointers.
    unsafe { rt_sigprocmask(libc::SIG_BLOCK, &mut block, &mut old) };
    PREVIOUS.seq.fetch_add(1, Ordering::SeqCst);
    for i in (1..CHAIN).rev() {
        let (handler, flags, mask) = read(&PREVIOUS.chain[i - 1]);
        write(&PREVIOUS.chain[i], handler, flags, mask);
    }
    write(&PREVIOUS.chain[0], new.0, new.1, new.2);
    PREVIOUS.seq.fetch_add(1, Ordering::SeqCst);
    // SAFETY: as above; restores the mask this thread had.
    unsafe { rt_sigprocmask(libc::SIG_SETMASK, &mut old, std::ptr::null_mut()) };
}

fn write(d: &Disposition, handler: usize, flags: i32, mask: u64) {
    d.handler.store(handler, Ordering::SeqCst);
    d.flags.store(flags, Ordering::SeqCst);
    d.mask.store(mask, Ordering::SeqCst);
}

fn read(d: &Disposition) -> (usize, i32, u64) {
    (
        d.handler.load(Ordering::SeqCst),
        d.flags.load(Ordering::SeqCst),
        d.mask.load(Ordering::SeqCst),
    )
}

/// The disposition a SIGBUS `level` handlers deep in the chain goes to,
/// consistently read: (handler, flags, mask). Past the chain, the default.
fn previous(level: u64) -> (usize, i32, u64) {
    let d = match PREVIOUS.chain.get(level as usize) {
        Some(d) => d,
        None => return (libc::SIG_DFL, 0, 0),
    };
    loop {
        let seq = PREVIOUS.seq.load(Ordering::SeqCst);
        if seq & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let got = read(d);
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

/// A program handler that chains back to mapipc's (its "previous") passes
/// the siginfo mapipc gave it, or a copy of it: mapipc marks it in the
/// last 8 bytes, which the kernel leaves zero for every signal, with how
/// many handlers deep the chain is. No per-thread state: thread-locals of
/// a dlopen'ed library may allocate on first use in a thread.
const MARK_AT: usize = 120;
const MARK: u64 = 0x6d61_7069_7063_0000;
const _: () = assert!(std::mem::size_of::<libc::siginfo_t>() == MARK_AT + 8);

/// The chain level marked in `info` (0: not marked). Only a program
/// handler calling ours passes no siginfo, and none can be marked: the
/// default action then ends what could otherwise be an endless chain.
///
/// # Safety
/// `info` is NULL or a valid siginfo_t.
unsafe fn level_of(info: *const libc::siginfo_t) -> u64 {
    if info.is_null() {
        return CHAIN as u64;
    }
    // SAFETY: the caller's promise; siginfo_t is MARK_AT + 8 bytes.
    let mark = unsafe {
        info.cast::<u8>()
            .add(MARK_AT)
            .cast::<u64>()
            .read_unaligned()
    };
    if mark & !0xff == MARK {
        mark & 0xff
    } else {
        0
    }
}

/// Writes `mark` into `info`'s last 8 bytes, returning what was there.
///
/// # Safety
/// `info` is a valid, writable siginfo_t.
unsafe fn swap_mark(info: *mut libc::siginfo_t, mark: u64) -> u64 {
    // SAFETY: the caller's promise; siginfo_t is MARK_AT + 8 bytes.
    unsafe {
        let at = info.cast::<u8>().add(MARK_AT).cast::<u64>();
        let was = at.read_unaligned();
        at.write_unaligned(mark);
        was
    }
}

/// A memory error the kernel only reports (no access to re-run, not
/// forced: SIG_IGN ignores it).
const BUS_MCEERR_AO: i32 = 5;

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let saved = errno::errno();
    // SAFETY: the kernel (or a chaining handler) passes a valid siginfo_t
    // or, from a careless chaining handler, NULL.
    let level = unsafe { level_of(info) };
    // A signal sent with kill(), sigqueue() or raise() (si_code <= 0) is
    // not a fault of ours; nor is one that went round the chain already.
    if !info.is_null() && level == 0 {
        // SAFETY: as above, and not NULL.
        let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
        // SAFETY: ctx is the ucontext_t the kernel passed with the signal.
        if code > 0 && !ctx.is_null() && unsafe { copy::redirect(ctx, addr, code) } {
            errno::set_errno(saved);
            return;
        }
        if code > 0 && table::absorb(addr, code, PAGE.load(Ordering::Relaxed)) {
            errno::set_errno(saved);
            return;
        }
    }
    errno::set_errno(saved);
    // SAFETY: the arguments are the ones this handler received.
    unsafe { pass_on(sig, info, ctx, level) };
    errno::set_errno(saved);
}

/// Hands a SIGBUS that is not ours to the disposition the program had
/// (`level` handlers down the chain), applied as the kernel would have
/// applied it.
///
/// # Safety
/// The arguments are those of a SIGBUS delivered to `on_sigbus`.
unsafe fn pass_on(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
    level: u64,
) {
    let code = if info.is_null() {
        libc::SI_USER
    } else {
        // SAFETY: the caller's promise.
        unsafe { (*info).si_code }
    };
    let (target, flags, mask) = previous(level);
    // The kernel drops these for SIG_IGN; it forces the default for faults.
    if target == libc::SIG_IGN && (code <= 0 || code == BUS_MCEERR_AO) {
        return;
    }
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // SAFETY: the caller's promise.
        unsafe { die_of(sig, info, ctx) };
        return;
    }
    if flags & libc::SA_RESETHAND != 0 {
        // One call only: later SIGBUS that are not ours get the default.
        let _ = PREVIOUS.chain[level as usize].handler.compare_exchange(
            target,
            libc::SIG_DFL,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    // The mask the kernel would have set for that handler: the interrupted
    // code's, its sa_mask, and SIGBUS itself unless SA_NODEFER.
    // SAFETY: the caller's promise.
    let mut want = unsafe { interrupted_mask(ctx) } | mask;
    if flags & libc::SA_NODEFER == 0 {
        want |= sigbus_bit();
    } else {
        want &= !sigbus_bit();
    }
    let mut old = 0u64;
    // SAFETY: 8-byte kernel signal sets, valid pointers.
    unsafe { rt_sigprocmask(libc::SIG_SETMASK, &mut want, &mut old) };
    // SAFETY: info is the caller's valid siginfo_t when not NULL.
    let was = (!info.is_null()).then(|| unsafe { swap_mark(info, MARK | (level + 1)) });
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
    if let Some(was) = was {
        // SAFETY: as above; the siginfo as the program's caller gave it.
        unsafe { swap_mark(info, was) };
    }
    // SAFETY: as above; back to the mask this handler ran with.
    unsafe { rt_sigprocmask(libc::SIG_SETMASK, &mut old, std::ptr::null_mut()) };
}

/// The signal mask of the code the signal interrupted (the caller's now
/// when a program handler called ours without a context).
///
/// # Safety
/// `ctx` is NULL or the ucontext_t of a signal.
unsafe fn interrupted_mask(ctx: *mut libc::c_void) -> u64 {
    if ctx.is_null() {
        let mut now = 0u64;
        // SAFETY: a NULL set only reads the mask.
        unsafe { rt_sigprocmask(libc::SIG_BLOCK, std::ptr::null_mut(), &mut now) };
        return now;
    }
    // SAFETY: the caller's promise.
    low_mask(unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_sigmask })
}

/// `struct sigaction` as the kernel's rt_sigaction takes it.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Ends the process with this very signal, as the default action would
/// have without mapipc: restores the default and queues the same siginfo
/// to this thread, delivered as soon as the interrupted code's mask is
/// back (on return from the handler, before the faulting instruction runs
/// again). Re-running a fault is not enough: a memory error reported
/// after the fact, a signal queued with a fault's code, or a page that
/// came back since has nothing that faults again.
///
/// # Safety
/// The arguments are those of a SIGBUS delivered to `on_sigbus`.
unsafe fn die_of(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: raw system calls with valid pointers (info is a valid
    // siginfo_t when not NULL); a thread may queue any siginfo to itself.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &default,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        );
        let pid = libc::syscall(libc::SYS_getpid);
        let tid = libc::syscall(libc::SYS_gettid);
        let queued = !info.is_null()
            && !UNDER_VALGRIND.load(Ordering::Relaxed)
            && libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, sig, info) == 0;
        if !queued {
            libc::syscall(libc::SYS_tgkill, pid, tid, sig);
        }
    }
    if ctx.is_null() {
        // No context to return to: let it in now.
        let mut bus = sigbus_bit();
        // SAFETY: 8-byte kernel signal sets, valid pointers.
        unsafe { rt_sigprocmask(libc::SIG_UNBLOCK, &mut bus, std::ptr::null_mut()) };
    } else {
        // SAFETY: ctx is the ucontext_t of this signal; its mask is the one
        // restored on return, and must let the signal in.
        // The first 64 bits are the kernel's whole set.
        unsafe {
            let set = (&mut (*ctx.cast::<libc::ucontext_t>()).uc_sigmask as *mut libc::sigset_t)
                .cast::<u64>();
            *set &= !(1u64 << (sig - 1));
        }
    }
}
