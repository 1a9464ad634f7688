//! `upgrader`: the trusted component that runs live upgrades.
//!
//! Where it sits: the shell (`upgrade kv kv2`) or a test program calls `lifecycle::v1::upgrade` on
//! the upgrader's endpoint -> [`program`] runs the K42 mediator (`upgrade::Mediator`): it asks the
//! supervisor (`lifecycle::v1`, non-blocking) to build the new version, makes the blocking
//! `upgrade::v1` calls itself (formats, freeze through the service endpoint with badge 0, export
//! and import chunks through the two versions' control endpoints, serve), asks the supervisor to
//! switch, watches the probation window, and commits or rolls back. The supervisor never calls a
//! server, so a version that faults mid-upgrade cannot deadlock it: the fault is handled while
//! the upgrader waits, and the upgrader sees it as an `Aborted` answer or a probation fault.
//!
//! Its authority (image `upgrader = true`, modelled in `axolotl_image::authority`): for each
//! upgradable server an unbadged WRITE call of its service endpoint and WRITE calls of its two
//! control endpoints (`ServerInfo::upgradables`), plus `calls = ["supervisor"]`.
//!
//! This library holds the transcript's wording ([`transcript`]), tested on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
pub mod program;
pub mod transcript;

/// The name the upgrader's endpoint has in images.
pub const ENDPOINT: &str = "upgrader";
