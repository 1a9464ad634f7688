//! The client of the `snapshot-consistency` scenario: a concurrent snapshot of a transactional
//! key-value store taken under load is exactly the store's state at the snapshot point.
//!
//! 1. `PRE` keys are put; `snapshot::v1 begin("kv")` fixes the snapshot point, which must follow
//!    exactly those `PRE` requests (`commits_at_point`).
//! 2. Under load: a put of a new key, then a `step` of one page, again and again until the copy is
//!    complete. The store keeps serving while its pages are copied; pages it writes before the
//!    copier reaches them are copied first by the kernel (`copied_before_write`).
//! 3. More changes after the copy: an existing key replaced, one deleted.
//! 4. `restore("kv")`: the store must hold exactly the `PRE` keys with their first values, and
//!    none of the keys put during or after the copy.
//! 5. Restart from a snapshot: `restarter` (restart_after = 1) is snapshotted with `take`
//!    (stop-and-copy) after two requests, serves two more, then faults; the supervisor restarts
//!    it from the snapshot, and its request count is the one at the snapshot point.
//! 6. Refusals: unknown server, a server without snapshot storage, a second `begin` while a copy
//!    is in progress.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, get_mr};
use core::fmt::Write;
use ipc_schema::interfaces::common::Name;
use ipc_schema::kv::v2;
use ipc_schema::snapshot::v1::{Client, SnapshotError};
use ipc_schema::{CallError, IpcError, console, label};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// Keys committed before the snapshot point.
const PRE: usize = 20;

fn name(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn key(i: usize) -> v2::Key {
    let mut k = v2::Key::new();
    let _ = write!(k, "key{i:03}");
    k
}

fn value(i: usize, round: u8) -> v2::Value {
    let mut v = v2::Value::new();
    let _ = v.extend_from_slice(&[round, i as u8, (i >> 8) as u8, 0x5a]);
    v
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("snapshot-consistency");
    let (Some(store), Some(supervisor), Some(restarter)) = (
        server.client("kv"),
        server.client("supervisor"),
        server.client("restarter"),
    ) else {
        c.fail("setup", "needs kv, supervisor and restarter");
        return c.finish(server);
    };
    let kv = v2::Client::new(store);
    let snapshots = Client::new(supervisor);
    consistency(&mut c, &kv, &snapshots);
    restart_from_snapshot(&mut c, &snapshots, restarter);
    refusals(&mut c, &snapshots);
    c.finish(server);
}

fn consistency(c: &mut Checks, kv: &v2::Client<Cap<Endpoint>>, snapshots: &Client<Cap<Endpoint>>) {
    let kv_name = name("kv");
    let mut put_ok = true;
    for i in 0..PRE {
        put_ok &= kv.put(key(i), value(i, 1), None).is_ok();
    }
    c.check(put_ok, "keys put before the snapshot point", "a put failed");
    let begun = match snapshots.begin(kv_name.clone()) {
        Ok(info) => info,
        Err(e) => {
            c.fail("begin a snapshot of kv", e);
            return;
        }
    };
    c.check_eq(
        "the snapshot point follows exactly the requests served before it",
        begun.commits_at_point,
        PRE as u64,
    );
    c.check(
        !begun.complete && begun.remaining == begun.pages && begun.pages > 16,
        "begin copies nothing: every page of the region is still to copy",
        format_args!("{begun:?}"),
    );
    c.check_eq(
        "a second begin while the copy runs is Busy",
        snapshots.begin(kv_name.clone()),
        Err(CallError::Op(SnapshotError::Busy)),
    );
    c.check_eq(
        "no restore before the copy is complete",
        snapshots.restore(kv_name.clone()),
        Err(CallError::Op(SnapshotError::Incomplete)),
    );

    // Under load: the store serves a put between every two steps of the copy.
    let mut during = 0usize;
    let mut info = begun;
    let mut steps = 0;
    while !info.complete && steps < 10_000 {
        let i = PRE + during;
        put_ok &= kv.put(key(i), value(i, 1), None).is_ok();
        during += 1;
        info = match snapshots.step(kv_name.clone(), 1) {
            Ok(info) => info,
            Err(e) => {
                c.fail("step the copy", e);
                return;
            }
        };
        steps += 1;
    }
    c.check(
        put_ok && info.complete,
        "the copy completes while the store serves",
        format_args!("{info:?}"),
    );
    axolotl_rt::debug_println!(
        "snapshot-client: {} pages, {during} puts served during the copy, {} pages copied \
         before a write",
        info.pages,
        info.copied_before_write
    );
    c.check(
        during > 0,
        "requests were served between begin and the last step",
        during,
    );
    c.check_eq(
        "commits during the copy are exactly the puts served meanwhile",
        info.commits_at_complete - info.commits_at_point,
        during as u64,
    );
    c.check(
        info.copied_before_write > 0,
        "pages written during the copy were copied before the write",
        info.copied_before_write,
    );

    // After the copy: replace one key of the snapshot, delete another.
    let after_ok = kv.put(key(0), value(0, 2), None).is_ok() && kv.delete(key(1)).is_ok();
    c.check(
        after_ok && kv.count() == Ok((PRE + during - 1) as u64),
        "the store changes after the copy",
        format_args!("{:?}", kv.count()),
    );

    match snapshots.restore(kv_name) {
        Ok(r) => c.check_eq(
            "restore puts back the snapshot",
            (r.complete, r.commits_at_point),
            (true, PRE as u64),
        ),
        Err(e) => {
            c.fail("restore puts back the snapshot", e);
            return;
        }
    };
    let mut same = true;
    for i in 0..PRE {
        same &= kv.get(key(i)) == Ok(value(i, 1));
    }
    c.check(
        same,
        "after restore every key of the snapshot point has its value then",
        "a key differs",
    );
    let mut absent = true;
    for i in PRE..PRE + during {
        absent &= kv.get(key(i)) == Err(CallError::Op(v2::KvError::NotFound));
    }
    c.check(
        absent,
        "no key put after the snapshot point is there",
        "a later key survived",
    );
    c.check_eq(
        "the restored store counts the keys of the snapshot point",
        kv.count(),
        Ok(PRE as u64),
    );
    c.check(
        kv.put(key(999), value(999, 3), None).is_ok() && kv.get(key(999)) == Ok(value(999, 3)),
        "the restored store keeps serving",
        "a put or get failed",
    );
}

/// (reply label, requests the server completed).
fn call(ep: Cap<Endpoint>, l: u64) -> (u64, u64) {
    match ep.call(MessageInfo::new(l, 0, 0)) {
        Ok((reply, _)) => (reply.label(), get_mr(0)),
        Err(e) => (u64::MAX, e as u64),
    }
}

fn restart_from_snapshot(c: &mut Checks, snapshots: &Client<Cap<Endpoint>>, ep: Cap<Endpoint>) {
    // A request that sets off a restart is answered `Restarted`.
    let restarted = IpcError::Restarted.code();
    // The oracle faults the first request of each label; both labels are not idempotent.
    let count = label(console::v1::INTERFACE, 1, 0);
    let doomed = label(console::v1::INTERFACE, 1, 1);
    // No snapshot yet: the first fault restarts it from its image.
    c.check_eq("a fault before any snapshot", call(ep, count).0, restarted);
    let served = (call(ep, count), call(ep, count));
    c.check_eq(
        "the fresh server counts its requests",
        served,
        ((0, 1), (0, 2)),
    );
    match snapshots.take(name("restarter")) {
        Ok(info) => {
            c.check(
                info.complete && info.remaining == 0 && info.copied_before_write == 0,
                "take copies the whole region before the server runs again",
                format_args!("{info:?}"),
            );
        }
        Err(e) => c.fail("take copies the whole region", e),
    }
    let more = (call(ep, count), call(ep, count));
    c.check_eq(
        "the server serves on after the snapshot",
        more,
        ((0, 3), (0, 4)),
    );
    c.check_eq(
        "a faulting request is answered Restarted",
        call(ep, doomed).0,
        restarted,
    );
    c.check_eq(
        "restarted from its snapshot, the server is at the snapshot point",
        call(ep, count),
        (0, 3),
    );
}

fn refusals(c: &mut Checks, snapshots: &Client<Cap<Endpoint>>) {
    c.check_eq(
        "a snapshot of an unknown server is NoSuchServer",
        snapshots.begin(name("nope")),
        Err(CallError::Op(SnapshotError::NoSuchServer)),
    );
    c.check_eq(
        "a server without snapshot storage is NoSnapshot",
        snapshots.take(name("oracle")),
        Err(CallError::Op(SnapshotError::NoSnapshot)),
    );
}
