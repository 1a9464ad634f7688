//! Received input: a bounded ring of bytes, read by bytes or by lines.
//!
//! The interrupt handler pushes every byte the UART received; `read` pops them. When the ring is
//! full, newly received bytes are dropped (and counted), as a UART's own FIFO drops on overrun:
//! what was typed first is what a reader gets first.

/// A ring buffer of `N` bytes.
#[derive(Clone, Debug)]
pub struct InputBuffer<const N: usize> {
    bytes: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
    /// Bytes dropped because the ring was full.
    overruns: u64,
}

impl<const N: usize> Default for InputBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `b` ends a line: `\n`, or `\r` (what a terminal sends for Enter).
pub const fn is_line_end(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

impl<const N: usize> InputBuffer<N> {
    pub const fn new() -> Self {
        InputBuffer {
            bytes: [0; N],
            head: 0,
            len: 0,
            overruns: 0,
        }
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub const fn is_full(&self) -> bool {
        self.len == N
    }

    /// Bytes dropped so far because the ring was full.
    pub const fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The `i`-th oldest byte (`i < len`).
    fn at(&self, i: usize) -> u8 {
        self.bytes[(self.head + i) % N]
    }

    /// Appends `b`; `false` (and the byte is dropped and counted) if the ring is full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.is_full() {
            self.overruns += 1;
            return false;
        }
        let tail = (self.head + self.len) % N;
        self.bytes[tail] = b;
        self.len += 1;
        true
    }

    /// Moves the oldest bytes into `out`, as many as fit; returns how many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for (i, slot) in out[..n].iter_mut().enumerate() {
            *slot = self.at(i);
        }
        self.discard(n);
        n
    }

    /// Drops the `n` oldest bytes (all of them if fewer are buffered).
    pub fn discard(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = if N == 0 { 0 } else { (self.head + n) % N };
        self.len -= n;
    }

    /// The length of the first complete line, its terminator included, if one is buffered.
    pub fn line_len(&self) -> Option<usize> {
        (0..self.len)
            .find(|&i| is_line_end(self.at(i)))
            .map(|i| i + 1)
    }

    /// Moves the first complete line (with its terminator) into `out` and returns its length, if
    /// one is buffered. A line longer than `out` gives its first `out.len()` bytes, and the rest
    /// stays for the next call.
    pub fn pop_line(&mut self, out: &mut [u8]) -> Option<usize> {
        let len = self.line_len()?.min(out.len());
        Some(self.pop_into(&mut out[..len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let mut b = InputBuffer::<4>::new();
        assert!(b.is_empty());
        let mut out = [0; 8];
        assert_eq!(b.pop_into(&mut out), 0);
        for round in 0..10u8 {
            assert!(b.push(round));
            assert!(b.push(round + 100));
            assert!(b.push(round + 200));
            assert_eq!(b.len(), 3);
            assert_eq!(b.pop_into(&mut out[..2]), 2);
            assert_eq!(out[..2], [round, round + 100]);
            assert_eq!(b.pop_into(&mut out), 1);
            assert_eq!(out[0], round + 200);
        }
        assert_eq!(b.overruns(), 0);
    }

    #[test]
    fn a_full_ring_drops_new_bytes_and_counts_them() {
        let mut b = InputBuffer::<3>::new();
        for x in 1..=5 {
            b.push(x);
        }
        assert!(b.is_full());
        assert_eq!(b.overruns(), 2);
        let mut out = [0; 3];
        assert_eq!(b.pop_into(&mut out), 3);
        assert_eq!(out, [1, 2, 3]);
        assert!(b.push(9));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn lines() {
        let mut b = InputBuffer::<16>::new();
        let mut out = [0; 16];
        b"ls".iter().for_each(|&c| {
            b.push(c);
        });
        assert_eq!(b.line_len(), None);
        assert_eq!(b.pop_line(&mut out), None, "an incomplete line stays");
        b"\rps\nx".iter().for_each(|&c| {
            b.push(c);
        });
        assert_eq!(b.pop_line(&mut out), Some(3));
        assert_eq!(&out[..3], b"ls\r");
        assert_eq!(
            b.pop_line(&mut out[..1]),
            Some(1),
            "a long line comes out in pieces"
        );
        assert_eq!(out[0], b'p');
        assert_eq!(b.pop_line(&mut out), Some(2));
        assert_eq!(&out[..2], b"s\n");
        assert_eq!(b.pop_line(&mut out), None);
        assert_eq!(b.len(), 1);
        b.discard(5);
        assert!(b.is_empty());
    }
}
