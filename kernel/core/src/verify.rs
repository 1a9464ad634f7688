//! Verified transactions by dual execution: the pure part (digest and pass state machine).
//!
//! A server with `verify = true` runs every request twice inside its transaction. When its
//! handler has produced the reply, the runtime asks the kernel to verify it, passing a digest of
//! the reply. The kernel combines it with a digest of the live contents of every page the
//! transaction dirtied (the undo log's pages, from each entry's offset: dead stack below the
//! receive-time stack pointer is neither saved nor hashed).
//!
//! - **First pass**: the kernel remembers the digest, copies the pre-images back (the pages stay
//!   writable and logged) and resets the registers to the checkpoint: the request is delivered
//!   again to the same code.
//! - **Second pass**: the digests are compared. Equal: the server replies and commits. Different:
//!   a `TxVerifyMismatch` fault, which the supervisor handles like any other fault in a
//!   transaction (abort, re-deliver or answer `Aborted`).
//!
//! The state resets when a request is delivered ([`DualRun::begin`]). A fault injected in the
//! first run is gone in the second (its registers are reset, and a memory write it made is undone
//! with the pre-images), so a fault that changes the reply or the memory the request leaves is
//! detected, where a single run would have committed it.

pub use axolotl_abi::verify::Digest;

/// Where a verified transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// No request open (or a region without verification).
    Idle,
    /// The first run of the request is running.
    First,
    /// The second run is running; the first gave this digest.
    Second(u64),
    /// Both runs agreed: the request may reply and commit.
    Agreed,
}

/// What a verify request comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// End of the first run: rewind and run the request again.
    Rerun,
    /// The second run agrees with the first: reply.
    Agree,
    /// The runs disagree: a fault.
    Disagree {
        /// The first run's digest.
        first: u64,
        /// The second run's digest.
        second: u64,
    },
    /// No request is open, or it was already verified: refused.
    Refused,
}

/// The pass state of one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DualRun {
    pass: Pass,
}

impl Default for DualRun {
    fn default() -> Self {
        Self::new()
    }
}

impl DualRun {
    /// No request open.
    pub const fn new() -> Self {
        DualRun { pass: Pass::Idle }
    }

    /// Where it is.
    pub fn pass(&self) -> Pass {
        self.pass
    }

    /// A request was delivered: its first run starts.
    pub fn begin(&mut self) {
        self.pass = Pass::First;
    }

    /// The request ended (committed or aborted).
    pub fn end(&mut self) {
        self.pass = Pass::Idle;
    }

    /// A run of the request ended with `digest`.
    pub fn check(&mut self, digest: u64) -> Verdict {
        match self.pass {
            Pass::First => {
                self.pass = Pass::Second(digest);
                Verdict::Rerun
            }
            Pass::Second(first) if first == digest => {
                self.pass = Pass::Agreed;
                Verdict::Agree
            }
            Pass::Second(first) => {
                self.pass = Pass::Idle;
                Verdict::Disagree {
                    first,
                    second: digest,
                }
            }
            Pass::Idle | Pass::Agreed => Verdict::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_equal_runs_agree() {
        let mut r = DualRun::new();
        assert_eq!(r.check(5), Verdict::Refused);
        r.begin();
        assert_eq!(r.pass(), Pass::First);
        assert_eq!(r.check(42), Verdict::Rerun);
        assert_eq!(r.pass(), Pass::Second(42));
        assert_eq!(r.check(42), Verdict::Agree);
        assert_eq!(r.pass(), Pass::Agreed);
        // Once agreed, a third verify in the same request is refused.
        assert_eq!(r.check(42), Verdict::Refused);
        r.end();
        assert_eq!(r.check(42), Verdict::Refused);
    }

    #[test]
    fn different_runs_disagree_and_begin_resets() {
        let mut r = DualRun::new();
        r.begin();
        assert_eq!(r.check(1), Verdict::Rerun);
        assert_eq!(
            r.check(2),
            Verdict::Disagree {
                first: 1,
                second: 2
            }
        );
        assert_eq!(r.check(2), Verdict::Refused);
        // A re-delivered request starts again from its first run.
        r.begin();
        assert_eq!(r.check(2), Verdict::Rerun);
        r.begin();
        assert_eq!(r.check(3), Verdict::Rerun);
        assert_eq!(r.check(3), Verdict::Agree);
    }
}
