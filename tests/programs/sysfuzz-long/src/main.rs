//! The system-call fuzzer for long runs on demand: two million calls
//! (`cargo xtask run --image sysfuzz-long`, images/sysfuzz-long.toml; see docs/SECURITY.md).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../../sysfuzz/src/fuzz.rs"]
mod fuzz;

axolotl_rt::declare_server!(main);

fn main(server: &'static axolotl_rt::ServerInfo) {
    fuzz::run(server, 2_000_000, 0x5eed_1234_abcd_0002);
}
