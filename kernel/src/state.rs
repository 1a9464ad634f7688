//! The kernel's global state. One core, a non-preemptible kernel with interrupts masked: at most
//! one kernel path runs at a time, which is what makes the single mutable global sound. (SMP will
//! make this per-CPU state plus a lock around the object graph.)

use crate::sched::Reschedule;
use crate::tcb::TcbPtr;
use axolotl_kcore::sched::ReadyQueues;
use core::cell::UnsafeCell;

pub struct Kernel {
    pub current: TcbPtr,
    pub idle: TcbPtr,
    pub ready: ReadyQueues<TcbPtr>,
    pub reschedule: Reschedule,
    /// (root, ASID) installed in the MMU.
    pub loaded_vspace: (u64, u16),
    /// Physical address of an all-empty root table, for threads without an address space.
    pub empty_vspace: u64,
    /// The root task's thread: a fault of it stops the system (see `ipc::raise_fault`).
    pub root_task: TcbPtr,
    /// Physical memory the root task was built in at boot and its boot archive, which it maps
    /// without Frame capabilities, and the end of the kernel image (for the consistency check).
    pub boot_memory: (u64, u64),
    pub archive: (u64, u64),
    pub kernel_end: u64,
}

struct Global(UnsafeCell<Option<Kernel>>);

// SAFETY: only one kernel path runs at a time (see the module documentation).
unsafe impl Sync for Global {}

static KERNEL: Global = Global(UnsafeCell::new(None));

/// Installs the state at boot.
pub fn init(k: Kernel) {
    // SAFETY: called once at boot before any other access.
    unsafe { *KERNEL.0.get() = Some(k) };
}

/// The kernel state. Callers keep the reference only for the duration of one operation and do
/// not hold it across calls that take it again.
#[allow(clippy::mut_from_ref)]
pub fn kernel() -> &'static mut Kernel {
    // SAFETY: single kernel path at a time; `init` ran during boot before any user thread.
    unsafe { (*KERNEL.0.get()).as_mut().unwrap_unchecked() }
}
