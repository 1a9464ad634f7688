//! `snapshot`: concurrent snapshots of transactional servers, served by the root task's
//! supervisor (after the UESTC concurrent checkpoint).
//!
//! A snapshot of a server is its transactional region at a *snapshot point*: the state after its
//! last committed request. [`begin`](v1::Server::begin) fixes the point without copying anything;
//! the server keeps serving, and the kernel copies each page into the snapshot before the page's
//! next write. Each [`step`](v1::Server::step) has the supervisor copy a few more pages; the caller
//! paces the copy (the server runs between steps). [`take`](v1::Server::take) is stop-and-copy:
//! begin and copy everything before the server runs again. [`restore`](v1::Server::restore) puts
//! the last complete snapshot back: the server is at its snapshot point, waiting for a request.

/// Version 1.
pub mod v1 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// A server's snapshot, as the supervisor knows it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SnapshotInfo {
        /// Pages of the server's region.
        pub pages: u32,
        /// Pages not copied yet (0 once complete).
        pub remaining: u32,
        /// Every page is copied: the snapshot can be restored.
        pub complete: bool,
        /// The server's committed requests at the snapshot point: the snapshot holds the effects
        /// of exactly these.
        pub commits_at_point: u64,
        /// Its committed requests when the copy completed (more than at the point when requests
        /// were served during the copy).
        pub commits_at_complete: u64,
        /// Pages the kernel copied because the server was about to write them.
        pub copied_before_write: u32,
        /// Counter ticks (instructions under `-icount`) the server was stopped by the last
        /// `begin` (only the snapshot point) or `take` (the whole copy).
        pub stop_ticks: u64,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum SnapshotError {
        /// No server of that name.
        NoSuchServer,
        /// The server has no snapshot storage (its image entry lacks `snapshot = true`).
        NoSnapshot,
        /// It has not served a request yet: there is no receive point to snapshot.
        NotReady,
        /// A snapshot is being copied: finish it with `step` first.
        Busy,
        /// No complete snapshot to restore.
        Incomplete,
        /// The kernel refused (logged by the supervisor).
        Failed,
    }

    impl core::fmt::Display for SnapshotError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                SnapshotError::NoSuchServer => "no such server",
                SnapshotError::NoSnapshot => "the server has no snapshot storage",
                SnapshotError::NotReady => "the server has not served a request yet",
                SnapshotError::Busy => "a snapshot is being copied",
                SnapshotError::Incomplete => "no complete snapshot",
                SnapshotError::Failed => "the kernel refused",
            })
        }
    }

    crate::interface! {
        interface snapshot = ids::SNAPSHOT, version 1;

        /// Fixes a new snapshot point of `server` (its last committed state); nothing is copied
        /// yet and the server keeps serving.
        0 => non_idempotent fn begin(server: Name) -> Result<SnapshotInfo, SnapshotError>;
        /// Copies up to `max_pages` more pages of the snapshot in progress.
        1 => idempotent fn step(server: Name, max_pages: u16) -> Result<SnapshotInfo, SnapshotError>;
        /// Stop-and-copy: a new snapshot point and the whole copy before the server runs again.
        2 => non_idempotent fn take(server: Name) -> Result<SnapshotInfo, SnapshotError>;
        /// The server's snapshot as it stands.
        3 => idempotent fn status(server: Name) -> Result<SnapshotInfo, SnapshotError>;
        /// Puts the last complete snapshot back: the server is at its snapshot point, waiting
        /// for its next request; a request it was handling is answered `Aborted`.
        4 => non_idempotent fn restore(server: Name) -> Result<SnapshotInfo, SnapshotError>;
    }
}
