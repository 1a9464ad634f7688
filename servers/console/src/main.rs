//! console: the UART driver in user space, serving `console::v1` on endpoint `console`.
//!
//! The image grants it `devices = ["uart"]` and `endpoints = ["console"]`. The driver is chosen by
//! what the grant holds, not by the architecture: mapped registers are a PL011 (aarch64 `virt`),
//! an I/O-port capability a 16550 (x86_64 `q35` COM1).
//!
//! **One wait for two sources.** The UART's IRQ handler signals the grant's notification. The
//! server binds that notification to its own TCB, so a thread blocked receiving on its endpoint
//! is also woken by the interrupt: the kernel delivers a bound notification's signal as a message
//! with label 0, no words and the signalled bits as the badge. Requests never have label 0 (every
//! `ipc-schema` label carries a nonzero interface id), so a message of label 0 with the IRQ's bit
//! in its badge is the interrupt: the server drains the receive FIFO into its input buffer,
//! clears the UART's interrupt, acknowledges the IRQ, and goes back to `ReplyRecv` with an error
//! reply that reaches nobody (a signal leaves no caller). A client that sends label 0 itself gets
//! that error, and costs at most one extra poll of the UART.
//!
//! Output is polled (wait while the transmitter is full). The server writes its own log lines
//! straight to the kernel's debug console, as before it runs: it has no `console` capability.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_transport::serve;
use axolotl_rt::{DeviceGrant, Error, ServerInfo};
use console::{Console, DeviceError, Uart, is_irq_signal};
use ipc_schema::console::v1;
use ipc_schema::{Caller, IpcError, MSG_WORDS};
use log::{error, info, warn};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    if let Err(e) = run(server) {
        error!("console: {e}");
    }
}

/// Why the server could not start or stopped.
enum Failure {
    NoEndpoint,
    NoDevice,
    NoDriver,
    Device(&'static str),
    Kernel(&'static str, Error),
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::NoEndpoint => write!(f, "no endpoint 'console' was granted"),
            Failure::NoDevice => write!(f, "no device 'uart' was granted"),
            Failure::NoDriver => write!(f, "the 'uart' grant has neither registers nor ports"),
            Failure::Device(what) => write!(f, "{what}: the uart refused"),
            Failure::Kernel(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

fn run(server: &ServerInfo) -> Result<(), Failure> {
    let endpoint = server.endpoint("console").ok_or(Failure::NoEndpoint)?;
    let grant = server.device("uart").ok_or(Failure::NoDevice)?;
    let mut uart = Driver::new(&grant).ok_or(Failure::NoDriver)?;
    server
        .own_tcb()
        .bind_notification(grant.notification)
        .map_err(|e| Failure::Kernel("bind the IRQ notification to the console's thread", e))?;
    uart.enable_rx_interrupt()
        .map_err(|DeviceError| Failure::Device("enable the receive interrupt"))?;
    let irq_bit = grant.irq_badge();
    info!(
        "console: {} uart, irq {} (badge {irq_bit:#x}), serving console v{}",
        uart.kind(),
        grant.irq_number,
        v1::VERSION
    );
    let mut console = Console::new(uart);
    let error = serve(
        endpoint,
        None,
        |caller: &mut Caller, label: u64, request: &[u64], reply: &mut [u64; MSG_WORDS]| {
            if is_irq_signal(label, request.len(), caller.badge(), irq_bit) {
                interrupt(&mut console, &grant);
                return IpcError::UnknownInterface.reply();
            }
            v1::dispatch(&mut console, caller, label, request, reply)
        },
    );
    Err(Failure::Kernel("receive on the endpoint", error))
}

/// The UART interrupted: take in its input, clear its interrupt, unmask the line.
fn interrupt(console: &mut Console<Driver>, grant: &DeviceGrant) {
    if console.interrupt().is_err() {
        warn!("console: the uart refused a read");
    }
    if console.uart_mut().clear_interrupt().is_err() {
        warn!("console: the uart refused to clear its interrupt");
    }
    if let Err(e) = grant.irq.ack() {
        warn!("console: acknowledging irq {}: {e}", grant.irq_number);
    }
    // Bytes that arrived between the drain and the unmask raised the UART's line while the
    // interrupt was masked; on an edge-triggered line (the 16550 through the I/O APIC) that edge
    // is gone, and the line stays high, so no other would come. Drain again now that the line is
    // unmasked: once the receive FIFO is empty the line drops, and the next byte is a new edge.
    if console.interrupt().is_err() {
        warn!("console: the uart refused a read");
    }
}

/// The UART, whichever the grant describes.
enum Driver {
    Pl011(pl011::Pl011),
    Ns16550(ns16550::Ns16550),
}

impl Driver {
    fn new(grant: &DeviceGrant) -> Option<Driver> {
        if grant.mmio_vaddr != 0 {
            Some(Driver::Pl011(pl011::Pl011::new(grant.mmio_vaddr)))
        } else {
            grant
                .io_port
                .map(|ports| Driver::Ns16550(ns16550::Ns16550::new(ports)))
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Driver::Pl011(_) => "pl011",
            Driver::Ns16550(_) => "16550",
        }
    }

    fn enable_rx_interrupt(&mut self) -> Result<(), DeviceError> {
        match self {
            Driver::Pl011(u) => u.enable_rx_interrupt(),
            Driver::Ns16550(u) => u.enable_rx_interrupt(),
        }
    }

    fn clear_interrupt(&mut self) -> Result<(), DeviceError> {
        match self {
            Driver::Pl011(u) => u.clear_interrupt(),
            Driver::Ns16550(u) => u.clear_interrupt(),
        }
    }
}

impl Uart for Driver {
    fn put(&mut self, byte: u8) -> Result<(), DeviceError> {
        match self {
            Driver::Pl011(u) => u.put(byte),
            Driver::Ns16550(u) => u.put(byte),
        }
    }

    fn get(&mut self) -> Result<Option<u8>, DeviceError> {
        match self {
            Driver::Pl011(u) => u.get(),
            Driver::Ns16550(u) => u.get(),
        }
    }
}

/// The ARM PL011, through its registers mapped in the device window.
mod pl011 {
    use axolotl_rt::mmio;
    use console::DeviceError;

    const DR: u64 = 0x000;
    const FR: u64 = 0x018;
    const FR_RXFE: u32 = 1 << 4;
    const FR_TXFF: u32 = 1 << 5;
    const CR: u64 = 0x030;
    const CR_UARTEN: u32 = 1 << 0;
    const CR_TXE: u32 = 1 << 8;
    const CR_RXE: u32 = 1 << 9;
    const IMSC: u64 = 0x038;
    const ICR: u64 = 0x044;
    /// Receive (a byte, or the FIFO's trigger level) and receive timeout (bytes waiting below it).
    const RX_INTERRUPTS: u32 = (1 << 4) | (1 << 6);
    /// Every interrupt source.
    const ALL_INTERRUPTS: u32 = 0x7ff;
    /// Receive errors in DR (framing, parity, break, overrun): the byte is still delivered.
    const DR_DATA: u32 = 0xff;

    pub struct Pl011 {
        base: u64,
    }

    impl Pl011 {
        pub fn new(base: u64) -> Pl011 {
            Pl011 { base }
        }

        /// Only the receive interrupts: output is polled, and the kernel also writes here.
        pub fn enable_rx_interrupt(&mut self) -> Result<(), DeviceError> {
            // QEMU receives only with the UART and its receiver enabled; the reset value has
            // TXE and RXE but not UARTEN.
            let cr = mmio::read32(self.base, CR);
            let on = CR_UARTEN | CR_TXE | CR_RXE;
            if cr & on != on {
                mmio::write32(self.base, CR, cr | on);
            }
            mmio::write32(self.base, ICR, ALL_INTERRUPTS);
            mmio::write32(self.base, IMSC, RX_INTERRUPTS);
            Ok(())
        }

        pub fn clear_interrupt(&mut self) -> Result<(), DeviceError> {
            mmio::write32(self.base, ICR, RX_INTERRUPTS);
            Ok(())
        }

        pub fn put(&mut self, byte: u8) -> Result<(), DeviceError> {
            while mmio::read32(self.base, FR) & FR_TXFF != 0 {}
            mmio::write32(self.base, DR, byte.into());
            Ok(())
        }

        pub fn get(&mut self) -> Result<Option<u8>, DeviceError> {
            if mmio::read32(self.base, FR) & FR_RXFE != 0 {
                return Ok(None);
            }
            Ok(Some((mmio::read32(self.base, DR) & DR_DATA) as u8))
        }
    }
}

/// A 16550 (PC COM1), through its I/O-port capability.
mod ns16550 {
    use axolotl_rt::{Cap, IoPort};
    use console::DeviceError;

    /// The grant carries the capability, not its range: COM1's ports are the `uart` of the
    /// platform table (`root-task/src/platform.rs`, 0x3f8..=0x3ff).
    const BASE: u16 = 0x3f8;
    const RBR_THR: u16 = BASE;
    const IER: u16 = BASE + 1;
    const IIR: u16 = BASE + 2;
    const LCR: u16 = BASE + 3;
    const MCR: u16 = BASE + 4;
    const LSR: u16 = BASE + 5;
    /// Received data available.
    const IER_ERBFI: u8 = 1 << 0;
    /// Divisor latch access: must be clear to reach RBR/THR and IER.
    const LCR_DLAB: u8 = 1 << 7;
    /// DTR, RTS and OUT2 (which gates the interrupt line on a PC).
    const MCR_DTR_RTS_OUT2: u8 = 0x0b;
    const LSR_DR: u8 = 1 << 0;
    const LSR_THRE: u8 = 1 << 5;

    pub struct Ns16550 {
        ports: Cap<IoPort>,
    }

    fn device<T>(r: Result<T, axolotl_rt::Error>) -> Result<T, DeviceError> {
        r.map_err(|_| DeviceError)
    }

    impl Ns16550 {
        pub fn new(ports: Cap<IoPort>) -> Ns16550 {
            Ns16550 { ports }
        }

        pub fn enable_rx_interrupt(&mut self) -> Result<(), DeviceError> {
            let lcr = device(self.ports.in8(LCR))?;
            device(self.ports.out8(LCR, lcr & !LCR_DLAB))?;
            device(self.ports.out8(MCR, MCR_DTR_RTS_OUT2))?;
            device(self.ports.out8(IER, IER_ERBFI))?;
            self.clear_interrupt()
        }

        /// The receive interrupt clears when RBR is drained (which `get` does until LSR says
        /// empty); reading IIR clears a pending transmitter-empty one.
        pub fn clear_interrupt(&mut self) -> Result<(), DeviceError> {
            device(self.ports.in8(IIR)).map(drop)
        }

        pub fn put(&mut self, byte: u8) -> Result<(), DeviceError> {
            while device(self.ports.in8(LSR))? & LSR_THRE == 0 {}
            device(self.ports.out8(RBR_THR, byte))
        }

        pub fn get(&mut self) -> Result<Option<u8>, DeviceError> {
            if device(self.ports.in8(LSR))? & LSR_DR == 0 {
                return Ok(None);
            }
            device(self.ports.in8(RBR_THR)).map(Some)
        }
    }
}
