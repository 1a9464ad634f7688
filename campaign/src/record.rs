//! The line the guest prints for each injection, and its parser:
//! `CAMPAIGN idx=K type=T pc=0x... a=0x... b=0x... outcome=O aborts=N restarts=N`.

use crate::{FaultType, Outcome};
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
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CAMPAIGN idx={} type={} pc={:#x} a={:#x} b={:#x} outcome={} aborts={} restarts={}",
            self.index,
            self.fault.name(),
            self.pc,
            self.a,
            self.b,
            self.outcome.name(),
            self.aborts,
            self.restarts
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
                _ => {}
            }
        }
        r.fault = fault?;
        r.outcome = outcome?;
        (r.index != u64::MAX).then_some(r)
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
        };
        let line = std::format!("[campaign] {r}");
        assert_eq!(Record::parse(&line), Some(r));
        assert_eq!(Record::parse("CAMPAIGN done"), None);
        assert_eq!(
            Record::parse("CAMPAIGN idx=1 type=nope outcome=masked"),
            None
        );
    }
}
