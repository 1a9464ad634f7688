//! Invocation labels: the operations on kernel objects.
//!
//! An invocation is a `Call` on a capability to a kernel object, with the operation in the message
//! label and its arguments in message registers (MR0..). Capability arguments are capability
//! pointers in the invoker's root CNode, passed as plain words; `0` as a CNode argument means the
//! invoker's root CNode. The reply's label is 0 on success or an [`crate::Error`] code; results
//! come back in message registers.
//!
//! | label | object | arguments | results |
//! |---|---|---|---|
//! | `UntypedRetype` | Untyped | type, size_bits, dest CNode, dest index, count | |
//! | `TcbConfigure` | TCB | fault endpoint (0: none), CSpace root CNode, VSpace, IPC buffer vaddr, IPC buffer frame (0: none) | |
//! | `TcbSetPriority` | TCB | priority | |
//! | `TcbWriteRegisters` | TCB | flags (bit 0: resume), pc, sp, arg0..arg5 (as many as sent) | |
//! | `TcbReadRegisters` | TCB | | pc, sp, arg0..arg5 |
//! | `TcbResume`, `TcbSuspend` | TCB | | |
//! | `TcbBindNotification` | TCB | notification | |
//! | `TcbUnbindNotification` | TCB | | |
//! | `CNodeCopy` | CNode (dest) | dest index, src CNode, src index, rights mask | |
//! | `CNodeMint` | CNode (dest) | dest index, src CNode, src index, rights mask, badge | |
//! | `CNodeMove` | CNode (dest) | dest index, src CNode, src index | |
//! | `CNodeDelete`, `CNodeRevoke` | CNode | index | |
//! | `PageTableMap` | PageTable | VSpace, vaddr | |
//! | `PageTableUnmap` | PageTable | | |
//! | `FrameMap` | Frame | VSpace, vaddr, rights, [`crate::VmAttributes`] | |
//! | `FrameUnmap` | Frame | | |
//! | `FrameGetAddress` | Frame | | physical address |
//! | `IrqControlGet` | IRQ control | irq, dest CNode, dest index | |
//! | `IrqHandlerSetNotification` | IRQ handler | notification | |
//! | `IrqHandlerAck`, `IrqHandlerClear` | IRQ handler | | |
//! | `SysControlPoweroff` | system control | exit status | (does not return) |
//! | `SysControlCheckInvariants` | system control | | violations, capabilities, untyped, queued threads, user mappings (see [`crate::invariants`]) |
//! | `TcbBindTxRegion` | TCB | TxRegion (0: unbind) | |
//! | `TxRegionAddRange` | TxRegion | VSpace, start, end, flags (bit 0: the range is the stack) | |
//! | `TxRegionAbort` | TxRegion | flags (bit 0: re-deliver the request), reply label | pages restored |
//! | `TxRegionSetBudget` | TxRegion | budget in counter ticks (0: none) | |
//! | `TxRegionSetVerify` | TxRegion | 1: verify every request by dual execution ([`crate::verify`]), 0: off | |
//! | `TxRegionStatus` | TxRegion | | in transaction, dirty pages, request label, request badge, commits, aborts |
//! | `TxRegionSnapshotBegin` | TxRegion | Snapshot | region pages, commits at the snapshot point |
//! | `TxRegionSnapshotStep` | TxRegion | most pages to copy | pages copied, pages still to copy |
//! | `TxRegionSnapshotRestore` | TxRegion | Snapshot (complete), reply label for an open request | pages restored |
//! | `SnapshotStatus` | Snapshot | | state, region pages, pages still to copy, commits at the point, commits when complete, pages copied before a write |
//! | `IoPortControlIssue` | I/O-port control | first port, last port, dest CNode, dest index | |
//! | `IoPortIn8` | I/O port range | port | byte read |
//! | `IoPortOut8` | I/O port range | port, byte | |
//! | `TcbInjectArm`, `TcbInjectStatus`, `TcbInjectDisarm` | TCB | see [`crate::inject`] | |
//! | `TcbGetState` | TCB | | one of the `THREAD_STATE_*` codes |
//! | `IoPortIn32` | I/O port range | port (all four bytes in the range) | 32-bit word read |
//! | `IoPortOut32` | I/O port range | port (all four bytes in the range), word | |

/// Operations on kernel objects, carried in the message label of an invocation.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    UntypedRetype = 1,
    TcbConfigure = 10,
    TcbSetPriority = 11,
    TcbWriteRegisters = 12,
    TcbReadRegisters = 13,
    TcbResume = 14,
    TcbSuspend = 15,
    TcbBindNotification = 16,
    TcbUnbindNotification = 17,
    TcbBindTxRegion = 18,
    CNodeCopy = 20,
    CNodeMint = 21,
    CNodeMove = 22,
    CNodeDelete = 23,
    CNodeRevoke = 24,
    PageTableMap = 30,
    PageTableUnmap = 31,
    FrameMap = 32,
    FrameUnmap = 33,
    FrameGetAddress = 34,
    IrqControlGet = 40,
    IrqHandlerSetNotification = 41,
    IrqHandlerAck = 42,
    IrqHandlerClear = 43,
    SysControlPoweroff = 50,
    SysControlCheckInvariants = 51,
    IoPortControlIssue = 60,
    TxRegionAddRange = 70,
    TxRegionAbort = 71,
    TxRegionStatus = 72,
    TxRegionSetBudget = 73,
    TxRegionSnapshotBegin = 74,
    TxRegionSnapshotStep = 75,
    TxRegionSnapshotRestore = 76,
    SnapshotStatus = 77,
    TxRegionSetVerify = 78,
    IoPortIn8 = 61,
    IoPortOut8 = 62,
    TcbInjectArm = 80,
    TcbInjectStatus = 81,
    TcbInjectDisarm = 82,
    TcbGetState = 100,
    IoPortIn32 = 90,
    IoPortOut32 = 91,
}

impl Invocation {
    pub const fn from_u64(n: u64) -> Option<Invocation> {
        use Invocation::*;
        Some(match n {
            1 => UntypedRetype,
            10 => TcbConfigure,
            11 => TcbSetPriority,
            12 => TcbWriteRegisters,
            13 => TcbReadRegisters,
            14 => TcbResume,
            15 => TcbSuspend,
            16 => TcbBindNotification,
            17 => TcbUnbindNotification,
            18 => TcbBindTxRegion,
            20 => CNodeCopy,
            21 => CNodeMint,
            22 => CNodeMove,
            23 => CNodeDelete,
            24 => CNodeRevoke,
            30 => PageTableMap,
            31 => PageTableUnmap,
            32 => FrameMap,
            33 => FrameUnmap,
            34 => FrameGetAddress,
            40 => IrqControlGet,
            41 => IrqHandlerSetNotification,
            42 => IrqHandlerAck,
            43 => IrqHandlerClear,
            50 => SysControlPoweroff,
            51 => SysControlCheckInvariants,
            60 => IoPortControlIssue,
            70 => TxRegionAddRange,
            71 => TxRegionAbort,
            72 => TxRegionStatus,
            73 => TxRegionSetBudget,
            74 => TxRegionSnapshotBegin,
            75 => TxRegionSnapshotStep,
            76 => TxRegionSnapshotRestore,
            77 => SnapshotStatus,
            78 => TxRegionSetVerify,
            61 => IoPortIn8,
            62 => IoPortOut8,
            80 => TcbInjectArm,
            81 => TcbInjectStatus,
            82 => TcbInjectDisarm,
            100 => TcbGetState,
            90 => IoPortIn32,
            91 => IoPortOut32,
            _ => return None,
        })
    }
}

/// `TcbWriteRegisters` flag: make the thread runnable after writing.
pub const WRITE_REGISTERS_RESUME: u64 = 1;
/// `TxRegionAddRange` flag: the range is the server's stack (stack below the receive-time stack
/// pointer is not saved).
pub const TX_RANGE_STACK: u64 = 1;
/// `TxRegionAbort` flag: put the aborted request back at the head of the endpoint's queue, so the
/// server receives it again, instead of replying to the caller with the given label.
pub const TX_ABORT_REDELIVER: u64 = 1;

/// `SnapshotStatus` states: never begun, being copied, complete (restorable), cancelled (a
/// restore of the region or the region's destruction interrupted the copy).
pub const SNAPSHOT_EMPTY: u64 = 0;
pub const SNAPSHOT_IN_PROGRESS: u64 = 1;
pub const SNAPSHOT_COMPLETE: u64 = 2;
pub const SNAPSHOT_CANCELLED: u64 = 3;

/// `TcbGetState` results: what the thread is doing. A server thread blocked in a receive
/// (`THREAD_STATE_BLOCKED_ON_RECV`) is at its receive point: no request is in flight on it.
pub const THREAD_STATE_INACTIVE: u64 = 0;
pub const THREAD_STATE_RUNNING: u64 = 1;
pub const THREAD_STATE_BLOCKED_ON_SEND: u64 = 2;
pub const THREAD_STATE_BLOCKED_ON_RECV: u64 = 3;
pub const THREAD_STATE_BLOCKED_ON_REPLY: u64 = 4;
pub const THREAD_STATE_BLOCKED_ON_NOTIFICATION: u64 = 5;
pub const THREAD_STATE_IDLE: u64 = 6;

/// How many argument registers `TcbWriteRegisters`/`TcbReadRegisters` transfer.
pub const TCB_ARG_REGISTERS: usize = 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        let mut seen = 0;
        for n in 0..128 {
            if let Some(inv) = Invocation::from_u64(n) {
                assert_eq!(inv as u64, n);
                seen += 1;
            }
        }
        assert_eq!(seen, 44);
    }
}
