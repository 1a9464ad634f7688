//! Fault injection (campaign images): the kernel plants a trap instruction at a user pc of a
//! thread and, when the thread executes it, restores the original instruction and applies a fault.
//!
//! Invocations on a TCB capability (only the root task holds the TCBs of servers):
//!
//! | label | arguments | results |
//! |---|---|---|
//! | `TcbInjectArm` | trap slot (< [`TRAP_SLOTS`]), pc, [`InjectKind`], a, b | |
//! | `TcbInjectStatus` | trap slot | [`TrapState`], pc, detail0, detail1 |
//! | `TcbInjectDisarm` | trap slot | [`TrapState`] before, pc |
//!
//! The trap is `brk #0xfa17` on aarch64 and `int3` on x86_64. It fires on the first execution
//! after arming. `a` and `b` per kind are documented on [`InjectKind`]. Arming a slot that is
//! still armed disarms it first (its original instruction is put back).

/// How many traps can be armed at once (across all threads).
pub const TRAP_SLOTS: usize = 64;

/// The `brk` immediate the aarch64 trap carries (told apart from a program's own `brk`).
pub const AARCH64_TRAP_IMM: u64 = 0xfa17;

/// What happens when the trap is hit.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectKind {
    /// Golden run: record the hit, restore the instruction, resume as if nothing happened.
    /// Detail: 1, and the stack pointer at the hit.
    Probe = 0,
    /// Flip bit `b` (0..64) of user register `a` (aarch64 x0..x30 then sp; x86_64 rax, rbx, rcx,
    /// rdx, rsi, rdi, rbp, rsp, r8..r15). Detail: the register before and after.
    RegisterBitFlip = 1,
    /// Flip bit `b` (0..8) of the byte at user address `a` (logged by the thread's open
    /// transaction like any write of its own). Detail: the byte before and after.
    MemoryBitFlip = 2,
    /// Set user register `a` to the value `b` (0: a null pointer). Detail: before and after.
    CorruptPointer = 3,
    /// Raise an undefined-instruction fault at the trap's pc (the instruction is put back).
    /// Detail: the pc, 0.
    UndefinedInstruction = 4,
    /// Resume after the instruction, `a` bytes further (its length). Detail: the pc and the pc
    /// resumed at.
    SkipInstruction = 5,
    /// Replace the instruction by a branch to itself until the thread's transaction is aborted
    /// (or the slot is disarmed): the request's time budget must catch it. Detail: the pc, and
    /// 1 once an abort took the loop out.
    EndlessLoop = 6,
    /// Flip bit `b` (0..8) of the byte `a` bytes above the thread's stack pointer when the trap
    /// is hit: memory the thread is using (its frames, and above them its callers'), logged by
    /// its open transaction like any write of its own. Detail: the byte before and after.
    StackBitFlip = 7,
}

impl InjectKind {
    pub const ALL: [InjectKind; 8] = [
        InjectKind::Probe,
        InjectKind::RegisterBitFlip,
        InjectKind::MemoryBitFlip,
        InjectKind::CorruptPointer,
        InjectKind::UndefinedInstruction,
        InjectKind::SkipInstruction,
        InjectKind::EndlessLoop,
        InjectKind::StackBitFlip,
    ];

    pub fn from_u64(n: u64) -> Option<InjectKind> {
        InjectKind::ALL.get(n as usize).copied()
    }

    /// A short machine-readable name.
    pub const fn name(self) -> &'static str {
        match self {
            InjectKind::Probe => "probe",
            InjectKind::RegisterBitFlip => "reg-flip",
            InjectKind::MemoryBitFlip => "mem-flip",
            InjectKind::CorruptPointer => "bad-pointer",
            InjectKind::UndefinedInstruction => "undef",
            InjectKind::SkipInstruction => "skip",
            InjectKind::EndlessLoop => "loop",
            InjectKind::StackBitFlip => "stack-flip",
        }
    }
}

/// The state of a trap slot.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapState {
    /// Nothing armed.
    Empty = 0,
    /// Planted and not hit yet ("not activated" if it stays so).
    Armed = 1,
    /// Hit: the fault was applied (or the probe recorded) and the instruction restored.
    Fired = 2,
    /// Hit by an endless loop that still holds the thread (the branch is in place).
    Looping = 3,
}

impl TrapState {
    pub fn from_u64(n: u64) -> Option<TrapState> {
        Some(match n {
            0 => TrapState::Empty,
            1 => TrapState::Armed,
            2 => TrapState::Fired,
            3 => TrapState::Looping,
            _ => return None,
        })
    }
}

/// Registers [`InjectKind::RegisterBitFlip`] and [`InjectKind::CorruptPointer`] can name.
pub const fn register_count(arch: crate::Arch) -> u64 {
    match arch {
        crate::Arch::Aarch64 => 32,
        crate::Arch::X86_64 => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_round_trip() {
        for k in InjectKind::ALL {
            assert_eq!(InjectKind::from_u64(k as u64), Some(k));
        }
        assert_eq!(InjectKind::from_u64(8), None);
        for n in 0..4 {
            assert_eq!(TrapState::from_u64(n).map(|s| s as u64), Some(n));
        }
        assert_eq!(TrapState::from_u64(4), None);
    }
}
