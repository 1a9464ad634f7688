//! The key-value store, version 2: kv v2 (and v1 through the adapter) over kv::State; upgradable live, imports kv1's state through the v1 -> v2 migration.
//!
//! The program is `kv::program::v2`; see `servers/kv/src/program.rs` for what it needs from
//! its image (`stack_pages = 32` or more).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(kv::program::v2);
