//! Types several interfaces share.

use serde::{Deserialize, Serialize};

/// The longest server or registration name, in bytes (the same as a server's name in its
/// server-info page).
pub const NAME_LEN: usize = 24;

/// A server or service name: UTF-8, at most [`NAME_LEN`] bytes. Make one with
/// `Name::try_from("kv")`.
pub type Name = heapless::String<NAME_LEN>;

/// Time in ticks of the system counter; `timer::v1::Client::frequency` says how many make a
/// second.
pub type Ticks = u64;

/// How much a server logs: each level includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Every level, from [`LogLevel::Off`] up.
    pub const ALL: [LogLevel; 6] = [
        LogLevel::Off,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// The level named `name` (as [`LogLevel::name`] spells it), for the shell.
    pub fn from_name(name: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| l.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_are_ordered_and_named() {
        assert!(LogLevel::Off < LogLevel::Error && LogLevel::Debug < LogLevel::Trace);
        for l in LogLevel::ALL {
            assert_eq!(LogLevel::from_name(l.name()), Some(l));
        }
        assert_eq!(LogLevel::from_name("loud"), None);
    }

    #[test]
    fn names_are_bounded() {
        assert!(Name::try_from("supervisor").is_ok());
        assert!(Name::try_from("a-name-longer-than-24-bytes").is_err());
    }
}
