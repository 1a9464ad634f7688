//! How the shell shows things: the `ps` table, stored values, the `help` list.

use crate::command::COMMANDS;
use crate::output::Terminal;
use ipc_schema::supervisor::v1::{ServerState, ServerStatus};

/// The lowercase name `ps` shows for a state.
pub const fn state_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Starting => "starting",
        ServerState::Running => "running",
        ServerState::Recovering => "recovering",
        ServerState::Restarting => "restarting",
        ServerState::Upgrading => "upgrading",
        ServerState::Suspended => "suspended",
        ServerState::Stopped => "stopped",
    }
}

/// The `ps` header line.
pub fn ps_header(out: &mut (impl Terminal + ?Sized)) {
    writeln!(
        out,
        "{:<16} {:>7}  {:<10} {:>6} {:>6} {:>8}",
        "NAME", "VERSION", "STATE", "FAULTS", "ABORTS", "RESTARTS"
    );
}

/// One `ps` line.
pub fn ps_line(out: &mut (impl Terminal + ?Sized), s: &ServerStatus) {
    writeln!(
        out,
        "{:<16} {:>7}  {:<10} {:>6} {:>6} {:>8}",
        s.name.as_str(),
        s.version,
        state_name(s.state),
        s.faults,
        s.aborts,
        s.restarts
    );
}

/// A stored value as text: UTF-8 as it is, except that control characters and bytes that are
/// not UTF-8 are shown as `\xNN` (so a value cannot drive the terminal).
pub fn value(out: &mut (impl Terminal + ?Sized), bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                write!(out, "\\x{:02x}", c as u32);
            } else {
                let mut utf8 = [0u8; 4];
                out.write_str(c.encode_utf8(&mut utf8));
            }
        }
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}");
        }
    }
}

/// The `help` text.
pub fn help(out: &mut (impl Terminal + ?Sized)) {
    writeln!(out, "commands:");
    for (usage, what) in COMMANDS {
        writeln!(out, "  {usage:<22} {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schema::interfaces::common::Name;

    fn shown(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ps_table() {
        let s = ServerStatus {
            name: Name::try_from("kv").unwrap(),
            version: 2,
            state: ServerState::Recovering,
            faults: 3,
            aborts: 1,
            restarts: 0,
            generation: 1,
        };
        let text = shown(|o| {
            ps_header(o);
            ps_line(o, &s);
        });
        assert_eq!(
            text,
            "NAME             VERSION  STATE      FAULTS ABORTS RESTARTS\n\
             kv                     2  recovering      3      1        0\n"
        );
    }

    #[test]
    fn every_state_has_a_name() {
        for (state, name) in [
            (ServerState::Starting, "starting"),
            (ServerState::Running, "running"),
            (ServerState::Recovering, "recovering"),
            (ServerState::Restarting, "restarting"),
            (ServerState::Upgrading, "upgrading"),
            (ServerState::Suspended, "suspended"),
            (ServerState::Stopped, "stopped"),
        ] {
            assert_eq!(state_name(state), name);
        }
    }

    #[test]
    fn values_are_shown_safely() {
        assert_eq!(shown(|o| value(o, b"hello world")), "hello world");
        assert_eq!(shown(|o| value(o, "été".as_bytes())), "été");
        assert_eq!(shown(|o| value(o, b"a\x1b[2Jb\n")), "a\\x1b[2Jb\\x0a");
        assert_eq!(shown(|o| value(o, b"\xffok\xc3")), "\\xffok\\xc3");
        assert_eq!(shown(|o| value(o, b"")), "");
    }

    #[test]
    fn help_lists_every_command() {
        let text = shown(help);
        assert!(text.starts_with("commands:\n  help "), "{text}");
        for (usage, _) in COMMANDS {
            assert!(text.contains(usage), "{usage}");
        }
        assert!(
            text.contains("  kv put <key> <value>   store <value>"),
            "{text}"
        );
        assert_eq!(text.lines().count(), COMMANDS.len() + 1);
    }
}
