//! PVH boot stub: QEMU enters `_start` in 32-bit protected mode with paging off and `ebx`
//! pointing at the PVH start-info structure. The stub maps the first 4 GiB of physical space with
//! 2 MiB pages three ways (identity, for the switch; at KERNEL_BASE, the kernel window; the first
//! 2 GiB at KERNEL_IMAGE_BASE, where the image is linked), enters long mode and jumps to `kmain`
//! with the start-info address as its argument.

use core::arch::global_asm;

pub const KERNEL_STACK_SIZE: usize = 64 * 1024;

/// The kernel stack: every kernel entry starts at its top (the kernel is not re-entrant).
#[unsafe(no_mangle)]
#[used]
static mut BOOT_STACK: [u8; KERNEL_STACK_SIZE] = [0; KERNEL_STACK_SIZE];

global_asm!(
    r#"
    .section .note.pvh, "a"
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad _start

    .section .text.boot, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov     esi, ebx
    // Zero .bss (physical addresses).
    mov     edi, offset __bss_start - {image_base}
    mov     ecx, offset __bss_end - {image_base}
    sub     ecx, edi
    shr     ecx, 2
    xor     eax, eax
    rep stosd
    // Page directories: 4 x 512 x 2 MiB; the fourth GiB (local APIC, I/O APIC) uncached.
    mov     edi, offset boot_pd
    xor     ecx, ecx
2:  mov     eax, ecx
    shl     eax, 21
    or      eax, 0x183
    cmp     ecx, 1536
    jb      3f
    or      eax, 0x18
3:  mov     [edi + ecx * 8], eax
    mov     dword ptr [edi + ecx * 8 + 4], 0
    inc     ecx
    cmp     ecx, 2048
    jne     2b
    // PDPT entries 0..3 -> the four directories.
    mov     edi, offset boot_pdpt
    mov     eax, offset boot_pd
    or      eax, 3
    xor     ecx, ecx
4:  mov     [edi + ecx * 8], eax
    mov     dword ptr [edi + ecx * 8 + 4], 0
    add     eax, 4096
    inc     ecx
    cmp     ecx, 4
    jne     4b
    // PML4: entry 0 (identity) and entry 256 (KERNEL_BASE) share the PDPT.
    mov     edi, offset boot_pml4
    mov     eax, offset boot_pdpt
    or      eax, 3
    mov     [edi], eax
    mov     [edi + 256 * 8], eax
    // PML4 entry 511 -> PDPT whose entries 510, 511 map the first 2 GiB at -2 GiB.
    mov     eax, offset boot_pdpt_image
    or      eax, 3
    mov     [edi + 511 * 8], eax
    mov     edx, offset boot_pdpt_image
    mov     eax, offset boot_pd
    or      eax, 3
    mov     [edx + 510 * 8], eax
    add     eax, 4096
    mov     [edx + 511 * 8], eax
    mov     cr3, edi
    // PAE + global pages; long mode, no-execute, syscall; paging + write protect.
    mov     eax, cr4
    or      eax, (1 << 5) | (1 << 7)
    mov     cr4, eax
    mov     ecx, 0xC0000080
    rdmsr
    or      eax, (1 << 8) | (1 << 11) | 1
    wrmsr
    mov     eax, cr0
    or      eax, (1 << 31) | (1 << 16)
    mov     cr0, eax
    lgdt    [boot_gdtr]
    jmp     fword ptr [boot_far_jump]

    .code64
boot_long:
    mov     ax, 0x10
    mov     ds, ax
    mov     es, ax
    mov     ss, ax
    xor     ax, ax
    mov     fs, ax
    mov     gs, ax
    mov     rdi, rsi
    movabs  rax, offset boot_high
    jmp     rax

    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdtr:
    .word 23
    .long boot_gdt
boot_far_jump:
    .long boot_long
    .word 0x08

    .section .data.boot, "aw"
    .balign 4096
boot_pml4:
    .space 4096
boot_pdpt:
    .space 4096
boot_pdpt_image:
    .space 4096
boot_pd:
    .space 4096 * 4

    .section .text, "ax"
boot_high:
    movabs  rsp, offset BOOT_STACK + {stack_size}
    call    kmain
5:  hlt
    jmp     5b
"#,
    image_base = const super::KERNEL_IMAGE_BASE,
    stack_size = const KERNEL_STACK_SIZE,
);

unsafe extern "C" {
    static boot_pml4: u8;
}

/// The physical address of the boot PML4, whose upper half every address space shares.
pub fn kernel_pml4() -> u64 {
    &raw const boot_pml4 as u64
}
