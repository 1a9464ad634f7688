//! aarch64 port for QEMU `virt`: EL1 kernel, EL0 threads, GICv2, the generic (virtual) timer,
//! PL011 console, semihosting exit.

mod boot;
mod fdt;
mod trap;

pub use trap::UserContext;
pub use trap::{EntryKind, exit_to_user};
use trap::{SPSR_IDLE, init_vectors};

use super::{Architecture, MapRights, PhysRegion, PlatformInfo, Pte, SyncCause, phys_to_virt};
use axolotl_abi::fault::{
    FAULT_FLAG_INSTRUCTION, FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE,
};
use axolotl_abi::{FaultKind, VmAttributes};
use core::ptr::{read_volatile, write_volatile};

const UART_BASE: u64 = 0x0900_0000;
const GICD_BASE: u64 = 0x0800_0000;
const GICC_BASE: u64 = 0x0801_0000;
const DTB_ADDR: u64 = 0x4000_0000;

/// Device memory user-level drivers may be given: the PL011 and the virtio-mmio transports.
static DEVICES: [PhysRegion; 2] = [
    PhysRegion {
        start: 0x0900_0000,
        end: 0x0900_1000,
    },
    PhysRegion {
        start: 0x0a00_0000,
        end: 0x0a00_4000,
    },
];

/// All physical memory is mapped in the kernel's half at `KERNEL_BASE + paddr`.
pub const KERNEL_BASE: u64 = 0xFFFF_0000_0000_0000;
/// The kernel image is linked inside that window.
pub const KERNEL_IMAGE_BASE: u64 = KERNEL_BASE;

pub struct Aarch64;

fn mmio_write(paddr: u64, value: u32) {
    // SAFETY: `paddr` is a device register of the `virt` machine, mapped in the kernel window as
    // device memory; 32-bit volatile accesses are what the device expects.
    unsafe { write_volatile(phys_to_virt(paddr) as *mut u32, value) }
}

fn mmio_read(paddr: u64) -> u32 {
    // SAFETY: as in `mmio_write`.
    unsafe { read_volatile(phys_to_virt(paddr) as *const u32) }
}

macro_rules! sysreg_read {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading this system register has no side effects.
        unsafe { core::arch::asm!(concat!("mrs {0}, ", $name), out(reg) v) };
        v
    }};
}

macro_rules! sysreg_write {
    ($name:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: the callers below write only the timer and translation registers, with values
        // that keep the kernel's own mappings intact.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {0}"), "isb", in(reg) v) };
    }};
}

const TIMER_PPI: u32 = 27;

// Exception classes (ESR_EL1.EC).
const EC_UNKNOWN: u64 = 0x00;
const EC_WFX: u64 = 0x01;
const EC_FP: u64 = 0x07;
const EC_ILLEGAL_STATE: u64 = 0x0e;
const EC_SVC64: u64 = 0x15;
const EC_SYSREG: u64 = 0x18;
const EC_IABT_LOWER: u64 = 0x20;
const EC_PC_ALIGN: u64 = 0x22;
const EC_DABT_LOWER: u64 = 0x24;
const EC_SP_ALIGN: u64 = 0x26;
const EC_BRK64: u64 = 0x3c;

impl Architecture for Aarch64 {
    const ARCH: axolotl_abi::Arch = axolotl_abi::Arch::Aarch64;

    fn init(_boot_arg: u64) -> PlatformInfo {
        init_vectors();
        // GICv2: distributor and CPU interface on, every priority admitted.
        mmio_write(GICD_BASE, 1);
        mmio_write(GICC_BASE + 0x04, 0xff);
        mmio_write(GICC_BASE, 1);
        Self::irq_unmask(TIMER_PPI);
        // EL0 may read the virtual counter (CNTVCT_EL0, EL0VCTEN): user-level time and
        // benchmarks; and may program the EL1 physical timer (CNTP_CTL/CVAL/TVAL_EL0, EL0PTEN),
        // whose PPI 30 an image can grant to a user-level timer driver (the kernel's is virtual).
        sysreg_write!("cntkctl_el1", (1 << 1) | (1 << 9));
        let mut info = PlatformInfo {
            ram: [PhysRegion::default(); 8],
            ram_count: 0,
            devices: &DEVICES,
        };
        // The device tree QEMU placed at the start of RAM says how much RAM there is.
        // SAFETY: QEMU `virt` puts a DTB at 0x4000_0000 when the kernel is loaded above it; the
        // parser bounds-checks everything against the header's total size.
        let found =
            unsafe { fdt::memory_regions(phys_to_virt(DTB_ADDR) as *const u8, &mut info.ram) };
        info.ram_count = found;
        info
    }

    fn console_putc(c: u8) {
        while mmio_read(UART_BASE + 0x18) & (1 << 5) != 0 {}
        mmio_write(UART_BASE, c as u32);
    }

    fn poweroff(status: u64) -> ! {
        let block: [u64; 2] = [0x20026, status];
        // SAFETY: semihosting SYS_EXIT (0x18) with a pointer to the parameter block; QEMU exits
        // with `status`. Without semihosting the instruction is a no-op or traps, and we halt.
        unsafe {
            core::arch::asm!("hlt #0xf000", in("x0") 0x18u64, in("x1") &block as *const _ as u64);
        }
        Self::halt()
    }

    fn wait_for_interrupt() {
        // SAFETY: waiting for an interrupt has no other effect.
        unsafe { core::arch::asm!("wfi") };
    }

    fn halt() -> ! {
        loop {
            // SAFETY: waiting for an interrupt with interrupts masked just stops the CPU.
            unsafe { core::arch::asm!("msr daifset, #0xf", "wfi") };
        }
    }

    fn idle_context(entry: u64, stack_top: u64) -> UserContext {
        let mut c = UserContext::new_user(entry, stack_top);
        c.spsr = SPSR_IDLE;
        c
    }

    fn syscall_number(ctx: &UserContext) -> Option<u64> {
        (trap::esr() >> 26 == EC_SVC64).then_some(ctx.x[7])
    }

    fn sync_cause(ctx: &UserContext) -> SyncCause {
        let esr = trap::esr();
        let ec = esr >> 26;
        let iss = esr & 0x1ff_ffff;
        let fault = |kind, address, flags| SyncCause::Fault {
            kind,
            address,
            syndrome: esr,
            flags,
        };
        match ec {
            EC_SVC64 => SyncCause::Syscall(ctx.x[7]),
            EC_DABT_LOWER | EC_IABT_LOWER => {
                let dfsc = iss & 0x3f;
                let mut flags = 0;
                if ec == EC_IABT_LOWER {
                    flags |= FAULT_FLAG_INSTRUCTION;
                } else if iss & (1 << 6) != 0 {
                    flags |= FAULT_FLAG_WRITE;
                }
                // Permission and access-flag faults: the address was mapped.
                if (0x0c..=0x0f).contains(&dfsc) || (0x08..=0x0b).contains(&dfsc) {
                    flags |= FAULT_FLAG_USER_MAPPING_PRESENT;
                }
                let kind = if dfsc == 0x21 {
                    FaultKind::Alignment
                } else if ec == EC_IABT_LOWER {
                    FaultKind::InstructionFault
                } else {
                    FaultKind::PageFault
                };
                fault(kind, trap::far(), flags)
            }
            EC_PC_ALIGN => fault(FaultKind::Alignment, trap::far(), FAULT_FLAG_INSTRUCTION),
            EC_SP_ALIGN => fault(FaultKind::Alignment, ctx.sp, 0),
            EC_UNKNOWN | EC_WFX | EC_FP | EC_SYSREG | EC_ILLEGAL_STATE => {
                fault(FaultKind::UndefinedInstruction, ctx.pc, 0)
            }
            EC_BRK64 => fault(FaultKind::Breakpoint, ctx.pc, 0),
            _ => fault(FaultKind::Other, 0, 0),
        }
    }

    fn irq_claim() -> Option<u32> {
        let iar = mmio_read(GICC_BASE + 0x0c) & 0x3ff;
        if iar >= 1020 { None } else { Some(iar) }
    }

    fn irq_complete(irq: u32) {
        mmio_write(GICC_BASE + 0x10, irq);
    }

    fn irq_mask(irq: u32) {
        mmio_write(GICD_BASE + 0x180 + 4 * (irq as u64 / 32), 1 << (irq % 32));
    }

    fn irq_unmask(irq: u32) {
        if irq >= 32 {
            // Route the shared interrupt to CPU 0 (byte-wide target registers).
            let reg = GICD_BASE + 0x800 + (irq as u64 & !3);
            let shift = (irq % 4) * 8;
            let v = mmio_read(reg) & !(0xff << shift);
            mmio_write(reg, v | (1 << shift));
        }
        mmio_write(GICD_BASE + 0x100 + 4 * (irq as u64 / 32), 1 << (irq % 32));
    }

    const MAX_IRQ: u32 = 255;
    const TIMER_IRQ: u32 = TIMER_PPI;

    fn timer_rearm() {
        let ticks = Self::counter_frequency() * Self::TIME_SLICE_US / 1_000_000;
        sysreg_write!("cntv_tval_el0", ticks);
        sysreg_write!("cntv_ctl_el0", 1);
    }

    fn read_counter() -> u64 {
        sysreg_read!("cntvct_el0")
    }

    fn counter_frequency() -> u64 {
        sysreg_read!("cntfrq_el0")
    }

    const TIME_SLICE_US: u64 = 5_000;

    fn pte_decode(raw: u64, level: usize) -> Pte {
        let addr = raw & 0x0000_ffff_ffff_f000;
        match (raw & 3, level) {
            (3, 3) => Pte::Page(addr),
            (3, _) => Pte::Table(addr),
            _ => Pte::Invalid,
        }
    }

    unsafe fn copy_page(dst: u64, src: u64, from: usize) {
        let from = (from & !63) as u64;
        // SAFETY: the caller guarantees two distinct whole pages; the loop stays inside them
        // (64-byte blocks from a 64-byte-aligned offset up to 4096).
        unsafe {
            core::arch::asm!(
                "2:",
                "ldp {a}, {b}, [{s}], #16",
                "ldp {c}, {d}, [{s}], #16",
                "stp {a}, {b}, [{t}], #16",
                "stp {c}, {d}, [{t}], #16",
                "ldp {a}, {b}, [{s}], #16",
                "ldp {c}, {d}, [{s}], #16",
                "stp {a}, {b}, [{t}], #16",
                "stp {c}, {d}, [{t}], #16",
                "cmp {s}, {end}",
                "b.lo 2b",
                s = inout(reg) src + from => _,
                t = inout(reg) dst + from => _,
                end = in(reg) src + 4096,
                a = out(reg) _, b = out(reg) _, c = out(reg) _, d = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Bit 55: the first of the bits [58:55] the MMU leaves to software.
    const PTE_TX: u64 = 1 << 55;

    fn pte_is_writable(raw: u64) -> bool {
        // AP[2] (bit 7) set means read-only.
        raw & (1 << 7) == 0
    }

    fn pte_with_write(raw: u64, writable: bool) -> u64 {
        if writable {
            raw & !(1 << 7)
        } else {
            raw | (1 << 7)
        }
    }

    fn pte_is_device(raw: u64) -> bool {
        (raw >> 2) & 0b111 == boot::ATTR_DEVICE
    }

    fn pte_table(paddr: u64) -> u64 {
        paddr | 3
    }

    fn pte_page(paddr: u64, rights: MapRights) -> u64 {
        const AF: u64 = 1 << 10;
        const SH_INNER: u64 = 3 << 8;
        const NG: u64 = 1 << 11;
        const PXN: u64 = 1 << 53;
        const UXN: u64 = 1 << 54;
        let ap = if rights.write { 0b01 << 6 } else { 0b11 << 6 };
        let attr = if rights.attrs.contains(VmAttributes::DEVICE) {
            boot::ATTR_DEVICE << 2
        } else {
            (boot::ATTR_NORMAL << 2) | SH_INNER
        };
        let xn = if rights.attrs.contains(VmAttributes::EXECUTE)
            && !rights.attrs.contains(VmAttributes::DEVICE)
        {
            0
        } else {
            UXN
        };
        paddr | 3 | AF | NG | PXN | ap | attr | xn
    }

    fn init_vspace_root(_root: u64) {
        // User address spaces live in TTBR0 alone; the kernel has TTBR1 to itself.
    }

    fn switch_vspace(root: u64, asid: u16) {
        sysreg_write!("ttbr0_el1", root | ((asid as u64 & 0xff) << 48));
    }

    fn flush_page(asid: u16, vaddr: u64) {
        let arg = ((asid as u64 & 0xff) << 48) | ((vaddr >> 12) & 0xfff_ffff_ffff);
        // SAFETY: TLB maintenance only drops cached translations.
        unsafe { core::arch::asm!("dsb ishst", "tlbi vae1is, {0}", "dsb ish", "isb", in(reg) arg) };
    }

    fn flush_asid(asid: u16) {
        let arg = (asid as u64 & 0xff) << 48;
        // SAFETY: TLB maintenance only drops cached translations.
        unsafe {
            core::arch::asm!("dsb ishst", "tlbi aside1is, {0}", "dsb ish", "isb", in(reg) arg)
        };
    }

    fn pte_barrier() {
        // SAFETY: a barrier has no other effect.
        unsafe { core::arch::asm!("dsb ishst", "isb") };
    }

    const HAS_IO_PORTS: bool = false;
    fn io_port_allowed(_port: u16) -> bool {
        false
    }
    fn io_port_in8(_port: u16) -> u8 {
        0xff
    }
    fn io_port_out8(_port: u16, _value: u8) {}
    fn io_port_in32(_port: u16) -> u32 {
        0xffff_ffff
    }
    fn io_port_out32(_port: u16, _value: u32) {}

    const NUM_ASIDS: usize = 256;

    /// `brk #0xfa17` (EC 0x3c, ELR at the `brk` itself) and `b .`.
    const INJECT_TRAP: &'static [u8] =
        &(0xd420_0000u32 | ((axolotl_abi::inject::AARCH64_TRAP_IMM as u32) << 5)).to_le_bytes();
    const INJECT_LOOP: &'static [u8] = &0x1400_0000u32.to_le_bytes();

    fn inject_trap_pc(ctx: &UserContext) -> Option<u64> {
        let esr = trap::esr();
        (esr >> 26 == EC_BRK64 && esr & 0xffff == axolotl_abi::inject::AARCH64_TRAP_IMM)
            .then_some(ctx.pc)
    }

    fn sync_code(kva: u64, len: usize) {
        let mut line = kva & !63;
        while line < kva + len as u64 {
            // SAFETY: cleaning a data-cache line of mapped kernel memory to the point of
            // unification has no other effect.
            unsafe { core::arch::asm!("dc cvau, {0}", in(reg) line) };
            line += 64;
        }
        // SAFETY: barriers and invalidating the instruction caches (all of them, inner
        // shareable: any alias of the page) have no other effect.
        unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb") };
    }

    fn user_register(ctx: &mut UserContext, i: u64) -> Option<&mut u64> {
        match i {
            0..=30 => Some(&mut ctx.x[i as usize]),
            31 => Some(&mut ctx.sp),
            _ => None,
        }
    }
}
