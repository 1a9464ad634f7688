//! Fault messages.
//!
//! When a user thread takes an exception, the kernel blocks it and delivers a message to its fault
//! endpoint as if the thread had made a `Call` there: the badge is the fault endpoint
//! capability's badge, the label a [`FaultKind`], and the message registers are
//!
//! | MR | meaning |
//! |----|---------|
//! | 0  | program counter of the faulting instruction |
//! | 1  | faulting address (data/instruction address; 0 where none applies) |
//! | 2  | architectural syndrome (aarch64 ESR_EL1, x86_64 vector << 32 \| error code) |
//! | 3  | [`FAULT_FLAG_WRITE`] \| [`FAULT_FLAG_INSTRUCTION`] \| [`FAULT_FLAG_USER_MAPPING_PRESENT`] |
//!
//! A reply resumes the thread (at the same pc unless the handler changed it with
//! `TcbWriteRegisters`). A handler that does not reply leaves the thread blocked; it may suspend or
//! delete it through its TCB capability. A thread without a fault endpoint is suspended and the
//! kernel logs the fault.

/// What kind of exception a user thread took. Arch-neutral: both architectures map onto these.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load or store to an address that is unmapped or mapped without the needed rights.
    PageFault = 1,
    /// An instruction fetch from an unmapped or non-executable address.
    InstructionFault = 2,
    /// An undefined or privileged instruction.
    UndefinedInstruction = 3,
    /// A misaligned access (data, pc or stack alignment).
    Alignment = 4,
    /// Division by zero or another arithmetic exception.
    Arithmetic = 5,
    /// A protection violation that is not a page fault (x86 general protection).
    Protection = 6,
    /// A breakpoint instruction.
    Breakpoint = 7,
    /// A system call number the kernel does not know.
    UnknownSyscall = 8,
    /// Any other exception; the syndrome says which.
    Other = 9,
    /// A write in a transaction found the region's undo pool exhausted (MR1: the address). The
    /// transaction must be aborted; nothing was written.
    TxPoolExhausted = 10,
    /// A request ran past its region's time budget (`TxRegionSetBudget`); MR1 is the time it
    /// has run, in counter ticks. The transaction must be aborted.
    Timeout = 11,
    /// The two runs of a verified request (`verify = true`, `Syscall::TxVerify`) disagree: MR1
    /// is the first run's digest, MR2 the second's. The transaction must be aborted.
    TxVerifyMismatch = 12,
}

pub const FAULT_FLAG_WRITE: u64 = 1;
pub const FAULT_FLAG_INSTRUCTION: u64 = 2;
/// The address was mapped (a permission fault rather than a translation fault).
pub const FAULT_FLAG_USER_MAPPING_PRESENT: u64 = 4;
/// The number of message registers in a fault message.
pub const FAULT_MESSAGE_LENGTH: usize = 4;

impl FaultKind {
    pub const fn from_u64(n: u64) -> Option<FaultKind> {
        use FaultKind::*;
        Some(match n {
            1 => PageFault,
            2 => InstructionFault,
            3 => UndefinedInstruction,
            4 => Alignment,
            5 => Arithmetic,
            6 => Protection,
            7 => Breakpoint,
            8 => UnknownSyscall,
            9 => Other,
            10 => TxPoolExhausted,
            11 => Timeout,
            12 => TxVerifyMismatch,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        use FaultKind::*;
        match self {
            PageFault => "page fault",
            InstructionFault => "instruction fault",
            UndefinedInstruction => "undefined instruction",
            Alignment => "alignment fault",
            Arithmetic => "arithmetic fault",
            Protection => "protection fault",
            Breakpoint => "breakpoint",
            UnknownSyscall => "unknown system call",
            Other => "other exception",
            TxPoolExhausted => "transaction undo pool exhausted",
            Timeout => "request time budget exceeded",
            TxVerifyMismatch => "the two runs of a verified request disagree",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for n in 1..=12 {
            assert_eq!(FaultKind::from_u64(n).unwrap() as u64, n);
        }
        assert_eq!(FaultKind::from_u64(0), None);
    }
}
