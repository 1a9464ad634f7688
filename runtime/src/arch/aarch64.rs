//! aarch64: `svc #0` with the syscall number in x7, x0 = cptr in / badge out, x1 = message info,
//! x2..x5 = message registers 0..3, x6 = kernel status out. The kernel preserves every other
//! register.

use super::SyscallRegisters;
use core::arch::asm;

/// Traps into the kernel.
#[inline(always)]
pub(crate) fn syscall(number: u64, word0: u64, info: u64, mrs: [u64; 4]) -> SyscallRegisters {
    let (mut x0, mut x1) = (word0, info);
    let [mut x2, mut x3, mut x4, mut x5] = mrs;
    let x6: u64;
    // SAFETY: `svc` enters the kernel, which reads and writes only the registers named here
    // (preserving all others) and memory the thread owns (its IPC buffer, which the compiler
    // treats as clobbered because the asm is not `nomem`). It does not touch the user stack.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") x0,
            inout("x1") x1,
            inout("x2") x2,
            inout("x3") x3,
            inout("x4") x4,
            inout("x5") x5,
            lateout("x6") x6,
            in("x7") number,
            options(nostack),
        );
    }
    SyscallRegisters {
        word0: x0,
        info: x1,
        mrs: [x2, x3, x4, x5],
        status: x6,
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
    // SAFETY: x20 (callee-saved, declared clobbered) keeps the caller's sp across the call and
    // restores it after; the skipped bytes between the two stack pointers are unused stack, the
    // new sp is 16-byte aligned as the AAPCS64 requires, and `clobber_abi("C")` tells the
    // compiler everything `f` may change. The caller guarantees `f` itself is sound to call.
    unsafe {
        asm!(
            "mov x20, sp",
            "and x16, x20, #-4096",
            "mov sp, x16",
            "blr x9",
            "mov sp, x20",
            in("x9") f,
            inlateout("x0") ctx => ret0,
            inlateout("x1") a => ret1,
            in("x2") b,
            in("x3") c,
            out("x20") _,
            clobber_abi("C"),
        );
    }
    (ret0, ret1)
}

/// The virtual counter, CNTVCT_EL0 (EL0 access is enabled by the kernel).
#[inline(always)]
pub(crate) fn read_counter() -> u64 {
    let v: u64;
    // SAFETY: reading CNTVCT_EL0 has no side effects. `isb` keeps the read in program order.
    unsafe { asm!("isb", "mrs {0}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// The stack pointer.
#[inline(always)]
pub(crate) fn stack_pointer() -> u64 {
    let v: u64;
    // SAFETY: copying sp into a register has no side effects.
    unsafe { asm!("mov {0}, sp", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Faults with an undefined instruction; if the thread is resumed, it faults again.
#[inline(always)]
pub(crate) fn fault() -> ! {
    loop {
        // SAFETY: `udf` only raises an undefined-instruction exception, which the kernel turns
        // into a fault message; no state of this program is changed.
        unsafe { asm!("udf #0", options(nomem, nostack)) };
    }
}

// The ELF entry point. The thread's creator set sp and put the boot-info or server-info address
// in x0. Clear the frame pointer and link register so that backtraces end here, keep sp 16-byte
// aligned as the AAPCS64 requires, and call the glue the entry macro generated; it never returns,
// but if it did, fault.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x29, #0",
    "    mov x30, #0",
    "    mov x9, sp",
    "    and x9, x9, #0xfffffffffffffff0",
    "    mov sp, x9",
    "    bl __axolotl_rt_main",
    "1:  udf #0",
    "    b 1b",
    ".size _start, . - _start",
);
