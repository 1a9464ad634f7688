//! The `upgrade-name` scenario: the name service is upgraded live from `name` (name v1) to
//! `name2` (name v2, v1 through the adapter) while clients keep calling it, and the endpoint
//! capabilities registered before the upgrade still work after it. What it does depends on its
//! name in the image:
//!
//! - `load-N`: a `name::v1` client that keeps looking `kv` up (a capability in the reply, into
//!   an empty slot of its own, deleted again after use) and calls kv's `count` through the
//!   capability it got, counting every request sent, served, failed (an error or a wrong
//!   answer); it stops and reports when the director asks (`test_support::load`).
//! - `director`: registers and looks up before the upgrade, asks the upgrader for
//!   `name -> name2`, then checks what v1 and v2 clients see afterwards (the registrations made
//!   before, their capabilities, generations, `count`), and prints the load generators' totals.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{CNode, Cap, Endpoint, ServerInfo, debug_println};
use ipc_schema::interfaces::common::Name;
use ipc_schema::kv::v2 as kv;
use ipc_schema::lifecycle::v1::{self as lifecycle, Outcome, Program};
use ipc_schema::name::{v1, v2};
use ipc_schema::supervisor::v1 as supervisor;
use ipc_schema::{CallError, CapSlot, IpcError};
use test_support::Checks;
use test_support::load::{self, Counts};

axolotl_rt::declare_server!(main);

const SCENARIO: &str = "upgrade-name";

fn name(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn main(server: &'static ServerInfo) {
    if server.name().starts_with("load") {
        load(server);
    } else {
        director(server);
    }
}

/// The kv registration as v1 clients see it.
fn kv_v1() -> v1::Registration {
    v1::Registration {
        name: name("kv"),
        interface: kv::INTERFACE,
        min_version: 1,
        max_version: 2,
    }
}

fn load(server: &'static ServerInfo) {
    let (Some(names), Some(own), Some(cnode), Some(slot)) = (
        server.client("name"),
        server.endpoints().first(),
        server.own_cnode(),
        server.empty_slots().next(),
    ) else {
        debug_println!(
            "{}: needs calls = [\"name\"], an endpoint, own_cnode and an empty slot",
            server.name()
        );
        return;
    };
    let own = Cap::<Endpoint>::from_cptr(own.cptr);
    let names = v1::Client::new(names);
    let mut counts = Counts::default();
    loop {
        let found =
            counts.time(|| names.lookup(v1::Query::Name(name("kv")), CapSlot(slot)) == Ok(kv_v1()));
        if found {
            let store = kv::Client::new(Cap::<Endpoint>::from_cptr(slot));
            counts.time(|| store.count().is_ok());
        }
        // Empty the slot for the next lookup (it is empty already if the lookup failed).
        let _ = cnode.delete(slot);
        if load::stop_asked(own) {
            break;
        }
    }
    debug_println!(
        "{}: sent {}, served {}, failed {}; longest request {} ticks",
        server.name(),
        counts.sent,
        counts.served,
        counts.failed,
        counts.longest
    );
    load::report(own, counts);
}

struct Director {
    old: v1::Client<Cap<Endpoint>>,
    new: v2::Client<Cap<Endpoint>>,
    supervisor: supervisor::Client<Cap<Endpoint>>,
    upgrader: lifecycle::Client<Cap<Endpoint>>,
    loads: [Option<Cap<Endpoint>>; 2],
    cnode: Cap<CNode>,
    slots: core::ops::Range<u64>,
}

impl Director {
    fn version(&self) -> u32 {
        self.supervisor
            .status(name("name"))
            .map_or(0, |s| s.version)
    }

    /// A fresh empty slot (the range is long enough for the script).
    fn slot(&mut self) -> CapSlot {
        let slot = self.slots.next().unwrap_or(0);
        let _ = self.cnode.delete(slot);
        CapSlot(slot)
    }
}

/// Looks `kv` up through v1, retrying while kv has not registered yet.
fn lookup_kv(d: &mut Director) -> (Result<v1::Registration, CallError<v1::NameError>>, CapSlot) {
    let slot = d.slot();
    let mut result = Err(CallError::Op(v1::NameError::NotFound));
    for _ in 0..100 {
        result = d.old.lookup(v1::Query::Name(name("kv")), slot);
        if result != Err(CallError::Op(v1::NameError::NotFound)) {
            break;
        }
        axolotl_rt::yield_now();
    }
    (result, slot)
}

fn director(server: &'static ServerInfo) {
    let mut c = Checks::new(SCENARIO);
    let (Some(names), Some(sup), Some(upgrader), Some(cnode)) = (
        server.client("name"),
        server.client("supervisor"),
        server.client("upgrader"),
        server.own_cnode(),
    ) else {
        c.fail(
            "setup",
            "needs calls of 'name', 'supervisor' and 'upgrader', and own_cnode",
        );
        return c.finish(server);
    };
    let mut d = Director {
        old: v1::Client::new(names),
        new: v2::Client::new(names),
        supervisor: supervisor::Client::new(sup),
        upgrader: lifecycle::Client::new(upgrader),
        loads: [server.client("load-1"), server.client("load-2")],
        cnode,
        slots: server.empty_slots(),
    };
    let ms = server.counter_frequency / 1000;

    // Before: kv registered itself at start-up; the director looks it up, stores a value
    // through the capability and registers that capability again under a name of its own.
    c.check_eq("the name service is version 1", d.version(), 1);
    let (found, before) = lookup_kv(&mut d);
    c.check_eq("v1 lookup of kv before the upgrade", found, Ok(kv_v1()));
    let store = kv::Client::new(Cap::<Endpoint>::from_cptr(before.0));
    let value = kv::Value::from_slice(b"stored before the upgrade").unwrap_or_default();
    let key = kv::Key::try_from("before").unwrap_or_default();
    c.check_eq(
        "kv put through the looked-up capability",
        store.put(key.clone(), value.clone(), None),
        Ok(()),
    );
    c.check_eq(
        "v1 register of kv-alias (the capability it got) before the upgrade",
        d.old
            .register(name("kv-alias"), kv::INTERFACE, 2, 2, before),
        Ok(()),
    );
    c.check_eq(
        "name v1 build: a name v2 request is UnsupportedVersion",
        d.new.count(),
        Err(CallError::Ipc(IpcError::UnsupportedVersion)),
    );
    // The load generators are calling; let them get going.
    load::let_run(2 * ms);

    debug_println!("== {SCENARIO}: upgrade name to name2 ==");
    let report = match d.upgrader.upgrade(
        name("name"),
        Program::try_from("name2").unwrap_or_default(),
        false,
    ) {
        Ok(r) => r,
        Err(e) => {
            c.fail("upgrade name -> name2", e);
            let _ = load::stop(&d.loads, &mut c, (0, 0));
            return c.finish(server);
        }
    };
    c.check_eq(
        "name -> name2 committed",
        report.outcome,
        Outcome::Committed,
    );
    c.check_eq(
        "the agreed state format is name.v1 (1)",
        report.format,
        Some(1),
    );
    c.check_eq("the name service is version 2", d.version(), 2);
    load::let_run(2 * ms);

    // After: v1 and v2 clients, and the capabilities registered before.
    let (found, after) = lookup_kv(&mut d);
    c.check_eq("v1 lookup of kv after the upgrade", found, Ok(kv_v1()));
    let store = kv::Client::new(Cap::<Endpoint>::from_cptr(after.0));
    c.check_eq(
        "kv registered before the upgrade answers through the capability looked up after it",
        store.get(key.clone()),
        Ok(value.clone()),
    );
    let alias = d.slot();
    c.check_eq(
        "v2 lookup of kv-alias (registered before the upgrade): generation 1",
        d.new
            .lookup(v2::Query::Name(name("kv-alias")), alias)
            .map(|r| (r.name, r.min_version, r.max_version, r.generation)),
        Ok((name("kv-alias"), 2, 2, 1)),
    );
    c.check_eq(
        "kv answers through the kv-alias capability",
        kv::Client::new(Cap::<Endpoint>::from_cptr(alias.0)).get(key.clone()),
        Ok(value.clone()),
    );
    c.check_eq(
        "v2 count (the new op): both registrations",
        d.new.count().map(|n| n.registrations),
        Ok(2),
    );
    c.check_eq(
        "v2 register of kv-alias again by its owner: generation 2",
        d.new.register(name("kv-alias"), kv::INTERFACE, 1, 2, alias),
        Ok(2),
    );
    let by_interface = d.slot();
    c.check_eq(
        "v2 lookup by interface kv version 1 finds kv",
        d.new
            .lookup(
                v2::Query::Interface {
                    interface: kv::INTERFACE,
                    version: 1,
                },
                by_interface,
            )
            .map(|r| r.name),
        Ok(name("kv")),
    );
    c.check_eq(
        "v1 list after the upgrade shows both, in order",
        d.old.list(0).map(|p| {
            p.entries
                .iter()
                .map(|r| r.name.clone())
                .collect::<heapless::Vec<Name, 4>>()
        }),
        Ok(heapless::Vec::from_slice(&[name("kv"), name("kv-alias")]).unwrap_or_default()),
    );
    c.check_eq(
        "v2 register of the empty name is InvalidName (v2's own error)",
        d.new.register(name(""), kv::INTERFACE, 1, 1, by_interface),
        Err(CallError::Op(v2::NameError::InvalidName)),
    );
    let gone = d.slot();
    c.check_eq(
        "v1 unregister of kv-alias, then its lookup is NotFound",
        d.old.unregister(name("kv-alias")).and_then(|()| {
            d.old
                .lookup(v1::Query::Name(name("kv-alias")), gone)
                .map(drop)
        }),
        Err(CallError::Op(v1::NameError::NotFound)),
    );
    debug_println!("v1 and v2 clients both served");

    let totals = load::stop(
        &d.loads,
        &mut c,
        (report.blocked_at, report.blocked_at + report.blackout),
    );
    let (sent, served, failed, lost) = (totals.sent, totals.served, totals.failed, totals.lost());
    let longest = totals.longest;
    debug_println!(
        "totals: sent {sent}, served {served}, failed {failed}, lost {lost}; longest wait of a request {longest} ticks"
    );
    c.check(sent > 0, "the load generators sent requests", sent);
    c.check_eq("failed", failed, 0);
    c.check_eq("lost", lost, 0);
    c.finish(server);
}
