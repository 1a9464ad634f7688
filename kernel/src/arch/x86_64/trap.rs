//! Interrupt and system-call entry, the saved user context, and the way back to user mode.
//!
//! Every IDT vector uses IST1, and the TSS's IST1 and RSP0 point just past the current thread's
//! [`UserContext`]: the CPU pushes its interrupt frame straight into the TCB, the stubs push the
//! vector, an error code and the general registers below it, then switch to the kernel stack.
//! `syscall` does not switch stacks, so its entry builds the same frame by hand. Leaving the
//! kernel is [`exit_to_user`]: point the TSS at the next context, pop it, `iretq`.

use core::arch::global_asm;

/// Registers of a user thread, in the order the entry code pushes them (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub pc: u64,
    pub cs: u64,
    pub rflags: u64,
    pub sp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<UserContext>().is_multiple_of(16));

pub const USER_CS: u64 = 0x23;
pub const USER_SS: u64 = 0x1b;
pub const KERNEL_CS: u64 = 0x08;
pub const KERNEL_SS: u64 = 0x10;
/// Interrupts enabled, reserved bit 1 set.
pub const RFLAGS_USER: u64 = 0x202;
/// The pseudo-vector of the `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 256;

/// Why the kernel was entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Sync,
    Irq,
    SError,
}

/// Where the system-call registers of `abi::syscall` live in the saved context. The same
/// accessors exist on every port's `UserContext`.
impl UserContext {
    pub const fn new_user(pc: u64, sp: u64) -> UserContext {
        UserContext {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: 0,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error: 0,
            pc,
            cs: USER_CS,
            rflags: RFLAGS_USER,
            sp,
            ss: USER_SS,
        }
    }
    /// Registers were written from outside (`TcbWriteRegisters`): leave through `iretq`, which
    /// restores every register, not `sysretq`, which takes rcx and r11 for pc and flags.
    pub fn registers_written(&mut self) {
        self.vector = 0;
    }
    /// The capability pointer argument (rdi).
    pub fn cptr(&self) -> u64 {
        self.rdi
    }
    pub fn set_badge(&mut self, badge: u64) {
        self.rdi = badge;
    }
    pub fn info(&self) -> u64 {
        self.rsi
    }
    pub fn set_info(&mut self, info: u64) {
        self.rsi = info;
    }
    /// Message register `i` < 4 (rdx, r8, r9, r10).
    pub fn mr(&self, i: usize) -> u64 {
        match i {
            0 => self.rdx,
            1 => self.r8,
            2 => self.r9,
            _ => self.r10,
        }
    }
    pub fn set_mr(&mut self, i: usize, v: u64) {
        match i {
            0 => self.rdx = v,
            1 => self.r8 = v,
            2 => self.r9 = v,
            _ => self.r10 = v,
        }
    }
    /// The kernel status returned by a system call (r12).
    pub fn set_status(&mut self, v: u64) {
        self.r12 = v;
    }
    /// Argument register `i` < 6 of a thread's entry (System V: rdi, rsi, rdx, rcx, r8, r9).
    pub fn arg(&self, i: usize) -> u64 {
        match i {
            0 => self.rdi,
            1 => self.rsi,
            2 => self.rdx,
            3 => self.rcx,
            4 => self.r8,
            _ => self.r9,
        }
    }
    pub fn set_arg(&mut self, i: usize, v: u64) {
        match i {
            0 => self.rdi = v,
            1 => self.rsi = v,
            2 => self.rdx = v,
            3 => self.rcx = v,
            4 => self.r8 = v,
            _ => self.r9 = v,
        }
    }
}

// One 16-byte stub per vector: push a zero error code where the CPU pushes none, push the vector,
// join the common path.
global_asm!(
    r#"
    .section .text, "ax"
    .balign 16
    .global axolotl_idt_stubs
axolotl_idt_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    push    vec
    .else
    push    0
    push    vec
    .endif
    jmp     axolotl_trap_common
    .set vec, vec + 1
    .endr

axolotl_trap_common:
    push    rax
    push    rbx
    push    rcx
    push    rdx
    push    rsi
    push    rdi
    push    rbp
    push    r8
    push    r9
    push    r10
    push    r11
    push    r12
    push    r13
    push    r14
    push    r15
    mov     rdi, rsp
    movabs  rsp, offset BOOT_STACK + {stack_size}
    // The Rust code assumes the direction flag clear; a user thread may have set it (`syscall`
    // clears it through SFMASK, exceptions and interrupts do not).
    cld
    call    axolotl_handle_trap
    ud2

    .global axolotl_syscall_entry
axolotl_syscall_entry:
    mov     [rip + axolotl_user_rsp], rsp
    mov     rsp, [rip + axolotl_context_top]
    push    {user_ss}
    push    [rip + axolotl_user_rsp]
    push    r11
    push    {user_cs}
    push    rcx
    push    0
    push    {syscall_vector}
    jmp     axolotl_trap_common

    .global axolotl_exit_to_user
axolotl_exit_to_user:
    mov     rsp, rdi
    pop     r15
    pop     r14
    pop     r13
    pop     r12
    pop     r11
    pop     r10
    pop     r9
    pop     r8
    pop     rbp
    pop     rdi
    pop     rsi
    pop     rdx
    pop     rcx
    pop     rbx
    pop     rax
    // A thread that entered with `syscall` leaves with `sysretq`: rcx = pc, r11 = rflags, rsp
    // loaded last (interrupts stay masked until sysretq restores rflags). Its pc is the address
    // after its `syscall` instruction, canonical because the last user page below 2^47 can never
    // be mapped (`USER_VADDR_LIMIT`); a pc written by `TcbWriteRegisters` goes through `iretq`.
    cmp     qword ptr [rsp], {syscall_vector}
    jne     2f
    mov     rcx, [rsp + 16]
    mov     r11, [rsp + 32]
    mov     rsp, [rsp + 40]
    sysretq
2:  add     rsp, 16
    iretq

    .section .bss
    .balign 8
axolotl_user_rsp:
    .quad 0
    .global axolotl_context_top
axolotl_context_top:
    .quad 0
"#,
    stack_size = const super::boot::KERNEL_STACK_SIZE,
    user_ss = const USER_SS,
    user_cs = const USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
);

unsafe extern "C" {
    fn axolotl_exit_to_user(ctx: *mut UserContext) -> !;
    static mut axolotl_context_top: u64;
    pub static axolotl_idt_stubs: u8;
    pub fn axolotl_syscall_entry();
}

/// Leaves the kernel into the thread whose context is `ctx`.
///
/// # Safety
/// `ctx` must be the context of the thread the scheduler made current, its address space must be
/// installed, and it must stay valid while the thread runs (it is inside a live TCB).
pub unsafe fn exit_to_user(ctx: *mut UserContext) -> ! {
    let top = ctx as u64 + core::mem::size_of::<UserContext>() as u64;
    super::gdt::set_kernel_entry_stack(top);
    // SAFETY: single kernel path; the syscall entry reads this only after we leave.
    unsafe { axolotl_context_top = top };
    // SAFETY: as the caller promises; the assembly never returns.
    unsafe { axolotl_exit_to_user(ctx) }
}

#[unsafe(no_mangle)]
extern "C" fn axolotl_handle_trap(ctx: *mut UserContext) -> ! {
    // SAFETY: the entry code passes the context it just filled, inside the current TCB.
    let saved = unsafe { *ctx };
    let vector = saved.vector;
    let from_kernel = saved.cs & 3 == 0;
    let kind = match vector {
        SYSCALL_VECTOR => EntryKind::Sync,
        32..=255 => {
            super::set_pending_vector(vector as u32);
            EntryKind::Irq
        }
        2 => EntryKind::SError,
        _ => {
            if from_kernel {
                panic!(
                    "kernel exception: vector {vector} error {:#x} at pc {:#x}, cr2 {:#x}",
                    saved.error,
                    saved.pc,
                    super::cr2()
                );
            }
            super::record_fault_address();
            EntryKind::Sync
        }
    };
    crate::trap::handle_exception(ctx, kind)
}
