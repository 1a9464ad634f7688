//! Where the shell's output goes: a [`Terminal`] takes bytes (echo) and formatted text (command
//! output). [`ChunkWriter`] batches them into the chunks one `console::v1::write` carries.

use core::fmt;

/// A sink for the shell's output. `write!`/`writeln!` work on it directly (through
/// [`Terminal::write_fmt`]) and cannot fail: a console that loses bytes is not the shell's error
/// to report.
pub trait Terminal {
    fn write_bytes(&mut self, bytes: &[u8]);

    /// Sends what is buffered on its way (before the shell runs a command, so that the echoed
    /// line is out before anything the command makes other servers print).
    fn flush(&mut self) {}

    fn write_str(&mut self, s: &str) {
        self.write_bytes(s.as_bytes());
    }

    fn write_fmt(&mut self, args: fmt::Arguments<'_>) {
        struct Adapter<'a, T: ?Sized>(&'a mut T);
        impl<T: Terminal + ?Sized> fmt::Write for Adapter<'_, T> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.write_bytes(s.as_bytes());
                Ok(())
            }
        }
        let _ = fmt::Write::write_fmt(&mut Adapter(self), args);
    }
}

impl<const N: usize> Terminal for heapless::Vec<u8, N> {
    fn write_bytes(&mut self, bytes: &[u8]) {
        // A full test buffer drops the rest; tests size it generously.
        let _ = self.extend_from_slice(bytes);
    }
}

#[cfg(test)]
impl Terminal for std::vec::Vec<u8> {
    fn write_bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Collects output into chunks of up to `N` bytes and hands each full one, and the rest on
/// [`ChunkWriter::flush`], to `send`.
pub struct ChunkWriter<F: FnMut(&[u8]), const N: usize> {
    buf: heapless::Vec<u8, N>,
    send: F,
}

impl<F: FnMut(&[u8]), const N: usize> ChunkWriter<F, N> {
    pub fn new(send: F) -> Self {
        ChunkWriter {
            buf: heapless::Vec::new(),
            send,
        }
    }
}

impl<F: FnMut(&[u8]), const N: usize> Terminal for ChunkWriter<F, N> {
    fn write_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.buf.is_full() {
                Terminal::flush(self);
            }
            let n = bytes.len().min(N - self.buf.len());
            // Cannot fail: n fits.
            let _ = self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            (self.send)(&self.buf);
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_macros_work_on_terminals() {
        let mut out = std::vec::Vec::new();
        let n = 1;
        write!(out, "{n}-{}", n + 1);
        writeln!(out);
        out.write_str("x");
        assert_eq!(out, b"1-2\nx");
    }

    #[test]
    fn chunks_are_full_until_the_flush() {
        let mut sent: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
        {
            let mut w = ChunkWriter::<_, 4>::new(|chunk: &[u8]| sent.push(chunk.to_vec()));
            w.write_bytes(b"abcdefghij");
            w.write_bytes(b"k");
            w.flush();
            w.flush();
        }
        assert_eq!(sent, [&b"abcd"[..], b"efgh", b"ijk"]);
    }
}
