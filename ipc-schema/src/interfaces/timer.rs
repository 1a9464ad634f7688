//! `timer`: the time and deadlines, in two versions, and the adapter through which a v2 server
//! serves v1 clients.
//!
//! Version 2 adds periodic deadlines (`set_deadline` takes a [`v2::Deadline`] with an optional
//! period, after which the deadline re-arms itself) and op 5 `pending` (the caller's next
//! deadline); v1 requests go up through [`V1OnV2`] (a v1 deadline is a v2 deadline without a
//! period) and replies come down unchanged, errors mapped by [`error_to_v1`].

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

/// Version 2: periodic deadlines and `pending`.
pub mod v2 {
    use super::super::common::Ticks;
    use super::super::ids;
    use crate::Never;
    use serde::{Deserialize, Serialize};

    /// When to signal a caller's notification: at `at`, then, with a period, every `period`
    /// ticks after that until cancelled.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct Deadline {
        pub at: Ticks,
        /// Non-zero; `None`: once.
        pub period: Option<Ticks>,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum TimerError {
        /// `set_deadline` or `pending` before `register`.
        NotRegistered,
        /// The timer has no room for another client.
        Full,
        /// The sleep is longer than the server allows (use a deadline).
        TooLong,
        /// A period of zero ticks.
        InvalidPeriod,
    }

    impl core::fmt::Display for TimerError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                TimerError::NotRegistered => "not registered",
                TimerError::Full => "timer full",
                TimerError::TooLong => "sleep too long",
                TimerError::InvalidPeriod => "period of zero",
            })
        }
    }

    crate::interface! {
        interface timer = ids::TIMER, version 2;

        /// Ticks since boot.
        0 => idempotent fn now() -> Result<Ticks, Never>;
        /// Ticks per second.
        1 => idempotent fn frequency() -> Result<u64, Never>;
        /// Returns after `ticks` have passed (busy-waits in the server: keep it short).
        2 => idempotent fn sleep(ticks: Ticks) -> Result<(), TimerError>;
        /// Gives the timer the notification it signals when this caller's deadline passes.
        3 => idempotent fn register() + cap notification -> Result<(), TimerError>;
        /// Signals the registered notification once `now()` reaches `deadline.at` and, with a
        /// period, again every period after; `None` cancels. One deadline per caller.
        4 => idempotent fn set_deadline(deadline: Option<Deadline>) -> Result<(), TimerError>;
        /// The caller's next deadline, if one is set.
        5 => idempotent fn pending() -> Result<Option<Deadline>, TimerError>;
    }
}

use crate::server::Caller;

dispatch_v1_through_adapter!();

/// A v2 error as v1 reports it. `InvalidPeriod` cannot answer a v1 request (a v1 deadline has
/// no period); should a server report it anyway, v1's nearest word is `TooLong`.
pub fn error_to_v1(e: v2::TimerError) -> v1::TimerError {
    match e {
        v2::TimerError::NotRegistered => v1::TimerError::NotRegistered,
        v2::TimerError::Full => v1::TimerError::Full,
        v2::TimerError::TooLong | v2::TimerError::InvalidPeriod => v1::TimerError::TooLong,
    }
}

/// A v2 timer seen as a v1 timer.
pub struct V1OnV2<'a, S: ?Sized>(pub &'a mut S);

impl<S: v2::Server + ?Sized> v1::Server for V1OnV2<'_, S> {
    fn now(&mut self, caller: &mut Caller) -> Result<super::common::Ticks, crate::Never> {
        self.0.now(caller)
    }

    fn frequency(&mut self, caller: &mut Caller) -> Result<u64, crate::Never> {
        self.0.frequency(caller)
    }

    fn sleep(
        &mut self,
        caller: &mut Caller,
        ticks: super::common::Ticks,
    ) -> Result<(), v1::TimerError> {
        self.0.sleep(caller, ticks).map_err(error_to_v1)
    }

    /// The capability that came with the v1 request is the v2 server's to claim: the caller is
    /// passed through unchanged.
    fn register(&mut self, caller: &mut Caller) -> Result<(), v1::TimerError> {
        self.0.register(caller).map_err(error_to_v1)
    }

    fn set_deadline(
        &mut self,
        caller: &mut Caller,
        deadline: Option<super::common::Ticks>,
    ) -> Result<(), v1::TimerError> {
        let deadline = deadline.map(|at| v2::Deadline { at, period: None });
        self.0.set_deadline(caller, deadline).map_err(error_to_v1)
    }
}
