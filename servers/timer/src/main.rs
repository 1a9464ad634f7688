//! The timer server program: serves `timer::v1` on its endpoint `timer` with the platform's
//! `timer` device (the image grants `devices = ["timer"]`), the logic being the library's
//! [`timer::TimerService`].
//!
//! The device's interrupt notification is bound to the server's own thread, so the one receive
//! of the server loop (`axolotl_rt::ipc_transport::serve`) returns requests and interrupts
//! alike. Clients' notification capabilities arrive in a receive slot and are moved into one
//! slot per client, so the image grants `own_cnode = true`; the empty slots of the server's
//! CNode give the receive slot and up to [`timer::MAX_CLIENTS`] client slots.
//!
//! Hardware, per architecture: aarch64 arms the EL1 physical timer's compare value, which is
//! compared with the very counter `now()` reads (`axolotl_rt::arch_timer`); x86_64 starts PIT
//! channel 0 in one-shot mode 0 through the I/O ports the device grant carries, for the delay
//! converted to PIT periods (at most about 55 ms; longer deadlines take several rounds).
//!
//! On the host this program is an empty `main`: the logic lives in the library and is tested
//! there; only `cargo xtask` builds the server, for a bare-metal target.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(program::main);

#[cfg(target_os = "none")]
mod program {
    use axolotl_rt::ipc_transport::{CapReceive, serve};
    use axolotl_rt::{CNode, Cap, Notification, ServerInfo};
    use ipc_schema::CapSlot;
    use log::{error, info, warn};
    use timer::service::{CapFailed, Notifiers};
    use timer::{MAX_CLIENTS, TimerService};

    /// The clients' notifications, in slots of the server's own CNode.
    struct Caps {
        cnode: Cap<CNode>,
    }

    impl Notifiers for Caps {
        fn keep(&mut self, received: CapSlot, slot: CapSlot) -> Result<(), CapFailed> {
            self.cnode
                .move_(slot.0, Cap::<CNode>::invoker_root(), received.0)
                .map_err(|e| {
                    warn!("timer: cannot keep a client's notification: {e}");
                    CapFailed
                })
        }

        fn discard(&mut self, slot: CapSlot) {
            if let Err(e) = self.cnode.delete(slot.0) {
                warn!("timer: cannot empty slot {}: {e}", slot.0);
            }
        }

        fn signal(&mut self, slot: CapSlot) {
            // Fails only if the client deleted its notification meanwhile: its loss.
            if let Err(e) = Cap::<Notification>::from_cptr(slot.0).signal() {
                warn!(
                    "timer: cannot signal the notification in slot {}: {e}",
                    slot.0
                );
            }
        }
    }

    pub fn main(server: &'static ServerInfo) {
        let Some(endpoint) = server.endpoint("timer") else {
            error!("timer: no endpoint 'timer' was granted");
            return;
        };
        let Some(device) = server.device("timer") else {
            error!("timer: the image granted no 'timer' device");
            return;
        };
        let Some(cnode) = server.own_cnode() else {
            error!("timer: needs its own CNode (own_cnode = true) to keep clients' notifications");
            return;
        };
        let mut empty = server.empty_slots();
        let Some(receive_slot) = empty.next() else {
            error!("timer: no empty slot to receive capabilities in");
            return;
        };
        let slots: heapless::Vec<CapSlot, MAX_CLIENTS> =
            empty.take(MAX_CLIENTS).map(CapSlot).collect();
        let frequency = server.counter_frequency;
        let Some(hardware) = hardware::Hardware::new(&device, frequency) else {
            error!("timer: the 'timer' device lacks its I/O ports");
            return;
        };
        if let Err(e) = server.own_tcb().bind_notification(device.notification) {
            error!("timer: cannot bind the interrupt's notification: {e}");
            return;
        }
        let caps = Caps { cnode };
        let mut service = TimerService::new(hardware, caps, frequency, device.irq_badge(), &slots);
        info!(
            "timer: serving timer v1: counter at {frequency} Hz, irq {}, {} client slots, \
             sleeps up to {} ticks",
            device.irq_number,
            slots.len(),
            service.max_sleep()
        );
        let cap_receive = CapReceive {
            cnode,
            slot: receive_slot,
        };
        let e = serve(
            endpoint,
            Some(cap_receive),
            |caller, label, request, reply| service.handle(caller, label, request, reply),
        );
        error!("timer: receive failed: {e}");
    }

    /// The EL1 physical timer, compared with the counter `now()` reads.
    #[cfg(target_arch = "aarch64")]
    mod hardware {
        use axolotl_rt::{Cap, DeviceGrant, IrqHandler, arch_timer, time, yield_now};
        use ipc_schema::interfaces::common::Ticks;
        use log::warn;
        use timer::service::OneShot;

        pub struct Hardware {
            irq: Cap<IrqHandler>,
        }

        impl Hardware {
            pub fn new(device: &DeviceGrant, _frequency: u64) -> Option<Hardware> {
                Some(Hardware { irq: device.irq })
            }
        }

        impl OneShot for Hardware {
            fn now(&self) -> Ticks {
                time::counter()
            }

            fn arm(&mut self, deadline: Ticks) {
                arch_timer::set_deadline(deadline);
            }

            fn disarm(&mut self) {
                arch_timer::disable();
            }

            fn acknowledge(&mut self) {
                if let Err(e) = self.irq.ack() {
                    warn!("timer: cannot acknowledge the interrupt: {e}");
                }
            }

            fn relax(&mut self) {
                yield_now();
            }
        }
    }

    /// The 8254 PIT, channel 0, one-shot (mode 0), through its I/O-port capability.
    #[cfg(target_arch = "x86_64")]
    mod hardware {
        use axolotl_rt::{Cap, DeviceGrant, Error, IoPort, IrqHandler, time, yield_now};
        use ipc_schema::interfaces::common::Ticks;
        use log::warn;
        use timer::pit::pit_count;
        use timer::service::OneShot;

        const CHANNEL0: u16 = 0x40;
        const COMMAND: u16 = 0x43;
        /// Channel 0 (bits 7:6 = 00), low byte then high byte (5:4 = 11), mode 0 = interrupt on
        /// terminal count (3:1 = 000), binary (0 = 0). Written alone, it stops the count (OUT
        /// low) until a new count is loaded.
        const ONE_SHOT: u8 = 0x30;

        pub struct Hardware {
            irq: Cap<IrqHandler>,
            ports: Cap<IoPort>,
            frequency: u64,
        }

        impl Hardware {
            pub fn new(device: &DeviceGrant, frequency: u64) -> Option<Hardware> {
                Some(Hardware {
                    irq: device.irq,
                    ports: device.io_port?,
                    frequency,
                })
            }

            fn load(&self, count: u16) -> Result<(), Error> {
                let [low, high] = count.to_le_bytes();
                self.ports.out8(COMMAND, ONE_SHOT)?;
                self.ports.out8(CHANNEL0, low)?;
                self.ports.out8(CHANNEL0, high)
            }
        }

        impl OneShot for Hardware {
            fn now(&self) -> Ticks {
                time::counter()
            }

            fn arm(&mut self, deadline: Ticks) {
                let delay = deadline.saturating_sub(time::counter());
                if let Err(e) = self.load(pit_count(delay, self.frequency)) {
                    warn!("timer: cannot program the PIT: {e}");
                }
            }

            fn disarm(&mut self) {
                if let Err(e) = self.ports.out8(COMMAND, ONE_SHOT) {
                    warn!("timer: cannot stop the PIT: {e}");
                }
            }

            fn acknowledge(&mut self) {
                if let Err(e) = self.irq.ack() {
                    warn!("timer: cannot acknowledge the interrupt: {e}");
                }
            }

            fn relax(&mut self) {
                yield_now();
            }
        }
    }
}
