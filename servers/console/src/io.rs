//! `embedded-io` over the `console::v1` client stub: what a program that reads and writes the
//! console (the shell, a test) uses instead of calling the ops itself.
//!
//! ```ignore
//! use embedded_io::{Read, Write};
//! let mut console = ConsoleIo::with_idle(server.client("console").unwrap(), yield_now);
//! write!(console, "> ")?;
//! let n = console.read(&mut line)?;   // polls, calling yield_now between empty reads
//! ```

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use ipc_schema::console::v1::{self, Bytes, CHUNK_LEN, ConsoleError};
use ipc_schema::{CallError, IpcError, Transport};

/// A failed console op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError(pub CallError<ConsoleError>);

impl embedded_io::Error for IoError {
    fn kind(&self) -> ErrorKind {
        match self.0 {
            CallError::Ipc(IpcError::ServerUnavailable | IpcError::Restarted) => {
                ErrorKind::NotConnected
            }
            CallError::Ipc(IpcError::Aborted) => ErrorKind::Interrupted,
            CallError::Ipc(IpcError::TooLarge) => ErrorKind::InvalidInput,
            CallError::Op(ConsoleError::NotPermitted) => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        }
    }
}

impl core::fmt::Display for IoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "console: {}", self.0)
    }
}

impl From<CallError<ConsoleError>> for IoError {
    fn from(e: CallError<ConsoleError>) -> Self {
        IoError(e)
    }
}

/// The console as an `embedded_io` byte stream, over a [`v1::Client`].
///
/// `write` sends at most [`CHUNK_LEN`] bytes a call (`write_all` and `write!` loop). `read`
/// blocks as `embedded_io` requires: the console answers a read at once with what it has
/// (possibly nothing), so an empty answer is followed by `idle` (yield or sleep) and another
/// read. [`ConsoleIo::try_read`] is the non-blocking read.
pub struct ConsoleIo<T, I = fn()> {
    client: v1::Client<T>,
    idle: I,
}

impl<T: Transport> ConsoleIo<T, fn()> {
    /// Between empty reads it only spins; prefer [`ConsoleIo::with_idle`] with the runtime's
    /// `yield_now` or a timer sleep.
    pub fn new(transport: T) -> Self {
        ConsoleIo::with_idle(transport, core::hint::spin_loop as fn())
    }
}

impl<T: Transport, I: FnMut()> ConsoleIo<T, I> {
    /// Calls `idle` between reads that found no input.
    pub fn with_idle(transport: T, idle: I) -> Self {
        ConsoleIo {
            client: v1::Client::new(transport),
            idle,
        }
    }

    pub fn client(&self) -> &v1::Client<T> {
        &self.client
    }

    pub fn transport(&self) -> &T {
        self.client.transport()
    }

    /// Reads what the console has buffered, at most `buf.len()` bytes; 0 if nothing is.
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let max = buf.len().min(CHUNK_LEN) as u16;
        let got = self.client.read(max)?;
        // The server sends at most `max`; never trust it to.
        let n = got.len().min(buf.len());
        buf[..n].copy_from_slice(&got[..n]);
        Ok(n)
    }
}

impl<T, I> ErrorType for ConsoleIo<T, I> {
    type Error = IoError;
}

impl<T: Transport, I: FnMut()> Write for ConsoleIo<T, I> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        let n = buf.len().min(CHUNK_LEN);
        if n == 0 {
            return Ok(0);
        }
        // `n` <= CHUNK_LEN, the vector's capacity.
        let chunk = Bytes::from_slice(&buf[..n]).unwrap_or_default();
        self.client.write(chunk)?;
        Ok(n)
    }

    /// The console writes each chunk before it answers: nothing is ever pending here.
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl<T: Transport, I: FnMut()> Read for ConsoleIo<T, I> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        loop {
            let n = self.try_read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            (self.idle)();
        }
    }
}
