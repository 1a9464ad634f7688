//! Exception vectors, the saved user context, and the way back to user mode.
//!
//! While a thread runs, SP_EL1 points at its TCB's [`UserContext`]; an exception from EL0 (or from
//! the idle thread at EL1t) stores the registers straight into it, then switches to the kernel
//! stack (its top is kept in TPIDR_EL1) and calls [`crate::trap::handle_exception`]. Leaving the
//! kernel is [`exit_to_user`]: point SP_EL1 at the next thread's context, load it, `eret`.
//! Exceptions taken while the kernel itself runs (EL1h) are kernel bugs and halt the system.

use core::arch::global_asm;

/// Registers of a user thread, saved on every kernel entry. Layout shared with the assembly below.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    pub x: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    pub spsr: u64,
    pub tpidr: u64,
    _pad: u64,
}

/// SPSR for a new user thread: EL0t, AArch64, interrupts enabled.
pub const SPSR_USER: u64 = 0;
/// SPSR for the idle thread: EL1t (runs on SP_EL0), interrupts enabled.
pub const SPSR_IDLE: u64 = 0b0100;

/// Why the vector was entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum EntryKind {
    Sync = 0,
    Irq = 1,
    SError = 2,
}

/// Where the system-call registers of `abi::syscall` live in the saved context. The same
/// accessors exist on every port's `UserContext`.
impl UserContext {
    pub const fn new_user(pc: u64, sp: u64) -> UserContext {
        UserContext {
            x: [0; 31],
            sp,
            pc,
            spsr: SPSR_USER,
            tpidr: 0,
            _pad: 0,
        }
    }
    /// Registers were written from outside (`TcbWriteRegisters`); `eret` restores them all.
    pub fn registers_written(&mut self) {}
    /// The capability pointer argument (x0).
    pub fn cptr(&self) -> u64 {
        self.x[0]
    }
    pub fn set_badge(&mut self, badge: u64) {
        self.x[0] = badge;
    }
    pub fn info(&self) -> u64 {
        self.x[1]
    }
    pub fn set_info(&mut self, info: u64) {
        self.x[1] = info;
    }
    /// Message register `i` < 4 (x2..x5).
    pub fn mr(&self, i: usize) -> u64 {
        self.x[2 + i]
    }
    pub fn set_mr(&mut self, i: usize, v: u64) {
        self.x[2 + i] = v;
    }
    /// The kernel status returned by a system call (x6).
    pub fn set_status(&mut self, v: u64) {
        self.x[6] = v;
    }
    /// Argument register `i` < 6 of a thread's entry (x0..x5).
    pub fn arg(&self, i: usize) -> u64 {
        self.x[i]
    }
    pub fn set_arg(&mut self, i: usize, v: u64) {
        self.x[i] = v;
    }
}

global_asm!(
    r#"
    .section .text.vectors, "ax"
    // A vector that saves the thread's registers and enters the kernel with `kind` (0: sync,
    // 1: IRQ/FIQ, 2: SError), and one for exceptions the kernel itself took.
    .macro save_entry kind
    .balign 128
    stp     x0, x1, [sp]
    mov     x1, #\kind
    b       axolotl_save
    .endm
    .macro kernel_entry
    .balign 128
    b       axolotl_kernel_exception
    .endm

    .balign 2048
    .global axolotl_vectors
axolotl_vectors:
    // Current EL with SP_EL0: the idle thread.
    save_entry 0
    save_entry 1
    save_entry 1
    save_entry 2
    // Current EL with SP_EL1: the kernel itself faulted.
    kernel_entry
    kernel_entry
    kernel_entry
    kernel_entry
    // Lower EL, AArch64: user threads.
    save_entry 0
    save_entry 1
    save_entry 1
    save_entry 2
    // Lower EL, AArch32: never entered (user threads are AArch64 only).
    kernel_entry
    kernel_entry
    kernel_entry
    kernel_entry

    .section .text, "ax"
axolotl_save:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, sp_el0
    stp     x30, x2, [sp, #240]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #256]
    mrs     x2, tpidr_el0
    str     x2, [sp, #272]
    mov     x0, sp
    mrs     x2, tpidr_el1
    mov     sp, x2
    bl      axolotl_handle_exception
    brk     #0

axolotl_kernel_exception:
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    bl      axolotl_kernel_fault
    brk     #0

    .global axolotl_exit_to_user
axolotl_exit_to_user:
    mov     sp, x0
    ldp     x2, x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldr     x2, [sp, #272]
    msr     tpidr_el0, x2
    ldp     x30, x2, [sp, #240]
    msr     sp_el0, x2
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldp     x0, x1, [sp]
    eret
"#
);

unsafe extern "C" {
    static axolotl_vectors: u8;
    fn axolotl_exit_to_user(ctx: *mut UserContext) -> !;
}

/// Installs the vector table.
pub fn init_vectors() {
    // SAFETY: `axolotl_vectors` is the 2 KiB-aligned table above; VBAR_EL1 only takes effect on
    // the next exception.
    unsafe {
        let base = &raw const axolotl_vectors as u64;
        core::arch::asm!("msr vbar_el1, {0}", "isb", in(reg) base);
    }
}

/// Leaves the kernel into the thread whose context is `ctx`.
///
/// # Safety
/// `ctx` must be the context of the thread the scheduler made current, its address space must be
/// installed, and it must stay valid while the thread runs (it is inside a live TCB).
pub unsafe fn exit_to_user(ctx: *mut UserContext) -> ! {
    // SAFETY: as the caller promises; the assembly never returns.
    unsafe { axolotl_exit_to_user(ctx) }
}

#[unsafe(no_mangle)]
extern "C" fn axolotl_handle_exception(ctx: *mut UserContext, kind: u64) -> ! {
    let kind = match kind {
        0 => EntryKind::Sync,
        1 => EntryKind::Irq,
        _ => EntryKind::SError,
    };
    crate::trap::handle_exception(ctx, kind)
}

#[unsafe(no_mangle)]
extern "C" fn axolotl_kernel_fault(esr: u64, elr: u64, far: u64) -> ! {
    panic!("kernel exception: ESR {esr:#x} at pc {elr:#x}, address {far:#x}");
}

/// Exception syndrome of the last synchronous exception.
pub fn esr() -> u64 {
    let v: u64;
    // SAFETY: reading a system register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, esr_el1", out(reg) v) };
    v
}

/// Fault address of the last synchronous exception.
pub fn far() -> u64 {
    let v: u64;
    // SAFETY: reading a system register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, far_el1", out(reg) v) };
    v
}
