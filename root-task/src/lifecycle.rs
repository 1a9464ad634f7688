//! `lifecycle::v1`, the supervisor's side: the versions of a server during a live upgrade.
//!
//! The supervisor only keeps records and builds and frees versions; it never calls a server (a
//! server that faulted while the single-threaded supervisor waited for it would deadlock it). The
//! image's upgrader (`servers/upgrader`) makes the blocking `upgrade::v1` calls and drives these
//! ops; nobody else may (`NotPermitted`).
//!
//! | op | from | to | what the supervisor does |
//! |---|---|---|---|
//! | `prepare` | no other version | `Prepared` | builds the program in the free slot (fresh Untyped, same service endpoints, the slot's control endpoint, `upgrade_import`), starts it |
//! | `switch` | `Prepared` | `OldOnProbation` | the new version becomes the serving one in its records (faults, `ps`, injection, restarts); version + 1 |
//! | `revert` | `OldOnProbation` | `Reverted` | the old version is the serving one again |
//! | `commit` | `OldOnProbation` | none | frees the old version |
//! | `discard` | `Prepared`, `Reverted` | none | frees the version that is not serving |
//! | `probation` | any | | the serving version's faults since `switch` |
//! | `carry_caps` | `Prepared`, `OldOnProbation` | same | the other version's boot-empty CNode slots become copies of the serving version's (`Versions::carry_caps`) |
//!
//! Faults of the version that is not serving (a new one failing during its import, the frozen old
//! one) are counted ([`other_version_fault`]): a fault inside a request aborts its transaction and
//! answers the caller (the upgrader) `Aborted`, so the upgrader sees it and rolls back; any other
//! fault suspends that version. Either way the serving version is untouched.

use crate::policy::Recovery;
use crate::supervisor::{OtherStage, OtherVersion, Supervised, Versions};
use axolotl_abi::{FaultKind, MessageInfo};
use axolotl_rt::get_mr;
use ipc_schema::interfaces::common::Name;
use ipc_schema::lifecycle::v1::{self, LifecycleError, Prepared, Probation, Program, Report};
use ipc_schema::{Caller, IpcError};
use log::{info, warn};

/// `lifecycle::v1` over the supervised servers, for one request from `caller_badge`.
pub struct Lifecycle<'a> {
    pub servers: &'a mut [Supervised],
    pub versions: &'a mut dyn Versions,
    pub caller_badge: u64,
}

impl Lifecycle<'_> {
    /// The server named `name`, if the caller is the image's upgrader.
    fn server(&mut self, name: &str) -> Result<(usize, &mut Supervised), LifecycleError> {
        find(self.servers, self.caller_badge, name)
    }
}

fn find<'s>(
    servers: &'s mut [Supervised],
    caller_badge: u64,
    name: &str,
) -> Result<(usize, &'s mut Supervised), LifecycleError> {
    let upgrader = servers.iter().position(|s| s.upgrader);
    if upgrader.map(axolotl_rt::server_info::call_badge) != Some(caller_badge) {
        return Err(LifecycleError::NotPermitted);
    }
    let index = servers
        .iter()
        .position(|s| s.name == name)
        .ok_or(LifecycleError::NoSuchServer)?;
    let server = &mut servers[index];
    if !server.upgradable {
        return Err(LifecycleError::NotUpgradable);
    }
    Ok((index, server))
}

/// Sets the upgrader's priority: its image priority while it drives an upgrade (so that its
/// phases are not interleaved with its clients' time slices, which would stretch the blackout),
/// up to and including the `serve` that ends the blackout; or, once it asks `probation` a second
/// time with no fault come (an upgrader without a timer polls it through the window), the lowest
/// priority of the other servers, so that it yields to everyone who must keep running meanwhile.
/// An upgrader that sleeps on the timer asks once, at the window's end, and keeps its priority
/// to commit (lowered, it would wait behind the clients' time slices). The root task may raise a
/// thread's priority again; the upgrader could not.
fn upgrader_priority(servers: &[Supervised], probation: bool) {
    let Some(upgrader) = servers.iter().find(|s| s.upgrader) else {
        return;
    };
    let priority = if probation {
        servers
            .iter()
            .filter(|s| !s.upgrader && s.tcb.is_some())
            .map(|s| s.priority)
            .min()
            .unwrap_or(upgrader.priority)
            .min(upgrader.priority)
    } else {
        upgrader.priority
    };
    if let Some(tcb) = upgrader.tcb {
        let _ = tcb.set_priority(priority);
    }
}

/// Exchanges the serving version's records with the other version's.
fn swap(server: &mut Supervised) -> Option<()> {
    let other = server.other.as_mut()?;
    let tcb = server.tcb.replace(other.tcb)?;
    other.tcb = tcb;
    core::mem::swap(&mut server.tx, &mut other.tx);
    core::mem::swap(&mut server.control, &mut other.control);
    core::mem::swap(&mut server.slot, &mut other.slot);
    core::mem::swap(&mut server.version, &mut other.version);
    if let Some(program) = server.upgrades.first_mut() {
        core::mem::swap(program, &mut other.program);
    }
    // A fault armed for the version that served was disarmed by the caller.
    server.armed = None;
    server.recovery = Recovery::new(server.recovery.restart_after);
    server.stopped = false;
    server.probation_faults = 0;
    server.other_faults = 0;
    Some(())
}

impl v1::Server for Lifecycle<'_> {
    fn prepare(
        &mut self,
        _: &mut Caller,
        name: Name,
        program: Program,
    ) -> Result<Prepared, LifecycleError> {
        let (index, server) = self.server(&name)?;
        if !server
            .upgrades
            .iter()
            .any(|p| p.as_str() == program.as_str())
        {
            return Err(LifecycleError::NotAnUpgrade);
        }
        if server.other.is_some() || server.tcb.is_none() || server.stopped {
            return Err(LifecycleError::WrongStep);
        }
        let slot = 1 - (server.slot & 1);
        let Some(built) = self.versions.build_version(index, slot, &program) else {
            return Err(LifecycleError::BuildFailed);
        };
        let server = &mut self.servers[index];
        let version = server.version + 1;
        server.other = Some(OtherVersion {
            tcb: built.tcb,
            tx: built.tx,
            control: built.control,
            slot,
            version,
            program: axolotl_image::ProgramName::try_from(program.as_str()).unwrap_or_default(),
            stage: OtherStage::Prepared,
            polled: false,
        });
        server.other_faults = 0;
        info!(
            "'{name}': version {version} ({program}) prepared in slot {slot}; version {} ({}) \
             serves",
            server.version,
            server.program()
        );
        let prepared = Prepared {
            version,
            slot,
            serving_slot: server.slot,
            serving_version: server.version,
        };
        upgrader_priority(self.servers, false);
        Ok(prepared)
    }

    fn switch(&mut self, _: &mut Caller, name: Name) -> Result<u32, LifecycleError> {
        let (_, server) = self.server(&name)?;
        if server.other.as_ref().map(|o| o.stage) != Some(OtherStage::Prepared) {
            return Err(LifecycleError::WrongStep);
        }
        // The fault word of the version that served is its own page's: disarm it.
        server.disarm();
        swap(server).ok_or(LifecycleError::WrongStep)?;
        if let Some(other) = server.other.as_mut() {
            other.stage = OtherStage::OldOnProbation;
        }
        info!(
            "'{name}': version {} ({}) is the serving one; version {} kept frozen for probation",
            server.version,
            server.program(),
            server.other.as_ref().map_or(0, |o| o.version)
        );
        Ok(server.version)
    }

    fn revert(&mut self, _: &mut Caller, name: Name) -> Result<u32, LifecycleError> {
        let (_, server) = self.server(&name)?;
        if server.other.as_ref().map(|o| o.stage) != Some(OtherStage::OldOnProbation) {
            return Err(LifecycleError::WrongStep);
        }
        server.disarm();
        swap(server).ok_or(LifecycleError::WrongStep)?;
        if let Some(other) = server.other.as_mut() {
            other.stage = OtherStage::Reverted;
        }
        warn!(
            "'{name}': reverted to version {} ({})",
            server.version,
            server.program()
        );
        let version = server.version;
        upgrader_priority(self.servers, false);
        Ok(version)
    }

    fn commit(&mut self, _: &mut Caller, name: Name) -> Result<(), LifecycleError> {
        let (index, server) = find(self.servers, self.caller_badge, &name)?;
        match &server.other {
            Some(o) if o.stage == OtherStage::OldOnProbation => {}
            _ => return Err(LifecycleError::WrongStep),
        }
        let freed = free_other(index, server, self.versions);
        upgrader_priority(self.servers, false);
        freed
    }

    fn discard(&mut self, _: &mut Caller, name: Name) -> Result<(), LifecycleError> {
        let (index, server) = find(self.servers, self.caller_badge, &name)?;
        match &server.other {
            Some(o) if matches!(o.stage, OtherStage::Prepared | OtherStage::Reverted) => {}
            _ => return Err(LifecycleError::WrongStep),
        }
        let freed = free_other(index, server, self.versions);
        upgrader_priority(self.servers, false);
        freed
    }

    fn probation(&mut self, _: &mut Caller, name: Name) -> Result<Probation, LifecycleError> {
        let (_, server) = self.server(&name)?;
        let probation = Probation {
            version: server.version,
            faults: server.probation_faults,
            other_faults: server.other_faults,
        };
        // Polling: below the clients; a fault: a rollback follows, driven at full priority.
        let polling = server
            .other
            .as_mut()
            .is_some_and(|o| core::mem::replace(&mut o.polled, true));
        upgrader_priority(self.servers, polling && probation.faults == 0);
        Ok(probation)
    }

    fn upgrade(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: Program,
        _: bool,
    ) -> Result<Report, LifecycleError> {
        // The upgrader runs upgrades; the supervisor never blocks on a server.
        Err(LifecycleError::NotHere)
    }

    /// Forward (the new version `Prepared`, the old one serving and frozen) and when a rollback
    /// carries the state back (the old version `OldOnProbation`, the new one serving and
    /// frozen): the capabilities go where the state goes. The source keeps its own; the copies
    /// go with their version's Untyped when it is freed.
    fn carry_caps(&mut self, _: &mut Caller, name: Name) -> Result<u32, LifecycleError> {
        let (index, server) = self.server(&name)?;
        // A version just built has nothing in those slots; the old one on probation has its own.
        let (to, clear) = match &server.other {
            Some(o) if o.stage == OtherStage::Prepared => (o.slot, false),
            Some(o) if o.stage == OtherStage::OldOnProbation => (o.slot, true),
            _ => return Err(LifecycleError::WrongStep),
        };
        let from = server.slot;
        self.versions
            .carry_caps(index, from, to, clear)
            .ok_or(LifecycleError::WrongStep)
    }
}

/// Frees `server`'s version that is not serving.
fn free_other(
    index: usize,
    server: &mut Supervised,
    versions: &mut dyn Versions,
) -> Result<(), LifecycleError> {
    let other = server.other.take().ok_or(LifecycleError::WrongStep)?;
    let _ = other.tcb.suspend();
    if !versions.free_version(index, other.slot) {
        warn!(
            "'{}': version {} could not be freed",
            server.name, other.version
        );
    }
    Ok(())
}

/// A fault of server `server`'s version in `slot`, which is not the serving one: counted, its
/// request (if any) aborted and answered `Aborted` (never re-delivered: its caller is the
/// upgrader, which rolls back), or the thread suspended.
pub fn other_version_fault(server: &mut Supervised, slot: u8, message: MessageInfo) {
    let (pc, address) = (get_mr(0), get_mr(1));
    let what = FaultKind::from_u64(message.label()).map_or("unknown fault kind", FaultKind::name);
    let name = server.name.clone();
    server.other_faults = server.other_faults.saturating_add(1);
    let Some(other) = server.other.as_ref().filter(|o| o.slot == slot) else {
        warn!("fault in '{name}' slot {slot}, which holds no version: {what} pc {pc:#x}");
        return;
    };
    let in_request = other
        .tx
        .and_then(|tx| tx.status().ok().map(|s| (tx, s)))
        .filter(|(_, s)| s.in_transaction);
    if let Some((tx, _)) = in_request
        && let Ok(pages) = tx.abort(false, IpcError::Aborted.code())
    {
        warn!(
            "fault in '{name}' version {} (not serving): {what} at {address:#x} pc {pc:#x}; its \
             request aborted ({pages} pages restored), answered Aborted",
            other.version
        );
        return;
    }
    let _ = other.tcb.suspend();
    warn!(
        "fault in '{name}' version {} (not serving): {what} at {address:#x} pc {pc:#x}; thread \
         suspended",
        other.version
    );
}
