//! The client of the transaction scenario: drives `tx-store` through faults in the middle of
//! requests and checks that each aborted request left the store exactly as it was, while the
//! store keeps serving.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, get_mr, set_mrs};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// The label the supervisor answers an aborted request with: `ipc-schema`'s transport error.
const ABORTED: u64 = ipc_schema::IpcError::Aborted.code();

fn call(store: Cap<Endpoint>, label: u64, args: &[u64]) -> (u64, u64, u64) {
    set_mrs(args);
    match store.call(MessageInfo::new(label, 0, args.len())) {
        Ok((reply, _)) => (reply.label(), get_mr(0), get_mr(1)),
        Err(e) => (u64::MAX, e as u64, 0),
    }
}

fn checksum(store: Cap<Endpoint>) -> (u64, u64) {
    let (_, sum, requests) = call(store, 3, &[]);
    (sum, requests)
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("tx-rollback");
    let Some(store) = server.client("store") else {
        c.fail("setup", "no capability to 'store'");
        return c.finish(server);
    };
    // Committed state: a word on each of the four state pages.
    for (i, v) in [(0u64, 11u64), (600, 22), (1100, 33), (4095, 44)] {
        call(store, 1, &[i, v]);
    }
    let (sum, requests) = checksum(store);
    c.check(
        sum == 110,
        "committed writes are kept",
        format_args!("checksum {sum}"),
    );

    // A request that writes three pages and the counter, then faults.
    let (label, _, _) = call(store, 4, &[3, 999]);
    c.check(
        label == ABORTED,
        "the faulting request is answered Aborted",
        format_args!("label {label:#x}"),
    );
    let (sum2, requests2) = checksum(store);
    c.check(
        sum2 == sum && requests2 == requests,
        "state after the fault equals state before it (stack and .bss)",
        format_args!("checksum {sum2} (was {sum}), requests {requests2} (was {requests})"),
    );
    let (_, word, _) = call(store, 2, &[600]);
    c.check(
        word == 22,
        "a word the aborted request overwrote reads back as before",
        format_args!("{word}"),
    );

    // The store keeps serving and committing.
    call(store, 5, &[2, 7]);
    let (sum3, _) = checksum(store);
    c.check(
        sum3 == 7 + 7 + 22 + 33 + 44,
        "the store commits new requests after the abort",
        format_args!("checksum {sum3}"),
    );

    // Repeated faults: each one rolled back.
    for round in 0..3 {
        let (label, _, _) = call(store, 4, &[4, 12345]);
        let (s, _) = checksum(store);
        c.check(
            label == ABORTED && s == sum3,
            format_args!("fault {} rolled back", round + 2),
            format_args!("label {label:#x}, checksum {s}"),
        );
    }
    // A request that loops forever is aborted when it runs past its time budget.
    let (label, _, _) = call(store, 6, &[]);
    let (s, requests_after) = checksum(store);
    c.check(
        label == ABORTED && s == sum3,
        "a request stuck in a loop is aborted at its time budget",
        format_args!("label {label:#x}, checksum {s}, requests {requests_after}"),
    );
    c.finish(server);
}
