//! kv v1 clients served by a v2 server through the adapter, as after a live upgrade.

mod models;

use ipc_schema::kv::{self, V1OnV2, key_from_v1, key_to_v1};
use ipc_schema::{CallError, Caller, IpcError, Local, MSG_WORDS, label};
use models::{KvV1Model, KvV2Model};
use std::collections::BTreeSet;

fn v2_key(s: &str) -> kv::v2::Key {
    kv::v2::Key::try_from(s).unwrap()
}

#[test]
fn v1_keys_are_their_decimal_spelling() {
    assert_eq!(key_from_v1(0), "0");
    assert_eq!(key_from_v1(42), "42");
    assert_eq!(key_from_v1(u64::MAX), "18446744073709551615");
    for k in [0, 1, 9, 10, 4_294_967_296, u64::MAX] {
        assert_eq!(key_to_v1(&key_from_v1(k)), Some(k));
    }
    for not_v1 in [
        "",
        "00",
        "042",
        "+1",
        "-1",
        " 1",
        "1a",
        "18446744073709551616",
        "kv",
    ] {
        assert_eq!(key_to_v1(not_v1), None, "{not_v1:?}");
    }
}

#[test]
fn old_and_new_clients_share_one_v2_server() {
    let t = Local::new(KvV2Model::default(), kv::dispatch);
    let old = kv::v1::Client::new(&t);
    let new = kv::v2::Client::new(&t);

    let v1_value = kv::v1::Value::from_slice(b"written by v1").unwrap();
    old.put(42, v1_value.clone()).unwrap();
    assert_eq!(t.last().request_label, label(4, 1, 1), "a v1 request");
    assert_eq!(new.get(v2_key("42")).unwrap(), b"written by v1"[..]);
    assert_eq!(old.get(42), Ok(v1_value));

    new.put(v2_key("7"), kv::v2::Value::from_slice(b"v2").unwrap(), None)
        .unwrap();
    assert_eq!(old.get(7).unwrap(), b"v2"[..]);
    new.put(
        v2_key("8"),
        kv::v2::Value::from_slice(&[1; 100]).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        old.get(8),
        Err(CallError::Op(kv::v1::KvError::Unrepresentable)),
        "a value longer than v1 allows"
    );
    assert_eq!(old.get(9), Err(CallError::Op(kv::v1::KvError::NotFound)));

    old.delete(42).unwrap();
    assert_eq!(
        new.get(v2_key("42")),
        Err(CallError::Op(kv::v2::KvError::NotFound))
    );
    assert_eq!(
        old.delete(42),
        Err(CallError::Op(kv::v1::KvError::NotFound))
    );
    assert_eq!(new.count(), Ok(2));
}

#[test]
fn v1_listing_through_the_adapter_sees_exactly_the_v1_keys() {
    let t = Local::new(KvV2Model::with_capacity(1000), kv::dispatch);
    let new = kv::v2::Client::new(&t);
    let mut v1_keys = BTreeSet::new();
    for i in 0..70u64 {
        let k = i * i * 7919;
        v1_keys.insert(k);
        new.put(key_from_v1(k), kv::v2::Value::new(), None).unwrap();
        // Keys v1 cannot name, interleaved in byte order.
        for other in [format!("{k}x"), format!("0{k}"), format!("a{i}")] {
            new.put(v2_key(&other), kv::v2::Value::new(), None).unwrap();
        }
    }
    assert_eq!(t.server().map.len(), 280);
    let old = kv::v1::Client::new(&t);
    let mut listed = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = old.list(cursor).unwrap();
        assert!(page.keys.len() <= kv::v1::LIST_PAGE);
        pages += 1;
        listed.extend_from_slice(&page.keys);
        match page.next {
            Some(next) => {
                assert_eq!(page.keys.last(), Some(&next));
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "70 keys in pages of 32");
    let unique: BTreeSet<u64> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "no key listed twice");
    assert_eq!(unique, v1_keys);
}

/// Every key a v1 client lists, page by page.
fn all_keys<T: ipc_schema::Transport>(client: &kv::v1::Client<T>) -> BTreeSet<u64> {
    let mut keys = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = client.list(cursor).unwrap();
        keys.extend(page.keys.iter().copied());
        cursor = page.next;
        if cursor.is_none() {
            return keys;
        }
    }
}

/// The same v1 workload against a v1 server and against a v2 server through the adapter gives
/// the same replies.
#[test]
fn the_adapter_behaves_like_a_v1_server() {
    let v1_server = Local::new(KvV1Model::default(), kv::v1::dispatch);
    let adapted = Local::new(KvV2Model::default(), kv::dispatch);
    let a = kv::v1::Client::new(&v1_server);
    let b = kv::v1::Client::new(&adapted);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..5_000 {
        let key = next() % 150;
        match next() % 4 {
            0 => assert_eq!(a.get(key), b.get(key)),
            1 => {
                let len = (next() % 65) as usize;
                let value = kv::v1::Value::from_slice(&vec![key as u8; len]).unwrap();
                assert_eq!(a.put(key, value.clone()), b.put(key, value));
            }
            2 => assert_eq!(a.delete(key), b.delete(key)),
            _ => {
                assert_eq!(all_keys(&a), all_keys(&b));
            }
        }
    }
    assert_eq!(v1_server.server().map.len(), adapted.server().map.len());
}

#[test]
fn versions_are_routed_and_unknown_ones_refused() {
    let mut server = KvV2Model::default();
    let mut reply = [0; MSG_WORDS];
    let mut caller = Caller::new(1, None);
    let count_v3 = label(4, 3, kv::v2::op::count);
    assert_eq!(
        kv::dispatch(&mut server, &mut caller, count_v3, &[], &mut reply),
        IpcError::UnsupportedVersion.reply()
    );
    let console = label(2, 1, 0);
    assert_eq!(
        kv::dispatch(&mut server, &mut caller, console, &[], &mut reply),
        IpcError::UnknownInterface.reply()
    );
    // count exists in v2 only.
    let count_v1 = label(4, 1, kv::v2::op::count);
    assert_eq!(
        kv::dispatch(&mut server, &mut caller, count_v1, &[], &mut reply),
        IpcError::UnknownOp.reply()
    );
    // A v1-only server does not speak v2.
    let mut old = KvV1Model::default();
    let count_v2 = label(4, 2, kv::v2::op::count);
    assert_eq!(
        kv::v1::dispatch(&mut old, &mut caller, count_v2, &[], &mut reply),
        IpcError::UnsupportedVersion.reply()
    );
    assert_eq!(server.now, 0, "no request reached the server");
}

/// A v2 server whose list cursor does not advance.
struct Stuck;

impl kv::v2::Server for Stuck {
    fn get(&mut self, _: &mut Caller, _: kv::v2::Key) -> Result<kv::v2::Value, kv::v2::KvError> {
        Err(kv::v2::KvError::NotFound)
    }
    fn put(
        &mut self,
        _: &mut Caller,
        _: kv::v2::Key,
        _: kv::v2::Value,
        _: Option<u64>,
    ) -> Result<(), kv::v2::KvError> {
        Err(kv::v2::KvError::Full)
    }
    fn delete(&mut self, _: &mut Caller, _: kv::v2::Key) -> Result<(), kv::v2::KvError> {
        Err(kv::v2::KvError::NotFound)
    }
    fn list(
        &mut self,
        _: &mut Caller,
        _: Option<kv::v2::Key>,
    ) -> Result<kv::v2::KeyPage, kv::v2::KvError> {
        Ok(kv::v2::KeyPage {
            keys: heapless::Vec::from_slice(&[v2_key("x"), v2_key("1")]).unwrap(),
            next: Some(v2_key("1")),
        })
    }
    fn count(&mut self, _: &mut Caller) -> Result<u64, kv::v2::KvError> {
        Ok(0)
    }
}

#[test]
fn a_v2_cursor_that_does_not_advance_ends_the_v1_listing() {
    let page = kv::v1::Server::list(&mut V1OnV2(&mut Stuck), &mut Caller::new(1, None), None);
    // First page from no cursor, then "1" again from "1": the adapter stops there.
    assert_eq!(page.unwrap().keys, [1, 1]);
    assert_eq!(
        kv::v1::Server::put(
            &mut V1OnV2(&mut Stuck),
            &mut Caller::new(1, None),
            1,
            kv::v1::Value::new()
        ),
        Err(kv::v1::KvError::Full)
    );
}
