//! A client's alarm (bare metal only): a notification made from the client's own Untyped and
//! registered (a badged copy, signal right only) with the timer, to sleep on deadlines without
//! holding up the timer or polling. Used by the shell between console polls and by the upgrader
//! for an upgrade's probation window.
//!
//! It needs an Untyped (`untyped_bits`) and the client's own CNode (`own_cnode = true`) in the
//! image, and two empty slots; [`Alarm::new`] says which is missing.

use crate::client::{SleepError, sleep_for};
use axolotl_rt::{CNode, Cap, CapRights, Endpoint, Notification, ObjectType, ServerInfo};
use ipc_schema::interfaces::common::Ticks;
use ipc_schema::timer::v1::{Client, TimerError};
use ipc_schema::{CallError, CapSlot};

/// The timer and a notification it signals at the client's deadlines.
pub struct Alarm {
    timer: Client<Cap<Endpoint>>,
    wake: Cap<Notification>,
}

/// Why an alarm could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmError {
    /// The image grants no Untyped or no own CNode.
    NotGranted,
    /// No two empty slots.
    NoSlots,
    /// The kernel refused to make or copy the notification.
    Kernel(axolotl_rt::Error),
    /// The timer refused the notification.
    Refused(CallError<TimerError>),
}

impl core::fmt::Display for AlarmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AlarmError::NotGranted => f.write_str("no Untyped or own CNode to make a notification"),
            AlarmError::NoSlots => f.write_str("no empty slots for a notification"),
            AlarmError::Kernel(e) => write!(f, "cannot make a notification ({e})"),
            AlarmError::Refused(e) => write!(f, "the timer refused the notification ({e})"),
        }
    }
}

impl Alarm {
    /// Makes the notification and registers a copy badged `badge` (nonzero, so that a signal
    /// that comes before the wait is kept) with `timer`.
    pub fn new(
        server: &ServerInfo,
        timer: Client<Cap<Endpoint>>,
        badge: u64,
    ) -> Result<Alarm, AlarmError> {
        let (Some((untyped, _)), Some(cnode)) = (server.untyped(), server.own_cnode()) else {
            return Err(AlarmError::NotGranted);
        };
        let mut free = server.empty_slots();
        let (Some(wake_slot), Some(given_slot)) = (free.next(), free.next()) else {
            return Err(AlarmError::NoSlots);
        };
        let root = Cap::<CNode>::invoker_root();
        untyped
            .retype(ObjectType::Notification, 0, root, wake_slot, 1)
            .and_then(|()| cnode.mint(given_slot, root, wake_slot, CapRights::WRITE, badge))
            .map_err(AlarmError::Kernel)?;
        timer
            .register(CapSlot(given_slot))
            .map_err(AlarmError::Refused)?;
        Ok(Alarm {
            timer,
            wake: Cap::from_cptr(wake_slot),
        })
    }

    /// Blocks for `ticks` counter ticks; returns the time seen on waking.
    pub fn sleep(&self, ticks: Ticks) -> Result<Ticks, SleepError<axolotl_rt::Error>> {
        sleep_for(&self.timer, ticks, || self.wake.wait().map(drop))
    }
}
