//! Live upgrade of the kv store on the host: a populated version-1 store (program `kv1`) is
//! frozen, its state exported in chunks, migrated into version 2 (program `kv2`) and checked key
//! by key through v2 reads and v1 reads through the adapter; kv2 -> kv2 keeps expiry times; the
//! state is carried back to v1 when it can be; kv3's import fails and changes nothing; an
//! upgrade from kv1 to kv3 is refused at negotiation.
//!
//! The supervisor is played by generated `upgrade::v1` clients over the in-memory transport:
//! badge 0 on the service endpoint, any badge on the control endpoint.

use ipc_schema::kv::{key_from_v1, v1, v2};
use ipc_schema::upgrade::v1 as up;
use ipc_schema::{CallError, Caller, Local, MSG_WORDS};
use kv::upgrade::{
    FORMATS, KV_V1, KV_V2, STAGING_BYTES, StateV3, downgrade_v2_to_v1, migrate_v1_to_v2,
};
use kv::{CAPACITY, FixedClock, Kv, KvV1, State, StateV1};
use std::cell::RefCell;
use std::rc::Rc;
use upgrade::{Advertised, Agent, Channel, Format, FormatSet, Route, Upgradable, negotiate};

/// One version of the server: what it serves, its upgrade state, its agent.
trait Version {
    type State: Upgradable;
    fn state(&mut self) -> &mut Self::State;
    fn handle(
        &mut self,
        c: &mut Caller,
        l: u64,
        rq: &[u64],
        rp: &mut [u64; MSG_WORDS],
    ) -> (u64, usize);
}

impl Version for KvV1 {
    type State = StateV1;
    fn state(&mut self) -> &mut StateV1 {
        &mut self.state
    }
    fn handle(
        &mut self,
        c: &mut Caller,
        l: u64,
        rq: &[u64],
        rp: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        v1::dispatch(self, c, l, rq, rp)
    }
}

impl Version for Kv<FixedClock> {
    type State = State;
    fn state(&mut self) -> &mut State {
        &mut self.state
    }
    fn handle(
        &mut self,
        c: &mut Caller,
        l: u64,
        rq: &[u64],
        rp: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        Kv::handle(self, c, l, rq, rp)
    }
}

/// kv3: serves from a v2 store; its upgrade state is the broken one.
struct KvV3 {
    store: Kv<FixedClock>,
    upgrade: StateV3,
}

impl Version for KvV3 {
    type State = StateV3;
    fn state(&mut self) -> &mut StateV3 {
        &mut self.upgrade
    }
    fn handle(
        &mut self,
        c: &mut Caller,
        l: u64,
        rq: &[u64],
        rp: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        self.store.handle(c, l, rq, rp)
    }
}

/// What the server program's loop does with one message (see `kv::program::run`).
struct Server<V> {
    version: V,
    agent: Box<Agent<STAGING_BYTES>>,
}

struct Endpoint<V> {
    server: Rc<RefCell<Server<V>>>,
    channel: Channel,
}

fn dispatch<V: Version>(
    e: &mut Endpoint<V>,
    caller: &mut Caller,
    l: u64,
    rq: &[u64],
    rp: &mut [u64; MSG_WORDS],
) -> (u64, usize) {
    let s = &mut *e.server.borrow_mut();
    match s.agent.route(e.channel, l) {
        Route::Upgrade => s
            .agent
            .serve(s.version.state(), e.channel, caller, l, rq, rp),
        Route::Service => s.version.handle(caller, l, rq, rp),
        Route::Refuse(err) => err.reply(),
    }
}

struct Running<V> {
    server: Rc<RefCell<Server<V>>>,
    client: Local<Endpoint<V>>,
    supervisor: Local<Endpoint<V>>,
    control: Local<Endpoint<V>>,
}

fn start<V: Version>(version: V, agent: Agent<STAGING_BYTES>) -> Running<V> {
    let server = Rc::new(RefCell::new(Server {
        version,
        agent: Box::new(agent),
    }));
    let at = |channel, badge| {
        Local::with_badge(
            Endpoint {
                server: server.clone(),
                channel,
            },
            dispatch::<V>,
            badge,
        )
    };
    Running {
        client: at(Channel::Service, 3),
        supervisor: at(Channel::Service, 0),
        control: at(Channel::Control, 9),
        server,
    }
}

fn advertised<'a>(name: &'a str, version: u8, f: &'a up::Formats) -> Advertised<'a> {
    Advertised {
        name,
        version,
        export: FormatSet(f.export),
        import: FormatSet(f.import),
        preference: &f.preference,
    }
}

/// The supervisor's part: negotiate, freeze the old version, move every chunk, and tell the new
/// one to serve. Returns the format and the number of chunks, or the failing call.
fn upgrade<A: Version, B: Version>(
    old: &Running<A>,
    new: &Running<B>,
) -> Result<(Format, usize), String> {
    let old_formats = up::Client::new(&old.supervisor).formats().unwrap();
    let new_formats = up::Client::new(&new.control).formats().unwrap();
    let agreed = negotiate(
        advertised("kv", 1, &old_formats),
        advertised("kv", 2, &new_formats),
        FORMATS,
    )
    .map_err(|r| r.to_string())?;
    up::Client::new(&old.supervisor).freeze().unwrap();
    let chunks = transfer(old, new, agreed.format.0).map_err(|e| format!("{e:?}"))?;
    up::Client::new(&new.control).serve().unwrap();
    Ok((agreed.format, chunks))
}

fn transfer<A: Version, B: Version>(
    from: &Running<A>,
    to: &Running<B>,
    format: u8,
) -> Result<usize, CallError<up::UpgradeError>> {
    let (src, dst) = (up::Client::new(&from.control), up::Client::new(&to.control));
    let (mut offset, mut chunks) = (0u32, 0);
    loop {
        let chunk = src.export(format, offset)?;
        let last = offset as usize + chunk.bytes.len() >= chunk.total as usize;
        dst.import(format, offset, chunk.bytes.clone(), last)?;
        chunks += 1;
        offset += chunk.bytes.len() as u32;
        if last {
            return Ok(chunks);
        }
    }
}

fn v1_value(i: u64) -> v1::Value {
    // Lengths 0..=64, contents from the key.
    let len = (i % (v1::VALUE_LEN as u64 + 1)) as usize;
    (0..len).map(|j| (i as u8).wrapping_add(j as u8)).collect()
}

/// Keys spread over the whole u64 range, 0 and u64::MAX included.
fn v1_key(i: u64) -> u64 {
    match i {
        0 => 0,
        1 => u64::MAX,
        i => i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 50),
    }
}

fn populated_v1() -> Running<KvV1> {
    let old = start(KvV1::default(), Agent::serving(true));
    let c = v1::Client::new(&old.client);
    for i in 0..CAPACITY as u64 {
        c.put(v1_key(i), v1_value(i)).unwrap();
    }
    assert_eq!(
        c.put(12345, v1_value(0)),
        Err(CallError::Op(v1::KvError::Full))
    );
    old
}

#[test]
fn a_full_v1_store_migrates_to_v2_and_every_key_reads_back() {
    let old = populated_v1();
    let new = start(Kv::new(FixedClock(0)), Agent::importing());
    let (format, chunks) = upgrade(&old, &new).unwrap();
    assert_eq!(format, KV_V1, "the only format kv1 exports");
    let bytes = postcard::to_allocvec(&old.server.borrow().version.state)
        .unwrap()
        .len();
    assert_eq!(chunks, bytes.div_ceil(up::CHUNK_LEN));
    assert!(chunks > 5, "{bytes} bytes in {chunks} chunks");

    let v2c = v2::Client::new(&new.client);
    let v1c = v1::Client::new(&new.client);
    assert_eq!(v2c.count(), Ok(CAPACITY as u64));
    for i in 0..CAPACITY as u64 {
        let k = v1_key(i);
        let v2_read = v2c.get(key_from_v1(k)).unwrap();
        assert_eq!(v2_read.as_slice(), v1_value(i).as_slice(), "key {k}");
        assert_eq!(v1c.get(k), Ok(v1_value(i)), "key {k} through the adapter");
    }
    // The migrated store is a working v2 store: new ops, long values, string keys.
    v2c.delete(key_from_v1(0)).unwrap();
    v2c.put(
        v2::Key::try_from("name").unwrap(),
        [7; 200].into_iter().collect(),
        Some(5),
    )
    .unwrap();
    assert_eq!(v2c.count(), Ok(CAPACITY as u64));
    assert_eq!(v1c.get(0), Err(CallError::Op(v1::KvError::NotFound)));
    // The old version is frozen with its state: ready to resume if the new one fails.
    assert_eq!(old.server.borrow().version.state.len(), CAPACITY);
    assert_eq!(
        v1::Client::new(&old.client).get(v1_key(5)),
        Err(CallError::Ipc(ipc_schema::IpcError::ServerUnavailable))
    );
}

#[test]
fn v2_to_v2_keeps_everything_including_expiry() {
    let old = start(Kv::new(FixedClock(100)), Agent::serving(true));
    let c = v2::Client::new(&old.client);
    c.put(
        v2::Key::try_from("ttl").unwrap(),
        [1; 256].into_iter().collect(),
        Some(50),
    )
    .unwrap();
    c.put(
        v2::Key::try_from("forever").unwrap(),
        [2; 3].into_iter().collect(),
        None,
    )
    .unwrap();
    let new = start(Kv::new(FixedClock(120)), Agent::importing());
    let (format, _) = upgrade(&old, &new).unwrap();
    assert_eq!(format, KV_V2, "kv2 prefers its own format");
    assert_eq!(
        new.server.borrow().version.state,
        old.server.borrow().version.state
    );
    let n = v2::Client::new(&new.client);
    assert_eq!(n.count(), Ok(2));
    new.server.borrow_mut().version.clock = FixedClock(150);
    assert_eq!(n.count(), Ok(1), "the entry still expires at 150");
}

#[test]
fn rollback_carries_a_representable_state_back_to_v1() {
    let old = populated_v1();
    let new = start(Kv::new(FixedClock(0)), Agent::importing());
    upgrade(&old, &new).unwrap();
    // The new version serves a v1 write, then "faults": the supervisor freezes it and carries
    // its state back in the format kv1 imports.
    v1::Client::new(&new.client)
        .put(v1_key(3), v1_value(9))
        .unwrap();
    up::Client::new(&new.supervisor).freeze().unwrap();
    transfer(&new, &old, KV_V1.0).unwrap();
    up::Client::new(&old.control).serve().unwrap();
    let c = v1::Client::new(&old.client);
    assert_eq!(c.get(v1_key(3)), Ok(v1_value(9)));
    assert_eq!(c.get(v1_key(4)), Ok(v1_value(4)));
    // A v2-only entry cannot go back: the export in v1 format fails, and the old version
    // resumes with the state it was frozen with.
    let new2 = start(Kv::new(FixedClock(0)), Agent::importing());
    up::Client::new(&old.supervisor).freeze().unwrap();
    transfer(&old, &new2, KV_V1.0).unwrap();
    up::Client::new(&new2.control).serve().unwrap();
    v2::Client::new(&new2.client)
        .delete(key_from_v1(v1_key(5)))
        .unwrap();
    v2::Client::new(&new2.client)
        .put(
            v2::Key::try_from("not-a-number").unwrap(),
            v2::Value::new(),
            None,
        )
        .unwrap();
    up::Client::new(&new2.supervisor).freeze().unwrap();
    assert_eq!(
        up::Client::new(&new2.control).export(KV_V1.0, 0),
        Err(CallError::Op(up::UpgradeError::ExportFailed))
    );
    up::Client::new(&old.control).serve().unwrap();
    assert_eq!(c.get(v1_key(3)), Ok(v1_value(9)));
    assert_eq!(c.get(v1_key(5)), Ok(v1_value(5)), "as it was frozen");
}

#[test]
fn kv3_import_fails_and_the_old_version_resumes_intact() {
    let old = start(Kv::new(FixedClock(0)), Agent::serving(true));
    v2::Client::new(&old.client)
        .put(
            v2::Key::try_from("keep").unwrap(),
            [9; 10].into_iter().collect(),
            None,
        )
        .unwrap();
    let before = old.server.borrow().version.state.clone();
    let new = start(
        KvV3 {
            store: Kv::new(FixedClock(0)),
            upgrade: StateV3,
        },
        Agent::importing(),
    );
    let result = upgrade(&old, &new);
    assert_eq!(
        result,
        Err(format!(
            "{:?}",
            CallError::<up::UpgradeError>::Op(up::UpgradeError::ImportFailed)
        ))
    );
    // kv3 cannot be told to serve without a state; the old version resumes.
    assert_eq!(
        up::Client::new(&new.control).serve(),
        Err(CallError::Op(up::UpgradeError::WrongMode))
    );
    up::Client::new(&old.control).serve().unwrap();
    assert_eq!(old.server.borrow().version.state, before);
    assert_eq!(
        v2::Client::new(&old.client)
            .get(v2::Key::try_from("keep").unwrap())
            .map(|v| v.len()),
        Ok(10)
    );
}

#[test]
fn kv1_to_kv3_is_refused_before_anything_changes() {
    let old = populated_v1();
    let new = start(
        KvV3 {
            store: Kv::new(FixedClock(0)),
            upgrade: StateV3,
        },
        Agent::importing(),
    );
    let refusal = upgrade(&old, &new).unwrap_err();
    assert_eq!(
        refusal,
        "upgrade refused: kv v1 exports state formats {1} (0x2) and kv v2 imports {2, 3} (0xc): \
         none in common"
    );
    // Nothing changed: the old version still serves.
    assert_eq!(v1::Client::new(&old.client).get(v1_key(7)), Ok(v1_value(7)));
}

#[test]
fn migration_and_downgrade_directly() {
    let mut s1 = StateV1::new();
    s1.put(10, v1_value(10)).unwrap();
    s1.put(0, v1::Value::new()).unwrap();
    let s2 = migrate_v1_to_v2(&s1).unwrap();
    assert_eq!(
        s2.get("10", 0),
        Ok(&v2::Value::from_slice(&v1_value(10)).unwrap())
    );
    assert_eq!(s2.get("0", 0).map(|v| v.len()), Ok(0));
    assert_eq!(downgrade_v2_to_v1(&s2), Ok(s1.clone()));
    // Entries v1 cannot hold.
    for (k, len, ttl) in [
        ("x", 1, None),
        ("01", 1, None),
        ("5", 65, None),
        ("5", 1, Some(9)),
    ] {
        let mut s = s2.clone();
        s.put(
            v2::Key::try_from(k).unwrap(),
            [0; 65][..len].iter().copied().collect(),
            ttl,
            0,
        )
        .unwrap();
        assert!(downgrade_v2_to_v1(&s).is_err(), "{k} {len} {ttl:?}");
    }
    // Import checks invariants: a v1 state with a repeated key decodes but is refused.
    #[derive(serde::Serialize)]
    struct SameShape {
        entries: Vec<(u64, v1::Value)>,
    }
    let dup = postcard::to_allocvec(&SameShape {
        entries: vec![(4, v1_value(1)), (4, v1_value(2))],
    })
    .unwrap();
    assert_eq!(
        postcard::from_bytes::<StateV1>(&dup).map(|s| s.len()),
        Ok(2)
    );
    assert_eq!(
        <State as Upgradable>::import(KV_V1, &dup),
        Err(upgrade::TransferError::Invalid)
    );
    assert_eq!(
        <StateV1 as Upgradable>::import(KV_V1, &dup),
        Err(upgrade::TransferError::Invalid)
    );
    let bytes = postcard::to_allocvec(&s1).unwrap();
    assert!(<StateV1 as Upgradable>::import(KV_V2, &bytes).is_err());
    // The biggest v2 state fits the staging buffer.
    let mut big = State::new();
    for i in 0..CAPACITY {
        let key = format!("{i:0>32}");
        big.put(
            v2::Key::try_from(key.as_str()).unwrap(),
            [0xff; 256].into_iter().collect(),
            Some(u64::MAX),
            1,
        )
        .unwrap();
    }
    let mut out = vec![0; STAGING_BYTES];
    let n = big.export(KV_V2, &mut out).unwrap();
    assert!(n <= STAGING_BYTES, "{n}");
    assert_eq!(<State as Upgradable>::import(KV_V2, &out[..n]), Ok(big));
}
