//! `snapshot::v1`, served by the supervisor: concurrent snapshots of transactional servers.
//!
//! The mechanism is the kernel's (`TxRegionSnapshotBegin`/`Step`/`Restore` on a server's region,
//! into the Snapshot object the root task made for it when the image says `snapshot = true`);
//! the policy is here. `begin` only fixes the snapshot point: the server is stopped for that
//! invocation alone and keeps serving while the caller has the supervisor `step` the copy a few
//! pages at a time (the caller's priority paces it; the root task runs above every server, so
//! the pacing cannot be the supervisor's). `take` is stop-and-copy: the point and the whole copy
//! before any server runs again. Both report how long the server was stopped, in counter ticks.
//!
//! A snapshot belongs to the region it was taken of: after a restart from the image (a new
//! region) the server needs a new snapshot before one can be restored.

use crate::supervisor::Supervised;
use axolotl_rt::{Cap, Error, Snapshot, SnapshotState, TxRegion, time};
use ipc_schema::snapshot::v1::{self, SnapshotError, SnapshotInfo};
use ipc_schema::{Caller, IpcError};
use log::{error, info};

/// `snapshot::v1` over the supervised servers.
pub struct Snapshots<'a> {
    pub servers: &'a mut [Supervised],
}

/// What `server`'s snapshot object says, with the supervisor's last stop time.
fn info(server: &Supervised, snapshot: Cap<Snapshot>) -> Result<SnapshotInfo, SnapshotError> {
    let status = snapshot
        .status()
        .map_err(|e| failed(server, "read the status", e))?;
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(SnapshotInfo {
        pages: count(status.pages),
        remaining: count(status.remaining),
        complete: status.state == SnapshotState::Complete,
        commits_at_point: status.commits_at_point,
        commits_at_complete: status.commits_at_complete,
        copied_before_write: count(status.copied_before_write),
        stop_ticks: server.snapshot_stop_ticks,
    })
}

fn failed(server: &Supervised, what: &str, e: Error) -> SnapshotError {
    error!("snapshot of '{}': cannot {what}: {e}", server.name);
    SnapshotError::Failed
}

/// Whether `server` has a complete snapshot of its current region.
pub fn restorable(server: &Supervised) -> bool {
    match (server.tx, server.snapshot) {
        (Some(tx), Some(snapshot)) => {
            server.snapshot_region == Some(tx)
                && snapshot
                    .status()
                    .is_ok_and(|s| s.state == SnapshotState::Complete)
        }
        _ => false,
    }
}

/// Puts the last complete snapshot of `server` back. Returns (pages restored, commits at the
/// snapshot point).
pub fn restore(server: &Supervised) -> Result<(u64, u64), SnapshotError> {
    let (Some(tx), Some(snapshot)) = (server.tx, server.snapshot) else {
        return Err(SnapshotError::NoSnapshot);
    };
    if !restorable(server) {
        return Err(SnapshotError::Incomplete);
    }
    let pages = tx
        .snapshot_restore(snapshot, IpcError::Aborted.code())
        .map_err(|e| failed(server, "restore", e))?;
    let point = snapshot.status().map_or(0, |s| s.commits_at_point);
    Ok((pages, point))
}

impl Snapshots<'_> {
    fn find(
        &mut self,
        name: &str,
    ) -> Result<(&mut Supervised, Cap<TxRegion>, Cap<Snapshot>), SnapshotError> {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or(SnapshotError::NoSuchServer)?;
        match (server.tx, server.snapshot) {
            (Some(tx), Some(snapshot)) => Ok((server, tx, snapshot)),
            _ => Err(SnapshotError::NoSnapshot),
        }
    }
}

/// A refused `TxRegionSnapshotBegin`: a copy in progress, or no receive point yet.
fn begin_error(server: &Supervised, snapshot: Cap<Snapshot>, e: Error) -> SnapshotError {
    match e {
        Error::IllegalOperation
            if snapshot
                .status()
                .is_ok_and(|s| s.state == SnapshotState::InProgress) =>
        {
            SnapshotError::Busy
        }
        Error::IllegalOperation => SnapshotError::NotReady,
        e => failed(server, "begin", e),
    }
}

impl v1::Server for Snapshots<'_> {
    fn begin(
        &mut self,
        _: &mut Caller,
        name: ipc_schema::interfaces::common::Name,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let (server, tx, snapshot) = self.find(&name)?;
        let start = time::counter();
        let begun = tx.snapshot_begin(snapshot);
        let stop = time::counter() - start;
        begun.map_err(|e| begin_error(server, snapshot, e))?;
        server.snapshot_region = Some(tx);
        server.snapshot_stop_ticks = stop;
        info(server, snapshot)
    }

    fn step(
        &mut self,
        _: &mut Caller,
        name: ipc_schema::interfaces::common::Name,
        max_pages: u16,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let (server, tx, snapshot) = self.find(&name)?;
        tx.snapshot_step(max_pages.into())
            .map_err(|e| failed(server, "copy", e))?;
        info(server, snapshot)
    }

    fn take(
        &mut self,
        _: &mut Caller,
        name: ipc_schema::interfaces::common::Name,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let (server, tx, snapshot) = self.find(&name)?;
        // Nothing runs between these invocations: the root task is above every server.
        let start = time::counter();
        let begun = tx.snapshot_begin(snapshot);
        let mut copied = begun.map(drop);
        if copied.is_ok() {
            copied = tx.snapshot_step(u64::MAX).map(drop);
        }
        let stop = time::counter() - start;
        if let Err(e) = begun {
            return Err(begin_error(server, snapshot, e));
        }
        copied.map_err(|e| failed(server, "copy", e))?;
        server.snapshot_region = Some(tx);
        server.snapshot_stop_ticks = stop;
        info(server, snapshot)
    }

    fn status(
        &mut self,
        _: &mut Caller,
        name: ipc_schema::interfaces::common::Name,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let (server, _, snapshot) = self.find(&name)?;
        info(server, snapshot)
    }

    fn restore(
        &mut self,
        _: &mut Caller,
        name: ipc_schema::interfaces::common::Name,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let (server, _, snapshot) = self.find(&name)?;
        let (pages, point) = restore(server)?;
        info!(
            "'{}' restored from its snapshot: {pages} pages, the state after {point} requests",
            server.name
        );
        info(server, snapshot)
    }
}
