//! tests/scenarios/tx-leave-loop.toml: a transactional server that leaves its request loop (its
//! receive fails) faults, so the supervisor rolls the request back and, as the loop keeps
//! failing, restarts it; its clients are never left waiting on a suspended server.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, get_mr};
use ipc_schema::IpcError;
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// `loop-leaver`'s label for "leave your loop".
const LEAVE: u64 = 7;

/// (reply label, requests the server completed).
fn call(ep: Cap<Endpoint>, l: u64) -> (u64, u64) {
    match ep.call(MessageInfo::new(l, 0, 0)) {
        Ok((reply, _)) => (reply.label(), get_mr(0)),
        Err(e) => (u64::MAX, e as u64),
    }
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("tx-leave-loop");
    let Some(ep) = server.client("leaver") else {
        c.fail("setup", "no capability to 'leaver'");
        return c.finish(server);
    };
    let (a, b) = (call(ep, 1), call(ep, 1));
    c.check(
        a == (0, 1) && b == (0, 2),
        "the server keeps state across requests",
        format_args!("{a:?} {b:?}"),
    );
    // Its receive after this request fails: the request is still open, so leaving the loop is a
    // fault inside it, rolled back and answered Aborted (the state stays at 2 requests).
    let aborted = IpcError::Aborted.code();
    let leave = call(ep, LEAVE);
    c.check(
        leave.0 == aborted,
        "the request after which its loop fails is aborted",
        format_args!("{leave:?}"),
    );
    // Its capability stays deleted (kernel state is not rolled back): the next request fails the
    // same way, two aborts in a row (restart_after = 2) restart it, and a fresh server answers.
    let restarted = IpcError::Restarted.code();
    let (next, fresh) = (call(ep, 1), call(ep, 1));
    c.check(
        next.0 == restarted && fresh == (0, 1),
        "a server whose loop keeps failing is restarted: a fresh one answers",
        format_args!("{next:?} then {fresh:?}"),
    );
    c.finish(server);
}
