//! The director of the live-upgrade demo and scenarios: it asks the upgrader
//! (`lifecycle::v1::upgrade`) for upgrades of the kv store while load generators keep calling
//! it, checks what clients see, and prints the totals. What it does depends on its name in the
//! image:
//!
//! - `demo` (images/upgrade-demo.toml, scenario `upgrade-load`): kv1 -> kv2 under the load of
//!   the v1 load generators (`load-1`, `load-2`); a v1 and a v2 client both served afterwards;
//!   the load generators' totals (sent, served, failed, lost); then kv2 -> kv3, whose import
//!   fails: rolled back by itself with the state intact.
//! - `rollback` (scenario `upgrade-rollback`): kv1 -> kv2 with a fault armed in the new version's
//!   first request of probation: rolled back by itself, the state carried back; then kv1 -> kv2
//!   for good and kv2 -> kv3 (import fails): rolled back.
//! - `refused` (scenario `upgrade-refused`): kv1 -> kv3 has no state format in common: refused,
//!   nothing changes.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, ServerInfo, debug_println};
use ipc_schema::interfaces::common::Name;
use ipc_schema::kv::{v1, v2};
use ipc_schema::lifecycle::v1::{self as lifecycle, Outcome, Program, Report};
use ipc_schema::supervisor::v1 as supervisor;
use ipc_schema::{CallError, IpcError};
use test_support::{Checks, load};

axolotl_rt::declare_server!(main);

fn name(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn program(s: &str) -> Program {
    Program::try_from(s).unwrap_or_default()
}

fn key(s: &str) -> v2::Key {
    v2::Key::try_from(s).unwrap_or_default()
}

struct Director {
    scenario: &'static str,
    upgrader: lifecycle::Client<Cap<Endpoint>>,
    supervisor: supervisor::Client<Cap<Endpoint>>,
    supervisor_cap: Cap<Endpoint>,
    old: v1::Client<Cap<Endpoint>>,
    new: v2::Client<Cap<Endpoint>>,
    loads: [Option<Cap<Endpoint>>; 2],
}

impl Director {
    fn upgrade(&self, to: &str, drill: bool) -> Option<Report> {
        debug_println!(
            "== {}: upgrade kv to {to}{} ==",
            self.scenario,
            if drill {
                " (with a fault in probation)"
            } else {
                ""
            }
        );
        match self.upgrader.upgrade(name("kv"), program(to), drill) {
            Ok(r) => Some(r),
            Err(e) => {
                debug_println!("FAIL {}: upgrade to {to}: {e}", self.scenario);
                None
            }
        }
    }

    fn version(&self) -> u32 {
        self.supervisor.status(name("kv")).map_or(0, |s| s.version)
    }

    /// Lets the load generators run for about `ticks` counter ticks (they share the
    /// director's priority, so yielding hands them the processor).
    fn let_run(&self, ticks: u64) {
        load::let_run(ticks);
    }

    /// Stops the load generators and returns their summed counts `[sent, served, failed]`, the
    /// longest any request took, and the longest a request took that was waiting at some time
    /// in `window` (counter values, from and to).
    fn stop_loads(&self, c: &mut Checks, window: (u64, u64)) -> [u64; 5] {
        let t = load::stop(&self.loads, c, window);
        [t.sent, t.served, t.failed, t.longest, t.in_window]
    }
}

fn main(server: &'static ServerInfo) {
    let scenario = match server.name() {
        "demo" => "upgrade-load",
        "rollback" => "upgrade-rollback",
        "refused" => "upgrade-refused",
        _ => "upgrade",
    };
    let mut c = Checks::new(scenario);
    let (Some(upgrader), Some(sup), Some(kv)) = (
        server.client("upgrader"),
        server.client("supervisor"),
        server.client("kv"),
    ) else {
        c.fail("setup", "needs calls of 'upgrader', 'supervisor' and 'kv'");
        return c.finish(server);
    };
    let d = Director {
        scenario,
        upgrader: lifecycle::Client::new(upgrader),
        supervisor: supervisor::Client::new(sup),
        supervisor_cap: sup,
        old: v1::Client::new(kv),
        new: v2::Client::new(kv),
        loads: [server.client("load-1"), server.client("load-2")],
    };
    let ms = server.counter_frequency / 1000;
    match server.name() {
        "demo" => demo(&d, &mut c, ms),
        "rollback" => rollback(&d, &mut c),
        "refused" => refused(&d, &mut c),
        other => c.fail("setup", format_args!("no script for '{other}'")),
    }
    c.finish(server);
}

fn demo(d: &Director, c: &mut Checks, ms: u64) {
    let seven = v1::Value::from_slice(b"seven, from a v1 client").unwrap_or_default();
    c.check_eq(
        "a v1 client's put before the upgrade",
        d.old.put(7, seven.clone()),
        Ok(()),
    );
    c.check_eq("kv serves version 1", d.version(), 1);
    // The load generators are calling; let them get going.
    d.let_run(2 * ms);
    let Some(r) = d.upgrade("kv2", false) else {
        return;
    };
    // The blackout: from the old version's stop to the new one serving.
    let window = (r.blocked_at, r.blocked_at + r.blackout);
    c.check_eq("kv1 -> kv2 committed", r.outcome, Outcome::Committed);
    c.check_eq("the agreed state format is kv.v1 (1)", r.format, Some(1));
    c.check_eq("kv serves version 2", d.version(), 2);
    // Clients keep calling the new version a little.
    d.let_run(2 * ms);
    c.check_eq(
        "a v1 client's key after the upgrade (v1 get)",
        d.old.get(7),
        Ok(seven.clone()),
    );
    c.check_eq(
        "the same key through kv v2 is \"7\"",
        d.new
            .get(key("7"))
            .map(|v| v.as_slice() == seven.as_slice()),
        Ok(true),
    );
    let long = v2::Value::from_slice(&[0x42; 200]).unwrap_or_default();
    c.check_eq(
        "a v2 client's put of a string key and a 200-byte value",
        d.new.put(key("greeting"), long.clone(), None),
        Ok(()),
    );
    c.check_eq(
        "a v2 client's get",
        d.new.get(key("greeting")),
        Ok(long.clone()),
    );
    c.check(
        d.new.count().is_ok_and(|n| n >= 2),
        "a v2 client's count (an op v1 does not have)",
        "count",
    );
    debug_println!("v1 and v2 clients both served");
    let [sent, served, failed, longest, in_window] = d.stop_loads(c, window);
    let lost = sent - served - failed;
    debug_println!(
        "totals: sent {sent}, served {served}, failed {failed}, lost {lost}; kv could not serve \
         for {} ticks (block to serving); the longest wait of a request in flight then (the \
         blackout) {in_window} ticks, of any request {longest} ticks",
        r.blackout
    );
    c.check(sent > 0, "the load generators sent requests", sent);
    c.check_eq("failed", failed, 0);
    c.check_eq("lost", lost, 0);
    debug_println!("BENCH upgrade.blackout.instructions={in_window}");
    debug_println!("BENCH upgrade.window.instructions={}", r.blackout);
    debug_println!("BENCH upgrade.load.longest.instructions={longest}");
    debug_println!("BENCH upgrade.total.instructions={}", r.total);

    let count = d.new.count();
    let Some(r) = d.upgrade("kv3", false) else {
        return;
    };
    c.check_eq(
        "kv2 -> kv3 rolled back by itself (import failed)",
        r.outcome,
        Outcome::ImportFailed,
    );
    c.check_eq("kv still serves version 2", d.version(), 2);
    c.check_eq("the state is intact: count", d.new.count(), count);
    c.check_eq(
        "the state is intact: a v2 key",
        d.new.get(key("greeting")),
        Ok(long),
    );
    c.check_eq("the state is intact: a v1 key", d.old.get(7), Ok(seven));
}

fn rollback(d: &Director, c: &mut Checks) {
    let one = v1::Value::from_slice(b"one").unwrap_or_default();
    c.check_eq("put before", d.old.put(1, one.clone()), Ok(()));
    // A fault of the new version during probation: the load generator's next request runs it.
    let Some(r) = d.upgrade("kv2", true) else {
        return;
    };
    c.check_eq(
        "a fault during probation rolls back, the state carried back",
        r.outcome,
        Outcome::FaultedInProbation { carried_back: true },
    );
    c.check_eq("kv serves version 1 again", d.version(), 1);
    c.check_eq(
        "the state is intact after the rollback",
        d.old.get(1),
        Ok(one.clone()),
    );
    c.check_eq(
        "version 1 again: a kv v2 request is UnsupportedVersion",
        d.new.count(),
        Err(CallError::Ipc(IpcError::UnsupportedVersion)),
    );
    let Some(r) = d.upgrade("kv2", false) else {
        return;
    };
    c.check_eq("kv1 -> kv2 committed", r.outcome, Outcome::Committed);
    c.check_eq("kv serves version 2", d.version(), 2);
    c.check_eq(
        "the v1 key through v2",
        d.new.get(key("1")).map(|v| v.as_slice() == b"one"),
        Ok(true),
    );
    let Some(r) = d.upgrade("kv3", false) else {
        return;
    };
    c.check_eq(
        "kv2 -> kv3: the import fails, rolled back",
        r.outcome,
        Outcome::ImportFailed,
    );
    c.check_eq("kv still serves version 2", d.version(), 2);
    c.check_eq("the state is intact", d.old.get(1), Ok(one));
    let [sent, served, failed, _, _] = d.stop_loads(c, (0, 0));
    debug_println!(
        "totals: sent {sent}, served {served}, failed {failed}, lost {}",
        sent - served - failed
    );
    c.check(sent > 0, "the load generator sent requests", sent);
    c.check_eq("failed", failed, 0);
    c.check_eq("lost", sent - served - failed, 0);
}

fn refused(d: &Director, c: &mut Checks) {
    let one = v1::Value::from_slice(b"one").unwrap_or_default();
    c.check_eq("put before", d.old.put(1, one.clone()), Ok(()));
    let Some(r) = d.upgrade("kv3", false) else {
        return;
    };
    c.check_eq("kv1 -> kv3 refused", r.outcome, Outcome::Refused);
    c.check_eq("no format agreed", r.format, None);
    c.check_eq("no blackout", r.blackout, 0);
    c.check_eq("kv still serves version 1", d.version(), 1);
    c.check_eq("the state is unchanged", d.old.get(1), Ok(one));
    c.check_eq(
        "still kv1: a kv v2 request is UnsupportedVersion",
        d.new.count(),
        Err(CallError::Ipc(IpcError::UnsupportedVersion)),
    );
    c.check_eq(
        "an upgrade to a program the image does not list is NotAnUpgrade",
        d.upgrader.upgrade(name("kv"), program("kv"), false),
        Err(CallError::Op(lifecycle::LifecycleError::NotAnUpgrade)),
    );
    c.check_eq(
        "the supervisor's lifecycle ops are the upgrader's alone",
        lifecycle::Client::new(d.supervisor_cap).probation(name("kv")),
        Err(CallError::Op(lifecycle::LifecycleError::NotPermitted)),
    );
}
