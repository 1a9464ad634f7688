//! A load generator for the live-upgrade scenarios and demo: a `kv::v1` client that keeps
//! calling the store (a `put` of a fresh value, then a `get` that must return it) and counts
//! every request it sent, every one answered (served) and every one that failed (an error, or a
//! wrong value), and the longest a request took (counter ticks: instructions under `-icount`).
//!
//! It stops and reports its counts when the director asks (`test_support::load`).
//!
//! Its keys: `1000 * n + 0..32`, where `n` is the digit its name ends with (`load-1`), so two
//! load generators never touch each other's keys.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{ServerInfo, debug_println};
use ipc_schema::kv::v1;
use test_support::load::{self, Counts};

axolotl_rt::declare_server!(main);

const KEYS: u32 = 32;

fn main(server: &'static ServerInfo) {
    let (Some(kv), Some(own)) = (server.client("kv"), server.endpoints().first()) else {
        debug_println!("{}: needs calls = [\"kv\"] and an endpoint", server.name());
        return;
    };
    let own = axolotl_rt::Cap::<axolotl_rt::Endpoint>::from_cptr(own.cptr);
    let n = server
        .name()
        .bytes()
        .last()
        .filter(u8::is_ascii_digit)
        .map_or(0, |d| u32::from(d - b'0'));
    let kv = v1::Client::new(kv);
    let mut counts = Counts::default();
    let mut i = 0u32;
    loop {
        let key = u64::from(1000 * n + i % KEYS);
        let mut value = v1::Value::new();
        for b in i.to_le_bytes() {
            let _ = value.push(b);
        }
        let _ = value.push(n as u8);
        counts.time(|| kv.put(key, value.clone()).is_ok());
        counts.time(|| kv.get(key).is_ok_and(|v| v == value));
        i = i.wrapping_add(1);
        if load::stop_asked(own) {
            break;
        }
    }
    let Counts {
        sent,
        served,
        failed,
        longest,
        ..
    } = counts;
    debug_println!(
        "{}: sent {sent}, served {served}, failed {failed}; longest request {longest} ticks",
        server.name()
    );
    load::report(own, counts);
}
