//! `upgrade`: the pure logic of live upgrades, unit-tested on the host.
//!
//! Where it sits: the supervisor (root task) drives an upgrade with a [`Mediator`] (the K42
//! mediator's phases, forward -> block -> transfer -> complete, then probation, with rollback)
//! and picks the state format with [`format::negotiate`]; it moves the state with
//! `ipc_schema::upgrade::v1` calls. Each server that can be upgraded keeps an [`Agent`] beside
//! its state (which implements [`Upgradable`]) and serves those calls; the agent also tells the
//! server's loop whether to receive on its service endpoint or its control endpoint.
//!
//! ```text
//! supervisor: Mediator + negotiate --upgrade::v1 (badge 0 / control endpoint)--> old server's
//!   Agent: freeze, export chunks --> supervisor --> new server's Agent: import chunks, serve
//! ```
//!
//! Invariants: no event or message makes anything here panic; an illegal transition or a bad
//! request changes nothing; a failed import leaves the server's state as it was. The design is
//! in `docs/ARCHITECTURE.md`, "Live upgrade".
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod format;
pub mod mediator;
pub mod patch;

pub use agent::{Agent, Channel, Mode, Route, TransferError, Upgradable};
pub use format::{
    Advertised, Agreement, Format, FormatInfo, FormatSet, Refusal, Transfer, negotiate,
};
pub use mediator::{Event, Mediator, MediatorError, Phase, PhaseLengths, RollbackReason};

/// Encodes `state` with postcard into `out`: the helper behind every encoded format.
pub fn encode<T: serde::Serialize>(state: &T, out: &mut [u8]) -> Result<usize, TransferError> {
    postcard::to_slice(state, out)
        .map(|bytes| bytes.len())
        .map_err(|_| TransferError::BufferTooSmall)
}

/// Decodes a postcard-encoded state that must fill `bytes` exactly.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, TransferError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(TransferError::Decode),
    }
}
