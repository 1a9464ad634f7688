//! The one ABI shared by the Axolotl kernel and user space.
//!
//! Everything that crosses the kernel/user boundary is named here: system call numbers and the
//! registers they use, the message-info word, the IPC buffer, invocation labels, error codes,
//! object types and sizes, capability rights, fault messages, boot info and the boot archive.
//! No bare integer crosses that boundary outside this crate.
//!
//! The object model and system calls follow seL4 (non-MCS): a thread calls `Call` on an endpoint
//! capability to send a message and wait for the reply; a server answers with `ReplyRecv`.
//! Calling a capability to a kernel object is an *invocation*: the message label names the
//! operation ([`Invocation`]) and the reply's label is an [`Error`] code (0 for success).
//!
//! The crate is `no_std`, has no dependencies and is unit-tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod archive;
pub mod bootinfo;
pub mod error;
pub mod fault;
pub mod inject;
pub mod invariants;
pub mod invocation;
pub mod message;
pub mod object;
pub mod syscall;
pub mod verify;

pub use error::Error;
pub use fault::FaultKind;
pub use invocation::Invocation;
pub use message::{IpcBuffer, MessageInfo};
pub use object::{CapRights, ObjectType, VmAttributes};
pub use syscall::Syscall;

/// A capability pointer: an index into the calling thread's root CNode.
pub type CPtr = u64;

/// A badge carried by a minted endpoint or notification capability and delivered to the receiver.
pub type Badge = u64;

/// Size of a small page (and of every frame object) in bytes.
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_BITS: u32 = 12;

/// The number of priority levels; 0 is the lowest, `NUM_PRIORITIES - 1` the highest.
pub const NUM_PRIORITIES: usize = 256;

/// Architectures Axolotl runs on. Host tools (the build tool) use this to pick per-arch constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Aarch64,
    X86_64,
}

impl Arch {
    /// The Rust target triple user space and the kernel are built for.
    pub const fn target_triple(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-unknown-none-softfloat",
            Arch::X86_64 => "x86_64-unknown-none",
        }
    }

    /// The name used on command lines and in `qemu/<name>.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "aarch64" => Some(Arch::Aarch64),
            "x86_64" => Some(Arch::X86_64),
            _ => None,
        }
    }
}
