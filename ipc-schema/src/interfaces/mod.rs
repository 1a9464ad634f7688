//! The system's interfaces, one module per interface, one submodule per version.
//!
//! | id | interface | versions | served by |
//! |---|---|---|---|
//! | 1 | [`name`] | v1, v2 | the name service (a v2 service serves v1 through an adapter) |
//! | 2 | [`console`] | v1 | the console server |
//! | 3 | [`timer`] | v1, v2 | the timer server (a v2 server serves v1 through an adapter) |
//! | 4 | [`kv`] | v1, v2 | the key-value store (a v2 server serves v1 through an adapter) |
//! | 5 | [`supervisor`] | v1 | the root task's supervisor |
//! | 6 | [`inject`] | v1 | the root task's supervisor (deliberate faults) |
//! | 7 | [`snapshot`] | v1 | the root task's supervisor: concurrent snapshots of transactional servers |
//! | 8 | [`upgrade`] | v1 | every server that can be upgraded live (to the supervisor only) |
//! | 9 | [`campaign`] | v1 | the root task's supervisor, in campaign images |
//! | 10 | [`net`] | v1 | the TCP/IP server: sockets to its front end, payloads in shared memory |
//! | 13 | [`patch`] | v1 | the root task's supervisor: wait-free code-only patches |
//!
//! The shell is a client only. Ids are assigned here, once, and never reused.

/// The multi-version `dispatch` of an interface with two versions whose v2 server serves v1
/// through the adapter `V1OnV2` (request up, reply down): v1 requests through the adapter,
/// everything else by `v2::dispatch` (which also answers other interfaces and versions with an
/// error). Expanded in the interface's module, next to its `v1`, `v2` and `V1OnV2`.
macro_rules! dispatch_v1_through_adapter {
    () => {
        /// Serves every version from one v2 server: v1 requests through [`V1OnV2`], everything
        /// else by [`v2::dispatch`].
        pub fn dispatch<S: v2::Server + ?Sized>(
            server: &mut S,
            caller: &mut crate::server::Caller,
            label: u64,
            request: &[u64],
            reply: &mut [u64; crate::wire::MSG_WORDS],
        ) -> (u64, usize) {
            match crate::wire::Label::from_u64(label) {
                Some(l) if l.interface == v1::INTERFACE && l.version == v1::VERSION => {
                    v1::dispatch(&mut V1OnV2(server), caller, label, request, reply)
                }
                _ => v2::dispatch(server, caller, label, request, reply),
            }
        }
    };
}

pub mod campaign;
pub mod common;
pub mod console;
pub mod inject;
pub mod kv;
pub mod lifecycle;
pub mod name;
pub mod net;
pub mod patch;
pub mod snapshot;
pub mod supervisor;
pub mod timer;
pub mod upgrade;

use crate::meta::{InterfaceInfo, OpInfo};

/// Interface ids. `0` is never assigned.
pub mod ids {
    pub const NAME: u16 = 1;
    pub const CONSOLE: u16 = 2;
    pub const TIMER: u16 = 3;
    pub const KV: u16 = 4;
    pub const SUPERVISOR: u16 = 5;
    pub const INJECT: u16 = 6;
    pub const SNAPSHOT: u16 = 7;
    pub const UPGRADE: u16 = 8;
    pub const CAMPAIGN: u16 = 9;
    pub const NET: u16 = 10;
    pub const LIFECYCLE: u16 = 12;
    pub const PATCH: u16 = 13;
}

/// Every interface version defined here.
pub const ALL: &[InterfaceInfo] = &[
    name::v1::INFO,
    name::v2::INFO,
    console::v1::INFO,
    timer::v1::INFO,
    timer::v2::INFO,
    kv::v1::INFO,
    kv::v2::INFO,
    supervisor::v1::INFO,
    inject::v1::INFO,
    snapshot::v1::INFO,
    upgrade::v1::INFO,
    campaign::v1::INFO,
    lifecycle::v1::INFO,
    patch::v1::INFO,
    net::v1::INFO,
];

/// The interface version and op a request label addresses (for the supervisor: is the request
/// it is about to re-deliver idempotent?).
pub fn find_op(label: u64) -> Option<(&'static InterfaceInfo, &'static OpInfo)> {
    crate::meta::find_op(ALL, label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label;

    #[test]
    fn ids_and_versions_are_unique_and_names_consistent() {
        for (i, a) in ALL.iter().enumerate() {
            assert_ne!(a.id, 0);
            assert_ne!(a.version, 0);
            for b in &ALL[i + 1..] {
                assert!(
                    (a.id, a.version) != (b.id, b.version),
                    "{} v{} defined twice",
                    a.name,
                    a.version
                );
                assert_eq!(a.id == b.id, a.name == b.name, "{} / {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn ops_are_found_by_label() {
        let (i, op) = find_op(label(ids::KV, 2, kv::v2::op::count)).unwrap();
        assert_eq!((i.name, i.version, op.name), ("kv", 2, "count"));
        assert!(op.idempotent);
        let (_, op) = find_op(label(ids::CONSOLE, 1, console::v1::op::write)).unwrap();
        assert!(!op.idempotent);
        assert!(find_op(label(ids::KV, 3, 0)).is_none());
        assert!(find_op(label(ids::KV, 1, 99)).is_none());
        assert!(find_op(label(77, 1, 0)).is_none());
    }

    /// A released version is frozen: its op table may not change. (A new op is a new version,
    /// or, before release, an appended op and an update of this table.)
    #[test]
    fn released_op_tables_are_frozen() {
        fn table(ops: &[OpInfo]) -> std::vec::Vec<(u16, &str, bool, bool, bool)> {
            ops.iter()
                .map(|o| (o.number, o.name, o.idempotent, o.sends_cap, o.returns_cap))
                .collect()
        }
        let (t, f) = (true, false);
        assert_eq!(
            table(name::v1::OPS),
            [
                (0, "register", t, t, f),
                (1, "lookup", t, f, t),
                (2, "list", t, f, f),
                (3, "unregister", t, f, f),
            ]
        );
        assert_eq!(
            table(console::v1::OPS),
            [
                (0, "write", f, f, f),
                (1, "read", f, f, f),
                (2, "set_log_level", t, f, f),
            ]
        );
        assert_eq!(
            table(timer::v1::OPS),
            [
                (0, "now", t, f, f),
                (1, "frequency", t, f, f),
                (2, "sleep", t, f, f),
                (3, "register", t, t, f),
                (4, "set_deadline", t, f, f),
            ]
        );
        assert_eq!(
            table(timer::v2::OPS),
            [
                (0, "now", t, f, f),
                (1, "frequency", t, f, f),
                (2, "sleep", t, f, f),
                (3, "register", t, t, f),
                (4, "set_deadline", t, f, f),
                (5, "pending", t, f, f),
            ]
        );
        assert_eq!(
            table(kv::v1::OPS),
            [
                (0, "get", t, f, f),
                (1, "put", t, f, f),
                (2, "delete", t, f, f),
                (3, "list", t, f, f),
            ]
        );
        assert_eq!(
            table(kv::v2::OPS),
            [
                (0, "get", t, f, f),
                (1, "put", t, f, f),
                (2, "delete", t, f, f),
                (3, "list", t, f, f),
                (4, "count", t, f, f),
            ]
        );
        assert_eq!(
            table(supervisor::v1::OPS),
            [
                (0, "list", t, f, f),
                (1, "status", t, f, f),
                (2, "set_log_level", t, f, f),
            ]
        );
        assert_eq!(
            table(snapshot::v1::OPS),
            [
                (0, "begin", f, f, f),
                (1, "step", t, f, f),
                (2, "take", f, f, f),
                (3, "status", t, f, f),
                (4, "restore", f, f, f),
            ]
        );
        assert_eq!(
            table(patch::v1::OPS),
            [
                (0, "begin", f, f, f),
                (1, "step", t, f, f),
                (2, "status", t, f, f)
            ]
        );
        assert_eq!(
            table(upgrade::v1::OPS),
            [
                (0, "formats", t, f, f),
                (1, "freeze", t, f, f),
                (2, "export", t, f, f),
                (3, "import", t, f, f),
                (4, "serve", t, f, f),
            ]
        );
    }
}
