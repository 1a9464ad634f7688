//! The checker of the `memory-isolation` scenario: the victim's fault handler (endpoint
//! `checker`). For each access of `mem_protocol::ACCESSES` it checks the fault message exactly
//! (page fault, the victim's pc, the address, the write flag, whether the address was mapped, the
//! fault badge), asks the owner (another server) for its heap word, which must be unchanged, and
//! resumes the victim past the instruction. Then it checks the victim's report and powers off
//! with 0 if every check passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::abi::fault::{
    FAULT_FLAG_INSTRUCTION, FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE,
};
use axolotl_rt::server_info::call_badge;
use axolotl_rt::{
    Cap, Endpoint, FaultKind, MessageInfo, ServerInfo, Tcb, debug_println, fault, get_mr, reply,
};
use test_support::mem_protocol::{ACCESSES, Access, DONE, HELLO, OWNER_WORD, READ_HEAP};
use test_support::{Checks, msg};

axolotl_rt::declare_server!(main);

/// Image indexes: owner 0, victim 1, checker 2.
const VICTIM_INDEX: usize = 1;
const FAULT_BADGE: u64 = 0x1000 + VICTIM_INDEX as u64;

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("memory-isolation");
    let (Some(ep), Some(owner), Some(victim)) = (
        server.endpoint("checker"),
        server.client("owner"),
        server.control("victim"),
    ) else {
        checks.fail("the checker's capabilities", "missing");
        checks.finish(server);
        return;
    };
    run(&mut checks, ep, owner, victim);
    checks.finish(server);
}

/// Receives a call from the victim with `label` and `length` words and replies at once.
fn victim_call(
    checks: &mut Checks,
    ep: Cap<Endpoint>,
    label: u64,
    length: usize,
) -> Option<[u64; 3]> {
    let (info, badge) = match ep.recv() {
        Ok(m) => m,
        Err(e) => {
            checks.fail("receive", e);
            return None;
        }
    };
    let words = [get_mr(0), get_mr(1), get_mr(2)];
    let _ = reply(msg(0, 0));
    if badge != call_badge(VICTIM_INDEX) || info.label() != label || info.length() != length {
        checks.fail(
            format_args!("the victim's message {label}"),
            format_args!(
                "got label {} length {} badge {badge:#x} words {words:x?}",
                info.label(),
                info.length()
            ),
        );
        return None;
    }
    Some(words)
}

/// Asks the owner for its heap word.
fn owner_word(checks: &mut Checks, owner: Cap<Endpoint>, when: &str) {
    match owner.call(MessageInfo::new(READ_HEAP, 0, 0)) {
        Ok((info, _)) if info.label() == 0 && info.length() == 1 => checks.check_eq(
            format_args!("{when}: the owner still serves and its heap word is unchanged"),
            get_mr(0),
            OWNER_WORD,
        ),
        Ok((info, _)) => {
            checks.fail(
                format_args!("{when}: the owner answers"),
                format_args!("label {} length {}", info.label(), info.length()),
            );
            false
        }
        Err(e) => {
            checks.fail(format_args!("{when}: the owner answers"), e);
            false
        }
    };
}

fn check_fault(checks: &mut Checks, ep: Cap<Endpoint>, access: &Access, pc: u64) -> bool {
    let (info, badge) = match ep.recv() {
        Ok(m) => m,
        Err(e) => {
            checks.fail(access.what, format_args!("receive failed: {e}"));
            return false;
        }
    };
    let [got_pc, address, syndrome, flags] = [get_mr(0), get_mr(1), get_mr(2), get_mr(3)];
    let kind = FaultKind::from_u64(info.label());
    debug_println!(
        "checker: {}: {} at pc {got_pc:#x}, address {address:#x}, syndrome {syndrome:#x}, \
         flags {flags:#x}, badge {badge:#x}",
        access.what,
        kind.map_or("unknown kind", FaultKind::name),
    );
    let mut want_flags = 0;
    if access.write {
        want_flags |= FAULT_FLAG_WRITE;
    }
    if access.mapped {
        want_flags |= FAULT_FLAG_USER_MAPPING_PRESENT;
    }
    let all = FAULT_FLAG_WRITE | FAULT_FLAG_INSTRUCTION | FAULT_FLAG_USER_MAPPING_PRESENT;
    checks.check(
        kind == Some(FaultKind::PageFault)
            && badge == FAULT_BADGE
            && info.length() == 4
            && got_pc == pc
            && address == access.address
            && flags & all == want_flags,
        format_args!(
            "{}: page fault at the exact address, {} flag{}, the victim's pc and fault badge",
            access.what,
            if access.write { "write" } else { "no write" },
            if access.mapped {
                ", mapped"
            } else {
                ", not mapped"
            },
        ),
        format_args!(
            "got kind {} badge {badge:#x} pc {got_pc:#x} address {address:#x} flags {flags:#x}; \
             expected pc {pc:#x} address {:#x} flags {want_flags:#x}",
            info.label(),
            access.address
        ),
    )
}

fn run(checks: &mut Checks, ep: Cap<Endpoint>, owner: Cap<Endpoint>, victim: Cap<Tcb>) {
    let Some([write_pc, read_pc, _]) = victim_call(checks, ep, HELLO, 2) else {
        return;
    };
    owner_word(checks, owner, "before the faults");
    for access in &ACCESSES {
        let pc = if access.write { write_pc } else { read_pc };
        if !check_fault(checks, ep, access, pc) {
            return;
        }
        owner_word(checks, owner, access.what);
        // Resume the victim after the faulting instruction.
        let resumed = victim.read_registers().and_then(|regs| {
            victim.write_registers(false, pc + fault::ACCESS_INSTRUCTION_LEN, regs.sp, &[])
        });
        if let Err(e) = resumed {
            checks.fail(format_args!("{}: resume the victim", access.what), e);
            return;
        }
        let _ = reply(msg(0, 0));
    }
    let Some([intact, unread, info_intact]) = victim_call(checks, ep, DONE, 3) else {
        return;
    };
    checks.check_eq(
        "the victim continued after every fault with its registers intact",
        intact,
        1,
    );
    checks.check_eq("the victim's loads produced nothing", unread, 1);
    checks.check_eq(
        "the victim's read-only server-info page is unchanged",
        info_intact,
        1,
    );
    owner_word(checks, owner, "after the faults");
}
