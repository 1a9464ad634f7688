//! The upgrader program: `upgrader::program::main` (see the library). On the host this is an
//! empty `main`; only `cargo xtask` builds the server, for a bare-metal target.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(upgrader::program::main);
