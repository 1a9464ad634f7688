//! x86_64: the `syscall` instruction with the syscall number in rax, rdi = cptr in / badge out,
//! rsi = message info, rdx, r8, r9, r10 = message registers 0..3, r12 = kernel status out. The
//! kernel preserves every other register except rcx and r11, which `syscall` itself clobbers.

use super::SyscallRegisters;
use core::arch::asm;

/// Traps into the kernel.
#[inline(always)]
pub(crate) fn syscall(number: u64, word0: u64, info: u64, mrs: [u64; 4]) -> SyscallRegisters {
    let (mut rdi, mut rsi) = (word0, info);
    let [mut rdx, mut r8, mut r9, mut r10] = mrs;
    let r12: u64;
    // SAFETY: `syscall` enters the kernel, which reads and writes only the registers named here
    // (rcx and r11 are declared clobbered; all others are preserved) and memory the thread owns
    // (its IPC buffer, which the compiler treats as clobbered because the asm is not `nomem`).
    // It does not touch the user stack.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => _,
            inout("rdi") rdi,
            inout("rsi") rsi,
            inout("rdx") rdx,
            inout("r8") r8,
            inout("r9") r9,
            inout("r10") r10,
            lateout("r12") r12,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    SyscallRegisters {
        word0: rdi,
        info: rsi,
        mrs: [rdx, r8, r9, r10],
        status: r12,
    }
}

/// Calls `f(ctx, a, b, c)` (which returns two words in two registers) with the stack pointer first rounded down to a page boundary, so that
/// every frame `f` and its callees push lies in pages wholly below the caller's stack pointer.
///
/// # Safety
/// `f` must be sound to call with these arguments; the stack must have room for `f` below the
/// rounded-down pointer (up to a page is skipped).
#[inline(always)]
pub(crate) unsafe fn call_below_page(
    f: extern "C" fn(*mut (), u64, u64, u64) -> crate::ipc_transport::Pair,
    ctx: *mut (),
    a: u64,
    b: u64,
    c: u64,
) -> (u64, u64) {
    let (ret0, ret1): (u64, u64);
    // SAFETY: r12 (callee-saved, declared clobbered) keeps the caller's rsp across the call and
    // restores it after; the skipped bytes between the two stack pointers are unused stack, the
    // new rsp is 16-byte aligned before the `call` as the SysV ABI requires, and
    // `clobber_abi("C")` tells the compiler everything `f` may change. The caller guarantees `f`
    // itself is sound to call.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "and rsp, -4096",
            "call rax",
            "mov rsp, r12",
            inlateout("rax") f as usize => ret0,
            in("rdi") ctx,
            in("rsi") a,
            inlateout("rdx") b => ret1,
            in("rcx") c,
            out("r12") _,
            clobber_abi("C"),
        );
    }
    (ret0, ret1)
}

/// The time-stamp counter.
#[inline(always)]
pub(crate) fn read_counter() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter (user mode may: CR4.TSD is clear).
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The stack pointer.
#[inline(always)]
pub(crate) fn stack_pointer() -> u64 {
    let v: u64;
    // SAFETY: copying rsp into a register has no side effects.
    unsafe { asm!("mov {0}, rsp", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Faults with an undefined instruction; if the thread is resumed, it faults again.
#[inline(always)]
pub(crate) fn fault() -> ! {
    loop {
        // SAFETY: `ud2` only raises an invalid-opcode exception, which the kernel turns into a
        // fault message; no state of this program is changed.
        unsafe { asm!("ud2", options(nomem, nostack)) };
    }
}

// The ELF entry point. The thread's creator set rsp (16-byte aligned) and put the boot-info or
// server-info address in rdi. Clear the frame pointer so that backtraces end here, align rsp so
// that the callee sees the SysV alignment after `call`, and call the glue the entry macro
// generated; it never returns, but if it did, fault.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    ".type _start, @function",
    "_start:",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call __axolotl_rt_main",
    "2:  ud2",
    "    jmp 2b",
    ".size _start, . - _start",
);
