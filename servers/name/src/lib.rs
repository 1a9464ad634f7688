//! `name`: the name service's logic, built for the host (tests) and for the bare-metal server
//! program (`src/main.rs`).
//!
//! Servers register the endpoints they serve under a name, with the interface and the range of
//! its versions they speak, sending a capability to the endpoint along (`name::v1::register`,
//! a capability transfer); clients look a registration up by name or by interface version and
//! get a copy of that capability in the reply (`lookup`), then call the server through it.
//!
//! Where it sits: `name::v1::Client` -> the program's loop (`axolotl_rt::ipc_transport::serve`
//! with a receive slot for capabilities) -> [`NameService::dispatch`] -> [`Registry`], which
//! keeps each registration's capability in a slot of the service's own CNode through
//! [`CapSpace`].
//!
//! Transactions: capability moves and deletes are kernel operations a transaction abort does not
//! undo. Were the service made transactional, an aborted `register` or `unregister` could leave
//! a slot filled or emptied that the rolled-back registry does not know about; the registry
//! copes (a filled slot makes a later move into it fail with `Full`), but the service is meant to
//! run without `transactional`.
//!
//! Invariants: at most [`CAPACITY`] registrations, one CNode slot each; a name is registered
//! once and belongs to the caller (badge) that registered it; the receive slot is empty again
//! after every request; no heap.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
pub mod program;
pub mod registry;
pub mod service;
pub mod upgrade;

pub use registry::{CAPACITY, CapError, CapSpace, Record, Registry};
pub use service::NameService;
pub use upgrade::RegistryV1;
