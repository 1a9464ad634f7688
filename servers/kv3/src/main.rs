//! A deliberately broken version 3 of the key-value store: its state import always fails, so an upgrade to it is rolled back (the rollback demo).
//!
//! The program is `kv::program::v3`; see `servers/kv/src/program.rs` for what it needs from
//! its image (`stack_pages = 32` or more).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(kv::program::v3);
