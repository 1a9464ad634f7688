//! The name service programs' `main`s (bare metal only): `name` ([`plain`]: `name::v1`, not
//! upgradable), `name1` ([`v1`]: `name::v1`, upgradable) and `name2` ([`v2`]: `name::v2`, and
//! `name::v1` through the adapter, upgradable).
//!
//! `name` is the service as it always was (4 stack pages are enough). The upgradable builds
//! each serve their endpoint (the one named `name`, else its first) with a receive slot for the
//! capabilities registrants send, keeps its registry in `main`'s stack frame and an
//! [`upgrade::Agent`] beside it (as the kv store does): with an upgrade control endpoint
//! (`ServerInfo::upgrade_control`) it can be frozen, export its registry and resume, and, started
//! with `ServerInfo::upgrade_import`, it first waits on its control endpoint for an old
//! version's registry. The capabilities the registry names stay in their CNode slots: the
//! upgrader has the supervisor copy them into the new version's CNode first
//! (`lifecycle::carry_caps`).
//!
//! Image needs: `own_cnode = true` (it moves the capabilities registrants send out of its receive
//! slot into a slot per registration, and deletes them on unregister) and at least two empty
//! slots (the receive slot, then one per registration, at most `name::CAPACITY`); `name1` and
//! `name2` also `stack_pages = 16` (the agent, and the upgrade ops' decoding and migration).

use crate::upgrade::{RegistryV1, STAGING_BYTES};
use crate::{CapError, CapSpace, NameService, Registry};
use axolotl_rt::ipc_transport::{CapReceive, serve, serve_switching};
use axolotl_rt::{CNode, Cap, Endpoint, ServerInfo};
use ipc_schema::{Caller, CapSlot, MSG_WORDS};
use log::{error, info};
use upgrade::{Agent, Channel, Upgradable};

/// The service's own CNode.
pub struct OwnCnode(Cap<CNode>);

impl CapSpace for OwnCnode {
    fn move_cap(&mut self, from: CapSlot, to: CapSlot) -> Result<(), CapError> {
        self.0
            .move_(to.0, Cap::<CNode>::invoker_root(), from.0)
            .map_err(|e| CapError(e as u64))
    }

    fn delete_cap(&mut self, slot: CapSlot) -> Result<(), CapError> {
        self.0.delete(slot.0).map_err(|e| CapError(e as u64))
    }
}

/// `name`: version 1 (`name::v1` only), without an upgrade agent.
pub fn plain(server: &'static ServerInfo) {
    let Some((endpoint, cnode, receive, free)) = setup(server) else {
        return;
    };
    let mut service = NameService::new(RegistryV1(Registry::new(free)), OwnCnode(cnode));
    info!(
        "name: serving name v1, {} registrations",
        service.registry.0.capacity()
    );
    let e = serve(endpoint, Some(receive), |caller, label, request, reply| {
        NameService::dispatch_v1(&mut service, caller, label, request, reply)
    });
    error!("name: receive failed: {e}");
}

/// `name1`: version 1 (`name::v1` only), upgradable to `name2`.
pub fn v1(server: &'static ServerInfo) {
    run(
        server,
        "name v1",
        RegistryV1,
        NameService::<OwnCnode, RegistryV1>::dispatch_v1,
    );
}

/// `name2`: version 2 (`name::v2`, and `name::v1` through the adapter), upgradable.
pub fn v2(server: &'static ServerInfo) {
    run(
        server,
        "name v1..=v2",
        |r| r,
        NameService::<OwnCnode, Registry>::dispatch,
    );
}

/// The upgradable server loop over a registry held as `R`.
fn run<R: Upgradable + core::borrow::BorrowMut<Registry>>(
    server: &'static ServerInfo,
    serves: &str,
    wrap: fn(Registry) -> R,
    dispatch: fn(
        &mut NameService<OwnCnode, R>,
        &mut Caller,
        u64,
        &[u64],
        &mut [u64; MSG_WORDS],
    ) -> (u64, usize),
) {
    let Some((endpoint, cnode, receive, free)) = setup(server) else {
        return;
    };
    let mut service = NameService::new(wrap(Registry::new(free)), OwnCnode(cnode));
    let control = server.upgrade_control();
    let mut agent: Agent<STAGING_BYTES> = if server.starts_importing() {
        info!("{}: waiting for the old version's registry", server.name());
        Agent::importing()
    } else {
        Agent::serving(control.is_some())
    };
    info!(
        "{}: serving {serves}, {} registrations, upgrade control endpoint: {}",
        server.name(),
        service.registry.borrow().capacity(),
        if control.is_some() { "yes" } else { "no" }
    );
    let start = agent.channel().index();
    let endpoints = [endpoint, control.unwrap_or(endpoint)];
    let e = serve_switching(
        endpoints,
        start,
        Some(receive),
        |on, caller, label, request, reply| {
            let (label, words) = agent.handle_in(
                &mut service,
                |s| &mut s.registry,
                Channel::of_index(on),
                caller,
                label,
                request,
                reply,
                dispatch,
            );
            (label, words, agent.channel().index())
        },
    );
    error!("{}: receive failed: {e}", server.name());
}

/// The endpoint it serves (the one named `name`, else its first), its own CNode, the receive
/// slot (its first empty slot) and the slots for the registrations (the rest).
fn setup(
    server: &ServerInfo,
) -> Option<(Cap<Endpoint>, Cap<CNode>, CapReceive, core::ops::Range<u64>)> {
    let endpoint = server.endpoint("name").or_else(|| {
        server
            .endpoints()
            .first()
            .map(|e| Cap::<Endpoint>::from_cptr(e.cptr))
    });
    let Some(endpoint) = endpoint else {
        error!("name: no endpoint to serve on");
        return None;
    };
    let Some(cnode) = server.own_cnode() else {
        error!("name: needs its own CNode (own_cnode = true) to keep capabilities");
        return None;
    };
    let mut free = server.empty_slots();
    let Some(slot) = free.next() else {
        error!("name: no empty slot to receive capabilities in");
        return None;
    };
    Some((endpoint, cnode, CapReceive { cnode, slot }, free))
}
