//! The server side: what a generated `dispatch` needs besides the server's own trait.
//!
//! A server's loop receives a message, builds a [`Caller`] from its badge and the capability that
//! came with it, calls the interface's `dispatch`, and replies with the label and words it
//! returns plus [`Caller::reply_cap`]. Dispatch never panics on any input: every label it does
//! not serve and every request that does not decode becomes an [`IpcError`] reply.

use crate::error::IpcError;
use crate::transport::CapSlot;
use crate::wire::{self, MSG_WORDS, REPLY_DELIVERED};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Who called, and the capabilities moving with this request and its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    badge: u64,
    received_cap: Option<CapSlot>,
    reply_cap: Option<CapSlot>,
}

impl Caller {
    /// A request with `badge` and, if one was transferred, the slot its capability landed in.
    pub const fn new(badge: u64, received_cap: Option<CapSlot>) -> Caller {
        Caller {
            badge,
            received_cap,
            reply_cap: None,
        }
    }

    /// The badge of the capability the caller called through: who it is, as far as the kernel
    /// can tell.
    pub const fn badge(&self) -> u64 {
        self.badge
    }

    /// The capability that came with the request, still unclaimed.
    pub const fn received_cap(&self) -> Option<CapSlot> {
        self.received_cap
    }

    /// Claims the capability that came with the request. The handler now owns the slot and must
    /// move the capability out of it before the next request (the server loop deletes an
    /// unclaimed one so that the receive slot is empty again).
    pub fn take_cap(&mut self) -> Option<CapSlot> {
        self.received_cap.take()
    }

    /// Sends the capability in `slot` with the reply. Only ops declared `+ cap` after their
    /// result carry it, and only when they return `Ok`.
    pub fn reply_with_cap(&mut self, slot: CapSlot) {
        self.reply_cap = Some(slot);
    }

    /// The capability to send with the reply.
    pub const fn reply_cap(&self) -> Option<CapSlot> {
        self.reply_cap
    }
}

/// The shape of every generated `dispatch` (after the server argument): caller, request label,
/// request words, reply buffer -> reply label and reply words.
pub type DispatchFn<S> =
    fn(&mut S, &mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize);

/// Serves one op: decodes its arguments `A`, checks the capability it must carry, calls
/// `handler`, encodes its `Result<T, E>`. Used by the code [`interface!`](crate::interface)
/// generates.
pub fn serve_op<A, T, E, F>(
    caller: &mut Caller,
    request: &[u64],
    reply: &mut [u64; MSG_WORDS],
    sends_cap: bool,
    returns_cap: bool,
    handler: F,
) -> (u64, usize)
where
    A: DeserializeOwned,
    T: Serialize,
    E: Serialize,
    F: FnOnce(&mut Caller, A) -> Result<T, E>,
{
    caller.reply_cap = None;
    let args = match wire::decode::<A>(request) {
        Ok(args) => args,
        Err(e) => return e.reply(),
    };
    if sends_cap && caller.received_cap.is_none() {
        return IpcError::MissingCapability.reply();
    }
    let result = handler(caller, args);
    if !returns_cap || result.is_err() {
        caller.reply_cap = None;
    }
    match wire::encode(&result, reply) {
        Ok(words) => (REPLY_DELIVERED, words),
        Err(e) => {
            caller.reply_cap = None;
            e.reply()
        }
    }
}
