//! The server of the `untyped-exhaustion` scenario: granted an Untyped of 2^16 bytes and its own
//! CNode. It retypes frames one at a time until the kernel says `NotEnoughMemory`: exactly 16 fit,
//! at 16 distinct page-aligned physical addresses covering the Untyped. Then it revokes the
//! Untyped (CNode revoke on its slot): every frame capability is gone, and all 16 frames can be
//! retyped again, at the same addresses, in one call. Powers off with 0 if every check passed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, CapRights, Error, Frame, ObjectType, PAGE_SIZE, ServerInfo};
use test_support::Checks;

axolotl_rt::declare_server!(main);

const FRAMES: u64 = 16;
const PAGE: u64 = PAGE_SIZE as u64;

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("untyped-exhaustion");
    run(&mut checks, server);
    checks.finish(server);
}

/// The physical addresses of the frames in `first..first + FRAMES`, sorted.
fn addresses(first: u64) -> Result<[u64; FRAMES as usize], Error> {
    let mut a = [0; FRAMES as usize];
    for (i, p) in a.iter_mut().enumerate() {
        *p = Cap::<Frame>::from_cptr(first + i as u64).paddr()?;
    }
    a.sort_unstable();
    Ok(a)
}

fn run(checks: &mut Checks, server: &'static ServerInfo) {
    let (Some((untyped, bits)), Some(cnode)) = (server.untyped(), server.own_cnode()) else {
        checks.fail("the server's capabilities", "no Untyped or no CNode");
        return;
    };
    checks.check_eq("the server was granted an Untyped of 2^16 bytes", bits, 16);
    let mut free = server.empty_slots();
    let first = free.start;
    let (spare, second) = (first + FRAMES + 1, first + FRAMES + 2);
    if free.end < second + FRAMES {
        checks.fail("free slots", format_args!("only {free:?}"));
        return;
    }
    let root = Cap::invoker_root();

    // Frames, one at a time, until the memory runs out.
    let mut made = 0;
    let last = loop {
        let Some(slot) = free.next() else {
            break Ok(());
        };
        match untyped.retype(ObjectType::Frame, 0, root, slot, 1) {
            Ok(()) => made += 1,
            Err(e) => break Err(e),
        }
        if made > FRAMES {
            break Ok(());
        }
    };
    checks.check_eq("exactly 16 frames fit in 64 KiB", made, FRAMES);
    checks.check_eq(
        "the 17th retype fails with not enough memory",
        last,
        Err(Error::NotEnoughMemory),
    );
    let before = addresses(first);
    let covers = |a: &[u64; FRAMES as usize]| {
        a[0].is_multiple_of(1 << 16) && a.windows(2).all(|w| w[1] == w[0] + PAGE)
    };
    checks.check(
        before.as_ref().is_ok_and(covers),
        "the 16 frames are distinct pages that cover the Untyped",
        format_args!("{before:x?}"),
    );
    checks.check_eq(
        "a retype into an occupied slot fails with delete first",
        untyped.retype(ObjectType::Frame, 0, root, first, 1),
        Err(Error::DeleteFirst),
    );
    checks.check_eq(
        "an Untyped capability cannot be copied (its watermark would split)",
        cnode.copy(spare, root, untyped.cptr(), CapRights::ALL),
        Err(Error::IllegalOperation),
    );
    checks.check_eq(
        "an object larger than the Untyped fails with out of range",
        untyped.retype(ObjectType::Untyped, 17, root, spare, 1),
        Err(Error::RangeError),
    );

    // Revoke the Untyped: every frame goes.
    checks.check_eq(
        "revoking the Untyped succeeds",
        cnode.revoke(untyped.cptr()),
        Ok(()),
    );
    let left = (first..first + FRAMES)
        .find(|&s| Cap::<Frame>::from_cptr(s).paddr() != Err(Error::InvalidCapability));
    checks.check_eq(
        "after the revoke every frame slot is empty (invalid capability)",
        left,
        None,
    );
    checks.check_eq(
        "after the revoke all 16 frames can be retyped again in one call",
        untyped.retype(ObjectType::Frame, 0, root, second, FRAMES),
        Ok(()),
    );
    checks.check_eq(
        "the reclaimed memory is the same 16 pages",
        addresses(second),
        before,
    );
    checks.check_eq(
        "and then the Untyped is full again",
        untyped.retype(ObjectType::Frame, 0, root, spare, 1),
        Err(Error::NotEnoughMemory),
    );
    // Deleting every frame (no revoke) frees the memory too.
    let deleted = (second..second + FRAMES).try_for_each(|s| cnode.delete(s));
    checks.check_eq(
        "deleting the 16 frames one by one succeeds",
        deleted,
        Ok(()),
    );
    checks.check_eq(
        "with no object left, the Untyped is whole again: 16 frames fit",
        untyped.retype(ObjectType::Frame, 0, root, first, FRAMES),
        Ok(()),
    );
}
