//! The client of the `upgrade-kv-versions` scenario: checks, on QEMU, the three upgradable kv
//! programs as a client sees them before any upgrade: `kv2` serves `kv::v2` and `kv::v1`
//! (through the adapter) from one store; `kv1` serves `kv::v1` only; `kv3` serves like `kv2`;
//! and none of them lets a client (a non-zero badge) use the `upgrade::v1` interface, whose
//! ops are the supervisor's, nor does a refused `freeze` stop the server serving.
//!
//! It calls the stores through the endpoints named `kv2`, `kv1` and `kv3`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ServerInfo;
use ipc_schema::kv::{v1, v2};
use ipc_schema::upgrade::v1::{self as upgrade, UpgradeError};
use ipc_schema::{CallError, IpcError};
use test_support::Checks;

axolotl_rt::declare_server!(main);

const SCENARIO: &str = "upgrade-kv-versions";

fn key(s: &str) -> v2::Key {
    v2::Key::try_from(s).unwrap_or_default()
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new(SCENARIO);
    let (Some(kv2), Some(kv1), Some(kv3)) = (
        server.client("kv2"),
        server.client("kv1"),
        server.client("kv3"),
    ) else {
        c.fail("setup", "needs capabilities to 'kv2', 'kv1' and 'kv3'");
        return c.finish(server);
    };

    // kv2: both versions, one store.
    let new = v2::Client::new(kv2);
    let old = v1::Client::new(kv2);
    let long = v2::Value::from_slice(&[0x5a; v2::VALUE_LEN]).unwrap_or_default();
    c.check_eq(
        "kv2 v2 put of a string key",
        new.put(key("alpha"), long.clone(), None),
        Ok(()),
    );
    c.check_eq(
        "kv2 v2 get of a 256-byte value",
        new.get(key("alpha")),
        Ok(long),
    );
    let short = v1::Value::from_slice(b"from v1").unwrap_or_default();
    c.check_eq(
        "kv2 v1 put through the adapter",
        old.put(42, short.clone()),
        Ok(()),
    );
    c.check_eq(
        "kv2 the v1 key is its decimal spelling in v2",
        new.get(key("42")).map(|v| v.as_slice() == b"from v1"),
        Ok(true),
    );
    c.check_eq("kv2 v1 get", old.get(42), Ok(short.clone()));
    let wide = v2::Value::from_slice(&[1; v1::VALUE_LEN + 1]).unwrap_or_default();
    c.check_eq(
        "kv2 v2 put of a 65-byte value",
        new.put(key("7"), wide, None),
        Ok(()),
    );
    c.check_eq(
        "kv2 v1 get of a value longer than v1 allows is Unrepresentable",
        old.get(7),
        Err(CallError::Op(v1::KvError::Unrepresentable)),
    );
    c.check_eq("kv2 v2 count (the new op)", new.count(), Ok(3));

    // The upgrade interface is the supervisor's.
    for (name, endpoint) in [("kv2", kv2), ("kv1", kv1), ("kv3", kv3)] {
        let u = upgrade::Client::new(endpoint);
        c.check_eq(
            format_args!("{name} refuses upgrade formats to a client"),
            u.formats().map(|_| ()),
            Err(CallError::Op(UpgradeError::NotSupervisor)),
        );
        c.check_eq(
            format_args!("{name} refuses freeze to a client"),
            u.freeze(),
            Err(CallError::Op(UpgradeError::NotSupervisor)),
        );
    }
    c.check_eq(
        "kv2 still serves after a refused freeze",
        old.get(42),
        Ok(short.clone()),
    );

    // kv1: version 1 only.
    let v1_only = v1::Client::new(kv1);
    c.check_eq("kv1 v1 put", v1_only.put(u64::MAX, short.clone()), Ok(()));
    c.check_eq("kv1 v1 get", v1_only.get(u64::MAX), Ok(short.clone()));
    c.check_eq(
        "kv1 v1 list",
        v1_only
            .list(None)
            .map(|p| (p.keys.len(), p.keys.first().copied(), p.next)),
        Ok((1, Some(u64::MAX), None)),
    );
    c.check_eq(
        "kv1 a kv v2 request is UnsupportedVersion",
        v2::Client::new(kv1).count(),
        Err(CallError::Ipc(IpcError::UnsupportedVersion)),
    );

    // kv3 started fresh serves like kv2.
    let v3 = v2::Client::new(kv3);
    c.check_eq(
        "kv3 v2 put",
        v3.put(key("k"), v2::Value::new(), Some(1 << 40)),
        Ok(()),
    );
    c.check_eq("kv3 v2 count", v3.count(), Ok(1));
    c.finish(server);
}
