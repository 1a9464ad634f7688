//! The few architecture-specific pieces of the runtime, with the same names on every port:
//!
//! - `syscall(number, word0, info, mrs) -> SyscallRegisters`: trap into the kernel with the
//!   registers of `abi::syscall`'s table;
//! - `fault() -> !`: execute an undefined instruction (forever), so the thread's fault handler
//!   sees an undefined-instruction fault;
//! - `read_counter() -> u64`: the free-running counter (see [`crate::time`]);
//! - `stack_pointer() -> u64`: the current stack pointer (per-thread IPC buffers, [`crate::ipc_buffer`]);
//! - `_start` (bare metal only): the ELF entry point, which calls `__axolotl_rt_main` (defined by
//!   [`crate::declare_root_task!`] or [`crate::declare_server!`]) with the first argument register.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::{call_below_page, fault, read_counter, stack_pointer, syscall};

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{call_below_page, fault, read_counter, stack_pointer, syscall};

/// The registers a system call returns (see the table in `abi::syscall`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyscallRegisters {
    /// Badge of the received message (receive side), otherwise unspecified.
    pub word0: u64,
    /// Message info of the received message or reply.
    pub info: u64,
    /// Message registers 0..3.
    pub mrs: [u64; 4],
    /// Kernel status: 0 or an `abi::Error` code.
    pub status: u64,
}
