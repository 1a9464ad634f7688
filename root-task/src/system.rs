//! Building the servers of an image: phases run over all servers so that every server's objects
//! exist before any capability to them is handed out.
//!
//! 1. [`make_endpoints`]: the supervisor endpoint and one endpoint per endpoint name.
//! 2. [`build_server`], per server: check its program; make its CNode, VSpace, TCB and
//!    bookkeeping CNode; load the ELF; map stack, heap and IPC buffer; configure the TCB (fault
//!    endpoint, CSpace, VSpace, IPC buffer), priority and registers (not yet runnable).
//! 3. [`grant`], per built server: fill its CNode with what the image grants (for each platform
//!    device, [`grant_device`]: its registers mapped or its I/O ports, and its IRQ handler bound
//!    to a new notification), write and map its server-info page, log what it got.
//! 4. The caller resumes the servers in image order.
//!
//! A server that fails any step is logged with its name and skipped; the objects made for it so
//! far stay allocated (reclaiming them is the restart issue's business).

use crate::builder::{Builder, Storage};
use crate::elf::Elf;
use crate::error::{BuildError, Context};
use crate::platform::{self, PlatformDevice};
use crate::untyped::ServerMemory;
use axolotl_abi::archive::{Archive, EntryKind};
use axolotl_abi::{Badge, CPtr, CapRights, ObjectType, PAGE_SIZE, VmAttributes};
use axolotl_image::{FaultHandler, ImageDescription, MAX_SERVERS, Name, ServerDesc};
use axolotl_rt::server_info::{
    DeviceEntry, SERVER_CNODE_RADIX, SERVER_DEVICE_VADDR, SERVER_DMA_END, SERVER_DMA_VADDR,
    SERVER_HEAP_VADDR, SERVER_INFO_VADDR, SERVER_IPC_BUFFER_VADDR, SERVER_PROGRAM_END,
    SERVER_STACK_PAGES_MAX, SERVER_STACK_TOP, ServerInfo, call_badge,
};
use axolotl_rt::{
    CNode, Cap, CapType, Endpoint, Frame, IrqHandler, Notification, Snapshot, Tcb, TxRegion,
    VSpace, root,
};
use core::fmt::Write;
use log::{error, info, warn};

/// Fault messages of server `i` carry badge `FAULT_BADGE_BASE + i`.
pub const FAULT_BADGE_BASE: Badge = 0x1000;
/// The badge of server `index`'s fault messages.
pub const fn fault_badge(index: usize) -> Badge {
    FAULT_BADGE_BASE + index as Badge
}

/// The most pages a program's ELF image may occupy.
pub const MAX_PROGRAM_PAGES: u64 = 4096;
const PAGE: u64 = PAGE_SIZE as u64;
/// The image's endpoints and the supervisor's.
const MAX_ENDPOINTS: usize = MAX_SERVERS * axolotl_image::MAX_ENDPOINTS + 1;

/// The image's endpoints by name, and the supervisor endpoint as
/// [`SUPERVISOR_ENDPOINT`](axolotl_image::SUPERVISOR_ENDPOINT) (a name no image endpoint may
/// take), so that `calls = ["supervisor"]` is granted like any other call.
pub struct Endpoints {
    list: heapless::Vec<(Name, Cap<Endpoint>), MAX_ENDPOINTS>,
    /// The two upgrade control endpoints of each upgradable server (by server index): the
    /// version in slot `n` receives on the `n`th.
    controls: heapless::Vec<(usize, [Cap<Endpoint>; 2]), MAX_SERVERS>,
}

impl Endpoints {
    pub fn get(&self, name: &str) -> Option<Cap<Endpoint>> {
        self.list
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, cap)| cap)
    }

    /// Server `index`'s upgrade control endpoint of version slot `slot`.
    pub fn control(&self, index: usize, slot: u8) -> Option<Cap<Endpoint>> {
        self.controls
            .iter()
            .find(|(i, _)| *i == index)
            .and_then(|(_, c)| c.get(usize::from(slot)).copied())
    }
}

/// The versions of a server live in two slots (see `ipc_schema::lifecycle`); slot 1's fault
/// badge and control page come after every slot-0 one.
pub const VERSION_SLOTS: usize = 2;

/// The fault badge of server `index`'s version in `slot`.
pub const fn version_fault_badge(index: usize, slot: u8) -> Badge {
    fault_badge(index + slot as usize * MAX_SERVERS)
}

/// Server index and version slot of a fault badge's offset from [`FAULT_BADGE_BASE`].
pub const fn fault_origin(offset: u64) -> (usize, u8) {
    let offset = offset as usize;
    (offset % MAX_SERVERS, (offset / MAX_SERVERS) as u8)
}

/// Where the root task maps the info page of server `index`'s version in `slot`.
pub const fn version_control_page(index: usize, slot: u8) -> u64 {
    control_page(index + slot as usize * MAX_SERVERS)
}

/// Pages a server uses, by purpose.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageCounts {
    pub program: u64,
    pub stack: u64,
    pub heap: u64,
    /// IPC buffer and server-info page.
    pub ipc_info: u64,
    pub tables: u64,
}

impl PageCounts {
    pub fn total(&self) -> u64 {
        self.program + self.stack + self.heap + self.ipc_info + self.tables
    }
}

/// A server whose objects exist.
pub struct BuiltServer {
    pub tcb: Cap<Tcb>,
    pub cnode: Cap<CNode>,
    pub vspace: Cap<VSpace>,
    pub storage: Storage,
    pub pages: PageCounts,
    /// Its transactional region, if the image makes it transactional.
    pub tx: Option<Cap<TxRegion>>,
    /// Its own Untyped, from which all its objects were made (see [`build_server`]).
    pub memory: Option<ServerMemory>,
    /// A copy of its server-info frame, mapped writable in the root task at
    /// [`control_page`]`(index)` (set by [`grant`]): the supervisor's control words.
    pub control: Option<Cap<Frame>>,
    /// Pages the region covers (0 without one).
    pub tx_pages: u64,
    /// The program it runs (the image's, or an upgrade's).
    pub program: axolotl_image::ProgramName,
    /// Its version slot (0 at boot; see [`VERSION_SLOTS`]).
    pub slot: u8,
    /// It is a new version that starts by importing an old version's state
    /// (`ServerInfo::upgrade_import`).
    pub import: bool,
    /// Its worker threads (`threads - 1`; see `crate::patch::make_workers`), not yet resumed.
    pub workers: crate::patch::Workers,
    /// Where each of its frames is kept, for a wait-free patch (only if the image lists
    /// `patches` for it).
    pub shared: Option<crate::patch::SharedFrames>,
    /// The first slot of its CNode left empty by [`grant`] (`ServerInfo::empty_slots`): a
    /// server with its own CNode fills slots from here on (`lifecycle::v1::carry_caps`).
    pub empty_start: CPtr,
}

/// Where the root task maps server `index`'s info page (see [`crate::builder::CONTROL_VADDR`]).
pub const fn control_page(index: usize) -> u64 {
    crate::builder::CONTROL_VADDR + index as u64 * PAGE
}

/// Makes the supervisor endpoint (failure is fatal: returned) and one endpoint per name in the
/// image (a failure is logged; grants of that endpoint are then skipped).
pub fn make_endpoints(
    b: &mut Builder,
    image: &ImageDescription,
) -> Result<(Cap<Endpoint>, Endpoints), BuildError> {
    let supervisor = b.make(ObjectType::Endpoint, 0, "make the supervisor endpoint")?;
    let mut endpoints = Endpoints {
        list: heapless::Vec::new(),
        controls: heapless::Vec::new(),
    };
    // The list has room for it and every image endpoint; the name is a valid one.
    if let Ok(name) = Name::try_from(axolotl_image::SUPERVISOR_ENDPOINT) {
        let _ = endpoints.list.push((name, supervisor));
    }
    for server in &image.servers {
        for name in &server.endpoints {
            match b.make(ObjectType::Endpoint, 0, "make an endpoint") {
                Ok(cap) => {
                    let _ = endpoints.list.push((name.clone(), cap));
                }
                Err(e) => error!("server '{}': endpoint '{name}': {e}", server.name),
            }
        }
    }
    for index in image.upgradable() {
        let a = b.make(ObjectType::Endpoint, 0, "make an upgrade control endpoint");
        let c = b.make(ObjectType::Endpoint, 0, "make an upgrade control endpoint");
        match (a, c) {
            (Ok(a), Ok(c)) => {
                let _ = endpoints.controls.push((index, [a, c]));
            }
            (Err(e), _) | (_, Err(e)) => error!(
                "server '{}': no upgrade control endpoints: {e}",
                image.servers[index].name
            ),
        }
    }
    Ok((supervisor, endpoints))
}

/// Maps `frame` into the server's VSpace and moves it (and any page tables the mapping needed)
/// into the server's bookkeeping CNode. On failure the frame is deleted.
pub(crate) fn place(
    b: &mut Builder,
    server: &mut BuiltServer,
    frame: Cap<Frame>,
    vaddr: u64,
    rights: CapRights,
    attrs: VmAttributes,
) -> Result<(), BuildError> {
    let tables = match b.map_frame(frame, server.vspace, vaddr, rights, attrs) {
        Ok(tables) => tables,
        Err(e) => {
            let _ = b.delete(frame);
            return Err(e);
        }
    };
    for table in tables {
        b.stash(&mut server.storage, table)?;
        server.pages.tables += 1;
    }
    let slot = b.stash(&mut server.storage, frame)?;
    if let Some(shared) = &mut server.shared {
        shared.record(vaddr, slot, rights, attrs)?;
    }
    Ok(())
}

/// Makes zeroed frames (the kernel clears frames it retypes) and maps them read/write at
/// `count` consecutive pages from `vaddr`.
fn place_zeroed(
    b: &mut Builder,
    server: &mut BuiltServer,
    vaddr: u64,
    count: u64,
    what: &'static str,
) -> Result<(), BuildError> {
    for i in 0..count {
        let frame = b.make(ObjectType::Frame, 0, what)?;
        place(
            b,
            server,
            frame,
            vaddr + i * PAGE,
            CapRights::READ_WRITE,
            VmAttributes::NONE,
        )?;
    }
    Ok(())
}

/// An upper bound of the page tables needed to map `[start, end)`: one per 2 MiB, 1 GiB and
/// 512 GiB block it touches (the three levels below the VSpace root on both architectures).
pub(crate) fn tables_for(start: u64, end: u64) -> u64 {
    if start >= end {
        return 0;
    }
    [21u32, 30, 39]
        .iter()
        .map(|&bits| ((end - 1) >> bits) - (start >> bits) + 1)
        .sum()
}

/// An upper bound of the page tables a server's mappings need (regions are counted apart, so
/// tables they share are counted twice).
fn table_estimate(program: (u64, u64), heap_pages: u64) -> u64 {
    tables_for(program.0, program.1)
        + tables_for(SERVER_INFO_VADDR, SERVER_STACK_TOP)
        + tables_for(SERVER_HEAP_VADDR, SERVER_HEAP_VADDR + heap_pages * PAGE)
}

/// Phase 2 for server `index`: its objects, memory and TCB, all made from one Untyped of its own
/// (`memory`, else one carved from the boot Untypeds), so that revoking that Untyped frees the
/// whole server (a restart, an upgrade's old version). `memory` is an earlier server's Untyped,
/// revoked, to be used again if it is large enough.
#[allow(clippy::too_many_arguments)]
pub fn build_server(
    b: &mut Builder,
    index: usize,
    desc: &ServerDesc,
    archive: &Archive,
    machine: u16,
    supervisor: Cap<Endpoint>,
    endpoints: &Endpoints,
    memory: Option<ServerMemory>,
) -> Result<BuiltServer, BuildError> {
    build_version(
        b, index, desc, archive, machine, supervisor, endpoints, memory, 0,
    )
}

/// [`build_server`] for the version in `slot` (its fault badge and the root's mapping of its
/// info page are the slot's), running `desc.program`.
#[allow(clippy::too_many_arguments)]
pub fn build_version(
    b: &mut Builder,
    index: usize,
    desc: &ServerDesc,
    archive: &Archive,
    machine: u16,
    supervisor: Cap<Endpoint>,
    endpoints: &Endpoints,
    memory: Option<ServerMemory>,
    slot: u8,
) -> Result<BuiltServer, BuildError> {
    let program = archive
        .find(EntryKind::Program, Some(desc.program.as_str()))
        .ok_or(BuildError::NoProgram)?;
    let bits = memory_bits(
        desc,
        &Elf::parse(program.data, machine)?,
        crate::shared::tables(index),
    );
    let memory = match memory {
        Some(m) if m.only().is_some_and(|(_, have)| have >= bits) => m,
        _ => {
            let cap = b.make(ObjectType::Untyped, bits, "make the server's Untyped")?;
            ServerMemory::single(cap, bits)
        }
    };
    b.enter(memory);
    let built = build_in(
        b, index, desc, archive, machine, supervisor, endpoints, slot,
    );
    let memory = b.leave();
    match built {
        Ok(mut server) => {
            server.memory = memory;
            Ok(server)
        }
        Err(e) => {
            // Whatever was made goes with the Untyped's children; the Untyped stays, unused.
            if let Some((cap, _)) = memory.as_ref().and_then(ServerMemory::only) {
                let _ = root::cnode().revoke(cap.cptr());
            }
            Err(e)
        }
    }
}

/// Frees a server for good: revokes its Untyped (deleting every object made from it, which
/// unmaps the root's control page of it) and takes back the root slots its capabilities were in.
/// Returns the Untyped, unused, for the next server; `None` if the server had none or the
/// revocation failed (then nothing is reused).
pub fn free_server(b: &mut Builder, server: BuiltServer) -> Option<ServerMemory> {
    let mut memory = server.memory?;
    let (cap, _) = memory.only()?;
    if let Err(e) = root::cnode().revoke(cap.cptr()) {
        error!("cannot revoke a server's Untyped: {e}");
        return None;
    }
    let slots = [
        Some(server.tcb.cptr()),
        Some(server.cnode.cptr()),
        Some(server.vspace.cptr()),
        Some(server.storage.cnode.cptr()),
        server.tx.map(|t| t.cptr()),
        server.control.map(|c| c.cptr()),
    ];
    for slot in slots.into_iter().flatten() {
        b.slots.free(slot);
    }
    for worker in &server.workers {
        b.slots.free(worker.cptr());
    }
    memory.reset();
    Some(memory)
}

/// An upper bound of the memory server `desc` needs, as the log2 of a size: every object it
/// gets rounded up to its own alignment, then doubled for the alignment gaps between them.
fn memory_bits(desc: &ServerDesc, elf: &Elf, shared_tables: u64) -> u32 {
    let size = |ty: ObjectType, bits: u32| ty.object_bits(bits).map_or(0, |b| 1u64 << b);
    let heap_pages = u64::from(desc.heap_pages);
    let (devices, device_end) = platform::layout(&desc.devices);
    let dma_pages = platform::dma_pages(&devices);
    let pages = elf.pages().count() as u64
        + u64::from(desc.stack_pages)
        + heap_pages
        + 2
        + table_estimate(elf.extent(), heap_pages)
        + tables_for(SERVER_DEVICE_VADDR, device_end)
        + crate::patch::worker_pages(desc)
        + dma_pages
        + tables_for(SERVER_DMA_VADDR, SERVER_DMA_VADDR + dma_pages * PAGE)
        + shared_tables
        + 1;
    let storage_radix = (pages + 8).next_power_of_two().trailing_zeros();
    let tx_pages = (u64::from(desc.tx_pool_pages) + 1).next_power_of_two();
    let mut bytes = pages * PAGE
        + size(ObjectType::CNode, SERVER_CNODE_RADIX)
        + size(ObjectType::CNode, storage_radix)
        + size(ObjectType::Tcb, 0) * u64::from(desc.threads.max(1))
        + desc.devices.len() as u64 * size(ObjectType::Notification, 0);
    if desc.transactional {
        bytes += tx_pages * PAGE;
    }
    if desc.untyped_bits != 0 {
        bytes += 1 << desc.untyped_bits;
    }
    (2 * bytes).next_power_of_two().trailing_zeros()
}

#[allow(clippy::too_many_arguments)]
fn build_in(
    b: &mut Builder,
    index: usize,
    desc: &ServerDesc,
    archive: &Archive,
    machine: u16,
    supervisor: Cap<Endpoint>,
    endpoints: &Endpoints,
    version_slot: u8,
) -> Result<BuiltServer, BuildError> {
    // Everything that can be checked without making objects, first.
    let program = archive
        .find(EntryKind::Program, Some(desc.program.as_str()))
        .ok_or(BuildError::NoProgram)?;
    let elf = Elf::parse(program.data, machine)?;
    let (start, end) = elf.extent();
    if start < PAGE || end > SERVER_PROGRAM_END {
        return Err(BuildError::BadLayout { start, end });
    }
    let program_pages = elf.pages().count() as u64;
    if program_pages > MAX_PROGRAM_PAGES {
        return Err(BuildError::TooLarge {
            pages: program_pages,
            max: MAX_PROGRAM_PAGES,
        });
    }
    let stack_pages = u64::from(desc.stack_pages);
    if stack_pages > SERVER_STACK_PAGES_MAX {
        return Err(BuildError::StackTooLarge {
            pages: stack_pages,
            max: SERVER_STACK_PAGES_MAX,
        });
    }
    let heap_pages = u64::from(desc.heap_pages);
    // Device registers are mapped in phase 3; their frames and tables are stored here too.
    let (devices, device_end) = platform::layout(&desc.devices);
    let device_pages: u64 = devices
        .iter()
        .filter_map(|p| p.device?.mmio)
        .map(|m| m.pages)
        .sum();
    let dma_pages = platform::dma_pages(&devices);

    let cnode = b.make(ObjectType::CNode, SERVER_CNODE_RADIX, "make the CNode")?;
    let vspace = b.make(ObjectType::VSpace, 0, "make the VSpace")?;
    let tcb = b.make(ObjectType::Tcb, 0, "make the TCB")?;
    let storage = b.make_storage(
        program_pages
            + stack_pages
            + heap_pages
            + 2
            + table_estimate((start, end), heap_pages)
            + device_pages
            + tables_for(SERVER_DEVICE_VADDR, device_end)
            + crate::patch::worker_pages(desc)
            + dma_pages
            + tables_for(SERVER_DMA_VADDR, SERVER_DMA_VADDR + dma_pages * PAGE)
            + crate::shared::storage_slots(index),
    )?;
    let mut server = BuiltServer {
        tcb,
        cnode,
        vspace,
        storage,
        pages: PageCounts::default(),
        tx: None,
        control: None,
        memory: None,
        tx_pages: 0,
        program: desc.program.clone(),
        slot: version_slot,
        import: false,
        workers: crate::patch::Workers::new(),
        shared: (!desc.patches.is_empty()).then(crate::patch::SharedFrames::new),
        empty_start: CNodeFiller::END,
    };

    // The program: each page filled through the scratch mapping, then mapped with the union of
    // the permissions of the segments in it.
    for page in elf.pages() {
        let frame = b.make_filled_frame("make a program frame", |dest| {
            elf.fill_page(page.vaddr, dest)
        })?;
        place(
            b,
            &mut server,
            frame,
            page.vaddr,
            page.rights(),
            page.attributes(),
        )?;
        server.pages.program += 1;
    }

    // Stack (the page below it stays unmapped: the guard page) and heap.
    place_zeroed(
        b,
        &mut server,
        SERVER_STACK_TOP - stack_pages * PAGE,
        stack_pages,
        "make a stack frame",
    )?;
    server.pages.stack = stack_pages;
    place_zeroed(
        b,
        &mut server,
        SERVER_HEAP_VADDR,
        heap_pages,
        "make a heap frame",
    )?;
    server.pages.heap = heap_pages;

    // A transactional server: its writable program pages, heap and stack form its region.
    if desc.transactional {
        let (region, pages) = make_tx_region(b, &elf, desc, vspace, tcb)?;
        server.tx = Some(region);
        server.tx_pages = pages;
    }

    // IPC buffer: mapped, then registered with the TCB, then stored.
    let ipc_frame = b.make(ObjectType::Frame, 0, "make the IPC buffer frame")?;
    let tables = b.map_frame(
        ipc_frame,
        vspace,
        SERVER_IPC_BUFFER_VADDR,
        CapRights::READ_WRITE,
        VmAttributes::NONE,
    )?;
    for table in tables {
        b.stash(&mut server.storage, table)?;
        server.pages.tables += 1;
    }
    server.pages.ipc_info = 1;

    // The fault endpoint, minted with the server's fault badge into a root slot for
    // TcbConfigure, which copies it into the TCB.
    let fault_source = match &desc.fault_handler {
        FaultHandler::Supervisor => Some(supervisor),
        FaultHandler::None => None,
        FaultHandler::Endpoint(name) => {
            Some(endpoints.get(name).ok_or(BuildError::NoFaultEndpoint)?)
        }
    };
    let fault_ep = match fault_source {
        Some(source) => {
            let slot = b.slots.alloc().ok_or(BuildError::OutOfSlots)?;
            if let Err(e) = root::cnode().mint(
                slot,
                Cap::<CNode>::invoker_root(),
                source.cptr(),
                CapRights::WRITE.union(CapRights::GRANT),
                version_fault_badge(index, version_slot),
            ) {
                b.slots.free(slot);
                return Err(BuildError::Kernel {
                    what: "mint the fault endpoint",
                    error: e,
                });
            }
            Some(Cap::<Endpoint>::from_cptr(slot))
        }
        None => None,
    };
    let configured = tcb
        .configure(
            fault_ep,
            cnode,
            vspace,
            SERVER_IPC_BUFFER_VADDR,
            Some(ipc_frame),
        )
        .context("configure the TCB");
    let workers = configured
        .and_then(|()| crate::patch::make_workers(b, &mut server, desc, fault_ep, elf.entry()));
    if let Some(ep) = fault_ep
        && let Err(e) = b.delete(ep)
    {
        warn!("server '{}': {e}", desc.name);
    }
    workers?;
    let ipc_slot = b.stash(&mut server.storage, ipc_frame)?;
    if let Some(shared) = &mut server.shared {
        shared.record(
            SERVER_IPC_BUFFER_VADDR,
            ipc_slot,
            CapRights::READ_WRITE,
            VmAttributes::NONE,
        )?;
    }

    tcb.set_priority(desc.priority)
        .context("set the priority")?;
    tcb.write_registers(false, elf.entry(), SERVER_STACK_TOP, &[SERVER_INFO_VADDR])
        .context("write the registers")?;
    Ok(server)
}

/// Fills a server's CNode from slot 1 on.
pub struct CNodeFiller {
    cnode: Cap<CNode>,
    next: CPtr,
}

impl CNodeFiller {
    pub const END: CPtr = 1 << SERVER_CNODE_RADIX;

    fn slot(&self) -> Result<CPtr, BuildError> {
        if self.next < Self::END {
            Ok(self.next)
        } else {
            Err(BuildError::ServerCNodeFull)
        }
    }

    /// Copies (with `badge`: mints) the root's capability `src` into the next slot.
    fn give(
        &mut self,
        src: CPtr,
        rights: CapRights,
        badge: Option<Badge>,
    ) -> Result<CPtr, BuildError> {
        let slot = self.slot()?;
        let root_cnode = Cap::<CNode>::invoker_root();
        match badge {
            None => self
                .cnode
                .copy(slot, root_cnode, src, rights)
                .context("copy a capability")?,
            Some(badge) => self
                .cnode
                .mint(slot, root_cnode, src, rights, badge)
                .context("mint a capability")?,
        }
        self.next += 1;
        Ok(slot)
    }

    /// Moves the root's capability `src` into the next slot and takes its root slot back.
    fn take<T: CapType>(&mut self, b: &mut Builder, src: Cap<T>) -> Result<CPtr, BuildError> {
        let slot = self.slot()?;
        self.cnode
            .move_(slot, Cap::<CNode>::invoker_root(), src.cptr())
            .context("move a capability")?;
        b.slots.free(src.cptr());
        self.next += 1;
        Ok(slot)
    }
}

/// Grants `server` one platform device: maps its registers (if any) at `vaddr` as read/write
/// device memory, issues its I/O ports (if any) into the server's CNode, gets the device's IRQ
/// handler, binds it to a new notification and moves both into the server's CNode. Returns the
/// server-info entry (without its name).
fn grant_device(
    b: &mut Builder,
    server: &mut BuiltServer,
    filler: &mut CNodeFiller,
    device: &PlatformDevice,
    vaddr: u64,
) -> Result<DeviceEntry, BuildError> {
    let mut entry = DeviceEntry {
        irq_number: device.irq,
        ..DeviceEntry::EMPTY
    };
    if let Some(mmio) = device.mmio {
        for i in 0..mmio.pages {
            let frame = b.device_frame(mmio.paddr + i * PAGE)?;
            place(
                b,
                server,
                frame,
                vaddr + i * PAGE,
                CapRights::READ_WRITE,
                VmAttributes::DEVICE,
            )?;
        }
        entry.mmio_vaddr = vaddr;
        entry.mmio_pages = mmio.pages;
        entry.mmio_paddr = mmio.paddr;
    }
    if let Some((first, last)) = device.ports {
        let slot = filler.slot()?;
        root::io_port_control()
            .issue(first, last, filler.cnode, slot)
            .context("issue the I/O ports")?;
        filler.next += 1;
        entry.io_port = slot;
    }
    if device.dma_pages > 0 {
        let (vaddr, first) = grant_dma(b, server, filler, device.dma_pages)?;
        entry.dma_vaddr = vaddr;
        entry.dma_pages = device.dma_pages;
        entry.dma_frames = first;
    }
    // The handler is made in a root slot: the root invokes it to bind the notification.
    let irq_slot = b.slots.alloc().ok_or(BuildError::OutOfSlots)?;
    if let Err(error) = root::irq_control().get(device.irq, Cap::<CNode>::invoker_root(), irq_slot)
    {
        b.slots.free(irq_slot);
        return Err(BuildError::Kernel {
            what: "get the IRQ handler",
            error,
        });
    }
    let irq = Cap::<IrqHandler>::from_cptr(irq_slot);
    let notification: Cap<Notification> =
        match b.make(ObjectType::Notification, 0, "make the IRQ notification") {
            Ok(n) => n,
            Err(e) => {
                let _ = b.delete(irq);
                return Err(e);
            }
        };
    let bound = irq
        .set_notification(notification)
        .context("bind the IRQ notification");
    let moved = bound.and_then(|()| {
        entry.irq = filler.take(b, irq)?;
        entry.notification = filler.take(b, notification)?;
        Ok(())
    });
    if let Err(e) = moved {
        // Whatever is still in the root goes (deleting the handler releases the line).
        if entry.irq == 0 {
            let _ = b.delete(irq);
        }
        let _ = b.delete(notification);
        return Err(e);
    }
    Ok(entry)
}

/// The most DMA pages one device may have.
const MAX_DMA_PAGES: usize = 64;

/// DMA memory for a device: `pages` frames made one after another from the server's Untyped, so
/// physically contiguous (each is one page, aligned to one page, and nothing is made between
/// them), mapped read/write at [`SERVER_DMA_VADDR`], and a copy of each frame capability in the
/// server's CNode (consecutive slots) so that the driver asks the kernel for their physical
/// addresses (`FrameGetAddress`). Returns the address and the first slot.
fn grant_dma(
    b: &mut Builder,
    server: &mut BuiltServer,
    filler: &mut CNodeFiller,
    pages: u64,
) -> Result<(u64, CPtr), BuildError> {
    if pages as usize > MAX_DMA_PAGES || SERVER_DMA_VADDR + pages * PAGE > SERVER_DMA_END {
        return Err(BuildError::TooLarge {
            pages,
            max: MAX_DMA_PAGES as u64,
        });
    }
    let mut frames: heapless::Vec<Cap<Frame>, MAX_DMA_PAGES> = heapless::Vec::new();
    for _ in 0..pages {
        let frame = b.make(ObjectType::Frame, 0, "make a DMA frame")?;
        let _ = frames.push(frame);
    }
    let first = filler.next;
    for frame in &frames {
        filler.give(frame.cptr(), CapRights::READ_WRITE, None)?;
    }
    for (i, frame) in frames.into_iter().enumerate() {
        place(
            b,
            server,
            frame,
            SERVER_DMA_VADDR + i as u64 * PAGE,
            CapRights::READ_WRITE,
            VmAttributes::NONE,
        )?;
    }
    Ok((SERVER_DMA_VADDR, first))
}

/// Phase 3 for server `index` (`server`): its capabilities and server-info page, made from its
/// own Untyped; logs what it got. `tcbs[i]` is the TCB of server `i` if it was built.
pub fn grant(
    b: &mut Builder,
    index: usize,
    image: &ImageDescription,
    server: &mut BuiltServer,
    tcbs: &[Option<Cap<Tcb>>],
    endpoints: &Endpoints,
    counter_frequency: u64,
) -> Result<(), BuildError> {
    if let Some(memory) = server.memory.take() {
        b.enter(memory);
    }
    let granted = grant_in(b, index, image, server, tcbs, endpoints, counter_frequency);
    server.memory = b.leave();
    granted
}

fn grant_in(
    b: &mut Builder,
    index: usize,
    image: &ImageDescription,
    server: &mut BuiltServer,
    tcbs: &[Option<Cap<Tcb>>],
    endpoints: &Endpoints,
    counter_frequency: u64,
) -> Result<(), BuildError> {
    let desc = &image.servers[index];
    let name = desc.name.as_str();
    let mut info = ServerInfo::new(name);
    let mut summary: heapless::String<512> = heapless::String::new();
    let mut filler = CNodeFiller {
        cnode: server.cnode,
        next: 1,
    };

    info.own_tcb = filler.give(server.tcb.cptr(), CapRights::ALL, None)?;
    let _ = write!(summary, "own tcb");
    for endpoint in &desc.endpoints {
        let granted = endpoints
            .get(endpoint)
            .map(|ep| filler.give(ep.cptr(), CapRights::ALL, None));
        match granted {
            Some(Ok(slot)) => {
                info.push_endpoint(endpoint, slot);
                let _ = write!(summary, ", endpoint {endpoint}");
            }
            Some(Err(e)) => warn!("server '{name}': endpoint '{endpoint}' not granted: {e}"),
            None => warn!("server '{name}': endpoint '{endpoint}' does not exist"),
        }
    }
    let badge = call_badge(index);
    for endpoint in &desc.calls {
        let granted = endpoints.get(endpoint).map(|ep| {
            filler.give(
                ep.cptr(),
                CapRights::WRITE.union(CapRights::GRANT),
                Some(badge),
            )
        });
        match granted {
            Some(Ok(slot)) => {
                info.push_call(endpoint, slot);
                let _ = write!(summary, ", calls {endpoint} (badge {badge})");
            }
            Some(Err(e)) => warn!("server '{name}': call of '{endpoint}' not granted: {e}"),
            None => warn!("server '{name}': endpoint '{endpoint}' to call does not exist"),
        }
    }
    for controlled in &desc.controls {
        let target = image
            .servers
            .iter()
            .position(|s| s.name == *controlled)
            .and_then(|i| tcbs.get(i).copied().flatten());
        match target.map(|tcb| filler.give(tcb.cptr(), CapRights::ALL, None)) {
            Some(Ok(slot)) => {
                info.push_control(controlled, slot);
                let _ = write!(summary, ", controls {controlled}");
            }
            Some(Err(e)) => warn!("server '{name}': control of '{controlled}' not granted: {e}"),
            None => warn!("server '{name}': '{controlled}' to control was not built"),
        }
    }
    if desc.own_cnode {
        match filler.give(server.cnode.cptr(), CapRights::ALL, None) {
            Ok(slot) => {
                info.own_cnode = slot;
                let _ = write!(summary, ", own cnode");
            }
            Err(e) => warn!("server '{name}': own CNode not granted: {e}"),
        }
    }
    if desc.poweroff {
        match filler.give(root::sys_control().cptr(), CapRights::ALL, None) {
            Ok(slot) => {
                info.sys_control = slot;
                let _ = write!(summary, ", sys control");
            }
            Err(e) => warn!("server '{name}': system control not granted: {e}"),
        }
    }
    if desc.untyped_bits != 0 {
        let bits = u32::from(desc.untyped_bits);
        let granted = filler.slot().and_then(|slot| {
            b.retype(ObjectType::Untyped, bits, filler.cnode, slot, 1)
                .context("make the untyped")
                .map(|()| slot)
        });
        match granted {
            Ok(slot) => {
                filler.next += 1;
                info.untyped = slot;
                info.untyped_bits = u64::from(bits);
                let _ = write!(summary, ", untyped 2^{bits}");
            }
            Err(e) => warn!("server '{name}': untyped not granted: {e}"),
        }
    }
    if desc.upgradable() {
        let granted = endpoints
            .control(index, server.slot)
            .map(|ep| filler.give(ep.cptr(), CapRights::ALL, None));
        match granted {
            Some(Ok(slot)) => {
                info.upgrade_control = slot;
                info.upgrade_import = u64::from(server.import);
                let _ = write!(summary, ", upgrade control");
            }
            Some(Err(e)) => warn!("server '{name}': upgrade control endpoint not granted: {e}"),
            None => warn!("server '{name}': has no upgrade control endpoint"),
        }
    }
    if desc.upgrader {
        for target in image.upgradable() {
            let t = &image.servers[target];
            // Unbadged (badge 0: `freeze` is accepted) and WRITE only (nothing travels).
            let service = t.endpoints.first().and_then(|e| endpoints.get(e));
            let controls = [endpoints.control(target, 0), endpoints.control(target, 1)];
            let (Some(service), [Some(c0), Some(c1)]) = (service, controls) else {
                warn!("server '{name}': upgrade grants of '{}' missing", t.name);
                continue;
            };
            let granted = (|| {
                Ok::<_, BuildError>([
                    filler.give(service.cptr(), CapRights::WRITE, None)?,
                    filler.give(c0.cptr(), CapRights::WRITE, None)?,
                    filler.give(c1.cptr(), CapRights::WRITE, None)?,
                ])
            })();
            match granted {
                Ok([s, a, c]) => {
                    info.push_upgradable(&t.name, s, [a, c]);
                    let _ = write!(summary, ", upgrades {} (badge 0, 2 controls)", t.name);
                }
                Err(e) => warn!("server '{name}': upgrade grants of '{}': {e}", t.name),
            }
        }
    }
    let (devices, _) = platform::layout(&desc.devices);
    for placed in &devices {
        let device = placed.name.as_str();
        let granted = placed
            .device
            .ok_or(BuildError::NoSuchDevice)
            .and_then(|d| grant_device(b, server, &mut filler, d, placed.vaddr));
        match granted {
            Ok(entry) => {
                let _ = write!(summary, ", device {device} (irq {}", entry.irq_number);
                if entry.mmio_vaddr != 0 {
                    let _ = write!(
                        summary,
                        ", {} page(s) at {:#x}",
                        entry.mmio_pages, entry.mmio_vaddr
                    );
                }
                if let Some((first, last)) = placed.device.and_then(|d| d.ports) {
                    let _ = write!(summary, ", ports {first:#x}..={last:#x}");
                }
                if entry.dma_pages != 0 {
                    let _ = write!(
                        summary,
                        ", {} DMA page(s) at {:#x}",
                        entry.dma_pages, entry.dma_vaddr
                    );
                }
                let _ = write!(summary, ")");
                info.push_device(device, entry);
            }
            Err(e) => warn!("server '{name}': device '{device}' not granted: {e}"),
        }
    }
    crate::shared::grant(b, image, index, server, &mut info, &mut summary)?;
    info.empty_start = filler.next;
    info.empty_end = CNodeFiller::END;
    server.empty_start = filler.next;
    info.heap_base = SERVER_HEAP_VADDR;
    info.heap_len = u64::from(desc.heap_pages) * PAGE;
    info.counter_frequency = counter_frequency;
    info.threads = u64::from(desc.threads.max(1));
    info.verify = u64::from(desc.verify && desc.transactional);

    // The server-info page, mapped read-only.
    let frame: Cap<Frame> = b.make(ObjectType::Frame, 0, "make the server-info frame")?;
    let written = b.fill_frame(frame, |page| {
        page.fill(0);
        let dest = page.as_mut_ptr().cast::<ServerInfo>();
        // SAFETY: `page` is one page-aligned page of writable memory (the scratch mapping);
        // ServerInfo fits in a page (checked at compile time in `server_info`) and needs only
        // 8-byte alignment.
        unsafe { dest.write(info) };
    });
    if let Err(e) = written {
        let _ = b.delete(frame);
        return Err(e);
    }
    // The root's own writable mapping of the page, for the control words. Without it the server
    // runs, but faults cannot be injected into it.
    let control: Result<Cap<Frame>, BuildError> = b
        .slots
        .alloc()
        .ok_or(BuildError::OutOfSlots)
        .and_then(|slot| {
            match root::cnode().copy(
                slot,
                Cap::<CNode>::invoker_root(),
                frame.cptr(),
                CapRights::READ_WRITE,
            ) {
                Ok(()) => Ok(Cap::from_cptr(slot)),
                Err(e) => {
                    b.slots.free(slot);
                    Err(e).context("copy the server-info frame")
                }
            }
        });
    match control {
        Ok(copy) => match b.map_frame(
            copy,
            root::vspace(),
            version_control_page(index, server.slot),
            CapRights::READ_WRITE,
            VmAttributes::NONE,
        ) {
            Ok(_tables) => server.control = Some(copy),
            Err(e) => {
                warn!("server '{name}': no control mapping of its info page: {e}");
                let _ = b.delete(copy);
            }
        },
        Err(e) => warn!("server '{name}': no control mapping of its info page: {e}"),
    }
    place(
        b,
        server,
        frame,
        SERVER_INFO_VADDR,
        CapRights::READ,
        VmAttributes::NONE,
    )?;
    server.pages.ipc_info += 1;
    let pages = server.pages;

    let mut fault: heapless::String<64> = heapless::String::new();
    let badge = version_fault_badge(index, server.slot);
    let _ = match &desc.fault_handler {
        FaultHandler::Supervisor => write!(fault, "the supervisor (badge {badge:#x})"),
        FaultHandler::None => write!(fault, "nobody (the kernel suspends it)"),
        FaultHandler::Endpoint(ep) => write!(fault, "endpoint {ep} (badge {badge:#x})"),
    };
    info!(
        "server '{name}' (program {}, priority {}): {} pages ({} program, {} stack, {} heap, \
         {} ipc/info, {} page tables); caps: {summary}; faults to {fault}",
        server.program,
        desc.priority,
        pages.total(),
        pages.program,
        pages.stack,
        pages.heap,
        pages.ipc_info,
        pages.tables,
    );
    Ok(())
}

/// Makes the transactional region of a server: a TxRegion with `tx_pool_pages` undo frames over
/// its writable program pages (data and bss), heap and stack, bound to its thread.
fn make_tx_region(
    b: &mut Builder,
    elf: &Elf,
    desc: &ServerDesc,
    vspace: Cap<VSpace>,
    tcb: Cap<Tcb>,
) -> Result<(Cap<TxRegion>, u64), BuildError> {
    let pages = (u64::from(desc.tx_pool_pages) + 1).next_power_of_two();
    let bits = PAGE.trailing_zeros() + pages.trailing_zeros();
    let region: Cap<TxRegion> =
        b.make(ObjectType::TxRegion, bits, "make the transactional region")?;
    // Runs of writable program pages (usually one: .data and .bss).
    let mut run: Option<(u64, u64)> = None;
    let mut covered = 0;
    for page in elf.pages() {
        if page.writable {
            covered += 1;
        }
        match run {
            Some((start, end)) if page.writable && page.vaddr == end => {
                run = Some((start, end + PAGE))
            }
            _ if page.writable => {
                if let Some((start, end)) = run {
                    region
                        .add_range(vspace, start, end, false)
                        .context("add a data range")?;
                }
                run = Some((page.vaddr, page.vaddr + PAGE));
            }
            _ => {}
        }
    }
    if let Some((start, end)) = run {
        region
            .add_range(vspace, start, end, false)
            .context("add a data range")?;
    }
    let heap_pages = u64::from(desc.heap_pages);
    if heap_pages > 0 {
        region
            .add_range(
                vspace,
                SERVER_HEAP_VADDR,
                SERVER_HEAP_VADDR + heap_pages * PAGE,
                false,
            )
            .context("add the heap range")?;
    }
    let stack_pages = u64::from(desc.stack_pages);
    region
        .add_range(
            vspace,
            SERVER_STACK_TOP - stack_pages * PAGE,
            SERVER_STACK_TOP,
            true,
        )
        .context("add the stack range")?;
    if desc.request_budget_ms > 0 {
        let ticks = u64::from(desc.request_budget_ms) * b.counter_frequency / 1000;
        region.set_budget(ticks).context("set the request budget")?;
    }
    if desc.verify {
        region
            .set_verify(true)
            .context("turn on verified transactions")?;
    }
    tcb.bind_tx_region(Some(region))
        .context("bind the transactional region")?;
    Ok((region, covered + heap_pages + stack_pages))
}

/// Makes snapshot storage for a transactional region of `pages` pages: a Snapshot object with a
/// frame per page (plus its header page, rounded up to a power of two).
pub fn make_snapshot(b: &mut Builder, pages: u64) -> Result<Cap<Snapshot>, BuildError> {
    let frames = (pages + 1).next_power_of_two();
    let bits = PAGE.trailing_zeros() + frames.trailing_zeros();
    if bits > axolotl_abi::object::SNAPSHOT_MAX_BITS {
        return Err(BuildError::Kernel {
            what: "make the snapshot storage (the region is larger than a snapshot holds)",
            error: axolotl_rt::Error::RangeError,
        });
    }
    b.make(
        ObjectType::Snapshot,
        bits.max(axolotl_abi::object::SNAPSHOT_MIN_BITS),
        "make the snapshot storage",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_estimates() {
        assert_eq!(tables_for(0x20_0000, 0x20_0000), 0);
        // One page: one table per level.
        assert_eq!(tables_for(0x20_0000, 0x20_1000), 3);
        // Across a 2 MiB boundary: two last-level tables.
        assert_eq!(tables_for(0x1f_f000, 0x20_1000), 4);
        // Info page to stack top: 16 MiB = 8 last-level tables.
        assert_eq!(tables_for(SERVER_INFO_VADDR, SERVER_STACK_TOP), 10);
        assert_eq!(table_estimate((0x20_0000, 0x22_4000), 0), 3 + 10);
    }
}
