//! The client of the verified-transactions scenario (`tx-verify`): `tx-store` runs with
//! `verify = true`, so each request runs twice in its transaction and commits only if both runs
//! agree. A deterministic request commits; a request whose two runs really differ (it stores the
//! raw counter, read at a different time in each run) is detected, rolled back and answered
//! `Aborted`; the kernel refuses `TxVerify` from a thread outside any transaction.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Error, ServerInfo};
use test_support::{ABORTED, Checks, store_call as call};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("tx-verify");
    let Some(store) = server.client("store") else {
        c.fail("setup", "no capability to 'store'");
        return c.finish(server);
    };
    // This thread has no transactional region: the kernel refuses, nothing happens.
    c.check_eq(
        "TxVerify from a thread without a region is refused",
        axolotl_rt::syscall::tx_verify(0),
        Err(Error::IllegalOperation),
    );

    // A deterministic write, then its read: both runs agree, both commit.
    let (label, _) = call(store, 1, &[3, 77]);
    c.check_eq("a deterministic request commits", label, 0);
    c.check_eq("its write reads back", call(store, 2, &[3]), (0, 77));
    // A request whose two runs store different values (the counter): a mismatch, rolled back.
    let (label, _) = call(store, 8, &[3]);
    c.check(
        label == ABORTED,
        "a request whose two runs disagree is answered Aborted",
        format_args!("label {label:#x}"),
    );
    c.check_eq("its write was rolled back", call(store, 2, &[3]), (0, 77));
    // The store goes on serving.
    call(store, 1, &[4, 5]);
    c.check_eq(
        "the store commits new requests after the mismatch",
        call(store, 2, &[4]),
        (0, 5),
    );
    c.finish(server);
}
