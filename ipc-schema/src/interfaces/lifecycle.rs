//! `lifecycle`: the versions of a server during a live upgrade, and the upgrade itself.
//!
//! Two parties serve this one interface, each its own ops (the other party's ops are answered
//! [`LifecycleError::NotHere`]):
//!
//! - the **supervisor** (root task; its endpoint `supervisor`), to the image's upgrader alone
//!   (`upgrader = true`; anyone else gets `NotPermitted`): `prepare` .. `probation`, and
//!   `carry_caps`. They never block: the supervisor builds and frees versions, copies
//!   capabilities between them, and keeps its records of which version serves; it calls no
//!   server.
//! - the **upgrader** (`servers/upgrader`, its endpoint `upgrader`), to anyone who may call it
//!   (the shell, test programs): [`upgrade`](v1::Server::upgrade), which runs the whole K42
//!   mediator (negotiate, forward, block, transfer, complete, probation, commit or rollback) with
//!   the blocking `upgrade::v1` calls, and returns what happened.
//!
//! A server's versions live in two *slots* (0 and 1): the one serving and, during an upgrade, the
//! other (a new version being prepared, or the old one on probation). Each slot has its own
//! control endpoint (`ServerInfo::upgradables[..].controls[slot]` of the upgrader), fault badge
//! and memory (an Untyped of its own, freed whole by `commit` or `discard`).
//!
//! ```text
//! prepare -> carry_caps -> (transfer by upgrade::v1) -> switch -> probation* -> commit
//!    |                                                  |--> rollback: [carry_caps], revert, discard
//!    +--> discard                                       (refused, import failed)
//! ```
//!
//! (`[carry_caps]`: in a rollback, after the state is carried back, if it is.)

/// Version 1.
pub mod v1 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// A program name (a boot-archive entry: `kv2`).
    pub type Program = heapless::String<32>;

    /// A new version, built and started (waiting on its control endpoint for its state).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Prepared {
        /// The version number it will have once it serves.
        pub version: u32,
        /// Its slot: it receives on control endpoint `slot` of the server.
        pub slot: u8,
        /// The slot of the version serving now.
        pub serving_slot: u8,
        /// The version serving now.
        pub serving_version: u32,
    }

    /// The version serving since the last `switch`, as the supervisor saw it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Probation {
        pub version: u32,
        /// Faults it took since `switch` (each was handled by the recovery policy: its request
        /// aborted and re-delivered or answered `Aborted`).
        pub faults: u32,
        /// Faults of the other version (the old one, frozen) since `switch`.
        pub other_faults: u32,
    }

    /// How an upgrade ended.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Outcome {
        /// The new version serves; the old one is freed.
        Committed,
        /// No state format in common: nothing changed.
        Refused,
        /// The new version failed its import: the old one serves again with its own state.
        ImportFailed,
        /// The new version faulted during probation: the old one serves again, with the new
        /// version's state if it could import it (`carried_back`).
        FaultedInProbation { carried_back: bool },
        /// Something else failed (an IPC, a build): the old version serves.
        Cancelled,
    }

    /// What happened, with the mediator's timings (counter ticks: instructions under
    /// `-icount`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Report {
        pub outcome: Outcome,
        /// The version serving afterwards.
        pub version: u32,
        /// The agreed state format (none when refused).
        pub format: Option<u8>,
        /// Exported state length in bytes.
        pub state_bytes: u32,
        /// Forward, block, transfer and complete, in ticks (0: not reached).
        pub lengths: [u64; 4],
        /// Block to serving again: the longest a queued call could wait.
        pub blackout: u64,
        /// The counter when the blackout began (0: the old version never stopped).
        pub blocked_at: u64,
        /// Negotiate to the end.
        pub total: u64,
        /// Chunks moved (export + import calls).
        pub chunks: u32,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum LifecycleError {
        /// No server of that name.
        NoSuchServer,
        /// Only the image's upgrader may change versions.
        NotPermitted,
        /// The server has no `upgrades` in the image (no control endpoint).
        NotUpgradable,
        /// The program is not one the image lists in the server's `upgrades` (nor its own).
        NotAnUpgrade,
        /// The op does not fit where the upgrade is (a second `prepare`, a `switch` with nothing
        /// prepared, `commit` before `switch` ...).
        WrongStep,
        /// The new version could not be built (memory, program); nothing changed.
        BuildFailed,
        /// This party does not serve that op (the supervisor's ops go to the supervisor, the
        /// upgrade to the upgrader).
        NotHere,
        /// The upgrader could not talk to a version (`upgrade::v1` failed); see its log.
        UpgradeFailed,
    }

    impl core::fmt::Display for LifecycleError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                LifecycleError::NoSuchServer => "no such server",
                LifecycleError::NotPermitted => "only the upgrader may change versions",
                LifecycleError::NotUpgradable => "the server is not upgradable",
                LifecycleError::NotAnUpgrade => "not a program the image lists in its upgrades",
                LifecycleError::WrongStep => "not at this step of an upgrade",
                LifecycleError::BuildFailed => "the new version could not be built",
                LifecycleError::NotHere => "served by the other party",
                LifecycleError::UpgradeFailed => "the upgrade protocol failed",
            })
        }
    }

    crate::interface! {
        interface lifecycle = ids::LIFECYCLE, version 1;

        /// Supervisor: builds `program` as a new version of `server` in the free slot (a fresh
        /// Untyped, the same service endpoints, the slot's control endpoint,
        /// `ServerInfo::upgrade_import`) and starts it.
        0 => non_idempotent fn prepare(server: Name, program: Program) -> Result<Prepared, LifecycleError>;
        /// Supervisor: the prepared version is the one serving now (its records, `ps`, faults,
        /// injection); the old one is kept, frozen, for probation. Returns the new version.
        1 => non_idempotent fn switch(server: Name) -> Result<u32, LifecycleError>;
        /// Supervisor: after `switch`, the old version is the one serving again (a rollback).
        /// Returns its version.
        2 => non_idempotent fn revert(server: Name) -> Result<u32, LifecycleError>;
        /// Supervisor: after `switch`, frees the old version (its Untyped revoked).
        3 => non_idempotent fn commit(server: Name) -> Result<(), LifecycleError>;
        /// Supervisor: frees the version that is not serving (prepared, or reverted from).
        4 => non_idempotent fn discard(server: Name) -> Result<(), LifecycleError>;
        /// Supervisor: faults of the version serving since `switch`.
        5 => idempotent fn probation(server: Name) -> Result<Probation, LifecycleError>;
        /// Upgrader: upgrades `server` live to `program`; `fault_in_probation` arms a real fault
        /// in the new version's first request of probation (a drill of the automatic rollback).
        6 => non_idempotent fn upgrade(server: Name, program: Program, fault_in_probation: bool) -> Result<Report, LifecycleError>;
        /// Supervisor: gives the version that is not serving copies of the capabilities the
        /// serving version filled its own CNode with since it was built (its empty slots at
        /// boot, `ServerInfo::empty_slots`), at the same indices, after emptying those slots of
        /// its own. Run while both are frozen, before the state moves (forward, and when a
        /// rollback carries the state back), so that slot numbers in the state stay valid.
        /// Returns how many capabilities were copied (0 without `own_cnode`: such a server
        /// cannot fill a slot).
        7 => idempotent fn carry_caps(server: Name) -> Result<u32, LifecycleError>;
    }
}
