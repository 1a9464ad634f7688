//! The name service, version 2: `name::v2` (generations, `count`) and `name::v1` through the
//! adapter, over the same registry; upgradable live, imports the v1 service's registry (format
//! `name.v1`, migrated) with its capabilities carried by the supervisor.
//!
//! The program is `name::program::v2`; see `servers/name/src/program.rs` for what it needs from
//! its image.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(name::program::v2);
