//! The kv server programs' `main`s (bare metal only): `kv` and `kv2` ([`v2`]), `kv1` ([`v1`]) and
//! the deliberately broken `kv3` ([`v3`]).
//!
//! Each serves its endpoint (the one named `kv`, else its first) from one state kept in
//! `main`'s stack frame, so that with `transactional = true` in the image every request runs as
//! a transaction over it, and keeps an [`upgrade::Agent`] beside it: with an upgrade control
//! endpoint (`ServerInfo::upgrade_control`, given by the supervisor) it can be frozen, export
//! its state and resume, and, started with `ServerInfo::upgrade_import`, it first waits on its
//! control endpoint for an old version's state. Without a control endpoint it still answers
//! `upgrade::v1::formats` (to the supervisor) and refuses `freeze`.
//!
//! If the image lets it call the name service (`calls = ["name", ...]`) and grants it its own
//! CNode and a free slot, it first registers a call-only capability to its endpoint (badge
//! [`crate::LOOKUP_BADGE`]) as `kv` (a new version taking over is already reachable there, and
//! does not register).
//!
//! Image needs: a v2 store is about 40 KiB and the agent's staging buffer as much again, so
//! `stack_pages` of 32 or more (`kv` without an agent: 16).

use crate::state_v1::KvV1;
use crate::upgrade::{STAGING_BYTES, StateV3};
use crate::{Clock, Kv};
use axolotl_rt::ipc_transport::{serve, serve_switching};
use axolotl_rt::{CNode, Cap, CapRights, Endpoint, ServerInfo};
use ipc_schema::interfaces::common::{Name, Ticks};
use ipc_schema::{Caller, CapSlot, MSG_WORDS, name};
use log::{error, info, warn};
use upgrade::{Agent, Channel, Upgradable};

/// The architecture's free-running counter: the time base of time-to-live values (with verified
/// transactions, the time the request was delivered: both runs of it see the same).
pub struct Counter;

impl Clock for Counter {
    fn now(&self) -> Ticks {
        axolotl_rt::time::request_now()
    }
}

/// `kv`: version 2 without an upgrade agent (its image footprint is unchanged: 16 stack pages).
pub fn plain(server: &'static ServerInfo) {
    let Some(endpoint) = service_endpoint(server) else {
        return;
    };
    register_if_asked(server, endpoint, VERSIONS_1_2);
    let mut store = Kv::new(Counter);
    info!(
        "kv: serving kv v{}..=v{}, {} entries",
        crate::MIN_VERSION,
        crate::MAX_VERSION,
        crate::CAPACITY
    );
    let e = serve(endpoint, None, |caller, label, request, reply| {
        store.handle(caller, label, request, reply)
    });
    error!("kv: receive failed: {e}");
}

/// `kv2`: version 2 (serves `kv::v2`, and `kv::v1` through the adapter), upgradable.
pub fn v2(server: &'static ServerInfo) {
    let mut store = Kv::new(Counter);
    run(
        server,
        "kv2: serving kv v1..=v2",
        VERSIONS_1_2,
        &mut store,
        |store| &mut store.state,
        |store, caller, label, request, reply| store.handle(caller, label, request, reply),
    );
}

/// `kv1`: version 1 (serves `kv::v1` only, integer keys and 64-byte values), upgradable.
pub fn v1(server: &'static ServerInfo) {
    let mut store = KvV1::default();
    run(
        server,
        "kv1: serving kv v1",
        (1, 1),
        &mut store,
        |store| &mut store.state,
        |store, caller, label, request, reply| {
            ipc_schema::kv::v1::dispatch(store, caller, label, request, reply)
        },
    );
}

/// `kv3`: a broken version 3. It serves `kv` v1..=v2 like `kv2` when started fresh, but its
/// import of an old version's state always fails: an upgrade to it is rolled back.
pub fn v3(server: &'static ServerInfo) {
    struct V3 {
        store: Kv<Counter>,
        upgrade_state: StateV3,
    }
    let mut v3 = V3 {
        store: Kv::new(Counter),
        upgrade_state: StateV3,
    };
    run(
        server,
        "kv3: serving kv v1..=v2 (import broken)",
        VERSIONS_1_2,
        &mut v3,
        |v3| &mut v3.upgrade_state,
        |v3, caller, label, request, reply| v3.store.handle(caller, label, request, reply),
    );
}

/// The upgradable server loop: `state_of` gives the agent the state to export and replace,
/// `handle` serves the server's own interfaces.
fn run<T, S, G, H>(
    server: &'static ServerInfo,
    banner: &str,
    versions: (u8, u8),
    store: &mut T,
    state_of: G,
    handle: H,
) where
    S: Upgradable,
    G: Fn(&mut T) -> &mut S,
    H: Fn(&mut T, &mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize),
{
    let Some(endpoint) = service_endpoint(server) else {
        return;
    };
    let control = server.upgrade_control();
    let mut agent: Agent<STAGING_BYTES> = if server.starts_importing() {
        info!("{}: waiting for the old version's state", server.name());
        Agent::importing()
    } else {
        register_if_asked(server, endpoint, versions);
        Agent::serving(control.is_some())
    };
    info!(
        "{banner}, {} entries, upgrade control endpoint: {}",
        crate::CAPACITY,
        if control.is_some() { "yes" } else { "no" }
    );
    let start = agent.channel().index();
    let endpoints = [endpoint, control.unwrap_or(endpoint)];
    let e = serve_switching(
        endpoints,
        start,
        None,
        |on, caller, label, request, reply| {
            let channel = Channel::of_index(on);
            let (label, words) = agent.handle_in(
                store, &state_of, channel, caller, label, request, reply, &handle,
            );
            (label, words, agent.channel().index())
        },
    );
    error!("{}: receive failed: {e}", server.name());
}

/// The endpoint it serves: the one named `kv`, else its first.
fn service_endpoint(server: &ServerInfo) -> Option<Cap<Endpoint>> {
    let endpoint = server.endpoint("kv").or_else(|| {
        server
            .endpoints()
            .first()
            .map(|e| Cap::<Endpoint>::from_cptr(e.cptr))
    });
    if endpoint.is_none() {
        error!("{}: no endpoint to serve on", server.name());
    }
    endpoint
}

/// `kv` versions 1 to 2.
const VERSIONS_1_2: (u8, u8) = (crate::MIN_VERSION, crate::MAX_VERSION);

fn register_if_asked(server: &ServerInfo, endpoint: Cap<Endpoint>, versions: (u8, u8)) {
    if let Some(name_service) = server.client("name") {
        register(server, endpoint, name_service, versions);
    }
}

/// Registers a call-only, badged copy of `endpoint` with the name service, serving `kv`
/// `versions` (lowest, highest).
fn register(
    server: &ServerInfo,
    endpoint: Cap<Endpoint>,
    name_service: Cap<Endpoint>,
    versions: (u8, u8),
) {
    let (Some(cnode), Some(slot)) = (server.own_cnode(), server.empty_slots().next()) else {
        warn!("kv: not registering with the name service: it needs own_cnode and a free slot");
        return;
    };
    if let Err(e) = cnode.mint(
        slot,
        Cap::<CNode>::invoker_root(),
        endpoint.cptr(),
        CapRights::WRITE,
        crate::LOOKUP_BADGE,
    ) {
        error!("kv: cannot mint a capability for the name service: {e}");
        return;
    }
    let Ok(service_name) = Name::try_from(crate::SERVICE_NAME) else {
        return;
    };
    let names = name::v1::Client::new(name_service);
    match names.register(
        service_name,
        ipc_schema::kv::v2::INTERFACE,
        versions.0,
        versions.1,
        CapSlot(slot),
    ) {
        Ok(()) => info!(
            "kv: registered with the name service as '{}'",
            crate::SERVICE_NAME
        ),
        Err(e) => error!("kv: registering with the name service failed: {e:?}"),
    }
}
