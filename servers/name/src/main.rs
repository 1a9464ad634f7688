//! The name service program: serves `name::v1` on its endpoint (the one named `name`, else its
//! first).
//!
//! Image needs: `own_cnode = true` (it moves the capabilities registrants send out of its receive
//! slot into a slot per registration, and deletes them on unregister) and at least two empty
//! slots (the receive slot, then one per registration, at most `name::CAPACITY`).
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
    use axolotl_rt::ipc_transport::{CapReceive, serve};
    use axolotl_rt::{CNode, Cap, Endpoint, ServerInfo};
    use ipc_schema::CapSlot;
    use log::{error, info};
    use name::{CapError, CapSpace, NameService, Registry};

    /// The service's own CNode.
    struct OwnCnode(Cap<CNode>);

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

    pub fn main(server: &'static ServerInfo) {
        let endpoint = server.endpoint("name").or_else(|| {
            server
                .endpoints()
                .first()
                .map(|e| Cap::<Endpoint>::from_cptr(e.cptr))
        });
        let Some(endpoint) = endpoint else {
            error!("name: no endpoint to serve on");
            return;
        };
        let Some(cnode) = server.own_cnode() else {
            error!("name: needs its own CNode (own_cnode = true) to keep capabilities");
            return;
        };
        let mut free = server.empty_slots();
        let Some(receive_slot) = free.next() else {
            error!("name: no empty slot to receive capabilities in");
            return;
        };
        let registry = Registry::new(free);
        let mut service = NameService::new(registry, OwnCnode(cnode));
        info!(
            "name: serving name v1, {} registrations",
            service.registry.capacity()
        );
        let receive = CapReceive {
            cnode,
            slot: receive_slot,
        };
        let e = serve(endpoint, Some(receive), |caller, label, request, reply| {
            NameService::dispatch(&mut service, caller, label, request, reply)
        });
        error!("name: receive failed: {e}");
    }
}
