//! The upgrade protocol end to end on the host: a supervisor's generated `upgrade::v1` clients
//! over the in-memory transport, against two versions of a toy server, each an [`Agent`] beside
//! its state, reached on a service endpoint and a control endpoint.

use ipc_schema::upgrade::v1::{self, CHUNK_LEN, Chunk, UpgradeError};
use ipc_schema::{CallError, Caller, IpcError, Local, MSG_WORDS, Never, label};
use std::cell::RefCell;
use std::rc::Rc;
use upgrade::{
    Advertised, Agent, Channel, Format, FormatSet, Mode, TransferError, Upgradable, negotiate,
};

const TOY_V1: Format = Format(1);
const TOY_V2: Format = Format(2);
const STAGING: usize = 8192;

/// Version 1 of the toy's state: numbers.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct ToyV1 {
    numbers: heapless::Vec<u32, 600>,
}

/// Version 2: wider numbers and a total kept up to date (its invariant).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct ToyV2 {
    numbers: heapless::Vec<u64, 600>,
    total: u64,
}

impl Upgradable for ToyV1 {
    const EXPORTS: FormatSet = FormatSet::of(&[TOY_V1]);
    const IMPORTS: FormatSet = FormatSet::of(&[TOY_V1]);
    const PREFERENCE: &'static [u8] = &[1];

    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError> {
        match format {
            TOY_V1 => upgrade::encode(self, out),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        match format {
            TOY_V1 => upgrade::decode(bytes),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }
}

impl Upgradable for ToyV2 {
    /// It can also write its state as v1 (when every number fits), to carry it back.
    const EXPORTS: FormatSet = FormatSet::of(&[TOY_V1, TOY_V2]);
    const IMPORTS: FormatSet = FormatSet::of(&[TOY_V1, TOY_V2]);
    const PREFERENCE: &'static [u8] = &[2, 1];

    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError> {
        match format {
            TOY_V2 => upgrade::encode(self, out),
            TOY_V1 => {
                let mut old = ToyV1::default();
                for &n in &self.numbers {
                    let n = u32::try_from(n).map_err(|_| TransferError::Invalid)?;
                    old.numbers.push(n).map_err(|_| TransferError::Invalid)?;
                }
                upgrade::encode(&old, out)
            }
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        let state: ToyV2 = match format {
            TOY_V2 => upgrade::decode(bytes)?,
            TOY_V1 => {
                // The migration.
                let old: ToyV1 = upgrade::decode(bytes)?;
                let numbers = old.numbers.iter().map(|&n| u64::from(n)).collect();
                let total = old.numbers.iter().map(|&n| u64::from(n)).sum();
                ToyV2 { numbers, total }
            }
            f => return Err(TransferError::UnsupportedFormat(f)),
        };
        if state.numbers.iter().sum::<u64>() != state.total {
            return Err(TransferError::Invalid);
        }
        Ok(state)
    }
}

/// The toy's own interface: add a number, read the count.
mod toy {
    pub mod v1 {
        ipc_schema::interface! {
            interface toy = 0x7100, version 1;
            0 => non_idempotent fn add(n: u32) -> Result<u64, ipc_schema::Never>;
        }
    }
}

trait Add {
    fn add_number(&mut self, n: u32) -> u64;
}

impl Add for ToyV1 {
    fn add_number(&mut self, n: u32) -> u64 {
        let _ = self.numbers.push(n);
        self.numbers.len() as u64
    }
}

impl Add for ToyV2 {
    fn add_number(&mut self, n: u32) -> u64 {
        let _ = self.numbers.push(u64::from(n));
        self.total += u64::from(n);
        self.numbers.len() as u64
    }
}

struct Serve<'a, S>(&'a mut S);

impl<S: Add> toy::v1::Server for Serve<'_, S> {
    fn add(&mut self, _: &mut Caller, n: u32) -> Result<u64, Never> {
        Ok(self.0.add_number(n))
    }
}

/// One version of the server: its state and agent, shared by its two endpoints.
struct Server<S> {
    state: S,
    agent: Agent<STAGING>,
}

type Shared<S> = Rc<RefCell<Server<S>>>;

/// One endpoint of a server, as the in-memory transport's "server".
struct Endpoint<S> {
    server: Shared<S>,
    channel: Channel,
}

fn dispatch<S: Upgradable + Add>(
    e: &mut Endpoint<S>,
    caller: &mut Caller,
    l: u64,
    request: &[u64],
    reply: &mut [u64; MSG_WORDS],
) -> (u64, usize) {
    let server = &mut *e.server.borrow_mut();
    server.agent.handle(
        &mut server.state,
        e.channel,
        caller,
        l,
        request,
        reply,
        |state, caller, l, request, reply| {
            toy::v1::dispatch(&mut Serve(state), caller, l, request, reply)
        },
    )
}

/// A server's endpoints: clients' (badge 5), the supervisor's on the service endpoint (badge
/// 0), and the control endpoint.
struct Endpoints<S> {
    server: Shared<S>,
    client: Local<Endpoint<S>>,
    supervisor: Local<Endpoint<S>>,
    control: Local<Endpoint<S>>,
}

fn endpoints<S: Upgradable + Add>(state: S, agent: Agent<STAGING>) -> Endpoints<S> {
    let server = Rc::new(RefCell::new(Server { state, agent }));
    let at = |channel, badge| {
        Local::with_badge(
            Endpoint {
                server: server.clone(),
                channel,
            },
            dispatch::<S>,
            badge,
        )
    };
    Endpoints {
        client: at(Channel::Service, 5),
        supervisor: at(Channel::Service, 0),
        control: at(Channel::Control, 7),
        server,
    }
}

fn op<T>(e: UpgradeError) -> Result<T, CallError<UpgradeError>> {
    Err(CallError::Op(e))
}

fn numbers(n: u32) -> ToyV1 {
    ToyV1 {
        numbers: (0..n).map(|i| i * 70_001 + 1).collect(),
    }
}

/// Moves the state: every chunk from `from`'s control endpoint into `to`'s.
fn transfer<A: Upgradable + Add, B: Upgradable + Add>(
    from: &Endpoints<A>,
    to: &Endpoints<B>,
    format: u8,
) -> Result<usize, CallError<UpgradeError>> {
    let (old, new) = (v1::Client::new(&from.control), v1::Client::new(&to.control));
    let mut offset = 0u32;
    let mut chunks = 0;
    loop {
        let chunk = old.export(format, offset)?;
        let last = offset as usize + chunk.bytes.len() >= chunk.total as usize;
        new.import(format, offset, chunk.bytes.clone(), last)?;
        chunks += 1;
        offset += chunk.bytes.len() as u32;
        if last {
            return Ok(chunks);
        }
    }
}

#[test]
fn a_full_upgrade_migrates_the_state_and_serves_again() {
    let old = endpoints(numbers(500), Agent::serving(true));
    let new = endpoints(ToyV2::default(), Agent::importing());
    let client = toy::v1::Client::new(&old.client);
    assert_eq!(client.add(3), Ok(501));

    // Negotiation, from both versions' own answers.
    let old_formats = v1::Client::new(&old.supervisor).formats().unwrap();
    let new_formats = v1::Client::new(&new.control).formats().unwrap();
    assert_eq!(new_formats.preference.as_slice(), &[2, 1]);
    let agreed = negotiate(
        Advertised {
            name: "toy",
            version: 1,
            export: FormatSet(old_formats.export),
            import: FormatSet(old_formats.import),
            preference: &old_formats.preference,
        },
        Advertised {
            name: "toy",
            version: 2,
            export: FormatSet(new_formats.export),
            import: FormatSet(new_formats.import),
            preference: &new_formats.preference,
        },
        &[],
    )
    .unwrap();
    assert_eq!(agreed.format, TOY_V1, "the only format v1 exports");

    // Freeze: the old server now receives on its control endpoint only.
    assert_eq!(v1::Client::new(&old.supervisor).freeze(), Ok(()));
    assert_eq!(old.server.borrow().agent.channel(), Channel::Control);
    // A client call that reached it anyway is answered, not served.
    assert_eq!(
        client.add(4),
        Err(CallError::Ipc(IpcError::ServerUnavailable))
    );

    // The new version may not serve before it has a state.
    assert_eq!(
        v1::Client::new(&new.control).serve(),
        op(UpgradeError::WrongMode)
    );
    let chunks = transfer(&old, &new, agreed.format.0).unwrap();
    let encoded = postcard::to_allocvec(&old.server.borrow().state)
        .unwrap()
        .len();
    assert!(encoded > 2 * CHUNK_LEN, "the state spans several messages");
    assert_eq!(chunks, encoded.div_ceil(CHUNK_LEN));
    {
        let new_state = &new.server.borrow().state;
        assert_eq!(new_state.numbers.len(), 501);
        assert_eq!(new_state.numbers[500], 3);
        assert_eq!(
            new_state.total,
            (0..500u64).map(|i| i * 70_001 + 1).sum::<u64>() + 3
        );
    }
    assert_eq!(
        new.server.borrow().agent.mode(),
        Mode::Importing { imported: true }
    );
    assert_eq!(v1::Client::new(&new.control).serve(), Ok(()));
    assert_eq!(new.server.borrow().agent.channel(), Channel::Service);
    assert_eq!(toy::v1::Client::new(&new.client).add(9), Ok(502));
    // The old version is still frozen with its state, for the probation window.
    assert_eq!(old.server.borrow().agent.mode(), Mode::Frozen);
    assert_eq!(old.server.borrow().state.numbers.len(), 501);
}

#[test]
fn only_the_supervisor_may_use_the_service_endpoint_for_upgrades() {
    let old = endpoints(numbers(3), Agent::serving(true));
    let c = v1::Client::new(&old.client);
    assert_eq!(c.formats(), op(UpgradeError::NotSupervisor));
    assert_eq!(c.freeze(), op(UpgradeError::NotSupervisor));
    assert_eq!(c.export(1, 0), op(UpgradeError::NotSupervisor));
    assert_eq!(old.server.borrow().agent.mode(), Mode::Serving);
    // Without a control endpoint a server cannot freeze.
    let lone = endpoints(numbers(3), Agent::serving(false));
    assert_eq!(
        v1::Client::new(&lone.supervisor).freeze(),
        op(UpgradeError::WrongMode)
    );
    assert_eq!(lone.server.borrow().agent.channel(), Channel::Service);
}

#[test]
fn ops_out_of_their_mode_are_refused() {
    let old = endpoints(numbers(3), Agent::serving(true));
    let sup = v1::Client::new(&old.supervisor);
    let ctl = v1::Client::new(&old.control);
    // Serving: export, import and serve are control-endpoint ops of a frozen server.
    assert_eq!(sup.export(1, 0), op(UpgradeError::WrongMode));
    assert_eq!(
        sup.import(1, 0, Chunk::new(), true),
        op(UpgradeError::WrongMode)
    );
    assert_eq!(sup.serve(), op(UpgradeError::WrongMode));
    assert_eq!(ctl.export(1, 0), op(UpgradeError::WrongMode));
    assert_eq!(sup.freeze(), Ok(()));
    // Frozen: a second freeze (on either endpoint) is refused.
    assert_eq!(ctl.freeze(), op(UpgradeError::WrongMode));
    assert_eq!(ctl.export(2, 0), op(UpgradeError::UnsupportedFormat(2)));
    // Slices of an export that was never encoded are refused.
    assert_eq!(ctl.export(1, 10), op(UpgradeError::BadOffset));
    let whole = ctl.export(1, 0).unwrap();
    assert_eq!(ctl.export(1, whole.total + 1), op(UpgradeError::BadOffset));
    assert_eq!(ctl.export(1, whole.total).map(|c| c.bytes.len()), Ok(0));
    // A non-upgrade message on the control endpoint.
    let t = toy::v1::Client::new(&old.control);
    assert_eq!(t.add(1), Err(CallError::Ipc(IpcError::UnknownInterface)));
    // An importing server cannot export.
    let new = endpoints(ToyV2::default(), Agent::importing());
    let nctl = v1::Client::new(&new.control);
    assert_eq!(nctl.export(2, 0), op(UpgradeError::WrongMode));
    assert_eq!(nctl.freeze(), op(UpgradeError::WrongMode));
    // Rollback: the frozen server serves again, with its state.
    assert_eq!(ctl.serve(), Ok(()));
    assert_eq!(toy::v1::Client::new(&old.client).add(1), Ok(4));
}

#[test]
fn a_failed_import_changes_nothing() {
    let new = endpoints(
        ToyV2 {
            numbers: [5u64].into_iter().collect(),
            total: 5,
        },
        Agent::importing(),
    );
    let ctl = v1::Client::new(&new.control);
    let before = new.server.borrow().state.clone();
    // Bytes that do not decode.
    let junk = Chunk::from_slice(&[0xff; 40]).unwrap();
    assert_eq!(
        ctl.import(1, 0, junk.clone(), true),
        op(UpgradeError::ImportFailed)
    );
    // A state that decodes but breaks the invariant (total wrong).
    let bad = ToyV2 {
        numbers: [1u64, 2].into_iter().collect(),
        total: 4,
    };
    let bytes = postcard::to_allocvec(&bad).unwrap();
    assert_eq!(
        ctl.import(2, 0, Chunk::from_slice(&bytes).unwrap(), true),
        op(UpgradeError::ImportFailed)
    );
    // Trailing bytes after a valid state.
    let mut bytes = postcard::to_allocvec(&before).unwrap();
    bytes.push(0);
    assert_eq!(
        ctl.import(2, 0, Chunk::from_slice(&bytes).unwrap(), true),
        op(UpgradeError::ImportFailed)
    );
    assert_eq!(new.server.borrow().state, before);
    assert_eq!(ctl.serve(), op(UpgradeError::WrongMode));
    // Unsupported format, chunks out of order or changing format.
    assert_eq!(
        ctl.import(3, 0, junk.clone(), true),
        op(UpgradeError::UnsupportedFormat(3))
    );
    assert_eq!(ctl.import(1, 0, junk.clone(), false), Ok(()));
    assert_eq!(
        ctl.import(1, 39, junk.clone(), false),
        op(UpgradeError::BadOffset)
    );
    assert_eq!(
        ctl.import(2, 40, junk.clone(), false),
        op(UpgradeError::BadOffset)
    );
    assert_eq!(ctl.import(1, 40, junk.clone(), false), Ok(()));
    // More than the staging buffer holds.
    let full = Chunk::from_slice(&[0; CHUNK_LEN]).unwrap();
    let mut offset = 0u32;
    let mut result = Ok(());
    for _ in 0..=STAGING / CHUNK_LEN {
        result = ctl.import(1, offset, full.clone(), false);
        if result.is_err() {
            break;
        }
        offset += CHUNK_LEN as u32;
    }
    assert_eq!(result, op(UpgradeError::TooLarge));
    assert_eq!(new.server.borrow().state, before);
}

#[test]
fn a_state_too_large_to_stage_is_refused_at_export() {
    let server = Rc::new(RefCell::new(Server {
        state: numbers(600),
        agent: Agent::serving(true),
    }));
    // The same server with a 1 KiB staging buffer.
    struct Small {
        state: ToyV1,
        agent: Agent<1024>,
    }
    let mut small = Small {
        state: server.borrow().state.clone(),
        agent: Agent::serving(true),
    };
    fn small_dispatch(
        s: &mut Small,
        caller: &mut Caller,
        l: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        let channel = if caller.badge() == 0 {
            Channel::Service
        } else {
            Channel::Control
        };
        s.agent
            .serve(&mut s.state, channel, caller, l, request, reply)
    }
    let mut caller = Caller::new(0, None);
    let mut reply = [0; MSG_WORDS];
    let (l, _) = small_dispatch(
        &mut small,
        &mut caller,
        label(v1::INTERFACE, 1, v1::op::freeze),
        &[],
        &mut reply,
    );
    assert_eq!(l, 0);
    let ctl = Local::with_badge(small, small_dispatch, 3);
    assert_eq!(
        v1::Client::new(&ctl).export(1, 0),
        op(UpgradeError::TooLarge)
    );
}

#[test]
fn the_state_can_be_carried_back_to_the_old_version() {
    // After an upgrade, the new version's state goes back to the frozen old one in a format the
    // old one imports, and the old one resumes with it (rollback with the state carried back).
    let old = endpoints(numbers(10), Agent::serving(true));
    let new = endpoints(ToyV2::default(), Agent::importing());
    v1::Client::new(&old.supervisor).freeze().unwrap();
    transfer(&old, &new, 1).unwrap();
    v1::Client::new(&new.control).serve().unwrap();
    toy::v1::Client::new(&new.client).add(77).unwrap();
    // The new version faults; the supervisor freezes it and moves its state back.
    v1::Client::new(&new.supervisor).freeze().unwrap();
    transfer(&new, &old, 1).unwrap();
    v1::Client::new(&old.control).serve().unwrap();
    assert_eq!(old.server.borrow().state.numbers.len(), 11);
    assert_eq!(toy::v1::Client::new(&old.client).add(1), Ok(12));
    // A state the old version cannot express is not carried back: its export fails.
    let wide = endpoints(
        ToyV2 {
            numbers: [u64::MAX].into_iter().collect(),
            total: u64::MAX,
        },
        Agent::serving(true),
    );
    v1::Client::new(&wide.supervisor).freeze().unwrap();
    assert_eq!(
        v1::Client::new(&wide.control).export(1, 0),
        op(UpgradeError::ExportFailed)
    );
}

#[test]
fn agent_routes_by_interface_and_mode() {
    let agent: Agent<16> = Agent::serving(true);
    let upgrade_label = label(v1::INTERFACE, 1, 0);
    let other = label(0x7100, 1, 0);
    use upgrade::Route;
    assert_eq!(agent.route(Channel::Service, upgrade_label), Route::Upgrade);
    assert_eq!(agent.route(Channel::Service, other), Route::Service);
    assert_eq!(
        agent.route(Channel::Control, other),
        Route::Refuse(IpcError::UnknownInterface)
    );
    assert_eq!(agent.route(Channel::Service, 0), Route::Service);
    let importing: Agent<16> = Agent::importing();
    assert_eq!(importing.channel(), Channel::Control);
    assert_eq!(
        importing.route(Channel::Service, other),
        Route::Refuse(IpcError::ServerUnavailable)
    );
}

#[test]
fn channels_index_the_loop_endpoints() {
    use upgrade::Channel;
    for c in [Channel::Service, Channel::Control] {
        assert_eq!(Channel::of_index(c.index()), c);
    }
    assert_eq!(Channel::of_index(7), Channel::Control);
}
