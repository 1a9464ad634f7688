//! Why building a server failed: always logged with the server's name, never a panic.

use crate::elf::ElfError;
use axolotl_abi::Error;
use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The kernel refused a step (`what` names it).
    Kernel {
        what: &'static str,
        error: Error,
    },
    /// The root CNode has no free slot left.
    OutOfSlots,
    /// The server's bookkeeping CNode is full (more page tables than estimated).
    StorageFull,
    /// The boot archive has no program of this name.
    NoProgram,
    BadElf(ElfError),
    /// The program's segments reach outside `[PAGE_SIZE, SERVER_PROGRAM_END)`.
    BadLayout {
        start: u64,
        end: u64,
    },
    /// More pages than one server may have.
    TooLarge {
        pages: u64,
        max: u64,
    },
    /// More stack pages than fit below the stack top.
    StackTooLarge {
        pages: u64,
        max: u64,
    },
    /// Its fault handler endpoint could not be made.
    NoFaultEndpoint,
    /// Its own CNode has no free slot left for a grant.
    ServerCNodeFull,
    /// A mapping needed more page tables than the address space has levels.
    PageTableLoop {
        vaddr: u64,
    },
    /// This machine has no platform device of that name.
    NoSuchDevice,
    /// No device Untyped covers a device's registers.
    NotDeviceMemory {
        paddr: u64,
    },
    /// A device's registers were already made into a frame (granted before).
    DeviceMemoryInUse {
        paddr: u64,
    },
    /// The image's shared regions were not made (see `shared::make`).
    NoSharedFrames,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Kernel { what, error } => write!(f, "{what}: {error}"),
            BuildError::OutOfSlots => write!(f, "the root CNode is full"),
            BuildError::StorageFull => write!(f, "its bookkeeping CNode is full"),
            BuildError::NoProgram => write!(f, "the boot archive has no such program"),
            BuildError::BadElf(e) => write!(f, "bad ELF: {e}"),
            BuildError::BadLayout { start, end } => write!(
                f,
                "program occupies {start:#x}..{end:#x}, outside the program region {:#x}..{:#x}",
                axolotl_abi::PAGE_SIZE,
                axolotl_rt::server_info::SERVER_PROGRAM_END
            ),
            BuildError::TooLarge { pages, max } => {
                write!(f, "{pages} pages needed, at most {max} allowed")
            }
            BuildError::StackTooLarge { pages, max } => {
                write!(f, "{pages} stack pages requested, at most {max} fit")
            }
            BuildError::NoFaultEndpoint => write!(f, "its fault endpoint was not made"),
            BuildError::ServerCNodeFull => write!(f, "its CNode is full"),
            BuildError::NoSuchDevice => write!(f, "this machine has no such device"),
            BuildError::NotDeviceMemory { paddr } => {
                write!(f, "no device untyped covers {paddr:#x}")
            }
            BuildError::DeviceMemoryInUse { paddr } => {
                write!(f, "the device memory at {paddr:#x} is already in use")
            }
            BuildError::NoSharedFrames => write!(f, "the shared regions' frames were not made"),
            BuildError::PageTableLoop { vaddr } => {
                write!(
                    f,
                    "mapping {vaddr:#x} still fails after mapping every page-table level"
                )
            }
        }
    }
}

impl From<ElfError> for BuildError {
    fn from(e: ElfError) -> Self {
        BuildError::BadElf(e)
    }
}

/// Names the step a kernel error happened in.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, BuildError>;
}

impl<T> Context<T> for Result<T, Error> {
    fn context(self, what: &'static str) -> Result<T, BuildError> {
        self.map_err(|error| BuildError::Kernel { what, error })
    }
}
