//! Thread control blocks.
//!
//! A TCB holds a thread's saved registers (first, so the trap code can store into it), its
//! scheduling and IPC state, and four capability slots of its own: its CSpace root, VSpace, fault
//! endpoint and IPC-buffer frame. Those slots hold copies (CDT children) of the capabilities given
//! to `TcbConfigure`, so the thread keeps its address space alive and is cut off from it when the
//! originals are revoked. Nothing is cached from them: the kernel reads the slots when it needs
//! the address space or the buffer.

use crate::arch::{UserContext, phys_to_virt};
use crate::object::{Cap, Endpoint, Notification, Slot};
use axolotl_abi::fault::FAULT_MESSAGE_LENGTH;
use axolotl_abi::{FaultKind, IpcBuffer};
use axolotl_kcore::queue::QueueLinks;
use core::ptr::NonNull;

pub type TcbPtr = NonNull<Tcb>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not runnable: never started, suspended, or stopped after a fault without a handler.
    Inactive,
    /// Runnable (in a ready queue or current).
    Running,
    /// Waiting in an endpoint's queue to send (or to deliver a fault).
    BlockedOnSend(NonNull<Endpoint>),
    /// Waiting in an endpoint's queue to receive.
    BlockedOnRecv(NonNull<Endpoint>),
    /// Sent a call (or a fault) and waits for the reply.
    BlockedOnReply,
    /// Waiting for a signal on a notification.
    BlockedOnNotification(NonNull<Notification>),
    /// The idle thread.
    Idle,
}

/// What a thread blocked on send will deliver.
#[derive(Clone, Copy, Debug, Default)]
pub struct PendingSend {
    pub badge: u64,
    pub is_call: bool,
    pub can_grant: bool,
}

/// A fault waiting to be (or being) handled.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    pub kind: FaultKind,
    pub words: [u64; FAULT_MESSAGE_LENGTH],
}

#[repr(C)]
pub struct Tcb {
    pub ctx: UserContext,
    pub state: ThreadState,
    pub priority: u8,
    pub qlinks: QueueLinks<TcbPtr>,
    pub pending: PendingSend,
    /// The thread waiting for this thread's reply (the one-shot reply right).
    pub caller: Option<TcbPtr>,
    /// While BlockedOnReply: the thread holding our reply right.
    pub reply_to: Option<TcbPtr>,
    pub fault: Option<Fault>,
    pub ipc_buffer_vaddr: u64,
    pub bound_notification: Option<NonNull<Notification>>,
    /// The transactional region whose requests this thread runs as transactions.
    pub tx: Option<crate::txregion::TxPtr>,
    pub cspace_root: Slot,
    pub vspace_root: Slot,
    pub fault_endpoint: Slot,
    pub ipc_buffer_frame: Slot,
}

const _: () = assert!(core::mem::size_of::<Tcb>() <= 1 << axolotl_abi::object::TCB_BITS);
const _: () = assert!(core::mem::offset_of!(Tcb, ctx) == 0);

impl Tcb {
    /// Initialises a TCB in place in zeroed memory.
    pub fn init(&mut self) {
        self.ctx = UserContext::new_user(0, 0);
        self.state = ThreadState::Inactive;
        self.priority = 0;
        self.qlinks = QueueLinks {
            next: None,
            prev: None,
        };
        self.pending = PendingSend::default();
        self.caller = None;
        self.reply_to = None;
        self.fault = None;
        self.ipc_buffer_vaddr = 0;
        self.bound_notification = None;
        self.tx = None;
        self.cspace_root = Slot::EMPTY;
        self.vspace_root = Slot::EMPTY;
        self.fault_endpoint = Slot::EMPTY;
        self.ipc_buffer_frame = Slot::EMPTY;
    }

    /// The thread's IPC buffer in the kernel window, if it has one.
    pub fn ipc_buffer(&self) -> Option<&'static mut IpcBuffer> {
        match self.ipc_buffer_frame.cap {
            Cap::Frame {
                paddr,
                device: false,
                ..
            } => {
                // SAFETY: the frame is kept alive by this TCB's slot holding a capability to it;
                // it is a whole page, so an IpcBuffer (< 4 KiB) fits at its start. The kernel
                // touches it only while handling this thread's system call, never concurrently.
                Some(unsafe { &mut *(phys_to_virt(paddr) as *mut IpcBuffer) })
            }
            _ => None,
        }
    }

    /// (physical root, ASID) of the thread's address space, if it has one.
    pub fn vspace(&self) -> Option<(u64, u16)> {
        match self.vspace_root.cap {
            Cap::VSpace { paddr, asid } => Some((paddr, asid)),
            _ => None,
        }
    }

    pub fn is_runnable(&self) -> bool {
        matches!(self.state, ThreadState::Running)
    }
}

/// `tcb` as a mutable reference.
///
/// The kernel is single-threaded and non-preemptible, and TCBs are only reachable through
/// capabilities or kernel queues whose invariants keep them alive, so a pointer held by the kernel
/// always names a live TCB. Callers must not hold two references to the same TCB at once.
#[allow(clippy::mut_from_ref)]
pub fn tcb_mut(tcb: TcbPtr) -> &'static mut Tcb {
    // SAFETY: see above: every TcbPtr the kernel holds points to a live, initialised TCB.
    unsafe { &mut *tcb.as_ptr() }
}
