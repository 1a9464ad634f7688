//! Concurrent snapshots of transactional regions (after the UESTC concurrent checkpoint): the
//! server keeps running while its region is copied, and a page about to be written is copied
//! first.
//!
//! A Snapshot object is one header page (this structure) followed by `2^size_bits / 4096 - 1`
//! page frames, all carved from one Untyped, so snapshot storage is bounded and accounted like
//! every other object. Frame `i` receives page `i` of the region (numbered through its ranges,
//! `axolotl_kcore::snapshot`).
//!
//! - **Begin** (`TxRegionSnapshotBegin`): the snapshot point is the region's last committed state.
//!   Every page of the region is marked "not yet copied". Pages the open transaction (if any) has
//!   dirtied are copied at once from their undo pre-images; every other page is write-protected
//!   (commit re-protects what it dirtied), so its first write traps. The thread's registers at
//!   its receive point are kept with the snapshot: the open request's checkpoint, or the
//!   registers it waits with between requests (a thread neither in a request nor waiting for one
//!   cannot be snapshotted: `IllegalOperation`). Cost: O(dirty pages), no page of
//!   the region is copied otherwise.
//! - **Copy-before-write**: the write-fault path ([`before_write`]) copies a not-yet-copied page
//!   into the snapshot before the transaction saves its pre-image and makes it writable: one page
//!   copy, O(1) lookup.
//! - **Step** (`TxRegionSnapshotStep`): the copier (a user-level thread, the supervisor) copies up
//!   to `max_pages` not-yet-copied pages per invocation and learns how many remain; the server
//!   runs between steps. The kernel is not preemptible, so `max_pages` bounds how long one step
//!   holds the CPU. When the last page is copied the snapshot is complete and the region no
//!   longer pays anything on its write faults.
//! - **Restore** (`TxRegionSnapshotRestore`): an open transaction is dropped (its caller answered
//!   with the given label), every page copied back, the registers reset to the snapshot's
//!   checkpoint, and the thread waits for its next request on its endpoint: the server is back
//!   at its state at the snapshot point. Like abort, this relies on the server's receive point
//!   being one place (the same stack frame) for every request.
//!
//! Pages of the stack wholly below the receive-time stack pointer are dead at the receive point;
//! a transaction leaves them writable without logging, so they may be copied in any state.
//!
//! A region has at most one snapshot in progress; a snapshot is of one region. Destroying either
//! cancels a copy in progress.

use crate::arch::{Architecture, Cpu, Pte, UserContext, phys_to_virt};
use crate::tcb::{ThreadState, tcb_mut};
use crate::txregion::{self, TxPtr, TxRegion, region};
use crate::vspace;
use axolotl_abi::invocation::{
    SNAPSHOT_CANCELLED, SNAPSHOT_COMPLETE, SNAPSHOT_EMPTY, SNAPSHOT_IN_PROGRESS,
};
use axolotl_abi::{Error, PAGE_SIZE};
use axolotl_kcore::snapshot::{self as pages, PageBitmap};
use axolotl_kcore::undo::Ranges;
use core::ptr::NonNull;

const PAGE: u64 = PAGE_SIZE as u64;
/// Bitmap words: room for the 1023 frames of the largest Snapshot object.
const BITMAP_WORDS: usize = 16;

/// The header page of a Snapshot object.
#[repr(C)]
pub struct Snapshot {
    /// One of `SNAPSHOT_EMPTY`, `_IN_PROGRESS`, `_COMPLETE`, `_CANCELLED`.
    pub state: u64,
    /// The region it was (is being) taken of.
    pub source: Option<TxPtr>,
    /// The region's ranges at the snapshot point (restore needs the same layout).
    pub ranges: Ranges<4>,
    /// Physical address of frame 0; there are `capacity` frames.
    pub frames: u64,
    pub capacity: u64,
    /// Pages not yet copied.
    pub pending: PageBitmap<BITMAP_WORDS>,
    /// Pages that were mapped (and transactional) when copied: restore writes only these.
    pub present: PageBitmap<BITMAP_WORDS>,
    /// The bound thread's registers at its receive point.
    pub checkpoint: UserContext,
    pub commits_at_point: u64,
    pub commits_at_complete: u64,
    /// Pages copied by the write-fault path rather than by the copier.
    pub copied_before_write: u64,
}

const _: () = assert!(core::mem::size_of::<Snapshot>() <= PAGE_SIZE);
const _: () = assert!(
    PageBitmap::<BITMAP_WORDS>::CAPACITY as u64
        >= (1u64 << axolotl_abi::object::SNAPSHOT_MAX_BITS) / PAGE - 1
);

pub type SnapPtr = NonNull<Snapshot>;

#[allow(clippy::mut_from_ref)]
fn snap(s: SnapPtr) -> &'static mut Snapshot {
    // SAFETY: Snapshot pointers come from capabilities (or a region's in-progress link, cleared
    // when either object is destroyed); the header page is in the kernel window; one kernel path
    // at a time.
    unsafe { &mut *s.as_ptr() }
}

/// Initialises a new snapshot of `2^bits` bytes at `paddr` (memory already zeroed).
pub fn make(paddr: u64, bits: u32) -> SnapPtr {
    let s = NonNull::new(phys_to_virt(paddr) as *mut Snapshot).expect("kernel window address");
    let h = snap(s);
    h.state = SNAPSHOT_EMPTY;
    h.source = None;
    h.ranges = Ranges::new();
    h.frames = paddr + PAGE;
    h.capacity = (1u64 << bits) / PAGE - 1;
    h.pending = PageBitmap::new();
    h.present = PageBitmap::new();
    h.checkpoint = UserContext::new_user(0, 0);
    h.commits_at_point = 0;
    h.commits_at_complete = 0;
    h.copied_before_write = 0;
    s
}

/// The frame of the region's leaf entry for `page`, if it is a mapped transactional page.
fn region_frame(reg: &TxRegion, page: u64) -> Option<u64> {
    let pte = vspace::leaf_entry(reg.root, page)?;
    match Cpu::pte_decode(*pte, vspace::LEVELS - 1) {
        Pte::Page(frame) if *pte & Cpu::PTE_TX != 0 => Some(frame),
        _ => None,
    }
}

/// Whether the region's address space still exists (its pages can be walked).
fn space_alive(reg: &TxRegion) -> bool {
    reg.asid != 0 && vspace::asid_root(reg.asid) == Some(reg.root)
}

/// Copies `[from, 4096)` of the page at physical `src` into frame `index` of the snapshot.
fn copy_in(h: &Snapshot, index: usize, src: u64, from: usize) {
    // SAFETY: frame `index` < capacity of this snapshot's own storage and a page of the region's
    // address space (or an undo frame of its pool): distinct whole pages in the kernel window.
    unsafe {
        Cpu::copy_page(
            phys_to_virt(h.frames + index as u64 * PAGE),
            phys_to_virt(src),
            from,
        )
    };
}

/// Marks the snapshot of `reg` complete if nothing is left to copy.
fn finish_if_done(reg: &mut TxRegion, h: &mut Snapshot) {
    if h.pending.count() == 0 {
        h.state = SNAPSHOT_COMPLETE;
        h.commits_at_complete = reg.commits;
        reg.snapshot = None;
    }
}

/// `TxRegionSnapshotBegin`: takes a snapshot of `r` into `s` at the region's last committed
/// state. Returns (region pages, commits at the snapshot point).
pub fn begin(r: TxPtr, s: SnapPtr) -> Result<[u64; 2], Error> {
    let reg = region(r);
    let h = snap(s);
    if h.state == SNAPSHOT_IN_PROGRESS || reg.snapshot.is_some() {
        return Err(Error::IllegalOperation);
    }
    // A receive point to come back to: the region has served a request.
    let Some(t) = reg.bound else {
        return Err(Error::IllegalOperation);
    };
    if reg.request_ep.is_none() || !space_alive(reg) {
        return Err(Error::IllegalOperation);
    }
    // The registers at the receive point after the last commit: those the open request was
    // delivered into, or, between requests, the thread's own while it waits for the next one
    // (the last checkpoint would hold the registers of the request before, not after, it).
    let receive_point = if reg.active {
        reg.checkpoint
    } else if matches!(tcb_mut(t).state, ThreadState::BlockedOnRecv(_)) {
        tcb_mut(t).ctx
    } else {
        return Err(Error::IllegalOperation);
    };
    let count = pages::total_pages(&reg.ranges);
    if count as u64 > h.capacity {
        return Err(Error::RangeError);
    }
    if !reg.active {
        // Writes since the last commit (between a reply and the next receive) are committed
        // state: protect those pages again so that their next write traps.
        txregion::commit_log(reg);
    }
    h.state = SNAPSHOT_IN_PROGRESS;
    h.source = Some(r);
    h.ranges = reg.ranges;
    h.pending = PageBitmap::with_len(count, true);
    h.present = PageBitmap::with_len(count, false);
    h.checkpoint = receive_point;
    h.commits_at_point = reg.commits;
    h.commits_at_complete = 0;
    h.copied_before_write = 0;
    // Pages the open transaction dirtied: their committed contents are the pre-images.
    if reg.active {
        for (i, e) in reg.log.entries().iter().enumerate() {
            if let Some(index) = pages::page_index(&h.ranges, e.vaddr)
                && h.pending.clear(index)
            {
                if (e.offset as usize) < PAGE_SIZE {
                    copy_in(h, index, reg.pool + i as u64 * PAGE, e.offset as usize);
                }
                h.present.set(index);
            }
        }
    }
    reg.snapshot = Some(s);
    finish_if_done(reg, h);
    Ok([count as u64, h.commits_at_point])
}

/// Called by the write-fault path before the first write to the protected page at `page`
/// (physical `frame`) of `reg`: copies it into the snapshot in progress if it is not copied yet.
pub fn before_write(reg: &mut TxRegion, page: u64, frame: u64) {
    let Some(s) = reg.snapshot else {
        return;
    };
    let h = snap(s);
    if let Some(index) = pages::page_index(&h.ranges, page)
        && h.pending.clear(index)
    {
        copy_in(h, index, frame, 0);
        h.present.set(index);
        h.copied_before_write += 1;
        finish_if_done(reg, h);
    }
}

/// `TxRegionSnapshotStep`: copies up to `max_pages` pages of the snapshot in progress. Returns
/// (pages copied, pages still to copy); (0, 0) when no snapshot is in progress.
pub fn step(r: TxPtr, max_pages: u64) -> Result<[u64; 2], Error> {
    let reg = region(r);
    let Some(s) = reg.snapshot else {
        return Ok([0, 0]);
    };
    let h = snap(s);
    if !space_alive(reg) {
        return Err(Error::IllegalOperation);
    }
    let mut copied = 0;
    let mut at = 0;
    while copied < max_pages {
        let Some(index) = h.pending.next_set(at) else {
            break;
        };
        at = index + 1;
        h.pending.clear(index);
        let page = pages::page_address(&h.ranges, index).unwrap_or(0);
        if let Some(frame) = region_frame(reg, page) {
            copy_in(h, index, frame, 0);
            h.present.set(index);
        }
        copied += 1;
    }
    let remaining = h.pending.count() as u64;
    finish_if_done(reg, h);
    Ok([copied, remaining])
}

/// `TxRegionSnapshotRestore`: puts the complete snapshot `s` back into `r` and leaves the bound
/// thread waiting for its next request at the snapshot's receive point. An open request is
/// answered with `reply_label`. Returns the pages restored.
pub fn restore(r: TxPtr, s: SnapPtr, reply_label: u64) -> Result<u64, Error> {
    let reg = region(r);
    let h = snap(s);
    if h.state != SNAPSHOT_COMPLETE {
        return Err(Error::IllegalOperation);
    }
    if h.source != Some(r) || !pages::same_layout(&h.ranges, &reg.ranges) {
        return Err(Error::InvalidArgument);
    }
    let Some(t) = reg.bound else {
        return Err(Error::IllegalOperation);
    };
    if t == crate::state::kernel().current || !space_alive(reg) {
        return Err(Error::IllegalOperation);
    }
    let Some(ep) = reg.request_ep else {
        return Err(Error::IllegalOperation);
    };
    // A copy in progress would miss the writes below: it is cancelled.
    if let Some(other) = reg.snapshot.take() {
        snap(other).state = SNAPSHOT_CANCELLED;
    }
    txregion::stop_for_restore(r, reply_label);
    let mut restored = 0;
    let mut at = 0;
    while let Some(index) = h.present.next_set(at) {
        at = index + 1;
        let page = pages::page_address(&h.ranges, index).unwrap_or(0);
        if let Some(frame) = region_frame(reg, page) {
            // SAFETY: as in `copy_in`, in the other direction.
            unsafe {
                Cpu::copy_page(
                    phys_to_virt(frame),
                    phys_to_virt(h.frames + index as u64 * PAGE),
                    0,
                )
            };
            restored += 1;
        }
    }
    txregion::resume_at(t, h.checkpoint, ep);
    Ok(restored)
}

/// `SnapshotStatus`: (state, region pages, pages still to copy, commits at the point, commits
/// when complete, pages copied before a write).
pub fn status(s: SnapPtr) -> [u64; 6] {
    let h = snap(s);
    [
        h.state,
        h.pending.len() as u64,
        h.pending.count() as u64,
        h.commits_at_point,
        h.commits_at_complete,
        h.copied_before_write,
    ]
}

/// The snapshot's last capability is gone: a copy in progress stops.
pub fn destroy(s: SnapPtr) {
    let h = snap(s);
    if h.state == SNAPSHOT_IN_PROGRESS
        && let Some(r) = h.source
    {
        let reg = region(r);
        if reg.snapshot == Some(s) {
            reg.snapshot = None;
        }
    }
    h.state = SNAPSHOT_CANCELLED;
    h.source = None;
}

/// The region `reg` is being destroyed: its copy in progress, if any, is cancelled.
pub fn region_destroyed(reg: &mut TxRegion) {
    if let Some(s) = reg.snapshot.take() {
        let h = snap(s);
        h.state = SNAPSHOT_CANCELLED;
        h.source = None;
    }
}
