//! Boot stub: runs at the physical load address with the MMU off, builds the boot page tables
//! (one 4-level tree whose level-1 table maps the first 4 GiB of physical space with 1 GiB blocks,
//! installed in both TTBR0 (identity, for the jump) and TTBR1 (the kernel window at KERNEL_BASE)),
//! enables the MMU and jumps to `kmain` in the upper half.

use core::arch::global_asm;

/// MAIR_EL1: attr0 normal write-back, attr1 Device-nGnRnE, attr2 Device-nGnRE, attr3 normal
/// non-cacheable.
#[allow(clippy::identity_op)] // attribute 1 is 0x00 (Device-nGnRnE); spelled out for the table
pub const MAIR: u64 = 0xFF | (0x00 << 8) | (0x04 << 16) | (0x44 << 24);
pub const ATTR_NORMAL: u64 = 0;
pub const ATTR_DEVICE: u64 = 2;

/// TCR_EL1: 48-bit VAs in both halves, 4 KiB granules, write-back inner-shareable walks,
/// 40-bit physical addresses, 8-bit ASIDs taken from TTBR0.
pub const TCR: u64 = 16
    | (1 << 8)
    | (1 << 10)
    | (3 << 12)
    | (16 << 16)
    | (1 << 24)
    | (1 << 26)
    | (3 << 28)
    | (2 << 30)
    | (2 << 32);

/// SCTLR_EL1: MMU, caches, stack alignment checks at EL1 and EL0; the RES1 bits of ARMv8.0.
/// EL0 WFI/WFE, cache maintenance and DC ZVA stay trapped.
pub const SCTLR: u64 = 0x30D0_0800 | 1 | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    // Zero .bss (physical addresses: the MMU is off).
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
    ldr     x3, ={kernel_base}
    sub     x1, x1, x3
    sub     x2, x2, x3
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:
    // Level 1: 4 x 1 GiB blocks. 0-1 GiB devices, 1-4 GiB normal memory (RAM on `virt`).
    adrp    x0, boot_l1
    ldr     x1, ={dev_block}
    str     x1, [x0]
    ldr     x1, ={ram_block}
    mov     x2, #1
3:  lsl     x3, x2, #30
    orr     x3, x3, x1
    str     x3, [x0, x2, lsl #3]
    add     x2, x2, #1
    cmp     x2, #4
    b.ne    3b
    // Level 0 entry 0 -> level 1 table.
    adrp    x1, boot_l0
    orr     x2, x0, #3
    str     x2, [x1]
    dsb     ish
    msr     ttbr0_el1, x1
    msr     ttbr1_el1, x1
    ldr     x2, ={mair}
    msr     mair_el1, x2
    ldr     x2, ={tcr}
    msr     tcr_el1, x2
    isb
    tlbi    vmalle1
    dsb     ish
    isb
    ldr     x2, ={sctlr}
    msr     sctlr_el1, x2
    isb
    ldr     x2, =boot_high
    br      x2

    .section .data.boot, "aw"
    .balign 4096
boot_l0:
    .space 4096
boot_l1:
    .space 4096

    .section .text, "ax"
boot_high:
    ldr     x1, =BOOT_STACK + {stack_size}
    mov     sp, x1
    msr     tpidr_el1, x1
    bl      kmain
4:  wfe
    b       4b
"#,
    kernel_base = const crate::arch::KERNEL_BASE,
    dev_block = const (1 | (ATTR_DEVICE << 2) | (1 << 10) | (1 << 53) | (1 << 54)),
    ram_block = const (1 | (ATTR_NORMAL << 2) | (3 << 8) | (1 << 10) | (1 << 54)),
    mair = const MAIR,
    tcr = const TCR,
    sctlr = const SCTLR,
    stack_size = const KERNEL_STACK_SIZE,
);

/// The kernel stack: every kernel entry starts at its top (the kernel is not re-entrant).
#[unsafe(no_mangle)]
#[used]
static mut BOOT_STACK: [u8; KERNEL_STACK_SIZE] = [0; KERNEL_STACK_SIZE];
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
