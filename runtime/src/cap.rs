//! Typed capabilities and the invocations of kernel objects.
//!
//! A [`Cap<T>`] is a capability pointer (a slot index in the thread's root CNode) tagged with the
//! type of object it is expected to name. The tag is a promise of this program, not checked by the
//! kernel until the capability is used: invoking a `Cap<Tcb>` that names an endpoint fails with
//! [`Error::InvalidCapability`].
//!
//! Every invocation is a `Call` on the capability with the label an [`Invocation`] and the
//! arguments in MR0.., exactly as documented in `axolotl_abi::invocation`. It fails with the
//! kernel status if the kernel refused the call, else with the reply's label if nonzero.

use crate::ipc_buffer::get_mr;
use crate::syscall;
use axolotl_abi::invocation::{TCB_ARG_REGISTERS, WRITE_REGISTERS_RESUME};
use axolotl_abi::{
    Badge, CPtr, CapRights, Error, Invocation, MessageInfo, ObjectType, VmAttributes,
};
use core::fmt;
use core::marker::PhantomData;

/// The kind of object a capability names.
pub trait CapType: 'static {
    const NAME: &'static str;
}

macro_rules! cap_types {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {}
        impl CapType for $name {
            const NAME: &'static str = stringify!($name);
        }
    )*};
}

cap_types! {
    /// Untyped memory, from which every object is retyped.
    Untyped,
    /// A thread control block.
    Tcb,
    /// An IPC endpoint.
    Endpoint,
    /// A notification (an array of binary semaphores in one word).
    Notification,
    /// A CNode (a table of capability slots).
    CNode,
    /// A 4 KiB frame of memory.
    Frame,
    /// A page table below the root of an address space.
    PageTable,
    /// The root of an address space.
    VSpace,
    /// The authority to create IRQ handler capabilities.
    IrqControl,
    /// The authority over one interrupt line.
    IrqHandler,
    /// The authority to power the machine off.
    SysControl,
    /// The authority to issue I/O-port capabilities (x86_64 only).
    IoPortControl,
    /// A range of I/O ports (x86_64 only): 8-bit reads and writes of the ports in it.
    IoPort,
    /// A transactional memory region: a header and a pool of undo frames.
    TxRegion,
    /// Snapshot storage for a transactional region: a header and one frame per region page.
    Snapshot,
    /// A capability of a type not (yet) known.
    Unspecified,
}

/// A capability to an object of type `T`, by its slot in the thread's root CNode.
pub struct Cap<T: CapType> {
    cptr: CPtr,
    _type: PhantomData<T>,
}

impl<T: CapType> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: CapType> Copy for Cap<T> {}
impl<T: CapType> PartialEq for Cap<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}
impl<T: CapType> Eq for Cap<T> {}

impl<T: CapType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({})", T::NAME, self.cptr)
    }
}

impl<T: CapType> Cap<T> {
    /// The capability in slot `cptr` of the thread's root CNode.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Cap {
            cptr,
            _type: PhantomData,
        }
    }

    /// Its slot in the thread's root CNode.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same slot, seen as a capability to another type of object.
    pub const fn cast<U: CapType>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }

    /// Slot 0, which is always empty.
    pub const fn is_null(self) -> bool {
        self.cptr == 0
    }

    /// Performs invocation `label` with `args` in MR0.. and checks the result. The reply's
    /// message registers are read with [`get_mr`].
    fn invoke(self, label: Invocation, args: &[u64]) -> Result<MessageInfo, Error> {
        set_mrs_checked(args)?;
        let (reply, _) = syscall::call(self.cptr, MessageInfo::new(label as u64, 0, args.len()))?;
        match reply.label() {
            0 => Ok(reply),
            code => Err(Error::from_u64(code).unwrap_or(Error::IllegalOperation)),
        }
    }
}

fn set_mrs_checked(args: &[u64]) -> Result<(), Error> {
    if args.len() > axolotl_abi::message::MSG_MAX_LENGTH {
        return Err(Error::InvalidArgument);
    }
    crate::ipc_buffer::set_mrs(args);
    Ok(())
}

impl Cap<CNode> {
    /// As a CNode *argument* of an invocation: the invoker's own root CNode (cptr 0). Not a
    /// capability that can itself be invoked; the root task's CNode capability is
    /// [`crate::root::cnode`].
    pub const fn invoker_root() -> Cap<CNode> {
        Cap::from_cptr(0)
    }

    /// Copies the capability in slot `src_index` of `src_cnode` into slot `dest_index` of this
    /// CNode, with its rights reduced to `rights`.
    pub fn copy(
        self,
        dest_index: CPtr,
        src_cnode: Cap<CNode>,
        src_index: CPtr,
        rights: CapRights,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::CNodeCopy,
            &[dest_index, src_cnode.cptr, src_index, rights.0],
        )
        .map(drop)
    }

    /// Like [`Cap::copy`], and the new capability carries `badge` (endpoints, notifications).
    pub fn mint(
        self,
        dest_index: CPtr,
        src_cnode: Cap<CNode>,
        src_index: CPtr,
        rights: CapRights,
        badge: Badge,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::CNodeMint,
            &[dest_index, src_cnode.cptr, src_index, rights.0, badge],
        )
        .map(drop)
    }

    /// Moves the capability in slot `src_index` of `src_cnode` into slot `dest_index` of this
    /// CNode.
    pub fn move_(
        self,
        dest_index: CPtr,
        src_cnode: Cap<CNode>,
        src_index: CPtr,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::CNodeMove,
            &[dest_index, src_cnode.cptr, src_index],
        )
        .map(drop)
    }

    /// Empties slot `index` of this CNode.
    pub fn delete(self, index: CPtr) -> Result<(), Error> {
        self.invoke(Invocation::CNodeDelete, &[index]).map(drop)
    }

    /// Deletes every capability derived from the one in slot `index` of this CNode.
    pub fn revoke(self, index: CPtr) -> Result<(), Error> {
        self.invoke(Invocation::CNodeRevoke, &[index]).map(drop)
    }
}

impl Cap<Untyped> {
    /// Makes `count` objects of type `ty` (`size_bits`: the radix of a CNode, the size of an
    /// Untyped; ignored otherwise) in slots `dest_index..dest_index + count` of `dest_cnode`.
    pub fn retype(
        self,
        ty: ObjectType,
        size_bits: u32,
        dest_cnode: Cap<CNode>,
        dest_index: CPtr,
        count: u64,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::UntypedRetype,
            &[
                ty as u64,
                u64::from(size_bits),
                dest_cnode.cptr,
                dest_index,
                count,
            ],
        )
        .map(drop)
    }
}

/// Registers of a thread as `TcbReadRegisters` returns them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadRegisters {
    pub pc: u64,
    pub sp: u64,
    /// The argument registers (aarch64 x0..x5, x86_64 rdi, rsi, rdx, rcx, r8, r9).
    pub args: [u64; TCB_ARG_REGISTERS],
}

impl Cap<Tcb> {
    /// Sets the thread's fault endpoint (a capability in the *invoker's* CNode, which the kernel
    /// copies into the TCB; `None`: faults suspend the thread), its CSpace and VSpace roots and
    /// its IPC buffer (address in its VSpace and the frame backing it).
    pub fn configure(
        self,
        fault_ep: Option<Cap<Endpoint>>,
        cspace: Cap<CNode>,
        vspace: Cap<VSpace>,
        ipc_buffer_vaddr: u64,
        ipc_buffer_frame: Option<Cap<Frame>>,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::TcbConfigure,
            &[
                fault_ep.map_or(0, Cap::cptr),
                cspace.cptr,
                vspace.cptr,
                ipc_buffer_vaddr,
                ipc_buffer_frame.map_or(0, Cap::cptr),
            ],
        )
        .map(drop)
    }

    /// Sets the thread's priority (0 lowest, 255 highest).
    pub fn set_priority(self, priority: u8) -> Result<(), Error> {
        self.invoke(Invocation::TcbSetPriority, &[u64::from(priority)])
            .map(drop)
    }

    /// Sets pc, sp and the first `args.len()` (at most 6) argument registers, and makes the
    /// thread runnable if `resume`.
    pub fn write_registers(
        self,
        resume: bool,
        pc: u64,
        sp: u64,
        args: &[u64],
    ) -> Result<(), Error> {
        if args.len() > TCB_ARG_REGISTERS {
            return Err(Error::InvalidArgument);
        }
        let mut words = [0u64; 3 + TCB_ARG_REGISTERS];
        words[0] = if resume { WRITE_REGISTERS_RESUME } else { 0 };
        words[1] = pc;
        words[2] = sp;
        words[3..3 + args.len()].copy_from_slice(args);
        self.invoke(Invocation::TcbWriteRegisters, &words[..3 + args.len()])
            .map(drop)
    }

    /// Reads pc, sp and the argument registers.
    pub fn read_registers(self) -> Result<ThreadRegisters, Error> {
        self.invoke(Invocation::TcbReadRegisters, &[])?;
        let mut regs = ThreadRegisters {
            pc: get_mr(0),
            sp: get_mr(1),
            ..ThreadRegisters::default()
        };
        for (i, arg) in regs.args.iter_mut().enumerate() {
            *arg = get_mr(2 + i);
        }
        Ok(regs)
    }

    /// Fault injection (campaign images, `abi::inject`): plants the kernel's trap at `pc` of this
    /// thread in trap slot `slot`; when the thread executes it, the kernel applies `kind` with
    /// its arguments `a`, `b`.
    pub fn inject_arm(
        self,
        slot: u64,
        pc: u64,
        kind: axolotl_abi::inject::InjectKind,
        a: u64,
        b: u64,
    ) -> Result<(), Error> {
        self.invoke(Invocation::TcbInjectArm, &[slot, pc, kind as u64, a, b])
            .map(drop)
    }

    /// The state of trap slot `slot`: (state, pc, detail0, detail1).
    pub fn inject_status(
        self,
        slot: u64,
    ) -> Result<(axolotl_abi::inject::TrapState, u64, u64, u64), Error> {
        self.invoke(Invocation::TcbInjectStatus, &[slot])?;
        let state =
            axolotl_abi::inject::TrapState::from_u64(get_mr(0)).ok_or(Error::IllegalOperation)?;
        Ok((state, get_mr(1), get_mr(2), get_mr(3)))
    }

    /// Takes the trap in `slot` out (the original code back if it is still planted); returns
    /// the state it had.
    pub fn inject_disarm(self, slot: u64) -> Result<axolotl_abi::inject::TrapState, Error> {
        self.invoke(Invocation::TcbInjectDisarm, &[slot])?;
        axolotl_abi::inject::TrapState::from_u64(get_mr(0)).ok_or(Error::IllegalOperation)
    }

    /// Makes the thread runnable.
    pub fn resume(self) -> Result<(), Error> {
        self.invoke(Invocation::TcbResume, &[]).map(drop)
    }

    /// What the thread is doing now: one of the `THREAD_STATE_*` codes of
    /// `axolotl_abi::invocation` (e.g. `THREAD_STATE_BLOCKED_ON_RECV`: waiting for a request).
    pub fn state(self) -> Result<u64, Error> {
        self.invoke(Invocation::TcbGetState, &[])?;
        Ok(get_mr(0))
    }

    /// Stops the thread (cancelling any IPC it is blocked in) until it is resumed.
    pub fn suspend(self) -> Result<(), Error> {
        self.invoke(Invocation::TcbSuspend, &[]).map(drop)
    }

    /// Binds a notification: signals to it are also delivered while the thread waits on an
    /// endpoint.
    pub fn bind_notification(self, notification: Cap<Notification>) -> Result<(), Error> {
        self.invoke(Invocation::TcbBindNotification, &[notification.cptr])
            .map(drop)
    }

    /// Runs this thread's requests as transactions over `region` (`None`: no longer).
    pub fn bind_tx_region(self, region: Option<Cap<TxRegion>>) -> Result<(), Error> {
        self.invoke(Invocation::TcbBindTxRegion, &[region.map_or(0, |r| r.cptr)])
            .map(drop)
    }

    pub fn unbind_notification(self) -> Result<(), Error> {
        self.invoke(Invocation::TcbUnbindNotification, &[])
            .map(drop)
    }
}

impl Cap<PageTable> {
    /// Maps this page table into `vspace` to cover `vaddr`, at the first level of the
    /// translation of `vaddr` that is missing (the kernel picks the level).
    pub fn map(self, vspace: Cap<VSpace>, vaddr: u64) -> Result<(), Error> {
        self.invoke(Invocation::PageTableMap, &[vspace.cptr, vaddr])
            .map(drop)
    }

    pub fn unmap(self) -> Result<(), Error> {
        self.invoke(Invocation::PageTableUnmap, &[]).map(drop)
    }
}

impl Cap<Frame> {
    /// Maps this frame at `vaddr` in `vspace`. Fails with [`Error::FailedLookup`] if a page table
    /// on the way is missing: map one ([`Cap::<PageTable>::map`]) and retry. A capability holds
    /// one mapping at a time; copy it to map the frame twice.
    pub fn map(
        self,
        vspace: Cap<VSpace>,
        vaddr: u64,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::FrameMap,
            &[vspace.cptr, vaddr, rights.0, attrs.0],
        )
        .map(drop)
    }

    pub fn unmap(self) -> Result<(), Error> {
        self.invoke(Invocation::FrameUnmap, &[]).map(drop)
    }

    /// The frame's physical address (for device drivers).
    pub fn paddr(self) -> Result<u64, Error> {
        self.invoke(Invocation::FrameGetAddress, &[])?;
        Ok(get_mr(0))
    }
}

impl Cap<IrqControl> {
    /// Creates the handler capability for interrupt `irq` in slot `dest_index` of `dest_cnode`.
    pub fn get(self, irq: u64, dest_cnode: Cap<CNode>, dest_index: CPtr) -> Result<(), Error> {
        self.invoke(
            Invocation::IrqControlGet,
            &[irq, dest_cnode.cptr, dest_index],
        )
        .map(drop)
    }
}

impl Cap<IrqHandler> {
    /// The notification the interrupt signals.
    pub fn set_notification(self, notification: Cap<Notification>) -> Result<(), Error> {
        self.invoke(Invocation::IrqHandlerSetNotification, &[notification.cptr])
            .map(drop)
    }

    /// Unmasks the interrupt after handling it.
    pub fn ack(self) -> Result<(), Error> {
        self.invoke(Invocation::IrqHandlerAck, &[]).map(drop)
    }

    /// Unbinds the notification.
    pub fn clear(self) -> Result<(), Error> {
        self.invoke(Invocation::IrqHandlerClear, &[]).map(drop)
    }
}

impl Cap<IoPortControl> {
    /// Creates the capability to I/O ports `first..=last` in slot `dest_index` of `dest_cnode`.
    /// Ports the kernel keeps (the 8259 PICs, QEMU's debug-exit port) are refused with
    /// [`Error::RangeError`].
    pub fn issue(
        self,
        first: u16,
        last: u16,
        dest_cnode: Cap<CNode>,
        dest_index: CPtr,
    ) -> Result<(), Error> {
        self.invoke(
            Invocation::IoPortControlIssue,
            &[first.into(), last.into(), dest_cnode.cptr, dest_index],
        )
        .map(drop)
    }
}

impl Cap<IoPort> {
    /// Reads a byte from `port`, which must be in the capability's range
    /// ([`Error::RangeError`] otherwise).
    pub fn in8(self, port: u16) -> Result<u8, Error> {
        self.invoke(Invocation::IoPortIn8, &[port.into()])?;
        Ok(get_mr(0) as u8)
    }

    /// Writes `value` to `port`, which must be in the capability's range.
    pub fn out8(self, port: u16, value: u8) -> Result<(), Error> {
        self.invoke(Invocation::IoPortOut8, &[port.into(), value.into()])
            .map(drop)
    }

    /// Reads a 32-bit word from `port..=port + 3`, all in the capability's range.
    pub fn in32(self, port: u16) -> Result<u32, Error> {
        self.invoke(Invocation::IoPortIn32, &[port.into()])?;
        Ok(get_mr(0) as u32)
    }

    /// Writes a 32-bit word to `port..=port + 3`, all in the capability's range.
    pub fn out32(self, port: u16, value: u32) -> Result<(), Error> {
        self.invoke(Invocation::IoPortOut32, &[port.into(), value.into()])
            .map(drop)
    }
}

/// What [`Cap<TxRegion>::status`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStatus {
    /// A request was delivered and not yet answered.
    pub in_transaction: bool,
    /// Pages the open transaction has dirtied.
    pub dirty_pages: u64,
    /// Label and badge of the request being (or last) handled.
    pub request_label: u64,
    pub request_badge: u64,
    pub commits: u64,
    pub aborts: u64,
}

impl Cap<TxRegion> {
    /// Adds `[start, end)` of `vspace` to the region: its writable pages become transactional.
    /// `stack`: the range is the server's stack. Returns how many pages were protected.
    pub fn add_range(
        self,
        vspace: Cap<VSpace>,
        start: u64,
        end: u64,
        stack: bool,
    ) -> Result<u64, Error> {
        let flags = if stack {
            axolotl_abi::invocation::TX_RANGE_STACK
        } else {
            0
        };
        self.invoke(
            Invocation::TxRegionAddRange,
            &[vspace.cptr, start, end, flags],
        )?;
        Ok(get_mr(0))
    }

    /// Aborts the bound thread's transaction: its pages and registers go back to the state before
    /// the request. With `redeliver` the request is queued again at the head of its endpoint;
    /// otherwise the caller is answered with `reply_label`. Returns the pages restored.
    pub fn abort(self, redeliver: bool, reply_label: u64) -> Result<u64, Error> {
        let flags = if redeliver {
            axolotl_abi::invocation::TX_ABORT_REDELIVER
        } else {
            0
        };
        self.invoke(Invocation::TxRegionAbort, &[flags, reply_label])?;
        Ok(get_mr(0))
    }

    /// Lets each request run at most `ticks` of the counter ([`crate::time`]); a request past it
    /// faults with `FaultKind::Timeout` (0: no budget).
    pub fn set_budget(self, ticks: u64) -> Result<(), Error> {
        self.invoke(Invocation::TxRegionSetBudget, &[ticks])
            .map(drop)
    }

    /// Verified transactions (`verify = true`): every request of the bound thread runs twice
    /// and commits only if both runs agree (see `axolotl_abi::verify`).
    pub fn set_verify(self, on: bool) -> Result<(), Error> {
        self.invoke(Invocation::TxRegionSetVerify, &[u64::from(on)])
            .map(drop)
    }

    pub fn status(self) -> Result<TxStatus, Error> {
        self.invoke(Invocation::TxRegionStatus, &[])?;
        Ok(TxStatus {
            in_transaction: get_mr(0) != 0,
            dirty_pages: get_mr(1),
            request_label: get_mr(2),
            request_badge: get_mr(3),
            commits: get_mr(4),
            aborts: get_mr(5),
        })
    }
}

impl Cap<TxRegion> {
    /// Begins a concurrent snapshot of the region into `snapshot` at its last committed state;
    /// the server keeps running, and each page is copied before its next write. Returns (region
    /// pages, the region's commit count at the snapshot point).
    pub fn snapshot_begin(self, snapshot: Cap<Snapshot>) -> Result<(u64, u64), Error> {
        self.invoke(Invocation::TxRegionSnapshotBegin, &[snapshot.cptr])?;
        Ok((get_mr(0), get_mr(1)))
    }

    /// Copies up to `max_pages` pages of the snapshot in progress. Returns (pages copied, pages
    /// still to copy); (0, 0) when none is in progress (it completed, or was never begun).
    pub fn snapshot_step(self, max_pages: u64) -> Result<(u64, u64), Error> {
        self.invoke(Invocation::TxRegionSnapshotStep, &[max_pages])?;
        Ok((get_mr(0), get_mr(1)))
    }

    /// Puts the complete `snapshot` of this region back: the server is at its state at the
    /// snapshot point, waiting for its next request; an open request is answered with
    /// `reply_label`. Returns the pages restored.
    pub fn snapshot_restore(self, snapshot: Cap<Snapshot>, reply_label: u64) -> Result<u64, Error> {
        self.invoke(
            Invocation::TxRegionSnapshotRestore,
            &[snapshot.cptr, reply_label],
        )?;
        Ok(get_mr(0))
    }
}

/// Where a snapshot is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotState {
    /// Never begun.
    #[default]
    Empty,
    /// Being copied.
    InProgress,
    /// Every page copied: it can be restored.
    Complete,
    /// The copy was interrupted (a restore of the region, or the region destroyed).
    Cancelled,
}

/// What [`Cap<Snapshot>::status`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStatus {
    pub state: SnapshotState,
    /// Pages of the region.
    pub pages: u64,
    /// Pages not copied yet.
    pub remaining: u64,
    /// The region's commit count at the snapshot point and when the copy completed.
    pub commits_at_point: u64,
    pub commits_at_complete: u64,
    /// Pages the write-fault path copied (a write came before the copier).
    pub copied_before_write: u64,
}

impl Cap<Snapshot> {
    pub fn status(self) -> Result<SnapshotStatus, Error> {
        use axolotl_abi::invocation::{SNAPSHOT_COMPLETE, SNAPSHOT_EMPTY, SNAPSHOT_IN_PROGRESS};
        self.invoke(Invocation::SnapshotStatus, &[])?;
        Ok(SnapshotStatus {
            state: match get_mr(0) {
                SNAPSHOT_EMPTY => SnapshotState::Empty,
                SNAPSHOT_IN_PROGRESS => SnapshotState::InProgress,
                SNAPSHOT_COMPLETE => SnapshotState::Complete,
                _ => SnapshotState::Cancelled,
            },
            pages: get_mr(1),
            remaining: get_mr(2),
            commits_at_point: get_mr(3),
            commits_at_complete: get_mr(4),
            copied_before_write: get_mr(5),
        })
    }
}

/// The kernel's answer to [`Cap::<SysControl>::check_invariants`] (see `axolotl_abi::invariants`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantReport {
    /// Violations found (the kernel logs each).
    pub violations: u64,
    pub capabilities: u64,
    pub untyped: u64,
    pub queued_threads: u64,
    pub user_mappings: u64,
}

impl Cap<SysControl> {
    /// Asks the kernel to check its own invariants (derivation tree, Untyped accounting,
    /// scheduler queues, page tables).
    pub fn check_invariants(self) -> Result<InvariantReport, Error> {
        use axolotl_abi::invariants as inv;
        self.invoke(Invocation::SysControlCheckInvariants, &[])?;
        Ok(InvariantReport {
            violations: get_mr(inv::RESULT_VIOLATIONS),
            capabilities: get_mr(inv::RESULT_CAPABILITIES),
            untyped: get_mr(inv::RESULT_UNTYPED),
            queued_threads: get_mr(inv::RESULT_QUEUED_THREADS),
            user_mappings: get_mr(inv::RESULT_USER_MAPPINGS),
        })
    }

    /// Powers the machine off with exit status `code` (QEMU exits with it). Panics if the
    /// kernel refuses.
    pub fn poweroff(self, code: u64) -> ! {
        match self.invoke(Invocation::SysControlPoweroff, &[code]) {
            Err(e) => panic!("poweroff refused: {e}"),
            Ok(_) => panic!("poweroff returned"),
        }
    }
}

impl Cap<Endpoint> {
    /// Sends the message in the message registers and waits for the reply (MRs hold it after).
    pub fn call(self, info: MessageInfo) -> Result<(MessageInfo, Badge), Error> {
        syscall::call(self.cptr, info)
    }

    /// Sends, blocking until a receiver takes the message.
    pub fn send(self, info: MessageInfo) -> Result<(), Error> {
        syscall::send(self.cptr, info)
    }

    /// Sends only if a receiver waits.
    pub fn nb_send(self, info: MessageInfo) -> Result<(), Error> {
        syscall::nb_send(self.cptr, info)
    }

    /// Waits for a message; returns its info and the sender's badge.
    pub fn recv(self) -> Result<(MessageInfo, Badge), Error> {
        syscall::recv(self.cptr)
    }

    /// Receives a pending message, or `Err(Error::WouldBlock)`.
    pub fn nb_recv(self) -> Result<(MessageInfo, Badge), Error> {
        syscall::nb_recv(self.cptr)
    }

    /// Replies to the current caller with `info` (and the message registers), then waits for the
    /// next message on this endpoint.
    pub fn reply_recv(self, info: MessageInfo) -> Result<(MessageInfo, Badge), Error> {
        syscall::reply_recv(self.cptr, info)
    }
}

impl Cap<Notification> {
    /// Signals: ORs this capability's badge into the notification word.
    pub fn signal(self) -> Result<(), Error> {
        syscall::send(self.cptr, MessageInfo::new(0, 0, 0))
    }

    /// Waits for a signal; returns the notification word (cleared by the wait).
    pub fn wait(self) -> Result<Badge, Error> {
        syscall::recv(self.cptr).map(|(_, word)| word)
    }

    /// The notification word if signalled (cleared by the poll), else `None`.
    pub fn poll(self) -> Result<Option<Badge>, Error> {
        match syscall::nb_recv(self.cptr) {
            Ok((_, 0)) | Err(Error::WouldBlock) => Ok(None),
            Ok((_, word)) => Ok(Some(word)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_keep_the_slot() {
        let c = Cap::<Endpoint>::from_cptr(9);
        assert_eq!(c.cast::<Unspecified>().cptr(), 9);
        assert!(Cap::<Tcb>::from_cptr(0).is_null());
    }
}
