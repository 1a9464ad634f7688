//! Error codes the kernel returns. Values follow seL4's `seL4_Error` where seL4 has one.

/// Why the kernel refused a system call or an invocation.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// An argument is out of its valid set (bad object type, bad rights, bad register index).
    InvalidArgument = 1,
    /// The capability is empty, of the wrong type, or lacks the rights needed.
    InvalidCapability = 2,
    /// The operation is not allowed on this object in its current state.
    IllegalOperation = 3,
    /// A number (size, slot index, priority, address) is outside its range.
    RangeError = 4,
    /// An address or size is not aligned as required.
    AlignmentError = 5,
    /// A capability or page-table lookup found nothing.
    FailedLookup = 6,
    /// The message is shorter than the invocation needs.
    TruncatedMessage = 7,
    /// The destination slot or mapping is occupied: delete it first.
    DeleteFirst = 8,
    /// The capability has derived children: revoke it first.
    RevokeFirst = 9,
    /// The Untyped object has too little free memory left.
    NotEnoughMemory = 10,
    /// No ASID (address-space identifier) is free.
    AsidsExhausted = 11,
    /// A non-blocking operation would have had to block.
    WouldBlock = 12,
}

impl Error {
    pub const fn from_u64(n: u64) -> Option<Error> {
        Some(match n {
            1 => Error::InvalidArgument,
            2 => Error::InvalidCapability,
            3 => Error::IllegalOperation,
            4 => Error::RangeError,
            5 => Error::AlignmentError,
            6 => Error::FailedLookup,
            7 => Error::TruncatedMessage,
            8 => Error::DeleteFirst,
            9 => Error::RevokeFirst,
            10 => Error::NotEnoughMemory,
            11 => Error::AsidsExhausted,
            12 => Error::WouldBlock,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Error::InvalidArgument => "invalid argument",
            Error::InvalidCapability => "invalid capability",
            Error::IllegalOperation => "illegal operation",
            Error::RangeError => "out of range",
            Error::AlignmentError => "misaligned",
            Error::FailedLookup => "lookup failed",
            Error::TruncatedMessage => "truncated message",
            Error::DeleteFirst => "slot occupied (delete first)",
            Error::RevokeFirst => "capability has children (revoke first)",
            Error::NotEnoughMemory => "not enough memory in untyped",
            Error::AsidsExhausted => "no free ASID",
            Error::WouldBlock => "would block",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        assert_eq!(Error::from_u64(0), None);
        for n in 1..=12 {
            assert_eq!(Error::from_u64(n).unwrap() as u64, n);
        }
        assert_eq!(Error::from_u64(13), None);
    }
}
