//! The client of the undo-pool scenario: `tx-store` runs with a pool of two undo frames, so a
//! request that writes four pages of its state exhausts it. The transaction must be aborted with
//! nothing written, the caller answered Aborted, and smaller requests must still commit.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, get_mr, set_mrs};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// The label the supervisor answers an aborted request with: `ipc-schema`'s transport error.
const ABORTED: u64 = ipc_schema::IpcError::Aborted.code();

fn call(store: Cap<Endpoint>, label: u64, args: &[u64]) -> (u64, u64) {
    set_mrs(args);
    match store.call(MessageInfo::new(label, 0, args.len())) {
        Ok((reply, _)) => (reply.label(), get_mr(0)),
        Err(e) => (u64::MAX, e as u64),
    }
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("tx-pool");
    let Some(store) = server.client("store") else {
        c.fail("setup", "no capability to 'store'");
        return c.finish(server);
    };
    call(store, 1, &[0, 5]);
    let (_, before) = call(store, 3, &[]);
    let (label, _) = call(store, 5, &[4, 77]);
    c.check(
        label == ABORTED,
        "a request dirtying more pages than the pool is aborted",
        format_args!("label {label:#x}"),
    );
    let (_, after) = call(store, 3, &[]);
    c.check(
        after == before,
        "nothing it wrote remains",
        format_args!("checksum {after} (was {before})"),
    );
    let (label, _) = call(store, 5, &[1, 9]);
    let (_, sum) = call(store, 3, &[]);
    c.check(
        label == 0 && sum == 9,
        "a one-page request still commits",
        format_args!("label {label:#x}, checksum {sum}"),
    );
    c.finish(server);
}
