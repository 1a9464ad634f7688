//! The supervisor: the root task's loop after start-up. It receives on the supervisor endpoint,
//! the fault endpoint of every server whose image entry says `fault_handler = "supervisor"`.
//!
//! A fault message (badge [`FAULT_BADGE_BASE`] + server index; label a [`FaultKind`]; MR0..3 pc,
//! address, syndrome, flags) is logged. A transactional server faulting inside a request has that
//! transaction aborted: its memory and registers go back to their state before the request and it
//! waits for the next one; the caller is answered with [`ABORTED_LABEL`]. Any other faulting
//! thread is left suspended. Any other message is answered with an error.

use crate::system::FAULT_BADGE_BASE;
use axolotl_abi::fault::{
    FAULT_FLAG_INSTRUCTION, FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE,
};
use axolotl_abi::{Error, FaultKind, MessageInfo};
use axolotl_image::Name;
use axolotl_rt::{Cap, Endpoint, Tcb, TxRegion, get_mr, reply};
use log::{error, warn};

/// The reply label a caller gets when its request was aborted.
pub const ABORTED_LABEL: u64 = 0xab0;

/// What the supervisor knows of a server.
pub struct Supervised {
    pub name: Name,
    /// `None` if it was not built.
    pub tcb: Option<Cap<Tcb>>,
    /// Its transactional region, if it is transactional.
    pub tx: Option<Cap<TxRegion>>,
    /// Restart policy: consecutive aborts tolerated.
    pub restart_after: u8,
    /// Aborts since the server last committed a request.
    pub consecutive_aborts: u32,
    /// Commits counted when it last aborted.
    pub commits_seen: u64,
    pub aborts: u64,
}

pub fn run(endpoint: Cap<Endpoint>, servers: &mut [Supervised]) -> ! {
    loop {
        let (message, badge) = match endpoint.recv() {
            Ok(received) => received,
            Err(e) => crate::stop(format_args!("supervisor: receive failed: {e}")),
        };
        let server = badge
            .checked_sub(FAULT_BADGE_BASE)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| servers.get_mut(i));
        match server {
            Some(server) => handle_fault(server, message),
            None => {
                warn!(
                    "supervisor: unexpected message with label {} and badge {badge:#x}; \
                     answering with an error",
                    message.label()
                );
                let _ = reply(MessageInfo::new(Error::IllegalOperation as u64, 0, 0));
            }
        }
    }
}

fn handle_fault(server: &mut Supervised, message: MessageInfo) {
    let (pc, address, syndrome, flags) = (get_mr(0), get_mr(1), get_mr(2), get_mr(3));
    let name = server.name.as_str();
    let kind = FaultKind::from_u64(message.label());
    let what = kind.map_or("unknown fault kind", FaultKind::name);
    if let Some(tx) = server.tx
        && let Ok(status) = tx.status()
        && status.in_transaction
    {
        if status.commits > server.commits_seen {
            server.consecutive_aborts = 0;
        }
        match tx.abort(false, ABORTED_LABEL) {
            Ok(pages) => {
                server.consecutive_aborts += 1;
                server.aborts += 1;
                server.commits_seen = status.commits;
                let place = if kind == Some(FaultKind::Timeout) {
                    "after"
                } else {
                    "at"
                };
                warn!(
                    "fault in '{name}': {what} {place} {address:#x} pc {pc:#x}; request (label \
                     {:#x}) aborted and rolled back ({pages} pages restored, {} aborts in a row)",
                    status.request_label, server.consecutive_aborts
                );
                if server.consecutive_aborts >= u32::from(server.restart_after) {
                    warn!(
                        "'{name}' aborted {} requests in a row (restart_after = {})",
                        server.consecutive_aborts, server.restart_after
                    );
                }
                return;
            }
            Err(e) => error!("supervisor: cannot abort the transaction of '{name}': {e}"),
        }
    }
    let access = if flags & FAULT_FLAG_INSTRUCTION != 0 {
        "instruction fetch"
    } else if flags & FAULT_FLAG_WRITE != 0 {
        "write"
    } else {
        "read"
    };
    let mapped = if flags & FAULT_FLAG_USER_MAPPING_PRESENT != 0 {
        ", mapped"
    } else {
        ""
    };
    match kind {
        Some(FaultKind::PageFault | FaultKind::InstructionFault | FaultKind::Alignment) => warn!(
            "fault in '{name}': {what} at {address:#x} pc {pc:#x} ({access}{mapped}, \
             syndrome {syndrome:#x}); thread suspended"
        ),
        Some(_) => {
            warn!("fault in '{name}': {what} pc {pc:#x} (syndrome {syndrome:#x}); thread suspended")
        }
        None => warn!(
            "fault in '{name}': {what} {} pc {pc:#x} (syndrome {syndrome:#x}); thread suspended",
            message.label()
        ),
    }
    // Not replying leaves the thread blocked; suspending it makes that explicit and lets a later
    // recovery policy restart it. The pending reply right is dropped by the next receive.
    match server.tcb {
        Some(tcb) => {
            if let Err(e) = tcb.suspend() {
                error!("supervisor: cannot suspend '{name}': {e}");
            }
        }
        None => error!("supervisor: fault from '{name}', which was never built"),
    }
}
