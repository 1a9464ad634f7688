//! Every op of every interface, through a generated client, the in-memory transport and the
//! generated dispatch, against a twin of the same server called directly: both must give the same
//! result, and end in the same state. Each test also checks that it called every op.
#![allow(clippy::clone_on_copy)]

mod models;

use ipc_schema::interfaces::common::{LogLevel, Name};
use ipc_schema::{
    CallError, Caller, CapSlot, InterfaceInfo, IpcError, Local, MSG_WORDS, console, kv, name,
    supervisor, timer, wire,
};
use models::*;
use std::collections::BTreeSet;

const BADGE: u64 = 1;

/// Calls `op(args)` through `client` and directly on `oracle`; requires the same result, notes
/// the request label in `seen`, and returns the result.
macro_rules! same {
    ($seen:ident, $client:ident, $oracle:ident, $Trait:path, $op:ident($($arg:expr),*)) => {{
        let via_ipc = $client.$op($($arg.clone()),*);
        let direct = <_ as $Trait>::$op(&mut $oracle, &mut Caller::new(BADGE, None) $(, $arg)*)
            .map_err(CallError::Op);
        assert_eq!(via_ipc, direct, "{}", stringify!($op($($arg),*)));
        $seen.insert($client.transport().last().request_label);
        via_ipc
    }};
}

/// Every op of `info` was called.
fn assert_covered(seen: &BTreeSet<u64>, info: &InterfaceInfo) {
    for op in info.ops {
        let label = ipc_schema::label(info.id, info.version, op.number);
        assert!(
            seen.contains(&label),
            "{} v{}: op {} not exercised",
            info.name,
            info.version,
            op.name
        );
    }
}

fn name(s: &str) -> Name {
    Name::try_from(s).unwrap()
}

#[test]
fn name_v1_round_trips() {
    use name::v1::{NameError, Query, Server};
    let t = Local::with_badge(NameModel::default(), name::v1::dispatch, BADGE);
    let client = name::v1::Client::new(&t);
    let mut oracle = NameModel::default();
    let mut seen = BTreeSet::new();

    // register carries a capability: the oracle gets it in its Caller.
    let mut register = |n: &str, id: u16, min: u8, max: u8, slot: u64| {
        let via_ipc = client.register(name(n), id, min, max, CapSlot(slot));
        assert_eq!(t.last().cap_sent, Some(CapSlot(slot)));
        assert!(!t.last().cap_unclaimed || via_ipc.is_err());
        let mut caller = Caller::new(BADGE, Some(CapSlot(slot)));
        let direct = oracle.register(&mut caller, name(n), id, min, max);
        assert_eq!(via_ipc, direct.map_err(CallError::Op));
        seen.insert(t.last().request_label);
        via_ipc
    };
    assert_eq!(register("kv", 4, 1, 2, 30), Ok(()));
    assert_eq!(register("console", 2, 1, 1, 31), Ok(()));
    assert_eq!(
        register("bad", 2, 2, 1, 32),
        Err(CallError::Op(NameError::InvalidVersions))
    );
    for i in 0..18 {
        assert_eq!(
            register(&format!("s{i}"), 100 + i, 1, 1, 40 + u64::from(i)),
            Ok(())
        );
    }

    // lookup returns a capability into the slot the client names.
    let mut lookup = |query: Query| {
        let via_ipc = client.lookup(query.clone(), CapSlot(90));
        let mut caller = Caller::new(BADGE, None);
        let direct = oracle.lookup(&mut caller, query);
        assert_eq!(via_ipc, direct.map_err(CallError::Op));
        assert_eq!(t.last().cap_returned, caller.reply_cap());
        seen.insert(t.last().request_label);
        via_ipc
    };
    let kv = lookup(Query::Name(name("kv"))).unwrap();
    assert_eq!((kv.interface, kv.min_version, kv.max_version), (4, 1, 2));
    assert_eq!(t.last().cap_returned, Some(CapSlot(30)));
    let kv1 = lookup(Query::Interface {
        interface: 4,
        version: 1,
    });
    assert_eq!(kv1.unwrap().name, name("kv"));
    assert_eq!(
        lookup(Query::Interface {
            interface: 4,
            version: 3
        }),
        Err(CallError::Op(NameError::NotFound))
    );
    assert_eq!(t.last().cap_returned, None, "no capability with an error");

    let page = same!(seen, client, oracle, Server, list(0)).unwrap();
    assert_eq!((page.entries.len(), page.next), (16, Some(16)));
    let page = same!(seen, client, oracle, Server, list(16)).unwrap();
    assert_eq!((page.entries.len(), page.next), (4, None));
    same!(seen, client, oracle, Server, list(500)).unwrap();
    assert_eq!(
        same!(seen, client, oracle, Server, unregister(name("console"))),
        Ok(())
    );
    assert_eq!(
        same!(seen, client, oracle, Server, unregister(name("console"))),
        Err(CallError::Op(NameError::NotFound))
    );

    assert_covered(&seen, &name::v1::INFO);
    assert_eq!(*t.server(), oracle);
}

#[test]
fn console_v1_round_trips() {
    use console::v1::{Bytes, ConsoleError, Server};
    let mut model = ConsoleModel::default();
    model
        .input
        .extend(b"typed input, more than two hundred bytes: ".iter());
    model.input.extend([b'x'; 300]);
    model.levels.insert("kv".into(), LogLevel::Info);
    let t = Local::with_badge(model.clone(), console::v1::dispatch, BADGE);
    let client = console::v1::Client::new(&t);
    let mut oracle = model;
    let mut seen = BTreeSet::new();

    same!(
        seen,
        client,
        oracle,
        Server,
        write(Bytes::from_slice(b"hello\n").unwrap())
    )
    .unwrap();
    same!(
        seen,
        client,
        oracle,
        Server,
        write(Bytes::from_slice(&[0xff; 200]).unwrap())
    )
    .unwrap();
    same!(seen, client, oracle, Server, write(Bytes::new())).unwrap();
    assert_eq!(
        same!(seen, client, oracle, Server, read(5)).unwrap(),
        b"typed"[..]
    );
    assert!(
        same!(seen, client, oracle, Server, read(0))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        same!(seen, client, oracle, Server, read(u16::MAX))
            .unwrap()
            .len(),
        200
    );
    same!(
        seen,
        client,
        oracle,
        Server,
        set_log_level(name("kv"), LogLevel::Trace)
    )
    .unwrap();
    assert_eq!(
        same!(
            seen,
            client,
            oracle,
            Server,
            set_log_level(name("nope"), LogLevel::Off)
        ),
        Err(CallError::Op(ConsoleError::NoSuchServer))
    );

    assert_covered(&seen, &console::v1::INFO);
    assert_eq!(*t.server(), oracle);
}

#[test]
fn timer_v1_round_trips() {
    use timer::v1::{Server, TimerError};
    let t = Local::with_badge(TimerModel::default(), timer::v1::dispatch, BADGE);
    let client = timer::v1::Client::new(&t);
    let mut oracle = TimerModel::default();
    let mut seen = BTreeSet::new();

    assert_eq!(same!(seen, client, oracle, Server, now()), Ok(1));
    assert!(t.last().in_registers());
    same!(seen, client, oracle, Server, frequency()).unwrap();
    same!(seen, client, oracle, Server, sleep(10)).unwrap();
    assert_eq!(
        same!(seen, client, oracle, Server, sleep(MAX_SLEEP + 1)),
        Err(CallError::Op(TimerError::TooLong))
    );
    assert_eq!(
        same!(seen, client, oracle, Server, set_deadline(Some(50))),
        Err(CallError::Op(TimerError::NotRegistered))
    );

    assert_eq!(client.register(CapSlot(12)), Ok(()));
    seen.insert(t.last().request_label);
    oracle
        .register(&mut Caller::new(BADGE, Some(CapSlot(12))))
        .unwrap();

    same!(seen, client, oracle, Server, set_deadline(Some(50))).unwrap();
    same!(seen, client, oracle, Server, set_deadline(Some(u64::MAX))).unwrap();
    same!(seen, client, oracle, Server, set_deadline(None)).unwrap();
    assert_eq!(same!(seen, client, oracle, Server, now()), Ok(12));

    assert_covered(&seen, &timer::v1::INFO);
    assert_eq!(*t.server(), oracle);
}

#[test]
fn kv_v1_round_trips() {
    use kv::v1::{KvError, Server, Value};
    let t = Local::with_badge(KvV1Model::default(), kv::v1::dispatch, BADGE);
    let client = kv::v1::Client::new(&t);
    let mut oracle = KvV1Model::default();
    let mut seen = BTreeSet::new();

    let value = |n: u8| Value::from_slice(&[n; 64][..usize::from(n % 65)]).unwrap();
    for k in 0..40u8 {
        let key = u64::from(k) * 1_000_000_007;
        same!(seen, client, oracle, Server, put(key, value(k))).unwrap();
    }
    same!(seen, client, oracle, Server, put(u64::MAX, value(64))).unwrap();
    assert_eq!(
        same!(seen, client, oracle, Server, get(u64::MAX)),
        Ok(value(64))
    );
    assert_eq!(
        same!(seen, client, oracle, Server, get(3)),
        Err(CallError::Op(KvError::NotFound))
    );
    same!(seen, client, oracle, Server, delete(0)).unwrap();
    assert_eq!(
        same!(seen, client, oracle, Server, delete(0)),
        Err(CallError::Op(KvError::NotFound))
    );
    let first = same!(seen, client, oracle, Server, list(None)).unwrap();
    assert_eq!(first.keys.len(), kv::v1::LIST_PAGE);
    let rest = same!(seen, client, oracle, Server, list(first.next)).unwrap();
    assert_eq!((rest.keys.len(), rest.next), (8, None));
    for k in 100..200 {
        let r = same!(seen, client, oracle, Server, put(k, Value::new()));
        if r.is_err() {
            assert_eq!(r, Err(CallError::Op(KvError::Full)));
            break;
        }
    }

    assert_covered(&seen, &kv::v1::INFO);
    assert_eq!(*t.server(), oracle);
}

#[test]
fn kv_v2_round_trips() {
    use kv::v2::{Key, KvError, Server, Value};
    let t = Local::with_badge(KvV2Model::default(), kv::v2::dispatch, BADGE);
    let client = kv::v2::Client::new(&t);
    let mut oracle = KvV2Model::default();
    let mut seen = BTreeSet::new();
    let key = |s: &str| Key::try_from(s).unwrap();

    let long_key = key(&"k".repeat(kv::v2::KEY_LEN));
    let big = Value::from_slice(&[7; kv::v2::VALUE_LEN]).unwrap();
    same!(
        seen,
        client,
        oracle,
        Server,
        put(long_key.clone(), big.clone(), None)
    )
    .unwrap();
    same!(
        seen,
        client,
        oracle,
        Server,
        put(key("short"), Value::new(), Some(5))
    )
    .unwrap();
    same!(
        seen,
        client,
        oracle,
        Server,
        put(key("ünïcødé"), big.clone(), Some(u64::MAX))
    )
    .unwrap();
    assert_eq!(
        same!(
            seen,
            client,
            oracle,
            Server,
            put(key(""), Value::new(), None)
        ),
        Err(CallError::Op(KvError::InvalidKey))
    );
    assert_eq!(
        same!(seen, client, oracle, Server, get(long_key.clone())),
        Ok(big)
    );
    assert_eq!(same!(seen, client, oracle, Server, count()), Ok(3));
    assert!(t.last().in_registers());
    // "short" expires five ticks (requests) after its put.
    assert_eq!(
        same!(seen, client, oracle, Server, get(key("short"))),
        Err(CallError::Op(KvError::NotFound))
    );
    assert_eq!(same!(seen, client, oracle, Server, count()), Ok(2));
    for i in 0..30 {
        same!(
            seen,
            client,
            oracle,
            Server,
            put(key(&format!("key-{i:02}")), Value::new(), None)
        )
        .unwrap();
    }
    let mut cursor = None;
    let mut listed = 0;
    loop {
        let page = same!(seen, client, oracle, Server, list(cursor.clone())).unwrap();
        listed += page.keys.len();
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(listed, 32);
    same!(seen, client, oracle, Server, delete(key("key-00"))).unwrap();
    assert_eq!(
        same!(seen, client, oracle, Server, delete(key("key-00"))),
        Err(CallError::Op(KvError::NotFound))
    );

    assert_covered(&seen, &kv::v2::INFO);
    assert_eq!(*t.server(), oracle);
}

#[test]
fn supervisor_v1_round_trips() {
    use supervisor::v1::{Server, SupervisorError};
    let model = SupervisorModel::with_servers(20);
    let t = Local::with_badge(model.clone(), supervisor::v1::dispatch, BADGE);
    let client = supervisor::v1::Client::new(&t);
    let mut oracle = model;
    let mut seen = BTreeSet::new();

    let page = same!(seen, client, oracle, Server, list(0)).unwrap();
    assert_eq!((page.servers.len(), page.next), (16, Some(16)));
    let page = same!(seen, client, oracle, Server, list(16)).unwrap();
    assert_eq!((page.servers.len(), page.next), (4, None));
    assert_eq!(
        same!(seen, client, oracle, Server, status(name("server-7")))
            .unwrap()
            .faults,
        14
    );
    assert_eq!(
        same!(seen, client, oracle, Server, status(name("server-70"))),
        Err(CallError::Op(SupervisorError::NoSuchServer))
    );
    same!(
        seen,
        client,
        oracle,
        Server,
        set_log_level(name("server-3"), LogLevel::Debug)
    )
    .unwrap();

    assert_covered(&seen, &supervisor::v1::INFO);
    assert_eq!(*t.server(), oracle);
}

#[test]
fn a_request_without_its_capability_never_reaches_the_handler() {
    let t = Local::new(NameModel::default(), name::v1::dispatch);
    let mut words = [0; MSG_WORDS];
    let n = wire::encode(&(name("kv"), 4u16, 1u8, 1u8), &mut words).unwrap();
    let mut reply = [0; MSG_WORDS];
    let label = name::v1::label(name::v1::op::register);
    let (reply_label, reply_words) =
        ipc_schema::Transport::call(&t, label, &words[..n], &mut reply).unwrap();
    assert_eq!(
        (reply_label, reply_words),
        (IpcError::MissingCapability.code(), 0)
    );
    assert!(t.server().entries.is_empty());
}

#[test]
fn a_capability_nobody_claims_is_reported_and_none_goes_back_unasked() {
    // timer's `now` carries no capability: one sent anyway stays unclaimed, for the server loop
    // to delete.
    let t = Local::new(TimerModel::default(), timer::v1::dispatch);
    let mut words = [0; MSG_WORDS];
    let caps = ipc_schema::CapTransfer {
        send: Some(CapSlot(5)),
        receive_into: Some(CapSlot(6)),
    };
    let label = timer::v1::label(timer::v1::op::now);
    let info = ipc_schema::Transport::call_with_caps(&t, label, &[], caps, &mut words).unwrap();
    assert_eq!(info.label, ipc_schema::REPLY_DELIVERED);
    assert!(!info.cap_received);
    assert!(t.last().cap_unclaimed);
}

/// A server that claims success for a capability-returning op but attaches none.
struct Forgetful;

impl name::v1::Server for Forgetful {
    fn register(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: u16,
        _: u8,
        _: u8,
    ) -> Result<(), name::v1::NameError> {
        Ok(())
    }
    fn lookup(
        &mut self,
        _: &mut Caller,
        query: name::v1::Query,
    ) -> Result<name::v1::Registration, name::v1::NameError> {
        let name::v1::Query::Name(name) = query else {
            return Err(name::v1::NameError::NotFound);
        };
        Ok(name::v1::Registration {
            name,
            interface: 1,
            min_version: 1,
            max_version: 1,
        })
    }
    fn list(
        &mut self,
        caller: &mut Caller,
        _: u16,
    ) -> Result<name::v1::RegistrationPage, name::v1::NameError> {
        // Not a capability-returning op: this must not go out.
        caller.reply_with_cap(CapSlot(9));
        Ok(Default::default())
    }
    fn unregister(&mut self, _: &mut Caller, _: Name) -> Result<(), name::v1::NameError> {
        Ok(())
    }
}

#[test]
fn a_missing_reply_capability_is_an_error_and_an_undeclared_one_is_not_sent() {
    let t = Local::new(Forgetful, name::v1::dispatch);
    let client = name::v1::Client::new(&t);
    assert_eq!(
        client.lookup(name::v1::Query::Name(name("x")), CapSlot(3)),
        Err(CallError::Ipc(IpcError::MissingCapability))
    );
    let mut reply = [0; MSG_WORDS];
    let mut words = [0; MSG_WORDS];
    let n = wire::encode(&(0u16,), &mut words).unwrap();
    let caps = ipc_schema::CapTransfer {
        send: None,
        receive_into: Some(CapSlot(3)),
    };
    let label = name::v1::label(name::v1::op::list);
    let info =
        ipc_schema::Transport::call_with_caps(&t, label, &words[..n], caps, &mut reply).unwrap();
    assert!(!info.cap_received);
}

#[test]
fn short_messages_fit_the_registers() {
    let t = Local::new(KvV1Model::default(), kv::v1::dispatch);
    let client = kv::v1::Client::new(&t);
    client.put(u64::MAX, kv::v1::Value::new()).unwrap();
    assert_eq!(t.last().request_words, 2);
    assert_eq!(t.last().reply_words, 1);
    assert!(t.last().in_registers());
    client
        .put(1, kv::v1::Value::from_slice(&[1; 64]).unwrap())
        .unwrap();
    assert_eq!(
        t.last().request_words,
        9,
        "66 bytes: through the IPC buffer"
    );
    assert_eq!(client.get(1).unwrap().len(), 64);
    assert_eq!((t.last().request_words, t.last().reply_words), (1, 9));
    assert_eq!(
        client.get(77),
        Err(CallError::Op(kv::v1::KvError::NotFound))
    );
    assert!(t.last().in_registers());
}

/// The largest value of every op's arguments and results fits one message: the bounded types
/// make the limit static, and this checks it.
#[test]
fn the_largest_values_fit_one_message() {
    use wire::{MAX_PAYLOAD_BYTES, encoded_len};
    fn fits<T: serde::Serialize>(what: &str, value: &T) {
        let len = encoded_len(value).unwrap_or_else(|| panic!("{what} does not fit a message"));
        assert!(len <= MAX_PAYLOAD_BYTES);
    }
    let long_name = name(&"n".repeat(24));
    let status = supervisor::v1::ServerStatus {
        name: long_name.clone(),
        version: u32::MAX,
        state: supervisor::v1::ServerState::Stopped,
        faults: u32::MAX,
        aborts: u32::MAX,
        restarts: u32::MAX,
        generation: u32::MAX,
    };
    let mut servers = supervisor::v1::ServerPage {
        next: Some(u16::MAX),
        ..Default::default()
    };
    while servers.servers.push(status.clone()).is_ok() {}
    fits::<Result<_, supervisor::v1::SupervisorError>>("supervisor page", &Ok(servers));

    let registration = name::v1::Registration {
        name: long_name.clone(),
        interface: u16::MAX,
        min_version: 255,
        max_version: 255,
    };
    let mut names = name::v1::RegistrationPage {
        next: Some(u16::MAX),
        ..Default::default()
    };
    while names.entries.push(registration.clone()).is_ok() {}
    fits::<Result<_, name::v1::NameError>>("name page", &Ok(names));
    fits("register", &(long_name.clone(), u16::MAX, 255u8, 255u8));

    let mut keys = kv::v1::KeyPage {
        next: Some(u64::MAX),
        ..Default::default()
    };
    while keys.keys.push(u64::MAX).is_ok() {}
    fits::<Result<_, kv::v1::KvError>>("kv v1 page", &Ok(keys));
    fits(
        "kv v1 put",
        &(u64::MAX, kv::v1::Value::from_slice(&[0; 64]).unwrap()),
    );

    let long_key = kv::v2::Key::try_from("k".repeat(32).as_str()).unwrap();
    let mut keys = kv::v2::KeyPage {
        next: Some(long_key.clone()),
        ..Default::default()
    };
    while keys.keys.push(long_key.clone()).is_ok() {}
    fits::<Result<_, kv::v2::KvError>>("kv v2 page", &Ok(keys));
    let big = kv::v2::Value::from_slice(&[0; 256]).unwrap();
    fits("kv v2 put", &(long_key, big.clone(), Some(u64::MAX)));
    fits::<Result<_, kv::v2::KvError>>("kv v2 value", &Ok(big));

    let chunk = console::v1::Bytes::from_slice(&[0; 200]).unwrap();
    fits("console write", &(chunk.clone(),));
    fits::<Result<_, console::v1::ConsoleError>>("console read", &Ok(chunk));
}

/// kv v1 is released: its encoding is pinned word for word.
#[test]
#[allow(clippy::unusual_byte_groupings)] // labels grouped by field: interface, version, op
fn kv_v1_wire_format_is_frozen() {
    let mut words = [0; MSG_WORDS];
    assert_eq!(kv::v1::label(kv::v1::op::put), 0x04_01_0001);
    let n = wire::encode(
        &(42u64, kv::v1::Value::from_slice(&[1, 2, 3]).unwrap()),
        &mut words,
    )
    .unwrap();
    assert_eq!(words[..n], [0x03_02_01_03_2a]);
    let n = wire::encode(&(300u64,), &mut words).unwrap();
    assert_eq!(words[..n], [0x02_ac]);
    let n = wire::encode(&Ok::<(), kv::v1::KvError>(()), &mut words).unwrap();
    assert_eq!(words[..n], [0]);
    let n = wire::encode(&Err::<(), _>(kv::v1::KvError::Full), &mut words).unwrap();
    assert_eq!(words[..n], [0x01_01]);
    let page = kv::v1::KeyPage {
        keys: heapless::Vec::from_slice(&[1, 2]).unwrap(),
        next: Some(2),
    };
    let n = wire::encode(&Ok::<_, kv::v1::KvError>(page), &mut words).unwrap();
    assert_eq!(words[..n], [0x02_01_02_01_02_00]);
}
