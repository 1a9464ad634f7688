//! The architecture boundary. Everything the kernel needs from a CPU and its platform is one trait,
//! [`Architecture`], implemented once per architecture under `arch/<name>/`; the rest of the
//! kernel is written against it and compiles unchanged for every port.

use axolotl_abi::{FaultKind, VmAttributes};

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::{
    Aarch64 as Cpu, EntryKind, KERNEL_BASE, KERNEL_IMAGE_BASE, UserContext, exit_to_user,
};
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::{
    EntryKind, KERNEL_BASE, KERNEL_IMAGE_BASE, UserContext, X86_64 as Cpu, exit_to_user,
};

/// The kernel's view of a physical address.
pub const fn phys_to_virt(paddr: u64) -> u64 {
    paddr + KERNEL_BASE
}

/// The physical address of a symbol of the kernel image (linked at `KERNEL_IMAGE_BASE + paddr`).
pub const fn image_virt_to_phys(vaddr: u64) -> u64 {
    vaddr - KERNEL_IMAGE_BASE
}

/// User addresses are below this bound on every architecture: the x86_64 lower canonical half
/// less its last page, so that no instruction can end at the non-canonical 2^47 (which would make
/// `sysretq` fault in the kernel).
pub const USER_VADDR_LIMIT: u64 = (1 << 47) - 4096;

/// A region of physical memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhysRegion {
    pub start: u64,
    pub end: u64,
}

/// Up to this many RAM regions are taken from the platform.
pub const MAX_RAM_REGIONS: usize = 8;

/// What the platform tells the kernel at boot.
pub struct PlatformInfo {
    pub ram: [PhysRegion; MAX_RAM_REGIONS],
    pub ram_count: usize,
    /// Device memory user-level drivers may be given (as device Untyped).
    pub devices: &'static [PhysRegion],
}

/// Why a user thread entered the kernel synchronously.
#[derive(Clone, Copy, Debug)]
pub enum SyncCause {
    Syscall(u64),
    Fault {
        kind: FaultKind,
        address: u64,
        syndrome: u64,
        flags: u64,
    },
}

/// A decoded page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pte {
    Invalid,
    Table(u64),
    Page(u64),
}

/// Rights of a user mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRights {
    pub write: bool,
    pub attrs: VmAttributes,
}

/// One architecture port.
pub trait Architecture {
    const ARCH: axolotl_abi::Arch;
    /// Early platform set-up: console, vectors, interrupt controller, timer. `boot_arg` is what
    /// the boot stub passed (a device-tree address, a start-info pointer).
    fn init(boot_arg: u64) -> PlatformInfo;
    fn console_putc(c: u8);
    /// Stops the machine with an exit status visible to the host (QEMU's exit code).
    fn poweroff(status: u64) -> !;
    /// Waits for the next interrupt (the idle thread's loop).
    fn wait_for_interrupt();
    /// Waits for an interrupt with interrupts masked (used only when nothing at all can run).
    fn halt() -> !;

    /// The idle thread's initial context.
    fn idle_context(entry: u64, stack_top: u64) -> UserContext;
    /// The system-call number, if the last synchronous exception from user mode was a system call.
    fn syscall_number(ctx: &UserContext) -> Option<u64>;
    /// Decodes the last synchronous exception from user mode.
    fn sync_cause(ctx: &UserContext) -> SyncCause;

    /// Acknowledges the pending interrupt; `None` if spurious.
    fn irq_claim() -> Option<u32>;
    fn irq_complete(irq: u32);
    fn irq_mask(irq: u32);
    fn irq_unmask(irq: u32);
    /// The highest interrupt number user space may claim, and the kernel timer's.
    const MAX_IRQ: u32;
    const TIMER_IRQ: u32;
    /// Re-arms the preemption timer for one time slice.
    fn timer_rearm();
    fn counter_frequency() -> u64;
    /// The free-running counter user space also reads (aarch64 CNTVCT_EL0, x86_64 TSC).
    fn read_counter() -> u64;
    const TIME_SLICE_US: u64;

    /// Page tables: 4 levels of 512 entries on both ports. Level 0 is the root.
    fn pte_decode(raw: u64, level: usize) -> Pte;
    fn pte_table(paddr: u64) -> u64;
    fn pte_page(paddr: u64, rights: MapRights) -> u64;
    /// Copies bytes `[from, 4096)` of the page at kernel address `src` to the page at `dst`, in
    /// 64-byte blocks (`from` is rounded down to a block). The pages must not overlap.
    ///
    /// # Safety
    /// `src` and `dst` must be page-aligned kernel-window addresses of distinct whole pages that
    /// nothing else accesses during the copy.
    unsafe fn copy_page(dst: u64, src: u64, from: usize);
    /// A software bit of leaf entries: the page belongs to a transactional region.
    const PTE_TX: u64;
    fn pte_is_writable(raw: u64) -> bool;
    fn pte_with_write(raw: u64, writable: bool) -> u64;
    fn pte_is_device(raw: u64) -> bool;
    /// Prepares a fresh (zeroed) root table: x86_64 copies in the kernel's half.
    fn init_vspace_root(root: u64);
    /// Makes `root` (physical address of a VSpace) with `asid` the current user address space.
    fn switch_vspace(root: u64, asid: u16);
    /// Drops stale translations after an entry of `asid` covering `vaddr` changed.
    fn flush_page(asid: u16, vaddr: u64);
    fn flush_asid(asid: u16);
    /// Makes page-table writes visible to the table walker.
    fn pte_barrier();
    /// Whether the architecture has I/O ports (and the root task gets I/O-port control).
    const HAS_IO_PORTS: bool;
    /// Whether user space may be given `port` (the kernel keeps its own: timers, PICs, exit).
    fn io_port_allowed(port: u16) -> bool;
    fn io_port_in8(port: u16) -> u8;
    fn io_port_out8(port: u16, value: u8);
    fn io_port_in32(port: u16) -> u32;
    fn io_port_out32(port: u16, value: u32);
    /// The number of ASIDs (0 is reserved for "none").
    const NUM_ASIDS: usize;

    /// Fault injection (`crate::inject`): the trap instruction planted at a user pc, and a branch
    /// to itself (both at most 4 bytes).
    const INJECT_TRAP: &'static [u8];
    const INJECT_LOOP: &'static [u8];
    /// The pc of the injection trap, if the last synchronous exception from user mode was one.
    fn inject_trap_pc(ctx: &UserContext) -> Option<u64>;
    /// Makes `len` bytes of code just written at kernel address `kva` visible to instruction
    /// fetch in every address space.
    fn sync_code(kva: u64, len: usize);
    /// User register `i` (numbering in `abi::inject`), for register faults.
    fn user_register(ctx: &mut UserContext, i: u64) -> Option<&mut u64>;
}
