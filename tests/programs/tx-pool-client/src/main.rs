//! The client of the undo-pool scenario: `tx-store` runs with a pool of two undo frames, so a
//! request that writes four pages of its state exhausts it. The transaction must be aborted with
//! nothing written, the caller answered Aborted, and smaller requests must still commit.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ServerInfo;
use test_support::{ABORTED, Checks, store_call as call};

axolotl_rt::declare_server!(main);

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
