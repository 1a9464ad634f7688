//! virtio devices from safe code: the `virtio-drivers` crate's [`Hal`] over a granted device's
//! DMA memory, its transports over the device window (virtio-mmio) or PCI configuration space
//! through an I/O-port capability (virtio-pci), and [`NetDevice`], a virtio-net device whose
//! receive and transmit buffers live in the DMA memory.
//!
//! Everything unsafe that `virtio-drivers` asks of its user is here, so that the driver server
//! (`servers/netstack`) forbids unsafe code like every other server:
//!
//! - **DMA memory.** [`init_dma`] takes a device's [`DmaGrant`]: pages the root task mapped at
//!   [`SERVER_DMA_VADDR`] for the server's whole life and that nothing else in the program
//!   refers to. It asks the kernel for the physical address of every page (`FrameGetAddress`)
//!   and checks that they are contiguous. From then on memory is handed out once, by a bump
//!   allocator: to `virtio-drivers` for its virtqueues ([`Hal::dma_alloc`]) and to
//!   [`NetDevice`] for its packet buffers. Nothing is ever freed (a device lives as long as its
//!   driver), so no two users ever share a byte.
//! - **Sharing.** [`Hal::share`] only translates: every buffer `virtio-drivers` gives a device
//!   is one of [`NetDevice`]'s, in the DMA memory, so its physical address is its offset there.
//!   A buffer outside it would be a bug of this module, and panics rather than handing the
//!   device a wrong address.
//! - **Registers.** A virtio-mmio header is a transport slot of the device window (see
//!   [`crate::mmio`]); the BAR of a virtio-pci device is programmed to the physical window the
//!   platform granted, and [`Hal::mmio_phys_to_virt`] answers only for that window.
//! - **Receive buffers** are lent to the device with `VirtIONetRaw::receive_begin` and not
//!   touched until `receive_complete` returns them; [`NetDevice`] keeps each one, by token, in
//!   a slot only that pair of calls uses.
//!
//! One thread per address space (the runtime's invariant) is what makes the atomics here plain
//! bookkeeping rather than synchronisation.

use crate::cap::{Cap, IoPort};
use crate::server_info::{DeviceGrant, DmaGrant, SERVER_DMA_END, SERVER_DMA_VADDR};
use axolotl_abi::PAGE_SIZE;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{
    BarInfo, Command, ConfigurationAccess, DeviceFunction, PciRoot,
};
use virtio_drivers::transport::{DeviceType, SomeTransport, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

pub use virtio_drivers::Error as VirtioError;

const PAGE: u64 = PAGE_SIZE as u64;

/// The DMA memory: virtual and physical base, pages, pages handed out (0 pages: not set up).
static DMA_VADDR: AtomicU64 = AtomicU64::new(0);
static DMA_PADDR: AtomicU64 = AtomicU64::new(0);
static DMA_PAGES: AtomicU64 = AtomicU64::new(0);
static DMA_NEXT: AtomicU64 = AtomicU64::new(0);
/// The physical device window [`Hal::mmio_phys_to_virt`] answers for, and where it is mapped.
static MMIO_PADDR: AtomicU64 = AtomicU64::new(0);
static MMIO_VADDR: AtomicU64 = AtomicU64::new(0);
static MMIO_LEN: AtomicU64 = AtomicU64::new(0);

/// Why a virtio device could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The grant has no DMA memory, or it is outside the DMA window, or already set up.
    NoDma,
    /// The kernel refused `FrameGetAddress`.
    FrameAddress(crate::Error),
    /// The DMA pages are not physically contiguous.
    NotContiguous,
    /// The grant has no registers.
    NoRegisters,
    /// No virtio device of the wanted type answers in the grant.
    NoDevice,
    /// The device refused initialisation.
    Device(VirtioError),
    /// DMA memory ran out.
    OutOfDma,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::NoDma => write!(f, "the device has no (usable) DMA memory"),
            SetupError::FrameAddress(e) => write!(f, "physical address of a DMA page: {e}"),
            SetupError::NotContiguous => write!(f, "the DMA pages are not physically contiguous"),
            SetupError::NoRegisters => write!(f, "the device has no registers"),
            SetupError::NoDevice => write!(f, "no virtio device of that type was found"),
            SetupError::Device(e) => write!(f, "the device refused: {e}"),
            SetupError::OutOfDma => write!(f, "out of DMA memory"),
        }
    }
}

/// Takes over a device's DMA memory (once per program).
pub fn init_dma(dma: &DmaGrant) -> Result<(), SetupError> {
    let end = dma
        .pages
        .checked_mul(PAGE)
        .and_then(|len| dma.vaddr.checked_add(len));
    let inside = matches!(end, Some(end) if dma.vaddr >= SERVER_DMA_VADDR && end <= SERVER_DMA_END);
    if dma.pages == 0
        || !inside
        || !dma.vaddr.is_multiple_of(PAGE)
        || DMA_PAGES.load(Ordering::Relaxed) != 0
    {
        return Err(SetupError::NoDma);
    }
    let mut base = 0;
    for i in 0..dma.pages {
        let frame = dma.frame(i).ok_or(SetupError::NoDma)?;
        let paddr = frame.paddr().map_err(SetupError::FrameAddress)?;
        if i == 0 {
            base = paddr;
        } else if paddr != base + i * PAGE {
            return Err(SetupError::NotContiguous);
        }
    }
    DMA_VADDR.store(dma.vaddr, Ordering::Relaxed);
    DMA_PADDR.store(base, Ordering::Relaxed);
    DMA_NEXT.store(0, Ordering::Relaxed);
    DMA_PAGES.store(dma.pages, Ordering::Relaxed);
    Ok(())
}

/// Hands out `pages` pages of DMA memory, zeroed: (physical, virtual) address.
fn take_pages(pages: u64) -> Option<(u64, u64)> {
    let total = DMA_PAGES.load(Ordering::Relaxed);
    let next = DMA_NEXT.load(Ordering::Relaxed);
    if pages == 0 || next.checked_add(pages)? > total {
        return None;
    }
    DMA_NEXT.store(next + pages, Ordering::Relaxed);
    let vaddr = DMA_VADDR.load(Ordering::Relaxed) + next * PAGE;
    let paddr = DMA_PADDR.load(Ordering::Relaxed) + next * PAGE;
    // SAFETY: pages `next..next + pages` of the DMA memory are mapped read/write for the
    // program's life (`init_dma` checked the grant) and were never handed out before (the
    // bump index only grows), so no reference to them exists.
    unsafe { core::ptr::write_bytes(vaddr as usize as *mut u8, 0, (pages * PAGE) as usize) };
    Some((paddr, vaddr))
}

/// `pages` pages of DMA memory as a buffer of this program's own, for good.
pub fn dma_buffer(pages: u64) -> Option<&'static mut [u8]> {
    let (_, vaddr) = take_pages(pages)?;
    // SAFETY: as in `take_pages`: mapped for the program's life, handed out only here, once.
    Some(unsafe {
        core::slice::from_raw_parts_mut(vaddr as usize as *mut u8, (pages * PAGE) as usize)
    })
}

/// The physical address of `len` bytes at `vaddr` in the DMA memory.
fn dma_paddr(vaddr: u64, len: u64) -> Option<u64> {
    let base = DMA_VADDR.load(Ordering::Relaxed);
    let size = DMA_PAGES.load(Ordering::Relaxed) * PAGE;
    let offset = vaddr.checked_sub(base)?;
    (offset.checked_add(len)? <= size).then(|| DMA_PADDR.load(Ordering::Relaxed) + offset)
}

/// `virtio-drivers`' platform glue over the DMA memory (see the module documentation).
pub struct DmaHal;

// SAFETY: `dma_alloc` returns memory no one else uses (zeroed, contiguous, `pages` pages, mapped
// for the program's life) or (0, dangling) when it has none, which `virtio-drivers` treats as
// failure; `share` returns the true physical address of buffers in that memory and refuses any
// other; `mmio_phys_to_virt` maps only the granted device window.
unsafe impl Hal for DmaHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match take_pages(pages as u64) {
            Some((paddr, vaddr)) => match NonNull::new(vaddr as usize as *mut u8) {
                Some(ptr) => (paddr, ptr),
                None => (0, NonNull::dangling()),
            },
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Virtqueues live as long as the driver: the memory is simply not reused.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let base = MMIO_PADDR.load(Ordering::Relaxed);
        let len = MMIO_LEN.load(Ordering::Relaxed);
        let inside = paddr >= base
            && paddr
                .checked_add(size as u64)
                .is_some_and(|end| end <= base + len);
        let vaddr = MMIO_VADDR.load(Ordering::Relaxed) + (paddr - base.min(paddr));
        match NonNull::new(vaddr as usize as *mut u8) {
            Some(ptr) if inside && len != 0 => ptr,
            _ => panic!("virtio: device registers at {paddr:#x} are outside the granted window"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let vaddr = buffer.as_ptr().cast::<u8>() as usize as u64;
        match dma_paddr(vaddr, buffer.len() as u64) {
            Some(paddr) => paddr,
            None => panic!("virtio: a buffer outside the DMA memory was given to the device"),
        }
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// The virtio-mmio transport slots of a grant (0x200 bytes each), and the one of type `wanted`.
fn mmio_transport(grant: &DeviceGrant, wanted: DeviceType) -> Option<SomeTransport<'static>> {
    const SLOT: u64 = 0x200;
    let window = grant.mmio_pages * PAGE;
    if grant.mmio_vaddr == 0
        || grant.mmio_vaddr < crate::server_info::SERVER_DEVICE_VADDR
        || grant.mmio_vaddr + window > crate::server_info::SERVER_DEVICE_END
    {
        return None;
    }
    (0..window / SLOT).find_map(|slot| {
        let header = NonNull::new((grant.mmio_vaddr + slot * SLOT) as usize as *mut VirtIOHeader)?;
        // SAFETY: the header is a 0x200-byte transport slot of the device window, mapped as
        // device memory by the root task for the program's life, where no Rust object lives
        // (`crate::mmio`); `MmioTransport::new` checks the magic value and version before
        // using it. A slot whose transport is taken is never built twice: this returns at the
        // first match and the caller builds one device.
        let transport = unsafe { MmioTransport::new(header, SLOT as usize) }.ok()?;
        (transport.device_type() == wanted).then(|| SomeTransport::from(transport))
    })
}

/// PCI configuration mechanism #1 through the ports 0xcf8 (address) and 0xcfc (data).
pub struct PortCam {
    ports: Cap<IoPort>,
}

impl PortCam {
    fn address(device_function: DeviceFunction, register: u8) -> u32 {
        (1 << 31)
            | (u32::from(device_function.bus) << 16)
            | (u32::from(device_function.device & 0x1f) << 11)
            | (u32::from(device_function.function & 0x7) << 8)
            | u32::from(register & 0xfc)
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        let address = Self::address(device_function, register_offset);
        if self.ports.out32(0xcf8, address).is_err() {
            return 0xffff_ffff;
        }
        self.ports.in32(0xcfc).unwrap_or(0xffff_ffff)
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        let address = Self::address(device_function, register_offset);
        if self.ports.out32(0xcf8, address).is_ok() {
            let _ = self.ports.out32(0xcfc, data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam { ports: self.ports }
    }
}

/// The virtio-pci device of type `wanted` on bus 0, its memory BARs placed in the granted
/// window (one after another, each aligned to its size) and decoding and bus mastering on.
fn pci_transport(grant: &DeviceGrant, wanted: DeviceType) -> Option<SomeTransport<'static>> {
    let ports = grant.io_port?;
    let mut root = PciRoot::new(PortCam { ports });
    let found = root
        .enumerate_bus(0)
        .find(|(_, info)| virtio_drivers::transport::pci::virtio_device_type(info) == Some(wanted));
    let (function, _) = found?;
    let mut next = MMIO_PADDR.load(Ordering::Relaxed);
    let end = next + MMIO_LEN.load(Ordering::Relaxed);
    let mut bar = 0u8;
    while bar < 6 {
        let info = root.bar_info(function, bar).ok()?;
        let step = if info.as_ref().is_some_and(BarInfo::takes_two_entries) {
            2
        } else {
            1
        };
        if let Some(BarInfo::Memory { size, .. }) = info
            && size > 0
        {
            let address = next.next_multiple_of(size);
            if address + size > end {
                return None;
            }
            if step == 2 {
                root.set_bar_64(function, bar, address);
            } else {
                root.set_bar_32(function, bar, address as u32);
            }
            next = address + size;
        }
        bar += step;
    }
    root.set_command(function, Command::MEMORY_SPACE | Command::BUS_MASTER);
    PciTransport::new::<DmaHal, _>(&mut root, function)
        .ok()
        .map(SomeTransport::from)
}

/// The granted device's virtio transport of type `wanted`: virtio-mmio if the grant has
/// registers and no ports, else virtio-pci behind the ports. `mmio_paddr` is the physical
/// address of the grant's registers (the platform's; see `DeviceGrant::mmio_paddr`).
pub fn transport(
    grant: &DeviceGrant,
    wanted: DeviceType,
) -> Result<SomeTransport<'static>, SetupError> {
    if grant.mmio_vaddr == 0 || grant.mmio_paddr == 0 {
        return Err(SetupError::NoRegisters);
    }
    MMIO_PADDR.store(grant.mmio_paddr, Ordering::Relaxed);
    MMIO_VADDR.store(grant.mmio_vaddr, Ordering::Relaxed);
    MMIO_LEN.store(grant.mmio_pages * PAGE, Ordering::Relaxed);
    let found = if grant.io_port.is_some() {
        pci_transport(grant, wanted)
    } else {
        mmio_transport(grant, wanted)
    };
    found.ok_or(SetupError::NoDevice)
}

pub use virtio_drivers::transport::DeviceType as VirtioDeviceType;

/// Descriptors per virtqueue, and receive buffers.
pub const NET_QUEUE: usize = 16;
/// One buffer: the virtio-net header and an Ethernet frame of up to 1514 bytes.
const NET_BUFFER: usize = 2048;

/// Transmit buffers (frames handed to the device and not yet sent).
const NET_TX_BUFFERS: usize = 8;

/// A virtio-net device with its receive buffers posted and its transmit buffers.
pub struct NetDevice {
    raw: VirtIONetRaw<DmaHal, SomeTransport<'static>, NET_QUEUE>,
    /// The receive buffer lent to the device under each token (a descriptor index).
    posted: [Option<&'static mut [u8]>; NET_QUEUE],
    /// The transmit buffer (and its length) lent to the device under each token.
    sending: [Option<(&'static mut [u8], usize)>; NET_QUEUE],
    /// Transmit buffers free for the next frame.
    free_tx: heapless::Vec<&'static mut [u8], NET_TX_BUFFERS>,
    /// Where a frame that cannot be sent is written (and dropped).
    scratch: &'static mut [u8],
    /// Frames received and sent so far.
    pub received: u64,
    pub sent: u64,
}

impl NetDevice {
    /// Initialises the device behind `transport` and posts every receive buffer.
    pub fn new(transport: SomeTransport<'static>) -> Result<NetDevice, SetupError> {
        let raw = VirtIONetRaw::new(transport).map_err(SetupError::Device)?;
        let pages = (NET_BUFFER * (NET_QUEUE + NET_TX_BUFFERS + 1)).div_ceil(PAGE_SIZE) as u64;
        let memory = dma_buffer(pages).ok_or(SetupError::OutOfDma)?;
        let (scratch, mut rest) = memory.split_at_mut(NET_BUFFER);
        let mut device = NetDevice {
            raw,
            posted: [const { None }; NET_QUEUE],
            sending: [const { None }; NET_QUEUE],
            free_tx: heapless::Vec::new(),
            scratch,
            received: 0,
            sent: 0,
        };
        for i in 0..NET_QUEUE + NET_TX_BUFFERS {
            let (buffer, tail) = rest.split_at_mut(NET_BUFFER);
            rest = tail;
            if i < NET_QUEUE {
                device.post(buffer)?;
            } else {
                let _ = device.free_tx.push(buffer);
            }
        }
        Ok(device)
    }

    fn post(&mut self, buffer: &'static mut [u8]) -> Result<(), SetupError> {
        // SAFETY: `buffer` is DMA memory handed out to this device alone; it is kept in
        // `posted` under its token and not touched until `receive_complete` gives it back.
        let token = unsafe { self.raw.receive_begin(buffer) }.map_err(SetupError::Device)?;
        match self.posted.get_mut(usize::from(token)) {
            Some(slot) => {
                *slot = Some(buffer);
                Ok(())
            }
            None => Err(SetupError::Device(VirtioError::WrongToken)),
        }
    }

    pub fn mac_address(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// Acknowledges the device's interrupt (reads and clears its interrupt status).
    pub fn ack_interrupt(&mut self) {
        let _ = self.raw.ack_interrupt();
    }

    /// Whether a received frame is waiting.
    pub fn can_receive(&self) -> bool {
        self.raw.poll_receive().is_some()
    }

    /// Gives the next received frame to `f` and lends its buffer to the device again; `None` if
    /// no frame is waiting.
    pub fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let token = self.raw.poll_receive()?;
        let buffer = self.posted.get_mut(usize::from(token))?.take()?;
        // SAFETY: `buffer` is the one `receive_begin` returned `token` for.
        let done = unsafe { self.raw.receive_complete(token, buffer) };
        self.received += 1;
        let result = done
            .ok()
            .and_then(|(header, len)| buffer.get(header..header + len).map(f));
        if let Err(e) = self.post(buffer) {
            log::warn!("virtio-net: a receive buffer could not be posted again: {e}");
        }
        result
    }

    /// Takes back the transmit buffers the device is done with.
    fn reclaim(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some((buffer, len)) = self
                .sending
                .get_mut(usize::from(token))
                .and_then(Option::take)
            else {
                return;
            };
            // SAFETY: `buffer[..len]` is what `transmit_begin` returned `token` for.
            let _ = unsafe { self.raw.transmit_complete(token, &buffer[..len]) };
            let _ = self.free_tx.push(buffer);
        }
    }

    /// Whether a frame can be sent now.
    pub fn can_transmit(&mut self) -> bool {
        self.reclaim();
        !self.free_tx.is_empty() && self.raw.can_send()
    }

    /// The longest frame [`transmit`](Self::transmit) sends.
    pub const MAX_FRAME: usize = 1514;

    /// Sends a frame of `len` bytes (at most [`Self::MAX_FRAME`]) that `f` writes; the device
    /// takes it asynchronously. `f` is always called: when no transmit buffer is free (check
    /// [`can_transmit`](Self::can_transmit) first) or the device refuses the frame, it writes
    /// into a scratch buffer and the frame is dropped, which the error reports.
    pub fn transmit<R>(
        &mut self,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> (R, Result<(), VirtioError>) {
        self.reclaim();
        let len = len.min(Self::MAX_FRAME);
        let Some(buffer) = self.free_tx.pop() else {
            return (f(&mut self.scratch[..len]), Err(VirtioError::QueueFull));
        };
        let header = match self.raw.fill_buffer_header(buffer) {
            Ok(header) => header,
            Err(e) => {
                let _ = self.free_tx.push(buffer);
                return (f(&mut self.scratch[..len]), Err(e));
            }
        };
        let total = header + len;
        let result = f(&mut buffer[header..total]);
        // SAFETY: `buffer` is DMA memory of this device alone, kept in `sending` under its token
        // and not touched until `transmit_complete` (in `reclaim`) gives it back.
        match unsafe { self.raw.transmit_begin(&buffer[..total]) } {
            Ok(token) => match self.sending.get_mut(usize::from(token)) {
                Some(slot) => {
                    *slot = Some((buffer, total));
                    self.sent += 1;
                    (result, Ok(()))
                }
                None => (result, Err(VirtioError::WrongToken)),
            },
            Err(e) => {
                let _ = self.free_tx.push(buffer);
                (result, Err(e))
            }
        }
    }
}
