//! Multi-threaded servers and wait-free code-only patches (after WfPatch, PLOS'19), served as
//! `patch::v1` by the supervisor.
//!
//! **Threads.** A server with `threads = N` gets N-1 worker threads besides its main thread, in
//! the same CSpace and VSpace, each in its own window of the address space
//! (`axolotl_rt::server_info::thread_window`): an IPC buffer one page above the window's base
//! and a stack of `stack_pages` at its top. [`make_workers`] builds them with the server; they
//! start at the program's entry with their index in the first argument register, and run its
//! `main` like the main thread: every thread serves the same endpoint, and the kernel hands each
//! queued call to whichever thread waits.
//!
//! **Patch.** A server whose image lists `patches` has every frame it is given recorded
//! ([`SharedFrames`]: where its capability is kept and where and how it is mapped). To patch it
//! to another build (`begin`), the supervisor makes a *clone* address space: fresh frames with
//! the new build's code and read-only data, and copies of the capabilities of every other frame
//! (data, bss, stacks, IPC buffers, heap, info page, device registers), mapped at the same
//! addresses with the same rights, so both address spaces share all writable memory. `begin`
//! only checks the layout and starts the clone; each `step` builds a bounded batch of its pages
//! (`upgrade::patch::ClonePlan`, [`CLONE_STEP_BUDGET`]), because the root task runs above every
//! server and each of its ops stops them all. Once the clone is complete, each thread moves over
//! at its own receive point: a thread the kernel reports blocked in a receive or in a
//! notification wait (`TcbGetState`) has no request in flight (a patchable server waits on a
//! notification only there, as `resp` does for its network events), so the supervisor suspends it, points it at the
//! clone, sets its registers to the new build's entry on its own (dead) stack with
//! `START_PATCHED`, and resumes it; it starts its serve loop afresh in the new code. A thread
//! busy with a request is left to a later `step`, and every other thread keeps serving
//! meanwhile: there is no global stop. The root task runs above every server, so nothing runs
//! between reading a thread's state and moving it. When the last thread has moved, the old
//! address space is deleted (its code frames stay accounted to the server's Untyped, or to the
//! patcher's for a clone of an earlier patch).
//!
//! The data layout must be the same in both builds, and the data must not point into anything
//! the patch replaces: the build tool (`xtask/src/layout.rs`) compares the writable segments,
//! the data and bss symbols, and the read-only data byte for byte (vtables the data may point
//! to), and refuses a patch that differs, naming the first difference. The supervisor checks the
//! writable segments again before it builds anything.
//!
//! Limits: clones are made from the patcher's own Untyped ([`PATCHER_BITS`]) and are not
//! reclaimed until a restart; a restart rebuilds the server from its image (the original
//! program); worker faults reach the supervisor with the server's fault badge, like the main
//! thread's.

use crate::builder::{Builder, Storage};
use crate::elf::Elf;
use crate::error::{BuildError, Context};
use crate::supervisor::Supervised;
use crate::system::{BuiltServer, fault_badge};
use axolotl_abi::archive::{Archive, EntryKind};
use axolotl_abi::invocation::{THREAD_STATE_BLOCKED_ON_NOTIFICATION, THREAD_STATE_BLOCKED_ON_RECV};
use axolotl_abi::{CPtr, CapRights, ObjectType, PAGE_SIZE, VmAttributes};
use axolotl_image::{MAX_PATCHES, ProgramName, ServerDesc};
use axolotl_rt::server_info::{MAX_THREADS, SERVER_INFO_VADDR, START_PATCHED, thread_window};
use axolotl_rt::{CNode, Cap, Endpoint, Frame, Tcb, VSpace, root, time};
use ipc_schema::Caller;
use ipc_schema::patch::v1::{self, PatchError, PatchInfo, Program};
use log::{error, info, warn};
use upgrade::patch::ClonePlan;

const PAGE: u64 = PAGE_SIZE as u64;
/// The patcher's memory: clones (address space, page tables, new code frames) of all patches.
pub const PATCHER_BITS: u32 = 21;
/// Root slots the patcher may use at once.
pub const PATCHER_SLOTS: CPtr = 64;
/// The most frames of one server a patch shares.
pub const MAX_SHARED: usize = 256;
/// Cost units (`upgrade::patch`) of the clone built by one `step`: two new code pages or four
/// shared ones (about 25,000 instructions on aarch64), so that no step stops the servers for long.
pub const CLONE_STEP_BUDGET: u32 = 4;

/// A server's worker threads (thread 1.. of its windows).
pub type Workers = heapless::Vec<Cap<Tcb>, { MAX_THREADS as usize - 1 }>;

/// Pages (frames and an upper bound of page tables) the worker threads of `desc` need.
pub fn worker_pages(desc: &ServerDesc) -> u64 {
    let workers = u64::from(desc.threads.max(1)) - 1;
    if workers == 0 {
        return 0;
    }
    let start = thread_window(1).base;
    let end = thread_window(workers).stack_top;
    workers * (u64::from(desc.stack_pages) + 1) + crate::system::tables_for(start, end)
}

/// Builds the worker threads of `server` (configured, registers set, not yet runnable): for
/// each, its stack and IPC buffer in its window, and a TCB in the same CSpace and VSpace.
pub fn make_workers(
    b: &mut Builder,
    server: &mut BuiltServer,
    desc: &ServerDesc,
    fault_ep: Option<Cap<Endpoint>>,
    entry: u64,
) -> Result<(), BuildError> {
    let stack_pages = u64::from(desc.stack_pages);
    for k in 1..u64::from(desc.threads.max(1)) {
        let window = thread_window(k);
        for i in 0..stack_pages {
            let frame = b.make(ObjectType::Frame, 0, "make a worker's stack frame")?;
            crate::system::place(
                b,
                server,
                frame,
                window.stack_top - (i + 1) * PAGE,
                CapRights::READ_WRITE,
                VmAttributes::NONE,
            )?;
        }
        server.pages.stack += stack_pages;
        let ipc_frame: Cap<Frame> = b.make(ObjectType::Frame, 0, "make a worker's IPC buffer")?;
        let tables = b.map_frame(
            ipc_frame,
            server.vspace,
            window.ipc_buffer,
            CapRights::READ_WRITE,
            VmAttributes::NONE,
        )?;
        for table in tables {
            b.stash(&mut server.storage, table)?;
            server.pages.tables += 1;
        }
        let tcb: Cap<Tcb> = b.make(ObjectType::Tcb, 0, "make a worker's TCB")?;
        let configured = tcb
            .configure(
                fault_ep,
                server.cnode,
                server.vspace,
                window.ipc_buffer,
                Some(ipc_frame),
            )
            .context("configure a worker's TCB");
        let slot = b.stash(&mut server.storage, ipc_frame)?;
        server.pages.ipc_info += 1;
        if let Some(shared) = &mut server.shared {
            shared.record(
                window.ipc_buffer,
                slot,
                CapRights::READ_WRITE,
                VmAttributes::NONE,
            )?;
        }
        let started = configured
            .and_then(|()| {
                tcb.set_priority(desc.priority)
                    .context("set a worker's priority")
            })
            .and_then(|()| {
                tcb.write_registers(false, entry, window.stack_top, &[SERVER_INFO_VADDR + k])
                    .context("write a worker's registers")
            });
        if let Err(e) =
            started.and_then(|()| server.workers.push(tcb).map_err(|_| BuildError::OutOfSlots))
        {
            let _ = b.delete(tcb);
            return Err(e);
        }
    }
    Ok(())
}

/// Makes the worker threads of a built server runnable (after its main thread).
pub fn resume_workers(server: &BuiltServer, desc: &ServerDesc) {
    for worker in &server.workers {
        if let Err(e) = worker.resume() {
            error!("server '{}': cannot resume a worker thread: {e}", desc.name);
        }
    }
}

/// Where each frame of a patchable server is: its slot in the server's bookkeeping CNode, its
/// address, rights and attributes (one word each).
pub struct SharedFrames {
    entries: heapless::Vec<u64, MAX_SHARED>,
}

const WRITE_BIT: u64 = 1 << 56;
const EXECUTE_BIT: u64 = 1 << 57;
const DEVICE_BIT: u64 = 1 << 58;

/// A recorded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedFrame {
    pub vaddr: u64,
    pub slot: CPtr,
    pub rights: CapRights,
    pub attrs: VmAttributes,
}

impl Default for SharedFrames {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedFrames {
    pub fn new() -> SharedFrames {
        SharedFrames {
            entries: heapless::Vec::new(),
        }
    }

    /// Records a frame mapped at `vaddr`, kept in bookkeeping slot `slot`.
    pub fn record(
        &mut self,
        vaddr: u64,
        slot: CPtr,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<(), BuildError> {
        let page = vaddr / PAGE;
        if page >= 1 << 32 || slot >= 1 << 24 {
            return Err(BuildError::StorageFull);
        }
        let mut word = page | (slot << 32);
        if rights.contains(CapRights::WRITE) {
            word |= WRITE_BIT;
        }
        if attrs.contains(VmAttributes::EXECUTE) {
            word |= EXECUTE_BIT;
        }
        if attrs.contains(VmAttributes::DEVICE) {
            word |= DEVICE_BIT;
        }
        self.entries.push(word).map_err(|_| BuildError::StorageFull)
    }

    pub fn iter(&self) -> impl Iterator<Item = SharedFrame> + '_ {
        self.entries.iter().map(|&w| SharedFrame {
            vaddr: (w & 0xffff_ffff) * PAGE,
            slot: (w >> 32) & 0xff_ffff,
            rights: if w & WRITE_BIT != 0 {
                CapRights::READ_WRITE
            } else {
                CapRights::READ
            },
            attrs: VmAttributes(
                if w & EXECUTE_BIT != 0 {
                    VmAttributes::EXECUTE.0
                } else {
                    0
                } | if w & DEVICE_BIT != 0 {
                    VmAttributes::DEVICE.0
                } else {
                    0
                },
            ),
        })
    }
}

/// The pages of `elf` that are not writable (code and read-only data): what a patch replaces.
fn code_pages<'e>(elf: &'e Elf<'e>) -> impl Iterator<Item = u64> + 'e {
    elf.pages().filter(|p| !p.writable).map(|p| p.vaddr)
}

/// Whether two builds have the same writable segments (address, size, flags) and writable pages.
pub fn same_data_layout(old: &Elf, new: &Elf) -> bool {
    let writable = |e: &Elf| {
        e.segments()
            .filter(|s| s.flags & 2 != 0)
            .map(|s| (s.vaddr, s.mem_size, s.flags))
            .collect::<heapless::Vec<_, 8>>()
    };
    let pages = |e: &Elf| {
        e.pages()
            .filter(|p| p.writable)
            .map(|p| p.vaddr)
            .collect::<heapless::Vec<u64, 128>>()
    };
    writable(old) == writable(new) && pages(old) == pages(new)
}

/// A patch under way: the clone and who has moved into it.
struct InProgress {
    program: ProgramName,
    vspace: Cap<VSpace>,
    storage: Storage,
    entry: u64,
    /// The pages of the clone still to build; threads move only once it is complete.
    plan: ClonePlan,
}

/// What the supervisor keeps of a patchable server.
pub struct Patchable {
    pub index: usize,
    /// The program it runs now.
    program: ProgramName,
    allowed: heapless::Vec<ProgramName, MAX_PATCHES>,
    /// Thread 0 (main), then the workers.
    threads: heapless::Vec<Cap<Tcb>, { MAX_THREADS as usize }>,
    cnode: Cap<CNode>,
    /// The address space its threads run in now (the original, or an earlier patch's clone).
    vspace: Cap<VSpace>,
    /// Its original bookkeeping CNode: the capabilities [`SharedFrames`] names.
    storage: Cap<CNode>,
    original_vspace: Cap<VSpace>,
    frames: SharedFrames,
    patch: Option<InProgress>,
    /// The bookkeeping CNode of the clone it runs in, after a patch (its code, tables and
    /// shared-frame copies).
    clone_storage: Option<Storage>,
    info: PatchInfo,
}

impl Patchable {
    /// The patch state of a just-built server; `None` unless its image lists `patches`.
    pub fn new(index: usize, desc: &ServerDesc, server: &mut BuiltServer) -> Option<Patchable> {
        let frames = server.shared.take()?;
        let mut threads = heapless::Vec::new();
        let _ = threads.push(server.tcb);
        for &w in &server.workers {
            let _ = threads.push(w);
        }
        Some(Patchable {
            index,
            program: desc.program.clone(),
            allowed: desc.patches.clone(),
            info: PatchInfo {
                threads: threads.len() as u8,
                ..PatchInfo::default()
            },
            threads,
            cnode: server.cnode,
            vspace: server.vspace,
            original_vspace: server.vspace,
            storage: server.storage.cnode,
            frames,
            patch: None,
            clone_storage: None,
        })
    }
}

/// What the patcher needs to build clones: its own memory and slots, the boot archive (the
/// builds), the machine, and the supervisor endpoint (the servers' fault endpoint).
pub struct Patcher<'a> {
    pub b: Builder,
    pub archive: &'a Archive<'a>,
    pub machine: u16,
    pub supervisor: Cap<Endpoint>,
}

/// `patch::v1` over the supervised servers.
pub struct Patches<'s, 'p, 'a> {
    pub servers: &'s mut [Supervised],
    pub patcher: &'p mut Patcher<'a>,
}

fn failed(name: &str, e: BuildError) -> PatchError {
    error!("patch of '{name}': {e}");
    match e {
        BuildError::OutOfSlots | BuildError::StorageFull => PatchError::NoMemory,
        BuildError::Kernel {
            error: axolotl_rt::Error::NotEnoughMemory,
            ..
        } => PatchError::NoMemory,
        _ => PatchError::Failed,
    }
}

impl<'a> Patcher<'a> {
    fn program(&self, name: &str) -> Option<Elf<'a>> {
        let entry = self.archive.find(EntryKind::Program, Some(name))?;
        Elf::parse(entry.data, self.machine).ok()
    }

    /// Starts the clone of `p`'s address space for `new`'s code: its VSpace and bookkeeping
    /// CNode, and the plan of the pages still to build (see [`build_batch`](Self::build_batch)).
    fn start_clone(
        &mut self,
        p: &Patchable,
        old: &Elf,
        new: &Elf,
    ) -> Result<(Cap<VSpace>, Storage, ClonePlan), BuildError> {
        let b = &mut self.b;
        let old_code: heapless::Vec<u64, 512> = code_pages(old).collect();
        let mut vaddrs: heapless::Vec<u64, { 2 * MAX_SHARED }> = code_pages(new).collect();
        let code = vaddrs.len();
        for f in p.frames.iter().filter(|f| !old_code.contains(&f.vaddr)) {
            vaddrs.push(f.vaddr).map_err(|_| BuildError::StorageFull)?;
        }
        let shared = vaddrs.len() - code;
        // Sized to what the pages need: a CNode is zeroed when it is made, in this stop.
        let slots = (vaddrs.len() + upgrade::patch::page_tables(&vaddrs)) as u64;
        let storage = b.make_storage(slots)?;
        let vspace: Cap<VSpace> = match b.make(ObjectType::VSpace, 0, "make the clone's VSpace") {
            Ok(v) => v,
            Err(e) => {
                let _ = b.delete(storage.cnode);
                return Err(e);
            }
        };
        Ok((vspace, storage, ClonePlan::new(code, shared)))
    }

    /// Builds the next batch of the clone (at most [`CLONE_STEP_BUDGET`] cost units): the new
    /// build's code and read-only data in fresh frames, then, for every other frame the server
    /// has, a copy of its capability mapped at the same address with the same rights.
    fn build_batch(&mut self, p: &mut Patchable) -> Result<(), BuildError> {
        let old = self.program(&p.program).ok_or(BuildError::StorageFull)?;
        let Some(patch) = p.patch.as_mut() else {
            return Ok(());
        };
        let new = self
            .program(&patch.program)
            .ok_or(BuildError::StorageFull)?;
        let batch = patch.plan.next(CLONE_STEP_BUDGET);
        let b = &mut self.b;
        for page in new
            .pages()
            .filter(|pg| !pg.writable)
            .skip(batch.code.start)
            .take(batch.code.len())
        {
            let frame =
                b.make_filled_frame("make a code frame", |dest| new.fill_page(page.vaddr, dest))?;
            map_and_keep(
                b,
                &mut patch.storage,
                frame,
                patch.vspace,
                page.vaddr,
                CapRights::READ,
                page.attributes(),
            )?;
        }
        let old_code: heapless::Vec<u64, 512> = code_pages(&old).collect();
        for f in p
            .frames
            .iter()
            .filter(|f| !old_code.contains(&f.vaddr))
            .skip(batch.shared.start)
            .take(batch.shared.len())
        {
            let slot = b.slots.alloc().ok_or(BuildError::OutOfSlots)?;
            if let Err(e) = root::cnode().copy(slot, p.storage, f.slot, CapRights::ALL) {
                b.slots.free(slot);
                return Err(BuildError::Kernel {
                    what: "copy a shared frame",
                    error: e,
                });
            }
            let frame = Cap::<Frame>::from_cptr(slot);
            map_and_keep(
                b,
                &mut patch.storage,
                frame,
                patch.vspace,
                f.vaddr,
                f.rights,
                f.attrs,
            )?;
        }
        patch.plan.done(&batch);
        let (code, shared) = patch.plan.built();
        p.info.code_pages = code as u16;
        p.info.shared_pages = shared as u16;
        Ok(())
    }

    /// Moves thread `k` of `p` into the clone if it is at its receive point; returns whether it
    /// moved.
    fn try_move(&mut self, p: &Patchable, k: usize) -> Result<bool, BuildError> {
        let Some(patch) = &p.patch else {
            return Ok(false);
        };
        let tcb = p.threads[k];
        // A receive point: an endpoint receive (a server's serve loop) or a notification wait
        // (a front end waiting for events, e.g. resp); either way no request is in flight.
        let state = tcb.state().context("read a thread's state")?;
        if state != THREAD_STATE_BLOCKED_ON_RECV && state != THREAD_STATE_BLOCKED_ON_NOTIFICATION {
            return Ok(false);
        }
        let window = thread_window(k as u64);
        let ipc = p
            .frames
            .iter()
            .find(|f| f.vaddr == window.ipc_buffer)
            .ok_or(BuildError::StorageFull)?;
        let b = &mut self.b;
        let ipc_slot = b.slots.alloc().ok_or(BuildError::OutOfSlots)?;
        let fault_slot = match b.slots.alloc() {
            Some(s) => s,
            None => {
                b.slots.free(ipc_slot);
                return Err(BuildError::OutOfSlots);
            }
        };
        let root_cnode = Cap::<CNode>::invoker_root();
        let result = root::cnode()
            .copy(ipc_slot, p.storage, ipc.slot, CapRights::ALL)
            .context("copy an IPC buffer frame")
            .and_then(|()| {
                root::cnode()
                    .mint(
                        fault_slot,
                        root_cnode,
                        self.supervisor.cptr(),
                        CapRights::WRITE.union(CapRights::GRANT),
                        fault_badge(p.index),
                    )
                    .context("mint the fault endpoint")
            })
            .and_then(|()| tcb.suspend().context("suspend a thread"))
            .and_then(|()| {
                tcb.configure(
                    Some(Cap::from_cptr(fault_slot)),
                    p.cnode,
                    patch.vspace,
                    window.ipc_buffer,
                    Some(Cap::from_cptr(ipc_slot)),
                )
                .context("point a thread at the clone")
            })
            .and_then(|()| {
                tcb.write_registers(
                    true,
                    patch.entry,
                    window.stack_top,
                    &[SERVER_INFO_VADDR + k as u64 + START_PATCHED],
                )
                .context("restart a thread in the new build")
            });
        for slot in [ipc_slot, fault_slot] {
            let _ = root::cnode().delete(slot);
            b.slots.free(slot);
        }
        result.map(|()| true)
    }
}

/// Maps `frame` in `vspace` (making page tables as needed) and moves it and the tables into
/// `storage`.
fn map_and_keep(
    b: &mut Builder,
    storage: &mut Storage,
    frame: Cap<Frame>,
    vspace: Cap<VSpace>,
    vaddr: u64,
    rights: CapRights,
    attrs: VmAttributes,
) -> Result<(), BuildError> {
    let tables = match b.map_frame(frame, vspace, vaddr, rights, attrs) {
        Ok(t) => t,
        Err(e) => {
            let _ = b.delete(frame);
            return Err(e);
        }
    };
    for table in tables {
        b.stash(storage, table)?;
    }
    b.stash(storage, frame).map(drop)
}

impl Patches<'_, '_, '_> {
    fn find(&mut self, name: &str) -> Result<&mut Patchable, PatchError> {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or(PatchError::NoSuchServer)?;
        server.patch.as_mut().ok_or(PatchError::NotPatchable)
    }

    /// Moves every thread at its receive point; finishes the patch when all have moved.
    fn advance(patcher: &mut Patcher, p: &mut Patchable, name: &str) -> Result<(), PatchError> {
        for k in 0..p.threads.len() {
            if p.info.moved_mask & (1 << k) != 0 {
                continue;
            }
            match patcher.try_move(p, k) {
                Ok(true) => {
                    p.info.moved_mask |= 1 << k;
                    p.info.moved += 1;
                }
                Ok(false) => p.info.busy += 1,
                Err(e) => return Err(failed(name, e)),
            }
        }
        if usize::from(p.info.moved) == p.threads.len()
            && let Some(done) = p.patch.take()
        {
            // Nothing runs in the old address space any more: its code frames go (deleting a
            // frame's capability unmaps it). Those of the original build are in the server's
            // bookkeeping CNode; an earlier clone's stay with it (see the module's limits).
            let old_vspace = core::mem::replace(&mut p.vspace, done.vspace);
            if old_vspace.cptr() == p.original_vspace.cptr() {
                let old_code: heapless::Vec<u64, 512> = patcher
                    .program(&p.program)
                    .map(|elf| code_pages(&elf).collect())
                    .unwrap_or_default();
                for f in p.frames.iter().filter(|f| old_code.contains(&f.vaddr)) {
                    if let Err(e) = p.storage.delete(f.slot) {
                        warn!("patch of '{name}': an old code frame stays: {e}");
                        continue;
                    }
                    p.info.freed_pages += 1;
                }
            }
            p.program = done.program;
            p.clone_storage = Some(done.storage);
            p.info.done = true;
            info!(
                "'{name}' patched to {}: all {} threads moved ({} busy when looked at); {} old \
                 code pages freed",
                p.program, p.info.threads, p.info.busy, p.info.freed_pages
            );
        }
        Ok(())
    }
}

impl v1::Server for Patches<'_, '_, '_> {
    fn begin(
        &mut self,
        _: &mut Caller,
        server: axolotl_image::Name,
        program: Program,
    ) -> Result<PatchInfo, PatchError> {
        let start = time::counter();
        let patcher: &mut Patcher = self.patcher;
        let p = {
            let s = self
                .servers
                .iter_mut()
                .find(|s| s.name == server)
                .ok_or(PatchError::NoSuchServer)?;
            s.patch.as_mut().ok_or(PatchError::NotPatchable)?
        };
        if p.patch.is_some() {
            return Err(PatchError::InProgress);
        }
        if !p.allowed.iter().any(|a| a.as_str() == program.as_str())
            && p.program.as_str() != program.as_str()
        {
            return Err(PatchError::NotPatchable);
        }
        let program =
            ProgramName::try_from(program.as_str()).map_err(|_| PatchError::NotPatchable)?;
        let archive = patcher.archive;
        let machine = patcher.machine;
        let find = |name: &str| {
            archive
                .find(EntryKind::Program, Some(name))
                .and_then(|e| Elf::parse(e.data, machine).ok())
        };
        let (Some(old), Some(new)) = (find(&p.program), find(&program)) else {
            return Err(PatchError::NotPatchable);
        };
        if !same_data_layout(&old, &new) {
            warn!(
                "patch of '{server}' to {program} refused: its writable segments differ from {}'s",
                p.program
            );
            return Err(PatchError::LayoutDiffers);
        }
        let (vspace, storage, plan) = patcher
            .start_clone(p, &old, &new)
            .map_err(|e| failed(&server, e))?;
        p.info = PatchInfo {
            threads: p.threads.len() as u8,
            ..PatchInfo::default()
        };
        p.patch = Some(InProgress {
            program,
            vspace,
            storage,
            entry: new.entry(),
            plan,
        });
        let code = code_pages(&new).count();
        let shared = plan.remaining() - code;
        info!(
            "patch of '{server}': a clone for {code} new code pages and {shared} shared pages, \
             built in {} steps; then its {} threads move at their receive points",
            ClonePlan::steps(code, shared, CLONE_STEP_BUDGET),
            p.threads.len()
        );
        p.info.ticks = time::counter().wrapping_sub(start);
        Ok(p.info)
    }

    fn step(
        &mut self,
        _: &mut Caller,
        server: axolotl_image::Name,
    ) -> Result<PatchInfo, PatchError> {
        let start = time::counter();
        let patcher: &mut Patcher = self.patcher;
        let p = {
            let s = self
                .servers
                .iter_mut()
                .find(|s| s.name == server)
                .ok_or(PatchError::NoSuchServer)?;
            s.patch.as_mut().ok_or(PatchError::NotPatchable)?
        };
        let building = match &p.patch {
            None => return Err(PatchError::NotInProgress),
            Some(patch) => !patch.plan.complete(),
        };
        if building {
            // One bounded batch of the clone; no thread moves before it is complete.
            if let Err(e) = patcher.build_batch(p) {
                // The patch is abandoned; what the clone holds stays in the patcher's memory
                // (see the module's limits) and the server runs on in its old build.
                p.patch = None;
                return Err(failed(&server, e));
            }
        } else {
            Self::advance(patcher, p, &server)?;
        }
        p.info.ticks = time::counter().wrapping_sub(start);
        Ok(p.info)
    }

    fn status(
        &mut self,
        _: &mut Caller,
        server: axolotl_image::Name,
    ) -> Result<PatchInfo, PatchError> {
        self.find(&server).map(|p| p.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_frames_round_trip() {
        let mut f = SharedFrames::new();
        f.record(0x1000_1000, 7, CapRights::READ_WRITE, VmAttributes::NONE)
            .unwrap();
        f.record(
            0x2000_0000,
            0xff_ffff,
            CapRights::READ,
            VmAttributes::DEVICE,
        )
        .unwrap();
        f.record(0x20_3000, 1, CapRights::READ, VmAttributes::EXECUTE)
            .unwrap();
        let all: std::vec::Vec<_> = f.iter().collect();
        assert_eq!(
            all[0],
            SharedFrame {
                vaddr: 0x1000_1000,
                slot: 7,
                rights: CapRights::READ_WRITE,
                attrs: VmAttributes::NONE
            }
        );
        assert_eq!(
            (all[1].slot, all[1].attrs),
            (0xff_ffff, VmAttributes::DEVICE)
        );
        assert_eq!(
            (all[2].rights, all[2].attrs),
            (CapRights::READ, VmAttributes::EXECUTE)
        );
        assert!(
            f.record(0, 1 << 24, CapRights::READ, VmAttributes::NONE)
                .is_err()
        );
    }
}
