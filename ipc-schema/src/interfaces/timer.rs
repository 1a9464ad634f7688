//! `timer`: the time and deadlines.

/// Version 1.
pub mod v1 {
    use super::super::common::Ticks;
    use super::super::ids;
    use crate::Never;
    use serde::{Deserialize, Serialize};

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum TimerError {
        /// `set_deadline` before `register`.
        NotRegistered,
        /// The timer has no room for another client.
        Full,
        /// The sleep is longer than the server allows (use a deadline).
        TooLong,
    }

    impl core::fmt::Display for TimerError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                TimerError::NotRegistered => "not registered",
                TimerError::Full => "timer full",
                TimerError::TooLong => "sleep too long",
            })
        }
    }

    crate::interface! {
        interface timer = ids::TIMER, version 1;

        /// Ticks since boot.
        0 => idempotent fn now() -> Result<Ticks, Never>;
        /// Ticks per second.
        1 => idempotent fn frequency() -> Result<u64, Never>;
        /// Returns after `ticks` have passed. A single-threaded timer serves nobody else
        /// meanwhile: keep sleeps short, and wait for longer with a deadline. (Re-delivered
        /// after an abort, it sleeps again: harmless, hence idempotent.)
        2 => idempotent fn sleep(ticks: Ticks) -> Result<(), TimerError>;
        /// Gives the timer the notification it signals when this caller's deadline passes
        /// (with the capability's badge). Registering again replaces it.
        3 => idempotent fn register() + cap notification -> Result<(), TimerError>;
        /// Signals the registered notification once `now()` reaches `deadline` (at once if it
        /// has); `None` cancels. One deadline per caller: a new one replaces the old.
        4 => idempotent fn set_deadline(deadline: Option<Ticks>) -> Result<(), TimerError>;
    }
}
