//! The name service as its clients see it: generated `name::v1` clients over the in-memory
//! transport, with the capabilities moving as the kernel would move them.
//!
//! `Local` delivers a sent capability to the server under the slot number the client named (as
//! if both shared one CSpace), so the model CNode below stands for that shared CSpace: a client
//! "holds" a capability by putting an object in a slot before the call.

use ipc_schema::name::v1::{self, NameError, Query, Registration};
use ipc_schema::{CallError, CapSlot, IpcError, Local};
use name::{CapError, CapSpace, NameService, Registry};
use std::collections::BTreeMap;

#[derive(Default)]
struct Cspace(BTreeMap<u64, &'static str>);

impl CapSpace for Cspace {
    fn move_cap(&mut self, from: CapSlot, to: CapSlot) -> Result<(), CapError> {
        if self.0.contains_key(&to.0) {
            return Err(CapError(8)); // DeleteFirst
        }
        let object = self.0.remove(&from.0).ok_or(CapError(3))?;
        self.0.insert(to.0, object);
        Ok(())
    }

    fn delete_cap(&mut self, slot: CapSlot) -> Result<(), CapError> {
        self.0.remove(&slot.0);
        Ok(())
    }
}

type Service = Local<NameService<Cspace>>;

/// Where capabilities arrive with requests, and the table's slots.
const RECEIVE: u64 = 30;
const TABLE: std::ops::Range<u64> = 40..48;
/// A slot of the client's for the capability a lookup returns.
const RESULT: CapSlot = CapSlot(99);

fn service(badge: u64) -> Service {
    Local::with_badge(
        NameService::new(Registry::new(TABLE), Cspace::default()),
        NameService::dispatch,
        badge,
    )
}

fn name(s: &str) -> ipc_schema::interfaces::common::Name {
    s.try_into().unwrap()
}

/// Registers `n` with a capability to `object`, sent from the receive slot.
fn register(
    t: &Service,
    n: &str,
    interface: u16,
    versions: (u8, u8),
    object: &'static str,
) -> Result<(), CallError<NameError>> {
    t.server().caps.0.insert(RECEIVE, object);
    let r =
        v1::Client::new(t).register(name(n), interface, versions.0, versions.1, CapSlot(RECEIVE));
    assert!(
        !t.server().caps.0.contains_key(&RECEIVE),
        "the receive slot is empty after every register"
    );
    assert!(!t.last().cap_unclaimed);
    r
}

/// The object the capability a reply carried names.
fn returned_object(t: &Service) -> Option<&'static str> {
    let slot = t.last().cap_returned?;
    t.server().caps.0.get(&slot.0).copied()
}

#[test]
fn register_then_lookup_returns_the_capability() {
    let t = service(3);
    let c = v1::Client::new(&t);
    assert_eq!(register(&t, "kv", 4, (1, 2), "kv endpoint"), Ok(()));
    assert_eq!(t.last().cap_sent, Some(CapSlot(RECEIVE)));

    let by_name = c.lookup(Query::Name(name("kv")), RESULT).unwrap();
    assert_eq!(
        by_name,
        Registration {
            name: name("kv"),
            interface: 4,
            min_version: 1,
            max_version: 2
        }
    );
    assert_eq!(returned_object(&t), Some("kv endpoint"));

    let by_interface = Query::Interface {
        interface: 4,
        version: 1,
    };
    assert_eq!(c.lookup(by_interface, RESULT), Ok(by_name));
    assert_eq!(returned_object(&t), Some("kv endpoint"));

    // Not found: no capability in the reply.
    let missing = c.lookup(Query::Name(name("nobody")), RESULT);
    assert_eq!(missing, Err(CallError::Op(NameError::NotFound)));
    assert_eq!(t.last().cap_returned, None);
    let v3 = Query::Interface {
        interface: 4,
        version: 3,
    };
    assert_eq!(
        c.lookup(v3, RESULT),
        Err(CallError::Op(NameError::NotFound))
    );
}

#[test]
fn register_without_a_capability_is_refused_before_the_handler() {
    let t = service(3);
    // A hand-built request: the register op's arguments, no capability.
    let mut request = [0u64; ipc_schema::MSG_WORDS];
    let words = ipc_schema::wire::encode(&(name("kv"), 4u16, 1u8, 2u8), &mut request).unwrap();
    let mut reply = [0u64; ipc_schema::MSG_WORDS];
    let got = ipc_schema::Transport::call(
        &t,
        v1::label(v1::op::register),
        &request[..words],
        &mut reply,
    );
    assert_eq!(got, Ok((IpcError::MissingCapability.code(), 0)));
    assert!(t.server().registry.is_empty());
}

#[test]
fn only_the_registrant_replaces_or_unregisters() {
    let owner = service(3);
    assert_eq!(register(&owner, "kv", 4, (1, 1), "old kv"), Ok(()));
    // The same service seen by another caller (badge 5).
    let NameService { registry, caps } = owner.into_server();
    let other = Local::with_badge(NameService::new(registry, caps), NameService::dispatch, 5);
    assert_eq!(
        register(&other, "kv", 4, (1, 2), "impostor"),
        Err(CallError::Op(NameError::AlreadyRegistered))
    );
    assert_eq!(
        v1::Client::new(&other).unregister(name("kv")),
        Err(CallError::Op(NameError::NotPermitted))
    );
    assert!(!other.server().caps.0.values().any(|o| *o == "impostor"));

    let NameService { registry, caps } = other.into_server();
    let owner = Local::with_badge(NameService::new(registry, caps), NameService::dispatch, 3);
    assert_eq!(register(&owner, "kv", 4, (1, 2), "new kv"), Ok(()));
    let c = v1::Client::new(&owner);
    assert_eq!(
        c.lookup(Query::Name(name("kv")), RESULT)
            .unwrap()
            .max_version,
        2
    );
    assert_eq!(returned_object(&owner), Some("new kv"));
    assert_eq!(
        owner.server().caps.0.len(),
        1,
        "the old capability was deleted"
    );

    assert_eq!(c.unregister(name("kv")), Ok(()));
    assert!(owner.server().caps.0.is_empty());
    assert_eq!(
        c.unregister(name("kv")),
        Err(CallError::Op(NameError::NotFound))
    );
    assert_eq!(
        c.lookup(Query::Name(name("kv")), RESULT),
        Err(CallError::Op(NameError::NotFound))
    );
}

#[test]
fn errors_of_register() {
    let t = service(1);
    assert_eq!(
        register(&t, "kv", 4, (2, 1), "x"),
        Err(CallError::Op(NameError::InvalidVersions))
    );
    assert_eq!(
        register(&t, "kv", 4, (0, 1), "x"),
        Err(CallError::Op(NameError::InvalidVersions))
    );
    for i in 0..TABLE.count() {
        assert_eq!(register(&t, &format!("s{i}"), 1, (1, 1), "s"), Ok(()));
    }
    assert_eq!(
        register(&t, "one-more", 1, (1, 1), "x"),
        Err(CallError::Op(NameError::Full))
    );
    assert!(!t.server().caps.0.values().any(|o| *o == "x"));
}

#[test]
fn list_pages_through_registrations() {
    let t = Local::with_badge(
        NameService::new(Registry::new(100..200), Cspace::default()),
        NameService::dispatch,
        1,
    );
    for i in 0..20 {
        register(&t, &format!("svc{i}"), 7, (1, 1), "e").unwrap();
    }
    let c = v1::Client::new(&t);
    let first = c.list(0).unwrap();
    assert_eq!(first.entries.len(), v1::LIST_PAGE);
    assert_eq!(first.next, Some(v1::LIST_PAGE as u16));
    let second = c.list(first.next.unwrap()).unwrap();
    assert_eq!(second.next, None);
    let names: Vec<String> = first
        .entries
        .iter()
        .chain(&second.entries)
        .map(|r| r.name.to_string())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("svc{i}")).collect();
    assert_eq!(names, expected);
}
