//! Re-delivery after an abort: an idempotent request (a `kv::v2` get label) whose handling faults
//! once is delivered again by the supervisor and succeeds, the caller never seeing the fault; a
//! non-idempotent request (a `console::v1` write label) that faults is answered `Aborted`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, get_mr};
use ipc_schema::{IpcError, console, kv, label};
use test_support::Checks;

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("tx-redeliver");
    let Some(ep) = server.client("redeliver") else {
        c.fail("setup", "no capability to 'redeliver'");
        return c.finish(server);
    };
    let get = label(kv::v2::INTERFACE, 2, 0);
    match ep.call(MessageInfo::new(get, 0, 0)) {
        Ok((reply, _)) => {
            let completed = get_mr(0);
            c.check(
                reply.label() == 0 && completed == 1,
                "an idempotent request that faulted is re-delivered and answered",
                format_args!("label {:#x}, completed {completed}", reply.label()),
            );
        }
        Err(e) => c.fail(
            "an idempotent request that faulted is re-delivered and answered",
            e,
        ),
    }
    let write = label(console::v1::INTERFACE, 1, 0);
    match ep.call(MessageInfo::new(write, 0, 0)) {
        Ok((reply, _)) => {
            c.check(
                reply.label() == IpcError::Aborted.code(),
                "a non-idempotent request that faulted is answered Aborted",
                format_args!("label {:#x}", reply.label()),
            );
        }
        Err(e) => c.fail(
            "a non-idempotent request that faulted is answered Aborted",
            e,
        ),
    }
    // The server still serves, with the aborted request's work undone.
    match ep.call(MessageInfo::new(write, 0, 0)) {
        Ok((reply, _)) => {
            c.check(
                reply.label() == 0 && get_mr(0) == 2,
                "the server serves on, the aborted request not counted",
                format_args!("label {:#x}, completed {}", reply.label(), get_mr(0)),
            );
        }
        Err(e) => c.fail("the server serves on", e),
    }
    c.finish(server);
}
