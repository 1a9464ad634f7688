//! Parsing a command line into a [`Command`], and the message for each way a line can be wrong.
//!
//! Words are separated by ASCII whitespace. The value of `kv put` is the rest of the line after
//! the key (inner spaces kept, the ends trimmed), so `kv put motd hello world` stores
//! `hello world`. Lengths are checked here against the interfaces' bounds, so that a command
//! that parses is one the servers can be asked.

use core::fmt;
use ipc_schema::inject::v1::FaultKind;
use ipc_schema::interfaces::common::{LogLevel, NAME_LEN};

/// The longest program name `upgrade` takes (`lifecycle::v1::Program`).
pub const PROGRAM_LEN: usize = 32;
use ipc_schema::kv::v2::{KEY_LEN, VALUE_LEN};

/// One command the shell understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Help,
    Ps,
    KvGet { key: &'a str },
    KvPut { key: &'a str, value: &'a str },
    KvDel { key: &'a str },
    KvList,
    Log { server: &'a str, level: LogLevel },
    Inject { server: &'a str, kind: FaultKind },
    Snapshot { server: &'a str },
    Upgrade { server: &'a str, program: &'a str },
    Patch { server: &'a str, program: &'a str },
    Restore { server: &'a str },
    Poweroff,
}

/// The usage line of each command, as `help` and the error messages show it.
pub mod usage {
    pub const HELP: &str = "help";
    pub const PS: &str = "ps";
    pub const KV_GET: &str = "kv get <key>";
    pub const KV_PUT: &str = "kv put <key> <value>";
    pub const KV_DEL: &str = "kv del <key>";
    pub const KV_LIST: &str = "kv list";
    pub const KV: &str = "kv get|put|del|list ...";
    pub const LOG: &str = "log <server> <level>";
    pub const INJECT: &str = "inject <server> <kind>";
    pub const SNAPSHOT: &str = "snapshot <server>";
    pub const UPGRADE: &str = "upgrade <server> <program>";
    pub const PATCH: &str = "patch <server> <program>";
    pub const RESTORE: &str = "restore <server>";
    pub const POWEROFF: &str = "poweroff";
}

/// Every command with its usage and what it does, in the order `help` lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    (usage::HELP, "this list"),
    (usage::PS, "the servers, their versions and states"),
    (usage::KV_GET, "the value stored under <key>"),
    (
        usage::KV_PUT,
        "store <value> (the rest of the line) under <key>",
    ),
    (usage::KV_DEL, "remove <key>"),
    (usage::KV_LIST, "every key"),
    (
        usage::LOG,
        "set a server's log level: off, error, warn, info, debug, trace",
    ),
    (
        usage::INJECT,
        "make a server's next request fault: null, wild, panic, loop, undef, stack",
    ),
    (
        usage::SNAPSHOT,
        "take a concurrent snapshot of a server (it serves while it is copied)",
    ),
    (usage::RESTORE, "put a server back at its last snapshot"),
    (
        usage::UPGRADE,
        "replace a server live by a new version (e.g. upgrade kv kv2), state carried over",
    ),
    (
        usage::PATCH,
        "patch a multi-threaded server's code wait-free (e.g. patch resp resp-v2), each thread \
         at its receive point",
    ),
    (usage::POWEROFF, "stop the machine"),
];

/// Why a line is not a command. `Display` is the message the shell prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// The first word names no command.
    UnknownCommand(&'a str),
    /// Arguments missing or extra: the command's usage line.
    Usage(&'static str),
    /// `kv` followed by something other than get, put, del or list.
    UnknownKvCommand(&'a str),
    /// `log` with a level that is not one of [`LogLevel::ALL`].
    UnknownLevel(&'a str),
    /// `inject` with a kind that is not one of [`FaultKind::ALL`].
    UnknownFaultKind(&'a str),
    /// An argument longer than the interface allows.
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownCommand(word) => {
                write!(f, "unknown command '{word}'; try 'help'")
            }
            ParseError::Usage(usage) => write!(f, "usage: {usage}"),
            ParseError::UnknownKvCommand(word) => {
                write!(f, "unknown kv command '{word}'; use get, put, del or list")
            }
            ParseError::UnknownLevel(word) => {
                write!(f, "unknown log level '{word}'; use ")?;
                one_of(f, LogLevel::ALL.iter().map(|l| l.name()))
            }
            ParseError::UnknownFaultKind(word) => {
                write!(f, "unknown fault kind '{word}'; use ")?;
                one_of(f, FaultKind::ALL.iter().map(|k| k.name()))
            }
            ParseError::TooLong { what, len, max } => {
                write!(f, "{what} too long: {len} bytes, at most {max}")
            }
        }
    }
}

/// `a, b or c`.
fn one_of<'n>(
    f: &mut fmt::Formatter<'_>,
    names: impl ExactSizeIterator<Item = &'n str>,
) -> fmt::Result {
    let last = names.len().saturating_sub(1);
    for (i, name) in names.enumerate() {
        let sep = match i {
            0 => "",
            i if i == last => " or ",
            _ => ", ",
        };
        write!(f, "{sep}{name}")?;
    }
    Ok(())
}

/// Splits off the first word: `(word, rest)`, `rest` starting right after the word. `None` if
/// `s` holds only whitespace.
fn first_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if s.is_empty() {
        return None;
    }
    let end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// Whether `s` holds nothing but whitespace.
fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace())
}

fn bounded<'a>(what: &'static str, s: &'a str, max: usize) -> Result<&'a str, ParseError<'a>> {
    if s.len() > max {
        Err(ParseError::TooLong {
            what,
            len: s.len(),
            max,
        })
    } else {
        Ok(s)
    }
}

/// Exactly one more word (a key), then nothing.
fn one_key<'a>(rest: &'a str, usage: &'static str) -> Result<&'a str, ParseError<'a>> {
    match first_word(rest) {
        Some((key, rest)) if is_blank(rest) => bounded("key", key, KEY_LEN),
        _ => Err(ParseError::Usage(usage)),
    }
}

/// A command without arguments.
fn alone<'a>(
    rest: &str,
    command: Command<'a>,
    usage: &'static str,
) -> Result<Command<'a>, ParseError<'a>> {
    if is_blank(rest) {
        Ok(command)
    } else {
        Err(ParseError::Usage(usage))
    }
}

/// Parses one line. `Ok(None)` for a blank line (the shell just prompts again).
pub fn parse(line: &str) -> Result<Option<Command<'_>>, ParseError<'_>> {
    let Some((word, rest)) = first_word(line) else {
        return Ok(None);
    };
    let command = match word {
        "help" => alone(rest, Command::Help, usage::HELP)?,
        "ps" => alone(rest, Command::Ps, usage::PS)?,
        "poweroff" => alone(rest, Command::Poweroff, usage::POWEROFF)?,
        "kv" => parse_kv(rest)?,
        "log" => parse_log(rest)?,
        "inject" => parse_inject(rest)?,
        "upgrade" => {
            let (server, program) = server_and_program(rest, usage::UPGRADE)?;
            Command::Upgrade { server, program }
        }
        "patch" => {
            let (server, program) = server_and_program(rest, usage::PATCH)?;
            Command::Patch { server, program }
        }
        "snapshot" => Command::Snapshot {
            server: one_name(rest, usage::SNAPSHOT)?,
        },
        "restore" => Command::Restore {
            server: one_name(rest, usage::RESTORE)?,
        },
        other => return Err(ParseError::UnknownCommand(other)),
    };
    Ok(Some(command))
}

/// `SERVER PROGRAM` (of `upgrade` and `patch`), each within its interface's bound.
fn server_and_program<'a>(
    rest: &'a str,
    usage: &'static str,
) -> Result<(&'a str, &'a str), ParseError<'a>> {
    let (server, rest) = first_word(rest).ok_or(ParseError::Usage(usage))?;
    let (program, rest) = first_word(rest).ok_or(ParseError::Usage(usage))?;
    if !is_blank(rest) {
        return Err(ParseError::Usage(usage));
    }
    Ok((
        bounded("server name", server, NAME_LEN)?,
        bounded("program name", program, PROGRAM_LEN)?,
    ))
}

fn parse_kv(rest: &str) -> Result<Command<'_>, ParseError<'_>> {
    let Some((sub, rest)) = first_word(rest) else {
        return Err(ParseError::Usage(usage::KV));
    };
    match sub {
        "get" => one_key(rest, usage::KV_GET).map(|key| Command::KvGet { key }),
        "del" => one_key(rest, usage::KV_DEL).map(|key| Command::KvDel { key }),
        "list" => alone(rest, Command::KvList, usage::KV_LIST),
        "put" => {
            let Some((key, value)) = first_word(rest) else {
                return Err(ParseError::Usage(usage::KV_PUT));
            };
            let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
            if value.is_empty() {
                return Err(ParseError::Usage(usage::KV_PUT));
            }
            Ok(Command::KvPut {
                key: bounded("key", key, KEY_LEN)?,
                value: bounded("value", value, VALUE_LEN)?,
            })
        }
        other => Err(ParseError::UnknownKvCommand(other)),
    }
}

fn parse_log(rest: &str) -> Result<Command<'_>, ParseError<'_>> {
    let (server, rest) = first_word(rest).ok_or(ParseError::Usage(usage::LOG))?;
    let (level, rest) = first_word(rest).ok_or(ParseError::Usage(usage::LOG))?;
    if !is_blank(rest) {
        return Err(ParseError::Usage(usage::LOG));
    }
    let server = bounded("server name", server, NAME_LEN)?;
    let level = LogLevel::from_name(level).ok_or(ParseError::UnknownLevel(level))?;
    Ok(Command::Log { server, level })
}

/// Exactly one more word (a server name), then nothing.
fn one_name<'a>(rest: &'a str, usage: &'static str) -> Result<&'a str, ParseError<'a>> {
    match first_word(rest) {
        Some((name, rest)) if is_blank(rest) => bounded("server name", name, NAME_LEN),
        _ => Err(ParseError::Usage(usage)),
    }
}

fn parse_inject(rest: &str) -> Result<Command<'_>, ParseError<'_>> {
    let (server, rest) = first_word(rest).ok_or(ParseError::Usage(usage::INJECT))?;
    let (kind, rest) = first_word(rest).ok_or(ParseError::Usage(usage::INJECT))?;
    if !is_blank(rest) {
        return Err(ParseError::Usage(usage::INJECT));
    }
    let server = bounded("server name", server, NAME_LEN)?;
    let kind = FaultKind::from_name(kind).ok_or(ParseError::UnknownFaultKind(kind))?;
    Ok(Command::Inject { server, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command<'_> {
        parse(line).unwrap().unwrap()
    }

    fn message(line: &str) -> String {
        parse(line).unwrap_err().to_string()
    }

    #[test]
    fn commands_without_arguments() {
        assert_eq!(ok("help"), Command::Help);
        assert_eq!(ok("  ps  "), Command::Ps);
        assert_eq!(ok("poweroff"), Command::Poweroff);
        assert_eq!(ok("kv list"), Command::KvList);
        assert_eq!(ok("\tkv \t list\t"), Command::KvList);
    }

    #[test]
    fn inject_commands() {
        assert_eq!(
            ok("inject kv null"),
            Command::Inject {
                server: "kv",
                kind: FaultKind::Null
            }
        );
        for kind in FaultKind::ALL {
            let line = std::format!("inject timer {}", kind.name());
            assert_eq!(
                ok(&line),
                Command::Inject {
                    server: "timer",
                    kind
                }
            );
        }
        assert_eq!(message("inject kv"), "usage: inject <server> <kind>");
        assert_eq!(
            message("inject kv null now"),
            "usage: inject <server> <kind>"
        );
        assert_eq!(
            message("inject kv nil"),
            "unknown fault kind 'nil'; use null, wild, panic, loop, undef or stack"
        );
    }

    #[test]
    fn upgrade_commands() {
        assert_eq!(
            ok("upgrade kv kv2"),
            Command::Upgrade {
                server: "kv",
                program: "kv2"
            }
        );
        assert_eq!(message("upgrade kv"), "usage: upgrade <server> <program>");
        assert_eq!(
            ok("patch resp resp-v2"),
            Command::Patch {
                server: "resp",
                program: "resp-v2"
            }
        );
        assert_eq!(message("patch resp"), "usage: patch <server> <program>");
        assert_eq!(
            message("upgrade kv kv2 now"),
            "usage: upgrade <server> <program>"
        );
    }

    #[test]
    fn snapshot_commands() {
        assert_eq!(ok("snapshot kv"), Command::Snapshot { server: "kv" });
        assert_eq!(ok(" restore  kv "), Command::Restore { server: "kv" });
        assert_eq!(message("snapshot"), "usage: snapshot <server>");
        assert_eq!(message("restore kv now"), "usage: restore <server>");
    }

    #[test]
    fn blank_lines_are_no_command() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   \t "), Ok(None));
    }

    #[test]
    fn kv_commands() {
        assert_eq!(ok("kv get a"), Command::KvGet { key: "a" });
        assert_eq!(ok("kv del some-key"), Command::KvDel { key: "some-key" });
        assert_eq!(
            ok("kv put a 1"),
            Command::KvPut {
                key: "a",
                value: "1"
            }
        );
        assert_eq!(
            ok("kv put motd   hello,  world  "),
            Command::KvPut {
                key: "motd",
                value: "hello,  world"
            }
        );
        assert_eq!(
            ok("kv put clé valeur été"),
            Command::KvPut {
                key: "clé",
                value: "valeur été"
            }
        );
    }

    #[test]
    fn log_command() {
        assert_eq!(
            ok("log kv debug"),
            Command::Log {
                server: "kv",
                level: LogLevel::Debug
            }
        );
        for level in LogLevel::ALL {
            let line = format!("log console {}", level.name());
            assert_eq!(
                parse(&line),
                Ok(Some(Command::Log {
                    server: "console",
                    level
                }))
            );
        }
    }

    #[test]
    fn unknown_commands() {
        assert_eq!(message("foo"), "unknown command 'foo'; try 'help'");
        assert_eq!(message("  x y z"), "unknown command 'x'; try 'help'");
        // Commands are case-sensitive, like the rest of the system's names.
        assert_eq!(message("HELP"), "unknown command 'HELP'; try 'help'");
        assert_eq!(
            message("kv frob a"),
            "unknown kv command 'frob'; use get, put, del or list"
        );
    }

    #[test]
    fn usage_messages() {
        assert_eq!(message("kv put"), "usage: kv put <key> <value>");
        assert_eq!(message("kv put a"), "usage: kv put <key> <value>");
        assert_eq!(message("kv put a   "), "usage: kv put <key> <value>");
        assert_eq!(message("kv get"), "usage: kv get <key>");
        assert_eq!(message("kv get a b"), "usage: kv get <key>");
        assert_eq!(message("kv del"), "usage: kv del <key>");
        assert_eq!(message("kv del a b"), "usage: kv del <key>");
        assert_eq!(message("kv list a"), "usage: kv list");
        assert_eq!(message("kv"), "usage: kv get|put|del|list ...");
        assert_eq!(message("log"), "usage: log <server> <level>");
        assert_eq!(message("log kv"), "usage: log <server> <level>");
        assert_eq!(message("log kv info now"), "usage: log <server> <level>");
        assert_eq!(message("help me"), "usage: help");
        assert_eq!(message("ps -a"), "usage: ps");
        assert_eq!(message("poweroff now"), "usage: poweroff");
    }

    #[test]
    fn bad_levels() {
        assert_eq!(
            message("log kv loud"),
            "unknown log level 'loud'; use off, error, warn, info, debug or trace"
        );
        assert_eq!(
            message("log kv INFO"),
            "unknown log level 'INFO'; use off, error, warn, info, debug or trace"
        );
    }

    #[test]
    fn lengths_are_bounded() {
        let key = "k".repeat(KEY_LEN);
        assert_eq!(ok(&format!("kv get {key}")), Command::KvGet { key: &key });
        assert_eq!(
            message(&format!("kv get {key}x")),
            "key too long: 33 bytes, at most 32"
        );
        assert_eq!(
            message(&format!("kv put {key}x 1")),
            "key too long: 33 bytes, at most 32"
        );
        let value = "v".repeat(VALUE_LEN);
        assert_eq!(
            ok(&format!("kv put a {value}")),
            Command::KvPut {
                key: "a",
                value: &value
            }
        );
        assert_eq!(
            message(&format!("kv put a {value}v")),
            "value too long: 257 bytes, at most 256"
        );
        assert_eq!(
            message(&format!("log {} info", "s".repeat(NAME_LEN + 1))),
            "server name too long: 25 bytes, at most 24"
        );
    }

    #[test]
    fn every_command_has_a_help_line() {
        for (usage, what) in COMMANDS {
            assert!(!usage.is_empty() && !what.is_empty());
        }
        assert_eq!(COMMANDS.len(), 13);
    }
}
