//! An in-memory [`Transport`]: the "call" runs a server's `dispatch` directly. For host tests of
//! clients, servers and adapters, with the same words, labels and capability rules as the kernel
//! path, and a record of the last exchange to check what went over the wire.

use crate::server::{Caller, DispatchFn};
use crate::transport::{CapSlot, CapTransfer, ReplyInfo, Transport};
use crate::wire::MSG_WORDS;
use crate::{IpcError, REGISTER_WORDS};
use core::cell::{Cell, RefCell, RefMut};

/// What the last call through a [`Local`] transport carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    pub request_label: u64,
    pub request_words: usize,
    pub reply_label: u64,
    pub reply_words: usize,
    /// The capability the client sent (delivered to the server under the same slot number, as
    /// if both shared one CSpace).
    pub cap_sent: Option<CapSlot>,
    /// The capability the server replied with, if the client had a slot for it.
    pub cap_returned: Option<CapSlot>,
    /// The server left the capability that came with the request unclaimed (a real server loop
    /// deletes it).
    pub cap_unclaimed: bool,
}

impl Exchange {
    /// Whether both messages fit the register words (the kernel's fast path, as far as message
    /// size goes; a capability always takes the general path).
    pub fn in_registers(&self) -> bool {
        self.request_words <= REGISTER_WORDS
            && self.reply_words <= REGISTER_WORDS
            && self.cap_sent.is_none()
            && self.cap_returned.is_none()
    }
}

/// A server and its dispatch function, called in place.
pub struct Local<S> {
    server: RefCell<S>,
    dispatch: DispatchFn<S>,
    badge: u64,
    last: Cell<Exchange>,
    calls: Cell<u64>,
}

impl<S> Local<S> {
    /// Serves calls with `dispatch(&mut server, ...)`; callers present badge 1.
    pub fn new(server: S, dispatch: DispatchFn<S>) -> Local<S> {
        Local::with_badge(server, dispatch, 1)
    }

    /// As [`Local::new`], callers presenting `badge`.
    pub fn with_badge(server: S, dispatch: DispatchFn<S>, badge: u64) -> Local<S> {
        Local {
            server: RefCell::new(server),
            dispatch,
            badge,
            last: Cell::new(Exchange::default()),
            calls: Cell::new(0),
        }
    }

    /// The server, to inspect or change its state between calls.
    pub fn server(&self) -> RefMut<'_, S> {
        self.server.borrow_mut()
    }

    pub fn into_server(self) -> S {
        self.server.into_inner()
    }

    /// The last exchange.
    pub fn last(&self) -> Exchange {
        self.last.get()
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }
}

impl<S> Transport for Local<S> {
    fn call_with_caps(
        &self,
        label: u64,
        request: &[u64],
        caps: CapTransfer,
        reply: &mut [u64; MSG_WORDS],
    ) -> Result<ReplyInfo, IpcError> {
        if request.len() > MSG_WORDS {
            return Err(IpcError::Kernel(7)); // the kernel's TruncatedMessage
        }
        // A server calling itself would deadlock on a real endpoint.
        let mut server = self
            .server
            .try_borrow_mut()
            .map_err(|_| IpcError::ServerUnavailable)?;
        let mut caller = Caller::new(self.badge, caps.send);
        let (reply_label, reply_words) =
            (self.dispatch)(&mut server, &mut caller, label, request, reply);
        let reply_words = reply_words.min(MSG_WORDS);
        let cap_returned = caps.receive_into.and(caller.reply_cap());
        self.calls.set(self.calls.get() + 1);
        self.last.set(Exchange {
            request_label: label,
            request_words: request.len(),
            reply_label,
            reply_words,
            cap_sent: caps.send,
            cap_returned,
            cap_unclaimed: caller.received_cap().is_some(),
        });
        Ok(ReplyInfo {
            label: reply_label,
            words: reply_words,
            cap_received: cap_returned.is_some(),
        })
    }
}
