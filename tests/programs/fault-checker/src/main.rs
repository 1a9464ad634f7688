//! The fault handler of the `fault-undefined` and `fault-null` scenarios: it receives on endpoint
//! `faults`, the victim's fault endpoint, and controls the victim (its TCB capability). It runs at
//! a higher priority than the victim, so it sees the victim's registers before its first
//! instruction: those are the entry a restart goes back to.
//!
//! It checks every message (badges: 2 for the victim's calls, 0x1001 for its faults; kinds, pcs,
//! addresses and flags exactly) and demonstrates the three ways to handle a fault:
//! 1. resume: `TcbWriteRegisters` with the pc past the faulting instruction, then reply; the
//!    victim continues with its registers intact;
//! 2. restart: suspend, then `TcbWriteRegisters` to the entry registers with resume; the victim's
//!    `main` runs again (run 2);
//! 3. suspend: the victim never runs again, even with the checker at a lower priority.
//!
//! Then it powers off with 0 if every check passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::abi::fault::{
    FAULT_FLAG_INSTRUCTION, FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE,
};
use axolotl_rt::server_info::{
    SERVER_INFO_VADDR, SERVER_PROGRAM_END, SERVER_STACK_TOP, call_badge,
};
use axolotl_rt::{
    Cap, Endpoint, Error, FaultKind, MessageInfo, PAGE_SIZE, ServerInfo, Tcb, ThreadRegisters,
    debug_println, get_mr, reply,
};
use test_support::fault_protocol::{CONTINUED, HELLO, Mode};
use test_support::{Checks, msg};

axolotl_rt::declare_server!(main);

/// The image index of the victim (the checker is 0).
const VICTIM_INDEX: usize = 1;
/// The badge of the victim's fault messages (`root-task`: 0x1000 + its index).
const FAULT_BADGE: u64 = 0x1000 + VICTIM_INDEX as u64;

/// A received message.
struct Received {
    info: MessageInfo,
    badge: u64,
    words: [u64; 4],
}

fn receive(ep: Cap<Endpoint>) -> Result<Received, Error> {
    let (info, badge) = ep.recv()?;
    Ok(Received {
        info,
        badge,
        words: [get_mr(0), get_mr(1), get_mr(2), get_mr(3)],
    })
}

struct Checker {
    checks: Checks,
    mode: Mode,
    ep: Cap<Endpoint>,
    victim: Cap<Tcb>,
    own_tcb: Cap<Tcb>,
}

impl Checker {
    /// Receives the victim's call with `label` and `length` words; replies to it at once.
    fn expect_call(&mut self, what: &str, label: u64, length: usize) -> Option<[u64; 4]> {
        let m = match receive(self.ep) {
            Ok(m) => m,
            Err(e) => {
                self.checks.fail(what, format_args!("receive failed: {e}"));
                return None;
            }
        };
        let ok = m.badge == call_badge(VICTIM_INDEX)
            && m.info.label() == label
            && m.info.length() == length;
        let _ = reply(msg(0, 0));
        if !ok {
            self.checks.fail(
                what,
                format_args!(
                    "got label {} length {} badge {:#x} words {:x?}, expected label {label} \
                     length {length} badge {:#x}",
                    m.info.label(),
                    m.info.length(),
                    m.badge,
                    m.words,
                    call_badge(VICTIM_INDEX)
                ),
            );
            return None;
        }
        Some(m.words)
    }

    /// Receives the victim's `n`th fault and checks it was raised at `pc`. Leaves it unanswered.
    fn expect_fault(&mut self, n: u32, pc: u64) -> bool {
        let m = match receive(self.ep) {
            Ok(m) => m,
            Err(e) => {
                self.checks.fail(
                    format_args!("fault {n}"),
                    format_args!("receive failed: {e}"),
                );
                return false;
            }
        };
        let [got_pc, address, syndrome, flags] = m.words;
        let kind = FaultKind::from_u64(m.info.label());
        let want_address = self.mode.address(pc);
        debug_println!(
            "checker: fault {n}: {} at pc {got_pc:#x}, address {address:#x}, syndrome \
             {syndrome:#x}, flags {flags:#x}, badge {:#x}",
            kind.map_or("unknown kind", FaultKind::name),
            m.badge
        );
        // A read (or no access at all) of an unmapped address, not an instruction fetch.
        let unwanted = FAULT_FLAG_WRITE | FAULT_FLAG_INSTRUCTION | FAULT_FLAG_USER_MAPPING_PRESENT;
        let ok = m.badge == FAULT_BADGE
            && kind == Some(self.mode.kind())
            && m.info.length() == 4
            && got_pc == pc
            && address == want_address
            && flags & unwanted == 0;
        self.checks.check(
            ok,
            format_args!(
                "fault {n} is delivered: {}, the victim's pc, address {}, fault badge",
                self.mode.kind().name(),
                if self.mode == Mode::Null { "0" } else { "= pc" },
            ),
            format_args!(
                "got kind {} length {} badge {:#x} pc {got_pc:#x} address {address:#x} flags \
                 {flags:#x}; expected pc {pc:#x} address {want_address:#x} flags 0 badge \
                 {FAULT_BADGE:#x}",
                m.info.label(),
                m.info.length(),
                m.badge
            ),
        )
    }

    fn registers(&mut self, what: &str) -> Option<ThreadRegisters> {
        match self.victim.read_registers() {
            Ok(r) => Some(r),
            Err(e) => {
                self.checks
                    .fail(what, format_args!("TcbReadRegisters failed: {e}"));
                None
            }
        }
    }
}

fn main(server: &'static ServerInfo) {
    let (victim_name, victim) = match server.controls().first() {
        Some(c) => (c.name(), Cap::<Tcb>::from_cptr(c.cptr)),
        None => {
            debug_println!("FAIL fault-checker: no victim to control");
            return;
        }
    };
    let Some(mode) = Mode::of_victim(victim_name) else {
        debug_println!("FAIL fault-checker: unknown victim '{victim_name}'");
        return;
    };
    let Some(ep) = server.endpoint("faults") else {
        debug_println!("FAIL {}: no endpoint 'faults'", mode.scenario());
        return;
    };
    let mut c = Checker {
        checks: Checks::new(mode.scenario()),
        mode,
        ep,
        victim,
        own_tcb: server.own_tcb(),
    };
    run(&mut c);
    c.checks.finish(server);
}

fn run(c: &mut Checker) {
    // The victim has not run yet: its registers are its entry.
    let Some(entry) = c.registers("the victim's entry registers") else {
        return;
    };
    c.checks.check(
        (PAGE_SIZE as u64..SERVER_PROGRAM_END).contains(&entry.pc)
            && entry.sp == SERVER_STACK_TOP
            && entry.args[0] == SERVER_INFO_VADDR,
        "before it runs, the victim's pc is in its program, sp the stack top, arg0 its server info",
        format_args!("{entry:x?}"),
    );

    // Run 1.
    let Some([run, pc, ..]) = c.expect_call("the victim says hello (run 1)", HELLO, 2) else {
        return;
    };
    c.checks.check(
        run == 1 && (entry.pc..SERVER_PROGRAM_END).contains(&pc),
        "the victim's first run announces a faulting pc in its text",
        format_args!("run {run}, pc {pc:#x}"),
    );

    // Fault 1: resume after the faulting instruction.
    if !c.expect_fault(1, pc) {
        return;
    }
    let Some(regs) = c.registers("fault 1: registers") else {
        return;
    };
    c.checks.check_eq(
        "fault 1: TcbReadRegisters shows the faulting pc",
        regs.pc,
        pc,
    );
    if let Err(e) = c
        .victim
        .write_registers(false, pc + c.mode.length(), regs.sp, &[])
    {
        c.checks
            .fail("fault 1: write the pc past the instruction", e);
        return;
    }
    if let Err(e) = reply(msg(0, 0)) {
        c.checks.fail("fault 1: reply", e);
        return;
    }
    let Some([run, intact, value, _]) =
        c.expect_call("resume: the victim continues after fault 1", CONTINUED, 3)
    else {
        return;
    };
    c.checks.check(
        run == 1 && intact == 1 && value == axolotl_rt::fault::UNREAD,
        "resume: the victim continued after the faulting instruction with its registers intact",
        format_args!("run {run}, registers intact {intact}, value {value:#x}"),
    );

    // Fault 2: restart at the entry.
    if !c.expect_fault(2, pc) {
        return;
    }
    if let Err(e) = c.victim.suspend() {
        c.checks.fail("fault 2: suspend", e);
        return;
    }
    if let Err(e) = c
        .victim
        .write_registers(true, entry.pc, entry.sp, &[entry.args[0]])
    {
        c.checks
            .fail("fault 2: write the entry registers and resume", e);
        return;
    }
    let Some([run, pc2, ..]) = c.expect_call("restart: the victim runs main again", HELLO, 2)
    else {
        return;
    };
    c.checks.check(
        run == 2 && pc2 == pc,
        "restart: the victim started again at its entry (run 2)",
        format_args!("run {run}, pc {pc2:#x}"),
    );

    // Fault 3: suspend for good.
    if !c.expect_fault(3, pc) {
        return;
    }
    if let Err(e) = c.victim.suspend() {
        c.checks.fail("fault 3: suspend", e);
        return;
    }
    // The reply right went with the suspension: replying now reaches nobody.
    let _ = reply(msg(0, 0));
    // Below the victim's priority, the checker runs only when the victim cannot.
    if let Err(e) = c.own_tcb.set_priority(50) {
        c.checks.fail("lower the checker's priority", e);
        return;
    }
    match c.ep.nb_recv() {
        Err(Error::WouldBlock) => c
            .checks
            .pass("suspend: the victim never runs again (no message, no fault)"),
        Ok((info, badge)) => c.checks.fail(
            "suspend: the victim never runs again",
            format_args!("got label {} from badge {badge:#x}", info.label()),
        ),
        Err(e) => c
            .checks
            .fail("suspend: the victim never runs again", format_args!("{e}")),
    }
    if let Some(regs) = c.registers("fault 3: registers") {
        c.checks.check_eq(
            "suspend: the victim is still stopped at the faulting instruction",
            regs.pc,
            pc,
        );
    }
}
