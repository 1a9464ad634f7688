//! The supervisor's recovery policy, as a pure state machine (unit-tested on the host): what to
//! do with a server that faulted, given whether it was inside a transaction, whether the request
//! it was handling is idempotent, and what happened before.
//!
//! Per server, from the image description: `restart_after` (consecutive aborts tolerated).
//!
//! - A fault of a server without a transactional region cannot be rolled back: the thread is
//!   **suspended**.
//! - A transactional server that faults between requests (in its request loop, outside any
//!   transaction, e.g. on a register a committed request corrupted) has nothing to roll back
//!   either, but it would leave its clients waiting for ever: it is **restarted** (from its
//!   image, or its last snapshot), and the requests queued for the old generation are answered
//!   `Restarted`.
//! - A fault inside a transaction **aborts** it. An idempotent request is re-delivered once (its
//!   caller never notices); a request that is not idempotent, or faults again after its
//!   re-delivery, is answered `Aborted`.
//! - A server that aborts `restart_after` requests in a row (no request committed in between) is
//!   **restarted**: the faulting request is answered `Restarted`, and so are the requests queued
//!   for the old generation.
//!
//! Commits are counted by the kernel (`TxRegionStatus`); a commit since the last abort resets the
//! run of consecutive aborts.

/// What the supervisor does about a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Roll the request back and deliver it again.
    Redeliver,
    /// Roll the request back and answer its caller `Aborted`.
    AnswerAborted,
    /// Roll the request back, answer `Restarted`, and restart the server.
    Restart,
    /// No transaction to roll back: suspend the thread.
    Suspend,
}

/// What the kernel says of the faulting server's transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxView {
    /// A request was being handled.
    pub in_transaction: bool,
    /// Requests committed since the region was made.
    pub commits: u64,
}

/// One server's recovery state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Consecutive aborts tolerated before a restart (at least 1).
    pub restart_after: u8,
    /// Aborts since the server last committed a request.
    pub consecutive_aborts: u32,
    /// Commits counted when it last aborted.
    commits_seen: u64,
    /// The request it is handling was already re-delivered once.
    redelivered: bool,
    /// Requests rolled back, in all.
    pub aborts: u64,
}

impl Recovery {
    pub fn new(restart_after: u8) -> Recovery {
        Recovery {
            restart_after: restart_after.max(1),
            consecutive_aborts: 0,
            commits_seen: 0,
            redelivered: false,
            aborts: 0,
        }
    }

    /// A fault was reported. `tx` is `None` for a server without a region (or whose status could
    /// not be read); `idempotent` says whether the request being handled may be delivered again.
    pub fn on_fault(&mut self, tx: Option<TxView>, idempotent: bool) -> Action {
        let Some(tx) = tx else {
            return Action::Suspend;
        };
        if !tx.in_transaction {
            self.redelivered = false;
            return Action::Restart;
        }
        if tx.commits > self.commits_seen {
            self.consecutive_aborts = 0;
            self.redelivered = false;
        }
        self.commits_seen = tx.commits;
        self.consecutive_aborts = self.consecutive_aborts.saturating_add(1);
        self.aborts += 1;
        if self.consecutive_aborts >= u32::from(self.restart_after) {
            self.redelivered = false;
            return Action::Restart;
        }
        if idempotent && !self.redelivered {
            self.redelivered = true;
            Action::Redeliver
        } else {
            self.redelivered = false;
            Action::AnswerAborted
        }
    }

    /// The abort the last [`on_fault`](Self::on_fault) asked for failed: nothing was rolled
    /// back, so it does not count.
    pub fn abort_failed(&mut self) {
        self.consecutive_aborts = self.consecutive_aborts.saturating_sub(1);
        self.aborts = self.aborts.saturating_sub(1);
        self.redelivered = false;
    }

    /// The server was restarted: a fresh region, counting commits from 0.
    pub fn restarted(&mut self) {
        self.restarted_at(0);
    }

    /// The server was restarted in its region (from a snapshot), which has counted `commits`.
    pub fn restarted_at(&mut self, commits: u64) {
        self.consecutive_aborts = 0;
        self.commits_seen = commits;
        self.redelivered = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(commits: u64) -> Option<TxView> {
        Some(TxView {
            in_transaction: true,
            commits,
        })
    }

    #[test]
    fn without_a_region_the_thread_is_suspended() {
        let mut r = Recovery::new(3);
        assert_eq!(r.on_fault(None, true), Action::Suspend);
        assert_eq!((r.aborts, r.consecutive_aborts), (0, 0));
    }

    #[test]
    fn between_requests_a_transactional_server_is_restarted() {
        let mut r = Recovery::new(3);
        let idle = Some(TxView {
            in_transaction: false,
            commits: 4,
        });
        assert_eq!(r.on_fault(idle, true), Action::Restart);
        // Nothing was aborted.
        assert_eq!((r.aborts, r.consecutive_aborts), (0, 0));
    }

    #[test]
    fn an_idempotent_request_is_redelivered_once() {
        let mut r = Recovery::new(5);
        assert_eq!(r.on_fault(tx(7), true), Action::Redeliver);
        // The re-delivered request faults again: no commit in between.
        assert_eq!(r.on_fault(tx(7), true), Action::AnswerAborted);
        // The next request is idempotent too: it gets its own re-delivery.
        assert_eq!(r.on_fault(tx(7), true), Action::Redeliver);
        assert_eq!((r.aborts, r.consecutive_aborts), (3, 3));
    }

    #[test]
    fn a_request_that_is_not_idempotent_is_answered_aborted() {
        let mut r = Recovery::new(5);
        assert_eq!(r.on_fault(tx(0), false), Action::AnswerAborted);
        assert_eq!(r.on_fault(tx(0), false), Action::AnswerAborted);
    }

    #[test]
    fn a_commit_resets_the_run_of_aborts() {
        let mut r = Recovery::new(3);
        assert_eq!(r.on_fault(tx(1), false), Action::AnswerAborted);
        assert_eq!(r.on_fault(tx(1), false), Action::AnswerAborted);
        // A request committed since: the run starts again.
        assert_eq!(r.on_fault(tx(2), false), Action::AnswerAborted);
        assert_eq!(r.consecutive_aborts, 1);
        assert_eq!(r.on_fault(tx(2), true), Action::Redeliver);
        assert_eq!(r.on_fault(tx(2), true), Action::Restart);
        assert_eq!(r.aborts, 5);
    }

    #[test]
    fn restart_after_n_consecutive_aborts_then_count_afresh() {
        for n in 1..=4u8 {
            let mut r = Recovery::new(n);
            for i in 1..n {
                assert_ne!(
                    r.on_fault(tx(9), false),
                    Action::Restart,
                    "abort {i} of {n}"
                );
            }
            assert_eq!(r.on_fault(tx(9), false), Action::Restart);
            r.restarted();
            // The new generation's region counts commits from 0 again.
            assert_eq!(r.consecutive_aborts, 0);
            if n > 1 {
                assert_eq!(r.on_fault(tx(0), true), Action::Redeliver);
            }
        }
    }

    #[test]
    fn zero_is_read_as_one() {
        let mut r = Recovery::new(0);
        assert_eq!(r.on_fault(tx(0), true), Action::Restart);
    }

    #[test]
    fn a_failed_abort_does_not_count() {
        let mut r = Recovery::new(2);
        assert_eq!(r.on_fault(tx(0), true), Action::Redeliver);
        r.abort_failed();
        assert_eq!((r.aborts, r.consecutive_aborts), (0, 0));
        assert_eq!(r.on_fault(tx(0), true), Action::Redeliver);
    }

    /// Random fault sequences: the policy never re-delivers one request twice, never lets the
    /// run of aborts reach `restart_after` without a restart, and counts every abort.
    #[test]
    fn random_sequences_keep_the_invariants() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let n = (next() % 5) as u8 + 1;
            let mut r = Recovery::new(n);
            let mut commits = 0;
            let mut aborts = 0;
            let mut last = Action::Suspend;
            for _ in 0..100 {
                let roll = next();
                if roll % 3 == 0 {
                    commits += 1;
                    last = Action::Suspend;
                }
                let view = (roll % 7 != 0).then_some(TxView {
                    in_transaction: roll % 11 != 0,
                    commits,
                });
                let action = r.on_fault(view, roll % 2 == 0);
                // Every action but a suspension or a restart between requests aborts one.
                let between = view.is_some_and(|v| !v.in_transaction);
                if between {
                    assert_eq!(action, Action::Restart);
                }
                if action != Action::Suspend && !between {
                    aborts += 1;
                }
                assert!(!(last == Action::Redeliver && action == Action::Redeliver));
                assert!(r.consecutive_aborts < u32::from(n) || action == Action::Restart);
                if action == Action::Restart {
                    r.restarted();
                    commits = 0;
                }
                if action != Action::Suspend {
                    last = action;
                }
            }
            assert_eq!(r.aborts, aborts);
        }
    }
}
