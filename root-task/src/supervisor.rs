//! The supervisor: the root task's loop after start-up. It receives on the supervisor endpoint,
//! which carries two kinds of message, told apart by badge:
//!
//! - **Faults** (badge [`FAULT_BADGE_BASE`] + server index, from every server whose image entry
//!   says `fault_handler = "supervisor"`; label a [`FaultKind`]; MR0..3 pc, address, syndrome,
//!   flags) are logged and counted. A transactional server faulting inside a request has that
//!   transaction aborted: its memory and registers go back to their state before the request
//!   and it waits for the next one; the caller is answered with [`IpcError::Aborted`]'s code.
//!   Any other faulting thread is suspended for good (its state becomes `Stopped`).
//! - **Requests** of `supervisor::v1` (badge [`call_badge`](axolotl_rt::server_info::call_badge)
//!   of the caller, below the fault badges, from servers whose image lists
//!   `calls = ["supervisor"]`), dispatched by the generated `supervisor::v1::dispatch` to
//!   [`Supervisor`]: `list` and `status` report what the supervisor knows of each server;
//!   `set_log_level` is forwarded to the console server when the image has one (see
//!   [`Supervisor::set_log_level`]).
//!
//! - **Requests** of `snapshot::v1` (same badges, interface id `SNAPSHOT`), served by
//!   [`crate::snapshots::Snapshots`]: concurrent snapshots of servers with `snapshot = true`.
//!   A server due for a restart that has a complete snapshot of its current region is restored
//!   from it instead of being rebuilt from its image.
//!
//! - **Requests** of `lifecycle::v1` (interface id `LIFECYCLE`) from the image's upgrader only,
//!   served by [`crate::lifecycle::Lifecycle`]: the versions of a server during a live upgrade
//!   (prepare a new version, switch to it, revert, commit, discard, probation). None of them
//!   blocks: the upgrader makes the blocking `upgrade::v1` calls.
//!
//! The supervisor is single-threaded: while it forwards a request to the console it receives
//! nothing, so a fault of the console in that moment would wait for a supervisor waiting for the
//! console. Only `set_log_level` calls out, and the console's handler of it only updates a table.

use crate::policy::{Action, Recovery, TxView};
use crate::system::FAULT_BADGE_BASE;
use axolotl_abi::fault::{
    FAULT_FLAG_INSTRUCTION, FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE,
};
use axolotl_abi::{Error, FaultKind, MessageInfo};
use axolotl_image::Name;
use axolotl_rt::server_info::{CONTROL_INJECT, MAX_ENDPOINTS, SERVER_CONTROL_OFFSET};
use axolotl_rt::{Cap, Endpoint, Snapshot, Tcb, TxRegion, get_mr, reply, set_mr};
use ipc_schema::console::v1 as console;
use ipc_schema::console::v1::ConsoleError;
use ipc_schema::inject::v1::{self as inject, FaultKind as InjectKind, InjectError};
use ipc_schema::interfaces::common::LogLevel;
use ipc_schema::supervisor::v1::{
    self, LIST_PAGE, ServerPage, ServerState, ServerStatus, SupervisorError,
};
use ipc_schema::{CallError, Caller, IpcError, MSG_WORDS, Transport};
use log::{error, info, warn};

/// What the supervisor knows of a server.
pub struct Supervised {
    pub name: Name,
    /// `None` if it was not built.
    pub tcb: Option<Cap<Tcb>>,
    /// Its transactional region, if it is transactional.
    pub tx: Option<Cap<TxRegion>>,
    /// The endpoints it receives on (the root task's capabilities).
    pub endpoints: heapless::Vec<Cap<Endpoint>, MAX_ENDPOINTS>,
    /// The root task's writable mapping of its info page (its control words), if it has one.
    pub control: Option<u64>,
    /// The recovery policy's state.
    pub recovery: Recovery,
    /// Faults taken, all kinds.
    pub faults: u64,
    /// The supervisor suspended it for good after a fault.
    pub stopped: bool,
    /// Times it was restarted from its image; its generation is this count.
    pub restarts: u64,
    /// The fault armed in its control words (`inject::v1`) and not reported yet.
    pub armed: Option<InjectKind>,
    /// Its snapshot storage (`snapshot = true` in the image).
    pub snapshot: Option<Cap<Snapshot>>,
    /// The region the last snapshot was begun on (a restart from the image makes a new one).
    pub snapshot_region: Option<Cap<TxRegion>>,
    /// Counter ticks the server was stopped by the last snapshot begun.
    pub snapshot_stop_ticks: u64,
    /// The version serving (1 at boot; each committed upgrade adds one).
    pub version: u32,
    /// The slot of the version serving (see `ipc_schema::lifecycle`).
    pub slot: u8,
    /// The program it runs and the programs it may be upgraded to (image `upgrades`).
    pub upgrades: heapless::Vec<axolotl_image::ProgramName, 5>,
    /// It has `upgrades` (and control endpoints).
    pub upgradable: bool,
    /// It is the image's upgrader (`lifecycle::v1` is served to it alone).
    pub upgrader: bool,
    /// The version that is not serving, during an upgrade.
    pub other: Option<OtherVersion>,
    /// Faults of the serving version since the last `switch`.
    pub probation_faults: u32,
    /// Faults of the other version since it was built or switched from.
    pub other_faults: u32,
    /// Its threads and frames, if its image lists `patches` (`patch::v1`).
    pub patch: Option<crate::patch::Patchable>,
    /// Its priority in the image.
    pub priority: u8,
}

/// Where the version that does not serve is in an upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherStage {
    /// A new version, built and started, waiting for its state; not serving yet.
    Prepared,
    /// The old version, frozen, after a `switch` (probation).
    OldOnProbation,
    /// The new version after a `revert` (to be discarded).
    Reverted,
}

/// A server's version that is not serving.
#[derive(Clone, Debug)]
pub struct OtherVersion {
    pub tcb: Cap<Tcb>,
    pub tx: Option<Cap<TxRegion>>,
    pub control: Option<u64>,
    pub slot: u8,
    pub version: u32,
    pub program: axolotl_image::ProgramName,
    pub stage: OtherStage,
    /// The upgrader has asked `probation` about it already (so it polls: see
    /// `lifecycle::upgrader_priority`).
    pub polled: bool,
}

impl Supervised {
    /// A server as built: `tcb` and `tx` are `None` if it was not built or not transactional.
    pub fn new(
        name: Name,
        tcb: Option<Cap<Tcb>>,
        tx: Option<Cap<TxRegion>>,
        restart_after: u8,
    ) -> Supervised {
        Supervised {
            name,
            tcb,
            tx,
            endpoints: heapless::Vec::new(),
            control: None,
            recovery: Recovery::new(restart_after),
            faults: 0,
            stopped: false,
            restarts: 0,
            armed: None,
            snapshot: None,
            snapshot_region: None,
            snapshot_stop_ticks: 0,
            version: 1,
            slot: 0,
            upgrades: heapless::Vec::new(),
            upgradable: false,
            upgrader: false,
            other: None,
            probation_faults: 0,
            other_faults: 0,
            patch: None,
            priority: 0,
        }
    }

    /// The program of the serving version.
    pub fn program(&self) -> &str {
        self.upgrades.first().map_or("?", |p| p.as_str())
    }

    /// Disarms the fault armed in its control words, if any; returns it.
    pub fn disarm(&mut self) -> Option<InjectKind> {
        let armed = self.armed.take();
        if armed.is_some() {
            self.set_control(CONTROL_INJECT, 0);
        }
        armed
    }

    /// Sets its control word `word` (through the root task's mapping of its info page).
    pub(crate) fn set_control(&self, word: usize, value: u64) -> bool {
        let Some(page) = self.control else {
            return false;
        };
        let address = page + (SERVER_CONTROL_OFFSET + word * 8) as u64;
        // SAFETY: `page` is the root task's read/write mapping of this server's info page
        // (`system::grant`, kept until the server is rebuilt, when `control` is replaced); the
        // control words are aligned u64s inside it, outside the ServerInfo the root task wrote,
        // and nothing in the root task holds a reference to them.
        unsafe { core::ptr::write_volatile(address as usize as *mut u64, value) };
        true
    }

    /// `Running` once started and until the supervisor gives up on it; `Stopped` if it was never
    /// built or was suspended after a fault; `Upgrading` while a new version is prepared or the
    /// old one is on probation.
    pub fn state(&self) -> ServerState {
        if self.tcb.is_none() || self.stopped {
            ServerState::Stopped
        } else if self.other.is_some() {
            ServerState::Upgrading
        } else {
            ServerState::Running
        }
    }

    /// The server as `supervisor::v1` reports it: the version serving (1 at boot, bumped by
    /// each upgrade that switched and was not reverted); each restart from the image is a new
    /// generation.
    pub fn status(&self) -> ServerStatus {
        let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        ServerStatus {
            name: self.name.clone(),
            version: self.version,
            state: self.state(),
            faults: count(self.faults),
            aborts: count(self.recovery.aborts),
            restarts: count(self.restarts),
            generation: count(self.restarts),
        }
    }
}

/// `supervisor::v1` over the supervised servers. `C` is how the console is reached (a
/// capability to its endpoint on the machine, an in-memory server in tests).
pub struct Supervisor<'a, C> {
    pub servers: &'a mut [Supervised],
    /// The console server, if the image has one: the image's endpoint `console`.
    pub console: Option<console::Client<C>>,
}

impl<C: Transport> Supervisor<'_, C> {
    fn find(&self, name: &str) -> Option<&Supervised> {
        self.servers.iter().find(|s| s.name == name)
    }
}

impl<C: Transport> v1::Server for Supervisor<'_, C> {
    fn list(&mut self, _: &mut Caller, cursor: u16) -> Result<ServerPage, SupervisorError> {
        let start = usize::from(cursor);
        let mut page = ServerPage::default();
        for server in self.servers.iter().skip(start).take(LIST_PAGE) {
            // At most LIST_PAGE, the page's capacity.
            let _ = page.servers.push(server.status());
        }
        let end = start + page.servers.len();
        page.next = if end < self.servers.len() {
            u16::try_from(end).ok()
        } else {
            None
        };
        Ok(page)
    }

    fn status(&mut self, _: &mut Caller, name: Name) -> Result<ServerStatus, SupervisorError> {
        self.find(&name)
            .map(Supervised::status)
            .ok_or(SupervisorError::NoSuchServer)
    }

    /// Forwarded to the console, which drops the log lines of `server` below `level`: the
    /// supervisor calls it with the root task's own capability to the console's endpoint (badge
    /// 0, which no server's calls carry). A server the image does not have is `NoSuchServer`
    /// without asking; an image without a console, or a console that fails or refuses, is
    /// `NotPermitted`.
    fn set_log_level(
        &mut self,
        _: &mut Caller,
        server: Name,
        level: LogLevel,
    ) -> Result<(), SupervisorError> {
        if self.find(&server).is_none() {
            return Err(SupervisorError::NoSuchServer);
        }
        let Some(console) = &self.console else {
            return Err(SupervisorError::NotPermitted);
        };
        match console.set_log_level(server.clone(), level) {
            Ok(()) => Ok(()),
            Err(CallError::Op(ConsoleError::NoSuchServer)) => Err(SupervisorError::NoSuchServer),
            Err(e) => {
                warn!("supervisor: the console did not set the log level of '{server}': {e}");
                Err(SupervisorError::NotPermitted)
            }
        }
    }
}

impl<C: Transport> inject::Server for Supervisor<'_, C> {
    /// Arms `kind` in the server's control words; its request loop fires it at its next
    /// request, and the fault comes back here like any other.
    fn arm(&mut self, _: &mut Caller, name: Name, kind: InjectKind) -> Result<(), InjectError> {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or(InjectError::NoSuchServer)?;
        // An upgrading server is armed in the version serving (the new one on probation).
        if !matches!(
            server.state(),
            ServerState::Running | ServerState::Upgrading
        ) {
            return Err(InjectError::NotRunning);
        }
        if server.armed.is_some() {
            return Err(InjectError::AlreadyArmed);
        }
        if !server.set_control(CONTROL_INJECT, kind.code()) {
            return Err(InjectError::NotRunning);
        }
        server.armed = Some(kind);
        info!(
            "'{name}': fault '{}' armed for its next request",
            kind.name()
        );
        Ok(())
    }

    fn armed(&mut self, _: &mut Caller, name: Name) -> Result<Option<InjectKind>, InjectError> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.armed)
            .ok_or(InjectError::NoSuchServer)
    }
}

/// What the supervisor asks of the root task's builder (`crate::versions::Fleet`).
pub trait Versions {
    /// Rebuilds server `index`'s version in `slot` from its program (a fresh address space,
    /// memory and thread on the same endpoints) and starts it.
    fn restart(&mut self, index: usize, slot: u8) -> Option<Rebuilt>;
    /// Builds `program` as a new version of server `index` in `slot` (which must be free), which
    /// starts by importing an old version's state on the slot's control endpoint.
    fn build_version(&mut self, index: usize, slot: u8, program: &str) -> Option<Rebuilt>;
    /// Frees server `index`'s version in `slot` (its Untyped revoked); whether there was one.
    fn free_version(&mut self, index: usize, slot: u8) -> bool;
    /// Fills the slots server `index`'s version in `to` had empty at boot with copies of what
    /// its version in `from` holds there (`clear`: emptying them first; a version just built
    /// has nothing there); how many were copied (`None`: a version missing).
    fn carry_caps(&mut self, index: usize, from: u8, to: u8, clear: bool) -> Option<u32>;
}

/// The restart hook of [`run`].
pub type Restart<'a> = &'a mut dyn Versions;

/// A server (re)built by [`Versions`].
pub struct Rebuilt {
    pub tcb: Cap<Tcb>,
    pub tx: Option<Cap<TxRegion>>,
    pub control: Option<u64>,
    /// Its patch state (a restart runs the image's program again).
    pub patch: Option<crate::patch::Patchable>,
}

/// Serves the supervisor endpoint for ever: faults, `supervisor::v1` and `inject::v1` requests.
pub fn run<C: Transport>(
    endpoint: Cap<Endpoint>,
    servers: &mut [Supervised],
    console: Option<console::Client<C>>,
    restart: Restart,
    campaign_code: Option<&[Option<crate::campaign::ServerCode>]>,
    patcher: Option<&mut crate::patch::Patcher>,
) -> ! {
    let mut patcher = patcher;
    let mut supervisor = Supervisor { servers, console };
    let mut request = [0u64; MSG_WORDS];
    let mut answer = [0u64; MSG_WORDS];
    loop {
        let (message, badge) = match endpoint.recv() {
            Ok(received) => received,
            Err(e) => crate::stop(format_args!("supervisor: receive failed: {e}")),
        };
        if badge >= FAULT_BADGE_BASE {
            let (index, slot) = crate::system::fault_origin(badge - FAULT_BADGE_BASE);
            match supervisor.servers.get_mut(index) {
                Some(server) if slot != server.slot => {
                    crate::lifecycle::other_version_fault(server, slot, message)
                }
                Some(server) => {
                    if server.other.is_some() {
                        server.probation_faults = server.probation_faults.saturating_add(1);
                    }
                    if handle_fault(server, message) {
                        restart_server(server, index, &mut *restart);
                    }
                }
                None => {
                    warn!(
                        "supervisor: fault message with label {} and unknown badge {badge:#x}; \
                         answering with an error",
                        message.label()
                    );
                    let _ = reply(MessageInfo::new(Error::IllegalOperation as u64, 0, 0));
                }
            }
            continue;
        }
        let words = message.length().min(MSG_WORDS);
        for (i, word) in request[..words].iter_mut().enumerate() {
            *word = get_mr(i);
        }
        let mut caller = Caller::new(badge, None);
        let interface = ipc_schema::Label::from_u64(message.label()).map(|l| l.interface);
        // Campaign images also serve `campaign::v1` on this endpoint.
        let campaign = campaign_code.and_then(|code| {
            let mut campaign = crate::campaign::Campaign {
                servers: supervisor.servers,
                code,
            };
            crate::campaign::dispatch(
                &mut campaign,
                &mut caller,
                message.label(),
                &request[..words],
                &mut answer,
            )
        });
        let (label, reply_words) = if let Some(answered) = campaign {
            answered
        } else if interface == Some(inject::INTERFACE) {
            inject::dispatch(
                &mut supervisor,
                &mut caller,
                message.label(),
                &request[..words],
                &mut answer,
            )
        } else if interface == Some(ipc_schema::lifecycle::v1::INTERFACE) {
            let mut lifecycle = crate::lifecycle::Lifecycle {
                servers: supervisor.servers,
                versions: &mut *restart,
                caller_badge: badge,
            };
            ipc_schema::lifecycle::v1::dispatch(
                &mut lifecycle,
                &mut caller,
                message.label(),
                &request[..words],
                &mut answer,
            )
        } else if interface == Some(ipc_schema::patch::v1::INTERFACE)
            && let Some(patcher) = patcher.as_deref_mut()
        {
            let mut patches = crate::patch::Patches {
                servers: supervisor.servers,
                patcher,
            };
            ipc_schema::patch::v1::dispatch(
                &mut patches,
                &mut caller,
                message.label(),
                &request[..words],
                &mut answer,
            )
        } else if interface == Some(ipc_schema::snapshot::v1::INTERFACE) {
            let mut snapshots = crate::snapshots::Snapshots {
                servers: supervisor.servers,
            };
            ipc_schema::snapshot::v1::dispatch(
                &mut snapshots,
                &mut caller,
                message.label(),
                &request[..words],
                &mut answer,
            )
        } else {
            v1::dispatch(
                &mut supervisor,
                &mut caller,
                message.label(),
                &request[..words],
                &mut answer,
            )
        };
        let reply_words = reply_words.min(MSG_WORDS);
        for (i, &word) in answer[..reply_words].iter().enumerate() {
            set_mr(i, word);
        }
        if let Err(e) = reply(MessageInfo::new(label, 0, reply_words)) {
            warn!("supervisor: cannot answer badge {badge:#x}: {e}");
        }
    }
}

/// Replaces a server that keeps aborting with a fresh one built from its image: a new
/// generation. Its state is lost; callers keep their capabilities (the endpoints are the root
/// task's) and reach the new server. Requests still queued for the old generation are answered
/// `Restarted` first, so that no caller mistakes the new server for the one it was talking to.
fn restart_server(server: &mut Supervised, index: usize, restart: Restart) {
    let name = server.name.clone();
    if crate::snapshots::restorable(server) {
        match crate::snapshots::restore(server) {
            Ok((pages, point)) => {
                server.restarts += 1;
                let commits = server
                    .tx
                    .and_then(|tx| tx.status().ok())
                    .map_or(0, |s| s.commits);
                server.recovery.restarted_at(commits);
                server.stopped = false;
                server.disarm();
                warn!(
                    "'{name}' restarted from its snapshot (generation {}): {pages} pages, the \
                     state after {point} requests",
                    server.restarts
                );
                return;
            }
            Err(e) => warn!("'{name}': restore from its snapshot failed ({e}); using its image"),
        }
    }
    if let Some(old) = server.tcb {
        let _ = old.suspend();
    }
    let mut refused = 0u32;
    for endpoint in &server.endpoints {
        // Nobody receives on them now: take each queued request and answer it.
        while endpoint.nb_recv().is_ok() {
            if reply(MessageInfo::new(IpcError::Restarted.code(), 0, 0)).is_ok() {
                refused += 1;
            }
        }
    }
    server.disarm();
    match restart.restart(index, server.slot) {
        Some(rebuilt) => {
            server.tcb = Some(rebuilt.tcb);
            server.tx = rebuilt.tx;
            server.control = rebuilt.control;
            server.patch = rebuilt.patch;
            server.restarts += 1;
            server.recovery.restarted();
            server.stopped = false;
            warn!(
                "'{name}' restarted from its image (generation {}); its state is lost; {refused} \
                 queued requests answered Restarted",
                server.restarts
            );
        }
        None => {
            server.stopped = true;
            server.control = None;
            error!("'{name}' could not be restarted; it stays stopped");
        }
    }
}

/// ` / SECOND` after the first run's digest of a verify mismatch.
struct Second(Option<u64>);

impl core::fmt::Display for Second {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(d) => write!(f, " / {d:#x}"),
            None => Ok(()),
        }
    }
}

/// ` (injected: KIND)` after a fault's description when the fault was injected.
#[derive(Clone, Copy)]
struct Injected(Option<InjectKind>);

impl core::fmt::Display for Injected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(kind) => write!(f, " (injected: {})", kind.name()),
            None => Ok(()),
        }
    }
}

/// Handles a fault; returns whether the server should be restarted from its image.
fn handle_fault(server: &mut Supervised, message: MessageInfo) -> bool {
    let (pc, address, syndrome, flags) = (get_mr(0), get_mr(1), get_mr(2), get_mr(3));
    server.faults += 1;
    // An injected fault fires once: disarm it before the request is re-delivered.
    let what_injected = Injected(server.disarm());
    let name = server.name.as_str();
    let kind = FaultKind::from_u64(message.label());
    let what = kind.map_or("unknown fault kind", FaultKind::name);
    let status = server.tx.and_then(|tx| tx.status().ok().map(|s| (tx, s)));
    let view = status.map(|(_, s)| TxView {
        in_transaction: s.in_transaction,
        commits: s.commits,
    });
    let op = status.and_then(|(_, s)| ipc_schema::interfaces::find_op(s.request_label));
    let action = server
        .recovery
        .on_fault(view, op.is_some_and(|(_, op)| op.idempotent));
    if let (Some((_, status)), Action::Restart) = (status, action)
        && !status.in_transaction
    {
        warn!(
            "fault in '{name}': {what}{what_injected} at {address:#x} pc {pc:#x} between requests \
             (no transaction to roll back): it is restarted"
        );
        return true;
    }
    if let (Some((tx, status)), false) = (status, action == Action::Suspend) {
        let (redeliver, answer, outcome) = match action {
            Action::Redeliver => (true, IpcError::Aborted, "re-delivered"),
            Action::Restart => (false, IpcError::Restarted, "answered Restarted"),
            _ => (false, IpcError::Aborted, "answered Aborted"),
        };
        match tx.abort(redeliver, answer.code()) {
            Ok(pages) => {
                let op_name = op.map_or("?", |(_, op)| op.name);
                let place = match kind {
                    Some(FaultKind::Timeout) => "after",
                    // MR1 and MR2 are the two runs' digests.
                    Some(FaultKind::TxVerifyMismatch) => "with digests",
                    _ => "at",
                };
                let second =
                    Second((kind == Some(FaultKind::TxVerifyMismatch)).then_some(syndrome));
                warn!(
                    "fault in '{name}': {what}{what_injected} {place} {address:#x}{second} pc {pc:#x}; \
                     request {op_name} (label {:#x}) aborted and rolled back ({pages} pages \
                     restored, {} aborts in a row), {outcome}",
                    status.request_label, server.recovery.consecutive_aborts
                );
                if action == Action::Restart {
                    warn!(
                        "'{name}' aborted {} requests in a row (restart_after = {})",
                        server.recovery.consecutive_aborts, server.recovery.restart_after
                    );
                    return true;
                }
                return false;
            }
            Err(e) => {
                server.recovery.abort_failed();
                error!("supervisor: cannot abort the transaction of '{name}': {e}");
            }
        }
    }
    let access = if flags & FAULT_FLAG_INSTRUCTION != 0 {
        "instruction fetch"
    } else if flags & FAULT_FLAG_WRITE != 0 {
        "write"
    } else {
        "read"
    };
    let mapped = if flags & FAULT_FLAG_USER_MAPPING_PRESENT != 0 {
        ", mapped"
    } else {
        ""
    };
    match kind {
        Some(FaultKind::PageFault | FaultKind::InstructionFault | FaultKind::Alignment) => warn!(
            "fault in '{name}': {what}{what_injected} at {address:#x} pc {pc:#x} ({access}\
             {mapped}, syndrome {syndrome:#x}); thread suspended"
        ),
        Some(_) => warn!(
            "fault in '{name}': {what}{what_injected} pc {pc:#x} (syndrome {syndrome:#x}); \
             thread suspended"
        ),
        None => warn!(
            "fault in '{name}': {what} {} pc {pc:#x} (syndrome {syndrome:#x}); thread suspended",
            message.label()
        ),
    }
    // Not replying leaves the thread blocked; suspending it makes that explicit and lets a later
    // recovery policy restart it. The pending reply right is dropped by the next receive.
    server.stopped = true;
    match server.tcb {
        Some(tcb) => {
            if let Err(e) = tcb.suspend() {
                error!("supervisor: cannot suspend '{name}': {e}");
            }
        }
        None => error!("supervisor: fault from '{name}', which was never built"),
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schema::Local;
    use ipc_schema::testing::{Stub, dispatch_all};
    use v1::Client;

    fn name(s: &str) -> Name {
        Name::try_from(s).unwrap()
    }

    fn servers(n: usize) -> std::vec::Vec<Supervised> {
        (0..n)
            .map(|i| {
                let mut s = Supervised::new(
                    Name::try_from(std::format!("s{i}").as_str()).unwrap(),
                    Some(Cap::from_cptr(10 + i as u64)),
                    None,
                    3,
                );
                s.faults = i as u64;
                s
            })
            .collect()
    }

    /// A console that accepts every request.
    type StubConsole = Local<Stub>;

    /// Runs `f` with a client of a supervisor over `servers`, with a console if `console`.
    fn with<'a, R>(
        servers: &'a mut [Supervised],
        console: bool,
        f: impl FnOnce(&Client<&Local<Supervisor<'a, StubConsole>>>) -> R,
    ) -> R {
        let console =
            console.then(|| console::Client::new(Local::new(Stub::default(), dispatch_all)));
        let supervisor = Supervisor { servers, console };
        let local = Local::new(supervisor, v1::dispatch::<Supervisor<'a, StubConsole>>);
        f(&Client::new(&local))
    }

    #[test]
    fn faults_are_armed_in_the_control_words() {
        use axolotl_abi::PAGE_SIZE;
        // A page standing in for the root task's mapping of a server's info page.
        let mut page = std::vec![0u64; PAGE_SIZE / 8];
        let mut all = servers(3);
        all[0].control = Some(page.as_mut_ptr() as u64);
        all[2].stopped = true;
        all[2].control = all[0].control;
        let console = None::<console::Client<StubConsole>>;
        let local = Local::new(
            Supervisor {
                servers: &mut all,
                console,
            },
            inject::dispatch::<Supervisor<'_, StubConsole>>,
        );
        let c = inject::Client::new(&local);
        assert_eq!(c.armed(name("s0")), Ok(None));
        assert_eq!(c.arm(name("s0"), InjectKind::Wild), Ok(()));
        assert_eq!(c.armed(name("s0")), Ok(Some(InjectKind::Wild)));
        assert_eq!(
            c.arm(name("s0"), InjectKind::Null),
            Err(CallError::Op(InjectError::AlreadyArmed))
        );
        // No control mapping, stopped, unknown: refused, and nothing written.
        assert_eq!(
            c.arm(name("s1"), InjectKind::Null),
            Err(CallError::Op(InjectError::NotRunning))
        );
        assert_eq!(
            c.arm(name("s2"), InjectKind::Null),
            Err(CallError::Op(InjectError::NotRunning))
        );
        assert_eq!(
            c.arm(name("nope"), InjectKind::Null),
            Err(CallError::Op(InjectError::NoSuchServer))
        );
        let word = page[SERVER_CONTROL_OFFSET / 8 + CONTROL_INJECT];
        assert_eq!(InjectKind::from_code(word), Some(InjectKind::Wild));
        assert_eq!(page.iter().filter(|&&w| w != 0).count(), 1);
    }

    #[test]
    fn states_and_counts() {
        let mut s = Supervised::new(name("kv"), Some(Cap::from_cptr(5)), None, 3);
        assert_eq!(s.state(), ServerState::Running);
        s.faults = 2;
        s.recovery.aborts = u64::MAX;
        let status = s.status();
        assert_eq!(
            (
                status.name.as_str(),
                status.version,
                status.faults,
                status.aborts
            ),
            ("kv", 1, 2, u32::MAX)
        );
        assert_eq!((status.restarts, status.generation), (0, 0));
        s.stopped = true;
        assert_eq!(s.status().state, ServerState::Stopped);
        let never_built = Supervised::new(name("x"), None, None, 3);
        assert_eq!(never_built.state(), ServerState::Stopped);
    }

    #[test]
    fn list_pages_in_image_order() {
        let mut all = servers(3);
        all[1].stopped = true;
        with(&mut all, false, |c| {
            let page = c.list(0).unwrap();
            let names: std::vec::Vec<&str> = page.servers.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["s0", "s1", "s2"]);
            assert_eq!(page.servers[1].state, ServerState::Stopped);
            assert_eq!(page.servers[2].faults, 2);
            assert_eq!(page.next, None);
            let page = c.list(2).unwrap();
            assert_eq!((page.servers.len(), page.next), (1, None));
            assert_eq!(page.servers[0].name, "s2");
            let page = c.list(u16::MAX).unwrap();
            assert!(page.servers.is_empty() && page.next.is_none());
        });
        // More servers than a page: the cursor leads on.
        let mut many = servers(LIST_PAGE + 2);
        with(&mut many, false, |c| {
            let first = c.list(0).unwrap();
            assert_eq!(
                (first.servers.len(), first.next),
                (LIST_PAGE, Some(LIST_PAGE as u16))
            );
            let second = c.list(first.next.unwrap()).unwrap();
            assert_eq!((second.servers.len(), second.next), (2, None));
            assert_eq!(
                second.servers[1].name,
                std::format!("s{}", LIST_PAGE + 1).as_str()
            );
        });
    }

    #[test]
    fn status_by_name() {
        let mut all = servers(2);
        with(&mut all, false, |c| {
            assert_eq!(c.status(name("s1")).unwrap().faults, 1);
            assert_eq!(
                c.status(name("nope")),
                Err(CallError::Op(SupervisorError::NoSuchServer))
            );
        });
    }

    #[test]
    fn log_levels_go_to_the_console() {
        let mut all = servers(2);
        with(&mut all, false, |c| {
            assert_eq!(
                c.set_log_level(name("s0"), LogLevel::Debug),
                Err(CallError::Op(SupervisorError::NotPermitted))
            );
            assert_eq!(
                c.set_log_level(name("nope"), LogLevel::Debug),
                Err(CallError::Op(SupervisorError::NoSuchServer))
            );
        });
        with(&mut all, true, |c| {
            assert_eq!(c.set_log_level(name("s1"), LogLevel::Off), Ok(()));
            assert_eq!(
                c.set_log_level(name("nope"), LogLevel::Off),
                Err(CallError::Op(SupervisorError::NoSuchServer))
            );
        });
    }

    #[test]
    fn a_full_page_fits_one_message() {
        let mut all: std::vec::Vec<Supervised> = (0..LIST_PAGE)
            .map(|i| {
                let mut s = Supervised::new(
                    Name::try_from(std::format!("{i:0>23}").as_str()).unwrap(),
                    None,
                    None,
                    3,
                );
                s.faults = u64::MAX;
                s.recovery.aborts = u64::MAX;
                s
            })
            .collect();
        with(&mut all, false, |c| {
            assert_eq!(c.list(0).unwrap().servers.len(), LIST_PAGE);
        });
    }
}
