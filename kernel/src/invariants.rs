//! The kernel's consistency checker, run on demand by `SysControlCheckInvariants` (what it checks
//! is documented in `axolotl_abi::invariants`). It only reads kernel state and always terminates:
//! every walk is bounded, so corrupted links are reported rather than followed forever.
//!
//! Coverage: the capabilities it sees are those in the derivation trees rooted in the root task's
//! CNode (every capability made from boot Untyped memory, so every object of a running system,
//! unless the root task moved a boot capability elsewhere). The pure parts (tree walk, link and
//! Untyped checks) are in `axolotl_kcore` and tested on the host.

use crate::arch::{Architecture, Cpu, KERNEL_BASE, Pte, USER_VADDR_LIMIT, phys_to_virt};
use crate::cspace::{Slots, cnode_slot, slot_ref};
use crate::object::{Cap, SlotPtr};
use crate::sched::Tcbs;
use crate::state::kernel;
use crate::tcb::{ThreadState, tcb_mut};
use axolotl_abi::PAGE_SIZE;
use axolotl_abi::invariants::RESULT_WORDS;
use axolotl_abi::object::{ENDPOINT_BITS, NOTIFICATION_BITS, SLOT_BITS, TCB_BITS};
use axolotl_kcore::{cdt, untyped};

const PAGE: u64 = PAGE_SIZE as u64;
/// Bound on the capabilities of one derivation tree (a walk past it is reported as a cycle).
const MAX_TREE_NODES: usize = 1 << 22;
/// Violations logged one by one; the rest are only counted.
const MAX_LOGGED: u64 = 16;

struct Report {
    violations: u64,
    caps: u64,
    untyped: u64,
    queued: u64,
    mappings: u64,
}

impl Report {
    fn violation(&mut self, what: core::fmt::Arguments) {
        self.violations += 1;
        if self.violations <= MAX_LOGGED {
            log::error!("invariant violated: {what}");
        }
    }
}

/// Runs every check and returns the reply words (see `axolotl_abi::invariants`).
pub fn check() -> [u64; RESULT_WORDS] {
    let mut r = Report {
        violations: 0,
        caps: 0,
        untyped: 0,
        queued: 0,
        mappings: 0,
    };
    let mut runnable = 0u64;
    for_each_cap(&mut r, |r, parent, node| {
        check_cap(r, parent, node, &mut runnable)
    });
    check_ready_queues(&mut r, runnable);
    check_page_tables(&mut r);
    log::info!(
        "invariants: {} violations; checked {} capabilities, {} untyped, {} queued threads, {} user mappings",
        r.violations,
        r.caps,
        r.untyped,
        r.queued,
        r.mappings
    );
    [r.violations, r.caps, r.untyped, r.queued, r.mappings]
}

/// Calls `f(report, parent, slot)` for every capability of every derivation tree rooted in the
/// root task's CNode. Returns false if a walk had to stop early.
fn for_each_cap(r: &mut Report, mut f: impl FnMut(&mut Report, Option<SlotPtr>, SlotPtr)) -> bool {
    let root_cnode = tcb_mut(kernel().root_task).cspace_root.cap;
    let Cap::CNode { radix, .. } = root_cnode else {
        r.violation(format_args!("the root task has no CNode"));
        return false;
    };
    let mut complete = true;
    for i in 0..1u64 << radix {
        let Ok(slot) = cnode_slot(root_cnode, i) else {
            continue;
        };
        let s = slot_ref(slot);
        if s.cap.is_null() || s.cdt.parent.is_some() {
            continue;
        }
        // Split borrows: the walk calls back into `f`, which records into `r`.
        let mut inner = Report {
            violations: 0,
            caps: 0,
            untyped: 0,
            queued: 0,
            mappings: 0,
        };
        let walked = cdt::walk_tree(&Slots, slot, MAX_TREE_NODES, |p, n| f(&mut inner, p, n));
        r.violations += inner.violations;
        r.caps += inner.caps;
        r.untyped += inner.untyped;
        if let Err(e) = walked {
            complete = false;
            r.violation(format_args!("derivation tree from root slot {i}: {e}"));
        }
    }
    complete
}

/// (physical base, size bits) of the memory an object capability names.
fn extent(cap: &Cap) -> Option<(u64, u32)> {
    Some(match *cap {
        Cap::Untyped { base, bits, .. } => (base, bits as u32),
        Cap::Endpoint { ep, .. } => (ep.as_ptr() as u64 - KERNEL_BASE, ENDPOINT_BITS),
        Cap::Notification { ntfn, .. } => (ntfn.as_ptr() as u64 - KERNEL_BASE, NOTIFICATION_BITS),
        Cap::Tcb { tcb } => (tcb.as_ptr() as u64 - KERNEL_BASE, TCB_BITS),
        Cap::CNode { base, radix } => {
            (base.as_ptr() as u64 - KERNEL_BASE, radix as u32 + SLOT_BITS)
        }
        Cap::Frame { paddr, .. } | Cap::PageTable { paddr, .. } | Cap::VSpace { paddr, .. } => {
            (paddr, 12)
        }
        Cap::TxRegion { region } => {
            // SAFETY: the capability keeps the region's header page alive; read only.
            let pages = unsafe { (*region.as_ptr()).pool_pages } + 1;
            (
                region.as_ptr() as u64 - KERNEL_BASE,
                (pages * PAGE).trailing_zeros(),
            )
        }
        Cap::Snapshot { snapshot } => {
            // SAFETY: the capability keeps the snapshot's header page alive; read only.
            let pages = unsafe { (*snapshot.as_ptr()).capacity } + 1;
            (
                snapshot.as_ptr() as u64 - KERNEL_BASE,
                (pages * PAGE).trailing_zeros(),
            )
        }
        _ => return None,
    })
}

fn check_cap(r: &mut Report, parent: Option<SlotPtr>, node: SlotPtr, runnable: &mut u64) {
    r.caps += 1;
    let s = slot_ref(node);
    if s.cap.is_null() {
        r.violation(format_args!(
            "empty slot {:#x} in a derivation tree",
            node.as_ptr() as u64
        ));
        return;
    }
    if let Err(e) = cdt::check_invariants(&Slots, core::iter::once(node)) {
        r.violation(format_args!(
            "{e} at slot {:#x} ({:?})",
            node.as_ptr() as u64,
            s.cap
        ));
    }
    if let Cap::Untyped {
        base, free, bits, ..
    } = s.cap
    {
        r.untyped += 1;
        if let Err(e) = untyped::check_untyped(base, bits as u32, free) {
            r.violation(format_args!("{e}: {:?}", s.cap));
        }
    }
    let Some(parent) = parent else {
        return;
    };
    let pcap = slot_ref(parent).cap;
    match pcap {
        Cap::Untyped { base, free, .. } => match extent(&s.cap) {
            Some((child_base, child_bits)) => {
                if let Err(e) = untyped::check_child(base, free, child_base, child_bits) {
                    r.violation(format_args!("{e}: {:?} from {:?}", s.cap, pcap));
                }
            }
            None => r.violation(format_args!("{:?} made from an Untyped", s.cap)),
        },
        _ => {
            let same = core::mem::discriminant(&pcap) == core::mem::discriminant(&s.cap)
                && pcap.object_id() == s.cap.object_id();
            if !same {
                r.violation(format_args!(
                    "{:?} derived from another object {:?}",
                    s.cap, pcap
                ));
            }
        }
    }
    // Per-object checks, once per object: at its original capability (child of an Untyped).
    if !matches!(pcap, Cap::Untyped { .. }) {
        return;
    }
    match s.cap {
        Cap::Tcb { tcb } if tcb_mut(tcb).is_runnable() && tcb != kernel().current => {
            *runnable += 1;
        }
        Cap::Endpoint { ep, .. } => {
            // SAFETY: the capability keeps the endpoint alive; read only.
            let queue = unsafe { &(*ep.as_ptr()).queue };
            match queue.check_invariants(&Tcbs) {
                Ok(_) => {
                    let mut cur = queue.front();
                    let mut steps = 0;
                    while let Some(t) = cur {
                        let ok = match tcb_mut(t).state {
                            ThreadState::BlockedOnSend(e) | ThreadState::BlockedOnRecv(e) => {
                                e == ep
                            }
                            _ => false,
                        };
                        if !ok {
                            r.violation(format_args!(
                                "thread {:#x} queued on endpoint {:#x} in state {:?}",
                                t.as_ptr() as u64,
                                ep.as_ptr() as u64,
                                tcb_mut(t).state
                            ));
                        }
                        steps += 1;
                        if steps > MAX_TREE_NODES {
                            break;
                        }
                        cur = axolotl_kcore::queue::Queue::next(&Tcbs, t);
                    }
                }
                Err(e) => r.violation(format_args!("endpoint {:#x}: {e}", ep.as_ptr() as u64)),
            }
        }
        _ => {}
    }
}

fn check_ready_queues(r: &mut Report, runnable: u64) {
    let k = kernel();
    match k.ready.check_invariants(&Tcbs) {
        Ok(n) => r.queued = n as u64,
        Err(e) => {
            r.violation(format_args!("ready queues: {e}"));
            return;
        }
    }
    for prio in 0..=255u8 {
        let mut cur = k.ready.queue(prio).front();
        while let Some(t) = cur {
            let tcb = tcb_mut(t);
            if !tcb.is_runnable() || tcb.priority != prio || t == k.current {
                r.violation(format_args!(
                    "thread {:#x} in ready queue {prio}: state {:?}, priority {}, current {}",
                    t.as_ptr() as u64,
                    tcb.state,
                    tcb.priority,
                    t == k.current
                ));
            }
            cur = axolotl_kcore::queue::Queue::next(&Tcbs, t);
        }
    }
    let queued = r.queued;
    if queued != runnable {
        r.violation(format_args!(
            "{queued} threads in ready queues but {runnable} runnable threads besides the current one"
        ));
    }
}

fn entries(paddr: u64) -> &'static [u64; 512] {
    // SAFETY: `paddr` is a page-table page reached from a live VSpace's tables, mapped in the
    // kernel window; read only, one kernel path at a time.
    unsafe { &*(phys_to_virt(paddr) as *const [u64; 512]) }
}

fn check_page_tables(r: &mut Report) {
    let k = kernel();
    let root_asid = tcb_mut(k.root_task).vspace().map(|(_, a)| a);
    let top_entries = (((USER_VADDR_LIMIT - 1) >> 39) & 0x1ff) as usize + 1;
    for asid in 1..<Cpu as Architecture>::NUM_ASIDS as u16 {
        let Some(root) = crate::vspace::asid_root(asid) else {
            continue;
        };
        for (i0, &e0) in entries(root).iter().enumerate().take(top_entries) {
            let Pte::Table(t1) = Cpu::pte_decode(e0, 0) else {
                continue;
            };
            for (i1, &e1) in entries(t1).iter().enumerate() {
                let t2 = match Cpu::pte_decode(e1, 1) {
                    Pte::Table(t) => t,
                    Pte::Page(p) => {
                        r.violation(format_args!("block mapping of {p:#x} in ASID {asid}"));
                        continue;
                    }
                    Pte::Invalid => continue,
                };
                for (i2, &e2) in entries(t2).iter().enumerate() {
                    let t3 = match Cpu::pte_decode(e2, 2) {
                        Pte::Table(t) => t,
                        Pte::Page(p) => {
                            r.violation(format_args!("block mapping of {p:#x} in ASID {asid}"));
                            continue;
                        }
                        Pte::Invalid => continue,
                    };
                    for (i3, &e3) in entries(t3).iter().enumerate() {
                        let Pte::Page(paddr) = Cpu::pte_decode(e3, 3) else {
                            continue;
                        };
                        let vaddr = ((i0 as u64) << 39)
                            | ((i1 as u64) << 30)
                            | ((i2 as u64) << 21)
                            | ((i3 as u64) << 12);
                        r.mappings += 1;
                        check_mapping(r, asid, Some(asid) == root_asid, vaddr, paddr);
                    }
                }
            }
        }
    }
}

fn check_mapping(r: &mut Report, asid: u16, is_root_task: bool, vaddr: u64, paddr: u64) {
    let k = kernel();
    let within = |(start, end): (u64, u64)| start <= paddr && paddr < end;
    if is_root_task && (within(k.boot_memory) || within(k.archive)) {
        return;
    }
    if paddr < k.kernel_end && !is_device_frame_mapping(asid, vaddr, paddr) {
        r.violation(format_args!(
            "ASID {asid} maps {vaddr:#x} to {paddr:#x}, below the end of the kernel image"
        ));
        return;
    }
    let mut covered = false;
    let mut scratch = Report {
        violations: 0,
        caps: 0,
        untyped: 0,
        queued: 0,
        mappings: 0,
    };
    for_each_cap(&mut scratch, |_, _, node| {
        if let Cap::Frame {
            paddr: p,
            vaddr: v,
            asid: a,
            ..
        } = slot_ref(node).cap
            && (p, v, a) == (paddr, vaddr, asid)
        {
            covered = true;
        }
    });
    if !covered {
        r.violation(format_args!(
            "ASID {asid} maps {vaddr:#x} to {paddr:#x}, which no Frame capability mapped there covers"
        ));
    }
}

/// Whether a Frame capability to device memory is mapped at (asid, vaddr) with `paddr` (device
/// registers may lie below the kernel image, e.g. the aarch64 UART at 0x0900_0000).
fn is_device_frame_mapping(asid: u16, vaddr: u64, paddr: u64) -> bool {
    let mut found = false;
    let mut scratch = Report {
        violations: 0,
        caps: 0,
        untyped: 0,
        queued: 0,
        mappings: 0,
    };
    for_each_cap(&mut scratch, |_, _, node| {
        if let Cap::Frame {
            paddr: p,
            vaddr: v,
            asid: a,
            device: true,
            ..
        } = slot_ref(node).cap
            && (p, v, a) == (paddr, vaddr, asid)
        {
            found = true;
        }
    });
    found
}
