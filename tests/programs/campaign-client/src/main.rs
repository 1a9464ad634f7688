//! The workload client and oracle of a fault-injection campaign (`images/campaign.toml`).
//!
//! Its server name carries the plan, written by `cargo xtask campaign`:
//! `campaign-<seed>-<first>-<count>` (the image's `campaign` client for the scenario: seed 7,
//! from 0, 40 injections). Through `campaign::v1` on the supervisor it first runs the golden
//! run: a probe trap on the entry of every function of the `kv` server, batch by batch, under a
//! fixed workload, to learn which functions the workload executes. Then, for each injection
//! index, it draws the injection (`axolotl_campaign::draw`), arms it, runs the injection's
//! seeded put/get/delete ops, compares every reply and then every key with its reference model,
//! and prints one `CAMPAIGN idx=...` line with the outcome. After an outcome that leaves the
//! system in doubt (silent corruption) it powers off, and the host boots afresh from the next
//! index; after a restart of the server it resets its model (the state was lost) and goes on.
//! Before arming an injection it prints `CAMPAIGN begin idx=...`, so that a boot that dies
//! inside it is filed under the right fault type. `CAMPAIGN done` ends a plan.
//!
//! `campaign-kinds-<seed>` (tests/scenarios/campaign-kinds.toml) forces each fault type in turn
//! until it fires (and, for flips and pointers, changed the value), prints `CAMPAIGN kind=T fired ...` with what the kernel did, resynchronises
//! the store after a silent corruption, and ends with `CAMPAIGN kinds fired=N/6`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_abi::inject::{InjectKind, TRAP_SLOTS, TrapState};
use axolotl_campaign::{
    Begin, Candidate, FaultType, KEYS, Layout, Model, OPS_PER_INJECTION, Observation, Op, Outcome,
    Record, classify, draw_as, workload_op,
};
use axolotl_rt::{ServerInfo, debug_println};
use core::fmt::Write;
use ipc_schema::campaign::v1 as campaign;
use ipc_schema::interfaces::common::Name;
use ipc_schema::kv::v2 as kv;
use ipc_schema::supervisor::v1 as supervisor;
use ipc_schema::{CallError, Transport};

axolotl_rt::declare_server!(main);

const TARGET: &str = "kv";
/// Functions the golden run can remember.
const MAX_CANDIDATES: usize = 512;
/// The trap slot injections use.
const SLOT: u8 = 0;

fn key(k: u8) -> kv::Key {
    let mut s = kv::Key::new();
    let _ = write!(s, "k{k:02}");
    s
}

fn value(v: u32) -> kv::Value {
    kv::Value::from_slice(&v.to_le_bytes()).unwrap_or_default()
}

/// Whether a failed request is one the system told its caller about: `Aborted` (rolled back:
/// the model stays as it was) or `Restarted` (the server restarted from its image: its state is
/// lost, and the model is emptied). Any other error is a wrong answer.
fn told<E>(model: &mut Model, e: &CallError<E>) -> bool {
    match e {
        CallError::Ipc(ipc_schema::IpcError::Aborted) => true,
        CallError::Ipc(ipc_schema::IpcError::Restarted) => {
            *model = Model::default();
            true
        }
        _ => false,
    }
}

/// Logs a reply that disagrees with the model (for `campaign replay`); false.
fn mismatch(op: Op, got: &dyn core::fmt::Debug, want: Option<u32>) -> bool {
    debug_println!("CAMPAIGN mismatch {op:?}: got {got:?}, the model holds {want:?}");
    false
}

fn mismatch_count(got: u64, want: usize) -> bool {
    debug_println!("CAMPAIGN mismatch count: got {got}, the model holds {want}");
    false
}

/// What the client's name asks for.
#[derive(Clone, Copy)]
enum Plan {
    /// `campaign-<seed>-<first>-<count>`: injections `first..first + count` of campaign `seed`.
    Range { seed: u64, first: u64, count: u64 },
    /// `campaign-kinds-<seed>`: each fault type in turn, forced, at the places campaign `seed`
    /// draws for indices 0, 1, ... until it fires ([`KIND_TRIES`] at most); one boot.
    Kinds { seed: u64 },
}

/// Tries per fault type of the kinds plan.
const KIND_TRIES: u64 = 64;

fn plan(name: &str) -> Option<Plan> {
    if let Some(seed) = name.strip_prefix("campaign-kinds-") {
        return Some(Plan::Kinds {
            seed: seed.parse().ok()?,
        });
    }
    let mut parts = name.strip_prefix("campaign-")?.split('-');
    let mut next = || parts.next()?.parse::<u64>().ok();
    Some(Plan::Range {
        seed: next()?,
        first: next()?,
        count: next()?,
    })
}

fn stop(server: &ServerInfo, status: u64) {
    if let Some(sys) = server.sys_control() {
        sys.poweroff(status);
    }
    debug_println!("CAMPAIGN error: cannot power off");
    loop {
        axolotl_rt::syscall::yield_now();
    }
}

struct Client<T: Transport> {
    kv: kv::Client<T>,
    sup: supervisor::Client<T>,
    camp: campaign::Client<T>,
    target: Name,
}

impl<T: Transport> Client<T> {
    /// One op against the store; whether its reply agrees with the model (which it updates).
    /// A request answered `Restarted` is no wrong answer: the server was restarted from its
    /// image and its state is lost, so the model is emptied at that point.
    fn run(&self, model: &mut Model, op: Op) -> bool {
        match op {
            Op::Put { key: k, value: v } => match self.kv.put(key(k), value(v), None) {
                Ok(()) => {
                    model.apply(op);
                    true
                }
                Err(e) => told(model, &e) || mismatch(op, &e, model.get(k)),
            },
            Op::Delete { key: k } => match self.kv.delete(key(k)) {
                Ok(()) => {
                    let was = model.get(k).is_some();
                    model.apply(op);
                    was || mismatch(op, &"deleted", None)
                }
                Err(CallError::Op(kv::KvError::NotFound)) => {
                    model.get(k).is_none() || mismatch(op, &"NotFound", model.get(k))
                }
                Err(e) => told(model, &e) || mismatch(op, &e, model.get(k)),
            },
            Op::Get { key: k } => self.agrees(model, k),
        }
    }

    /// Whether the store's value of key `k` is the model's.
    fn agrees(&self, model: &mut Model, k: u8) -> bool {
        let op = Op::Get { key: k };
        match self.kv.get(key(k)) {
            Ok(v) => {
                Some(&v) == model.get(k).map(value).as_ref()
                    || mismatch(op, &v.as_slice(), model.get(k))
            }
            Err(CallError::Op(kv::KvError::NotFound)) => {
                model.get(k).is_none() || mismatch(op, &"NotFound", model.get(k))
            }
            Err(e) => told(model, &e) || mismatch(op, &e, model.get(k)),
        }
    }

    /// The whole store against the model.
    fn state_agrees(&self, model: &mut Model) -> bool {
        (0..KEYS as u8).all(|k| self.agrees(model, k))
            && match self.kv.count() {
                Ok(n) => n == model.len() as u64 || mismatch_count(n, model.len()),
                Err(e) => told(model, &e) && self.kv.count().ok() == Some(model.len() as u64),
            }
    }

    fn counters(&self) -> (u64, u64, bool) {
        match self.sup.status(self.target.clone()) {
            Ok(s) => (
                u64::from(s.aborts),
                u64::from(s.restarts),
                s.state == supervisor::ServerState::Stopped,
            ),
            Err(_) => (0, 0, true),
        }
    }

    /// Injection `index` (of type `fault` if given): begin line, arm, the workload ops, disarm,
    /// full-state check, classification; prints and returns its record. `model` follows.
    fn inject(
        &self,
        seed: u64,
        index: u64,
        fault: Option<FaultType>,
        candidates: &[Candidate],
        layout: &Layout,
        model: &mut Model,
    ) -> Record {
        let inj = draw_as(seed, index, candidates, layout, fault);
        debug_println!("{}", Begin(inj));
        let (aborts0, restarts0, _) = self.counters();
        let armed = self.camp.arm(
            self.target.clone(),
            SLOT,
            inj.pc,
            inj.fault.kind() as u8,
            inj.a,
            inj.b,
        );
        let mut ok = true;
        for j in 0..OPS_PER_INJECTION {
            ok &= self.run(model, workload_op(seed, index, j));
        }
        let trap = self.camp.disarm(SLOT).unwrap_or_default();
        let (aborts1, restarts1, stopped) = self.counters();
        let restarts = restarts1.saturating_sub(restarts0);
        // A restart answers the request that set it off `Restarted`, and `run` emptied the model
        // then: the ops after it were checked against the fresh server.
        ok &= self.state_agrees(model);
        let activated = armed.is_ok() && trap.state != TrapState::Armed as u8;
        let aborts = aborts1.saturating_sub(aborts0);
        let record = Record {
            index,
            fault: inj.fault,
            pc: inj.pc,
            a: inj.a,
            b: inj.b,
            outcome: classify(&Observation {
                activated,
                aborts,
                restarts,
                stopped,
                mismatch: !ok,
            }),
            aborts,
            restarts,
            detail: if activated { trap.detail } else { (0, 0) },
        };
        debug_println!("{record}");
        record
    }

    /// After a silent corruption: deletes every key so that the store and an empty model agree
    /// again; whether they do.
    fn resynchronise(&self, model: &mut Model) -> bool {
        for k in 0..KEYS as u8 {
            let _ = self.kv.delete(key(k));
        }
        *model = Model::default();
        self.state_agrees(model)
    }

    /// The golden run: which functions of the target the fixed workload executes.
    fn golden(&self, model: &mut Model) -> heapless::Vec<Candidate, MAX_CANDIDATES> {
        let mut all: heapless::Vec<campaign::Function, MAX_CANDIDATES> = heapless::Vec::new();
        let mut cursor = Some(0);
        while let Some(c) = cursor {
            let Ok(page) = self.camp.functions(self.target.clone(), c) else {
                break;
            };
            for f in page.functions {
                let _ = all.push(f);
            }
            cursor = page.next;
        }
        let mut executed = heapless::Vec::new();
        for batch in all.chunks(TRAP_SLOTS) {
            for (slot, f) in batch.iter().enumerate() {
                // Aliases of one address are refused (DeleteFirst): one probe covers them all.
                let _ = self.camp.arm(
                    self.target.clone(),
                    slot as u8,
                    f.start,
                    InjectKind::Probe as u8,
                    0,
                    0,
                );
            }
            for j in 0..3 * KEYS as u64 {
                let k = (j % KEYS as u64) as u8;
                let op = match j / KEYS as u64 {
                    0 => Op::Put {
                        key: k,
                        value: j as u32,
                    },
                    1 => Op::Get { key: k },
                    _ => Op::Delete { key: k },
                };
                self.run(model, op);
            }
            let _ = self.kv.count();
            for (slot, f) in batch.iter().enumerate() {
                if let Ok(t) = self.camp.disarm(slot as u8)
                    && t.state == TrapState::Fired as u8
                {
                    let _ = executed.push(Candidate {
                        start: f.start,
                        size: u64::from(f.size),
                        first_len: f.first_len,
                        sp: t.detail.1,
                    });
                }
            }
        }
        executed
    }
}

fn main(server: &'static ServerInfo) {
    let Some(plan) = plan(server.name()) else {
        debug_println!("CAMPAIGN error: no plan in the name '{}'", server.name());
        return stop(server, 1);
    };
    let (Some(kv_ep), Some(sup_ep)) = (server.client("kv"), server.client("supervisor")) else {
        debug_println!("CAMPAIGN error: needs calls = [\"kv\", \"supervisor\"]");
        return stop(server, 1);
    };
    let c = Client {
        kv: kv::Client::new(kv_ep),
        sup: supervisor::Client::new(sup_ep),
        camp: campaign::Client::new(sup_ep),
        target: Name::try_from(TARGET).unwrap_or_default(),
    };
    let Ok(target) = c.camp.target(c.target.clone()) else {
        debug_println!("CAMPAIGN error: the supervisor serves no campaign for '{TARGET}'");
        return stop(server, 1);
    };
    let mut model = Model::default();
    let candidates = c.golden(&mut model);
    debug_println!("CAMPAIGN golden executed-functions={}", candidates.len());
    if candidates.is_empty() || !c.state_agrees(&mut model) {
        debug_println!("CAMPAIGN error: the golden run failed");
        return stop(server, 1);
    }
    let layout = Layout {
        memory: target.stack,
        registers: target.registers,
        fixed_length: target.fixed_length,
    };
    match plan {
        Plan::Range { seed, first, count } => {
            for index in first..first + count {
                let r = c.inject(seed, index, None, &candidates, &layout, &mut model);
                if r.outcome.needs_reboot() && index + 1 < first + count {
                    debug_println!("CAMPAIGN reboot next={}", index + 1);
                    return stop(server, 0);
                }
            }
            debug_println!("CAMPAIGN done");
            stop(server, 0)
        }
        Plan::Kinds { seed } => {
            let mut fired = 0;
            for fault in FaultType::ALL {
                for index in 0..KIND_TRIES {
                    let r = c.inject(seed, index, Some(fault), &candidates, &layout, &mut model);
                    if matches!(r.outcome, Outcome::Crash | Outcome::Hang) {
                        debug_println!("CAMPAIGN error: the server was stopped");
                        return stop(server, 1);
                    }
                    if r.outcome == Outcome::SilentCorruption && !c.resynchronise(&mut model) {
                        debug_println!("CAMPAIGN error: the store cannot be resynchronised");
                        return stop(server, 1);
                    }
                    // A flip or a pointer that left the value as it was proves nothing.
                    let changed = match fault {
                        FaultType::RegisterBitFlip
                        | FaultType::MemoryBitFlip
                        | FaultType::CorruptPointer => r.detail.0 != r.detail.1,
                        _ => true,
                    };
                    if r.outcome != Outcome::NotActivated && changed {
                        fired += 1;
                        debug_println!(
                            "CAMPAIGN kind={} fired idx={index} outcome={} d0={:#x} d1={:#x}",
                            fault.name(),
                            r.outcome.name(),
                            r.detail.0,
                            r.detail.1
                        );
                        break;
                    }
                }
            }
            debug_println!("CAMPAIGN kinds fired={fired}/{}", FaultType::ALL.len());
            stop(server, u64::from(fired != FaultType::ALL.len()))
        }
    }
}
