//! Segments, the TSS, the IDT and the `syscall` MSRs.
//!
//! GDT: null, kernel code 0x08, kernel data 0x10, user data 0x18, user code 0x20, TSS 0x28. The
//! user data/code order is what `sysret` would need (STAR[63:48] = 0x10); the kernel returns with
//! `iretq` today. Every IDT gate uses IST1, which always points past the current thread's saved
//! context (see `trap`).

use super::trap::{KERNEL_CS, axolotl_idt_stubs, axolotl_syscall_entry};
use core::cell::UnsafeCell;

#[repr(C, align(16))]
struct Tables {
    gdt: [u64; 7],
    /// The 104-byte TSS as 32-bit words (its 64-bit fields are only 4-aligned).
    tss: [u32; 26],
    idt: [[u64; 2]; 256],
}

struct Cell(UnsafeCell<Tables>);
// SAFETY: written at boot and by the single kernel path on every exit to user mode.
unsafe impl Sync for Cell {}

static TABLES: Cell = Cell(UnsafeCell::new(Tables {
    gdt: [0; 7],
    tss: [0; 26],
    idt: [[0; 2]; 256],
}));

fn tables() -> &'static mut Tables {
    // SAFETY: one kernel path at a time; no reference outlives the operation using it.
    unsafe { &mut *TABLES.0.get() }
}

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

fn wrmsr(msr: u32, v: u64) {
    // SAFETY: the MSRs written here (STAR, LSTAR, SFMASK) only configure `syscall`.
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32)
    };
}

pub fn init() {
    let t = tables();
    t.gdt[1] = 0x00AF_9A00_0000_FFFF;
    t.gdt[2] = 0x00CF_9200_0000_FFFF;
    t.gdt[3] = 0x00CF_F200_0000_FFFF;
    t.gdt[4] = 0x00AF_FA00_0000_FFFF;
    let tss = t.tss.as_ptr() as u64;
    let limit = (core::mem::size_of::<[u32; 26]>() - 1) as u64;
    t.gdt[5] = limit | ((tss & 0xff_ffff) << 16) | (0x89 << 40) | (((tss >> 24) & 0xff) << 56);
    t.gdt[6] = tss >> 32;
    // No I/O permission bitmap: the map base lies past the segment limit.
    t.tss[25] = (core::mem::size_of::<[u32; 26]>() as u32) << 16;
    let stubs = &raw const axolotl_idt_stubs as u64;
    for (v, gate) in t.idt.iter_mut().enumerate() {
        let handler = stubs + 16 * v as u64;
        // Interrupt gate, IST1; `int3` may be used from user mode (DPL 3).
        let dpl: u64 = if v == 3 { 3 } else { 0 };
        gate[0] = (handler & 0xffff)
            | (KERNEL_CS << 16)
            | (1 << 32)
            | ((0x8E | (dpl << 5)) << 40)
            | (((handler >> 16) & 0xffff) << 48);
        gate[1] = handler >> 32;
    }
    let gdtr = Pointer {
        limit: (core::mem::size_of::<[u64; 7]>() - 1) as u16,
        base: t.gdt.as_ptr() as u64,
    };
    let idtr = Pointer {
        limit: (core::mem::size_of::<[[u64; 2]; 256]>() - 1) as u16,
        base: t.idt.as_ptr() as u64,
    };
    // SAFETY: the tables are static and complete; the kernel selectors keep their values, and
    // the far return reloads CS with the same kernel code selector.
    unsafe {
        core::arch::asm!(
            "lgdt [{gdtr}]",
            "lidt [{idtr}]",
            "mov ax, 0x10",
            "mov ds, ax",
            "mov es, ax",
            "mov ss, ax",
            "push 0x08",
            "lea rax, [rip + 2f]",
            "push rax",
            "retfq",
            "2:",
            "mov ax, 0x28",
            "ltr ax",
            gdtr = in(reg) &gdtr,
            idtr = in(reg) &idtr,
            out("rax") _,
        );
    }
    // syscall: kernel CS 0x08 (SS 0x10); sysret base 0x10 (user SS 0x18|3, CS 0x20|3).
    wrmsr(0xC000_0081, (0x10 << 48) | (0x08 << 32));
    wrmsr(0xC000_0082, axolotl_syscall_entry as *const () as u64);
    // Clear TF, IF, DF, NT and AC on entry.
    wrmsr(0xC000_0084, 0x0004_4700);
}

/// Points RSP0 and IST1 at `top`, the end of the next thread's saved context.
pub fn set_kernel_entry_stack(top: u64) {
    let t = tables();
    t.tss[1] = top as u32;
    t.tss[2] = (top >> 32) as u32;
    t.tss[9] = top as u32;
    t.tss[10] = (top >> 32) as u32;
}
