//! The client of the `cap-transfer` scenario. It has a capability to call the broker and none
//! to the oracle. It asks the broker for the oracle capability:
//! 1. with a receive slot (its first free slot): the reply carries one capability, which lands in
//!    that slot and calls the oracle (right answer, the broker's badge), keeps the rights it had
//!    (no receive), while the slot next to it stays empty;
//! 2. without a receive slot: the reply carries no capability and nothing lands anywhere;
//! 3. with the receive slot already full: no capability, the slot keeps what it had.
//!
//! Then it powers off with 0 if every check passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_buffer::set_receive_slot;
use axolotl_rt::server_info::call_badge;
use axolotl_rt::{Cap, Endpoint, Error, MessageInfo, ServerInfo, get_mr, set_mr};
use test_support::cap_protocol::{ASK, BROKER_WORD, GET_ORACLE, answer};
use test_support::{Checks, msg};

axolotl_rt::declare_server!(main);

/// Image indexes: oracle 0, broker 1, client 2.
const BROKER_INDEX: usize = 1;

/// Asks the broker; returns the reply's info.
fn get_oracle(checks: &mut Checks, broker: Cap<Endpoint>, what: &str) -> Option<MessageInfo> {
    match broker.call(msg(GET_ORACLE, 0)) {
        Ok((info, _)) if info.label() == 0 && info.length() == 1 && get_mr(0) == BROKER_WORD => {
            Some(info)
        }
        Ok((info, _)) => {
            checks.fail(
                what,
                format_args!("broker replied {info:?}, word {:#x}", get_mr(0)),
            );
            None
        }
        Err(e) => {
            checks.fail(what, e);
            None
        }
    }
}

/// Calls `cap` with `ASK [x]`; returns (label, answer).
fn ask(cap: Cap<Endpoint>, x: u64) -> Result<(u64, u64), Error> {
    set_mr(0, x);
    let (info, _) = cap.call(MessageInfo::new(ASK, 0, 1))?;
    Ok((info.label(), get_mr(0)))
}

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("cap-transfer");
    run(&mut checks, server);
    checks.finish(server);
}

fn run(checks: &mut Checks, server: &'static ServerInfo) {
    let Some(broker) = server.client("broker") else {
        checks.fail("the client's capabilities", "no broker");
        return;
    };
    checks.check(
        server.client("oracle").is_none() && server.calls().len() == 1,
        "the client starts with no capability to the oracle",
        "it has one",
    );
    let mut free = server.empty_slots();
    let (Some(slot), Some(next)) = (free.next(), free.next()) else {
        checks.fail("free slots", "none");
        return;
    };
    let received = Cap::<Endpoint>::from_cptr(slot);
    checks.check_eq(
        "the receive slot is empty before the transfer",
        ask(received, 1),
        Err(Error::InvalidCapability),
    );

    // 1. With a receive slot.
    set_receive_slot(0, slot);
    let Some(info) = get_oracle(checks, broker, "transfer with a receive slot") else {
        return;
    };
    checks.check_eq(
        "with a receive slot, the reply carries one capability",
        info.extra_caps(),
        1,
    );
    checks.check_eq(
        "the received capability calls the oracle, which sees the broker's badge",
        ask(received, 7),
        Ok((call_badge(BROKER_INDEX), answer(7))),
    );
    checks.check_eq(
        "the received capability keeps the broker's rights (it cannot receive)",
        received.nb_recv().map(drop),
        Err(Error::InvalidCapability),
    );
    checks.check_eq(
        "nothing landed in the next slot",
        ask(Cap::from_cptr(next), 7),
        Err(Error::InvalidCapability),
    );

    // 2. Without a receive slot.
    set_receive_slot(0, 0);
    if let Some(info) = get_oracle(checks, broker, "transfer without a receive slot") {
        checks.check_eq(
            "without a receive slot, the reply carries no capability (extra_caps 0)",
            info.extra_caps(),
            0,
        );
    }
    let landed = server
        .empty_slots()
        .filter(|&s| s != slot)
        .find(|&s| ask(Cap::from_cptr(s), 1) != Err(Error::InvalidCapability));
    checks.check_eq(
        "without a receive slot, no free slot received anything",
        landed,
        None,
    );

    // 3. Into a full receive slot.
    set_receive_slot(0, slot);
    if let Some(info) = get_oracle(checks, broker, "transfer into a full slot") {
        checks.check_eq(
            "into a full receive slot, the reply carries no capability",
            info.extra_caps(),
            0,
        );
    }
    checks.check_eq(
        "the full slot still holds the first capability",
        ask(received, 9),
        Ok((call_badge(BROKER_INDEX), answer(9))),
    );
}
