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
//! system in doubt (restart, silent corruption) it powers off, and the host boots afresh from
//! the next index. `CAMPAIGN done` ends a plan.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_abi::inject::{InjectKind, TRAP_SLOTS, TrapState};
use axolotl_campaign::{
    Candidate, KEYS, Layout, Model, OPS_PER_INJECTION, Observation, Op, Record, classify, draw,
    workload_op,
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

/// `campaign-<seed>-<first>-<count>`.
fn plan(name: &str) -> Option<(u64, u64, u64)> {
    let mut parts = name.strip_prefix("campaign-")?.split('-');
    let mut next = || parts.next()?.parse::<u64>().ok();
    Some((next()?, next()?, next()?))
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
    fn run(&self, model: &mut Model, op: Op) -> bool {
        match op {
            Op::Put { key: k, value: v } => match self.kv.put(key(k), value(v), None) {
                Ok(()) => {
                    model.apply(op);
                    true
                }
                // Rolled back: the model stays as it was.
                Err(CallError::Ipc(ipc_schema::IpcError::Aborted)) => true,
                Err(_) => false,
            },
            Op::Delete { key: k } => match self.kv.delete(key(k)) {
                Ok(()) => {
                    let was = model.get(k).is_some();
                    model.apply(op);
                    was
                }
                Err(CallError::Op(kv::KvError::NotFound)) => model.get(k).is_none(),
                Err(CallError::Ipc(ipc_schema::IpcError::Aborted)) => true,
                Err(_) => false,
            },
            Op::Get { key: k } => self.agrees(model, k),
        }
    }

    /// Whether the store's value of key `k` is the model's.
    fn agrees(&self, model: &Model, k: u8) -> bool {
        match self.kv.get(key(k)) {
            Ok(v) => Some(&v) == model.get(k).map(value).as_ref(),
            Err(CallError::Op(kv::KvError::NotFound)) => model.get(k).is_none(),
            Err(CallError::Ipc(ipc_schema::IpcError::Aborted)) => true,
            Err(_) => false,
        }
    }

    /// The whole store against the model.
    fn state_agrees(&self, model: &Model) -> bool {
        (0..KEYS as u8).all(|k| self.agrees(model, k))
            && self.kv.count().ok() == Some(model.len() as u64)
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
                    });
                }
            }
        }
        executed
    }
}

fn main(server: &'static ServerInfo) {
    let Some((seed, first, count)) = plan(server.name()) else {
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
    if candidates.is_empty() || !c.state_agrees(&model) {
        debug_println!("CAMPAIGN error: the golden run failed");
        return stop(server, 1);
    }
    let layout = Layout {
        memory: target.stack,
        registers: target.registers,
        fixed_length: target.fixed_length,
    };
    for index in first..first + count {
        let inj = draw(seed, index, &candidates, &layout);
        let (aborts0, restarts0, _) = c.counters();
        let armed = c.camp.arm(
            c.target.clone(),
            SLOT,
            inj.pc,
            inj.fault.kind() as u8,
            inj.a,
            inj.b,
        );
        let mut ok = true;
        for j in 0..OPS_PER_INJECTION {
            ok &= c.run(&mut model, workload_op(seed, index, j));
        }
        let trap = c.camp.disarm(SLOT).unwrap_or_default();
        let (aborts1, restarts1, stopped) = c.counters();
        let restarts = restarts1.saturating_sub(restarts0);
        if restarts > 0 {
            // A fresh server from the image: its state is empty.
            model = Model::default();
        }
        ok &= c.state_agrees(&model);
        let outcome = classify(&Observation {
            activated: armed.is_ok() && trap.state != TrapState::Armed as u8,
            aborts: aborts1.saturating_sub(aborts0),
            restarts,
            stopped,
            mismatch: !ok,
        });
        debug_println!(
            "{}",
            Record {
                index,
                fault: inj.fault,
                pc: inj.pc,
                a: inj.a,
                b: inj.b,
                outcome,
                aborts: aborts1.saturating_sub(aborts0),
                restarts,
            }
        );
        if outcome.needs_reboot() && index + 1 < first + count {
            debug_println!("CAMPAIGN reboot next={}", index + 1);
            return stop(server, 0);
        }
    }
    debug_println!("CAMPAIGN done");
    stop(server, 0)
}
