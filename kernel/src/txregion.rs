//! Transactional memory regions: every request a server handles is a transaction over its
//! writable memory.
//!
//! A TxRegion object is one header page (this structure) followed by a pool of undo frames, all
//! carved from one Untyped, so the cost of a transaction is bounded and accounted. The region
//! covers up to four address ranges of one address space (data, heap, stack); `add_range`
//! write-protects every writable page in them and marks it with the architecture's software
//! "transactional" PTE bit. A TCB bound to the region (`TcbBindTxRegion`) runs its requests as
//! transactions:
//!
//! - **begin**: when a message is delivered to the thread, its registers (with the request in its
//!   message registers) become the checkpoint;
//! - **first write** to a protected page traps; [`write_fault`] saves the pre-image into the next
//!   undo frame (for the page holding the checkpoint's stack pointer, only the live part above
//!   it; stack wholly below it is dead at the receive point and is simply made writable) and makes
//!   the page writable;
//! - **commit**: the thread's reply, or its next receive: the dirtied pages are write-protected
//!   again (O(dirty pages)) and the log dropped;
//! - **abort** (`TxRegionAbort`, decided by the supervisor after a fault or a missed time budget):
//!   pre-images are copied back newest first, the registers reset to the checkpoint, and the
//!   thread waits for its next request; the caller gets a reply with the supervisor's label, or
//!   its request is queued again at the head of the endpoint (re-delivery).
//!
//! Calls the server made to other servers during the transaction are not undone: the boundary is
//! this server's memory and registers. The IPC buffer and device or shared pages are never in a
//! region.

use crate::arch::{Architecture, Cpu, Pte, UserContext, phys_to_virt};
use crate::object::Endpoint;
use crate::sched::{self, Tcbs};
use crate::tcb::{TcbPtr, ThreadState, tcb_mut};
use crate::vspace;
use axolotl_abi::invocation::TX_ABORT_REDELIVER;
use axolotl_abi::{Error, MessageInfo, PAGE_SIZE};
use axolotl_kcore::undo::{self, Ranges, UndoEntry, UndoLog};
use axolotl_kcore::verify::{Digest, DualRun, Verdict};
use core::ptr::NonNull;

const PAGE: u64 = PAGE_SIZE as u64;
/// The most pages one transaction can dirty (bounded also by the region's pool).
pub const LOG_CAPACITY: usize = 100;

/// The header page of a TxRegion object.
#[repr(C)]
pub struct TxRegion {
    /// The bound thread's registers when the current request was delivered.
    pub checkpoint: UserContext,
    pub root: u64,
    pub asid: u16,
    pub ranges: Ranges<4>,
    /// The stack range, `(0, 0)` if none was added.
    pub stack: (u64, u64),
    pub bound: Option<TcbPtr>,
    /// A transaction is open (a request was delivered and not yet answered).
    pub active: bool,
    pub request_ep: Option<NonNull<Endpoint>>,
    pub request_badge: u64,
    pub request_info: u64,
    /// Physical address of undo frame 0; the pool has `pool_pages` frames.
    pub pool: u64,
    pub pool_pages: u64,
    pub commits: u64,
    pub aborts: u64,
    /// Counter ticks a request may run (0: no budget), and when the open one began.
    pub budget: u64,
    pub began: u64,
    pub log: UndoLog<LOG_CAPACITY>,
    /// The snapshot being copied, if any (`crate::snapshot`).
    pub snapshot: Option<crate::snapshot::SnapPtr>,
    /// Verified transactions (`TxRegionSetVerify`): every request runs twice ([`verify`]).
    pub verify: bool,
    pub dual: DualRun,
    /// The lowest stack page below a receive-time stack pointer that a request ever wrote (0:
    /// none): dead stack is writable for good once written, and what lies below this page was
    /// never written by a request, so the scrub before each verified run stops here.
    pub dead_low: u64,
}

const _: () = assert!(core::mem::size_of::<TxRegion>() <= PAGE_SIZE);

pub type TxPtr = NonNull<TxRegion>;

/// The region named by a live capability or binding.
#[allow(clippy::mut_from_ref)]
pub fn region(r: TxPtr) -> &'static mut TxRegion {
    // SAFETY: TxRegion pointers come from capabilities (or a TCB's binding, cleared when the
    // region is destroyed); the header page is in the kernel window; one kernel path at a time.
    unsafe { &mut *r.as_ptr() }
}

/// Initialises a new region of `2^bits` bytes at `paddr` (memory already zeroed).
pub fn make(paddr: u64, bits: u32) -> TxPtr {
    let r = NonNull::new(phys_to_virt(paddr) as *mut TxRegion).expect("kernel window address");
    let reg = region(r);
    reg.checkpoint = UserContext::new_user(0, 0);
    reg.root = 0;
    reg.asid = 0;
    reg.ranges = Ranges::new();
    reg.stack = (0, 0);
    reg.bound = None;
    reg.active = false;
    reg.request_ep = None;
    reg.request_badge = 0;
    reg.request_info = 0;
    reg.pool = paddr + PAGE;
    reg.pool_pages = (1u64 << bits) / PAGE - 1;
    reg.commits = 0;
    reg.aborts = 0;
    reg.budget = 0;
    reg.began = 0;
    reg.log = UndoLog::new();
    reg.snapshot = None;
    reg.verify = false;
    reg.dual = DualRun::new();
    reg.dead_low = 0;
    r
}

/// Adds `[start, end)` of the address space `(root, asid)` to the region and write-protects the
/// writable pages mapped there.
pub fn add_range(
    r: TxPtr,
    root: u64,
    asid: u16,
    start: u64,
    end: u64,
    stack: bool,
) -> Result<u64, Error> {
    let reg = region(r);
    if reg.asid != 0 && reg.asid != asid {
        return Err(Error::InvalidArgument);
    }
    if stack && reg.stack != (0, 0) {
        return Err(Error::IllegalOperation);
    }
    reg.ranges
        .add(start, end, crate::arch::USER_VADDR_LIMIT)
        .map_err(|e| match e {
            undo::RangeError::Misaligned => Error::AlignmentError,
            undo::RangeError::OutOfRange => Error::RangeError,
            undo::RangeError::Overlaps | undo::RangeError::TooMany => Error::IllegalOperation,
        })?;
    reg.root = root;
    reg.asid = asid;
    if stack {
        reg.stack = (start, end);
    }
    let mut protected = 0;
    for page in (start..end).step_by(PAGE as usize) {
        if let Some(pte) = vspace::leaf_entry(root, page)
            && matches!(Cpu::pte_decode(*pte, vspace::LEVELS - 1), Pte::Page(_))
            && Cpu::pte_is_writable(*pte)
            && !Cpu::pte_is_device(*pte)
        {
            *pte = Cpu::pte_with_write(*pte, false) | Cpu::PTE_TX;
            protected += 1;
        }
    }
    Cpu::flush_asid(asid);
    Ok(protected)
}

/// Binds `t` to the region (or unbinds it with `None`).
pub fn bind(t: TcbPtr, r: Option<TxPtr>) -> Result<(), Error> {
    let tcb = tcb_mut(t);
    if let Some(new) = r
        && region(new).bound.is_some_and(|b| b != t)
    {
        return Err(Error::IllegalOperation);
    }
    if let Some(old) = tcb.tx.take() {
        let reg = region(old);
        commit(reg);
        reg.bound = None;
    }
    if let Some(new) = r {
        region(new).bound = Some(t);
        tcb.tx = Some(new);
    }
    Ok(())
}

/// A request was delivered to `t` (already in its registers) from `ep` with `badge`.
#[inline(always)]
pub fn begin(t: TcbPtr, ep: NonNull<Endpoint>, badge: u64) {
    if let Some(r) = tcb_mut(t).tx {
        begin_in(t, r, ep, badge);
    }
}

#[inline(never)]
fn begin_in(t: TcbPtr, r: TxPtr, ep: NonNull<Endpoint>, badge: u64) {
    let tcb = tcb_mut(t);
    let reg = region(r);
    if !reg.log.is_empty() {
        commit(reg);
    }
    copy_context(&mut reg.checkpoint, &tcb.ctx);
    reg.active = true;
    reg.request_ep = Some(ep);
    reg.request_badge = badge;
    reg.request_info = tcb.ctx.info();
    if reg.budget != 0 || reg.verify {
        reg.began = Cpu::read_counter();
    }
    if reg.verify {
        reg.dual.begin();
        scrub_dead_stack(reg);
        // Time is an input of the request: both runs see the time of its delivery.
        if let Some(buf) = tcb.ipc_buffer() {
            buf.request_time = reg.began;
        }
    }
}

/// `*dst = *src`, without a call to `memmove`: the checkpoint is taken on every request, and the
/// generic copy costs about as much again as the rest of `begin`. Sixteen bytes per step, fully
/// unrolled (a pair of registers per load and store on aarch64).
#[inline(always)]
fn copy_context(dst: &mut UserContext, src: &UserContext) {
    const PAIRS: usize = core::mem::size_of::<UserContext>() / 16;
    const _: () = assert!(core::mem::size_of::<UserContext>().is_multiple_of(16));
    const _: () = assert!(PAIRS <= 24);
    let (d, s) = (
        (dst as *mut UserContext).cast::<[u64; 2]>(),
        (src as *const UserContext).cast::<[u64; 2]>(),
    );
    macro_rules! step {
        ($($i:literal)*) => {$(
            if $i < PAIRS {
                // SAFETY: both pointers come from references to whole `UserContext`s, which are
                // `PAIRS` 16-byte steps long, 8-byte aligned and distinct (a TCB and a region
                // header); volatile keeps the compiler from turning the steps back into a call.
                unsafe { d.add($i).write_volatile(s.add($i).read_volatile()) };
            }
        )*};
    }
    step!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);
}

/// Ends the open transaction of `t`, if any, keeping its writes.
#[inline(always)]
pub fn commit_thread(t: TcbPtr) {
    if let Some(r) = tcb_mut(t).tx {
        commit_region(r);
    }
}

#[inline(never)]
fn commit_region(r: TxPtr) {
    let reg = region(r);
    if reg.active || !reg.log.is_empty() {
        commit(reg);
    }
}

/// Write-protects a logged page again.
fn reprotect(asid: u16, e: &UndoEntry) {
    // SAFETY: `e.pte` is the leaf entry of a page of this region's address space, recorded in
    // this transaction; page tables of a live VSpace stay in place while it is mapped.
    unsafe {
        let pte = e.pte as *mut u64;
        *pte = Cpu::pte_with_write(*pte, false);
    }
    Cpu::flush_page(asid, e.vaddr);
}

/// Outside a transaction: write-protects the pages written since the last commit (a server's
/// start-up, or between a reply and its next receive), so that their next write traps.
pub fn commit_log(reg: &mut TxRegion) {
    if !reg.active && !reg.log.is_empty() {
        commit(reg);
    }
}

fn commit(reg: &mut TxRegion) {
    for e in reg.log.entries() {
        reprotect(reg.asid, e);
    }
    if reg.active {
        reg.commits += 1;
    }
    reg.log.clear();
    reg.active = false;
}

/// What a write fault in a region came to.
pub enum WriteFault {
    /// Not a transactional page: an ordinary fault.
    NotOurs,
    /// The pre-image is saved and the page writable: resume the thread.
    Resolved,
    /// The undo pool is full: the transaction must be aborted.
    PoolExhausted,
}

/// Handles a write fault of `t` at `addr` on a mapped page.
pub fn write_fault(t: TcbPtr, addr: u64) -> WriteFault {
    let Some(r) = tcb_mut(t).tx else {
        return WriteFault::NotOurs;
    };
    save_page(region(r), addr & !(PAGE - 1))
}

/// Saves the pre-image of a protected page of the region (as much as the transaction needs) and
/// makes it writable.
fn save_page(reg: &mut TxRegion, page: u64) -> WriteFault {
    if !reg.ranges.contains(page) {
        return WriteFault::NotOurs;
    }
    let Some(pte) = vspace::leaf_entry(reg.root, page) else {
        return WriteFault::NotOurs;
    };
    let Pte::Page(frame) = Cpu::pte_decode(*pte, vspace::LEVELS - 1) else {
        return WriteFault::NotOurs;
    };
    if *pte & Cpu::PTE_TX == 0 || Cpu::pte_is_writable(*pte) {
        return WriteFault::NotOurs;
    }
    // A snapshot being copied gets the page before anything writes it.
    crate::snapshot::before_write(reg, page, frame);
    let offset = if reg.active {
        undo::save_from(page, reg.checkpoint.sp, reg.stack.0, reg.stack.1)
    } else {
        // Outside a transaction (the server's start-up): nothing to save, but re-protect the page
        // when the server next waits for a request.
        Some(PAGE as u16)
    };
    match offset {
        // Dead stack below the receive point: writable for good.
        None => {
            if reg.dead_low == 0 || page < reg.dead_low {
                reg.dead_low = page;
            }
        }
        Some(offset) => {
            let entry = UndoEntry {
                vaddr: page,
                frame,
                pte: pte as *mut u64 as u64,
                offset,
            };
            let index = match reg.log.record(reg.pool_pages as usize, entry) {
                Ok(i) => i,
                Err(_) if !reg.active => {
                    commit(reg);
                    match reg.log.record(reg.pool_pages as usize, entry) {
                        Ok(i) => i,
                        Err(_) => return WriteFault::PoolExhausted,
                    }
                }
                Err(_) => return WriteFault::PoolExhausted,
            };
            if (offset as usize) < PAGE_SIZE {
                // SAFETY: an undo frame of this region's pool and a page of its address space:
                // distinct whole pages in the kernel window.
                unsafe {
                    Cpu::copy_page(
                        phys_to_virt(reg.pool + index as u64 * PAGE),
                        phys_to_virt(frame),
                        offset as usize,
                    )
                };
            }
        }
    }
    *pte = Cpu::pte_with_write(*pte, true);
    Cpu::flush_page(reg.asid, page);
    WriteFault::Resolved
}

/// Aborts the bound thread's transaction: restores its pages and registers, answers or re-queues
/// the request, and leaves the thread waiting for its next request. Returns the pages restored.
pub fn abort(r: TxPtr, flags: u64, reply_label: u64) -> Result<u64, Error> {
    let reg = region(r);
    let Some(t) = reg.bound else {
        return Err(Error::IllegalOperation);
    };
    if !reg.active {
        return Err(Error::IllegalOperation);
    }
    // Take the thread out of whatever it was doing (waiting for its fault handler's reply, a
    // nested call, or running); keep its reply right.
    let caller = tcb_mut(t).caller.take();
    sched::suspend(t);
    let restored = reg.log.len() as u64;
    restore_log(reg);
    reg.active = false;
    reg.aborts += 1;
    crate::inject::thread_reset(t);
    let tcb = tcb_mut(t);
    tcb.ctx = reg.checkpoint;
    tcb.fault = None;
    let ep = reg.request_ep;
    if let Some(c) = caller {
        let ct = tcb_mut(c);
        ct.reply_to = None;
        match ep {
            Some(ep) if flags & TX_ABORT_REDELIVER != 0 => {
                // The caller's message is still in its registers and buffer: it calls again.
                ct.state = ThreadState::BlockedOnSend(ep);
                ct.pending = crate::tcb::PendingSend {
                    badge: reg.request_badge,
                    is_call: true,
                    can_grant: false,
                };
                // SAFETY: the endpoint the request came from; a queued request keeps it alive
                // (deleting its last capability empties the queue).
                unsafe { (*ep.as_ptr()).queue.push_front(&mut Tcbs, c) };
            }
            _ => answer(c, reply_label),
        }
    }
    // Back at its receive point, waiting for the next request.
    if let Some(ep) = ep {
        crate::ipc::receive(t, ep, true);
    }
    Ok(restored)
}

/// Answers a caller whose request will never be: a reply with `label` and no words.
fn answer(c: TcbPtr, label: u64) {
    let ct = tcb_mut(c);
    ct.reply_to = None;
    ct.ctx.set_badge(0);
    ct.ctx.set_info(MessageInfo::new(label, 0, 0).0);
    ct.ctx.set_status(0);
    sched::wake(c);
}

/// Stops the bound thread of `r` for a restore from a snapshot: an open transaction is dropped
/// (counted as an abort; its pages are about to be overwritten, so only re-protected) and its
/// caller answered with `reply_label`.
pub fn stop_for_restore(r: TxPtr, reply_label: u64) {
    let reg = region(r);
    let Some(t) = reg.bound else {
        return;
    };
    let caller = tcb_mut(t).caller.take();
    sched::suspend(t);
    for e in reg.log.entries() {
        reprotect(reg.asid, e);
    }
    reg.log.clear();
    if reg.active {
        reg.aborts += 1;
    }
    reg.active = false;
    if let Some(c) = caller {
        answer(c, reply_label);
    }
}

/// Restarts the stopped thread `t` with registers `ctx` (its receive point) waiting for a
/// request on `ep`.
pub fn resume_at(t: TcbPtr, ctx: UserContext, ep: NonNull<Endpoint>) {
    let tcb = tcb_mut(t);
    tcb.ctx = ctx;
    tcb.fault = None;
    crate::ipc::receive(t, ep, true);
}

/// Turns verified transactions on or off (takes effect at the next request).
pub fn set_verify(r: TxPtr, on: bool) {
    let reg = region(r);
    reg.verify = on;
    reg.dual.end();
}

/// `TxVerify` from `t`, whose request produced a reply with digest `reply`: the first run is
/// rewound and runs again, the second is compared with it (see `axolotl_kcore::verify`).
pub fn verify(t: TcbPtr, reply: u64) -> Result<(), Error> {
    let r = tcb_mut(t).tx.ok_or(Error::IllegalOperation)?;
    let reg = region(r);
    if !reg.verify || !reg.active || reg.bound != Some(t) {
        return Err(Error::IllegalOperation);
    }
    let digest = run_digest(reg, reply);
    match reg.dual.check(digest) {
        Verdict::Refused => Err(Error::IllegalOperation),
        Verdict::Agree => Ok(()),
        Verdict::Rerun => {
            rewind(reg);
            redeliver_words(t, MessageInfo(reg.request_info).length());
            let tcb = tcb_mut(t);
            tcb.ctx = reg.checkpoint;
            Ok(())
        }
        Verdict::Disagree { first, second } => {
            let pc = tcb_mut(t).ctx.pc;
            crate::ipc::raise_fault(
                t,
                crate::tcb::Fault {
                    kind: axolotl_abi::FaultKind::TxVerifyMismatch,
                    words: [pc, first, second, 0],
                },
            );
            Ok(())
        }
    }
}

/// The first run wrote its reply over the request's words in the IPC buffer: copies them again
/// from the caller's buffer (it waits in its `Call`, its message unchanged, as for a
/// re-delivery). The words in CPU registers come back with the checkpoint.
fn redeliver_words(t: TcbPtr, length: usize) {
    use axolotl_abi::message::{MSG_MAX_LENGTH, MSG_REGISTERS_IN_CPU};
    let n = length.min(MSG_MAX_LENGTH);
    if n <= MSG_REGISTERS_IN_CPU {
        return;
    }
    let Some(c) = tcb_mut(t).caller else { return };
    if let (Some(s), Some(r)) = (tcb_mut(c).ipc_buffer(), tcb_mut(t).ipc_buffer()) {
        r.msg[MSG_REGISTERS_IN_CPU..n].copy_from_slice(&s.msg[MSG_REGISTERS_IN_CPU..n]);
    }
}

/// The digest of one run: the reply's, then every page the transaction dirtied (address, and
/// its contents from the entry's offset: dead stack below the receive-time stack pointer is
/// not part of the result).
fn run_digest(reg: &TxRegion, reply: u64) -> u64 {
    let mut d = Digest::new();
    d.word(reply);
    for e in reg.log.entries() {
        d.word(e.vaddr);
        let from = (e.offset as usize).min(PAGE_SIZE);
        // SAFETY: `e.frame` is a page of this region's address space recorded in this
        // transaction, in the kernel window; nothing writes it while the kernel runs.
        let page = unsafe {
            core::slice::from_raw_parts(
                phys_to_virt(e.frame + from as u64) as *const u8,
                PAGE_SIZE - from,
            )
        };
        d.bytes(page);
    }
    d.word(reg.log.len() as u64);
    d.finish()
}

/// Copies every pre-image back, newest first, write-protects the pages again and empties the
/// log: the transaction's memory is as it was when its request was delivered.
fn restore_log(reg: &mut TxRegion) {
    for (i, e) in reg.log.entries().iter().enumerate().rev() {
        if (e.offset as usize) < PAGE_SIZE {
            // SAFETY: as in `write_fault`, in the other direction.
            unsafe {
                Cpu::copy_page(
                    phys_to_virt(e.frame),
                    phys_to_virt(reg.pool + i as u64 * PAGE),
                    e.offset as usize,
                )
            };
        }
        reprotect(reg.asid, e);
    }
    reg.log.clear();
}

/// The end of a verified request's first run: its memory goes back to the delivery point (its
/// pages re-protected, so the second run logs them again in its own order) and the dead stack is
/// zeroed as it was for the first run.
fn rewind(reg: &mut TxRegion) {
    restore_log(reg);
    scrub_dead_stack(reg);
}

/// Zeroes the region's stack below the checkpoint's stack pointer. That stack is dead at the
/// receive point, but a run may still copy bytes of it into live data (the uninitialised tail of
/// a fixed-capacity buffer moved whole); both runs of a verified request start with it zeroed,
/// so they copy the same bytes. Only down to the lowest page a request ever wrote
/// (`dead_low`): the pages below were not written since the server started, so no run changes
/// them and both runs read the same bytes there.
fn scrub_dead_stack(reg: &TxRegion) {
    let (lo, hi) = reg.stack;
    let sp = reg.checkpoint.sp;
    if lo >= hi || sp <= lo || sp > hi {
        return;
    }
    // Before any request wrote dead stack, all of it (start-up may have written it).
    let from = if reg.dead_low > lo && reg.dead_low < sp {
        reg.dead_low
    } else {
        lo
    };
    for page in (from..sp).step_by(PAGE as usize) {
        let Some(pte) = vspace::leaf_entry(reg.root, page) else {
            continue;
        };
        // Only the region's own pages (tagged when the range was added), never a device.
        if *pte & Cpu::PTE_TX == 0 || Cpu::pte_is_device(*pte) {
            continue;
        }
        let Pte::Page(frame) = Cpu::pte_decode(*pte, vspace::LEVELS - 1) else {
            continue;
        };
        let len = (sp - page).min(PAGE) as usize;
        // SAFETY: a mapped page of this region's stack, in the kernel window; only its part
        // below the checkpoint's stack pointer (dead at the receive point) is written.
        unsafe { core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, len) };
    }
}

/// Sets the time budget of each request, in counter ticks (0: none).
pub fn set_budget(r: TxPtr, ticks: u64) {
    region(r).budget = ticks;
}

/// Called on every kernel timer tick for the running thread: how long its open transaction has
/// run, if that is past its budget.
pub fn over_budget(t: TcbPtr) -> Option<u64> {
    let reg = region(tcb_mut(t).tx?);
    if !reg.active || reg.budget == 0 {
        return None;
    }
    let ran = Cpu::read_counter().wrapping_sub(reg.began);
    (ran > reg.budget).then_some(ran)
}

/// (in transaction, dirty pages, request label, request badge, commits, aborts)
pub fn status(r: TxPtr) -> [u64; 6] {
    let reg = region(r);
    [
        reg.active as u64,
        reg.log.len() as u64,
        MessageInfo(reg.request_info).label(),
        reg.request_badge,
        reg.commits,
        reg.aborts,
    ]
}

/// The region's last capability is gone: keep the open transaction's writes, unbind the thread,
/// and give its pages back their write permission.
pub fn destroy(r: TxPtr) {
    let reg = region(r);
    crate::snapshot::region_destroyed(reg);
    commit(reg);
    if let Some(t) = reg.bound.take() {
        tcb_mut(t).tx = None;
    }
    if vspace::asid_root(reg.asid) != Some(reg.root) {
        return;
    }
    for &(start, end) in reg.ranges.as_slice() {
        for page in (start..end).step_by(PAGE as usize) {
            if let Some(pte) = vspace::leaf_entry(reg.root, page)
                && *pte & Cpu::PTE_TX != 0
            {
                *pte = Cpu::pte_with_write(*pte & !Cpu::PTE_TX, true);
            }
        }
    }
    Cpu::flush_asid(reg.asid);
}
