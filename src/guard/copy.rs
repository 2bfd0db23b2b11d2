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

/// The copy itself, for each of its sites: the out-of-line function
/// (`mapipc_fault_copy`, site 9) and the copies inlined into the exports
/// (sites 0 and 1). Takes rdi = dst, rsi = src, rdx = len, and r10..r11 =
/// the region side's bytes [lo, hi) for the handler: only a fault there is
/// the copy's to report; one on the caller's side is the program's. Uses
/// rcx, r8, r9, xmm0-3; leaves rax:rdx = (0, 0). Every load and store lies
/// between `mapipc_copy_{site}_body` and `_end`, where the handler
/// redirects such a fault to `_recover` with rax:rdx = (address, si_code).
/// Short copies as memcpy does them: two overlapping moves of the widest
/// size that fits, loads before stores; long ones: rep movsb (fast-string
/// microcode). The ABI guarantees DF = 0. Global hidden labels (the
/// handler needs their addresses, the shared library must not export
/// them): an inline site that the compiler duplicated would fail to
/// assemble, never copy unguarded.
#[cfg(target_arch = "x86_64")]
macro_rules! copy_body {
    () => {
        concat!(
            ".globl mapipc_copy_{site}_body\n",
            ".hidden mapipc_copy_{site}_body\n",
            "mapipc_copy_{site}_body:\n",
            "cmp rdx, 64\n",
            "ja mapipc_copy_{site}_rep\n",
            "cmp rdx, 32\n",
            "ja mapipc_copy_{site}_33_64\n",
            "cmp rdx, 16\n",
            "jae mapipc_copy_{site}_16_32\n",
            "cmp rdx, 8\n",
            "jae mapipc_copy_{site}_8_15\n",
            "cmp rdx, 4\n",
            "jae mapipc_copy_{site}_4_7\n",
            "jmp mapipc_copy_{site}_rep\n",
            "mapipc_copy_{site}_33_64:\n",
            "movdqu xmm0, [rsi]\n",
            "movdqu xmm1, [rsi + 16]\n",
            "movdqu xmm2, [rsi + rdx - 32]\n",
            "movdqu xmm3, [rsi + rdx - 16]\n",
            "movdqu [rdi], xmm0\n",
            "movdqu [rdi + 16], xmm1\n",
            "movdqu [rdi + rdx - 32], xmm2\n",
            "movdqu [rdi + rdx - 16], xmm3\n",
            "jmp mapipc_copy_{site}_end\n",
            "mapipc_copy_{site}_16_32:\n",
            "movdqu xmm0, [rsi]\n",
            "movdqu xmm1, [rsi + rdx - 16]\n",
            "movdqu [rdi], xmm0\n",
            "movdqu [rdi + rdx - 16], xmm1\n",
            "jmp mapipc_copy_{site}_end\n",
            "mapipc_copy_{site}_8_15:\n",
            "mov r8, [rsi]\n",
            "mov r9, [rsi + rdx - 8]\n",
            "mov [rdi], r8\n",
            "mov [rdi + rdx - 8], r9\n",
            "jmp mapipc_copy_{site}_end\n",
            "mapipc_copy_{site}_4_7:\n",
            "mov r8d, [rsi]\n",
            "mov r9d, [rsi + rdx - 4]\n",
            "mov [rdi], r8d\n",
            "mov [rdi + rdx - 4], r9d\n",
            "jmp mapipc_copy_{site}_end\n",
            "mapipc_copy_{site}_rep:\n",
            "mov rcx, rdx\n",
            "rep movsb\n",
            ".globl mapipc_copy_{site}_end\n",
            ".hidden mapipc_copy_{site}_end\n",
            "mapipc_copy_{site}_end:\n",
            "xor eax, eax\n",
            "xor edx, edx\n",
            ".globl mapipc_copy_{site}_recover\n",
            ".hidden mapipc_copy_{site}_recover\n",
            "mapipc_copy_{site}_recover:\n",
        )
    };
}

/// The site of the out-of-line copy.
#[cfg(target_arch = "x86_64")]
const OUT_OF_LINE: usize = 9;

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    // Hidden: these names must not be exported from the shared library.
    ".pushsection .text.mapipc_fault_copy,\"ax\",@progbits",
    ".p2align 4",
    ".globl mapipc_fault_copy",
    ".hidden mapipc_fault_copy",
    ".type mapipc_fault_copy,@function",
    // rdi = dst, rsi = src, rdx = len, rcx..r8 = [lo, hi).
    "mapipc_fault_copy:",
    // No stack use: the call frame is the caller's return address only, so
    // debuggers and profilers unwind through the copy (and its recovery).
    ".cfi_startproc",
    "mov r10, rcx",
    "mov r11, r8",
    copy_body!(),
    "ret",
    ".cfi_endproc",
    ".size mapipc_fault_copy, .-mapipc_fault_copy",
    ".popsection",
    site = const OUT_OF_LINE,
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn mapipc_fault_copy(dst: *mut u8, src: *const u8, len: usize, lo: usize, hi: usize)
        -> Outcome;
    static mapipc_copy_0_body: u8;
    static mapipc_copy_0_end: u8;
    static mapipc_copy_0_recover: u8;
    static mapipc_copy_1_body: u8;
    static mapipc_copy_1_end: u8;
    static mapipc_copy_1_recover: u8;
    static mapipc_copy_9_body: u8;
    static mapipc_copy_9_end: u8;
    static mapipc_copy_9_recover: u8;
}

/// Every site's (body, end, recover) addresses.
#[cfg(target_arch = "x86_64")]
fn sites() -> [(usize, usize, usize); 3] {
    // SAFETY: only the addresses of the labels are taken.
    unsafe {
        [
            (
                &mapipc_copy_0_body as *const u8 as usize,
                &mapipc_copy_0_end as *const u8 as usize,
                &mapipc_copy_0_recover as *const u8 as usize,
            ),
            (
                &mapipc_copy_1_body as *const u8 as usize,
                &mapipc_copy_1_end as *const u8 as usize,
                &mapipc_copy_1_recover as *const u8 as usize,
            ),
            (
                &mapipc_copy_9_body as *const u8 as usize,
                &mapipc_copy_9_end as *const u8 as usize,
                &mapipc_copy_9_recover as *const u8 as usize,
            ),
        ]
    }
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

/// [`copy`] inlined into its caller, at `SITE` (0 or 1: one site per
/// export, each inlined once), in assembly that tells the compiler exactly
/// what it clobbers, so that the caller saves nothing around it. On a
/// fault it also gives back `lo` and `hi` (still in r10 and r11),
/// everything a caller needs to report it.
///
/// # Safety
/// As for [`copy`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
// The handler needs the labels' addresses; a duplicated site would fail to
// assemble (a symbol defined twice), never run unguarded.
#[allow(named_asm_labels)]
pub(crate) unsafe fn copy_inline<const SITE: usize>(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    lo: usize,
    hi: usize,
) -> Result<(), (Fault, usize, usize)> {
    const { assert!(SITE < 2) };
    let (addr, code, lo_out, hi_out): (usize, isize, usize, usize);
    // SAFETY: the caller's promise; the body reads and writes exactly those
    // bytes, uses no stack and changes only the registers listed; DF is
    // clear in Rust code.
    unsafe {
        std::arch::asm!(
            copy_body!(),
            site = const SITE,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            inout("rdx") len => code,
            inout("r10") lo => lo_out,
            inout("r11") hi => hi_out,
            out("rax") addr,
            out("rcx") _,
            out("r8") _,
            out("r9") _,
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            options(nostack),
        );
    }
    if addr == 0 {
        Ok(())
    } else {
        let fault = Fault {
            addr,
            code: code as i32,
        };
        Err((fault, lo_out, hi_out))
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
    let Some((_, _, recover)) = sites()
        .into_iter()
        .find(|&(body, end, _)| pc >= body && pc < end)
    else {
        return false;
    };
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
pub(crate) unsafe fn copy_inline<const SITE: usize>(
    _dst: *mut u8,
    _src: *const u8,
    _len: usize,
    _lo: usize,
    _hi: usize,
) -> Result<(), (Fault, usize, usize)> {
    unreachable!("the kernel copies on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn redirect(_ctx: *mut libc::c_void, _addr: usize, _code: i32) -> bool {
    false
}
