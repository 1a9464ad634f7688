//! The system-call fuzzer with the bounded count `cargo xtask test` runs (see `fuzz.rs`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod fuzz;

axolotl_rt::declare_server!(main);

fn main(server: &'static axolotl_rt::ServerInfo) {
    fuzz::run(server, 20_000, 0x5eed_1234_abcd_0001);
}
