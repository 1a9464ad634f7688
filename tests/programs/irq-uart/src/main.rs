//! irq-uart: proves that the UART's interrupt reaches a user-level driver (scenario
//! `tests/scenarios/irq-uart.toml`).
//!
//! The image grants it `devices = ["uart"]`. It turns on the UART's transmit interrupt (aarch64
//! PL011: IMSC.TXIM through the mapped registers; x86_64 COM1: IER.ETBEI through its I/O ports),
//! then, [`ROUNDS`] times: writes a short line straight to the UART, waits on the device's
//! notification, checks that the word has the bit of the UART's IRQ, clears the interrupt at the
//! UART and acknowledges it to the kernel. It then turns the interrupt off again, logs
//! `PASS irq-uart: N interrupts` and powers off with status 0 (any failure: `FAIL irq-uart: ...`
//! and status 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Error, ServerInfo};
use log::{error, info};

axolotl_rt::declare_server!(main);

const ROUNDS: u64 = 5;

fn main(server: &'static ServerInfo) {
    let status = match run(server) {
        Ok(n) => {
            info!("PASS irq-uart: {n} interrupts");
            0
        }
        Err(e) => {
            error!("FAIL irq-uart: {e}");
            1
        }
    };
    match server.sys_control() {
        Some(sys_control) => sys_control.poweroff(status),
        None => error!("irq-uart: no system-control capability to power off with"),
    }
}

/// Why the test failed.
enum Failure {
    NoDevice,
    Kernel(&'static str, Error),
    WrongBadge { word: u64, expected: u64 },
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::NoDevice => write!(f, "the image granted no usable 'uart' device"),
            Failure::Kernel(what, e) => write!(f, "{what}: {e}"),
            Failure::WrongBadge { word, expected } => {
                write!(
                    f,
                    "notification word {word:#x} lacks the IRQ bit {expected:#x}"
                )
            }
        }
    }
}

fn kernel(what: &'static str) -> impl FnOnce(Error) -> Failure {
    move |e| Failure::Kernel(what, e)
}

fn run(server: &ServerInfo) -> Result<u64, Failure> {
    let device = server.device("uart").ok_or(Failure::NoDevice)?;
    let uart = uart::Uart::new(&device).ok_or(Failure::NoDevice)?;
    info!(
        "irq-uart: uart irq {} (badge {:#x})",
        device.irq_number,
        device.irq_badge()
    );
    uart.enable_tx_interrupt()
        .map_err(kernel("enable the interrupt"))?;
    let mut interrupts = 0;
    for round in 0..ROUNDS {
        for &b in b"irq-uart: tx round " {
            uart.write(b).map_err(kernel("write"))?;
        }
        uart.write(b'0' + round as u8).map_err(kernel("write"))?;
        uart.write(b'\n').map_err(kernel("write"))?;
        let word = device
            .notification
            .wait()
            .map_err(kernel("wait for the interrupt"))?;
        if word & device.irq_badge() == 0 {
            return Err(Failure::WrongBadge {
                word,
                expected: device.irq_badge(),
            });
        }
        uart.clear_interrupt()
            .map_err(kernel("clear the interrupt"))?;
        device.irq.ack().map_err(kernel("acknowledge the IRQ"))?;
        interrupts += 1;
    }
    uart.disable_interrupts()
        .map_err(kernel("disable the interrupt"))?;
    device.irq.clear().map_err(kernel("unbind the IRQ"))?;
    Ok(interrupts)
}

/// The PL011, through its registers mapped in the device window.
#[cfg(target_arch = "aarch64")]
mod uart {
    use axolotl_rt::{DeviceGrant, Error, mmio};

    const DR: u64 = 0x000;
    const FR: u64 = 0x018;
    const FR_TXFF: u32 = 1 << 5;
    const IMSC: u64 = 0x038;
    const ICR: u64 = 0x044;
    const TX_INTERRUPT: u32 = 1 << 5;

    pub struct Uart {
        base: u64,
    }

    impl Uart {
        pub fn new(device: &DeviceGrant) -> Option<Uart> {
            (device.mmio_vaddr != 0).then_some(Uart {
                base: device.mmio_vaddr,
            })
        }

        pub fn enable_tx_interrupt(&self) -> Result<(), Error> {
            let imsc = mmio::read32(self.base, IMSC);
            mmio::write32(self.base, IMSC, imsc | TX_INTERRUPT);
            Ok(())
        }

        pub fn write(&self, byte: u8) -> Result<(), Error> {
            while mmio::read32(self.base, FR) & FR_TXFF != 0 {}
            mmio::write32(self.base, DR, byte.into());
            Ok(())
        }

        pub fn clear_interrupt(&self) -> Result<(), Error> {
            mmio::write32(self.base, ICR, TX_INTERRUPT);
            Ok(())
        }

        pub fn disable_interrupts(&self) -> Result<(), Error> {
            let imsc = mmio::read32(self.base, IMSC);
            mmio::write32(self.base, IMSC, imsc & !TX_INTERRUPT);
            mmio::write32(self.base, ICR, TX_INTERRUPT);
            Ok(())
        }
    }
}

/// COM1, a 16550, through its I/O-port capability.
#[cfg(target_arch = "x86_64")]
mod uart {
    use axolotl_rt::{Cap, DeviceGrant, Error, IoPort};

    const COM1: u16 = 0x3f8;
    const THR: u16 = COM1;
    const IER: u16 = COM1 + 1;
    const IIR: u16 = COM1 + 2;
    const MCR: u16 = COM1 + 4;
    const LSR: u16 = COM1 + 5;
    const IER_THRE: u8 = 1 << 1;
    /// DTR, RTS and OUT2 (which gates the interrupt line on a PC).
    const MCR_DTR_RTS_OUT2: u8 = 0x0b;
    const LSR_THRE: u8 = 1 << 5;

    pub struct Uart {
        ports: Cap<IoPort>,
    }

    impl Uart {
        pub fn new(device: &DeviceGrant) -> Option<Uart> {
            device.io_port.map(|ports| Uart { ports })
        }

        pub fn enable_tx_interrupt(&self) -> Result<(), Error> {
            self.ports.out8(MCR, MCR_DTR_RTS_OUT2)?;
            self.ports.out8(IER, IER_THRE)
        }

        pub fn write(&self, byte: u8) -> Result<(), Error> {
            while self.ports.in8(LSR)? & LSR_THRE == 0 {}
            self.ports.out8(THR, byte)
        }

        /// Reading IIR while it reports "transmitter empty" clears that interrupt.
        pub fn clear_interrupt(&self) -> Result<(), Error> {
            self.ports.in8(IIR).map(drop)
        }

        pub fn disable_interrupts(&self) -> Result<(), Error> {
            self.ports.out8(IER, 0)?;
            self.ports.in8(IIR).map(drop)
        }
    }
}
