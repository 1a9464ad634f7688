//! Verified transactions (`verify = true`, see `axolotl_kcore::verify`): the digest the runtime
//! computes over a reply and the kernel over the pages a request dirtied, and the system call
//! that compares two runs of a request ([`crate::Syscall::TxVerify`]).

/// A 64-bit digest. Each step is a bijection of the state for a given word and of the word for a
/// given state, so two sequences of the same length that differ in one word (one flipped bit, a
/// skipped store) always give different digests; any other difference collides with probability
/// about 2^-64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(u64);

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// The empty digest.
    pub const fn new() -> Self {
        Digest(0x6a09_e667_f3bc_c908)
    }

    /// Adds one word.
    pub fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(MULTIPLIER).rotate_left(29);
    }

    /// Adds `bytes`: whole little-endian words, then the tail one byte a word, then the length.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.word(u64::from_le_bytes(b));
        }
        for &b in words.remainder() {
            self.word(u64::from(b));
        }
        self.word(bytes.len() as u64);
    }

    /// The value.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_bit_flip_changes_the_digest() {
        let page: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut d = Digest::new();
        d.bytes(&page);
        let reference = d.finish();
        for bit in (0..4096 * 8).step_by(13) {
            let mut flipped = page.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let mut d = Digest::new();
            d.bytes(&flipped);
            assert_ne!(d.finish(), reference, "bit {bit}");
        }
    }

    #[test]
    fn lengths_and_tails_count() {
        let digest = |b: &[u8]| {
            let mut d = Digest::new();
            d.bytes(b);
            d.finish()
        };
        assert_ne!(digest(&[0; 8]), digest(&[0; 16]));
        assert_ne!(digest(&[0; 9]), digest(&[0; 8]));
        assert_ne!(digest(&[1, 2, 3]), digest(&[1, 2, 4]));
        assert_eq!(digest(&[1, 2, 3]), digest(&[1, 2, 3]));
    }
}
