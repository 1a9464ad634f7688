//! `upgrade`: how the supervisor moves a server's state from one version of the server to the
//! next during a live upgrade (the K42 mediator's transfer phase).
//!
//! A server that opts in (the `upgrade` crate's `Agent` does the work) answers this interface in
//! two places:
//!
//! - on its **service endpoint**, to badge 0 only (the supervisor's unbadged capability; every
//!   client capability carries a non-zero badge): `formats` and `freeze`. A `freeze` is queued
//!   behind the requests already waiting on the endpoint and served, like any request, at a
//!   transaction boundary, so when it is answered nothing is in flight. After replying, the
//!   server stops receiving on its service endpoint: new client calls queue there (the *block*
//!   phase);
//! - on its **control endpoint** (a second endpoint only the supervisor can call), while frozen
//!   or, for a new version started to take over, before it first serves: `formats`, `export`,
//!   `import` and `serve`.
//!
//! State moves in chunks of at most [`CHUNK_LEN`] bytes through the message registers (one IPC
//! message holds 960 bytes): the exporter encodes its whole state once, at the `export` of
//! offset 0, and hands out slices; the importer stages the slices and decodes the whole on the
//! `last` one. Chunks are addressed by offset, so every op is idempotent: a re-sent chunk
//! overwrites the same bytes. See `docs/ARCHITECTURE.md`, "Live upgrade".

/// Version 1.
pub mod v1 {
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// A set of state formats: bit `n` set = format `n` (what format `n` means is the server's
    /// business; the supervisor only intersects sets).
    pub type FormatSet = u64;
    /// The most formats one version lists in its order of preference.
    pub const PREFERENCE_LEN: usize = 16;
    /// The most state bytes one `export` reply or `import` request carries.
    pub const CHUNK_LEN: usize = 896;
    /// A slice of an encoded state.
    pub type Chunk = heapless::Vec<u8, CHUNK_LEN>;

    /// The state formats a version can export and import.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Formats {
        /// Formats it can encode its state in.
        pub export: FormatSet,
        /// Formats it can build its state from.
        pub import: FormatSet,
        /// Its import formats, most preferred first (formats of `import` not listed here come
        /// after, lowest number first).
        pub preference: heapless::Vec<u8, PREFERENCE_LEN>,
    }

    /// How far an export has got.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ExportChunk {
        /// The bytes at the requested offset.
        pub bytes: Chunk,
        /// The length of the whole encoded state.
        pub total: u32,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum UpgradeError {
        /// An upgrade op on the service endpoint from a caller other than the supervisor.
        NotSupervisor,
        /// The op does not fit the server's mode (an `export` before `freeze`, a `serve` before a
        /// new version has imported its state, a `freeze` on the control endpoint).
        WrongMode,
        /// The server cannot export or import that format.
        UnsupportedFormat(u8),
        /// The encoded state does not fit the server's staging buffer.
        TooLarge,
        /// A chunk does not start where the previous one ended, or an export offset is past the end.
        BadOffset,
        /// The state could not be encoded.
        ExportFailed,
        /// The bytes do not decode in that format, or the decoded state breaks the server's
        /// invariants, or the migration from that format failed. The server's state is unchanged.
        ImportFailed,
    }

    impl core::fmt::Display for UpgradeError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                UpgradeError::NotSupervisor => f.write_str("only the supervisor may upgrade"),
                UpgradeError::WrongMode => f.write_str("not in the right mode for this op"),
                UpgradeError::UnsupportedFormat(n) => write!(f, "state format {n} unsupported"),
                UpgradeError::TooLarge => f.write_str("state too large"),
                UpgradeError::BadOffset => f.write_str("chunk out of order"),
                UpgradeError::ExportFailed => f.write_str("export failed"),
                UpgradeError::ImportFailed => f.write_str("import failed"),
            }
        }
    }

    crate::interface! {
        interface upgrade = ids::UPGRADE, version 1;

        /// The formats this version exports and imports.
        0 => idempotent fn formats() -> Result<Formats, UpgradeError>;
        /// Service endpoint, badge 0: stop serving clients after this reply and take upgrade
        /// requests on the control endpoint only. A second freeze is refused (`WrongMode`).
        1 => idempotent fn freeze() -> Result<(), UpgradeError>;
        /// Control endpoint, frozen: the encoded state's bytes from `offset` (offset 0 encodes
        /// the state in `format` afresh; later offsets slice that encoding).
        2 => idempotent fn export(format: u8, offset: u32) -> Result<ExportChunk, UpgradeError>;
        /// Control endpoint: stages `chunk` at `offset` (chunks come in order from offset 0);
        /// with `last`, decodes the staged bytes in `format`, migrates and checks them, and on
        /// success replaces the server's state.
        3 => idempotent fn import(format: u8, offset: u32, chunk: Chunk, last: bool) -> Result<(), UpgradeError>;
        /// Control endpoint: serve clients on the service endpoint again after this reply (a new
        /// version: once its import succeeded; a frozen old version: at once, the rollback).
        4 => idempotent fn serve() -> Result<(), UpgradeError>;
    }
}
