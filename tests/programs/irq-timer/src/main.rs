//! irq-timer: proves that a timer's interrupt reaches a user-level timer driver (scenario
//! `tests/scenarios/irq-timer.toml`).
//!
//! The image grants it `devices = ["timer"]`. [`ROUNDS`] times it arms the timer a few
//! milliseconds ahead (aarch64: the EL1 physical timer's deadline through
//! `axolotl_rt::arch_timer`; x86_64: PIT channel 0 one-shot, mode 0, through its I/O ports), waits
//! on the device's notification, checks that the word has the bit of the timer's IRQ and that the
//! timer really expired (aarch64: CNTP_CTL.ISTATUS and the counter past the deadline; x86_64: the
//! PIT's OUT pin, read back), stops the timer and acknowledges the IRQ. A wake-up whose timer has
//! not expired would be a stale interrupt: it is acknowledged and waited past. It then logs
//! `PASS irq-timer: N interrupts` and powers off with status 0 (any failure: `FAIL irq-timer:
//! ...` and status 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Error, ServerInfo, time};
use log::{error, info};

axolotl_rt::declare_server!(main);

const ROUNDS: u64 = 5;
/// How far ahead the timer is armed.
const DELAY_US: u64 = 2_000;
/// Stale wake-ups tolerated per round before giving up.
const MAX_STALE: u64 = 3;

fn main(server: &'static ServerInfo) {
    let status = match run(server) {
        Ok(n) => {
            info!("PASS irq-timer: {n} interrupts");
            0
        }
        Err(e) => {
            error!("FAIL irq-timer: {e}");
            1
        }
    };
    match server.sys_control() {
        Some(sys_control) => sys_control.poweroff(status),
        None => error!("irq-timer: no system-control capability to power off with"),
    }
}

/// Why the test failed.
enum Failure {
    NoDevice,
    Kernel(&'static str, Error),
    WrongBadge { word: u64, expected: u64 },
    NotExpired { round: u64 },
    Early { round: u64, now: u64, deadline: u64 },
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::NoDevice => write!(f, "the image granted no usable 'timer' device"),
            Failure::Kernel(what, e) => write!(f, "{what}: {e}"),
            Failure::WrongBadge { word, expected } => {
                write!(
                    f,
                    "notification word {word:#x} lacks the IRQ bit {expected:#x}"
                )
            }
            Failure::NotExpired { round } => write!(
                f,
                "round {round}: {MAX_STALE} wake-ups and the timer has still not expired"
            ),
            Failure::Early {
                round,
                now,
                deadline,
            } => write!(
                f,
                "round {round}: interrupt at counter {now}, before the deadline {deadline}"
            ),
        }
    }
}

fn kernel(what: &'static str) -> impl FnOnce(Error) -> Failure {
    move |e| Failure::Kernel(what, e)
}

fn run(server: &ServerInfo) -> Result<u64, Failure> {
    let device = server.device("timer").ok_or(Failure::NoDevice)?;
    let timer = timer::Timer::new(&device).ok_or(Failure::NoDevice)?;
    let frequency = server.counter_frequency;
    info!(
        "irq-timer: timer irq {} (badge {:#x}), counter at {frequency} Hz",
        device.irq_number,
        device.irq_badge()
    );
    let mut interrupts = 0;
    let mut stale = 0;
    for round in 0..ROUNDS {
        let start = time::counter();
        let deadline = start + frequency * DELAY_US / 1_000_000;
        timer
            .arm(deadline, DELAY_US)
            .map_err(kernel("arm the timer"))?;
        let mut wakeups = 0;
        loop {
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
            interrupts += 1;
            if timer.expired().map_err(kernel("read the timer"))? {
                break;
            }
            wakeups += 1;
            stale += 1;
            if wakeups >= MAX_STALE {
                return Err(Failure::NotExpired { round });
            }
            device.irq.ack().map_err(kernel("acknowledge the IRQ"))?;
        }
        let now = time::counter();
        if timer::CHECKS_DEADLINE && now < deadline {
            return Err(Failure::Early {
                round,
                now,
                deadline,
            });
        }
        timer.stop().map_err(kernel("stop the timer"))?;
        device.irq.ack().map_err(kernel("acknowledge the IRQ"))?;
        info!(
            "irq-timer: round {round}: interrupt after {} counter ticks (armed {DELAY_US} us ahead)",
            now - start
        );
    }
    device.irq.clear().map_err(kernel("unbind the IRQ"))?;
    if stale != 0 {
        info!("irq-timer: {stale} stale interrupt(s) waited past");
    }
    Ok(interrupts - stale)
}

/// The EL1 physical timer, through its EL0-accessible registers.
#[cfg(target_arch = "aarch64")]
mod timer {
    use axolotl_rt::{DeviceGrant, Error, arch_timer};

    /// The timer compares the same counter `time::counter` reads: an interrupt before the
    /// deadline is a failure.
    pub const CHECKS_DEADLINE: bool = true;

    pub struct Timer;

    impl Timer {
        pub fn new(_device: &DeviceGrant) -> Option<Timer> {
            Some(Timer)
        }

        pub fn arm(&self, deadline: u64, _delay_us: u64) -> Result<(), Error> {
            arch_timer::set_deadline(deadline);
            Ok(())
        }

        pub fn expired(&self) -> Result<bool, Error> {
            Ok(arch_timer::is_pending())
        }

        /// The interrupt is level-triggered: stop the timer before acknowledging it.
        pub fn stop(&self) -> Result<(), Error> {
            arch_timer::disable();
            Ok(())
        }
    }
}

/// The 8254 PIT, channel 0, through its I/O-port capability.
#[cfg(target_arch = "x86_64")]
mod timer {
    use axolotl_rt::{Cap, DeviceGrant, Error, IoPort};

    /// The PIT counts its own clock, not the TSC: the OUT pin is the proof of expiry.
    pub const CHECKS_DEADLINE: bool = false;

    const CHANNEL0: u16 = 0x40;
    const COMMAND: u16 = 0x43;
    const PIT_HZ: u64 = 1_193_182;
    /// Channel 0 (bits 7:6 = 00), low byte then high byte (5:4 = 11), mode 0 = interrupt on
    /// terminal count (3:1 = 000), binary (0 = 0).
    const ONE_SHOT: u8 = 0x30;
    /// Read-back (7:6 = 11), don't latch the count (5 = 1), latch the status (4 = 0), of channel
    /// 0 (1 = 1).
    const READ_BACK_STATUS_0: u8 = 0xe2;
    /// Status: the OUT pin (high once mode 0 reaches terminal count).
    const STATUS_OUT: u8 = 1 << 7;

    pub struct Timer {
        ports: Cap<IoPort>,
    }

    impl Timer {
        pub fn new(device: &DeviceGrant) -> Option<Timer> {
            device.io_port.map(|ports| Timer { ports })
        }

        pub fn arm(&self, _deadline: u64, delay_us: u64) -> Result<(), Error> {
            let count = (PIT_HZ * delay_us / 1_000_000).clamp(1, 0xffff) as u16;
            let [low, high] = count.to_le_bytes();
            self.ports.out8(COMMAND, ONE_SHOT)?;
            self.ports.out8(CHANNEL0, low)?;
            self.ports.out8(CHANNEL0, high)
        }

        pub fn expired(&self) -> Result<bool, Error> {
            self.ports.out8(COMMAND, READ_BACK_STATUS_0)?;
            Ok(self.ports.in8(CHANNEL0)? & STATUS_OUT != 0)
        }

        /// Mode 0 raises its output once per count; nothing to stop (the next `arm` reloads it).
        pub fn stop(&self) -> Result<(), Error> {
            Ok(())
        }
    }
}
