//! The checker of the `confinement` scenario: the prisoner's fault handler (endpoint `verdict`),
//! with a capability to the counter. It runs after the prisoner (lower priority). It checks that
//! the prisoner's only message is its verdict fault (a page fault at `VERDICT_BASE + 8 *
//! failures` with the prisoner's fault badge), that the counter counted no request, and that the
//! counter does count one (its own), so the 0 means something. Powers off with 0 if every
//! check passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::server_info::call_badge;
use axolotl_rt::{Cap, Endpoint, FaultKind, MessageInfo, ServerInfo, get_mr};
use test_support::confine_protocol::{QUERY, VERDICT_BASE};
use test_support::{Checks, msg};

axolotl_rt::declare_server!(main);

/// Image indexes: counter 0, prisoner 1, checker 2.
const PRISONER_INDEX: usize = 1;
const CHECKER_INDEX: usize = 2;

/// The counter's (count, last badge).
fn query(counter: Cap<Endpoint>) -> Option<(u64, u64)> {
    match counter.call(msg(QUERY, 0)) {
        Ok((info, _)) if info.length() == 2 => Some((get_mr(0), get_mr(1))),
        _ => None,
    }
}

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("confinement");
    let (Some(ep), Some(counter), Some(prisoner)) = (
        server.endpoint("verdict"),
        server.client("counter"),
        server.control("prisoner"),
    ) else {
        checks.fail("the checker's capabilities", "missing");
        checks.finish(server);
        return;
    };
    match ep.recv() {
        Ok((info, badge)) => {
            let (pc, address) = (get_mr(0), get_mr(1));
            let kind = FaultKind::from_u64(info.label());
            let ok = badge == 0x1000 + PRISONER_INDEX as u64
                && kind == Some(FaultKind::PageFault)
                && address >= VERDICT_BASE
                && address - VERDICT_BASE < 0x1000;
            if checks.check(
                ok,
                "the prisoner's only message is its verdict fault",
                format_args!("kind {kind:?} badge {badge:#x} pc {pc:#x} address {address:#x}"),
            ) {
                checks.check_eq(
                    "the prisoner's checks all passed",
                    (address - VERDICT_BASE) / 8,
                    0,
                );
            }
        }
        Err(e) => checks.fail("the prisoner's verdict", e),
    }
    // The prisoner stays stopped; the checker does not answer its fault.
    let _ = prisoner.suspend();
    checks.check_eq(
        "the counter was never reached (0 requests)",
        query(counter),
        Some((0, 0)),
    );
    let _ = counter.call(MessageInfo::new(2, 0, 0));
    checks.check_eq(
        "the counter counts a request from a holder of its capability",
        query(counter),
        Some((1, call_badge(CHECKER_INDEX))),
    );
    checks.finish(server);
}
