//! Log lines and the per-server level filter.
//!
//! A log line, as every server's logger formats it (`axolotl_rt::logger`), is
//!
//! ```text
//! [name LEVEL] message\n
//! ```
//!
//! with `name` the server's name in the image and `LEVEL` one of `ERROR WARN INFO DEBUG TRACE`.
//! Clients send such lines, already formatted, with `console::v1::write`; the console parses the
//! prefix of each line and drops the line if the table says `name` logs below `LEVEL`. Bytes that
//! do not start with such a prefix (a shell's output, a prompt) are not log lines and always go
//! out. The prefix must arrive in the same `write` as the start of its line (a logger sends a
//! whole line of up to `CHUNK_LEN` bytes per write, so it always does).

use core::fmt;
use ipc_schema::console::v1::ConsoleError;
use ipc_schema::interfaces::common::{LogLevel, Name};

/// The most names the table holds: one per server an image can have.
pub const MAX_LEVELS: usize = axolotl_image::MAX_SERVERS;

/// The most bytes a prefix takes: `[`, a name, a space, the longest level word, `]`.
pub const MAX_PREFIX_LEN: usize = 1 + axolotl_image::NAME_MAX_LEN + 1 + 5 + 1;

/// The word a log line carries for `level` (`None` for [`LogLevel::Off`], which no line has).
pub const fn level_word(level: LogLevel) -> Option<&'static str> {
    Some(match level {
        LogLevel::Off => return None,
        LogLevel::Error => "ERROR",
        LogLevel::Warn => "WARN",
        LogLevel::Info => "INFO",
        LogLevel::Debug => "DEBUG",
        LogLevel::Trace => "TRACE",
    })
}

/// The level a line's level word names.
pub fn level_of_word(word: &str) -> Option<LogLevel> {
    LogLevel::ALL
        .into_iter()
        .find(|&l| level_word(l) == Some(word))
}

/// The level of a `log` record.
pub const fn from_log_level(level: log::Level) -> LogLevel {
    match level {
        log::Level::Error => LogLevel::Error,
        log::Level::Warn => LogLevel::Warn,
        log::Level::Info => LogLevel::Info,
        log::Level::Debug => LogLevel::Debug,
        log::Level::Trace => LogLevel::Trace,
    }
}

/// The `[name LEVEL]` that starts a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogPrefix<'a> {
    pub name: &'a str,
    pub level: LogLevel,
}

impl<'a> LogPrefix<'a> {
    /// The prefix `line` starts with, if it is a log line: `[`, a server name (see
    /// [`axolotl_image::check_name`]), one space, a level word, `]`.
    pub fn parse(line: &'a [u8]) -> Option<LogPrefix<'a>> {
        let rest = line.strip_prefix(b"[")?;
        let close = rest.iter().take(MAX_PREFIX_LEN).position(|&b| b == b']')?;
        let inner = core::str::from_utf8(&rest[..close]).ok()?;
        let (name, word) = inner.split_once(' ')?;
        axolotl_image::check_name(name).ok()?;
        Some(LogPrefix {
            name,
            level: level_of_word(word)?,
        })
    }
}

impl fmt::Display for LogPrefix<'_> {
    /// `[name LEVEL]`, as loggers write it (no trailing space).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} {}]",
            self.name,
            level_word(self.level).unwrap_or("OFF")
        )
    }
}

/// Formats a whole log line, `[name LEVEL] message\n`: the format of `axolotl_rt::logger`.
pub fn format_line(
    out: &mut impl fmt::Write,
    name: &str,
    level: LogLevel,
    message: fmt::Arguments,
) -> fmt::Result {
    writeln!(out, "{} {message}", LogPrefix { name, level })
}

/// Per-server levels: a server's log lines above its level are dropped. A server not in the table
/// is not filtered here (its own logger's level still applies).
#[derive(Clone, Debug, Default)]
pub struct LevelTable {
    levels: heapless::Vec<(Name, LogLevel), MAX_LEVELS>,
}

impl LevelTable {
    pub const fn new() -> LevelTable {
        LevelTable {
            levels: heapless::Vec::new(),
        }
    }

    /// The level set for `name` ([`LogLevel::Trace`], everything, if none is).
    pub fn level(&self, name: &str) -> LogLevel {
        self.levels
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map_or(LogLevel::Trace, |&(_, l)| l)
    }

    /// Whether a line of `name` at `level` goes out.
    pub fn allows(&self, name: &str, level: LogLevel) -> bool {
        level != LogLevel::Off && level <= self.level(name)
    }

    /// Sets the level of `name`. [`LogLevel::Trace`] removes the entry (it is the default).
    /// [`ConsoleError::NoSuchServer`] if `name` cannot be a server's name, or if the table is
    /// full (it holds as many names as an image has servers).
    pub fn set(&mut self, name: &str, level: LogLevel) -> Result<(), ConsoleError> {
        axolotl_image::check_name(name).map_err(|_| ConsoleError::NoSuchServer)?;
        let found = self.levels.iter().position(|(n, _)| n.as_str() == name);
        match (found, level) {
            (Some(i), LogLevel::Trace) => {
                self.levels.swap_remove(i);
            }
            (Some(i), level) => self.levels[i].1 = level,
            (None, LogLevel::Trace) => {}
            (None, level) => {
                let name = Name::try_from(name).map_err(|_| ConsoleError::NoSuchServer)?;
                self.levels
                    .push((name, level))
                    .map_err(|_| ConsoleError::NoSuchServer)?;
            }
        }
        Ok(())
    }

    /// Names with a level, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, LogLevel)> {
        self.levels.iter().map(|(n, l)| (n.as_str(), *l))
    }
}

/// Where a writer is within its current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineState {
    /// At the start of a line: the next bytes decide whether it is a log line to drop.
    Start,
    /// Inside a line that goes out.
    Shown,
    /// Inside a log line that is dropped.
    Dropped,
}

/// The [`LineState`] of each writer (by badge) that is in the middle of a line. Writers at the
/// start of a line take no entry; when every entry is taken, a new writer's partial line is
/// forgotten, and its continuation is treated as the start of a line.
#[derive(Clone, Debug, Default)]
pub struct LineStates {
    mid_line: heapless::Vec<(u64, LineState), MAX_LEVELS>,
}

impl LineStates {
    pub const fn new() -> LineStates {
        LineStates {
            mid_line: heapless::Vec::new(),
        }
    }

    pub fn get(&self, writer: u64) -> LineState {
        self.mid_line
            .iter()
            .find(|(w, _)| *w == writer)
            .map_or(LineState::Start, |&(_, s)| s)
    }

    pub fn set(&mut self, writer: u64, state: LineState) {
        let found = self.mid_line.iter().position(|(w, _)| *w == writer);
        match (found, state) {
            (Some(i), LineState::Start) => {
                self.mid_line.swap_remove(i);
            }
            (Some(i), state) => self.mid_line[i].1 = state,
            (None, LineState::Start) => {}
            (None, state) => {
                let _ = self.mid_line.push((writer, state));
            }
        }
    }
}

/// Splits one write into the pieces that go out: calls `emit` with each run of bytes to output,
/// in order, skipping log lines `levels` drops. `state` is the writer's line state before the
/// write and is updated. Returns the number of lines dropped (counting a line once, in the write
/// it starts in).
pub fn filter_write(
    levels: &LevelTable,
    state: &mut LineState,
    bytes: &[u8],
    mut emit: impl FnMut(&[u8]),
) -> u64 {
    let mut dropped = 0;
    let mut rest = bytes;
    while !rest.is_empty() {
        if *state == LineState::Start {
            *state = match LogPrefix::parse(rest) {
                Some(p) if !levels.allows(p.name, p.level) => {
                    dropped += 1;
                    LineState::Dropped
                }
                _ => LineState::Shown,
            };
        }
        let (piece, ends_line) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..=i], true),
            None => (rest, false),
        };
        if *state == LineState::Shown {
            emit(piece);
        }
        if ends_line {
            *state = LineState::Start;
        }
        rest = &rest[piece.len()..];
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn prefixes_parse_as_the_runtime_logger_writes_them() {
        for level in [
            log::Level::Error,
            log::Level::Warn,
            log::Level::Info,
            log::Level::Debug,
            log::Level::Trace,
        ] {
            // `axolotl_rt::logger`'s format.
            let line = std::format!("[kv-2 {}] put 3 bytes\n", level.as_str());
            let p = LogPrefix::parse(line.as_bytes()).unwrap();
            assert_eq!((p.name, p.level), ("kv-2", from_log_level(level)));
            let mut again = String::new();
            format_line(
                &mut again,
                "kv-2",
                from_log_level(level),
                format_args!("put {} bytes", 3),
            )
            .unwrap();
            assert_eq!(again, line);
        }
    }

    #[test]
    fn other_text_is_not_a_log_line() {
        for text in [
            &b"hello"[..],
            b"",
            b"[",
            b"[kv INFO",
            b"[kv LOUD] x",
            b"[KV INFO] x",
            b"[kv  INFO] x",
            b"[ INFO] x",
            b"[kv info] x",
            b"[kernel INFO]",
            b" [kv INFO] x",
            b"[a-name-longer-than-24-bytes INFO] x",
            b"[\xff INFO] x",
            b"PASS console-echo",
        ] {
            // `[kernel INFO]` parses (it is a valid name), the others do not.
            let parsed = LogPrefix::parse(text);
            assert_eq!(parsed.is_some(), text == b"[kernel INFO]", "{text:?}");
        }
    }

    #[test]
    fn level_table() {
        let mut t = LevelTable::new();
        assert!(t.allows("kv", LogLevel::Trace));
        assert!(!t.allows("kv", LogLevel::Off));
        t.set("kv", LogLevel::Info).unwrap();
        assert!(t.allows("kv", LogLevel::Info));
        assert!(t.allows("kv", LogLevel::Error));
        assert!(!t.allows("kv", LogLevel::Debug));
        assert!(
            t.allows("name", LogLevel::Debug),
            "other servers are unaffected"
        );
        t.set("kv", LogLevel::Off).unwrap();
        assert!(!t.allows("kv", LogLevel::Error));
        t.set("kv", LogLevel::Trace).unwrap();
        assert_eq!(
            t.iter().count(),
            0,
            "trace is the default and takes no entry"
        );
        assert_eq!(
            t.set("Bad Name", LogLevel::Info),
            Err(ConsoleError::NoSuchServer)
        );
        assert_eq!(t.set("", LogLevel::Info), Err(ConsoleError::NoSuchServer));
        for i in 0..MAX_LEVELS {
            t.set(&std::format!("s{i}"), LogLevel::Warn).unwrap();
        }
        assert_eq!(
            t.set("one-more", LogLevel::Warn),
            Err(ConsoleError::NoSuchServer)
        );
        t.set("s3", LogLevel::Error).unwrap();
        assert_eq!(
            t.level("s3"),
            LogLevel::Error,
            "a known name can still change"
        );
    }

    fn run(levels: &LevelTable, state: &mut LineState, bytes: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let dropped = filter_write(levels, state, bytes, |b| out.extend_from_slice(b));
        (out, dropped)
    }

    #[test]
    fn filtering_drops_whole_lines_only() {
        let mut levels = LevelTable::new();
        levels.set("kv", LogLevel::Info).unwrap();
        let mut s = LineState::Start;
        let text = b"[kv INFO] a\n[kv DEBUG] b\n$ [kv DEBUG] not a prefix\n[name DEBUG] c\n";
        let (out, dropped) = run(&levels, &mut s, text);
        assert_eq!(
            out,
            b"[kv INFO] a\n$ [kv DEBUG] not a prefix\n[name DEBUG] c\n".to_vec()
        );
        assert_eq!((dropped, s), (1, LineState::Start));
    }

    #[test]
    fn a_line_split_across_writes_keeps_its_verdict() {
        let mut levels = LevelTable::new();
        levels.set("kv", LogLevel::Warn).unwrap();
        let mut s = LineState::Start;
        assert_eq!(run(&levels, &mut s, b"[kv INFO] long"), (Vec::new(), 1));
        assert_eq!(s, LineState::Dropped);
        assert_eq!(
            run(&levels, &mut s, b" line\n[kv WARN] w"),
            (b"[kv WARN] w".to_vec(), 0)
        );
        assert_eq!(s, LineState::Shown);
        assert_eq!(
            run(&levels, &mut s, b"[kv INFO] still w\n"),
            (b"[kv INFO] still w\n".to_vec(), 0)
        );
        assert_eq!(s, LineState::Start);
    }

    #[test]
    fn line_states_take_entries_only_mid_line() {
        let mut l = LineStates::new();
        assert_eq!(l.get(7), LineState::Start);
        l.set(7, LineState::Dropped);
        l.set(8, LineState::Shown);
        assert_eq!((l.get(7), l.get(8)), (LineState::Dropped, LineState::Shown));
        l.set(7, LineState::Start);
        assert_eq!(l.get(7), LineState::Start);
        for w in 100..100 + MAX_LEVELS as u64 {
            l.set(w, LineState::Shown);
        }
        assert_eq!(l.get(8), LineState::Shown, "a full table keeps what it has");
        assert_eq!(
            l.get(100 + MAX_LEVELS as u64 - 1),
            LineState::Start,
            "and forgets the new one"
        );
    }
}
