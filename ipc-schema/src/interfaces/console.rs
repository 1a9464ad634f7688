//! `console`: the serial console, shared by every server that prints or reads.

/// Version 1.
pub mod v1 {
    use super::super::common::{LogLevel, Name};
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// The most bytes one write or read carries.
    pub const CHUNK_LEN: usize = 200;
    /// Bytes to write or bytes read.
    pub type Bytes = heapless::Vec<u8, CHUNK_LEN>;

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum ConsoleError {
        /// The device failed.
        Device,
        /// No server of that name logs through the console.
        NoSuchServer,
        /// The caller may not change log levels.
        NotPermitted,
    }

    impl core::fmt::Display for ConsoleError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                ConsoleError::Device => "console device error",
                ConsoleError::NoSuchServer => "no such server",
                ConsoleError::NotPermitted => "not permitted",
            })
        }
    }

    crate::interface! {
        interface console = ids::CONSOLE, version 1;

        /// Writes `bytes` to the console, all of them, in order and not interleaved with other
        /// writers' bytes.
        0 => non_idempotent fn write(bytes: Bytes) -> Result<(), ConsoleError>;
        /// Input received so far, at most `max` bytes (and at most [`CHUNK_LEN`]); empty when
        /// none is waiting. Bytes read are consumed.
        1 => non_idempotent fn read(max: u16) -> Result<Bytes, ConsoleError>;
        /// Log lines of server `server` below `level` are dropped from now on.
        2 => idempotent fn set_log_level(server: Name, level: LogLevel) -> Result<(), ConsoleError>;
    }
}
