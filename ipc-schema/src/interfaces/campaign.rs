//! `campaign`: fault injection in campaign images, served by the root task's supervisor to the
//! campaign's workload client. Each op names the target server; the supervisor forwards arming to
//! the kernel's trap facility on that server's current thread (`abi::inject`).

/// Version 1.
pub mod v1 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// The most functions one [`functions`](Server::functions) reply carries.
    pub const FUNCTION_PAGE: usize = 32;

    /// Where a target server's code and memory are.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Target {
        /// Its executable segments, `[start, end)`.
        pub text: (u64, u64),
        /// Its writable program segments (data, bss).
        pub data: (u64, u64),
        /// Its stack.
        pub stack: (u64, u64),
        /// How many registers register faults can name on this architecture.
        pub registers: u8,
        /// Whether the machine is aarch64 (fixed 4-byte instructions) rather than x86_64.
        pub fixed_length: bool,
    }

    /// A function of the target's program (from its ELF symbol table).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Function {
        pub start: u64,
        pub size: u32,
        /// The length of its first instruction, 0 if not known (x86_64 instructions the
        /// supervisor's small decoder does not recognise).
        pub first_len: u8,
    }

    /// One page of functions, in symbol-table order.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct FunctionPage {
        pub functions: heapless::Vec<Function, FUNCTION_PAGE>,
        /// The cursor of the next page, `None` after the last.
        pub next: Option<u32>,
    }

    /// A trap slot as the kernel reports it (`abi::inject::TrapState` as `state`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Trap {
        pub state: u8,
        pub pc: u64,
        pub detail: (u64, u64),
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum CampaignError {
        NoSuchServer,
        /// The server's program or symbols are not available.
        NoProgram,
        /// The kernel refused (an `abi::Error` code).
        Kernel(u16),
    }

    impl core::fmt::Display for CampaignError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                CampaignError::NoSuchServer => f.write_str("no such server"),
                CampaignError::NoProgram => f.write_str("no program or symbols"),
                CampaignError::Kernel(code) => write!(f, "kernel error {code}"),
            }
        }
    }

    crate::interface! {
        interface campaign = ids::CAMPAIGN, version 1;

        /// Where `server`'s code and memory are.
        0 => idempotent fn target(server: Name) -> Result<Target, CampaignError>;
        /// `server`'s functions from index `cursor` on.
        1 => idempotent fn functions(server: Name, cursor: u32) -> Result<FunctionPage, CampaignError>;
        /// Plants trap `slot` at `pc` of `server`'s thread: kind and arguments as in `abi::inject`.
        2 => non_idempotent fn arm(server: Name, slot: u8, pc: u64, kind: u8, a: u64, b: u64) -> Result<(), CampaignError>;
        /// The state of trap `slot`.
        3 => idempotent fn status(slot: u8) -> Result<Trap, CampaignError>;
        /// Takes trap `slot` out; its state before.
        4 => non_idempotent fn disarm(slot: u8) -> Result<Trap, CampaignError>;
    }
}
