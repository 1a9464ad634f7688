//! The revoker of the `revoke` scenario. It owns endpoint `rv` (unbadged, all rights) and its own
//! CNode. It hands a copy of `rv` to the partner (a capability transfer, so a copy of a copy in
//! another CNode), which then serves `rv`; then it mints badged copies and copies of copies into
//! free slots and checks, with calls through each (the partner replies with the badge it saw):
//! - each copy works and carries its badge (a copy keeps its parent's; re-badging is refused);
//! - deleting one copy leaves its parent and its own copy working;
//! - revoking a copy empties its copies only;
//! - revoking the original empties every derived slot, here and in the partner's CNode (invoking
//!   them gives invalid capability), while the original still works and can be minted again.
//!
//! Powers off with 0 if every check passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_buffer::set_cap;
use axolotl_rt::{CNode, CPtr, Cap, CapRights, Endpoint, Error, MessageInfo, ServerInfo, get_mr};
use test_support::Checks;
use test_support::revoke_protocol::{GIVE, PING};

axolotl_rt::declare_server!(main);

/// Pings the partner through the capability in `slot`: (badge it saw, its copy still valid).
fn ping(slot: CPtr) -> Result<(u64, bool), Error> {
    let (info, _) = Cap::<Endpoint>::from_cptr(slot).call(MessageInfo::new(PING, 0, 0))?;
    Ok((info.label(), get_mr(0) == 1))
}

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("revoke");
    run(&mut checks, server);
    checks.finish(server);
}

fn run(checks: &mut Checks, server: &'static ServerInfo) {
    let (Some(rv), Some(partner), Some(cnode)) = (
        server.endpoint("rv"),
        server.client("partner"),
        server.own_cnode(),
    ) else {
        checks.fail("the revoker's capabilities", "missing");
        return;
    };
    let rv = rv.cptr();
    let mut free = server.empty_slots();
    let mut slot = || free.next().unwrap_or(0);
    let (given, m1, c1, c2, m2, m3, c3, m4, spare) = (
        slot(),
        slot(),
        slot(),
        slot(),
        slot(),
        slot(),
        slot(),
        slot(),
        slot(),
    );
    if spare == 0 {
        checks.fail("free slots", "too few");
        return;
    }
    let root = Cap::<CNode>::invoker_root();
    let all = CapRights::ALL;

    // A copy for the partner, which receives it (a child of that copy) and serves rv from then on.
    let handed = cnode
        .copy(given, root, rv, CapRights::READ_WRITE)
        .and_then(|()| {
            set_cap(0, given);
            partner.call(MessageInfo::new(GIVE, 1, 0))
        });
    checks.check(
        matches!(handed, Ok((info, _)) if info.label() == 0),
        "the partner received a copy of rv",
        format_args!("{handed:?}"),
    );

    // Derived capabilities.
    let derived = [
        cnode.mint(m1, root, rv, all, 0x11),
        cnode.copy(c1, root, m1, all),
        cnode.copy(c2, root, c1, all),
        cnode.mint(m2, root, rv, CapRights::WRITE, 0x22),
        cnode.mint(m3, root, rv, all, 0x33),
        cnode.copy(c3, root, m3, all),
    ];
    checks.check_eq(
        "badged mints, copies and copies of copies of rv are made",
        derived,
        [Ok(()); 6],
    );
    checks.check_eq(
        "each carries its badge to the partner (copies keep their parent's)",
        [rv, m1, c1, c2, m2, m3, c3].map(ping),
        [
            Ok((0, true)),
            Ok((0x11, true)),
            Ok((0x11, true)),
            Ok((0x11, true)),
            Ok((0x22, true)),
            Ok((0x33, true)),
            Ok((0x33, true)),
        ],
    );
    checks.check_eq(
        "a badged capability cannot be minted with another badge",
        cnode.mint(spare, root, m1, all, 0x44),
        Err(Error::IllegalOperation),
    );

    // Delete one copy: the others stay.
    checks.check_eq("deleting one copy succeeds", cnode.delete(c1), Ok(()));
    checks.check_eq(
        "the deleted copy's slot is empty, its parent and its own copy still work",
        [c1, m1, c2].map(ping),
        [
            Err(Error::InvalidCapability),
            Ok((0x11, true)),
            Ok((0x11, true)),
        ],
    );

    // Revoke one copy: only its copies go.
    checks.check_eq("revoking a copy succeeds", cnode.revoke(m3), Ok(()));
    checks.check_eq(
        "revoking a copy empties its copies only",
        [c3, m3, m2].map(ping),
        [
            Err(Error::InvalidCapability),
            Ok((0x33, true)),
            Ok((0x22, true)),
        ],
    );

    // Revoke the original.
    checks.check_eq("revoking the original succeeds", cnode.revoke(rv), Ok(()));
    let slots = [given, m1, c1, c2, m2, m3, c3];
    checks.check_eq(
        "after the revoke every derived slot is empty (invalid capability)",
        slots.map(ping),
        [Err(Error::InvalidCapability); 7],
    );
    checks.check_eq(
        "the original still works, and the partner's transferred copy was revoked too",
        ping(rv),
        Ok((0, false)),
    );
    // The partner has stopped (its receive failed), so nobody receives on rv any more: a
    // non-blocking send through a valid capability is dropped, through an empty slot refused.
    checks.check_eq(
        "the original can be minted again after the revoke",
        cnode
            .mint(m4, root, rv, all, 0x55)
            .and_then(|()| Cap::<Endpoint>::from_cptr(m4).nb_send(MessageInfo::new(PING, 0, 0))),
        Ok(()),
    );
}
