//! A memory copy that survives SIGBUS: if a page it touches has vanished
//! (the file behind a mapping shrank), the SIGBUS handler moves the
//! interrupted copy to its recovery point, which returns where and why it
//! failed. No system call, no setjmp: the normal path is a plain copy.

/// Where a copy stopped, from the `siginfo_t` of its SIGBUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The address that could not be read or written.
    pub(crate) addr: usize,
    /// `si_code`: `BUS_ADRERR` (nothing behind the address) or `BUS_OBJERR`
    /// (the object failed, e.g. an I/O error).
    pub(crate) code: i32,
}

/// A memory failure (hardware-poisoned page) hit by the access itself.
pub(crate) const BUS_MCEERR_AR: i32 = 4;

/// What the assembly returns in rax:rdx: (0, 0) for success.
#[repr(C)]
struct Outcome {
    addr: usize,
    code: isize,
}

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    // Hidden: these names must not be exported from the shared library.
    ".pushsection .text.mapipc_fault_copy,\"ax\",@progbits",
    ".p2align 4",
    ".globl mapipc_fault_copy",
    ".hidden mapipc_fault_copy",
    ".type mapipc_fault_copy,@function",
    // rdi = dst, rsi = src, rdx = len, rcx..r8 = the region side's bytes
    // [lo, hi), kept in r10..r11 for the handler: only a fault there is the
    // copy's to report; one on the caller's side is the program's. The ABI
    // guarantees DF = 0. Every load and store lies between _body and
    // _body_end, where such a fault is redirected to _recover.
    "mapipc_fault_copy:",
    // No stack use: the call frame is the caller's return address only, so
    // debuggers and profilers unwind through the copy (and its recovery).
    ".cfi_startproc",
    "mov r10, rcx",
    "mov r11, r8",
    "mov rcx, rdx",
    ".globl mapipc_fault_copy_body",
    ".hidden mapipc_fault_copy_body",
    "mapipc_fault_copy_body:",
    // Short copies as memcpy does them: two overlapping moves of the
    // widest size that fits, loads before stores. Long ones: rep movsb
    // (fast-string microcode).
    "cmp rdx, 64",
    "ja .Lmapipc_rep",
    "cmp rdx, 32",
    "ja .Lmapipc_33_64",
    "cmp rdx, 16",
    "jae .Lmapipc_16_32",
    "cmp rdx, 8",
    "jae .Lmapipc_8_15",
    "cmp rdx, 4",
    "jae .Lmapipc_4_7",
    "jmp .Lmapipc_rep",
    ".Lmapipc_33_64:",
    "movdqu xmm0, [rsi]",
    "movdqu xmm1, [rsi + 16]",
    "movdqu xmm2, [rsi + rdx - 32]",
    "movdqu xmm3, [rsi + rdx - 16]",
    "movdqu [rdi], xmm0",
    "movdqu [rdi + 16], xmm1",
    "movdqu [rdi + rdx - 32], xmm2",
    "movdqu [rdi + rdx - 16], xmm3",
    "jmp .Lmapipc_done",
    ".Lmapipc_16_32:",
    "movdqu xmm0, [rsi]",
    "movdqu xmm1, [rsi + rdx - 16]",
    "movdqu [rdi], xmm0",
    "movdqu [rdi + rdx - 16], xmm1",
    "jmp .Lmapipc_done",
    ".Lmapipc_8_15:",
    "mov r8, [rsi]",
    "mov r9, [rsi + rdx - 8]",
    "mov [rdi], r8",
    "mov [rdi + rdx - 8], r9",
    "jmp .Lmapipc_done",
    ".Lmapipc_4_7:",
    "mov r8d, [rsi]",
    "mov r9d, [rsi + rdx - 4]",
    "mov [rdi], r8d",
    "mov [rdi + rdx - 4], r9d",
    "jmp .Lmapipc_done",
    ".Lmapipc_rep:",
    "rep movsb",
    ".Lmapipc_done:",
    ".globl mapipc_fault_copy_body_end",
    ".hidden mapipc_fault_copy_body_end",
    "mapipc_fault_copy_body_end:",
    "xor eax, eax",
    "xor edx, edx",
    "ret",
    // The handler resumes here with rax = fault address, rdx = si_code.
    ".globl mapipc_fault_copy_recover",
    ".hidden mapipc_fault_copy_recover",
    "mapipc_fault_copy_recover:",
    "ret",
    ".cfi_endproc",
    ".size mapipc_fault_copy, .-mapipc_fault_copy",
    ".popsection",
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn mapipc_fault_copy(dst: *mut u8, src: *const u8, len: usize, lo: usize, hi: usize)
        -> Outcome;
    static mapipc_fault_copy_body: u8;
    static mapipc_fault_copy_body_end: u8;
    static mapipc_fault_copy_recover: u8;
}

/// Copies `len` bytes from `src` to `dst` (which must not overlap); a
/// SIGBUS on the region side `[lo, hi)` ends the copy early with the fault
/// (one elsewhere goes to the program's handler). The SIGBUS handler must
/// be installed (see `handler::install`).
///
/// # Safety
/// `src` is valid for reading and `dst` for writing `len` bytes, except
/// that pages of a mapping may have vanished (that is the point).
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn copy(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    lo: usize,
    hi: usize,
) -> Result<(), Fault> {
    // SAFETY: the caller's promise; the assembly reads and writes exactly
    // those bytes and touches nothing else.
    let out = unsafe { mapipc_fault_copy(dst, src, len, lo, hi) };
    if out.addr == 0 {
        Ok(())
    } else {
        Err(Fault {
            addr: out.addr,
            code: out.code as i32,
        })
    }
}

/// Called from the SIGBUS handler with the interrupted context: if the
/// fault happened inside the copy, on its region side, and is a fault of
/// the memory behind it (not a misaligned access), points it at the
/// recovery code with the fault's address and code, and returns true.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to an SA_SIGINFO handler.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn redirect(ctx: *mut libc::c_void, addr: usize, code: i32) -> bool {
    // SAFETY: the caller's promise: ctx is a live ucontext_t.
    let regs = unsafe { &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let pc = regs[libc::REG_RIP as usize] as usize;
    // SAFETY: only the addresses of the labels are taken.
    let (body, end, recover) = unsafe {
        (
            &mapipc_fault_copy_body as *const u8 as usize,
            &mapipc_fault_copy_body_end as *const u8 as usize,
            &mapipc_fault_copy_recover as *const u8 as usize,
        )
    };
    if pc < body || pc >= end {
        return false;
    }
    let (lo, hi) = (
        regs[libc::REG_R10 as usize] as usize,
        regs[libc::REG_R11 as usize] as usize,
    );
    if addr < lo || addr >= hi {
        return false;
    }
    if code != libc::BUS_ADRERR && code != libc::BUS_OBJERR && code != BUS_MCEERR_AR {
        return false;
    }
    regs[libc::REG_RAX as usize] = addr as i64;
    regs[libc::REG_RDX as usize] = code as i64;
    regs[libc::REG_RIP as usize] = recover as i64;
    true
}

// Elsewhere the kernel copies (`kernel_copy` in the parent module); these
// are never reached.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn copy(
    _dst: *mut u8,
    _src: *const u8,
    _len: usize,
    _lo: usize,
    _hi: usize,
) -> Result<(), Fault> {
    unreachable!("the kernel copies on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn redirect(_ctx: *mut libc::c_void, _addr: usize, _code: i32) -> bool {
    false
}
