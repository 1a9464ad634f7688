//! The store as its clients see it: generated `kv::v2` and `kv::v1` clients over the in-memory
//! transport, served by [`Kv::dispatch`] (v1 through ipc-schema's adapter) against one `State`.

use ipc_schema::kv::{v1, v2};
use ipc_schema::{CallError, IpcError, Local, Transport, label};
use kv::{CAPACITY, FixedClock, Kv};

type Store = Local<Kv<FixedClock>>;

fn store() -> Store {
    Local::new(Kv::new(FixedClock(0)), Kv::dispatch)
}

fn key(s: &str) -> v2::Key {
    v2::Key::try_from(s).unwrap()
}

fn value(b: &[u8]) -> v2::Value {
    v2::Value::from_slice(b).unwrap()
}

fn v1_value(b: &[u8]) -> v1::Value {
    v1::Value::from_slice(b).unwrap()
}

fn op2<T>(e: v2::KvError) -> Result<T, CallError<v2::KvError>> {
    Err(CallError::Op(e))
}

fn op1<T>(e: v1::KvError) -> Result<T, CallError<v1::KvError>> {
    Err(CallError::Op(e))
}

/// Every page of a v2 listing, concatenated.
fn list_all_v2(c: &v2::Client<&Store>) -> (Vec<String>, usize) {
    let (mut keys, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = c.list(cursor).unwrap();
        pages += 1;
        keys.extend(page.keys.iter().map(|k| k.to_string()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (keys, pages),
        }
    }
}

#[test]
fn every_v2_op() {
    let t = store();
    let c = v2::Client::new(&t);
    assert_eq!(c.count(), Ok(0));
    assert_eq!(c.get(key("a")), op2(v2::KvError::NotFound));
    assert_eq!(c.put(key("a"), value(b"alpha"), None), Ok(()));
    assert_eq!(c.get(key("a")), Ok(value(b"alpha")));
    assert_eq!(c.put(key("a"), value(b"again"), None), Ok(()));
    assert_eq!(c.get(key("a")), Ok(value(b"again")));
    assert_eq!(c.put(key("b"), value(&[0xee; v2::VALUE_LEN]), None), Ok(()));
    assert_eq!(c.get(key("b")).map(|v| v.len()), Ok(v2::VALUE_LEN));
    assert_eq!(c.count(), Ok(2));
    let page = c.list(None).unwrap();
    assert_eq!(
        (page.keys.as_slice(), page.next),
        (&[key("a"), key("b")][..], None)
    );
    assert_eq!(c.delete(key("a")), Ok(()));
    assert_eq!(c.delete(key("a")), op2(v2::KvError::NotFound));
    assert_eq!(c.get(key("a")), op2(v2::KvError::NotFound));
    assert_eq!(c.count(), Ok(1));
    // Empty keys are refused by every op that takes one.
    assert_eq!(
        c.put(key(""), value(b"x"), None),
        op2(v2::KvError::InvalidKey)
    );
    assert_eq!(c.get(key("")), op2(v2::KvError::InvalidKey));
    assert_eq!(c.delete(key("")), op2(v2::KvError::InvalidKey));
    assert_eq!(t.server().state.len(), 1);
}

#[test]
fn short_requests_stay_in_registers() {
    let t = store();
    let c = v2::Client::new(&t);
    c.put(key("k"), value(b"v"), None).unwrap();
    assert!(t.last().in_registers());
    c.get(key("k")).unwrap();
    assert!(t.last().in_registers());
    c.count().unwrap();
    assert!(t.last().in_registers());
}

#[test]
fn time_to_live_follows_the_clock() {
    let t = store();
    let c = v2::Client::new(&t);
    t.server().clock.0 = 1000;
    c.put(key("session"), value(b"s"), Some(50)).unwrap();
    c.put(key("config"), value(b"c"), None).unwrap();
    t.server().clock.0 = 1049;
    assert_eq!(c.get(key("session")), Ok(value(b"s")));
    assert_eq!(c.count(), Ok(2));
    t.server().clock.0 = 1050;
    assert_eq!(c.get(key("session")), op2(v2::KvError::NotFound));
    assert_eq!(c.count(), Ok(1));
    assert_eq!(c.list(None).unwrap().keys, [key("config")]);
    assert_eq!(c.delete(key("session")), op2(v2::KvError::NotFound));
}

#[test]
fn capacity_is_exhausted_with_full_and_recovers_after_a_delete() {
    let t = store();
    let c = v2::Client::new(&t);
    for i in 0..CAPACITY {
        assert_eq!(
            c.put(key(&format!("key{i:03}")), value(b"v"), None),
            Ok(()),
            "{i}"
        );
    }
    assert_eq!(c.count(), Ok(CAPACITY as u64));
    assert_eq!(
        c.put(key("one-too-many"), value(b"v"), None),
        op2(v2::KvError::Full)
    );
    let v1c = v1::Client::new(&t);
    assert_eq!(
        v1c.put(7, v1_value(b"v")),
        op1(v1::KvError::Full),
        "v1 sees Full too"
    );
    // Existing keys can still be replaced.
    assert_eq!(c.put(key("key000"), value(b"new"), None), Ok(()));
    assert_eq!(c.get(key("key000")), Ok(value(b"new")));
    assert_eq!(c.count(), Ok(CAPACITY as u64));
    // A delete makes room for exactly one.
    assert_eq!(c.delete(key("key064")), Ok(()));
    assert_eq!(c.put(key("one-too-many"), value(b"v"), None), Ok(()));
    assert_eq!(
        c.put(key("two-too-many"), value(b"v"), None),
        op2(v2::KvError::Full)
    );
}

#[test]
fn full_store_listing_pages_through_every_key() {
    let t = store();
    let c = v2::Client::new(&t);
    // Inserted in scrambled order; listed in byte order.
    for i in 0..CAPACITY {
        let n = (i * 37) % CAPACITY;
        c.put(key(&format!("key{n:03}")), value(b""), None).unwrap();
    }
    let (keys, pages) = list_all_v2(&c);
    let expected: Vec<String> = (0..CAPACITY).map(|n| format!("key{n:03}")).collect();
    assert_eq!(keys, expected);
    assert_eq!(pages, CAPACITY / v2::LIST_PAGE);
    // Every page but the last points at its own last key.
    let first = c.list(None).unwrap();
    assert_eq!(first.next.as_deref(), Some("key015"));
    let last = c.list(Some(key("key111"))).unwrap();
    assert_eq!((last.keys.len(), last.next), (v2::LIST_PAGE, None));
}

#[test]
fn v1_clients_go_through_the_adapter_to_the_same_state() {
    let t = store();
    let old = v1::Client::new(&t);
    let new = v2::Client::new(&t);

    assert_eq!(old.put(42, v1_value(b"from v1")), Ok(()));
    assert_eq!(t.last().request_label, label(v1::INTERFACE, 1, v1::op::put));
    assert_eq!(new.get(key("42")), Ok(value(b"from v1")));
    assert_eq!(t.server().state.get("42", 0), Ok(&value(b"from v1")));
    assert_eq!(old.get(42), Ok(v1_value(b"from v1")));
    assert_eq!(old.get(43), op1(v1::KvError::NotFound));

    new.put(key("7"), value(b"from v2"), None).unwrap();
    assert_eq!(old.get(7), Ok(v1_value(b"from v2")));
    // A value longer than v1 allows cannot be read by v1.
    new.put(key("8"), value(&[1; v1::VALUE_LEN + 1]), None)
        .unwrap();
    assert_eq!(old.get(8), op1(v1::KvError::Unrepresentable));
    // Keys that are not decimal numbers are invisible to v1.
    new.put(key("name"), value(b"x"), None).unwrap();
    new.put(key("007"), value(b"x"), None).unwrap();

    assert_eq!(old.delete(42), Ok(()));
    assert_eq!(old.delete(42), op1(v1::KvError::NotFound));
    assert_eq!(new.get(key("42")), op2(v2::KvError::NotFound));
    assert_eq!(new.count(), Ok(4));

    let page = old.list(None).unwrap();
    assert_eq!((page.keys.as_slice(), page.next), (&[7, 8][..], None));
}

#[test]
fn v1_listing_pages_across_v2_pages() {
    let t = store();
    let old = v1::Client::new(&t);
    let new = v2::Client::new(&t);
    // 100 v1 keys interleaved with 20 keys v1 cannot see.
    for k in 0..100u64 {
        old.put(k * 3, v1_value(&k.to_le_bytes())).unwrap();
    }
    for i in 0..20 {
        new.put(key(&format!("x{i}")), value(b""), None).unwrap();
    }
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = old.list(cursor).unwrap();
        pages += 1;
        assert!(page.keys.len() <= v1::LIST_PAGE);
        seen.extend_from_slice(&page.keys);
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    // v1 order is the byte order of the decimal spellings.
    let mut expected: Vec<u64> = (0..100).map(|k| k * 3).collect();
    expected.sort_by_key(|k| k.to_string());
    assert_eq!(seen, expected);
    for k in [0u64, 33, 297] {
        assert_eq!(old.get(k), Ok(v1_value(&(k / 3).to_le_bytes())));
    }
}

#[test]
fn other_interfaces_and_versions_are_refused() {
    let t = store();
    let mut reply = [0u64; ipc_schema::MSG_WORDS];
    let kv_v3 = label(v2::INTERFACE, 3, 0);
    assert_eq!(
        Transport::call(&&t, kv_v3, &[], &mut reply),
        Ok((IpcError::UnsupportedVersion.code(), 0))
    );
    let name_v1 = label(ipc_schema::name::v1::INTERFACE, 1, 0);
    assert_eq!(
        Transport::call(&&t, name_v1, &[], &mut reply),
        Ok((IpcError::UnknownInterface.code(), 0))
    );
    assert_eq!(
        Transport::call(&&t, label(v2::INTERFACE, 2, 99), &[], &mut reply),
        Ok((IpcError::UnknownOp.code(), 0))
    );
    // A request that does not decode reaches no handler and changes nothing.
    assert_eq!(
        Transport::call(
            &&t,
            label(v2::INTERFACE, 2, v2::op::put),
            &[u64::MAX],
            &mut reply
        ),
        Ok((IpcError::Decode.code(), 0))
    );
    assert!(t.server().state.is_empty());
}
