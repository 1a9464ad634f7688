//! Capability spaces: lookup, derivation, copy/mint/move, delete and revoke.
//!
//! Deletion is iterative, never recursive: deleting the last capability to a CNode or TCB empties
//! the slots inside it, with nested containers kept on an explicit stack (see [`delete`]).

use crate::arch::phys_to_virt;
use crate::object::{Cap, Slot, SlotPtr};
use crate::tcb::{Tcb, tcb_mut};
use crate::{ipc, irq, sched, vspace};
use axolotl_abi::{CPtr, CapRights, Error};
use axolotl_kcore::cdt::{self, CdtLinks, CdtStore};
use core::ptr::NonNull;

/// The CDT over kernel slots.
pub struct Slots;

impl CdtStore for Slots {
    type Id = SlotPtr;
    fn cdt(&self, id: SlotPtr) -> CdtLinks<SlotPtr> {
        slot_ref(id).cdt
    }
    fn set_cdt(&mut self, id: SlotPtr, links: CdtLinks<SlotPtr>) {
        slot_mut(id).cdt = links;
    }
}

/// A slot the kernel holds a pointer to.
///
/// Slots live in CNodes and TCBs; the kernel only keeps pointers to slots of live objects (the
/// CDT links are removed before an object's memory can be reused), and the kernel is
/// single-threaded, so the reference is valid and unaliased for the short time it is used.
#[allow(clippy::mut_from_ref)]
pub fn slot_mut(slot: SlotPtr) -> &'static mut Slot {
    // SAFETY: see above.
    unsafe { &mut *slot.as_ptr() }
}

pub fn slot_ref(slot: SlotPtr) -> &'static Slot {
    // SAFETY: see `slot_mut`.
    unsafe { &*slot.as_ptr() }
}

/// The slot `index` of the CNode capability `cnode`.
pub fn cnode_slot(cnode: Cap, index: u64) -> Result<SlotPtr, Error> {
    match cnode {
        Cap::CNode { base, radix } => {
            if index >= 1 << radix {
                return Err(Error::RangeError);
            }
            // SAFETY: `base` is the first of 2^radix slots of a live CNode; index is in range.
            Ok(unsafe { NonNull::new_unchecked(base.as_ptr().add(index as usize)) })
        }
        _ => Err(Error::InvalidCapability),
    }
}

/// Looks up `cptr` in the CSpace of `tcb`.
pub fn lookup_slot(tcb: &Tcb, cptr: CPtr) -> Result<SlotPtr, Error> {
    cnode_slot(tcb.cspace_root.cap, cptr).map_err(|e| match e {
        Error::RangeError => Error::FailedLookup,
        e => e,
    })
}

/// Looks up a capability; an empty slot is an error.
pub fn lookup_cap(tcb: &Tcb, cptr: CPtr) -> Result<(SlotPtr, Cap), Error> {
    let slot = lookup_slot(tcb, cptr)?;
    match slot_ref(slot).cap {
        Cap::Null => Err(Error::InvalidCapability),
        cap => Ok((slot, cap)),
    }
}

/// Resolves a CNode argument of an invocation: 0 is the invoker's root CNode.
pub fn lookup_cnode(tcb: &Tcb, cptr: CPtr) -> Result<Cap, Error> {
    let cap = if cptr == 0 {
        tcb.cspace_root.cap
    } else {
        lookup_cap(tcb, cptr)?.1
    };
    match cap {
        Cap::CNode { .. } => Ok(cap),
        _ => Err(Error::InvalidCapability),
    }
}

/// A capability derived from `cap` for a copy, mint or transfer, with rights cut to `rights`
/// and, for an unbadged endpoint or notification, `badge`.
pub fn derive(cap: Cap, rights: CapRights, badge: Option<u64>) -> Result<Cap, Error> {
    Ok(match cap {
        Cap::Null => return Err(Error::InvalidCapability),
        // An Untyped's watermark lives in its one capability; copies would split it.
        Cap::Untyped { .. } => return Err(Error::IllegalOperation),
        Cap::Endpoint {
            ep,
            badge: old,
            rights: r,
        } => Cap::Endpoint {
            ep,
            badge: rebadge(old, badge)?,
            rights: CapRights(r as u64).intersect(rights).0 as u8,
        },
        Cap::Notification {
            ntfn,
            badge: old,
            rights: r,
        } => Cap::Notification {
            ntfn,
            badge: rebadge(old, badge)?,
            rights: CapRights(r as u64).intersect(rights).0 as u8,
        },
        // A copy of a mapped frame or table is unmapped: each capability maps at most once.
        Cap::Frame {
            paddr,
            rights: r,
            device,
            ..
        } => Cap::Frame {
            paddr,
            vaddr: 0,
            asid: 0,
            rights: CapRights(r as u64).intersect(rights).0 as u8,
            device,
        },
        Cap::PageTable { paddr, .. } => Cap::PageTable {
            paddr,
            vaddr: 0,
            asid: 0,
            level: 0,
        },
        other => other,
    })
}

/// The badge of a derived endpoint or notification capability: an unbadged one takes the new
/// badge; a badged one keeps its badge and cannot be given another.
fn rebadge(old: u64, new: Option<u64>) -> Result<u64, Error> {
    match (new, old) {
        (Some(b), 0) => Ok(b),
        (Some(b), old) if b != old && b != 0 => Err(Error::IllegalOperation),
        _ => Ok(old),
    }
}

/// Puts `cap`, derived from the capability in `parent`, into the empty slot `dest`.
pub fn insert_derived(parent: SlotPtr, dest: SlotPtr, cap: Cap) {
    debug_assert!(slot_ref(dest).cap.is_null());
    slot_mut(dest).cap = cap;
    slot_mut(dest).cdt = CdtLinks::EMPTY;
    cdt::insert_child(&mut Slots, parent, dest);
}

/// Puts a newly made capability (retype, boot) into the empty slot `dest`.
pub fn insert_new(parent: Option<SlotPtr>, dest: SlotPtr, cap: Cap) {
    slot_mut(dest).cap = cap;
    slot_mut(dest).cdt = CdtLinks::EMPTY;
    if let Some(p) = parent {
        cdt::insert_child(&mut Slots, p, dest);
    }
}

/// Moves the capability in `src` to the empty slot `dest`, keeping its place in the CDT.
pub fn move_cap(src: SlotPtr, dest: SlotPtr) {
    let cap = slot_ref(src).cap;
    slot_mut(dest).cap = cap;
    slot_mut(dest).cdt = CdtLinks::EMPTY;
    cdt::replace(&mut Slots, src, dest);
    slot_mut(src).cap = Cap::Null;
}

/// Whether the capability in `slot` is the last one to its object.
pub fn is_final(slot: SlotPtr) -> bool {
    let s = slot_ref(slot);
    let Some(id) = s.cap.object_id() else {
        return false;
    };
    if cdt::has_children(&Slots, slot) && !matches!(s.cap, Cap::Untyped { .. }) {
        return false;
    }
    match s.cdt.parent {
        Some(p) => slot_ref(p).cap.object_id() != Some(id),
        None => true,
    }
}

/// How many nested CNodes/TCBs holding each other's last capabilities one delete can empty.
const MAX_DELETE_DEPTH: usize = 64;

fn is_container(cap: &Cap) -> bool {
    matches!(cap, Cap::CNode { .. } | Cap::Tcb { .. })
}

/// Deletes the capability in `slot`, destroying its object if it was the last capability.
///
/// A CNode or TCB whose last capability goes is emptied first. Its capability is taken out of
/// its slot at once and the container is kept on an explicit stack while its slots are emptied,
/// so containers that hold each other's last capabilities (even themselves) are emptied exactly
/// once, with no recursion.
pub fn delete(slot: SlotPtr) {
    let cap = slot_ref(slot).cap;
    if !(is_container(&cap) && is_final(slot)) {
        delete_one(slot);
        return;
    }
    let mut stack: [Cap; MAX_DELETE_DEPTH] = [Cap::Null; MAX_DELETE_DEPTH];
    let mut depth = 0;
    finalise_object(cap);
    detach(slot);
    stack[0] = cap;
    depth += 1;
    while depth > 0 {
        let container = stack[depth - 1];
        let Some(inner) = first_nonempty_inner_slot(container) else {
            depth -= 1;
            continue;
        };
        let inner_cap = slot_ref(inner).cap;
        let on_stack = stack[..depth]
            .iter()
            .any(|c| c.object_id() == inner_cap.object_id());
        if is_container(&inner_cap) && !on_stack && is_final(inner) {
            finalise_object(inner_cap);
            detach(inner);
            if depth == MAX_DELETE_DEPTH {
                log::error!(
                    "delete: containers nested deeper than {MAX_DELETE_DEPTH}; {inner_cap:?} is leaked"
                );
                continue;
            }
            stack[depth] = inner_cap;
            depth += 1;
        } else if on_stack {
            // A capability to a container already being emptied: just drop it.
            detach(inner);
        } else {
            delete_one(inner);
        }
    }
}

/// The first non-empty slot inside a CNode or TCB.
fn first_nonempty_inner_slot(container: Cap) -> Option<SlotPtr> {
    match container {
        Cap::CNode { base, radix } => (0..1u64 << radix).find_map(|i| {
            // SAFETY: i < 2^radix slots of the live CNode.
            let s = unsafe { NonNull::new_unchecked(base.as_ptr().add(i as usize)) };
            (!slot_ref(s).cap.is_null()).then_some(s)
        }),
        Cap::Tcb { tcb } => {
            let t = tcb_mut(tcb);
            [
                &mut t.cspace_root,
                &mut t.vspace_root,
                &mut t.fault_endpoint,
                &mut t.ipc_buffer_frame,
            ]
            .into_iter()
            .find(|s| !s.cap.is_null())
            .map(NonNull::from)
        }
        _ => None,
    }
}

/// Deletes a capability that is not the last one to a non-empty container.
fn delete_one(slot: SlotPtr) {
    let cap = slot_ref(slot).cap;
    if cap.is_null() {
        return;
    }
    if is_final(slot) {
        finalise_object(cap);
    }
    detach(slot);
}

/// Takes a capability out of its slot and the CDT, dropping the mapping it holds.
fn detach(slot: SlotPtr) {
    let cap = slot_ref(slot).cap;
    // Mappings belong to the capability, not the object.
    match cap {
        Cap::Frame {
            asid, vaddr, paddr, ..
        } if asid != 0 => vspace::unmap_frame(asid, vaddr, paddr),
        Cap::PageTable {
            asid,
            vaddr,
            paddr,
            level,
        } if asid != 0 => vspace::unmap_table(asid, vaddr, level, paddr),
        _ => {}
    }
    if matches!(cap, Cap::Untyped { .. }) {
        cdt::remove(&mut Slots, slot);
    } else {
        cdt::remove_promoting(&mut Slots, slot);
    }
    slot_mut(slot).cap = Cap::Null;
}

/// Destroys an object whose last capability is going away. Its inner slots are already empty.
fn finalise_object(cap: Cap) {
    match cap {
        Cap::Endpoint { ep, .. } => ipc::cancel_all(ep),
        Cap::Notification { ntfn, .. } => {
            ipc::cancel_all_signals(ntfn);
            irq::forget_notification(ntfn);
        }
        Cap::Tcb { tcb } => sched::destroy_thread(tcb),
        Cap::VSpace { asid, .. } => vspace::free_asid(asid),
        Cap::IrqHandler { irq } => irq::release(irq as u32),
        Cap::TxRegion { region } => crate::txregion::destroy(region),
        Cap::Snapshot { snapshot } => crate::snapshot::destroy(snapshot),
        _ => {}
    }
}

/// Deletes every capability derived from the one in `slot`. Revoking an Untyped capability
/// destroys every object made from it and lets its memory be retyped again.
///
/// O(number of descendants): each step deletes the first child, whose own children are promoted
/// into its place.
pub fn revoke(slot: SlotPtr) {
    while let Some(child) = slot_ref(slot).cdt.first_child {
        delete(child);
    }
    if let Cap::Untyped {
        base, bits, device, ..
    } = slot_ref(slot).cap
    {
        slot_mut(slot).cap = Cap::Untyped {
            base,
            free: 0,
            bits,
            device,
        };
    }
}

/// The slots of a CNode in the kernel window (used at boot).
pub fn cnode_base(paddr: u64) -> SlotPtr {
    NonNull::new(phys_to_virt(paddr) as *mut Slot).expect("kernel window address is never null")
}
