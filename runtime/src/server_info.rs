//! The contract between the root task and each server it starts.
//!
//! Address-space layout of a server:
//!
//! | address | what |
//! |---|---|
//! | `PAGE_SIZE..SERVER_INFO_VADDR` | the program's ELF segments |
//! | [`SERVER_INFO_VADDR`] | this page, [`ServerInfo`], read-only |
//! | [`SERVER_IPC_BUFFER_VADDR`] | the IPC buffer, read/write |
//! | one page below the stack | unmapped guard page |
//! | `SERVER_STACK_TOP - stack_pages * PAGE_SIZE..SERVER_STACK_TOP` | the stack |
//! | [`SERVER_DEVICE_VADDR`]`..`[`SERVER_DEVICE_END`] | registers of granted devices (device memory) |
//! | [`SERVER_HEAP_VADDR`]`..+heap_len` | the heap (zeroed), if any |
//! | [`SERVER_DMA_VADDR`]`..`[`SERVER_DMA_END`] | DMA memory of granted devices (ordinary memory), if any |
//! | [`SERVER_SHARED_VADDR`]`..`[`SERVER_SHARED_END`] | memory shared with another server (`[[shared]]` regions), if any |
//!
//! The thread starts at the ELF entry with sp = [`SERVER_STACK_TOP`] and its first argument
//! register = [`SERVER_INFO_VADDR`].
//!
//! A server with `threads = N > 1` has N-1 worker threads in the same address space. Each
//! thread `k` owns a [`THREAD_WINDOW`]-aligned window ([`thread_window`]): thread 0's is the one
//! holding this page, with its IPC buffer one page above the window's base and its stack below
//! [`SERVER_STACK_TOP`], the window's end; worker `k`'s window follows, with the same layout (the
//! window's first page unmapped, its IPC buffer in the second, its stack of `stack_pages` at the
//! window's top, an unmapped guard page below it). So a thread finds its own IPC buffer from its
//! stack pointer ([`crate::ipc_buffer`]). Every thread starts at the ELF entry with sp = its
//! window's end and its first argument register = [`SERVER_INFO_VADDR`] + its index
//! ([`START_THREAD_MASK`]), plus [`START_PATCHED`] when the supervisor restarts it in a patched
//! build (wait-free code patch: it skips the one-time start-up). Its CSpace is one CNode of 2^[`SERVER_CNODE_RADIX`] slots,
//! holding only the capabilities listed in [`ServerInfo`]: its endpoints (full rights), the
//! endpoints it calls (minted WRITE|GRANT with badge [`call_badge`] of the caller), the TCBs of
//! the servers it controls, its own TCB (always; the runtime suspends it when `main` returns),
//! and, if the image grants them, its own CNode, an Untyped and the system-control capability.
//! For each platform device the image grants ([`ServerInfo::device`]): the device's IRQ handler
//! capability, a notification its interrupt signals (badge [`irq_badge`] of the IRQ), and, for a
//! device with I/O ports, an I/O-port capability; its registers, if memory-mapped, are mapped
//! read/write as device memory in the device window, devices one after another in image order
//! with an unmapped page between two; a device with DMA memory also gets that memory (physically
//! contiguous) and copies of its frame capabilities ([`DeviceGrant::dma`]). Empty slots are
//! `empty_start..empty_end`.

use crate::cap::{
    CNode, Cap, Endpoint, IoPort, IrqHandler, Notification, SysControl, Tcb, Untyped,
};
use axolotl_abi::{Badge, CPtr, PAGE_SIZE};

/// The server-info page.
pub const SERVER_INFO_VADDR: u64 = 0x1000_0000;
/// The IPC buffer.
pub const SERVER_IPC_BUFFER_VADDR: u64 = 0x1000_1000;
/// The top of the stack (the stack grows down from here).
pub const SERVER_STACK_TOP: u64 = 0x1100_0000;
/// The most stack pages that fit between the IPC buffer, the guard page and the stack top.
pub const SERVER_STACK_PAGES_MAX: u64 =
    (SERVER_STACK_TOP - SERVER_IPC_BUFFER_VADDR) / PAGE_SIZE as u64 - 2;
/// The size and alignment of a thread's window (see the module documentation).
pub const THREAD_WINDOW: u64 = 0x100_0000;
/// The most threads a server may have: windows end where the device window starts.
pub const MAX_THREADS: u64 = (SERVER_DEVICE_VADDR - SERVER_INFO_VADDR) / THREAD_WINDOW;
/// Start argument: the low bits carry the thread's index.
pub const START_THREAD_MASK: u64 = 0xff;
/// Start argument: the thread is restarted in a patched build of the program.
pub const START_PATCHED: u64 = 0x100;
const _: () = assert!(SERVER_STACK_TOP == SERVER_INFO_VADDR + THREAD_WINDOW);
const _: () = assert!(SERVER_INFO_VADDR % THREAD_WINDOW == 0);

/// Thread `k`'s window: its base (unmapped for workers; this page for thread 0), its IPC buffer
/// one page above, its stack growing down from the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadWindow {
    pub base: u64,
    pub ipc_buffer: u64,
    pub stack_top: u64,
}

/// The window of thread `k` (0: the main thread).
pub const fn thread_window(k: u64) -> ThreadWindow {
    let base = SERVER_INFO_VADDR + k * THREAD_WINDOW;
    ThreadWindow {
        base,
        ipc_buffer: base + PAGE_SIZE as u64,
        stack_top: base + THREAD_WINDOW,
    }
}
const _: () = assert!(thread_window(0).ipc_buffer == SERVER_IPC_BUFFER_VADDR);
const _: () = assert!(thread_window(0).stack_top == SERVER_STACK_TOP);

/// The start of the heap.
pub const SERVER_HEAP_VADDR: u64 = 0x3000_0000;
/// The device window: the root task maps the registers of granted devices here, and nothing
/// else lives here (so [`crate::mmio`] may access it from safe code).
pub const SERVER_DEVICE_VADDR: u64 = 0x2000_0000;
/// The end of the device window (exclusive).
pub const SERVER_DEVICE_END: u64 = SERVER_HEAP_VADDR;
/// DMA memory of granted devices (ordinary memory, physically contiguous per device; see
/// [`DeviceGrant::dma`]).
pub const SERVER_DMA_VADDR: u64 = 0x4000_0000;
/// The end of the DMA window (exclusive).
pub const SERVER_DMA_END: u64 = 0x4100_0000;
/// The shared window: the image's `[[shared]]` regions, each at the same offset in both of its
/// servers (ordinary memory; see [`crate::shared`]).
pub const SERVER_SHARED_VADDR: u64 = 0x4200_0000;
/// The end of the shared window (exclusive): 512 pages.
pub const SERVER_SHARED_END: u64 = 0x4220_0000;
/// The most shared regions a server is in.
pub const MAX_SHARED: usize = 4;
/// The end of the region ELF segments may occupy (exclusive); they start at `PAGE_SIZE`.
pub const SERVER_PROGRAM_END: u64 = SERVER_INFO_VADDR;
/// log2 of the number of slots of a server's CNode.
pub const SERVER_CNODE_RADIX: u32 = 8;

/// "SRVRINFO"
pub const SERVER_INFO_MAGIC: u64 = 0x4f46_4e49_5256_5253;
/// The longest name a [`NamedCap`] or [`ServerInfo`] holds.
pub const NAME_LEN: usize = 24;
pub const MAX_ENDPOINTS: usize = 4;
pub const MAX_CALLS: usize = 8;
pub const MAX_CONTROLS: usize = 8;
pub const MAX_DEVICES: usize = 4;
/// The most upgradable servers an upgrader is given (`axolotl_image::MAX_UPGRADABLE`).
pub const MAX_UPGRADABLES: usize = 4;

/// The badge a server's calls to an endpoint carry: 1 + the caller's index in the image.
pub const fn call_badge(caller_index: usize) -> Badge {
    1 + caller_index as Badge
}

/// A capability and the name the image gives it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedCap {
    /// UTF-8, NUL-padded.
    pub name: [u8; NAME_LEN],
    pub cptr: CPtr,
}

impl NamedCap {
    pub const EMPTY: NamedCap = NamedCap {
        name: [0; NAME_LEN],
        cptr: 0,
    };

    /// `name` is cut to [`NAME_LEN`] bytes.
    pub fn new(name: &str, cptr: CPtr) -> NamedCap {
        let mut n = NamedCap {
            cptr,
            ..NamedCap::EMPTY
        };
        copy_name(&mut n.name, name);
        n
    }

    pub fn name(&self) -> &str {
        name_str(&self.name, NAME_LEN)
    }
}

/// Copies `src` into `dest`, cut at a character boundary, NUL-padding the rest; returns the length.
fn copy_name(dest: &mut [u8; NAME_LEN], src: &str) -> usize {
    let mut len = src.len().min(NAME_LEN);
    while !src.is_char_boundary(len) {
        len -= 1;
    }
    dest.fill(0);
    dest[..len].copy_from_slice(&src.as_bytes()[..len]);
    len
}

fn name_str(bytes: &[u8; NAME_LEN], len: usize) -> &str {
    let len = len.min(NAME_LEN);
    let len = bytes[..len].iter().position(|&c| c == 0).unwrap_or(len);
    core::str::from_utf8(&bytes[..len]).unwrap_or("?")
}

fn find(list: &[NamedCap], count: u64, name: &str) -> Option<CPtr> {
    let n = (count as usize).min(list.len());
    list[..n]
        .iter()
        .find(|c| c.name() == name && c.cptr != 0)
        .map(|c| c.cptr)
}

fn nonzero<T: crate::cap::CapType>(cptr: CPtr) -> Option<Cap<T>> {
    (cptr != 0).then(|| Cap::from_cptr(cptr))
}

/// The badge an interrupt signals its notification with: the kernel ORs `1 << (irq % 64)` into
/// the notification word each time IRQ `irq` is delivered.
pub const fn irq_badge(irq: u64) -> Badge {
    1 << (irq % 64)
}

/// One granted platform device as the server-info page stores it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    /// The device's name in the image (`uart`, `timer`), UTF-8, NUL-padded.
    pub name: [u8; NAME_LEN],
    /// Where its registers are mapped (0: it has none), `mmio_pages` pages.
    pub mmio_vaddr: u64,
    pub mmio_pages: u64,
    /// The physical address of those registers (what a device's DMA or BARs name).
    pub mmio_paddr: u64,
    /// Its I/O-port range (0: none).
    pub io_port: CPtr,
    /// The kernel's number of its interrupt (aarch64: GIC INTID; x86_64: I/O APIC GSI).
    pub irq_number: u64,
    /// Its IRQ handler capability.
    pub irq: CPtr,
    /// The notification its interrupt signals (full rights).
    pub notification: CPtr,
    /// Its DMA memory: `dma_pages` pages mapped at `dma_vaddr` (0: none), and the capabilities
    /// of their frames in `dma_pages` consecutive slots from `dma_frames`, in address order.
    pub dma_vaddr: u64,
    pub dma_pages: u64,
    pub dma_frames: CPtr,
}

impl DeviceEntry {
    pub const EMPTY: DeviceEntry = DeviceEntry {
        name: [0; NAME_LEN],
        mmio_vaddr: 0,
        mmio_pages: 0,
        mmio_paddr: 0,
        io_port: 0,
        irq_number: 0,
        irq: 0,
        notification: 0,
        dma_vaddr: 0,
        dma_pages: 0,
        dma_frames: 0,
    };

    pub fn name(&self) -> &str {
        name_str(&self.name, NAME_LEN)
    }

    /// The entry as typed capabilities.
    pub fn grant(&self) -> DeviceGrant {
        DeviceGrant {
            mmio_vaddr: self.mmio_vaddr,
            mmio_pages: self.mmio_pages,
            mmio_paddr: self.mmio_paddr,
            io_port: nonzero(self.io_port),
            irq_number: self.irq_number,
            irq: Cap::from_cptr(self.irq),
            notification: Cap::from_cptr(self.notification),
            dma: (self.dma_vaddr != 0 && self.dma_pages != 0).then_some(DmaGrant {
                vaddr: self.dma_vaddr,
                pages: self.dma_pages,
                first_frame: self.dma_frames,
            }),
        }
    }
}

/// A platform device granted to the server (see [`ServerInfo::device`]). Its interrupt signals
/// `notification` with [`DeviceGrant::irq_badge`] and stays masked until `irq.ack()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceGrant {
    /// Where its registers are mapped as device memory (0: none); see [`crate::mmio`].
    pub mmio_vaddr: u64,
    pub mmio_pages: u64,
    /// Their physical address.
    pub mmio_paddr: u64,
    /// Its I/O ports (x86_64 devices).
    pub io_port: Option<Cap<IoPort>>,
    /// The kernel's number of its interrupt (aarch64: GIC INTID; x86_64: I/O APIC GSI).
    pub irq_number: u64,
    pub irq: Cap<IrqHandler>,
    pub notification: Cap<Notification>,
    /// Its DMA memory, if the device has any.
    pub dma: Option<DmaGrant>,
}

/// A device's DMA memory: `pages` pages mapped read/write at `vaddr`, physically contiguous; the
/// frame capability of page `i` is in slot `first_frame + i` (ask it for the physical address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaGrant {
    pub vaddr: u64,
    pub pages: u64,
    pub first_frame: CPtr,
}

impl DmaGrant {
    /// The frame capability of page `i`.
    pub fn frame(&self, i: u64) -> Option<Cap<crate::cap::Frame>> {
        (i < self.pages).then(|| Cap::from_cptr(self.first_frame + i))
    }
}

impl DeviceGrant {
    /// The bit its interrupt sets in the notification word.
    pub const fn irq_badge(&self) -> Badge {
        irq_badge(self.irq_number)
    }
}

/// What the image's upgrader holds for one upgradable server (`upgrader = true` in the image):
/// capabilities the root task made for it alone.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpgradableEntry {
    /// The server's name in the image, UTF-8, NUL-padded.
    pub name: [u8; NAME_LEN],
    /// Its service endpoint (its first), WRITE only, **badge 0**: `upgrade::v1::freeze` is
    /// accepted only from an unbadged caller.
    pub service: CPtr,
    /// Its two control endpoints, WRITE only: versions alternate between them (the version in
    /// slot `n` receives on `controls[n]`); `lifecycle::v1::prepare` says which one a new
    /// version got.
    pub controls: [CPtr; 2],
}

impl UpgradableEntry {
    pub const EMPTY: UpgradableEntry = UpgradableEntry {
        name: [0; NAME_LEN],
        service: 0,
        controls: [0; 2],
    };

    pub fn name(&self) -> &str {
        name_str(&self.name, NAME_LEN)
    }

    pub fn service(&self) -> Cap<Endpoint> {
        Cap::from_cptr(self.service)
    }

    /// The control endpoint of version slot `slot` (0 or 1).
    pub fn control(&self, slot: u8) -> Option<Cap<Endpoint>> {
        self.controls
            .get(usize::from(slot))
            .copied()
            .and_then(nonzero)
    }
}

/// The server-info page: what a server was given, written by the root task.
#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// [`SERVER_INFO_MAGIC`].
    pub magic: u64,
    /// The server's name in the image, UTF-8, `name_len` bytes.
    pub name: [u8; NAME_LEN],
    pub name_len: u64,
    /// The heap: `heap_len` bytes (0: none) at `heap_base`, zeroed.
    pub heap_base: u64,
    pub heap_len: u64,
    /// Endpoints it receives on (full rights, unbadged).
    pub endpoints: [NamedCap; MAX_ENDPOINTS],
    pub n_endpoints: u64,
    /// Endpoints it may call (WRITE|GRANT, badge [`call_badge`] of this server).
    pub calls: [NamedCap; MAX_CALLS],
    pub n_calls: u64,
    /// TCBs of the servers it controls, by server name.
    pub controls: [NamedCap; MAX_CONTROLS],
    pub n_controls: u64,
    /// Its own TCB.
    pub own_tcb: CPtr,
    /// Its own CNode (0: not granted).
    pub own_cnode: CPtr,
    /// An Untyped of 2^`untyped_bits` bytes (0: none).
    pub untyped: CPtr,
    pub untyped_bits: u64,
    /// The system-control capability (0: none).
    pub sys_control: CPtr,
    /// Free slots of its CNode: `empty_start..empty_end`.
    pub empty_start: CPtr,
    pub empty_end: CPtr,
    /// Frequency of the counter user space reads for time, in Hz.
    pub counter_frequency: u64,
    /// Platform devices it was granted.
    pub devices: [DeviceEntry; MAX_DEVICES],
    pub n_devices: u64,
    /// Its upgrade control endpoint (0: none): the endpoint only the supervisor calls, on which
    /// the server takes `upgrade::v1` requests while frozen or before it first serves (see
    /// docs/ARCHITECTURE.md, "Live upgrade").
    pub upgrade_control: CPtr,
    /// Non-zero: the server is a new version started to take over from an old one; it first
    /// waits on its control endpoint for its state, and serves its endpoint only when told to.
    pub upgrade_import: u64,
    /// The upgrader only: the upgradable servers of the image, in image order.
    pub upgradables: [UpgradableEntry; MAX_UPGRADABLES],
    pub n_upgradables: u64,
    /// Threads serving its endpoints (0 or 1: only the main thread); see [`thread_window`].
    pub threads: u64,
    /// Non-zero: its requests are verified transactions (`verify = true`): [`serve`]
    /// (crate::ipc_transport::serve) asks the kernel to compare two runs of each one.
    pub verify: u64,
    /// Shared memory regions it is in (with one other server each).
    pub shared: [SharedEntry; MAX_SHARED],
    pub n_shared: u64,
}

/// One shared region as the server-info page stores it: `pages` pages at `vaddr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedEntry {
    pub name: [u8; NAME_LEN],
    pub vaddr: u64,
    pub pages: u64,
}

impl SharedEntry {
    pub const EMPTY: SharedEntry = SharedEntry {
        name: [0; NAME_LEN],
        vaddr: 0,
        pages: 0,
    };

    pub fn new(name: &str, vaddr: u64, pages: u64) -> SharedEntry {
        let mut entry = SharedEntry {
            vaddr,
            pages,
            ..SharedEntry::EMPTY
        };
        copy_name(&mut entry.name, name);
        entry
    }

    pub fn name(&self) -> &str {
        name_str(&self.name, NAME_LEN)
    }
}

const _: () = assert!(core::mem::size_of::<ServerInfo>() <= SERVER_CONTROL_OFFSET);

/// Where the supervisor's *control words* are in the server-info page: its last 64 bytes, outside
/// [`ServerInfo`]. Unlike the rest of the page they change while the server runs (the root task
/// keeps a writable mapping of every server's page), so the server reads them only with volatile
/// loads ([`armed_fault`]), never through the `&ServerInfo` it was given.
pub const SERVER_CONTROL_OFFSET: usize = PAGE_SIZE - 64;
/// Control word 0: the deliberate fault armed for the server's next request
/// (`ipc_schema::inject::v1::FaultKind::code`; 0: none). The supervisor sets it (`inject::v1`)
/// and clears it when the fault is reported.
pub const CONTROL_INJECT: usize = 0;

/// The fault armed in this server's info page for its next request (0: none). Servers only.
pub fn armed_fault() -> u64 {
    let word = SERVER_INFO_VADDR as usize + SERVER_CONTROL_OFFSET + CONTROL_INJECT * 8;
    // SAFETY: the root task maps the server-info page read-only at SERVER_INFO_VADDR for the
    // server's whole life before starting it; the control words are 8-byte aligned, inside that
    // page and outside the `ServerInfo` the server holds a reference to, so this volatile load
    // aliases no Rust reference while the supervisor changes the word.
    unsafe { core::ptr::read_volatile(word as *const u64) }
}

/// Whether this server's requests are verified transactions ([`ServerInfo::verify`]). Servers
/// only.
pub fn verified_requests() -> bool {
    let word = SERVER_INFO_VADDR as usize + core::mem::offset_of!(ServerInfo, verify);
    // SAFETY: as in `armed_fault`: the page is mapped read-only at SERVER_INFO_VADDR for the
    // server's whole life, and the field is 8-byte aligned inside it; a volatile load makes no
    // reference.
    unsafe { core::ptr::read_volatile(word as *const u64) != 0 }
}

impl ServerInfo {
    /// Nothing granted, named `name`.
    pub fn new(name: &str) -> ServerInfo {
        let mut info = ServerInfo {
            magic: SERVER_INFO_MAGIC,
            name: [0; NAME_LEN],
            name_len: 0,
            heap_base: SERVER_HEAP_VADDR,
            heap_len: 0,
            endpoints: [NamedCap::EMPTY; MAX_ENDPOINTS],
            n_endpoints: 0,
            calls: [NamedCap::EMPTY; MAX_CALLS],
            n_calls: 0,
            controls: [NamedCap::EMPTY; MAX_CONTROLS],
            n_controls: 0,
            own_tcb: 0,
            own_cnode: 0,
            untyped: 0,
            untyped_bits: 0,
            sys_control: 0,
            empty_start: 0,
            empty_end: 0,
            counter_frequency: 0,
            devices: [DeviceEntry::EMPTY; MAX_DEVICES],
            n_devices: 0,
            upgrade_control: 0,
            upgrade_import: 0,
            upgradables: [UpgradableEntry::EMPTY; MAX_UPGRADABLES],
            n_upgradables: 0,
            threads: 1,
            verify: 0,
            shared: [SharedEntry::EMPTY; MAX_SHARED],
            n_shared: 0,
        };
        info.name_len = copy_name(&mut info.name, name) as u64;
        info
    }

    /// Adds an endpoint it receives on; `false` if the list is full.
    pub fn push_endpoint(&mut self, name: &str, cptr: CPtr) -> bool {
        push(&mut self.endpoints, &mut self.n_endpoints, name, cptr)
    }

    /// Adds an endpoint it may call; `false` if the list is full.
    pub fn push_call(&mut self, name: &str, cptr: CPtr) -> bool {
        push(&mut self.calls, &mut self.n_calls, name, cptr)
    }

    /// Adds the TCB of a server it controls; `false` if the list is full.
    pub fn push_control(&mut self, name: &str, cptr: CPtr) -> bool {
        push(&mut self.controls, &mut self.n_controls, name, cptr)
    }

    /// Adds an upgradable server (the upgrader's); `false` if the list is full.
    pub fn push_upgradable(&mut self, name: &str, service: CPtr, controls: [CPtr; 2]) -> bool {
        let Some(slot) = self.upgradables.get_mut(self.n_upgradables as usize) else {
            return false;
        };
        let mut entry = UpgradableEntry {
            service,
            controls,
            ..UpgradableEntry::EMPTY
        };
        copy_name(&mut entry.name, name);
        *slot = entry;
        self.n_upgradables += 1;
        true
    }

    /// The upgradable servers it may upgrade (the upgrader only).
    pub fn upgradables(&self) -> &[UpgradableEntry] {
        &self.upgradables[..(self.n_upgradables as usize).min(MAX_UPGRADABLES)]
    }

    /// The upgradable server named `name` (the upgrader only).
    pub fn upgradable(&self, name: &str) -> Option<&UpgradableEntry> {
        self.upgradables().iter().find(|u| u.name() == name)
    }

    /// Adds a granted device (`entry.name` is set to `name`); `false` if the list is full.
    pub fn push_device(&mut self, name: &str, mut entry: DeviceEntry) -> bool {
        let Some(slot) = self.devices.get_mut(self.n_devices as usize) else {
            return false;
        };
        copy_name(&mut entry.name, name);
        *slot = entry;
        self.n_devices += 1;
        true
    }

    /// Whether the root task wrote this page (the magic number is right).
    pub fn is_valid(&self) -> bool {
        self.magic == SERVER_INFO_MAGIC
    }

    /// The server's name in the image.
    pub fn name(&self) -> &str {
        name_str(&self.name, self.name_len as usize)
    }

    /// The endpoint it receives on named `name`.
    pub fn endpoint(&self, name: &str) -> Option<Cap<Endpoint>> {
        find(&self.endpoints, self.n_endpoints, name).map(Cap::from_cptr)
    }

    /// The endpoint named `name` it may call.
    pub fn client(&self, name: &str) -> Option<Cap<Endpoint>> {
        find(&self.calls, self.n_calls, name).map(Cap::from_cptr)
    }

    /// The TCB of server `name`, if it controls it.
    pub fn control(&self, name: &str) -> Option<Cap<Tcb>> {
        find(&self.controls, self.n_controls, name).map(Cap::from_cptr)
    }

    /// The endpoints it receives on.
    pub fn endpoints(&self) -> &[NamedCap] {
        &self.endpoints[..(self.n_endpoints as usize).min(MAX_ENDPOINTS)]
    }

    /// The endpoints it may call.
    pub fn calls(&self) -> &[NamedCap] {
        &self.calls[..(self.n_calls as usize).min(MAX_CALLS)]
    }

    /// The TCBs of the servers it controls.
    pub fn controls(&self) -> &[NamedCap] {
        &self.controls[..(self.n_controls as usize).min(MAX_CONTROLS)]
    }

    /// The platform device named `name` (`uart`, `timer`), if the image granted it.
    pub fn device(&self, name: &str) -> Option<DeviceGrant> {
        self.devices()
            .iter()
            .find(|d| d.name() == name && d.irq != 0)
            .map(DeviceEntry::grant)
    }

    /// The shared regions it is in.
    pub fn shared_regions(&self) -> &[SharedEntry] {
        &self.shared[..(self.n_shared as usize).min(MAX_SHARED)]
    }

    /// The shared region `name`, if it is in it.
    pub fn shared(&self, name: &str) -> Option<crate::shared::SharedMemory> {
        self.shared_regions()
            .iter()
            .find(|r| r.name() == name)
            .and_then(|r| crate::shared::SharedMemory::new(r.vaddr, r.pages))
    }

    /// The platform devices it was granted.
    pub fn devices(&self) -> &[DeviceEntry] {
        &self.devices[..(self.n_devices as usize).min(MAX_DEVICES)]
    }

    pub fn own_tcb(&self) -> Cap<Tcb> {
        Cap::from_cptr(self.own_tcb)
    }

    pub fn own_cnode(&self) -> Option<Cap<CNode>> {
        nonzero(self.own_cnode)
    }

    /// The granted Untyped and log2 of its size.
    pub fn untyped(&self) -> Option<(Cap<Untyped>, u32)> {
        nonzero(self.untyped).map(|c| (c, self.untyped_bits as u32))
    }

    pub fn sys_control(&self) -> Option<Cap<SysControl>> {
        nonzero(self.sys_control)
    }

    /// Free slots of its CNode.
    pub fn empty_slots(&self) -> core::ops::Range<CPtr> {
        self.empty_start..self.empty_end.max(self.empty_start)
    }

    /// Its upgrade control endpoint, if it has one.
    pub fn upgrade_control(&self) -> Option<Cap<Endpoint>> {
        nonzero(self.upgrade_control)
    }

    /// Whether it starts by importing an old version's state (on its control endpoint) rather
    /// than by serving. Never without a control endpoint.
    pub fn starts_importing(&self) -> bool {
        self.upgrade_import != 0 && self.upgrade_control != 0
    }

    /// The heap as an address range (empty if none).
    pub fn heap(&self) -> core::ops::Range<u64> {
        self.heap_base..self.heap_base.saturating_add(self.heap_len)
    }
}

fn push(list: &mut [NamedCap], count: &mut u64, name: &str, cptr: CPtr) -> bool {
    let n = *count as usize;
    match list.get_mut(n) {
        Some(slot) => {
            *slot = NamedCap::new(name, cptr);
            *count += 1;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_constants() {
        assert_eq!(SERVER_STACK_PAGES_MAX, 4093);
        // The guard page under the largest stack is just above the IPC buffer.
        let guard = SERVER_STACK_TOP - (SERVER_STACK_PAGES_MAX + 1) * PAGE_SIZE as u64;
        assert_eq!(guard, SERVER_IPC_BUFFER_VADDR + PAGE_SIZE as u64);
    }

    #[test]
    fn lookups() {
        let mut info = ServerInfo::new("ping");
        assert_eq!(info.name(), "ping");
        assert!(info.push_call("pong", 9));
        assert!(info.push_endpoint("ping", 5));
        assert!(info.push_control("a-very-long-server-name-x", 11));
        assert_eq!(info.client("pong"), Some(Cap::from_cptr(9)));
        assert_eq!(info.client("ping"), None);
        assert_eq!(info.endpoint("ping"), Some(Cap::from_cptr(5)));
        assert_eq!(info.controls()[0].name(), "a-very-long-server-name-");
        assert!(info.sys_control().is_none());
        assert_eq!(info.upgrade_control(), None);
        info.upgrade_import = 1;
        assert!(
            !info.starts_importing(),
            "importing needs a control endpoint"
        );
        info.upgrade_control = 12;
        assert_eq!(info.upgrade_control(), Some(Cap::from_cptr(12)));
        assert!(info.starts_importing());
        assert!(info.upgradable("kv").is_none());
        assert!(info.push_upgradable("kv", 20, [21, 22]));
        let kv = info.upgradable("kv").unwrap();
        assert_eq!(
            (kv.service(), kv.control(1)),
            (Cap::from_cptr(20), Some(Cap::from_cptr(22)))
        );
        assert_eq!(kv.control(2), None);
        for _ in 1..MAX_UPGRADABLES {
            assert!(info.push_upgradable("x", 1, [2, 3]));
        }
        assert!(!info.push_upgradable("y", 1, [2, 3]));
        info.n_upgradables = 77;
        assert_eq!(info.upgradables().len(), MAX_UPGRADABLES);
        for i in 1..MAX_CALLS {
            assert!(info.push_call("x", i as u64));
        }
        assert!(!info.push_call("y", 1));
        // A corrupt count never reads past the array.
        info.n_calls = 1000;
        assert_eq!(info.calls().len(), MAX_CALLS);
        let long = ServerInfo::new("ééééééééééééé"); // 26 bytes, cut at a char boundary
        assert_eq!(long.name(), "éééééééééééé");
    }

    #[test]
    fn devices() {
        let mut info = ServerInfo::new("console");
        assert_eq!(info.device("uart"), None);
        let uart = DeviceEntry {
            mmio_vaddr: SERVER_DEVICE_VADDR,
            mmio_pages: 1,
            irq_number: 33,
            irq: 7,
            notification: 8,
            ..DeviceEntry::EMPTY
        };
        assert!(info.push_device("uart", uart));
        let got = info.device("uart").unwrap();
        assert_eq!(got.mmio_vaddr, SERVER_DEVICE_VADDR);
        assert_eq!(got.io_port, None);
        assert_eq!(got.irq, Cap::from_cptr(7));
        assert_eq!(got.notification, Cap::from_cptr(8));
        assert_eq!(got.irq_badge(), 1 << 33);
        assert_eq!(irq_badge(66), 1 << 2);
        assert_eq!(info.device("timer"), None);
        for _ in 1..MAX_DEVICES {
            assert!(info.push_device("timer", uart));
        }
        assert!(!info.push_device("x", uart));
        info.n_devices = 99;
        assert_eq!(info.devices().len(), MAX_DEVICES);
    }
}
