//! x86_64 port for QEMU `q35`: PVH boot, ring 0 kernel, ring 3 threads, `syscall`, the local
//! APIC timer, the I/O APIC (8259 PICs masked), COM1 console, `isa-debug-exit`.

mod boot;
mod gdt;
mod trap;

pub use trap::{EntryKind, UserContext, exit_to_user};

use super::{Architecture, MapRights, PhysRegion, PlatformInfo, Pte, SyncCause, phys_to_virt};
use axolotl_abi::fault::{
    FAULT_FLAG_INSTRUCTION, FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE,
};
use axolotl_abi::{FaultKind, VmAttributes};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// All physical memory (the first 4 GiB) is mapped at `KERNEL_BASE + paddr`.
pub const KERNEL_BASE: u64 = 0xFFFF_8000_0000_0000;
/// The kernel image is linked in the top 2 GiB (the kernel code model).
pub const KERNEL_IMAGE_BASE: u64 = 0xFFFF_FFFF_8000_0000;

const LAPIC: u64 = 0xFEE0_0000;
const IOAPIC: u64 = 0xFEC0_0000;
const COM1: u16 = 0x3f8;
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// IRQ numbers: GSI g of the I/O APIC is IRQ g (vector 32 + g); the local APIC timer is IRQ 32.
const NUM_GSI: u32 = 24;
const IRQ_VECTOR_BASE: u32 = 32;
const TIMER_VECTOR: u32 = 64;
const SPURIOUS_VECTOR: u32 = 0xff;
/// QEMU's APIC timer counts at 1 GHz before the divider; divide by 16.
const APIC_TICKS_PER_US: u64 = 1000 / 16;

/// Device memory user-level drivers may be given: a 16 KiB window in q35's PCI hole that the
/// virtio-net driver programs its device's memory BAR to (qboot assigns no BARs; the root task's
/// platform table, `root-task/src/platform.rs`, names the same window).
static DEVICES: [PhysRegion; 1] = [PhysRegion {
    start: 0xfe00_0000,
    end: 0xfe00_4000,
}];

static PENDING_VECTOR: AtomicU32 = AtomicU32::new(0);
/// TSC ticks per second, measured at boot against the local APIC timer.
static TSC_HZ: AtomicU64 = AtomicU64::new(1_000_000_000);
/// Whether PCIDs (and INVPCID) are in use: address spaces keep their TLB entries across switches.
static PCID: AtomicBool = AtomicBool::new(false);
/// What a CR3 write ORs in: with PCIDs, the PCID bits of the ASID and bit 63 (do not flush).
static CR3_PCID_MASK: AtomicU64 = AtomicU64::new(0);
static CR3_NO_FLUSH: AtomicU64 = AtomicU64::new(0);
static FAULT_ADDRESS: AtomicU64 = AtomicU64::new(0);

fn set_pending_vector(v: u32) {
    PENDING_VECTOR.store(v, Ordering::Relaxed);
}

fn cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {0}, cr2", out(reg) v) };
    v
}

fn record_fault_address() {
    FAULT_ADDRESS.store(cr2(), Ordering::Relaxed);
}

fn outb(port: u16, v: u8) {
    // SAFETY: the kernel's own ports (COM1, the PICs, debug exit) or a port user space holds a
    // capability to (checked by `io_port_allowed` when the capability was issued).
    unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") v) };
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: reading an I/O port: COM1's line status, or a port user space holds a capability to.
    unsafe { core::arch::asm!("in al, dx", in("dx") port, out("al") v) };
    v
}

fn outl(port: u16, v: u32) {
    // SAFETY: a port range user space holds a capability to (checked by `io_port_allowed` when
    // the capability was issued, and the whole word against its range by the invocation).
    unsafe { core::arch::asm!("out dx, eax", in("dx") port, in("eax") v) };
}

fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as in `outl`.
    unsafe { core::arch::asm!("in eax, dx", in("dx") port, out("eax") v) };
    v
}

fn lapic_write(reg: u64, v: u32) {
    // SAFETY: the local APIC's registers, mapped uncached in the kernel window.
    unsafe { write_volatile(phys_to_virt(LAPIC + reg) as *mut u32, v) }
}

fn ioapic_write(reg: u32, v: u32) {
    // SAFETY: the I/O APIC's index/data registers, mapped uncached in the kernel window.
    unsafe {
        write_volatile(phys_to_virt(IOAPIC) as *mut u32, reg);
        write_volatile(phys_to_virt(IOAPIC + 0x10) as *mut u32, v);
    }
}

fn ioapic_read(reg: u32) -> u32 {
    // SAFETY: as in `ioapic_write`.
    unsafe {
        write_volatile(phys_to_virt(IOAPIC) as *mut u32, reg);
        read_volatile(phys_to_virt(IOAPIC + 0x10) as *const u32)
    }
}

/// Reads the RAM regions from the PVH start-info structure.
fn pvh_memory(start_info: u64, out: &mut [PhysRegion]) -> usize {
    const MAGIC: u32 = 0x336e_c578;
    if start_info == 0 || start_info >= 1 << 32 {
        return 0;
    }
    let base = phys_to_virt(start_info) as *const u8;
    // SAFETY: QEMU's PVH loader passes a start-info structure (at least 56 bytes for version 1)
    // in low RAM, mapped in the kernel window; the memory map it names is checked below.
    let (magic, version, memmap, entries) = unsafe {
        (
            read_volatile(base as *const u32),
            read_volatile(base.add(4) as *const u32),
            read_volatile(base.add(40) as *const u64),
            read_volatile(base.add(48) as *const u32),
        )
    };
    if magic != MAGIC || version < 1 || memmap == 0 || memmap >= 1 << 32 {
        return 0;
    }
    let mut n = 0;
    for i in 0..entries.min(64) as u64 {
        let e = phys_to_virt(memmap + 24 * i) as *const u8;
        // SAFETY: entry i < the entry count of the loader's memory map (24 bytes each).
        let (addr, size, ty) = unsafe {
            (
                read_volatile(e as *const u64),
                read_volatile(e.add(8) as *const u64),
                read_volatile(e.add(16) as *const u32),
            )
        };
        if ty == 1 && n < out.len() {
            out[n] = PhysRegion {
                start: addr,
                end: addr.saturating_add(size),
            };
            n += 1;
        }
    }
    n
}

/// Turns on PCIDs if the CPU has them and INVPCID (CPUID.1:ECX.17, CPUID.7:EBX.10).
fn enable_pcid() {
    let (ecx1, ebx7): (u32, u32);
    // SAFETY: `cpuid` only reads processor identification; rbx is saved around it because LLVM
    // reserves it.
    unsafe {
        core::arch::asm!("push rbx", "cpuid", "pop rbx", inout("eax") 1u32 => _, out("ecx") ecx1, out("edx") _);
        core::arch::asm!(
            "push rbx", "cpuid", "mov {0:e}, ebx", "pop rbx",
            out(reg) ebx7, inout("eax") 7u32 => _, inout("ecx") 0u32 => _, out("edx") _,
        );
    }
    if ecx1 & (1 << 17) != 0 && ebx7 & (1 << 10) != 0 {
        // SAFETY: CR3's low bits are 0 (the boot PML4 is page aligned, PCID 0), as setting
        // CR4.PCIDE requires.
        unsafe {
            core::arch::asm!("mov {0}, cr4", "or {0}, {1}", "mov cr4, {0}", out(reg) _, const 1u64 << 17)
        };
        PCID.store(true, Ordering::Relaxed);
        CR3_PCID_MASK.store(0xfff, Ordering::Relaxed);
        CR3_NO_FLUSH.store(1 << 63, Ordering::Relaxed);
    }
}

fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading the time-stamp counter has no side effects.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Measures the TSC's frequency over 100 µs of the local APIC timer, whose rate QEMU fixes (1 GHz
/// before the divider). Under TCG the TSC follows the host's clock, under `-icount` the guest's
/// instruction count; either way user space gets the right `counter_frequency`.
fn calibrate_tsc() {
    const CALIBRATION_US: u64 = 100;
    lapic_write(0x320, TIMER_VECTOR | (1 << 16));
    lapic_write(0x380, (CALIBRATION_US * APIC_TICKS_PER_US) as u32);
    let start = rdtsc();
    // SAFETY: reading the local APIC's current-count register has no side effects.
    while unsafe { read_volatile(phys_to_virt(LAPIC + 0x390) as *const u32) } != 0 {}
    let ticks = rdtsc() - start;
    lapic_write(0x320, TIMER_VECTOR);
    TSC_HZ.store(ticks * (1_000_000 / CALIBRATION_US), Ordering::Relaxed);
}

/// INVPCID of `kind` (0: one address, 1: one PCID) for `pcid`.
fn invpcid(kind: u64, pcid: u16, vaddr: u64) {
    let descriptor: [u64; 2] = [pcid as u64, vaddr];
    // SAFETY: invalidating TLB entries has no other effect; the descriptor is on the stack.
    unsafe { core::arch::asm!("invpcid {0}, [{1}]", in(reg) kind, in(reg) &descriptor) };
}

pub struct X86_64;

impl Architecture for X86_64 {
    const ARCH: axolotl_abi::Arch = axolotl_abi::Arch::X86_64;

    fn init(boot_arg: u64) -> PlatformInfo {
        gdt::init();
        // Drop the boot stub's identity mapping (and its global TLB entries: toggle CR4.PGE),
        // so that low addresses belong to user space alone.
        // SAFETY: the kernel runs in the upper half now; entry 0 of the boot PML4 is unused.
        unsafe {
            (phys_to_virt(boot::kernel_pml4()) as *mut u64).write_volatile(0);
            core::arch::asm!(
                "mov {0}, cr4",
                "xor {0}, 0x80",
                "mov cr4, {0}",
                "xor {0}, 0x80",
                "mov cr4, {0}",
                out(reg) _,
            );
        }
        // The 8259 PICs: remap to 0xf0.. and mask everything; the I/O APIC delivers instead.
        for (port, v) in [
            (0x20, 0x11),
            (0xa0, 0x11),
            (0x21, 0xf0),
            (0xa1, 0xf8),
            (0x21, 4),
            (0xa1, 2),
            (0x21, 1),
            (0xa1, 1),
        ] {
            outb(port, v);
        }
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
        // Local APIC on, spurious vector 0xff, one-shot timer on TIMER_VECTOR, divide by 16.
        lapic_write(0xf0, (1 << 8) | SPURIOUS_VECTOR);
        lapic_write(0x80, 0);
        lapic_write(0x3e0, 0b0011);
        lapic_write(0x320, TIMER_VECTOR);
        // Every I/O APIC input masked, routed to CPU 0 at vector 32 + GSI. ISA inputs (below 16)
        // are edge-triggered active-high; PCI inputs (16 and up) level-triggered active-low.
        for gsi in 0..NUM_GSI {
            let mut low = (IRQ_VECTOR_BASE + gsi) | (1 << 16);
            if gsi >= 16 {
                low |= (1 << 15) | (1 << 13);
            }
            ioapic_write(0x10 + 2 * gsi, low);
            ioapic_write(0x11 + 2 * gsi, 0);
        }
        enable_pcid();
        calibrate_tsc();
        let mut info = PlatformInfo {
            ram: [PhysRegion::default(); 8],
            ram_count: 0,
            devices: &DEVICES,
        };
        info.ram_count = pvh_memory(boot_arg, &mut info.ram);
        info
    }

    fn console_putc(c: u8) {
        while inb(COM1 + 5) & 0x20 == 0 {}
        outb(COM1, c);
    }

    fn poweroff(status: u64) -> ! {
        // SAFETY: QEMU's isa-debug-exit device ends the run with status (v << 1) | 1.
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") DEBUG_EXIT_PORT, in("eax") status as u32)
        };
        Self::halt()
    }

    fn wait_for_interrupt() {
        // SAFETY: the idle thread runs at ring 0 with interrupts enabled; `hlt` waits for one.
        unsafe { core::arch::asm!("hlt") };
    }

    fn halt() -> ! {
        loop {
            // SAFETY: with interrupts masked, `hlt` stops the CPU.
            unsafe { core::arch::asm!("cli", "hlt") };
        }
    }

    fn idle_context(entry: u64, stack_top: u64) -> UserContext {
        let mut c = UserContext::new_user(entry, stack_top);
        c.cs = trap::KERNEL_CS;
        c.ss = trap::KERNEL_SS;
        c
    }

    fn syscall_number(ctx: &UserContext) -> Option<u64> {
        (ctx.vector == trap::SYSCALL_VECTOR).then_some(ctx.rax)
    }

    fn sync_cause(ctx: &UserContext) -> SyncCause {
        let syndrome = (ctx.vector << 32) | (ctx.error & 0xffff_ffff);
        let fault = |kind, address, flags| SyncCause::Fault {
            kind,
            address,
            syndrome,
            flags,
        };
        match ctx.vector {
            trap::SYSCALL_VECTOR => SyncCause::Syscall(ctx.rax),
            14 => {
                let mut flags = 0;
                if ctx.error & 1 != 0 {
                    flags |= FAULT_FLAG_USER_MAPPING_PRESENT;
                }
                if ctx.error & 2 != 0 {
                    flags |= FAULT_FLAG_WRITE;
                }
                let kind = if ctx.error & 0x10 != 0 {
                    flags |= FAULT_FLAG_INSTRUCTION;
                    FaultKind::InstructionFault
                } else {
                    FaultKind::PageFault
                };
                fault(kind, FAULT_ADDRESS.load(Ordering::Relaxed), flags)
            }
            6 | 7 => fault(FaultKind::UndefinedInstruction, ctx.pc, 0),
            0 | 16 | 19 => fault(FaultKind::Arithmetic, ctx.pc, 0),
            10..=13 => fault(FaultKind::Protection, 0, 0),
            17 => fault(FaultKind::Alignment, 0, 0),
            1 | 3 => fault(FaultKind::Breakpoint, ctx.pc, 0),
            _ => fault(FaultKind::Other, 0, 0),
        }
    }

    fn irq_claim() -> Option<u32> {
        match PENDING_VECTOR.swap(0, Ordering::Relaxed) {
            TIMER_VECTOR => Some(Self::TIMER_IRQ),
            v if (IRQ_VECTOR_BASE..IRQ_VECTOR_BASE + NUM_GSI).contains(&v) => {
                Some(v - IRQ_VECTOR_BASE)
            }
            _ => None,
        }
    }

    fn irq_complete(_irq: u32) {
        lapic_write(0xb0, 0);
    }

    fn irq_mask(irq: u32) {
        if irq < NUM_GSI {
            ioapic_write(0x10 + 2 * irq, ioapic_read(0x10 + 2 * irq) | (1 << 16));
        }
    }

    fn irq_unmask(irq: u32) {
        if irq < NUM_GSI {
            ioapic_write(0x10 + 2 * irq, ioapic_read(0x10 + 2 * irq) & !(1 << 16));
        }
    }

    const MAX_IRQ: u32 = 32;
    const TIMER_IRQ: u32 = 32;

    fn timer_rearm() {
        lapic_write(0x380, (Self::TIME_SLICE_US * APIC_TICKS_PER_US) as u32);
    }

    fn read_counter() -> u64 {
        rdtsc()
    }

    fn counter_frequency() -> u64 {
        TSC_HZ.load(Ordering::Relaxed)
    }

    const TIME_SLICE_US: u64 = 5_000;

    fn pte_decode(raw: u64, level: usize) -> Pte {
        let addr = raw & 0x000f_ffff_ffff_f000;
        match (raw & 1, level, raw & (1 << 7)) {
            (0, _, _) => Pte::Invalid,
            (_, 3, _) => Pte::Page(addr),
            (_, _, 0) => Pte::Table(addr),
            _ => Pte::Page(addr),
        }
    }

    unsafe fn copy_page(dst: u64, src: u64, from: usize) {
        let from = (from & !63) as u64;
        // SAFETY: the caller guarantees two distinct whole pages; `rep movsq` copies the
        // (4096 - from) / 8 quadwords from the 64-byte-aligned offset to the end of the page.
        unsafe {
            core::arch::asm!(
                "rep movsq",
                inout("rsi") src + from => _,
                inout("rdi") dst + from => _,
                inout("rcx") (4096 - from) / 8 => _,
                options(nostack),
            );
        }
    }

    /// Bit 9: one of the bits the MMU leaves to software.
    const PTE_TX: u64 = 1 << 9;

    fn pte_is_writable(raw: u64) -> bool {
        raw & 2 != 0
    }

    fn pte_with_write(raw: u64, writable: bool) -> u64 {
        if writable { raw | 2 } else { raw & !2 }
    }

    fn pte_is_device(raw: u64) -> bool {
        // Device pages are mapped uncached (PCD | PWT).
        raw & 0x18 == 0x18
    }

    fn pte_table(paddr: u64) -> u64 {
        paddr | 0b111
    }

    fn pte_page(paddr: u64, rights: MapRights) -> u64 {
        const PRESENT_USER: u64 = 1 | 4;
        const WRITE: u64 = 2;
        const UNCACHED: u64 = (1 << 3) | (1 << 4);
        const NX: u64 = 1 << 63;
        let mut e = paddr | PRESENT_USER;
        if rights.write {
            e |= WRITE;
        }
        if rights.attrs.contains(VmAttributes::DEVICE) {
            e |= UNCACHED | NX;
        } else if !rights.attrs.contains(VmAttributes::EXECUTE) {
            e |= NX;
        }
        e
    }

    fn init_vspace_root(root: u64) {
        // Every address space shares the kernel's half (PML4 entries 256..512).
        let kernel = phys_to_virt(boot::kernel_pml4()) as *const u64;
        let new = phys_to_virt(root) as *mut u64;
        for i in 256..512 {
            // SAFETY: both are page-table pages in the kernel window; `root` is a fresh VSpace.
            unsafe { new.add(i).write(kernel.add(i).read()) };
        }
    }

    fn switch_vspace(root: u64, asid: u16) {
        // With PCIDs the space keeps its TLB entries (bit 63: do not flush); without, CR3 writes
        // flush everything but the kernel's global pages.
        let cr3 = root
            | (asid as u64 & CR3_PCID_MASK.load(Ordering::Relaxed))
            | CR3_NO_FLUSH.load(Ordering::Relaxed);
        // SAFETY: `root` is a VSpace whose upper half is the kernel's (see `init_vspace_root`).
        unsafe { core::arch::asm!("mov cr3, {0}", in(reg) cr3) };
    }

    fn flush_page(asid: u16, vaddr: u64) {
        if PCID.load(Ordering::Relaxed) {
            invpcid(0, asid & 0xfff, vaddr);
        } else {
            // Switching CR3 flushes other spaces' entries; only the current one can be stale.
            // SAFETY: invalidating a TLB entry has no other effect.
            unsafe { core::arch::asm!("invlpg [{0}]", in(reg) vaddr) };
        }
    }

    fn flush_asid(asid: u16) {
        if PCID.load(Ordering::Relaxed) {
            invpcid(1, asid & 0xfff, 0);
        } else {
            // SAFETY: reloading CR3 flushes the non-global translations of the current space.
            unsafe { core::arch::asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _) };
        }
    }

    fn pte_barrier() {}

    const HAS_IO_PORTS: bool = true;
    fn io_port_allowed(port: u16) -> bool {
        // The 8259 PICs and the debug-exit port stay the kernel's (the kernel's timer is the local
        // APIC's, so the PIT may go to a user-level timer driver).
        !matches!(port, 0x20 | 0x21 | 0xa0 | 0xa1 | DEBUG_EXIT_PORT..=0xf7)
    }
    fn io_port_in8(port: u16) -> u8 {
        inb(port)
    }
    fn io_port_out8(port: u16, value: u8) {
        outb(port, value)
    }
    fn io_port_in32(port: u16) -> u32 {
        inl(port)
    }
    fn io_port_out32(port: u16, value: u32) {
        outl(port, value)
    }

    const NUM_ASIDS: usize = 4096;

    /// `int3` (vector 3, its gate open to user mode; the saved pc is after it) and `jmp $`.
    const INJECT_TRAP: &'static [u8] = &[0xcc];
    const INJECT_LOOP: &'static [u8] = &[0xeb, 0xfe];

    fn inject_trap_pc(ctx: &UserContext) -> Option<u64> {
        (ctx.vector == 3).then(|| ctx.pc.wrapping_sub(1))
    }

    /// Instruction fetch snoops stores on x86, and returning to user mode (`iretq`, `sysretq`
    /// after a serialising kernel entry) orders the modified code before it runs.
    fn sync_code(_kva: u64, _len: usize) {}

    fn user_register(ctx: &mut UserContext, i: u64) -> Option<&mut u64> {
        Some(match i {
            0 => &mut ctx.rax,
            1 => &mut ctx.rbx,
            2 => &mut ctx.rcx,
            3 => &mut ctx.rdx,
            4 => &mut ctx.rsi,
            5 => &mut ctx.rdi,
            6 => &mut ctx.rbp,
            7 => &mut ctx.sp,
            8 => &mut ctx.r8,
            9 => &mut ctx.r9,
            10 => &mut ctx.r10,
            11 => &mut ctx.r11,
            12 => &mut ctx.r12,
            13 => &mut ctx.r13,
            14 => &mut ctx.r14,
            15 => &mut ctx.r15,
            _ => return None,
        })
    }
}
