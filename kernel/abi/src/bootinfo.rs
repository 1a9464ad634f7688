//! What the kernel hands the root task: fixed initial capability slots, a [`BootInfo`] page, and
//! the address-space layout of the root task.
//!
//! The kernel builds the root task (its TCB, root CNode, VSpace, stack, IPC buffer and the frames
//! of its ELF image) from boot memory, like seL4. Every other byte of free physical memory is
//! handed over as Untyped capabilities listed in [`BootInfo::untyped_list`]; after that the kernel
//! allocates no object memory of its own. On entry the root task gets the boot-info address in its
//! first argument register.

use crate::CPtr;

/// Initial capability slots in the root task's CNode.
pub mod slot {
    use crate::CPtr;
    pub const NULL: CPtr = 0;
    pub const INIT_TCB: CPtr = 1;
    pub const INIT_CNODE: CPtr = 2;
    pub const INIT_VSPACE: CPtr = 3;
    pub const IRQ_CONTROL: CPtr = 4;
    pub const SYS_CONTROL: CPtr = 5;
    pub const INIT_IPC_BUFFER: CPtr = 6;
    pub const BOOT_INFO_FRAME: CPtr = 7;
    /// I/O-port control (x86_64 only; empty on architectures without I/O ports).
    pub const IO_PORT_CONTROL: CPtr = 8;
    /// The first slot the kernel may fill with boot-time capabilities (untyped).
    pub const FIRST_DYNAMIC: CPtr = 9;
}

/// log2 of the number of slots in the root task's CNode.
pub const ROOT_CNODE_RADIX: u32 = 12;

/// Root task layout: the boot-info page.
pub const ROOT_BOOT_INFO_VADDR: u64 = 0x1000_0000;
/// Root task layout: its IPC buffer.
pub const ROOT_IPC_BUFFER_VADDR: u64 = 0x1000_1000;
/// Root task layout: the top of its stack (the stack grows down from here).
pub const ROOT_STACK_TOP: u64 = 0x1100_0000;
/// Root task layout: pages of stack.
pub const ROOT_STACK_PAGES: u64 = 256;
/// Root task layout: the boot archive, mapped read-only.
pub const ROOT_ARCHIVE_VADDR: u64 = 0x2000_0000;

pub const BOOT_INFO_MAGIC: u64 = 0x4f46_4e49_544f_4f42; // "BOOTINFO"
/// The most Untyped capabilities boot info lists.
pub const MAX_BOOT_UNTYPED: usize = 128;

/// A range of slots `[start, end)` in the root CNode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotRange {
    pub start: CPtr,
    pub end: CPtr,
}

impl SlotRange {
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// One boot-time Untyped capability.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDesc {
    pub paddr: u64,
    pub size_bits: u8,
    /// Device memory: can only be retyped into frames, which are not cleared.
    pub is_device: u8,
    pub _pad: [u8; 6],
}

/// The boot-info page.
#[repr(C)]
pub struct BootInfo {
    pub magic: u64,
    /// [`crate::Arch`] as 0 (aarch64) or 1 (x86_64).
    pub arch: u64,
    pub root_cnode_radix: u64,
    /// Free slots of the root CNode.
    pub empty: SlotRange,
    /// Slots holding Untyped capabilities, described in order by `untyped_list`.
    pub untyped: SlotRange,
    pub untyped_list: [UntypedDesc; MAX_BOOT_UNTYPED],
    /// The boot archive (see [`crate::archive`]), mapped read-only in the root task.
    pub archive_vaddr: u64,
    pub archive_len: u64,
    /// Frequency of the counter user space reads for time (aarch64 CNTVCT, x86_64 TSC), in Hz.
    pub counter_frequency: u64,
    /// The kernel's timer tick (preemption time slice) in microseconds.
    pub time_slice_us: u64,
}

const _: () = assert!(core::mem::size_of::<BootInfo>() <= crate::PAGE_SIZE);

impl BootInfo {
    pub fn untyped_descs(&self) -> &[UntypedDesc] {
        let n = (self.untyped.len() as usize).min(MAX_BOOT_UNTYPED);
        &self.untyped_list[..n]
    }
}
