//! The client of the `kv-ops` and `kv-transactional` scenarios: drives every op of the kv server
//! through the generated `kv::v2` and `kv::v1` clients and checks each result exactly, including
//! `Full` once the store's capacity is exhausted.
//!
//! The scenario its lines are prefixed with is its own server name in the image (`kv-ops` or
//! `kv-transactional`); the same checks run whether or not the store is transactional. It calls
//! the store through the endpoint named `kv`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, ServerInfo};
use core::fmt::Write;
use ipc_schema::kv::{v1, v2};
use ipc_schema::{CallError, IpcError, MSG_WORDS, Transport, label};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// The store's capacity (`kv::CAPACITY` of the server).
const CAPACITY: usize = 128;

fn key(s: &str) -> v2::Key {
    v2::Key::try_from(s).unwrap_or_default()
}

/// Key `prefix` followed by `i` in three digits: sorts like the numbers.
fn numbered(prefix: &str, i: usize) -> v2::Key {
    let mut k = v2::Key::new();
    let _ = write!(k, "{prefix}{i:03}");
    k
}

fn value(b: &[u8]) -> v2::Value {
    v2::Value::from_slice(b).unwrap_or_default()
}

fn v1_value(b: &[u8]) -> v1::Value {
    v1::Value::from_slice(b).unwrap_or_default()
}

fn scenario_of(server: &'static ServerInfo) -> &'static str {
    match server.name() {
        "kv-transactional" => "kv-transactional",
        _ => "kv-ops",
    }
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new(scenario_of(server));
    let Some(store) = server.client("kv") else {
        c.fail("setup", "no capability to 'kv'");
        return c.finish(server);
    };
    let new = v2::Client::new(store);
    let old = v1::Client::new(store);
    v2_ops(&mut c, &new);
    listing(&mut c, &new);
    v1_through_the_adapter(&mut c, &new, &old);
    capacity(&mut c, &new, &old);
    other_versions(&mut c, store);
    c.finish(server);
}

fn v2_ops(c: &mut Checks, kv: &v2::Client<Cap<Endpoint>>) {
    c.check_eq("v2 count of the empty store is 0", kv.count(), Ok(0));
    c.check_eq(
        "v2 put of a new key",
        kv.put(key("greeting"), value(b"hello"), None),
        Ok(()),
    );
    c.check_eq(
        "v2 get returns the value put",
        kv.get(key("greeting")),
        Ok(value(b"hello")),
    );
    kv.put(key("greeting"), value(b"hello again"), None).ok();
    c.check_eq(
        "v2 put replaces the value",
        kv.get(key("greeting")),
        Ok(value(b"hello again")),
    );
    let mut long = [0u8; v2::VALUE_LEN];
    for (i, b) in long.iter_mut().enumerate() {
        *b = i as u8 ^ 0x5a;
    }
    let longest = longest_key();
    kv.put(longest.clone(), value(&long), None).ok();
    c.check_eq(
        "v2 the longest key and value round-trip",
        kv.get(longest.clone()),
        Ok(value(&long)),
    );
    c.check_eq(
        "v2 get of a missing key is NotFound",
        kv.get(key("missing")),
        Err(CallError::Op(v2::KvError::NotFound)),
    );
    c.check_eq(
        "v2 an empty key is InvalidKey",
        kv.put(key(""), value(b"x"), None),
        Err(CallError::Op(v2::KvError::InvalidKey)),
    );
    c.check_eq("v2 count counts the entries", kv.count(), Ok(2));
    c.check_eq("v2 delete of a key", kv.delete(longest.clone()), Ok(()));
    c.check_eq(
        "v2 get after delete is NotFound",
        kv.get(longest.clone()),
        Err(CallError::Op(v2::KvError::NotFound)),
    );
    c.check_eq(
        "v2 a second delete is NotFound",
        kv.delete(longest),
        Err(CallError::Op(v2::KvError::NotFound)),
    );
    kv.put(key("brief"), value(b"gone"), Some(0)).ok();
    c.check_eq(
        "v2 an entry with ttl 0 has expired at once",
        kv.get(key("brief")),
        Err(CallError::Op(v2::KvError::NotFound)),
    );
    kv.put(key("lasting"), value(b"here"), Some(u64::MAX)).ok();
    c.check_eq(
        "v2 an entry with a long ttl is there",
        kv.get(key("lasting")),
        Ok(value(b"here")),
    );
    c.check_eq("v2 count skips expired entries", kv.count(), Ok(2));
    kv.delete(key("lasting")).ok();
    kv.delete(key("brief")).ok();
}

fn listing(c: &mut Checks, kv: &v2::Client<Cap<Endpoint>>) {
    // 40 keys put in a scrambled order: listed in byte order, 16 a page.
    for i in 0..40 {
        kv.put(numbered("page-", (i * 7) % 40), value(b""), None)
            .ok();
    }
    let mut cursor = None;
    let (mut pages, mut listed, mut in_order) = (0, 0, true);
    let mut last: Option<v2::Key> = None;
    loop {
        let Ok(page) = kv.list(cursor.clone()) else {
            in_order = false;
            break;
        };
        pages += 1;
        for k in &page.keys {
            if k.starts_with("page-") {
                in_order &= *k == numbered("page-", listed);
                listed += 1;
            }
            in_order &= last.as_ref().is_none_or(|l| l < k);
            last = Some(k.clone());
        }
        match page.next {
            Some(next) if pages < 10 => cursor = Some(next),
            _ => break,
        }
    }
    // "greeting" sorts before "page-": 41 keys in 3 pages.
    c.check(
        pages == 3 && listed == 40 && in_order,
        "v2 list pages through every key in byte order",
        format_args!("{pages} pages, {listed} keys, in order: {in_order}"),
    );
    c.check_eq("v2 count after the listing puts", kv.count(), Ok(41));
    for i in 0..40 {
        kv.delete(numbered("page-", i)).ok();
    }
}

fn v1_through_the_adapter(
    c: &mut Checks,
    new: &v2::Client<Cap<Endpoint>>,
    old: &v1::Client<Cap<Endpoint>>,
) {
    c.check_eq("v1 put", old.put(42, v1_value(b"from v1")), Ok(()));
    c.check_eq(
        "v1 a key put by v1 is its decimal spelling in v2",
        new.get(key("42")),
        Ok(value(b"from v1")),
    );
    new.put(key("7"), value(b"from v2"), None).ok();
    c.check_eq(
        "v1 get of a key put by v2",
        old.get(7),
        Ok(v1_value(b"from v2")),
    );
    new.put(key("8"), value(&[1; v1::VALUE_LEN + 1]), None).ok();
    c.check_eq(
        "v1 a value longer than v1 allows is Unrepresentable",
        old.get(8),
        Err(CallError::Op(v1::KvError::Unrepresentable)),
    );
    let page = old.list(None);
    let keys = page.as_ref().map(|p| (p.keys.as_slice(), p.next));
    c.check_eq(
        "v1 list sees exactly the v1 keys",
        keys,
        Ok((&[42u64, 7, 8][..], None)),
    );
    c.check_eq("v1 delete", old.delete(42), Ok(()));
    c.check_eq(
        "v1 get after delete is NotFound",
        old.get(42),
        Err(CallError::Op(v1::KvError::NotFound)),
    );
    new.delete(key("7")).ok();
    new.delete(key("8")).ok();
    c.check_eq("v2 count after the v1 checks", new.count(), Ok(1));
}

fn capacity(c: &mut Checks, new: &v2::Client<Cap<Endpoint>>, old: &v1::Client<Cap<Endpoint>>) {
    // One entry ("greeting") is there already.
    let mut stored = 1;
    for i in 0..CAPACITY - 1 {
        if new.put(numbered("fill-", i), value(&[i as u8; 8]), None) == Ok(()) {
            stored += 1;
        }
    }
    c.check_eq("the store takes exactly its capacity", stored, CAPACITY);
    c.check_eq("count of the full store", new.count(), Ok(CAPACITY as u64));
    c.check_eq(
        "v2 put of a new key into the full store is Full",
        new.put(key("one-too-many"), value(b"x"), None),
        Err(CallError::Op(v2::KvError::Full)),
    );
    c.check_eq(
        "v1 put of a new key into the full store is Full",
        old.put(1, v1_value(b"x")),
        Err(CallError::Op(v1::KvError::Full)),
    );
    c.check_eq(
        "an existing key can be replaced in the full store",
        new.put(key("greeting"), value(b"still here"), None),
        Ok(()),
    );
    c.check_eq(
        "a Full put changed nothing",
        (new.get(key("one-too-many")), new.get(key("greeting"))),
        (
            Err(CallError::Op(v2::KvError::NotFound)),
            Ok(value(b"still here")),
        ),
    );
    new.delete(numbered("fill-", 64)).ok();
    c.check_eq(
        "after a delete one new key fits again",
        new.put(key("one-too-many"), value(b"x"), None),
        Ok(()),
    );
    let mut intact = true;
    for i in (0..CAPACITY - 1).filter(|&i| i != 64) {
        intact &= new.get(numbered("fill-", i)) == Ok(value(&[i as u8; 8]));
    }
    c.check(intact, "every stored value reads back", "a value differs");
}

fn other_versions(c: &mut Checks, store: Cap<Endpoint>) {
    let mut reply = [0u64; MSG_WORDS];
    let v3 = label(v2::INTERFACE, 3, v2::op::get);
    c.check_eq(
        "a kv v3 request is UnsupportedVersion",
        Transport::call(&store, v3, &[], &mut reply),
        Ok((IpcError::UnsupportedVersion.code(), 0)),
    );
}

/// A key of the greatest length: `KEY_LEN` times `k`.
fn longest_key() -> v2::Key {
    let mut k = v2::Key::new();
    while k.push('k').is_ok() {}
    k
}
