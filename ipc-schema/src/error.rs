//! Errors: [`IpcError`] for everything that goes wrong between the caller and the handler,
//! [`CallError`] for what a generated client returns, [`Never`] for ops that cannot fail.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A transport-level failure: the op's handler did not produce a result the caller could read.
///
/// A server answers with one of these as the reply label (no words); the client stub and the
/// transport produce the rest. Codes are part of the wire format and never change; new variants
/// get new codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpcError {
    /// The request's words are not the canonical encoding of the op's arguments (malformed,
    /// truncated, extra words, nonzero padding, an out-of-range value).
    Decode,
    /// The interface version has no op of that number.
    UnknownOp,
    /// The server speaks this interface, but not that version.
    UnsupportedVersion,
    /// The server does not speak that interface (or the label is not a request label).
    UnknownInterface,
    /// Nobody serves the endpoint: the capability is empty, deleted or of the wrong type.
    ServerUnavailable,
    /// The server faulted while handling the request; its transaction was rolled back and the
    /// request had no effect on the server's state.
    Aborted,
    /// The server was restarted since this capability was issued (a stale generation); look
    /// the server up again.
    Restarted,
    /// A value does not fit in one message (or could not be encoded).
    TooLarge,
    /// The op carries a capability, and none was transferred.
    MissingCapability,
    /// The reply was not a valid reply to the op (undecodable words or an unknown reply label).
    MalformedReply,
    /// The kernel refused the system call, with this `axolotl_abi::Error` code.
    Kernel(u32),
}

/// Reply labels with this bit set carry a kernel error code in the low 32 bits.
const KERNEL_CODE_FLAG: u64 = 1 << 32;

impl IpcError {
    /// The reply label that carries this error (never [`REPLY_DELIVERED`](crate::REPLY_DELIVERED)).
    pub const fn code(self) -> u64 {
        match self {
            IpcError::Decode => 1,
            IpcError::UnknownOp => 2,
            IpcError::UnsupportedVersion => 3,
            IpcError::UnknownInterface => 4,
            IpcError::ServerUnavailable => 5,
            IpcError::Aborted => 6,
            IpcError::Restarted => 7,
            IpcError::TooLarge => 8,
            IpcError::MissingCapability => 9,
            IpcError::MalformedReply => 10,
            IpcError::Kernel(code) => KERNEL_CODE_FLAG | code as u64,
        }
    }

    /// The error a reply label names; `None` for [`REPLY_DELIVERED`](crate::REPLY_DELIVERED) and
    /// for codes this crate does not know.
    pub const fn from_code(code: u64) -> Option<IpcError> {
        Some(match code {
            1 => IpcError::Decode,
            2 => IpcError::UnknownOp,
            3 => IpcError::UnsupportedVersion,
            4 => IpcError::UnknownInterface,
            5 => IpcError::ServerUnavailable,
            6 => IpcError::Aborted,
            7 => IpcError::Restarted,
            8 => IpcError::TooLarge,
            9 => IpcError::MissingCapability,
            10 => IpcError::MalformedReply,
            c if c >> 32 == 1 => IpcError::Kernel(c as u32),
            _ => return None,
        })
    }

    /// The reply for this error: its label and no words.
    pub const fn reply(self) -> (u64, usize) {
        (self.code(), 0)
    }

    pub const fn name(self) -> &'static str {
        match self {
            IpcError::Decode => "request did not decode",
            IpcError::UnknownOp => "unknown op",
            IpcError::UnsupportedVersion => "unsupported interface version",
            IpcError::UnknownInterface => "unknown interface",
            IpcError::ServerUnavailable => "server unavailable",
            IpcError::Aborted => "request aborted (server faulted, state rolled back)",
            IpcError::Restarted => "server restarted (stale generation)",
            IpcError::TooLarge => "value too large for a message",
            IpcError::MissingCapability => "capability missing",
            IpcError::MalformedReply => "malformed reply",
            IpcError::Kernel(_) => "kernel error",
        }
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcError::Kernel(code) => write!(f, "kernel error {code}"),
            e => f.write_str(e.name()),
        }
    }
}

/// What a generated client method returns on failure: the op's own error `E`, or a transport
/// failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallError<E> {
    /// The request did not reach the handler, or its reply did not come back.
    Ipc(IpcError),
    /// The handler ran and returned this error.
    Op(E),
}

impl<E> CallError<E> {
    pub fn ipc(&self) -> Option<IpcError> {
        match self {
            CallError::Ipc(e) => Some(*e),
            CallError::Op(_) => None,
        }
    }

    pub fn op(&self) -> Option<&E> {
        match self {
            CallError::Ipc(_) => None,
            CallError::Op(e) => Some(e),
        }
    }
}

impl CallError<Never> {
    /// For ops that cannot fail on their own: the only error is a transport failure.
    pub fn into_ipc(self) -> IpcError {
        match self {
            CallError::Ipc(e) => e,
            CallError::Op(never) => match never {},
        }
    }
}

impl<E> From<IpcError> for CallError<E> {
    fn from(e: IpcError) -> Self {
        CallError::Ipc(e)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Ipc(e) => e.fmt(f),
            CallError::Op(e) => e.fmt(f),
        }
    }
}

/// The error type of an op that cannot fail (`-> Result<T, Never>`): it has no values, so its
/// encoding never appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [IpcError; 12] = [
        IpcError::Decode,
        IpcError::UnknownOp,
        IpcError::UnsupportedVersion,
        IpcError::UnknownInterface,
        IpcError::ServerUnavailable,
        IpcError::Aborted,
        IpcError::Restarted,
        IpcError::TooLarge,
        IpcError::MissingCapability,
        IpcError::MalformedReply,
        IpcError::Kernel(2),
        IpcError::Kernel(u32::MAX),
    ];

    #[test]
    fn codes_round_trip_and_are_never_zero() {
        for e in ALL {
            assert_ne!(e.code(), crate::REPLY_DELIVERED);
            assert!(e.code() < 1 << 52, "fits the kernel's label field");
            assert_eq!(IpcError::from_code(e.code()), Some(e));
            assert_eq!(e.reply(), (e.code(), 0));
        }
        assert_eq!(IpcError::from_code(0), None);
        assert_eq!(IpcError::from_code(11), None);
        assert_eq!(IpcError::from_code(2 << 32), None);
    }

    #[test]
    fn codes_are_frozen() {
        let codes: [u64; 12] = ALL.map(IpcError::code);
        assert_eq!(
            codes,
            [
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                (1 << 32) | 2,
                (1 << 32) | 0xffff_ffff
            ]
        );
    }

    #[test]
    fn call_errors_split() {
        let e: CallError<u8> = IpcError::Aborted.into();
        assert_eq!(e.ipc(), Some(IpcError::Aborted));
        assert_eq!(e.op(), None);
        assert_eq!(CallError::Op(3u8).op(), Some(&3));
        let never: CallError<Never> = IpcError::Restarted.into();
        assert_eq!(never.into_ipc(), IpcError::Restarted);
    }
}
