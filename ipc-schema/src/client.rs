//! The client side: one typed call over any [`Transport`]. Generated client stubs are one-line
//! wrappers around [`call`].

use crate::error::{CallError, IpcError};
use crate::transport::{CapSlot, CapTransfer, Transport};
use crate::wire::{self, MSG_WORDS, REPLY_DELIVERED};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Calls the op of request label `label` with arguments `args` (the tuple of the op's arguments)
/// and decodes its `Result<T, E>`.
///
/// `send` is the capability the op sends along, `receive_into` the empty slot for the one its
/// reply carries; an op declared to return a capability that arrives without one fails with
/// [`IpcError::MissingCapability`].
pub fn call<Tr, A, T, E>(
    transport: &Tr,
    label: u64,
    args: &A,
    send: Option<CapSlot>,
    receive_into: Option<CapSlot>,
) -> Result<T, CallError<E>>
where
    Tr: Transport + ?Sized,
    A: Serialize,
    T: DeserializeOwned,
    E: DeserializeOwned,
{
    let mut request = [0u64; MSG_WORDS];
    let words = wire::encode(args, &mut request)?;
    let mut reply = [0u64; MSG_WORDS];
    let caps = CapTransfer { send, receive_into };
    let info = transport.call_with_caps(label, &request[..words], caps, &mut reply)?;
    if info.label != REPLY_DELIVERED {
        return Err(IpcError::from_code(info.label)
            .unwrap_or(IpcError::MalformedReply)
            .into());
    }
    let result: Result<T, E> =
        wire::decode(&reply[..info.words.min(MSG_WORDS)]).map_err(|_| IpcError::MalformedReply)?;
    match result {
        Ok(_) if receive_into.is_some() && !info.cap_received => {
            Err(IpcError::MissingCapability.into())
        }
        Ok(value) => Ok(value),
        Err(e) => Err(CallError::Op(e)),
    }
}
