//! `kv`: the key-value store server's logic, built for the host (tests) and for the bare-metal
//! server program (`src/main.rs`).
//!
//! Three server programs share this library: `kv` and `kv2` (version 2, below), `kv1` (version
//! 1: `kv::v1` only, over [`StateV1`]), and `kv3` (a deliberately broken version 3 whose state
//! import always fails, for the upgrade rollback demo). All of them can be upgraded live: the
//! [`upgrade`] module gives their state formats and the v1 -> v2 migration, and
//! [`program`] their server loop with an `upgrade::Agent`.
//!
//! Where it sits: clients call `kv::v2::Client` (or the older `kv::v1::Client`) from
//! `ipc-schema` -> the server program's loop (`axolotl_rt::ipc_transport::serve`) -> [`Kv::handle`]
//! -> `ipc_schema::kv::dispatch`, which routes v2 requests to the [`Kv`]'s `v2::Server` methods
//! and v1 requests through the `V1OnV2` adapter to the same methods -> [`State`].
//!
//! Invariants:
//! - all mutable state is one [`State`] (bounded: [`CAPACITY`] entries of `kv::v2` keys and
//!   values, no heap), so that a transactional server's checkpoint covers it and an upgrade can
//!   carry it; the server program keeps it in `main`'s stack frame;
//! - a new key in a full store fails with `KvError::Full` (v1 callers see `v1::KvError::Full`)
//!   and changes nothing;
//! - reads write nothing, and a write touches only the entry it changes (see [`state`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
pub mod program;
pub mod server;
pub mod state;
pub mod state_v1;
pub mod upgrade;

pub use server::{Clock, FixedClock, Kv};
pub use state::{CAPACITY, Entry, InvalidState, State};
pub use state_v1::{EntryV1, KvV1, StateV1};

use ipc_schema::kv;

/// The name the server registers its endpoint under with the name service.
pub const SERVICE_NAME: &str = "kv";
/// The versions it serves: `MIN_VERSION..=MAX_VERSION` (v1 through the adapter).
pub const MIN_VERSION: u8 = kv::v1::VERSION;
pub const MAX_VERSION: u8 = kv::v2::VERSION;
/// The badge on the call-only capability the server hands the name service, so that it can tell
/// calls that came through a name-service lookup from calls through capabilities its image
/// granted (those carry the caller's image index + 1).
pub const LOOKUP_BADGE: u64 = 0x4b56_0000;
