//! The shell proper: input bytes in, echo and command output out, commands run over the typed
//! clients of the servers the image lets it call.
//!
//! [`Shell::input`] takes whatever the console read returned, edits the line
//! ([`crate::line`]), and at each Enter parses ([`crate::command`]) and runs the command, then
//! prints the prompt again. Everything the shell knows of the rest of the system is in
//! [`Services`]: one optional client per interface, so a missing grant is a clear message, not a
//! crash, and host tests run the same code over [`ipc_schema::Local`] servers.

use crate::command::{self, Command};
use crate::line::{Edit, LineEditor};
use crate::output::Terminal;
use crate::show;
use ipc_schema::inject::v1::FaultKind;
use ipc_schema::interfaces::common::{LogLevel, Name};
use ipc_schema::lifecycle::v1 as lifecycle;
use ipc_schema::patch::v1 as patch;
use ipc_schema::{CallError, IpcError, Transport, console, inject, kv, snapshot, supervisor};

/// What the shell prints when it waits for a command.
pub const PROMPT: &str = "axolotl> ";
/// The first line it prints.
pub const BANNER: &str = "Axolotl shell: type 'help' for the commands";
/// The most pages one `ps` or `kv list` walks (a server whose cursor never ends stops there).
const MAX_PAGES: usize = 64;
/// The most `step`s one `patch` makes before giving up waiting (a thread that never comes back
/// to its receive point): the patch stays in progress, and `patch` again resumes it.
const MAX_PATCH_STEPS: u32 = 20_000;

/// The servers the shell can call; `None` where the image grants no capability.
pub struct Services<T> {
    pub console: Option<console::v1::Client<T>>,
    pub kv: Option<kv::v2::Client<T>>,
    pub supervisor: Option<supervisor::v1::Client<T>>,
    /// The supervisor's `inject` interface (same endpoint as `supervisor`).
    pub inject: Option<inject::v1::Client<T>>,
    /// The supervisor's `snapshot` interface (same endpoint as `supervisor`).
    pub snapshot: Option<snapshot::v1::Client<T>>,
    /// The upgrader (`lifecycle::v1::upgrade`), if the image has one the shell may call.
    pub upgrader: Option<lifecycle::Client<T>>,
    /// The supervisor's wait-free patcher (`patch::v1`, same endpoint as `supervisor`).
    pub patch: Option<patch::Client<T>>,
}

/// What the caller of [`Shell::input`] must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Wait for more input.
    Continue,
    /// `poweroff` was typed (and is granted): flush the output and power off with status 0.
    /// Input after it was dropped.
    Poweroff,
}

/// The shell's state: the line being typed and the services.
pub struct Shell<T> {
    services: Services<T>,
    editor: LineEditor,
    can_poweroff: bool,
}

impl<T: Transport> Shell<T> {
    /// `can_poweroff`: the image granted the system-control capability.
    pub fn new(services: Services<T>, can_poweroff: bool) -> Self {
        Shell {
            services,
            editor: LineEditor::new(),
            can_poweroff,
        }
    }

    /// The banner and the first prompt.
    pub fn start(&mut self, out: &mut (impl Terminal + ?Sized)) {
        writeln!(out, "{BANNER}");
        out.write_str(PROMPT);
    }

    /// Takes input bytes: echoes them, runs each finished line, prompts again.
    pub fn input(&mut self, bytes: &[u8], out: &mut (impl Terminal + ?Sized)) -> Outcome {
        self.input_paced(bytes, out, &mut || {})
    }

    /// [`Shell::input`], with `pause` called between the steps of a command that paces the
    /// supervisor (`patch`): the bare-metal shell sleeps there, so that the servers below it
    /// run (the supervisor runs above every server, and the shell above the patched one).
    pub fn input_paced(
        &mut self,
        bytes: &[u8],
        out: &mut (impl Terminal + ?Sized),
        pause: &mut dyn FnMut(),
    ) -> Outcome {
        for &byte in bytes {
            match self.editor.feed(byte, out) {
                Edit::Pending => continue,
                Edit::Done => {
                    out.flush();
                    let outcome = self.run_line_in_editor(out, pause);
                    self.editor.clear();
                    if outcome == Outcome::Poweroff {
                        return outcome;
                    }
                }
                Edit::Invalid => writeln!(out, "input is not UTF-8; line ignored"),
                Edit::Cancelled => {}
            }
            out.write_str(PROMPT);
        }
        Outcome::Continue
    }

    fn run_line_in_editor(
        &mut self,
        out: &mut (impl Terminal + ?Sized),
        pause: &mut dyn FnMut(),
    ) -> Outcome {
        // The line borrows the editor; the services are a separate field.
        let line = self.editor.line();
        run(&self.services, self.can_poweroff, line, out, pause)
    }

    /// Runs one command line (without echo or prompt).
    pub fn run_line(&mut self, line: &str, out: &mut (impl Terminal + ?Sized)) -> Outcome {
        run(&self.services, self.can_poweroff, line, out, &mut || {})
    }
}

fn run<T: Transport>(
    services: &Services<T>,
    can_poweroff: bool,
    line: &str,
    out: &mut (impl Terminal + ?Sized),
    pause: &mut dyn FnMut(),
) -> Outcome {
    let command = match command::parse(line) {
        Ok(Some(command)) => command,
        Ok(None) => return Outcome::Continue,
        Err(e) => {
            writeln!(out, "{e}");
            return Outcome::Continue;
        }
    };
    match command {
        Command::Help => show::help(out),
        Command::Ps => ps(services, out),
        Command::KvGet { key } => kv_get(services, key, out),
        Command::KvPut { key, value } => kv_put(services, key, value, out),
        Command::KvDel { key } => kv_del(services, key, out),
        Command::KvList => kv_list(services, out),
        Command::Log { server, level } => log(services, server, level, out),
        Command::Inject { server, kind } => inject(services, server, kind, out),
        Command::Snapshot { server } => take_snapshot(services, server, out),
        Command::Upgrade { server, program } => upgrade(services, server, program, out),
        Command::Patch { server, program } => patch_server(services, server, program, out, pause),
        Command::Restore { server } => restore(services, server, out),
        Command::Poweroff => {
            if can_poweroff {
                writeln!(out, "powering off");
                return Outcome::Poweroff;
            }
            writeln!(
                out,
                "poweroff: not permitted (the image does not grant this shell poweroff)"
            );
        }
    }
    Outcome::Continue
}

/// `Name` and `kv::v2::Key` from text the parser has already bounded.
fn name(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn key(s: &str) -> kv::v2::Key {
    kv::v2::Key::try_from(s).unwrap_or_default()
}

fn ps<T: Transport>(services: &Services<T>, out: &mut (impl Terminal + ?Sized)) {
    let Some(supervisor) = &services.supervisor else {
        writeln!(
            out,
            "ps: the image does not let this shell call the supervisor"
        );
        return;
    };
    let mut cursor = 0;
    let mut header = false;
    for _ in 0..MAX_PAGES {
        let page = match supervisor.list(cursor) {
            Ok(page) => page,
            Err(e) => {
                writeln!(out, "ps: {e}");
                return;
            }
        };
        if !header {
            show::ps_header(out);
            header = true;
        }
        for s in &page.servers {
            show::ps_line(out, s);
        }
        match page.next {
            Some(next) if next > cursor => cursor = next,
            _ => return,
        }
    }
}

/// The message of a failed kv op on `key`.
fn kv_error(out: &mut (impl Terminal + ?Sized), key: &str, e: CallError<kv::v2::KvError>) {
    match e {
        CallError::Op(kv::v2::KvError::NotFound) => writeln!(out, "kv: no key '{key}'"),
        e => writeln!(out, "kv: {e}"),
    }
}

fn kv_client<'s, T>(
    services: &'s Services<T>,
    out: &mut (impl Terminal + ?Sized),
) -> Option<&'s kv::v2::Client<T>> {
    if services.kv.is_none() {
        writeln!(
            out,
            "kv: the image does not let this shell call a key-value server"
        );
    }
    services.kv.as_ref()
}

fn kv_get<T: Transport>(services: &Services<T>, k: &str, out: &mut (impl Terminal + ?Sized)) {
    let Some(kv) = kv_client(services, out) else {
        return;
    };
    match kv.get(key(k)) {
        Ok(value) => {
            show::value(out, &value);
            writeln!(out);
        }
        Err(e) => kv_error(out, k, e),
    }
}

fn kv_put<T: Transport>(
    services: &Services<T>,
    k: &str,
    value: &str,
    out: &mut (impl Terminal + ?Sized),
) {
    let Some(kv) = kv_client(services, out) else {
        return;
    };
    let value = kv::v2::Value::from_slice(value.as_bytes()).unwrap_or_default();
    match kv.put(key(k), value, None) {
        Ok(()) => writeln!(out, "ok"),
        Err(e) => kv_error(out, k, e),
    }
}

fn kv_del<T: Transport>(services: &Services<T>, k: &str, out: &mut (impl Terminal + ?Sized)) {
    let Some(kv) = kv_client(services, out) else {
        return;
    };
    match kv.delete(key(k)) {
        Ok(()) => writeln!(out, "ok"),
        Err(e) => kv_error(out, k, e),
    }
}

fn kv_list<T: Transport>(services: &Services<T>, out: &mut (impl Terminal + ?Sized)) {
    let Some(kv) = kv_client(services, out) else {
        return;
    };
    let mut cursor: Option<kv::v2::Key> = None;
    let mut count = 0usize;
    for _ in 0..MAX_PAGES {
        let page = match kv.list(cursor.clone()) {
            Ok(page) => page,
            Err(e) => {
                writeln!(out, "kv: {e}");
                return;
            }
        };
        for k in &page.keys {
            show::value(out, k.as_bytes());
            writeln!(out);
        }
        count += page.keys.len();
        match page.next {
            // The cursor must move on, or a confused server would list the same page forever.
            Some(next) if cursor.as_ref().is_none_or(|c| next > *c) => cursor = Some(next),
            _ => break,
        }
    }
    match count {
        0 => writeln!(out, "(no keys)"),
        1 => writeln!(out, "(1 key)"),
        n => writeln!(out, "({n} keys)"),
    }
}

fn log<T: Transport>(
    services: &Services<T>,
    server: &str,
    level: LogLevel,
    out: &mut (impl Terminal + ?Sized),
) {
    // The supervisor sets the level a server logs at; without it, the console filters the
    // server's lines.
    let no_such_server = if let Some(supervisor) = &services.supervisor {
        match supervisor.set_log_level(name(server), level) {
            Ok(()) => false,
            Err(CallError::Op(supervisor::v1::SupervisorError::NoSuchServer)) => true,
            Err(e) => return writeln!(out, "log: {e}"),
        }
    } else if let Some(console) = &services.console {
        match console.set_log_level(name(server), level) {
            Ok(()) => false,
            Err(CallError::Op(console::v1::ConsoleError::NoSuchServer)) => true,
            Err(e) => return writeln!(out, "log: {e}"),
        }
    } else {
        return writeln!(
            out,
            "log: the image lets this shell call neither the supervisor nor the console"
        );
    };
    if no_such_server {
        writeln!(out, "log: no server named '{server}'");
    } else {
        writeln!(out, "log level of {server}: {}", level.name());
    }
}

/// `inject SERVER KIND`: arms the fault through the supervisor. When the shell can call the
/// server (kv), it then sends it a harmless idempotent request (`count`) for the fault to fire
/// in, and reports what the supervisor did, from its counts before and after.
fn inject<T: Transport>(
    services: &Services<T>,
    server: &str,
    kind: FaultKind,
    out: &mut (impl Terminal + ?Sized),
) {
    let Some(injector) = &services.inject else {
        return writeln!(
            out,
            "inject: the image does not let this shell call the supervisor"
        );
    };
    let status = |s: &supervisor::v1::Client<T>| s.status(name(server)).ok();
    let before = services.supervisor.as_ref().and_then(status);
    match injector.arm(name(server), kind) {
        Ok(()) => {}
        Err(CallError::Op(e)) => return writeln!(out, "inject: {server}: {e}"),
        Err(e) => return writeln!(out, "inject: {e}"),
    }
    let probe = match (&services.kv, server) {
        (Some(kv), "kv") => kv.count().map(|_| ()),
        _ => {
            return writeln!(
                out,
                "inject: {server}: '{}' armed; its next request faults",
                kind.name()
            );
        }
    };
    let after = services.supervisor.as_ref().and_then(status);
    let (Some(before), Some(after)) = (before, after) else {
        return match probe {
            Ok(()) => writeln!(
                out,
                "inject: {server}: '{}' fired; request answered",
                kind.name()
            ),
            Err(e) => writeln!(
                out,
                "inject: {server}: '{}' fired; request failed: {e}",
                kind.name()
            ),
        };
    };
    let aborts = after.aborts.saturating_sub(before.aborts);
    let restarted = after.restarts > before.restarts;
    let what = match (&probe, restarted) {
        (_, true) => {
            "restarted from its image (its state is lost); the request was answered Restarted"
        }
        (Ok(()), false) if aborts > 0 => "aborted and rolled back, then re-delivered and answered",
        (Err(CallError::Ipc(IpcError::Aborted)), false) => {
            "aborted and rolled back; answered Aborted"
        }
        (Ok(()), false) => "answered: the fault did not fire",
        (Err(_), false) => "failed",
    };
    writeln!(
        out,
        "inject: {server}: '{}' fired in its next request (count): {what} (aborts {} -> {}, \
         state {})",
        kind.name(),
        before.aborts,
        after.aborts,
        crate::show::state_name(after.state)
    );
}

/// `patch SERVER PROGRAM`: a wait-free code patch through the supervisor: `begin`, then `step`s
/// (with `pause` between them) until every thread has moved; prints the outcome.
fn patch_server<T: Transport>(
    services: &Services<T>,
    server: &str,
    program: &str,
    out: &mut (impl Terminal + ?Sized),
    pause: &mut dyn FnMut(),
) {
    let Some(patcher) = &services.patch else {
        return writeln!(
            out,
            "patch: the image does not let this shell call the supervisor"
        );
    };
    let program_name = patch::Program::try_from(program).unwrap_or_default();
    let mut info = match patcher.begin(name(server), program_name) {
        Ok(info) => info,
        // A patch left in progress (by an earlier `patch` that gave up): carry it on.
        Err(CallError::Op(patch::PatchError::InProgress)) => match patcher.status(name(server)) {
            Ok(info) => info,
            Err(e) => return writeln!(out, "patch: {server}: {e}"),
        },
        Err(CallError::Op(e)) => return writeln!(out, "patch: {server}: {e}"),
        Err(e) => return writeln!(out, "patch: {e}"),
    };
    writeln!(out, "patch {server} -> {program}: started");
    out.flush();
    let mut steps = 0;
    while !info.done {
        if steps == MAX_PATCH_STEPS {
            return writeln!(
                out,
                "patch {server} -> {program}: {} of {} threads moved after {steps} steps; still \
                 in progress ('patch {server} {program}' again carries it on)",
                info.moved, info.threads
            );
        }
        pause();
        info = match patcher.step(name(server)) {
            Ok(info) => info,
            Err(CallError::Op(e)) => return writeln!(out, "patch: {server}: {e}"),
            Err(e) => return writeln!(out, "patch: {e}"),
        };
        steps += 1;
    }
    writeln!(
        out,
        "patch {server} -> {program}: done; all {} threads moved wait-free in {steps} steps ({} \
         times a thread was busy); {} code pages new, {} shared, {} old freed",
        info.threads, info.busy, info.code_pages, info.shared_pages, info.freed_pages
    );
}

/// `upgrade SERVER PROGRAM`: asks the upgrader to replace the server live; prints the outcome,
/// the agreed state format and the length of each phase.
fn upgrade<T: Transport>(
    services: &Services<T>,
    server: &str,
    program: &str,
    out: &mut (impl Terminal + ?Sized),
) {
    let Some(upgrader) = &services.upgrader else {
        return writeln!(
            out,
            "upgrade: the image does not let this shell call an upgrader"
        );
    };
    let program_name = lifecycle::Program::try_from(program).unwrap_or_default();
    let report = match upgrader.upgrade(name(server), program_name, false) {
        Ok(report) => report,
        Err(CallError::Op(e)) => return writeln!(out, "upgrade: {server}: {e}"),
        Err(e) => return writeln!(out, "upgrade: {e}"),
    };
    let what = match report.outcome {
        lifecycle::Outcome::Committed => "committed",
        lifecycle::Outcome::Refused => "refused: no state format in common; nothing changed",
        lifecycle::Outcome::ImportFailed => {
            "rolled back by itself: the new version failed its import; the old one serves"
        }
        lifecycle::Outcome::FaultedInProbation { carried_back: true } => {
            "rolled back by itself: the new version faulted on probation; state carried back"
        }
        lifecycle::Outcome::FaultedInProbation {
            carried_back: false,
        } => "rolled back by itself: the new version faulted on probation; state as frozen",
        lifecycle::Outcome::Cancelled => "cancelled",
    };
    writeln!(
        out,
        "upgrade {server} -> {program}: {what}; version {} serves",
        report.version
    );
    if let Some(format) = report.format {
        let [forward, block, transfer, complete] = report.lengths;
        writeln!(
            out,
            "  state format {format}, {} bytes; forward {forward}, block {block}, transfer \
             {transfer}, complete {complete} ticks; blackout {}",
            report.state_bytes, report.blackout
        );
    }
}

/// The most `step`s one `snapshot` makes (a region has at most 1,023 pages, 8 a step).
const MAX_STEPS: usize = 256;

/// `snapshot SERVER`: begins a concurrent snapshot and copies it 8 pages a step; between steps
/// the shell yields, so the server serves whoever calls it while its region is copied.
fn take_snapshot<T: Transport>(
    services: &Services<T>,
    server: &str,
    out: &mut (impl Terminal + ?Sized),
) {
    let Some(snapshots) = &services.snapshot else {
        return writeln!(
            out,
            "snapshot: the image does not let this shell call the supervisor"
        );
    };
    let mut info = match snapshots.begin(name(server)) {
        Ok(info) => info,
        Err(CallError::Op(e)) => return writeln!(out, "snapshot: {server}: {e}"),
        Err(e) => return writeln!(out, "snapshot: {e}"),
    };
    let stop = info.stop_ticks;
    let mut steps = 0;
    while !info.complete && steps < MAX_STEPS {
        yield_to_others();
        info = match snapshots.step(name(server), 8) {
            Ok(info) => info,
            Err(e) => return writeln!(out, "snapshot: {server}: {e}"),
        };
        steps += 1;
    }
    writeln!(
        out,
        "snapshot of {server}: {} pages in {steps} steps, at its request {}; it was stopped {stop} \
         ticks, served {} requests during the copy, {} pages copied before a write{}",
        info.pages,
        info.commits_at_point,
        info.commits_at_complete
            .saturating_sub(info.commits_at_point),
        info.copied_before_write,
        if info.complete { "" } else { " (not complete)" }
    );
}

/// Gives the rest of the time slice to other threads (host tests: nothing).
fn yield_to_others() {
    #[cfg(target_os = "none")]
    axolotl_rt::yield_now();
}

/// `restore SERVER`: the server back at its last complete snapshot.
fn restore<T: Transport>(services: &Services<T>, server: &str, out: &mut (impl Terminal + ?Sized)) {
    let Some(snapshots) = &services.snapshot else {
        return writeln!(
            out,
            "restore: the image does not let this shell call the supervisor"
        );
    };
    match snapshots.restore(name(server)) {
        Ok(info) => writeln!(
            out,
            "{server} restored to its snapshot ({} pages, at its request {})",
            info.pages, info.commits_at_point
        ),
        Err(CallError::Op(e)) => writeln!(out, "restore: {server}: {e}"),
        Err(e) => writeln!(out, "restore: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::COMMANDS;
    use ipc_schema::supervisor::v1::{ServerPage, ServerState, ServerStatus, SupervisorError};
    use ipc_schema::{Caller, IpcError, Local, Never};
    use kv::v2::{KeyPage, KvError};
    use std::collections::BTreeMap;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// A kv::v2 store in a map.
    #[derive(Default)]
    struct Store {
        map: BTreeMap<String, Vec<u8>>,
        /// Every op fails with this, if set.
        broken: Option<KvError>,
    }

    impl kv::v2::Server for Store {
        fn get(&mut self, _: &mut Caller, key: kv::v2::Key) -> Result<kv::v2::Value, KvError> {
            self.broken.map_or(Ok(()), Err)?;
            let v = self.map.get(key.as_str()).ok_or(KvError::NotFound)?;
            Ok(kv::v2::Value::from_slice(v).unwrap())
        }
        fn put(
            &mut self,
            _: &mut Caller,
            key: kv::v2::Key,
            value: kv::v2::Value,
            ttl: Option<u64>,
        ) -> Result<(), KvError> {
            self.broken.map_or(Ok(()), Err)?;
            assert_eq!(ttl, None);
            if key.is_empty() {
                return Err(KvError::InvalidKey);
            }
            self.map.insert(key.to_string(), value.to_vec());
            Ok(())
        }
        fn delete(&mut self, _: &mut Caller, key: kv::v2::Key) -> Result<(), KvError> {
            self.broken.map_or(Ok(()), Err)?;
            self.map
                .remove(key.as_str())
                .map(drop)
                .ok_or(KvError::NotFound)
        }
        fn list(
            &mut self,
            _: &mut Caller,
            cursor: Option<kv::v2::Key>,
        ) -> Result<KeyPage, KvError> {
            self.broken.map_or(Ok(()), Err)?;
            let mut page = KeyPage::default();
            let after = |k: &&String| cursor.as_ref().is_none_or(|c| k.as_str() > c.as_str());
            for k in self.map.keys().filter(after) {
                if page
                    .keys
                    .push(kv::v2::Key::try_from(k.as_str()).unwrap())
                    .is_err()
                {
                    page.next = page.keys.last().cloned();
                    break;
                }
            }
            Ok(page)
        }
        fn count(&mut self, _: &mut Caller) -> Result<u64, KvError> {
            Ok(self.map.len() as u64)
        }
    }

    /// A supervisor with a fixed list of servers, paged `page` at a time.
    struct Supervisor {
        servers: Vec<ServerStatus>,
        page: usize,
        levels: Vec<(String, LogLevel)>,
    }

    fn status(name: &str, version: u32, state: ServerState) -> ServerStatus {
        ServerStatus {
            name: Name::try_from(name).unwrap(),
            version,
            state,
            faults: 0,
            aborts: 0,
            restarts: 0,
            generation: 0,
        }
    }

    impl Supervisor {
        fn new() -> Supervisor {
            Supervisor {
                servers: vec![
                    status("console", 1, ServerState::Running),
                    status("timer", 1, ServerState::Running),
                    status("kv", 2, ServerState::Running),
                    status("shell", 1, ServerState::Running),
                ],
                page: 16,
                levels: Vec::new(),
            }
        }
    }

    impl supervisor::v1::Server for Supervisor {
        fn list(&mut self, _: &mut Caller, cursor: u16) -> Result<ServerPage, SupervisorError> {
            let start = usize::from(cursor).min(self.servers.len());
            let end = (start + self.page).min(self.servers.len());
            let mut page = ServerPage::default();
            for s in &self.servers[start..end] {
                page.servers.push(s.clone()).unwrap();
            }
            page.next = (end < self.servers.len()).then_some(end as u16);
            Ok(page)
        }
        fn status(&mut self, _: &mut Caller, name: Name) -> Result<ServerStatus, SupervisorError> {
            let found = self.servers.iter().find(|s| s.name == name);
            found.cloned().ok_or(SupervisorError::NoSuchServer)
        }
        fn set_log_level(
            &mut self,
            _: &mut Caller,
            server: Name,
            level: LogLevel,
        ) -> Result<(), SupervisorError> {
            if !self.servers.iter().any(|s| s.name == server) {
                return Err(SupervisorError::NoSuchServer);
            }
            self.levels.push((server.to_string(), level));
            Ok(())
        }
    }

    /// A console that only records log levels.
    #[derive(Default)]
    struct Console {
        levels: Vec<(String, LogLevel)>,
    }

    impl console::v1::Server for Console {
        fn write(
            &mut self,
            _: &mut Caller,
            _: console::v1::Bytes,
        ) -> Result<(), console::v1::ConsoleError> {
            Ok(())
        }
        fn read(
            &mut self,
            _: &mut Caller,
            _: u16,
        ) -> Result<console::v1::Bytes, console::v1::ConsoleError> {
            Ok(console::v1::Bytes::new())
        }
        fn set_log_level(
            &mut self,
            _: &mut Caller,
            server: Name,
            level: LogLevel,
        ) -> Result<(), console::v1::ConsoleError> {
            if server == "nobody" {
                return Err(console::v1::ConsoleError::NoSuchServer);
            }
            self.levels.push((server.to_string(), level));
            Ok(())
        }
    }

    /// A transport to nobody.
    struct Down;

    impl Transport for Down {
        fn call_with_caps(
            &self,
            _: u64,
            _: &[u64],
            _: ipc_schema::CapTransfer,
            _: &mut [u64; ipc_schema::MSG_WORDS],
        ) -> Result<ipc_schema::ReplyInfo, IpcError> {
            Err(IpcError::ServerUnavailable)
        }
    }

    /// The three fake servers behind `Local` transports.
    struct System {
        console: Local<Console>,
        kv: Local<Store>,
        supervisor: Local<Supervisor>,
    }

    impl System {
        fn new() -> System {
            System {
                console: Local::new(Console::default(), console::v1::dispatch::<Console>),
                kv: Local::new(Store::default(), kv::dispatch::<Store>),
                supervisor: Local::new(Supervisor::new(), supervisor::v1::dispatch::<Supervisor>),
            }
        }

        fn shell(&self, can_poweroff: bool) -> Shell<&dyn Transport> {
            Shell::new(
                Services {
                    console: Some(console::v1::Client::new(&self.console as &dyn Transport)),
                    kv: Some(kv::v2::Client::new(&self.kv as &dyn Transport)),
                    supervisor: Some(supervisor::v1::Client::new(
                        &self.supervisor as &dyn Transport,
                    )),
                    inject: None,
                    snapshot: None,
                    upgrader: None,
                    patch: None,
                },
                can_poweroff,
            )
        }
    }

    fn none() -> Services<&'static dyn Transport> {
        Services {
            console: None,
            kv: None,
            supervisor: None,
            inject: None,
            snapshot: None,
            upgrader: None,
            patch: None,
        }
    }

    fn down() -> Services<&'static dyn Transport> {
        Services {
            console: Some(console::v1::Client::new(&Down)),
            kv: Some(kv::v2::Client::new(&Down)),
            supervisor: Some(supervisor::v1::Client::new(&Down)),
            inject: Some(inject::v1::Client::new(&Down)),
            snapshot: Some(snapshot::v1::Client::new(&Down)),
            upgrader: Some(lifecycle::Client::new(&Down)),
            patch: Some(patch::Client::new(&Down)),
        }
    }

    /// Runs one line; returns its output.
    fn run_line<T: Transport>(shell: &mut Shell<T>, line: &str) -> String {
        let mut out = Vec::new();
        assert_eq!(shell.run_line(line, &mut out), Outcome::Continue, "{line}");
        String::from_utf8(out).unwrap()
    }

    /// A patcher whose server `resp` has two threads: the first step builds the clone and
    /// moves thread 0 (thread 1 is busy), the second moves thread 1.
    #[derive(Default)]
    struct Patcher {
        info: Option<patch::PatchInfo>,
    }

    impl patch::Server for Patcher {
        fn begin(
            &mut self,
            _: &mut Caller,
            server: Name,
            program: patch::Program,
        ) -> Result<patch::PatchInfo, patch::PatchError> {
            if server.as_str() != "resp" {
                return Err(patch::PatchError::NoSuchServer);
            }
            if program.as_str() != "resp-v2" {
                return Err(patch::PatchError::NotPatchable);
            }
            let info = patch::PatchInfo {
                threads: 2,
                ..Default::default()
            };
            self.info = Some(info);
            Ok(info)
        }

        fn step(&mut self, _: &mut Caller, _: Name) -> Result<patch::PatchInfo, patch::PatchError> {
            let info = self.info.as_mut().ok_or(patch::PatchError::NotInProgress)?;
            if info.moved == 0 {
                info.busy += 1;
                info.code_pages = 3;
                info.shared_pages = 9;
            } else {
                info.done = true;
                info.freed_pages = 3;
            }
            info.moved += 1;
            info.moved_mask = (1 << info.moved) - 1;
            Ok(*info)
        }

        fn status(
            &mut self,
            _: &mut Caller,
            _: Name,
        ) -> Result<patch::PatchInfo, patch::PatchError> {
            self.info.ok_or(patch::PatchError::NotInProgress)
        }
    }

    #[test]
    fn patch_steps_until_every_thread_moved_pausing_between_steps() {
        let patcher = Local::new(Patcher::default(), patch::dispatch::<Patcher>);
        let mut services = none();
        services.patch = Some(patch::Client::new(&patcher as &dyn Transport));
        let mut shell = Shell::new(services, false);
        let (mut out, mut pauses) = (Vec::new(), 0);
        shell.input_paced(b"patch resp resp-v2\n", &mut out, &mut || pauses += 1);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("patch resp -> resp-v2: started\n"), "{out}");
        assert!(
            out.contains(
                "patch resp -> resp-v2: done; all 2 threads moved wait-free in 2 steps (1 times a \
                 thread was busy); 3 code pages new, 9 shared, 3 old freed"
            ),
            "{out}"
        );
        assert_eq!(pauses, 2);
        assert_eq!(
            run_line(&mut shell, "patch kv kv2"),
            "patch: kv: no such server\n"
        );
        assert_eq!(
            run_line(&mut Shell::new(none(), false), "patch resp resp-v2"),
            "patch: the image does not let this shell call the supervisor\n"
        );
    }

    #[test]
    fn the_scenario_session() {
        let system = System::new();
        let mut shell = system.shell(true);
        let mut out = Vec::new();
        shell.start(&mut out);
        let input = "help\nkv put a 1\nkv get a\nkv list\nps\nfoo\nkv put\npoweroff\nps\n";
        assert_eq!(shell.input(input.as_bytes(), &mut out), Outcome::Poweroff);
        let text = String::from_utf8(out).unwrap();
        let mut expected = String::from("Axolotl shell: type 'help' for the commands\n");
        expected += "axolotl> help\ncommands:\n";
        for (usage, what) in COMMANDS {
            expected += &format!("  {usage:<22} {what}\n");
        }
        expected += "axolotl> kv put a 1\nok\n\
                     axolotl> kv get a\n1\n\
                     axolotl> kv list\na\n(1 key)\n\
                     axolotl> ps\n\
                     NAME             VERSION  STATE      FAULTS ABORTS RESTARTS\n\
                     console                1  running         0      0        0\n\
                     timer                  1  running         0      0        0\n\
                     kv                     2  running         0      0        0\n\
                     shell                  1  running         0      0        0\n\
                     axolotl> foo\nunknown command 'foo'; try 'help'\n\
                     axolotl> kv put\nusage: kv put <key> <value>\n\
                     axolotl> poweroff\npowering off\n";
        assert_eq!(text, expected);
        // The `ps` after `poweroff` was not run.
        assert_eq!(system.supervisor.calls(), 1);
    }

    #[test]
    fn input_may_come_in_pieces() {
        let system = System::new();
        let mut shell = system.shell(false);
        let mut out = Vec::new();
        for piece in ["kv p", "ut k", "ey va", "lue\r", "\nkv get key\r\n"] {
            assert_eq!(shell.input(piece.as_bytes(), &mut out), Outcome::Continue);
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "kv put key value\nok\naxolotl> kv get key\nvalue\naxolotl> "
        );
    }

    #[test]
    fn editing_cancelling_and_bad_input_prompt_again() {
        let system = System::new();
        let mut shell = system.shell(false);
        let mut out = Vec::new();
        shell.input(b"pz\x7fx\x15\x03\n\xff\n", &mut out);
        assert_eq!(
            out,
            b"pz\x08 \x08x\x08 \x08\x08 \x08^C\naxolotl> \naxolotl> \xff\n\
              input is not UTF-8; line ignored\naxolotl> "
        );
    }

    #[test]
    fn kv_commands() {
        let system = System::new();
        let mut shell = system.shell(false);
        assert_eq!(run_line(&mut shell, "kv list"), "(no keys)\n");
        assert_eq!(run_line(&mut shell, "kv get a"), "kv: no key 'a'\n");
        assert_eq!(run_line(&mut shell, "kv put a hello world"), "ok\n");
        assert_eq!(run_line(&mut shell, "kv get a"), "hello world\n");
        assert_eq!(run_line(&mut shell, "kv put b été"), "ok\n");
        assert_eq!(run_line(&mut shell, "kv get b"), "été\n");
        assert_eq!(run_line(&mut shell, "kv list"), "a\nb\n(2 keys)\n");
        assert_eq!(run_line(&mut shell, "kv del a"), "ok\n");
        assert_eq!(run_line(&mut shell, "kv del a"), "kv: no key 'a'\n");
        assert_eq!(run_line(&mut shell, "kv list"), "b\n(1 key)\n");
        assert_eq!(system.kv.server().map.len(), 1);
    }

    #[test]
    fn binary_values_are_escaped() {
        let system = System::new();
        system
            .kv
            .server()
            .map
            .insert("bin".into(), b"\x00\x1b[2J\xff".to_vec());
        system
            .kv
            .server()
            .map
            .insert("key\x1b[H".into(), b"v".to_vec());
        let mut shell = system.shell(false);
        assert_eq!(run_line(&mut shell, "kv get bin"), "\\x00\\x1b[2J\\xff\n");
        assert_eq!(
            run_line(&mut shell, "kv list"),
            "bin\nkey\\x1b[H\n(2 keys)\n"
        );
    }

    #[test]
    fn kv_list_walks_every_page() {
        let system = System::new();
        for i in 0..40 {
            system
                .kv
                .server()
                .map
                .insert(format!("k{i:02}"), b"v".to_vec());
        }
        let mut shell = system.shell(false);
        let text = run_line(&mut shell, "kv list");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 41);
        assert_eq!(lines[0], "k00");
        assert_eq!(lines[39], "k39");
        assert_eq!(lines[40], "(40 keys)");
        // 16 + 16 + 8.
        assert_eq!(system.kv.calls(), 3);
    }

    #[test]
    fn kv_errors() {
        let system = System::new();
        system.kv.server().broken = Some(KvError::Full);
        let mut shell = system.shell(false);
        assert_eq!(run_line(&mut shell, "kv put a 1"), "kv: store full\n");
        assert_eq!(run_line(&mut shell, "kv list"), "kv: store full\n");
        let mut shell = Shell::new(down(), false);
        assert_eq!(run_line(&mut shell, "kv get a"), "kv: server unavailable\n");
        assert_eq!(
            run_line(&mut shell, "kv put a 1"),
            "kv: server unavailable\n"
        );
        assert_eq!(run_line(&mut shell, "kv del a"), "kv: server unavailable\n");
        assert_eq!(run_line(&mut shell, "kv list"), "kv: server unavailable\n");
        let mut shell = Shell::new(none(), false);
        for line in ["kv get a", "kv put a 1", "kv del a", "kv list"] {
            assert_eq!(
                run_line(&mut shell, line),
                "kv: the image does not let this shell call a key-value server\n"
            );
        }
    }

    #[test]
    fn ps_pages_and_errors() {
        let system = System::new();
        system.supervisor.server().page = 3;
        let mut shell = system.shell(false);
        let text = run_line(&mut shell, "ps");
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.lines().nth(4).unwrap().starts_with("shell "), "{text}");
        assert_eq!(system.supervisor.calls(), 2);
        let mut shell = Shell::new(down(), false);
        assert_eq!(run_line(&mut shell, "ps"), "ps: server unavailable\n");
        let mut shell = Shell::new(none(), false);
        assert_eq!(
            run_line(&mut shell, "ps"),
            "ps: the image does not let this shell call the supervisor\n"
        );
    }

    #[test]
    fn log_levels_go_to_the_supervisor() {
        let system = System::new();
        let mut shell = system.shell(false);
        assert_eq!(
            run_line(&mut shell, "log kv debug"),
            "log level of kv: debug\n"
        );
        assert_eq!(
            run_line(&mut shell, "log nobody info"),
            "log: no server named 'nobody'\n"
        );
        assert_eq!(
            system.supervisor.server().levels,
            [("kv".to_string(), LogLevel::Debug)]
        );
        assert!(system.console.server().levels.is_empty());
        let mut shell = Shell::new(down(), false);
        assert_eq!(
            run_line(&mut shell, "log kv off"),
            "log: server unavailable\n"
        );
    }

    #[test]
    fn log_levels_go_to_the_console_without_a_supervisor() {
        let system = System::new();
        let mut shell = Shell::new(
            Services {
                console: Some(console::v1::Client::new(&system.console as &dyn Transport)),
                kv: None,
                supervisor: None,
                inject: None,
                snapshot: None,
                upgrader: None,
                patch: None,
            },
            false,
        );
        assert_eq!(
            run_line(&mut shell, "log timer warn"),
            "log level of timer: warn\n"
        );
        assert_eq!(
            run_line(&mut shell, "log nobody warn"),
            "log: no server named 'nobody'\n"
        );
        assert_eq!(
            system.console.server().levels,
            [("timer".to_string(), LogLevel::Warn)]
        );
        let mut shell = Shell::new(none(), false);
        assert_eq!(
            run_line(&mut shell, "log kv info"),
            "log: the image lets this shell call neither the supervisor nor the console\n"
        );
    }

    #[test]
    fn poweroff_needs_the_grant() {
        let mut shell = Shell::new(none(), false);
        assert_eq!(
            run_line(&mut shell, "poweroff"),
            "poweroff: not permitted (the image does not grant this shell poweroff)\n"
        );
        let mut shell = Shell::new(none(), true);
        let mut out = Vec::new();
        assert_eq!(shell.run_line("poweroff", &mut out), Outcome::Poweroff);
        assert_eq!(out, b"powering off\n");
    }

    #[test]
    fn parse_errors_and_blank_lines() {
        let mut shell = Shell::new(none(), false);
        assert_eq!(run_line(&mut shell, ""), "");
        assert_eq!(run_line(&mut shell, "   "), "");
        assert_eq!(
            run_line(&mut shell, "foo"),
            "unknown command 'foo'; try 'help'\n"
        );
        assert_eq!(
            run_line(&mut shell, "kv put"),
            "usage: kv put <key> <value>\n"
        );
        assert_eq!(
            run_line(&mut shell, "log kv loud"),
            "unknown log level 'loud'; use off, error, warn, info, debug or trace\n"
        );
    }

    #[test]
    fn never_panics_on_any_input() {
        let system = System::new();
        let mut shell = system.shell(false);
        let mut out = Vec::new();
        // A deterministic stream of bytes of every kind, words the parser knows among them.
        let mut x: u32 = 12345;
        let words: [&[u8]; 8] = [
            b"kv ", b"put ", b"get ", b"list", b"log ", b"ps", b"\n", b"del ",
        ];
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = (x >> 16) as usize;
            if r.is_multiple_of(3) {
                shell.input(words[r % words.len()], &mut out);
            } else {
                shell.input(&[(r >> 3) as u8], &mut out);
            }
            out.clear();
        }
    }

    #[test]
    fn ipc_error_messages() {
        let e: CallError<Never> = IpcError::Aborted.into();
        assert_eq!(
            e.to_string(),
            "request aborted (server faulted, state rolled back)"
        );
    }
}
