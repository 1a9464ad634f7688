//! The kv server program: serves every version of `kv` on its endpoint (the one named `kv`, else
//! its first) from one [`kv::State`] kept in `main`'s stack frame, so that with
//! `transactional = true` in the image every request runs as a transaction over it.
//!
//! If the image lets it call the name service (`calls = ["name", ...]`) and grants it its own
//! CNode and a free slot, it first registers a call-only capability to its endpoint (badge
//! [`kv::LOOKUP_BADGE`]) as `kv`, serving `kv` versions 1 to 2.
//!
//! Image needs: the store is about 40 KiB, so `stack_pages` of 16 or more.
//!
//! On the host this program is an empty `main`: the logic lives in the library and is tested
//! there; only `cargo xtask` builds the server, for a bare-metal target.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(program::main);

#[cfg(target_os = "none")]
mod program {
    use axolotl_rt::ipc_transport::serve;
    use axolotl_rt::{CNode, Cap, CapRights, Endpoint, ServerInfo};
    use ipc_schema::interfaces::common::{Name, Ticks};
    use ipc_schema::{CapSlot, name};
    use kv::{Clock, Kv};
    use log::{error, info, warn};

    /// The architecture's free-running counter: the time base of time-to-live values.
    struct Counter;

    impl Clock for Counter {
        fn now(&self) -> Ticks {
            axolotl_rt::time::counter()
        }
    }

    pub fn main(server: &'static ServerInfo) {
        let endpoint = server.endpoint("kv").or_else(|| {
            server
                .endpoints()
                .first()
                .map(|e| Cap::<Endpoint>::from_cptr(e.cptr))
        });
        let Some(endpoint) = endpoint else {
            error!("kv: no endpoint to serve on");
            return;
        };
        if let Some(name_service) = server.client("name") {
            register(server, endpoint, name_service);
        }
        let mut store = Kv::new(Counter);
        info!(
            "kv: serving kv v{}..=v{}, {} entries",
            kv::MIN_VERSION,
            kv::MAX_VERSION,
            kv::CAPACITY
        );
        let e = serve(endpoint, None, |caller, label, request, reply| {
            store.handle(caller, label, request, reply)
        });
        error!("kv: receive failed: {e}");
    }

    /// Registers a call-only, badged copy of `endpoint` with the name service.
    fn register(server: &ServerInfo, endpoint: Cap<Endpoint>, name_service: Cap<Endpoint>) {
        let (Some(cnode), Some(slot)) = (server.own_cnode(), server.empty_slots().next()) else {
            warn!("kv: not registering with the name service: it needs own_cnode and a free slot");
            return;
        };
        if let Err(e) = cnode.mint(
            slot,
            Cap::<CNode>::invoker_root(),
            endpoint.cptr(),
            CapRights::WRITE,
            kv::LOOKUP_BADGE,
        ) {
            error!("kv: cannot mint a capability for the name service: {e}");
            return;
        }
        let Ok(service_name) = Name::try_from(kv::SERVICE_NAME) else {
            return;
        };
        let names = name::v1::Client::new(name_service);
        match names.register(
            service_name,
            ipc_schema::kv::v2::INTERFACE,
            kv::MIN_VERSION,
            kv::MAX_VERSION,
            CapSlot(slot),
        ) {
            Ok(()) => info!(
                "kv: registered with the name service as '{}'",
                kv::SERVICE_NAME
            ),
            Err(e) => error!("kv: registering with the name service failed: {e:?}"),
        }
    }
}
