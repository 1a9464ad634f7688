//! The lines of an upgrade's transcript (what the upgrader logs and the shell prints).

use core::fmt::{self, Write};
use ipc_schema::lifecycle::v1::{Outcome, Report};

/// The mediator phases a [`Report`]'s `lengths` hold, in order.
pub const PHASES: [&str; 4] = ["forward", "block", "transfer", "complete"];

/// `committed`, `refused (no common state format)`, ...
pub struct OutcomeText(pub Outcome);

impl fmt::Display for OutcomeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Outcome::Committed => f.write_str("committed"),
            Outcome::Refused => f.write_str("refused (no common state format), nothing changed"),
            Outcome::ImportFailed => f.write_str(
                "rolled back by itself: the new version failed its import, the old one serves \
                 with its state intact",
            ),
            Outcome::FaultedInProbation { carried_back } => write!(
                f,
                "rolled back by itself: the new version faulted during probation, the old one \
                 serves {}",
                if carried_back {
                    "with the new version's state carried back"
                } else {
                    "with the state it was frozen with"
                }
            ),
            Outcome::Cancelled => f.write_str("cancelled: the old version serves"),
        }
    }
}

/// `forward 1200, block 300, transfer 90000, complete 800 instructions` (0: not reached, `-`).
pub struct Lengths<'a>(pub &'a Report);

impl fmt::Display for Lengths<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, length)) in PHASES.iter().zip(self.0.lengths).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if length == 0 {
                write!(f, "{name} -")?;
            } else {
                write!(f, "{name} {length}")?;
            }
        }
        Ok(())
    }
}

/// The summary line: `kv -> kv2: committed; version 2; format 1; 4 KiB ...`.
pub fn summary(out: &mut impl Write, server: &str, program: &str, r: &Report) -> fmt::Result {
    write!(out, "{server} -> {program}: {}; ", OutcomeText(r.outcome))?;
    write!(out, "version {} serves", r.version)?;
    if let Some(format) = r.format {
        write!(
            out,
            "; state format {format}, {} bytes in {} chunks",
            r.state_bytes, r.chunks
        )?;
    }
    write!(
        out,
        "; phases: {}; blackout {}; total {}",
        Lengths(r),
        r.blackout,
        r.total
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn report(outcome: Outcome) -> Report {
        Report {
            outcome,
            version: 2,
            format: Some(1),
            state_bytes: 4000,
            lengths: [10, 20, 30, 0],
            blackout: 50,
            blocked_at: 1000,
            total: 100,
            chunks: 10,
        }
    }

    #[test]
    fn summaries_read_well() {
        let mut s = String::new();
        summary(&mut s, "kv", "kv2", &report(Outcome::Committed)).unwrap();
        assert_eq!(
            s,
            "kv -> kv2: committed; version 2 serves; state format 1, 4000 bytes in 10 chunks; \
             phases: forward 10, block 20, transfer 30, complete -; blackout 50; total 100"
        );
        let mut s = String::new();
        let refused = Report {
            format: None,
            ..report(Outcome::Refused)
        };
        summary(&mut s, "kv", "kv3", &refused).unwrap();
        assert!(s.starts_with("kv -> kv3: refused (no common state format), nothing changed"));
        assert!(!s.contains("state format 1"));
    }

    #[test]
    fn every_outcome_has_words() {
        for (outcome, words) in [
            (Outcome::ImportFailed, "failed its import"),
            (
                Outcome::FaultedInProbation { carried_back: true },
                "state carried back",
            ),
            (
                Outcome::FaultedInProbation {
                    carried_back: false,
                },
                "frozen with",
            ),
            (Outcome::Cancelled, "cancelled"),
        ] {
            let text = std::format!("{}", OutcomeText(outcome));
            assert!(text.contains(words), "{text}");
        }
    }
}
