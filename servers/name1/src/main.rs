//! The name service, version 1: `name::v1` over the registry, upgradable live to `name2`
//! (exports its registry in format `name.v1`; the capabilities it keeps are carried to the new
//! version by the supervisor).
//!
//! The program is `name::program::v1`; see `servers/name/src/program.rs` for what it needs from
//! its image (`stack_pages = 16`).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(name::program::v1);
