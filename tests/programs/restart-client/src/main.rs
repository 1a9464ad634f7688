//! Restart from the image: a transactional server that aborts `restart_after` requests in a row
//! is replaced by a fresh one built from its image. Callers keep their capability and are served
//! by the new server, whose state starts over.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, get_mr};
use ipc_schema::{IpcError, console, label};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// (reply label, requests the server completed).
fn call(ep: Cap<Endpoint>, l: u64) -> (u64, u64) {
    match ep.call(MessageInfo::new(l, 0, 0)) {
        Ok((reply, _)) => (reply.label(), get_mr(0)),
        Err(e) => (u64::MAX, e as u64),
    }
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("tx-restart");
    let Some(ep) = server.client("redeliver") else {
        c.fail("setup", "no capability to 'redeliver'");
        return c.finish(server);
    };
    let aborted = IpcError::Aborted.code();
    let write = label(console::v1::INTERFACE, 1, 0);
    let doomed = label(console::v1::INTERFACE, 1, 2);
    // Build up state: one aborted attempt, then two completed requests.
    let first = call(ep, write);
    let (l1, n1) = call(ep, write);
    let (l2, n2) = call(ep, write);
    c.check(
        first.0 == aborted && (l1, n1, l2, n2) == (0, 1, 0, 2),
        "the server keeps state across requests",
        format_args!("{first:?} then {:?}", (l1, n1, l2, n2)),
    );
    // A request that always faults (idempotent: re-delivered once) is aborted twice in a row
    // (restart_after = 2): the server is restarted and the caller told `Restarted`, each time.
    let restarted = IpcError::Restarted.code();
    let (d1, _) = call(ep, doomed);
    let (d2, _) = call(ep, doomed);
    c.check(
        d1 == restarted && d2 == restarted,
        "a request that always faults ends in a restart, answered Restarted",
        format_args!("{d1:#x} {d2:#x}"),
    );
    // The same capability reaches the new server, which starts from its image.
    let (l3, n3) = call(ep, write);
    c.check(
        l3 == 0 && n3 == 1,
        "after the restart the same capability reaches a fresh server",
        format_args!("label {l3:#x}, completed {n3}"),
    );
    c.finish(server);
}
