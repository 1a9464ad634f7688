//! System call numbers and the registers that carry them.
//!
//! | role                      | aarch64 (`svc #0`) | x86_64 (`syscall`) |
//! |---------------------------|--------------------|--------------------|
//! | syscall number            | x7                 | rax                |
//! | cptr in / badge out       | x0                 | rdi                |
//! | message info in/out       | x1                 | rsi                |
//! | message registers 0..3    | x2..x5             | rdx, r8, r9, r10   |
//! | kernel status out         | x6                 | r12                |
//!
//! The *kernel status* is 0 when the system call did what was asked. It is an [`crate::Error`] code
//! when the kernel refused it (an empty or wrong capability, missing rights): the message registers
//! then hold nothing meaningful. Invocations of kernel objects additionally report their result
//! in the reply's label, as seL4 does. All other registers are preserved (x86_64 `syscall` itself
//! clobbers rcx and r11).

/// System calls. The numbering is ours; the semantics are seL4's (non-MCS).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Send a message and block for the reply (a one-shot reply right is given to the receiver).
    /// On a kernel object capability: perform an invocation.
    Call = 1,
    /// Reply to the current caller (if any), then receive on the given endpoint or notification.
    ReplyRecv = 2,
    /// Send and block until received. On a notification: signal. On a kernel object: invoke,
    /// discarding the result.
    Send = 3,
    /// Send only if a receiver waits; never blocks. On a notification: signal.
    NBSend = 4,
    /// Block until a message (endpoint) or a signal (notification) arrives.
    Recv = 5,
    /// Reply to the current caller.
    Reply = 6,
    /// Give up the rest of the time slice to threads of the same priority.
    Yield = 7,
    /// Receive if a message or signal is pending; never blocks.
    NBRecv = 8,
    /// Debug console output of one byte through the kernel log device.
    DebugPutChar = 9,
    /// Debug console output of up to [`DEBUG_WRITE_MAX`] bytes carried in registers: `word0`
    /// bytes of the info word then MR0..3 (CPU registers only: no memory is read, the IPC
    /// buffer is untouched), little-endian.
    DebugWrite = 10,
    /// Verified transactions: the calling thread's request produced its reply, whose digest
    /// ([`crate::verify::Digest`] of its label, words and capabilities) is in MR0. Only for a thread bound to a region with
    /// verification on (`TxRegionSetVerify`) and inside a transaction; otherwise the status is
    /// `IllegalOperation`. After the first run the thread is back at its receive point with the
    /// request (memory rewound); after the second, agreeing, the status is 0; disagreeing, a
    /// `TxVerifyMismatch` fault.
    TxVerify = 11,
}

/// The most bytes one `DebugWrite` carries (five registers).
pub const DEBUG_WRITE_MAX: usize = 40;

impl Syscall {
    pub const fn from_u64(n: u64) -> Option<Syscall> {
        Some(match n {
            1 => Syscall::Call,
            2 => Syscall::ReplyRecv,
            3 => Syscall::Send,
            4 => Syscall::NBSend,
            5 => Syscall::Recv,
            6 => Syscall::Reply,
            7 => Syscall::Yield,
            8 => Syscall::NBRecv,
            9 => Syscall::DebugPutChar,
            10 => Syscall::DebugWrite,
            11 => Syscall::TxVerify,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for n in 0..20u64 {
            if let Some(s) = Syscall::from_u64(n) {
                assert_eq!(s as u64, n);
            }
        }
        assert_eq!(Syscall::from_u64(0), None);
        assert_eq!(Syscall::from_u64(u64::MAX), None);
    }
}
