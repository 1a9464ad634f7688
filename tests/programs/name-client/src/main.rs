//! The client of the `name-lookup` scenario. It is given a capability to the name service only;
//! the kv server registers a call-only capability to its endpoint there. The client looks kv up
//! by name and by interface version, receives the capability in the reply, and calls kv (v2 and
//! v1) through it; it checks the service's errors and registers, looks up and unregisters an
//! alias of its own, sending the capability it received.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, Error, ServerInfo, yield_now};
use ipc_schema::interfaces::common::Name;
use ipc_schema::kv::{v1, v2};
use ipc_schema::name::v1::{self as name, NameError, Query, Registration};
use ipc_schema::{CallError, CapSlot, IpcError, MSG_WORDS, Transport};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// How often to ask before concluding kv never registered (it registers at start-up, at a higher
/// priority, so the first lookup normally finds it).
const LOOKUP_ATTEMPTS: u32 = 100;

fn name_of(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn key(s: &str) -> v2::Key {
    v2::Key::try_from(s).unwrap_or_default()
}

fn value(b: &[u8]) -> v2::Value {
    v2::Value::from_slice(b).unwrap_or_default()
}

/// Looks `query` up into `slot`, retrying while nothing is registered yet.
fn lookup_waiting(
    names: &name::Client<Cap<Endpoint>>,
    query: Query,
    slot: CapSlot,
) -> Result<Registration, CallError<NameError>> {
    let mut result = names.lookup(query.clone(), slot);
    for _ in 1..LOOKUP_ATTEMPTS {
        if result != Err(CallError::Op(NameError::NotFound)) {
            break;
        }
        yield_now();
        result = names.lookup(query.clone(), slot);
    }
    result
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("name-lookup");
    let Some(name_service) = server.client("name") else {
        c.fail("setup", "no capability to 'name'");
        return c.finish(server);
    };
    let mut free = server.empty_slots();
    let (Some(by_name), Some(by_interface), Some(never), Some(alias)) =
        (free.next(), free.next(), free.next(), free.next())
    else {
        c.fail("setup", "fewer than 4 empty slots");
        return c.finish(server);
    };
    let names = name::Client::new(name_service);
    c.check(
        server.client("kv").is_none(),
        "the client starts without a capability to kv",
        "the image granted one",
    );

    let kv_registration = Registration {
        name: name_of("kv"),
        interface: v2::INTERFACE,
        min_version: 1,
        max_version: 2,
    };
    c.check_eq(
        "lookup by name finds kv serving kv v1..=v2",
        lookup_waiting(&names, Query::Name(name_of("kv")), CapSlot(by_name)),
        Ok(kv_registration.clone()),
    );
    let kv = v2::Client::new(Cap::<Endpoint>::from_cptr(by_name));
    c.check_eq(
        "kv v2 put through the capability the lookup returned",
        kv.put(key("42"), value(b"via the name service"), None),
        Ok(()),
    );
    c.check_eq(
        "kv v2 get through it",
        kv.get(key("42")),
        Ok(value(b"via the name service")),
    );
    c.check_eq(
        "the capability is call-only (receiving on it fails)",
        Cap::<Endpoint>::from_cptr(by_name).nb_recv().map(drop),
        Err(Error::InvalidCapability),
    );

    let v1_query = Query::Interface {
        interface: v1::INTERFACE,
        version: 1,
    };
    c.check_eq(
        "lookup by interface kv version 1 finds kv",
        names.lookup(v1_query, CapSlot(by_interface)),
        Ok(kv_registration.clone()),
    );
    let kv_v1 = v1::Client::new(Cap::<Endpoint>::from_cptr(by_interface));
    c.check_eq(
        "kv v1 get through that capability sees the v2 put",
        kv_v1.get(42),
        Ok(v1::Value::from_slice(b"via the name service").unwrap_or_default()),
    );

    let list = names.list(0);
    c.check_eq(
        "list shows the registration",
        list.as_ref().map(|p| (p.entries.as_slice(), p.next)),
        Ok((&[kv_registration.clone()][..], None)),
    );

    c.check_eq(
        "lookup of an unknown name is NotFound",
        names.lookup(Query::Name(name_of("nobody")), CapSlot(never)),
        Err(CallError::Op(NameError::NotFound)),
    );
    let mut reply = [0u64; MSG_WORDS];
    c.check_eq(
        "a failed lookup leaves the receive slot empty",
        Transport::call(&Cap::<Endpoint>::from_cptr(never), 0, &[], &mut reply),
        Err(IpcError::ServerUnavailable),
    );
    let kv3 = Query::Interface {
        interface: v2::INTERFACE,
        version: 3,
    };
    c.check_eq(
        "lookup of a version nobody serves is NotFound",
        names.lookup(kv3, CapSlot(never)),
        Err(CallError::Op(NameError::NotFound)),
    );
    c.check_eq(
        "the client may not unregister kv",
        names.unregister(name_of("kv")),
        Err(CallError::Op(NameError::NotPermitted)),
    );
    c.check_eq(
        "the client may not take over the name kv",
        names.register(name_of("kv"), v2::INTERFACE, 1, 2, CapSlot(by_name)),
        Err(CallError::Op(NameError::AlreadyRegistered)),
    );
    c.check_eq(
        "a registration with versions 2..=1 is InvalidVersions",
        names.register(name_of("bad"), v2::INTERFACE, 2, 1, CapSlot(by_name)),
        Err(CallError::Op(NameError::InvalidVersions)),
    );

    // The capability travels on: the client registers it under an alias, and gets it back.
    c.check_eq(
        "the client registers the kv capability it received as kv-alias",
        names.register(name_of("kv-alias"), v2::INTERFACE, 2, 2, CapSlot(by_name)),
        Ok(()),
    );
    c.check(
        names
            .lookup(Query::Name(name_of("kv-alias")), CapSlot(alias))
            .is_ok(),
        "lookup of kv-alias returns a capability",
        "it failed",
    );
    let through_alias = v2::Client::new(Cap::<Endpoint>::from_cptr(alias));
    c.check_eq(
        "kv answers through the alias capability",
        through_alias.get(key("42")),
        Ok(value(b"via the name service")),
    );
    c.check_eq(
        "list shows both registrations in order",
        names.list(0).map(|p| {
            p.entries
                .iter()
                .map(|r| r.name.clone())
                .collect::<HeaplessNames>()
        }),
        Ok(HeaplessNames::from_slice(&[name_of("kv"), name_of("kv-alias")]).unwrap_or_default()),
    );
    c.check_eq(
        "the client unregisters its alias",
        names.unregister(name_of("kv-alias")),
        Ok(()),
    );
    c.check_eq(
        "kv-alias is gone",
        names.lookup(Query::Name(name_of("kv-alias")), CapSlot(never)),
        Err(CallError::Op(NameError::NotFound)),
    );
    c.check_eq(
        "kv is still registered",
        names.list(0).map(|p| p.entries.len()),
        Ok(1),
    );
    c.finish(server);
}

type HeaplessNames = ipc_schema::heapless::Vec<Name, { name::LIST_PAGE }>;
