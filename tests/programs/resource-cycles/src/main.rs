//! The server of the `resource-cycles` scenario: exhausts resources again and again and checks
//! that every exhaustion is a clean error and that nothing leaks from one round to the next.
//!
//! - Untyped memory: retype 4 KiB frames one at a time until `NotEnoughMemory`, revoke the
//!   Untyped; every round fits the same number (all of its 2^16 bytes), also after rounds that
//!   filled it with mixed objects (CNodes, endpoints, page tables, notifications).
//! - CNode slots: retype endpoints until the CNode is full (`RangeError` past its last slot, with
//!   memory to spare), then revoke: every round fills the same number of slots; and copy a
//!   capability into every free slot until `RangeError`, delete them all, the same count again.
//! - The kv store's capacity: put distinct keys until `Full`, delete them all; every round
//!   stores the same number and the store counts 0 after each.
//!
//! Finally the kernel checks its invariants. Powers off with 0 if every check passed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{CNode, Cap, CapRights, Error, ObjectType, ServerInfo, Untyped};
use core::fmt::Write;
use ipc_schema::kv;
use test_support::Checks;

axolotl_rt::declare_server!(main);

const ROUNDS: u32 = 40;

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("resource-cycles");
    let (Some((untyped, bits)), Some(cnode)) = (server.untyped(), server.own_cnode()) else {
        c.fail("setup", "needs untyped_bits and own_cnode");
        return c.finish(server);
    };
    let slots = server.empty_slots();

    // Untyped memory: frames until NotEnoughMemory, revoke, again; mixed rounds in between.
    let frames_per_round = |c: &mut Checks| -> (u64, Option<Error>) {
        let mut n = 0;
        let err = loop {
            match untyped.retype(ObjectType::Frame, 0, cnode, slots.start + n, 1) {
                Ok(()) => n += 1,
                Err(e) => break Some(e),
            }
            if slots.start + n >= slots.end {
                break None;
            }
        };
        if let Err(e) = cnode.revoke(untyped.cptr()) {
            c.fail("revoke the Untyped", e);
        }
        (n, err)
    };
    let (first, first_err) = frames_per_round(&mut c);
    c.check_eq(
        "an Untyped of 2^16 bytes holds 16 frames, then NotEnoughMemory",
        (first, first_err),
        (1 << (bits - 12), Some(Error::NotEnoughMemory)),
    );
    let mut same = 0;
    for round in 0..ROUNDS {
        mixed_round(untyped, cnode, slots.start, slots.end, round);
        if frames_per_round(&mut c) == (first, first_err) {
            same += 1;
        }
    }
    c.check_eq(
        "after 40 rounds of mixed retypes and revokes every byte is free again (16 frames fit)",
        same,
        ROUNDS,
    );

    // CNode slots, filled by retype: endpoints of 16 bytes, more than the free slots hold.
    let free_slots = slots.end - slots.start;
    let mut fills = [0u64; 2];
    let mut errors = [None; 2];
    let mut equal = 0;
    for round in 0..ROUNDS {
        let mut n = 0;
        let err = loop {
            match untyped.retype(ObjectType::Endpoint, 0, cnode, slots.start + n, 1) {
                Ok(()) => n += 1,
                Err(e) => break e,
            }
        };
        let _ = cnode.revoke(untyped.cptr());
        if round == 0 {
            (fills[0], errors[0]) = (n, Some(err));
        } else if (n, Some(err)) == (fills[0], errors[0]) {
            equal += 1;
        }
    }
    c.check_eq(
        "retyping endpoints fills every free CNode slot, then RangeError",
        (fills[0], errors[0]),
        (free_slots, Some(Error::RangeError)),
    );
    c.check_eq("every round fills the same slots", equal, ROUNDS - 1);

    // CNode slots, filled by copies of a capability, then deleted one by one.
    equal = 0;
    for round in 0..ROUNDS {
        let mut n = 0;
        let err = loop {
            match cnode.copy(
                slots.start + n,
                cnode,
                server.own_tcb().cptr(),
                CapRights::ALL,
            ) {
                Ok(()) => n += 1,
                Err(e) => break e,
            }
        };
        let mut deleted = 0;
        for i in 0..n {
            if cnode.delete(slots.start + i).is_ok() {
                deleted += 1;
            }
        }
        if round == 0 {
            (fills[1], errors[1]) = (n, Some(err));
        } else if (n, Some(err), deleted) == (fills[1], errors[1], n) {
            equal += 1;
        }
    }
    c.check_eq(
        "copies fill every free CNode slot, then RangeError; deleting frees them all",
        (fills[1], errors[1], equal),
        (free_slots, Some(Error::RangeError), ROUNDS - 1),
    );

    // The kv store's capacity.
    if let Some(ep) = server.client("kv") {
        let kv = kv::v2::Client::new(ep);
        let mut stored = [0u64; 8];
        let mut clean = 0;
        for (round, count) in stored.iter_mut().enumerate() {
            let key = |i: u64| {
                let mut k: heapless::String<16> = heapless::String::new();
                let _ = write!(k, "r{round}-{i}");
                kv::v2::Key::try_from(k.as_str()).unwrap_or_default()
            };
            let value = kv::v2::Value::from_slice(b"v").unwrap_or_default();
            let full = loop {
                match kv.put(key(*count), value.clone(), None) {
                    Ok(()) => *count += 1,
                    Err(e) => break Some(e),
                }
                if *count > 10_000 {
                    break None;
                }
            };
            if !matches!(full, Some(ipc_schema::CallError::Op(kv::v2::KvError::Full))) {
                c.fail("kv fills up with Full", format_args!("{full:?}"));
            }
            for i in 0..*count {
                let _ = kv.delete(key(i));
            }
            if kv.count() == Ok(0) {
                clean += 1;
            }
        }
        let mut line: heapless::String<64> = heapless::String::new();
        let _ = write!(line, "kv stores {} entries", stored[0]);
        axolotl_rt::debug_println!("resource-cycles: {line} until Full");
        c.check(
            stored[0] > 0 && stored.iter().all(|&n| n == stored[0]) && clean == stored.len(),
            "the kv store takes the same number of entries every round, and is empty after deletes",
            format_args!("{stored:?}, {clean} clean"),
        );
    }

    match server.sys_control().map(|s| s.check_invariants()) {
        Some(Ok(r)) => {
            c.check_eq("the kernel's invariants hold afterwards", r.violations, 0);
        }
        other => c.fail(
            "the kernel's invariants hold afterwards",
            format_args!("{other:?}"),
        ),
    }
    c.finish(server);
}

/// Fills the Untyped with a mix of objects (a different mix each round) until it is full, then
/// revokes it.
fn mixed_round(untyped: Cap<Untyped>, cnode: Cap<CNode>, start: u64, end: u64, round: u32) {
    let kinds = [
        (ObjectType::CNode, 2),
        (ObjectType::Endpoint, 0),
        (ObjectType::PageTable, 0),
        (ObjectType::Notification, 0),
        (ObjectType::Frame, 0),
    ];
    let mut slot = start;
    let mut k = round as usize;
    let mut failures = 0;
    while slot < end && failures < kinds.len() {
        let (ty, size) = kinds[k % kinds.len()];
        match untyped.retype(ty, size, cnode, slot, 1) {
            Ok(()) => {
                slot += 1;
                failures = 0;
            }
            Err(_) => failures += 1,
        }
        k += 1;
    }
    let _ = cnode.revoke(untyped.cptr());
}
