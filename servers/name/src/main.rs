//! The name service program: serves `name::v1` on its endpoint (the one named `name`, else its
//! first), without an upgrade agent (`name1` is the same service, upgradable live to `name2`).
//!
//! The program is `name::program::plain`; see `servers/name/src/program.rs` for what it needs
//! from its image (`own_cnode = true` and empty slots).
//!
//! On the host this program is an empty `main`: the logic lives in the library and is tested
//! there; only `cargo xtask` builds the server, for a bare-metal target.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(name::program::plain);
