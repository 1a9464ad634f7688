//! The client side's one dependency on the kernel: a [`Transport`] sends a request and waits for
//! the reply. `axolotl_rt::ipc_transport` implements it over `Call` on an endpoint capability;
//! [`Local`](crate::Local) implements it in memory for host tests.

use crate::error::IpcError;
use crate::wire::MSG_WORDS;

/// A capability slot: a capability pointer in the holder's CSpace. This crate only carries the
/// number; the runtime turns it into a typed capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapSlot(pub u64);

/// The capabilities one call moves: at most one each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapTransfer {
    /// Sent along with the request (the sender keeps its copy).
    pub send: Option<CapSlot>,
    /// An empty slot the reply's capability, if any, is placed in.
    pub receive_into: Option<CapSlot>,
}

impl CapTransfer {
    /// Nothing moves.
    pub const NONE: CapTransfer = CapTransfer {
        send: None,
        receive_into: None,
    };
}

/// What came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyInfo {
    /// The reply label: [`REPLY_DELIVERED`](crate::REPLY_DELIVERED) or an [`IpcError`] code.
    pub label: u64,
    /// Reply words written to the reply buffer (at most [`MSG_WORDS`]).
    pub words: usize,
    /// Whether a capability was placed in [`CapTransfer::receive_into`].
    pub cap_received: bool,
}

/// Sends one request and blocks for its reply.
///
/// `Err` is for failures of the transport itself (the kernel refused the call, nobody serves the
/// endpoint); an error the *server* answered with arrives as `Ok` with a nonzero reply label.
pub trait Transport {
    /// Sends `label` and `request` (at most [`MSG_WORDS`] words) with the capabilities of `caps`,
    /// and writes the reply's words to `reply`.
    fn call_with_caps(
        &self,
        label: u64,
        request: &[u64],
        caps: CapTransfer,
        reply: &mut [u64; MSG_WORDS],
    ) -> Result<ReplyInfo, IpcError>;

    /// [`call_with_caps`](Transport::call_with_caps) without capabilities; returns the reply
    /// label and the number of reply words.
    fn call(
        &self,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> Result<(u64, usize), IpcError> {
        self.call_with_caps(label, request, CapTransfer::NONE, reply)
            .map(|r| (r.label, r.words))
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    fn call_with_caps(
        &self,
        label: u64,
        request: &[u64],
        caps: CapTransfer,
        reply: &mut [u64; MSG_WORDS],
    ) -> Result<ReplyInfo, IpcError> {
        (**self).call_with_caps(label, request, caps, reply)
    }
}
