//! The upgrader's program (bare metal): serves `lifecycle::v1::upgrade` on its endpoint and runs
//! each upgrade through the K42 mediator's phases, logging the transcript.
//!
//! One upgrade, step by step (`docs/ARCHITECTURE.md`, "Live upgrade"):
//!
//! 1. `lifecycle::prepare` (supervisor): the new version is built in the free slot and waits on
//!    that slot's control endpoint.
//! 2. **negotiate**: `upgrade::formats` of the old version (service endpoint, badge 0: queued
//!    behind client calls like any request) and of the new one (its control endpoint);
//!    `upgrade::negotiate`. No common format: `discard`, refused, nothing changed.
//! 3. **forward**: `freeze` through the service endpoint, queued behind the calls in flight; when
//!    it is answered the old version is between two transactions and no request is in flight.
//! 4. **block**: the old version receives only on its control endpoint; clients' calls queue on
//!    the service endpoint. `lifecycle::carry_caps`: the capabilities the old version filled its
//!    own CNode with are copied into the new one's at the same slots (the state names them).
//!    `export` at offset 0 encodes the state.
//! 5. **transfer**: chunks of up to 896 bytes: `export` from the old control endpoint, `import`
//!    into the new one; the last decodes, migrates and checks. `ImportFailed`: the old version is
//!    told `serve`, the new one discarded.
//! 6. **complete**: `lifecycle::switch` (the supervisor's records now name the new version),
//!    then `serve` on the new version: the queued calls go on.
//! 7. **probation**: the upgrader sleeps through the window on the timer (a deadline and a wait
//!    on its notification: it blocks, so it takes no processor time from the clients), then asks
//!    `lifecycle::probation`; without a timer in the image it polls `probation` for the window
//!    instead (the supervisor then runs it at its clients' priority). The window ends with a
//!    health check (`formats` through the service endpoint: the new version serves one request
//!    of the upgrader's even if no client called). A fault of the new version
//!    (each is handled by the supervisor's recovery policy, its request re-delivered) rolls back:
//!    freeze the new version, carry its state and then its capabilities back if the old version
//!    imports a format the new one exports, `revert`, `serve` the old one, `discard` the new one.
//!    Otherwise `commit`: the old version is freed.
//!
//! Every phase change is stamped with the counter (instructions under `-icount`).

use crate::transcript::{Lengths, OutcomeText};
use axolotl_rt::ipc_transport::serve;
use axolotl_rt::server_info::UpgradableEntry;
use axolotl_rt::{Cap, Endpoint, ServerInfo};
use ipc_schema::interfaces::common::Name;
use ipc_schema::lifecycle::v1::{
    self as lifecycle, LifecycleError, Outcome, Prepared, Probation, Program, Report,
};
use ipc_schema::upgrade::v1::{self as up, Formats, UpgradeError};
use ipc_schema::{CallError, Caller, inject};
use log::{error, info, warn};
use timer::alarm::{Alarm, AlarmError};
use upgrade::format::Listed;
use upgrade::{Advertised, Event, FormatSet, Mediator, Phase, negotiate};

type Up = up::Client<Cap<Endpoint>>;
type Life = lifecycle::Client<Cap<Endpoint>>;

/// The upgrader: what it was given.
struct Upgrader {
    server: &'static ServerInfo,
    life: Life,
    inject: inject::v1::Client<Cap<Endpoint>>,
    /// Counter ticks of the probation window.
    probation_ticks: u64,
    /// What it sleeps on through a probation window; `None`: it polls.
    alarm: Option<Alarm>,
}

/// The badge of the upgrader's wake-up notification as the timer holds it.
const WAKE_BADGE: u64 = 1;

pub fn main(server: &'static ServerInfo) {
    let (Some(endpoint), Some(supervisor)) = (
        server.endpoint(crate::ENDPOINT),
        server.client("supervisor"),
    ) else {
        error!("upgrader: needs its endpoint 'upgrader' and calls = [\"supervisor\"]");
        return;
    };
    // 10 ms of counter ticks (at least a million).
    let probation_ticks = (server.counter_frequency / 100).max(1_000_000);
    let alarm = match server.client("timer") {
        None => Err(AlarmError::NotGranted),
        Some(t) => Alarm::new(server, ipc_schema::timer::v1::Client::new(t), WAKE_BADGE),
    };
    match &alarm {
        Ok(_) => info!("upgrader: probation windows are a blocking wait on the timer"),
        Err(e) => warn!(
            "upgrader: no timer to sleep on ({e}): probation windows poll (the image should \
             grant calls = [\"timer\"], untyped_bits and own_cnode)"
        ),
    }
    let mut upgrader = Upgrader {
        server,
        life: lifecycle::Client::new(supervisor),
        inject: inject::v1::Client::new(supervisor),
        probation_ticks,
        alarm: alarm.ok(),
    };
    for u in server.upgradables() {
        info!("upgrader: can upgrade '{}'", u.name());
    }
    let e = serve(endpoint, None, |caller, label, request, reply| {
        lifecycle::dispatch(&mut upgrader, caller, label, request, reply)
    });
    error!("upgrader: receive failed: {e}");
}

fn now() -> u64 {
    axolotl_rt::time::counter()
}

/// Applies `event` to the mediator at the current time (an illegal event is a bug here: logged).
fn step(m: &mut Mediator, event: Event) -> Phase {
    match m.on(event, now()) {
        Ok(phase) => phase,
        Err(e) => {
            error!("upgrader: mediator: {e}");
            m.phase()
        }
    }
}

fn report(m: &Mediator, outcome: Outcome, version: u32, chunks: u32) -> Report {
    let l = m.lengths();
    Report {
        outcome,
        version,
        format: m.format().map(|f| f.0),
        state_bytes: m.state_bytes(),
        lengths: [l.forward, l.block, l.transfer, l.complete].map(|x| x.unwrap_or(0)),
        blackout: m.blackout().unwrap_or(0),
        blocked_at: m.blocked_at().unwrap_or(0),
        total: m.total(),
        chunks,
    }
}

fn advertised<'a>(name: &'a str, version: u32, f: &'a Formats) -> Advertised<'a> {
    Advertised {
        name,
        version: u8::try_from(version).unwrap_or(u8::MAX),
        export: FormatSet(f.export),
        import: FormatSet(f.import),
        preference: &f.preference,
    }
}

/// A call that failed: logged, and the upgrade's error.
fn failed<E: core::fmt::Display>(what: &str, e: CallError<E>) -> LifecycleError {
    error!("upgrader: {what} failed: {e}");
    LifecycleError::UpgradeFailed
}

/// Moves the state in `format` from `from` (frozen, its control endpoint) to `to` (frozen or
/// importing, its control endpoint): export chunks and import them in order. Returns the
/// state's length and the chunks moved; the mediator hears `Exported` after the first export.
fn transfer(
    from: &Up,
    to: &Up,
    format: u8,
    mut m: Option<&mut Mediator>,
) -> Result<(u32, u32), CallError<UpgradeError>> {
    let mut offset = 0u32;
    let mut chunks = 0u32;
    loop {
        let chunk = from.export(format, offset)?;
        chunks += 1;
        if offset == 0
            && let Some(m) = m.as_deref_mut()
        {
            step(m, Event::Exported { bytes: chunk.total });
        }
        let len = chunk.bytes.len() as u32;
        let last = offset + len >= chunk.total;
        to.import(format, offset, chunk.bytes, last)?;
        chunks += 1;
        offset += len;
        if last {
            return Ok((chunk.total, chunks));
        }
        if len == 0 {
            return Err(CallError::Op(UpgradeError::BadOffset));
        }
    }
}

impl Upgrader {
    fn run(
        &mut self,
        name: &Name,
        program: &Program,
        fault_in_probation: bool,
    ) -> Result<Report, LifecycleError> {
        let entry: UpgradableEntry = *self
            .server
            .upgradable(name)
            .ok_or(LifecycleError::NotUpgradable)?;
        let mut m = Mediator::new(now());
        info!("upgrade {name} -> {program}: starting");
        let p: Prepared = self
            .life
            .prepare(name.clone(), program.clone())
            .map_err(|e| {
                warn!("upgrade {name} -> {program}: the supervisor refused to prepare it: {e}");
                match e {
                    CallError::Op(e) => e,
                    _ => LifecycleError::UpgradeFailed,
                }
            })?;
        let (Some(old_control), Some(new_control)) =
            (entry.control(p.serving_slot), entry.control(p.slot))
        else {
            let _ = self.life.discard(name.clone());
            return Err(LifecycleError::NotUpgradable);
        };
        let service = up::Client::new(entry.service());
        let old = up::Client::new(old_control);
        let new = up::Client::new(new_control);
        info!(
            "upgrade {name}: version {} ({program}) built in a fresh address space (slot {}), \
             waiting for its state; version {} serves",
            p.version, p.slot, p.serving_version
        );

        // Negotiate.
        let formats = service
            .formats()
            .map_err(|e| failed("formats of the old version", e))
            .and_then(|o| {
                new.formats()
                    .map(|n| (o, n))
                    .map_err(|e| failed("formats of the new version", e))
            });
        let (old_formats, new_formats) = match formats {
            Ok(f) => f,
            Err(e) => {
                let _ = self.life.discard(name.clone());
                return Err(e);
            }
        };
        let old_ad = advertised(name, p.serving_version, &old_formats);
        let new_ad = advertised(name, p.version, &new_formats);
        let agreement = match negotiate(old_ad, new_ad, &[]) {
            Ok(a) => a,
            Err(refusal) => {
                warn!("upgrade {name}: {refusal}");
                step(&mut m, Event::NoCommonFormat);
                let _ = self.life.discard(name.clone());
                info!(
                    "upgrade {name}: the new version discarded; version {} still serves",
                    p.serving_version
                );
                return Ok(self.finish(name, program, &m, Outcome::Refused, p.serving_version, 0));
            }
        };
        let format = agreement.format.0;
        info!(
            "upgrade {name}: negotiate: v{} exports {}, v{} imports {} (preferring {:?}): \
             agreed on state format {format} ({})",
            p.serving_version,
            Listed(old_ad.export),
            p.version,
            Listed(new_ad.import),
            new_formats.preference.as_slice(),
            match agreement.transfer {
                upgrade::Transfer::ByReference => "by reference",
                upgrade::Transfer::Encoded => "encoded with postcard, migrated by the new version",
            }
        );
        step(&mut m, Event::Agreed(agreement.format));

        // Forward: the freeze waits behind the requests in flight.
        if let Err(e) = service.freeze() {
            let e = failed("freeze of the old version", e);
            step(&mut m, Event::Cancel);
            let _ = self.life.discard(name.clone());
            step(
                &mut m,
                Event::OldResumed {
                    state_carried_back: false,
                },
            );
            let _ = e;
            return Ok(self.finish(name, program, &m, Outcome::Cancelled, p.serving_version, 0));
        }
        step(
            &mut m,
            Event::InFlight {
                count: 0,
                at_boundary: true,
            },
        );
        info!(
            "upgrade {name}: forward: the old version finished its requests in flight and froze at a transaction boundary; new calls queue"
        );

        // Block + transfer: the capabilities the old version keeps in its own CNode first (the
        // state names their slots), then the state.
        let moved = self
            .carry_caps(name)
            .and_then(|()| transfer(&old, &new, format, Some(&mut m)));
        let chunks = match moved {
            Ok((bytes, chunks)) => {
                info!(
                    "upgrade {name}: transfer: {bytes} bytes in {chunks} chunks; the new version imported them"
                );
                step(&mut m, Event::Imported);
                chunks
            }
            Err(e) => {
                let import_failed = matches!(e, CallError::Op(UpgradeError::ImportFailed));
                warn!("upgrade {name}: transfer failed: {e}");
                if m.phase() == Phase::Block {
                    // The export itself failed: nothing reached the new version.
                    step(&mut m, Event::Cancel);
                } else if import_failed {
                    step(&mut m, Event::ImportFailed);
                } else {
                    step(&mut m, Event::Cancel);
                }
                let resumed = old.serve();
                step(
                    &mut m,
                    Event::OldResumed {
                        state_carried_back: false,
                    },
                );
                if let Err(e) = resumed {
                    error!("upgrade {name}: the old version did not resume: {e}");
                }
                let _ = self.life.discard(name.clone());
                let outcome = if import_failed {
                    Outcome::ImportFailed
                } else {
                    Outcome::Cancelled
                };
                return Ok(self.finish(name, program, &m, outcome, p.serving_version, 0));
            }
        };

        // Complete.
        let switched = self.life.switch(name.clone());
        let served = switched.map_err(|e| failed("switch", e)).and_then(|_| {
            new.serve()
                .map_err(|e| failed("serve of the new version", e))
        });
        if served.is_err() {
            step(&mut m, Event::Cancel);
            let _ = self.life.revert(name.clone());
            let _ = old.serve();
            step(
                &mut m,
                Event::OldResumed {
                    state_carried_back: false,
                },
            );
            let _ = self.life.discard(name.clone());
            return Ok(self.finish(
                name,
                program,
                &m,
                Outcome::Cancelled,
                p.serving_version,
                chunks,
            ));
        }
        step(&mut m, Event::Serving);
        info!(
            "upgrade {name}: complete: version {} serves on the same endpoint; the queued calls go on",
            p.version
        );

        // Probation.
        if fault_in_probation {
            match self.inject.arm(name.clone(), inject::v1::FaultKind::Null) {
                Ok(()) => info!(
                    "upgrade {name}: probation drill: a null dereference armed in version {}'s next request",
                    p.version
                ),
                Err(e) => warn!("upgrade {name}: probation drill not armed: {e}"),
            }
        }
        let probation = self.probation(name, &service);
        if probation.faults == 0 {
            step(&mut m, Event::ProbationElapsed);
            if let Err(e) = self.life.commit(name.clone()) {
                error!("upgrade {name}: commit failed: {e}");
            }
            info!(
                "upgrade {name}: probation over without a fault; committed: the old version's memory is freed"
            );
            return Ok(self.finish(name, program, &m, Outcome::Committed, p.version, chunks));
        }

        // Rollback: the new version faulted.
        step(&mut m, Event::NewFaulted);
        warn!(
            "upgrade {name}: the new version faulted {} time(s) during probation: rolling back",
            probation.faults
        );
        let carried_back = self.carry_back(name, &service, &new, &old, &new_formats, &old_formats);
        let reverted = self.life.revert(name.clone());
        if let Err(e) = old.serve() {
            error!("upgrade {name}: the old version did not resume: {e}");
        }
        step(
            &mut m,
            Event::OldResumed {
                state_carried_back: carried_back,
            },
        );
        let _ = self.life.discard(name.clone());
        let version = reverted.unwrap_or(p.serving_version);
        Ok(self.finish(
            name,
            program,
            &m,
            Outcome::FaultedInProbation { carried_back },
            version,
            chunks,
        ))
    }

    /// Waits out the probation window of `name`'s new version and returns what the supervisor
    /// saw meanwhile: blocked on the timer if it can (a fault rolls back at the window's end;
    /// the recovery policy has re-delivered the faulted request meanwhile), else polling
    /// `probation` (a fault ends the window at once). The window ends with a health check: one
    /// request of the upgrader's own (`formats`, through the service endpoint) that the new
    /// version must serve, so a window in which no client happened to call (a loaded host, an
    /// idle service) still runs the new version's request path once before the commit.
    fn probation(&self, name: &Name, service: &Up) -> Probation {
        let ask = || {
            self.life.probation(name.clone()).unwrap_or_else(|e| {
                warn!("upgrade {name}: probation: {e}");
                Probation::default()
            })
        };
        let health_check = || {
            if let Err(e) = service.formats() {
                warn!("upgrade {name}: probation: the health check failed: {e}");
            }
            ask()
        };
        let start = now();
        if let Some(alarm) = &self.alarm {
            match alarm.sleep(self.probation_ticks) {
                Ok(_) => return health_check(),
                Err(e) => warn!("upgrade {name}: sleeping on the timer failed ({e:?}): polling"),
            }
        }
        while now().wrapping_sub(start) < self.probation_ticks {
            let probation = ask();
            if probation.faults > 0 {
                return probation;
            }
            axolotl_rt::syscall::yield_now();
        }
        health_check()
    }

    /// Freezes the new version (through the service endpoint, badge 0) and moves its state back
    /// to the frozen old version if the old one imports a format the new one exports. Whether
    /// it did.
    fn carry_back(
        &self,
        name: &Name,
        service: &Up,
        new: &Up,
        old: &Up,
        new_formats: &Formats,
        old_formats: &Formats,
    ) -> bool {
        if let Err(e) = service.freeze() {
            warn!(
                "upgrade {name}: rollback: the new version did not freeze ({e}); the old version resumes with the state it was frozen with"
            );
            return false;
        }
        let back = negotiate(
            advertised(name, 0, new_formats),
            advertised(name, 0, old_formats),
            &[],
        );
        let Ok(agreement) = back else {
            info!(
                "upgrade {name}: rollback: no format to carry the state back; the old version resumes with the state it was frozen with"
            );
            return false;
        };
        // The state first: should it fail, the old version keeps its own capabilities, which
        // match the state it was frozen with.
        match transfer(new, old, agreement.format.0, None).and_then(|moved| {
            self.carry_caps(name)?;
            Ok(moved)
        }) {
            Ok((bytes, _)) => {
                info!(
                    "upgrade {name}: rollback: the new version's state carried back ({bytes} bytes, format {})",
                    agreement.format.0
                );
                true
            }
            Err(e) => {
                warn!(
                    "upgrade {name}: rollback: carrying the state back failed ({e}); the old version resumes with the state it was frozen with"
                );
                false
            }
        }
    }

    /// `lifecycle::carry_caps`: the serving version's capabilities into the other's CNode.
    fn carry_caps(&self, name: &Name) -> Result<(), CallError<UpgradeError>> {
        match self.life.carry_caps(name.clone()) {
            Ok(0) => Ok(()),
            Ok(n) => {
                info!("upgrade {name}: {n} capabilities carried to the other version's CNode");
                Ok(())
            }
            Err(e) => {
                error!("upgrade {name}: carrying the capabilities failed: {e}");
                Err(CallError::Op(UpgradeError::WrongMode))
            }
        }
    }

    fn finish(
        &self,
        name: &Name,
        program: &Program,
        m: &Mediator,
        outcome: Outcome,
        version: u32,
        chunks: u32,
    ) -> Report {
        let r = report(m, outcome, version, chunks);
        info!("upgrade {name} -> {program}: {}", OutcomeText(outcome));
        if let Some(f) = r.format {
            info!(
                "upgrade {name}: state format {f}, {} bytes, {} chunks",
                r.state_bytes, r.chunks
            );
        }
        info!("upgrade {name}: phases (instructions): {}", Lengths(&r));
        info!(
            "upgrade {name}: blackout {} instructions (block to serving again), total {} instructions; version {} serves",
            r.blackout, r.total, r.version
        );
        r
    }
}

impl lifecycle::Server for Upgrader {
    fn prepare(&mut self, _: &mut Caller, _: Name, _: Program) -> Result<Prepared, LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn switch(&mut self, _: &mut Caller, _: Name) -> Result<u32, LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn revert(&mut self, _: &mut Caller, _: Name) -> Result<u32, LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn commit(&mut self, _: &mut Caller, _: Name) -> Result<(), LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn discard(&mut self, _: &mut Caller, _: Name) -> Result<(), LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn probation(&mut self, _: &mut Caller, _: Name) -> Result<Probation, LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn carry_caps(&mut self, _: &mut Caller, _: Name) -> Result<u32, LifecycleError> {
        Err(LifecycleError::NotHere)
    }

    fn upgrade(
        &mut self,
        _: &mut Caller,
        server: Name,
        program: Program,
        fault_in_probation: bool,
    ) -> Result<Report, LifecycleError> {
        self.run(&server, &program, fault_in_probation)
    }
}
