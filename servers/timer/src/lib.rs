//! The timer server's logic: `timer::v1` over the platform's one-shot timer.
//!
//! ```text
//! client --Call--> timer endpoint --+--> TimerService::handle --> timer::v1::dispatch
//! timer IRQ --> notification -------+        (bound to the server's thread: one receive
//!                                             gets both)
//!        ... deadline queue --> hardware one-shot armed for the earliest deadline
//!        ... deadline passed --> Signal on the client's registered notification
//! ```
//!
//! - [`queue`]: the bounded deadline queue, one deadline per client, earliest first.
//! - [`service`]: the `timer::v1` server over two traits, [`service::OneShot`] (the hardware)
//!   and [`service::Notifiers`] (the clients' capabilities); it also recognises the interrupt
//!   among the received messages. Its documentation says why `sleep` only busy-waits up to
//!   [`service::MAX_SLEEP_US`] and answers longer sleeps `TooLong`.
//! - [`client`]: what clients use for longer waits: deadline + wait on their notification.
//! - `alarm` (bare metal only): that notification, made from the client's Untyped and
//!   registered with the timer.
//! - [`pit`]: the x86_64 PIT's count arithmetic.
//!
//! The program (`src/main.rs`) implements the traits with `axolotl-rt` (aarch64: the EL1
//! physical timer compared with the counter; x86_64: the PIT through its I/O ports) and runs
//! the loop. Everything here is pure and tested on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
pub mod alarm;
pub mod client;
pub mod pit;
pub mod queue;
pub mod service;

pub use client::{SleepError, sleep_for, sleep_until};
pub use queue::DeadlineQueue;
pub use service::{MAX_CLIENTS, MAX_SLEEP_US, TimerService};

use ipc_schema::interfaces::common::Ticks;

/// `micros` microseconds in ticks of a counter running at `frequency` Hz (rounded down,
/// saturating).
pub fn ticks_from_micros(frequency: u64, micros: u64) -> Ticks {
    let ticks = u128::from(frequency) * u128::from(micros) / 1_000_000;
    ticks.try_into().unwrap_or(Ticks::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_to_ticks() {
        assert_eq!(ticks_from_micros(1_000_000_000, 1_000), 1_000_000);
        assert_eq!(ticks_from_micros(62_500_000, 1), 62);
        assert_eq!(ticks_from_micros(0, 5), 0);
        assert_eq!(ticks_from_micros(u64::MAX, u64::MAX), u64::MAX);
    }
}
