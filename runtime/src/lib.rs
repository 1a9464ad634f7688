//! `axolotl-rt`: the only crate user space uses to reach the Axolotl kernel.
//!
//! Shaped like rust-sel4's `sel4` + `sel4-root-task`, so that a port of the user space to the real
//! seL4 stays contained here:
//!
//! - [`syscall`]: one wrapper per system call; message registers through [`set_mr`]/[`get_mr`]
//!   (MR0..3 travel in CPU registers, the rest in the IPC buffer; callers never care which);
//! - [`cap`]: typed capabilities [`Cap<T>`] and every invocation of a kernel object;
//! - [`server_info`]: the contract between the root task and the servers it starts;
//! - [`root`]: the root task's initial capabilities and boot info;
//! - [`mmio`] and [`arch_timer`]: what user-level drivers of granted devices need beyond
//!   capabilities (volatile register access in the device window; aarch64's EL0 timer registers);
//! - entry macros [`declare_root_task!`] and [`declare_server!`], a panic handler that logs and
//!   faults, and a `log` backend writing `[name LEVEL] message` lines to the debug console;
//! - `virtio` (feature `virtio`): `virtio-drivers`' platform glue over a device's DMA memory and
//!   a safe virtio-net device, for the network driver;
//! - [`fault`]: deliberate faults (undefined instruction, loads and stores anywhere) for tests.
//!
//! Invariants: the IPC buffer pointer is set by the entry glue before `main` runs; there is one
//! thread per address space (the IPC buffer pointer is a process-wide static). The only
//! architecture-specific code is in `arch` (`svc`/`syscall`, `_start`, the faulting instruction)
//! and in [`fault`] (its faulting routines).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

mod arch;
pub mod arch_timer;
pub mod cap;
pub mod entry;
pub mod fault;
pub mod ipc_buffer;
pub mod ipc_transport;
pub mod logger;
pub mod mmio;
#[cfg(target_os = "none")]
mod panic;
pub mod root;
pub mod server_info;
pub mod shared;
pub mod syscall;
pub mod time;
#[cfg(feature = "virtio")]
pub mod virtio;

pub use axolotl_abi as abi;
pub use axolotl_abi::bootinfo::BootInfo;
pub use axolotl_abi::{
    Badge, CPtr, CapRights, Error, FaultKind, MessageInfo, ObjectType, PAGE_SIZE, VmAttributes,
};
pub use cap::{
    CNode, Cap, CapType, Endpoint, Frame, InvariantReport, IoPort, IoPortControl, IrqControl,
    IrqHandler, Notification, PageTable, Snapshot, SnapshotState, SnapshotStatus, SysControl, Tcb,
    ThreadRegisters, TxRegion, TxStatus, Unspecified, Untyped, VSpace,
};
pub use ipc_buffer::{get_mr, set_mr, set_mrs};
pub use logger::{init_log, set_log_level};
pub use server_info::{DeviceGrant, ServerInfo};
pub use syscall::{debug_put_char, debug_write, reply, yield_now};
