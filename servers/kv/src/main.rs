//! The kv server program: `kv` version 2 (v1 through the adapter) over one [`kv::State`], without
//! an upgrade agent, as images that do not upgrade it have always run it. The logic lives in the
//! library (`kv::program::plain`); the upgradable versions are the programs `kv1`, `kv2` and
//! `kv3` (crates `servers/kv1`, `servers/kv2`, `servers/kv3`).
//!
//! Image needs: the store is about 40 KiB, so `stack_pages` of 16 or more.
//!
//! On the host this program is an empty `main`: the logic lives in the library and is tested
//! there; only `cargo xtask` builds the server, for a bare-metal target.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(kv::program::plain);
