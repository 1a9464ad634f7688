//! A transactional server whose request loop fails (tests/scenarios/tx-leave-loop.toml): it serves
//! its endpoint with the runtime's `serve`, answering every request with label 0 and the number
//! of requests it has completed (state in `main`'s frame, so in its transactional region). A
//! request with label [`LEAVE`] deletes its own capability to the endpoint before it is answered,
//! as a corrupted endpoint register did in a fault-injection campaign: its `ReplyRecv` fails
//! (before replying), `serve` returns, `main` returns, and the runtime faults instead of
//! suspending the thread quietly, so that the supervisor rolls the request back and, as the
//! loop keeps failing, restarts it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_transport::serve;
use axolotl_rt::{Cap, Endpoint, ServerInfo};
use log::{error, info};

axolotl_rt::declare_server!(main);

/// The label of the request that makes it leave its loop.
pub const LEAVE: u64 = 7;

fn main(server: &'static ServerInfo) {
    let (Some(entry), Some(cnode)) = (server.endpoints().first(), server.own_cnode()) else {
        error!("loop-leaver: needs an endpoint and own_cnode");
        return;
    };
    let endpoint = Cap::<Endpoint>::from_cptr(entry.cptr);
    let mut completed: u64 = 0;
    let e = serve(endpoint, None, |_, label, _, reply| {
        completed += 1;
        if label == LEAVE {
            match cnode.delete(entry.cptr) {
                Ok(()) => info!("loop-leaver: deleted its endpoint capability"),
                Err(e) => error!("loop-leaver: cannot delete its endpoint capability: {e}"),
            }
        }
        reply[0] = completed;
        (0, 1)
    });
    error!("loop-leaver: receive failed: {e}");
}
