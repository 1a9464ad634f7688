//! The wire format: how a typed request or reply becomes a message label and message words.
//!
//! ```text
//! request label  = interface (16 bits) << 24 | version (8) << 16 | op (16)      (40 of the kernel's 52 label bits)
//! reply label    = 0 (delivered: the words hold the op's Result<T, E>) or an IpcError code (no words)
//! message words  = the postcard encoding of the value, packed little-endian, 8 bytes a word,
//!                  the last word padded with zero bytes; an empty encoding is zero words
//! ```
//!
//! A request's value is the tuple of the op's arguments; a delivered reply's value is the op's
//! `Result<T, E>`. There is no length word: postcard is self-delimiting, so the decoder reads
//! exactly the value's bytes and then checks that what is left is fewer than 8 bytes, all zero.
//! That makes the encoding canonical (one value, one word sequence) and lets a 32-byte value
//! travel in the four register words of the kernel's fast path.
//!
//! Everything here is pure and total: no input makes these functions panic.

use crate::error::IpcError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The most words a message carries (the kernel's `MSG_MAX_LENGTH`).
pub const MSG_WORDS: usize = 120;
/// Words that travel in CPU registers (the kernel's `MSG_REGISTERS_IN_CPU`): a message of at most
/// this many words, without a capability, may take the kernel's IPC fast path.
pub const REGISTER_WORDS: usize = 4;
/// Bytes in a word.
pub const WORD_BYTES: usize = 8;
/// The largest encoded value, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = MSG_WORDS * WORD_BYTES;
/// The largest encoded value that still fits the register words.
pub const REGISTER_PAYLOAD_BYTES: usize = REGISTER_WORDS * WORD_BYTES;

/// The reply label of a request that reached its handler: the words hold the op's `Result<T, E>`.
pub const REPLY_DELIVERED: u64 = 0;

/// Where the fields sit in a request label.
pub const OP_SHIFT: u32 = 0;
pub const VERSION_SHIFT: u32 = 16;
pub const INTERFACE_SHIFT: u32 = 24;
/// Bits a request label may use; a label with any bit above them set names no interface.
pub const LABEL_BITS: u32 = 40;

/// The three fields of a request label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    /// The interface's id (`0` is never assigned).
    pub interface: u16,
    /// The interface version the sender speaks.
    pub version: u8,
    /// The op's number within that version.
    pub op: u16,
}

impl Label {
    pub const fn new(interface: u16, version: u8, op: u16) -> Label {
        Label {
            interface,
            version,
            op,
        }
    }

    /// The label word.
    pub const fn to_u64(self) -> u64 {
        ((self.interface as u64) << INTERFACE_SHIFT)
            | ((self.version as u64) << VERSION_SHIFT)
            | ((self.op as u64) << OP_SHIFT)
    }

    /// Splits a label word; `None` if a bit above [`LABEL_BITS`] is set.
    pub const fn from_u64(label: u64) -> Option<Label> {
        if label >> LABEL_BITS != 0 {
            return None;
        }
        Some(Label {
            interface: (label >> INTERFACE_SHIFT) as u16,
            version: (label >> VERSION_SHIFT) as u8,
            op: (label >> OP_SHIFT) as u16,
        })
    }
}

/// The request label of `op` of `interface` version `version`.
pub const fn label(interface: u16, version: u8, op: u16) -> u64 {
    Label::new(interface, version, op).to_u64()
}

/// Checks that a request label is addressed to `interface` version `version` and returns its op
/// number. The errors are checked in this order: interface, version.
pub const fn check_label(label: u64, interface: u16, version: u8) -> Result<u16, IpcError> {
    match Label::from_u64(label) {
        Some(l) if l.interface == interface && l.version == version => Ok(l.op),
        Some(l) if l.interface == interface => Err(IpcError::UnsupportedVersion),
        _ => Err(IpcError::UnknownInterface),
    }
}

/// Words needed for `bytes` bytes of payload.
pub const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(WORD_BYTES)
}

/// Packs `bytes` into words, little-endian, the last word zero-padded. Returns the number of words.
pub fn pack(bytes: &[u8], words: &mut [u64; MSG_WORDS]) -> Result<usize, IpcError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(IpcError::TooLarge);
    }
    let mut n = 0;
    for (word, chunk) in words.iter_mut().zip(bytes.chunks(WORD_BYTES)) {
        let mut le = [0u8; WORD_BYTES];
        le[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
        n += 1;
    }
    Ok(n)
}

/// Unpacks words into bytes, little-endian. Returns the number of bytes (`8 * words.len()`), or
/// [`IpcError::Decode`] for more than [`MSG_WORDS`] words.
pub fn unpack(words: &[u64], bytes: &mut [u8; MAX_PAYLOAD_BYTES]) -> Result<usize, IpcError> {
    if words.len() > MSG_WORDS {
        return Err(IpcError::Decode);
    }
    for (chunk, word) in bytes.chunks_exact_mut(WORD_BYTES).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    Ok(words.len() * WORD_BYTES)
}

/// Encodes `value` into `words`; returns the number of words used.
pub fn encode<T: Serialize + ?Sized>(
    value: &T,
    words: &mut [u64; MSG_WORDS],
) -> Result<usize, IpcError> {
    let mut bytes = [0u8; MAX_PAYLOAD_BYTES];
    let used = postcard::to_slice(value, &mut bytes)
        .map_err(|_| IpcError::TooLarge)?
        .len();
    pack(&bytes[..used], words)
}

/// Decodes a value from `words`. Fails with [`IpcError::Decode`] if the words are not exactly
/// the canonical encoding of one value: malformed or truncated bytes, a whole extra word, or
/// nonzero padding.
pub fn decode<T: DeserializeOwned>(words: &[u64]) -> Result<T, IpcError> {
    let mut bytes = [0u8; MAX_PAYLOAD_BYTES];
    let len = unpack(words, &mut bytes)?;
    let (value, rest) =
        postcard::take_from_bytes::<T>(&bytes[..len]).map_err(|_| IpcError::Decode)?;
    if rest.len() >= WORD_BYTES || rest.iter().any(|&b| b != 0) {
        return Err(IpcError::Decode);
    }
    Ok(value)
}

/// The size of `value`'s encoding in bytes, or `None` if it exceeds [`MAX_PAYLOAD_BYTES`].
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Option<usize> {
    let mut bytes = [0u8; MAX_PAYLOAD_BYTES];
    postcard::to_slice(value, &mut bytes).ok().map(|b| b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unusual_byte_groupings)] // grouped by field: interface, version, op
    fn labels_round_trip() {
        let l = Label::new(0xbeef, 7, 0x1234);
        assert_eq!(l.to_u64(), 0xbeef_07_1234);
        assert_eq!(Label::from_u64(l.to_u64()), Some(l));
        assert_eq!(Label::from_u64(1 << 40), None);
        assert_eq!(label(4, 1, 2), (4 << 24) | (1 << 16) | 2);
        // Labels fit the kernel's 52-bit label field.
        assert!(label(u16::MAX, u8::MAX, u16::MAX) < 1 << 52);
    }

    #[test]
    fn labels_are_checked_interface_first() {
        assert_eq!(check_label(label(4, 1, 9), 4, 1), Ok(9));
        assert_eq!(
            check_label(label(4, 2, 9), 4, 1),
            Err(IpcError::UnsupportedVersion)
        );
        assert_eq!(
            check_label(label(5, 2, 9), 4, 1),
            Err(IpcError::UnknownInterface)
        );
        assert_eq!(
            check_label(label(4, 1, 9) | 1 << 45, 4, 1),
            Err(IpcError::UnknownInterface)
        );
    }

    #[test]
    fn packing_is_little_endian_and_zero_padded() {
        let mut words = [u64::MAX; MSG_WORDS];
        assert_eq!(pack(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut words), Ok(2));
        assert_eq!(words[0], 0x0807_0605_0403_0201);
        assert_eq!(words[1], 9);
        assert_eq!(pack(&[], &mut words), Ok(0));
        assert_eq!(
            pack(&[0; MAX_PAYLOAD_BYTES + 1], &mut words),
            Err(IpcError::TooLarge)
        );
        let mut bytes = [0; MAX_PAYLOAD_BYTES];
        assert_eq!(unpack(&[0x0807_0605_0403_0201], &mut bytes), Ok(8));
        assert_eq!(bytes[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            unpack(&[0; MSG_WORDS + 1], &mut bytes),
            Err(IpcError::Decode)
        );
    }

    #[test]
    fn values_round_trip() {
        let mut words = [0; MSG_WORDS];
        let n = encode(&(7u64, true), &mut words).unwrap();
        assert_eq!(n, 1);
        assert_eq!(decode::<(u64, bool)>(&words[..n]), Ok((7, true)));
        assert_eq!(encode(&(), &mut words), Ok(0));
        assert_eq!(decode::<()>(&[]), Ok(()));
        let big = [0xa5u8; 32];
        let n = encode(&big, &mut words).unwrap();
        assert_eq!(n, REGISTER_WORDS, "a 32-byte value fits the register words");
        assert_eq!(decode::<[u8; 32]>(&words[..n]), Ok(big));
    }

    #[test]
    fn non_canonical_words_are_refused() {
        let mut words = [0; MSG_WORDS];
        let n = encode(&(7u64, 9u32), &mut words).unwrap();
        // An extra all-zero word.
        assert_eq!(decode::<(u64, u32)>(&words[..n + 1]), Err(IpcError::Decode));
        // Nonzero padding.
        let mut bad = words;
        bad[0] |= 0xff << 56;
        assert_eq!(decode::<(u64, u32)>(&bad[..n]), Err(IpcError::Decode));
        // Truncated.
        let n = encode(&[9u8; 20], &mut words).unwrap();
        assert_eq!(decode::<[u8; 20]>(&words[..n - 1]), Err(IpcError::Decode));
        // Unit takes no words.
        assert_eq!(decode::<()>(&[0]), Err(IpcError::Decode));
        // Too many words.
        assert_eq!(decode::<()>(&[0; MSG_WORDS + 1]), Err(IpcError::Decode));
    }

    #[test]
    fn oversized_values_are_refused() {
        let mut words = [0; MSG_WORDS];
        // A slice encodes as a 2-byte length and its bytes.
        assert_eq!(encode(&[0u8; 959][..], &mut words), Err(IpcError::TooLarge));
        assert_eq!(encoded_len(&[0u8; 958][..]), Some(MAX_PAYLOAD_BYTES));
        assert_eq!(encoded_len(&[0u8; 959][..]), None);
    }
}
