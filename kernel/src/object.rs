//! Capabilities and the objects they name.
//!
//! A [`Cap`] is 24 bytes; a [`Slot`] (one CNode entry) is the capability plus its links in the
//! capability derivation tree (CDT), padded to 64 bytes (`abi::object::SLOT_BITS`).
//!
//! CDT invariant (kept by `cspace`): all capabilities to one object form one connected subtree.
//! Its root is the capability made by retype (a child of an Untyped capability) or by boot; every
//! copy, mint or transfer becomes a child of its source. Children of a non-Untyped capability are
//! therefore always capabilities to the same object, and a capability is the *last* one to its
//! object exactly when it has no children and its parent names another object. Deleting a
//! capability that has children promotes its first child into its place.
//!
//! Objects live in the kernel window (`phys_to_virt`); capabilities hold either kernel pointers
//! (TCB, endpoint, notification, CNode) or physical addresses (memory the MMU walks).

use crate::tcb::TcbPtr;
use axolotl_kcore::cdt::CdtLinks;
use axolotl_kcore::queue::Queue;
use core::ptr::NonNull;

pub type SlotPtr = NonNull<Slot>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    Null,
    /// `free` is the watermark: bytes from `base` already retyped.
    Untyped {
        base: u64,
        free: u64,
        bits: u8,
        device: bool,
    },
    Endpoint {
        ep: NonNull<Endpoint>,
        badge: u64,
        rights: u8,
    },
    Notification {
        ntfn: NonNull<Notification>,
        badge: u64,
        rights: u8,
    },
    Tcb {
        tcb: TcbPtr,
    },
    CNode {
        base: SlotPtr,
        radix: u8,
    },
    /// `asid != 0`: mapped at `vaddr` in the address space with that ASID.
    Frame {
        paddr: u64,
        vaddr: u64,
        asid: u16,
        rights: u8,
        device: bool,
    },
    /// `asid != 0`: mapped as a level-`level` table covering `vaddr`.
    PageTable {
        paddr: u64,
        vaddr: u64,
        asid: u16,
        level: u8,
    },
    VSpace {
        paddr: u64,
        asid: u16,
    },
    IrqControl,
    IrqHandler {
        irq: u16,
    },
    SysControl,
    TxRegion {
        region: crate::txregion::TxPtr,
    },
    /// Snapshot storage for a TxRegion.
    Snapshot {
        snapshot: crate::snapshot::SnapPtr,
    },
    /// The authority to issue I/O-port capabilities (x86_64).
    IoPortControl,
    /// The I/O ports `first..=last` (x86_64).
    IoPort {
        first: u16,
        last: u16,
    },
}

impl Cap {
    /// A value naming the object (None for capabilities without one); two capabilities name the
    /// same object iff their kinds and ids are equal.
    pub fn object_id(&self) -> Option<(u8, u64)> {
        Some(match *self {
            Cap::Null
            | Cap::IrqControl
            | Cap::SysControl
            | Cap::IoPortControl
            | Cap::IoPort { .. } => {
                return None;
            }
            Cap::Untyped { base, .. } => (1, base),
            Cap::Endpoint { ep, .. } => (2, ep.as_ptr() as u64),
            Cap::Notification { ntfn, .. } => (3, ntfn.as_ptr() as u64),
            Cap::Tcb { tcb } => (4, tcb.as_ptr() as u64),
            Cap::CNode { base, .. } => (5, base.as_ptr() as u64),
            Cap::Frame { paddr, .. } => (6, paddr),
            Cap::PageTable { paddr, .. } => (7, paddr),
            Cap::VSpace { paddr, .. } => (8, paddr),
            Cap::IrqHandler { irq } => (9, irq as u64),
            Cap::TxRegion { region } => (10, region.as_ptr() as u64),
            Cap::Snapshot { snapshot } => (11, snapshot.as_ptr() as u64),
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Cap::Null)
    }
}

/// One capability slot: a CNode entry, or one of the slots a TCB keeps for itself.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Slot {
    pub cap: Cap,
    pub cdt: CdtLinks<SlotPtr>,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 1 << axolotl_abi::object::SLOT_BITS);

impl Slot {
    pub const EMPTY: Slot = Slot {
        cap: Cap::Null,
        cdt: CdtLinks::EMPTY,
    };
}

/// An endpoint: a queue of threads all waiting to send or all waiting to receive.
#[repr(C)]
pub struct Endpoint {
    pub queue: Queue<TcbPtr>,
}

const _: () = assert!(core::mem::size_of::<Endpoint>() <= 1 << axolotl_abi::object::ENDPOINT_BITS);

/// A notification: a word of signal bits, the threads waiting for it, and the TCB it is bound to.
#[repr(C)]
pub struct Notification {
    pub word: u64,
    pub queue: Queue<TcbPtr>,
    pub bound: Option<TcbPtr>,
}

const _: () =
    assert!(core::mem::size_of::<Notification>() <= 1 << axolotl_abi::object::NOTIFICATION_BITS);
