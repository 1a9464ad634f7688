//! The K42 mediator as a state machine: the phases of one live upgrade, the events that move it
//! on, and how long each phase took.
//!
//! ```text
//!  Negotiate --Agreed--> Forward --InFlight{0, at boundary}--> Block --Exported--> Transfer
//!      |                   |                                    |                  |   |
//!  NoCommonFormat        Cancel                               Cancel     ImportFailed  Imported
//!      v                   v                                    v                  v   v
//!   Refused            RollingBack <-------------------------------------------+  Complete
//!                          |  ^  ^                                                    | Serving
//!               OldResumed |  |  +---------------- NewFaulted --------------- Probation
//!                          v  +--- NewFaulted (Complete, Transfer)                    | ProbationElapsed
//!                      RolledBack                                                 Committed
//! ```
//!
//! - **Negotiate**: both versions' formats are known; the supervisor negotiates
//!   ([`crate::format::negotiate`]). Nothing has changed yet, so a refusal ends here.
//! - **Forward**: requests keep reaching the old version; the supervisor waits until no request
//!   is in flight at a transaction boundary (its freeze request, queued behind the others, is
//!   served: the single-threaded server is then between two transactions).
//! - **Block**: the old version is stopped at its receive point and new calls queue on the
//!   endpoint; its state is exported.
//! - **Transfer**: the state moves to the new version, which imports (and migrates) it.
//! - **Complete**: the new version is told to receive on the same endpoint; queued calls go on.
//! - **Probation**: the new version serves; the old one stays frozen, holding its state. A fault
//!   of the new version rolls back; the window elapsing commits (the old version is freed).
//! - **RollingBack**: the old version is to resume (with the new version's state carried back
//!   when it can import it); **RolledBack** once it serves again.
//!
//! Every transition is stamped with the time (instructions or ticks: whatever counter the
//! supervisor reads) so that [`Mediator::lengths`] gives each phase's length and
//! [`Mediator::blackout`] how long clients could be kept waiting. An event that does not apply
//! to the current phase is an [`IllegalTransition`] and changes nothing: never a panic.

use crate::format::Format;
use core::fmt;

/// Where an upgrade is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Negotiate,
    Forward,
    Block,
    Transfer,
    Complete,
    Probation,
    Committed,
    RollingBack,
    RolledBack,
    Refused,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Negotiate,
        Phase::Forward,
        Phase::Block,
        Phase::Transfer,
        Phase::Complete,
        Phase::Probation,
        Phase::Committed,
        Phase::RollingBack,
        Phase::RolledBack,
        Phase::Refused,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Phase::Negotiate => "negotiate",
            Phase::Forward => "forward",
            Phase::Block => "block",
            Phase::Transfer => "transfer",
            Phase::Complete => "complete",
            Phase::Probation => "probation",
            Phase::Committed => "committed",
            Phase::RollingBack => "rolling back",
            Phase::RolledBack => "rolled back",
            Phase::Refused => "refused",
        }
    }

    /// Whether the upgrade is over.
    pub const fn is_final(self) -> bool {
        matches!(self, Phase::Committed | Phase::RolledBack | Phase::Refused)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something the supervisor observed or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Negotiation found a format both versions can use.
    Agreed(Format),
    /// Negotiation found none.
    NoCommonFormat,
    /// The old version has `count` requests in flight; `at_boundary`: it is between two
    /// transactions (at its receive point). Zero at a boundary ends the forward phase.
    InFlight { count: u32, at_boundary: bool },
    /// The old version is stopped and its state exported (`bytes` long; 0 by reference).
    Exported { bytes: u32 },
    /// The new version imported the state.
    Imported,
    /// The new version refused the state (decode, migration or invariant check failed).
    ImportFailed,
    /// The new version receives on the endpoint.
    Serving,
    /// The new version faulted.
    NewFaulted,
    /// The probation window passed without a fault.
    ProbationElapsed,
    /// The supervisor gives up before the new version serves (the old one faulted, or an
    /// operation failed).
    Cancel,
    /// The old version serves again; `state_carried_back`: with the new version's state.
    OldResumed { state_carried_back: bool },
}

/// Why an upgrade was rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackReason {
    ImportFailed,
    /// The new version faulted in this phase.
    NewFaulted(Phase),
    Cancelled,
}

impl fmt::Display for RollbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackReason::ImportFailed => f.write_str("the new version failed its import"),
            RollbackReason::NewFaulted(p) => write!(f, "the new version faulted during {p}"),
            RollbackReason::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// An event that does not apply in the current phase; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediatorError {
    IllegalTransition {
        phase: Phase,
        event: Event,
    },
    /// The time given is earlier than the last transition's.
    ClockWentBack {
        last: u64,
        now: u64,
    },
}

impl fmt::Display for MediatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediatorError::IllegalTransition { phase, event } => {
                write!(f, "{event:?} is not expected during {phase}")
            }
            MediatorError::ClockWentBack { last, now } => {
                write!(f, "time {now} is before the last transition at {last}")
            }
        }
    }
}

/// One upgrade's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mediator {
    phase: Phase,
    /// When each phase was entered (last time, if entered more than once).
    entered: [Option<u64>; Phase::ALL.len()],
    /// When each phase was left.
    left: [Option<u64>; Phase::ALL.len()],
    last: u64,
    format: Option<Format>,
    state_bytes: u32,
    max_in_flight: u32,
    forward_checks: u32,
    rollback: Option<RollbackReason>,
    state_carried_back: bool,
}

impl Mediator {
    /// An upgrade starting at time `now`, in the negotiate phase.
    pub fn new(now: u64) -> Mediator {
        let mut entered = [None; Phase::ALL.len()];
        entered[Phase::Negotiate.index()] = Some(now);
        Mediator {
            phase: Phase::Negotiate,
            entered,
            left: [None; Phase::ALL.len()],
            last: now,
            format: None,
            state_bytes: 0,
            max_in_flight: 0,
            forward_checks: 0,
            rollback: None,
            state_carried_back: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The format agreed on.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// The exported state's length.
    pub fn state_bytes(&self) -> u32 {
        self.state_bytes
    }

    /// The most requests seen in flight during the forward phase.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight
    }

    /// How many in-flight reports the forward phase took to drain.
    pub fn forward_checks(&self) -> u32 {
        self.forward_checks
    }

    pub fn rollback_reason(&self) -> Option<RollbackReason> {
        self.rollback
    }

    /// After a rollback: whether the old version resumed with the new version's state.
    pub fn state_carried_back(&self) -> bool {
        self.state_carried_back
    }

    /// Applies `event`, observed at time `now`; returns the new phase. An event that does not
    /// apply changes nothing.
    pub fn on(&mut self, event: Event, now: u64) -> Result<Phase, MediatorError> {
        if now < self.last {
            return Err(MediatorError::ClockWentBack {
                last: self.last,
                now,
            });
        }
        use Phase as P;
        let illegal = Err(MediatorError::IllegalTransition {
            phase: self.phase,
            event,
        });
        let next = match (self.phase, event) {
            (P::Negotiate, Event::Agreed(format)) => {
                self.format = Some(format);
                P::Forward
            }
            (P::Negotiate, Event::NoCommonFormat) => P::Refused,
            (P::Forward, Event::InFlight { count, at_boundary }) => {
                self.max_in_flight = self.max_in_flight.max(count);
                self.forward_checks = self.forward_checks.saturating_add(1);
                if count == 0 && at_boundary {
                    P::Block
                } else {
                    P::Forward
                }
            }
            (P::Block, Event::Exported { bytes }) => {
                self.state_bytes = bytes;
                P::Transfer
            }
            (P::Transfer, Event::Imported) => P::Complete,
            (P::Transfer, Event::ImportFailed) => {
                self.rollback = Some(RollbackReason::ImportFailed);
                P::RollingBack
            }
            (P::Complete, Event::Serving) => P::Probation,
            (P::Transfer | P::Complete | P::Probation, Event::NewFaulted) => {
                self.rollback = Some(RollbackReason::NewFaulted(self.phase));
                P::RollingBack
            }
            (P::Probation, Event::ProbationElapsed) => P::Committed,
            (P::Forward | P::Block | P::Transfer | P::Complete, Event::Cancel) => {
                self.rollback = Some(RollbackReason::Cancelled);
                P::RollingBack
            }
            (P::RollingBack, Event::OldResumed { state_carried_back }) => {
                self.state_carried_back = state_carried_back;
                P::RolledBack
            }
            _ => return illegal,
        };
        if next != self.phase {
            self.left[self.phase.index()] = Some(now);
            self.entered[next.index()] = Some(now);
            self.phase = next;
        }
        self.last = now;
        Ok(next)
    }

    /// How long `phase` lasted (up to its end, or to the last transition if it has not ended):
    /// `None` if it was never entered.
    pub fn length(&self, phase: Phase) -> Option<u64> {
        let start = self.entered[phase.index()]?;
        let end = self.left[phase.index()].unwrap_or(self.last);
        Some(end.saturating_sub(start))
    }

    /// The four mediator phases' lengths, for the transcript.
    pub fn lengths(&self) -> PhaseLengths {
        PhaseLengths {
            forward: self.length(Phase::Forward),
            block: self.length(Phase::Block),
            transfer: self.length(Phase::Transfer),
            complete: self.length(Phase::Complete),
        }
    }

    /// How long new calls could be kept waiting: from the old version's stop (block) until the
    /// new one served (probation) or the old one served again (rolled back).
    pub fn blackout(&self) -> Option<u64> {
        let start = self.entered[Phase::Block.index()]?;
        let end = self.entered[Phase::Probation.index()]
            .or(self.entered[Phase::RolledBack.index()])
            .unwrap_or(self.last);
        Some(end.saturating_sub(start))
    }

    /// When the blackout began (the counter at the old version's stop), if it did: with
    /// [`blackout`](Self::blackout), the window a client can compare its requests with.
    pub fn blocked_at(&self) -> Option<u64> {
        self.entered[Phase::Block.index()]
    }

    /// From the start to the last transition.
    pub fn total(&self) -> u64 {
        let start = self.entered[Phase::Negotiate.index()].unwrap_or(self.last);
        self.last.saturating_sub(start)
    }
}

/// The four phases' lengths (`None`: not reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseLengths {
    pub forward: Option<u64>,
    pub block: Option<u64>,
    pub transfer: Option<u64>,
    pub complete: Option<u64>,
}

impl fmt::Display for PhaseLengths {
    /// `forward 120, block 40, transfer 9000, complete -` (units are the caller's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            ("forward", self.forward),
            ("block", self.block),
            ("transfer", self.transfer),
            ("complete", self.complete),
        ];
        for (i, (name, length)) in parts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match length {
                Some(n) => write!(f, "{name} {n}")?,
                None => write!(f, "{name} -")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    const F: Format = Format(2);

    /// Every event kind, with representative payloads.
    fn every_event() -> Vec<Event> {
        std::vec![
            Event::Agreed(F),
            Event::NoCommonFormat,
            Event::InFlight {
                count: 0,
                at_boundary: true
            },
            Event::InFlight {
                count: 0,
                at_boundary: false
            },
            Event::InFlight {
                count: 3,
                at_boundary: true
            },
            Event::Exported { bytes: 10 },
            Event::Imported,
            Event::ImportFailed,
            Event::Serving,
            Event::NewFaulted,
            Event::ProbationElapsed,
            Event::Cancel,
            Event::OldResumed {
                state_carried_back: true
            },
        ]
    }

    /// A mediator driven into `phase` by legal events, one time unit each.
    fn at(phase: Phase) -> Mediator {
        let mut m = Mediator::new(0);
        let path: &[Event] = match phase {
            Phase::Negotiate => &[],
            Phase::Refused => &[Event::NoCommonFormat],
            Phase::Forward => &[Event::Agreed(F)],
            Phase::Block => &[Event::Agreed(F), DRAINED],
            Phase::Transfer => &[Event::Agreed(F), DRAINED, Event::Exported { bytes: 1 }],
            Phase::Complete => &[
                Event::Agreed(F),
                DRAINED,
                Event::Exported { bytes: 1 },
                Event::Imported,
            ],
            Phase::Probation => &[
                Event::Agreed(F),
                DRAINED,
                Event::Exported { bytes: 1 },
                Event::Imported,
                Event::Serving,
            ],
            Phase::Committed => &[
                Event::Agreed(F),
                DRAINED,
                Event::Exported { bytes: 1 },
                Event::Imported,
                Event::Serving,
                Event::ProbationElapsed,
            ],
            Phase::RollingBack => &[Event::Agreed(F), Event::Cancel],
            Phase::RolledBack => &[
                Event::Agreed(F),
                Event::Cancel,
                Event::OldResumed {
                    state_carried_back: false,
                },
            ],
        };
        for (t, &e) in path.iter().enumerate() {
            m.on(e, t as u64 + 1).unwrap();
        }
        assert_eq!(m.phase(), phase);
        m
    }

    const DRAINED: Event = Event::InFlight {
        count: 0,
        at_boundary: true,
    };

    /// The transition table, written out independently of `on`: the phase `event` leads to from
    /// `phase`, or `None` if it is illegal there.
    fn expected(phase: Phase, event: Event) -> Option<Phase> {
        use Phase as P;
        Some(match (phase, event) {
            (P::Negotiate, Event::Agreed(_)) => P::Forward,
            (P::Negotiate, Event::NoCommonFormat) => P::Refused,
            (
                P::Forward,
                Event::InFlight {
                    count: 0,
                    at_boundary: true,
                },
            ) => P::Block,
            (P::Forward, Event::InFlight { .. }) => P::Forward,
            (P::Block, Event::Exported { .. }) => P::Transfer,
            (P::Transfer, Event::Imported) => P::Complete,
            (P::Transfer, Event::ImportFailed) => P::RollingBack,
            (P::Complete, Event::Serving) => P::Probation,
            (P::Transfer | P::Complete | P::Probation, Event::NewFaulted) => P::RollingBack,
            (P::Probation, Event::ProbationElapsed) => P::Committed,
            (P::Forward | P::Block | P::Transfer | P::Complete, Event::Cancel) => P::RollingBack,
            (P::RollingBack, Event::OldResumed { .. }) => P::RolledBack,
            _ => return None,
        })
    }

    #[test]
    fn every_event_in_every_phase() {
        let mut legal = 0;
        for phase in Phase::ALL {
            for event in every_event() {
                let mut m = at(phase);
                let before = m.clone();
                match (m.on(event, 100), expected(phase, event)) {
                    (Ok(next), Some(want)) => {
                        assert_eq!(next, want, "{phase} + {event:?}");
                        assert_eq!(m.phase(), want);
                        legal += 1;
                    }
                    (Err(e), None) => {
                        assert_eq!(e, MediatorError::IllegalTransition { phase, event });
                        assert_eq!(m, before, "an illegal event changes nothing");
                    }
                    (got, want) => panic!("{phase} + {event:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(legal, 18);
    }

    #[test]
    fn final_phases_accept_nothing() {
        for phase in Phase::ALL.into_iter().filter(|p| p.is_final()) {
            for event in every_event() {
                assert!(at(phase).on(event, 100).is_err(), "{phase} + {event:?}");
            }
        }
    }

    #[test]
    fn a_successful_upgrade_times_each_phase() {
        let mut m = Mediator::new(1000);
        m.on(Event::Agreed(F), 1010).unwrap();
        // Two requests in flight, then one, then none but mid-transaction, then drained.
        for (count, at_boundary, t) in [(2, true, 1100), (1, false, 1200), (0, false, 1250)] {
            assert_eq!(
                m.on(Event::InFlight { count, at_boundary }, t),
                Ok(Phase::Forward)
            );
        }
        assert_eq!(m.on(DRAINED, 1300), Ok(Phase::Block));
        assert_eq!(
            m.on(Event::Exported { bytes: 4000 }, 1340),
            Ok(Phase::Transfer)
        );
        assert_eq!(m.on(Event::Imported, 2340), Ok(Phase::Complete));
        assert_eq!(m.on(Event::Serving, 2352), Ok(Phase::Probation));
        assert_eq!(m.on(Event::ProbationElapsed, 9000), Ok(Phase::Committed));

        assert_eq!(m.format(), Some(F));
        assert_eq!((m.max_in_flight(), m.forward_checks()), (2, 4));
        assert_eq!(m.state_bytes(), 4000);
        let l = m.lengths();
        assert_eq!(
            (l.forward, l.block, l.transfer, l.complete),
            (Some(290), Some(40), Some(1000), Some(12))
        );
        assert_eq!(m.length(Phase::Probation), Some(9000 - 2352));
        assert_eq!(m.length(Phase::Committed), Some(0));
        assert_eq!(m.length(Phase::RolledBack), None);
        assert_eq!(m.blackout(), Some(2352 - 1300));
        assert_eq!(m.blocked_at(), Some(1300));
        assert_eq!(m.total(), 8000);
        assert_eq!(
            l.to_string(),
            "forward 290, block 40, transfer 1000, complete 12"
        );
        assert_eq!(m.rollback_reason(), None);
    }

    #[test]
    fn a_failed_import_rolls_back_with_the_old_state() {
        let mut m = at(Phase::Transfer);
        assert_eq!(m.on(Event::ImportFailed, 10), Ok(Phase::RollingBack));
        assert_eq!(
            m.on(
                Event::OldResumed {
                    state_carried_back: false
                },
                12
            ),
            Ok(Phase::RolledBack)
        );
        assert_eq!(m.rollback_reason(), Some(RollbackReason::ImportFailed));
        assert!(!m.state_carried_back());
        // Clients waited from the block to the old version's resumption.
        assert_eq!(m.blackout(), Some(12 - 2));
        assert_eq!(m.lengths().complete, None);
        assert_eq!(
            m.rollback_reason().unwrap().to_string(),
            "the new version failed its import"
        );
    }

    #[test]
    fn a_fault_in_probation_rolls_back_carrying_the_state() {
        let mut m = at(Phase::Probation);
        assert_eq!(m.on(Event::NewFaulted, 50), Ok(Phase::RollingBack));
        assert_eq!(
            m.rollback_reason(),
            Some(RollbackReason::NewFaulted(Phase::Probation))
        );
        m.on(
            Event::OldResumed {
                state_carried_back: true,
            },
            60,
        )
        .unwrap();
        assert!(m.state_carried_back());
        // The blackout ended when the new version served, before the fault.
        assert_eq!(m.blackout(), Some(5 - 2));
        assert_eq!(m.length(Phase::RollingBack), Some(10));
    }

    #[test]
    fn a_refusal_changes_nothing_and_has_no_blackout() {
        let m = at(Phase::Refused);
        assert_eq!(m.blackout(), None);
        assert_eq!(m.blocked_at(), None);
        assert_eq!(m.format(), None);
        assert_eq!(m.lengths().forward, None);
        assert_eq!(
            m.lengths().to_string(),
            "forward -, block -, transfer -, complete -"
        );
    }

    #[test]
    fn time_may_not_go_back() {
        let mut m = Mediator::new(100);
        assert_eq!(
            m.on(Event::Agreed(F), 99),
            Err(MediatorError::ClockWentBack { last: 100, now: 99 })
        );
        assert_eq!(m.phase(), Phase::Negotiate);
        // The same time is fine (a counter with a coarse tick).
        assert_eq!(m.on(Event::Agreed(F), 100), Ok(Phase::Forward));
        assert!(
            MediatorError::ClockWentBack { last: 1, now: 0 }
                .to_string()
                .contains("before")
        );
    }

    #[test]
    fn phase_names_are_distinct() {
        for (i, a) in Phase::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
            for b in &Phase::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
