//! The platform devices an image can grant a server (`devices = ["uart", "timer"]`), and where
//! their registers go in the server's device window.
//!
//! The table is chosen with `cfg(target_arch)`: a root-task binary is built for one architecture,
//! and each architecture's kernel runs on exactly one QEMU machine (aarch64 `virt`, x86_64 `q35`;
//! see `kernel/src/arch`), so the devices are known when the root task is compiled, as they are
//! for the kernel, which hands out the device memory as device Untyped and owns the interrupt
//! controller. Both tables are compiled for host unit tests, which check them against each other
//! and against the image format's [`axolotl_image::DEVICE_NAMES`].

use axolotl_abi::PAGE_SIZE;
use axolotl_image::{MAX_DEVICES, Name};
use axolotl_rt::server_info::{SERVER_DEVICE_END, SERVER_DEVICE_VADDR};

// Every device an image may grant a server fits in its server-info page.
const _: () = assert!(MAX_DEVICES <= axolotl_rt::server_info::MAX_DEVICES);

/// Device registers in physical memory: `pages` pages from `paddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmio {
    pub paddr: u64,
    pub pages: u64,
}

/// One platform device: what a server that drives it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformDevice {
    /// Its name in image descriptions.
    pub name: &'static str,
    /// Registers to map (device memory, read/write) in the server's device window.
    pub mmio: Option<Mmio>,
    /// I/O ports `first..=last` to issue a capability for (x86_64).
    pub ports: Option<(u16, u16)>,
    /// The kernel's number of its interrupt (aarch64: GIC INTID; x86_64: I/O APIC GSI).
    pub irq: u64,
    /// Pages of ordinary memory the device reaches by DMA: made for the server, physically
    /// contiguous, mapped at [`SERVER_DMA_VADDR`](axolotl_rt::server_info::SERVER_DMA_VADDR),
    /// their frame capabilities in its CNode so that it learns their physical addresses.
    pub dma_pages: u64,
}

/// DMA memory of the network device: its two virtqueues and their packet buffers.
pub const NET_DMA_PAGES: u64 = 32;

/// QEMU `virt`: the PL011 (SPI 1 = INTID 33) and the EL1 physical timer (PPI 14 = INTID 30),
/// which EL0 programs through CNTP_* (the kernel's time slice uses the virtual timer, PPI 27).
#[cfg(any(target_arch = "aarch64", test))]
mod aarch64 {
    use super::{Mmio, NET_DMA_PAGES, PlatformDevice};

    pub const DEVICES: [PlatformDevice; 3] = [
        PlatformDevice {
            name: "uart",
            mmio: Some(Mmio {
                paddr: 0x0900_0000,
                pages: 1,
            }),
            ports: None,
            irq: 33,
            dma_pages: 0,
        },
        PlatformDevice {
            name: "timer",
            mmio: None,
            ports: None,
            irq: 30,
            dma_pages: 0,
        },
        // The 32 virtio-mmio transports (0x200 bytes each from 0x0a00_0000, transport n on SPI
        // 16 + n). QEMU plugs the first `-device virtio-*-device` into the last transport (n = 31,
        // INTID 48 + 31); the driver scans all of them for the network device.
        PlatformDevice {
            name: "net",
            mmio: Some(Mmio {
                paddr: 0x0a00_0000,
                pages: 4,
            }),
            ports: None,
            irq: 79,
            dma_pages: NET_DMA_PAGES,
        },
    ];
}

/// QEMU `q35`: COM1 (ISA IRQ 4 = GSI 4) and the PIT (ISA IRQ 0, wired to GSI 2), both behind I/O
/// ports (the kernel's time slice uses the local APIC timer), and virtio-net on PCI.
#[cfg(any(target_arch = "x86_64", test))]
mod x86_64 {
    use super::{Mmio, NET_DMA_PAGES, PlatformDevice};

    pub const DEVICES: [PlatformDevice; 3] = [
        PlatformDevice {
            name: "uart",
            mmio: None,
            ports: Some((0x3f8, 0x3ff)),
            irq: 4,
            dma_pages: 0,
        },
        PlatformDevice {
            name: "timer",
            mmio: None,
            ports: Some((0x40, 0x43)),
            irq: 2,
            dma_pages: 0,
        },
        // A virtio-net-pci device (modern only, no MSI-X): PCI configuration space through ports
        // 0xcf8..=0xcff; its memory BAR is programmed by the driver to the 16 KiB window the
        // kernel lists as device memory; INTA# of a device in an ordinary q35 slot is PIRQH, which
        // the ICH9 routes to I/O APIC input 16 + 7 = 23 (level-triggered, active-low).
        PlatformDevice {
            name: "net",
            mmio: Some(Mmio {
                paddr: 0xfe00_0000,
                pages: 4,
            }),
            ports: Some((0xcf8, 0xcff)),
            irq: 23,
            dma_pages: NET_DMA_PAGES,
        },
    ];
}

#[cfg(target_arch = "aarch64")]
const DEVICES: &[PlatformDevice] = &aarch64::DEVICES;
#[cfg(target_arch = "x86_64")]
const DEVICES: &[PlatformDevice] = &x86_64::DEVICES;

fn find<'a>(table: &'a [PlatformDevice], name: &str) -> Option<&'a PlatformDevice> {
    table.iter().find(|d| d.name == name)
}

/// A device of a server and the address its registers are mapped at (0: none).
pub struct Placed {
    pub name: Name,
    /// `None`: this machine has no such device.
    pub device: Option<&'static PlatformDevice>,
    pub vaddr: u64,
}

/// Where the registers of a server's devices go: in image order from [`SERVER_DEVICE_VADDR`],
/// each device's pages followed by one unmapped page. Returns the devices and the end of the
/// used part of the window.
pub fn layout(names: &[Name]) -> (heapless::Vec<Placed, MAX_DEVICES>, u64) {
    place(DEVICES, names)
}

fn place(
    table: &'static [PlatformDevice],
    names: &[Name],
) -> (heapless::Vec<Placed, MAX_DEVICES>, u64) {
    let mut placed = heapless::Vec::new();
    let mut next = SERVER_DEVICE_VADDR;
    for name in names {
        let device = find(table, name);
        let vaddr = match device.and_then(|d| d.mmio) {
            Some(mmio) => {
                let vaddr = next;
                next += (mmio.pages + 1) * PAGE_SIZE as u64;
                vaddr
            }
            None => 0,
        };
        // At most MAX_DEVICES names (the image format's limit).
        let _ = placed.push(Placed {
            name: name.clone(),
            device,
            vaddr,
        });
    }
    debug_assert!(next <= SERVER_DEVICE_END);
    (placed, next)
}

/// The DMA pages the placed devices get.
pub fn dma_pages(placed: &[Placed]) -> u64 {
    placed
        .iter()
        .filter_map(|p| p.device)
        .map(|d| d.dma_pages)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> heapless::Vec<Name, MAX_DEVICES> {
        list.iter().map(|n| Name::try_from(*n).unwrap()).collect()
    }

    #[test]
    fn every_image_device_exists_on_every_machine() {
        for table in [&aarch64::DEVICES[..], &x86_64::DEVICES[..]] {
            assert_eq!(table.len(), axolotl_image::DEVICE_NAMES.len());
            for name in axolotl_image::DEVICE_NAMES {
                let d = find(table, name).unwrap();
                // Each device is reachable somehow, and its interrupt is not the kernel timer's.
                assert!(d.mmio.is_some() || d.ports.is_some() || d.name == "timer");
                assert!(![27, 32].contains(&d.irq));
            }
        }
    }

    #[test]
    fn window_layout() {
        let (placed, end) = place(&aarch64::DEVICES, &names(&["timer", "uart"]));
        assert_eq!(placed[0].vaddr, 0);
        assert_eq!(placed[1].vaddr, SERVER_DEVICE_VADDR);
        assert_eq!(end, SERVER_DEVICE_VADDR + 2 * PAGE_SIZE as u64);
        let (placed, end) = place(&x86_64::DEVICES, &names(&["uart", "timer"]));
        assert!(placed.iter().all(|p| p.vaddr == 0 && p.device.is_some()));
        assert_eq!(end, SERVER_DEVICE_VADDR);
        let (placed, _) = place(&x86_64::DEVICES, &names(&["rtc"]));
        assert!(placed[0].device.is_none());
    }
}
