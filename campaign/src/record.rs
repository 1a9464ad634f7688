//! The lines the guest prints for each injection, and their parsers:
//!
//! - before it arms injection K: `CAMPAIGN begin idx=K type=T pc=0x... a=0x... b=0x...`
//!   ([`Begin`]), so that a boot that dies inside K is filed under K's fault type exactly;
//! - after it: `CAMPAIGN idx=K type=T pc=0x... a=0x... b=0x... outcome=O aborts=N restarts=N
//!   d0=0x... d1=0x...` ([`Record`]); `d0`/`d1` are what the kernel reports the fault did (a
//!   register's value before and after, a byte before and after; a probe's hit).

use crate::{FaultType, Injection, Outcome};
use core::fmt;

/// One injection's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub index: u64,
    pub fault: FaultType,
    pub pc: u64,
    pub a: u64,
    pub b: u64,
    pub outcome: Outcome,
    pub aborts: u64,
    pub restarts: u64,
    /// The kernel's detail of the fired trap (`abi::inject`), zero if it did not fire.
    pub detail: (u64, u64),
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CAMPAIGN idx={} type={} pc={:#x} a={:#x} b={:#x} outcome={} aborts={} restarts={} \
             d0={:#x} d1={:#x}",
            self.index,
            self.fault.name(),
            self.pc,
            self.a,
            self.b,
            self.outcome.name(),
            self.aborts,
            self.restarts,
            self.detail.0,
            self.detail.1
        )
    }
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Record {
    /// Parses a line holding a record (anything may precede `CAMPAIGN `).
    pub fn parse(line: &str) -> Option<Record> {
        let rest = &line[line.find("CAMPAIGN idx=")? + "CAMPAIGN ".len()..];
        let mut r = Record {
            index: u64::MAX,
            fault: FaultType::RegisterBitFlip,
            pc: 0,
            a: 0,
            b: 0,
            outcome: Outcome::Hang,
            aborts: 0,
            restarts: 0,
            detail: (0, 0),
        };
        let (mut fault, mut outcome) = (None, None);
        for field in rest.split_whitespace() {
            let (k, v) = field.split_once('=')?;
            match k {
                "idx" => r.index = number(v)?,
                "type" => fault = FaultType::from_name(v),
                "pc" => r.pc = number(v)?,
                "a" => r.a = number(v)?,
                "b" => r.b = number(v)?,
                "outcome" => outcome = Outcome::from_name(v),
                "aborts" => r.aborts = number(v)?,
                "restarts" => r.restarts = number(v)?,
                "d0" => r.detail.0 = number(v)?,
                "d1" => r.detail.1 = number(v)?,
                _ => {}
            }
        }
        r.fault = fault?;
        r.outcome = outcome?;
        (r.index != u64::MAX).then_some(r)
    }
}

/// The line printed before injection `index` is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Begin(pub Injection);

impl fmt::Display for Begin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        write!(
            f,
            "CAMPAIGN begin idx={} type={} pc={:#x} a={:#x} b={:#x}",
            i.index,
            i.fault.name(),
            i.pc,
            i.a,
            i.b
        )
    }
}

impl Begin {
    /// Parses a line holding a begin line (anything may precede `CAMPAIGN `).
    pub fn parse(line: &str) -> Option<Begin> {
        let rest = &line[line.find("CAMPAIGN begin ")? + "CAMPAIGN begin ".len()..];
        let (mut index, mut fault) = (None, None);
        let (mut pc, mut a, mut b) = (0, 0, 0);
        for field in rest.split_whitespace() {
            let (k, v) = field.split_once('=')?;
            match k {
                "idx" => index = number(v),
                "type" => fault = FaultType::from_name(v),
                "pc" => pc = number(v)?,
                "a" => a = number(v)?,
                "b" => b = number(v)?,
                _ => {}
            }
        }
        Some(Begin(Injection {
            index: index?,
            fault: fault?,
            pc,
            a,
            b,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Record {
            index: 12,
            fault: FaultType::EndlessLoop,
            pc: 0x40_1234,
            a: 0,
            b: 7,
            outcome: Outcome::RolledBack,
            aborts: 2,
            restarts: 0,
            detail: (0x10, 0x18),
        };
        let line = std::format!("[campaign] {r}");
        assert_eq!(Record::parse(&line), Some(r));
        assert_eq!(Record::parse("CAMPAIGN done"), None);
        assert_eq!(
            Record::parse("CAMPAIGN idx=1 type=nope outcome=masked"),
            None
        );
        // Lines of the first version (no detail) still parse.
        let old = Record::parse(
            "CAMPAIGN idx=1 type=skip pc=0x10 a=0x4 b=0x0 outcome=masked aborts=0 restarts=0",
        )
        .unwrap();
        assert_eq!(old.detail, (0, 0));
    }

    #[test]
    fn begin_lines_round_trip_and_are_not_records() {
        let b = Begin(Injection {
            index: 23,
            fault: FaultType::MemoryBitFlip,
            pc: 0x21_9d74,
            a: 0x10ff_59bb,
            b: 3,
        });
        let line = std::format!("{b}");
        assert_eq!(Begin::parse(&line), Some(b));
        assert_eq!(Record::parse(&line), None);
        assert_eq!(
            Begin::parse("CAMPAIGN idx=1 type=skip outcome=masked"),
            None
        );
    }
}
