//! `supervisor`: the root task's supervisor, as the shell sees it (`ps`, log levels).

/// Version 1.
pub mod v1 {
    use super::super::common::{LogLevel, Name};
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// The most servers one [`list`](Server::list) reply carries.
    pub const LIST_PAGE: usize = 16;

    /// Where a server is in its life.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum ServerState {
        /// Built, not yet waiting for requests.
        Starting,
        /// Serving.
        Running,
        /// A request faulted; its transaction is being rolled back.
        Recovering,
        /// Being restarted from its image or a snapshot.
        Restarting,
        /// Being replaced by a new version.
        Upgrading,
        /// Suspended by the supervisor (e.g. an old version on probation after an upgrade).
        Suspended,
        /// Gave up on: too many faults in a row, or stopped on purpose.
        Stopped,
    }

    /// One server, as `ps` shows it.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ServerStatus {
        pub name: Name,
        /// The version of the server's program (bumped by each upgrade).
        pub version: u32,
        pub state: ServerState,
        /// Faults taken, all causes.
        pub faults: u32,
        /// Requests rolled back (transactions aborted).
        pub aborts: u32,
        /// Restarts from image or snapshot.
        pub restarts: u32,
        /// Bumped by each restart; carried in the badges of its clients' capabilities.
        pub generation: u32,
    }

    /// One page of servers.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ServerPage {
        pub servers: heapless::Vec<ServerStatus, LIST_PAGE>,
        /// The cursor for the next page, `None` after the last page.
        pub next: Option<u16>,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum SupervisorError {
        /// No server of that name.
        NoSuchServer,
        /// The caller may not do this.
        NotPermitted,
    }

    impl core::fmt::Display for SupervisorError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                SupervisorError::NoSuchServer => "no such server",
                SupervisorError::NotPermitted => "not permitted",
            })
        }
    }

    crate::interface! {
        interface supervisor = ids::SUPERVISOR, version 1;

        /// Servers from index `cursor` on (start with 0), in image order.
        0 => idempotent fn list(cursor: u16) -> Result<ServerPage, SupervisorError>;
        /// The server named `name`.
        1 => idempotent fn status(name: Name) -> Result<ServerStatus, SupervisorError>;
        /// Sets the level below which server `server` drops its log lines.
        2 => idempotent fn set_log_level(server: Name, level: LogLevel) -> Result<(), SupervisorError>;
    }
}
