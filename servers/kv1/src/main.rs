//! The key-value store, version 1: kv v1 only (integer keys, 64-byte values) over kv::StateV1; upgradable live to kv2.
//!
//! The program is `kv::program::v1`; see `servers/kv/src/program.rs` for what it needs from
//! its image (`stack_pages = 32` or more).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(kv::program::v1);
