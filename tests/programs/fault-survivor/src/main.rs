//! The checker of the `fault-no-handler` scenario. It outranks the crasher, learns the pc of its
//! faulting load, then drops below the crasher's priority so that the crasher runs and faults.
//! Once it runs again the crasher must be stopped at that pc, silent, and the rest of the system
//! (the `echo` server, and this server) must still work. Powers off with 0 if every check passed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::server_info::call_badge;
use axolotl_rt::{Error, MessageInfo, ServerInfo, debug_println, get_mr, reply, set_mrs};
use test_support::{Checks, msg};

axolotl_rt::declare_server!(main);

/// Image indexes: crasher 0, echo 1, survivor 2.
const CRASHER_INDEX: usize = 0;
const SURVIVOR_INDEX: usize = 2;
const HELLO: u64 = 1;

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("fault-no-handler");
    let (Some(ep), Some(echo), Some(crasher)) = (
        server.endpoint("survivor"),
        server.client("echo"),
        server.control("crasher"),
    ) else {
        checks.fail("the survivor's capabilities", "missing");
        checks.finish(server);
        return;
    };
    // The crasher's hello.
    let pc = match ep.recv() {
        Ok((info, badge)) => {
            let pc = get_mr(0);
            let _ = reply(msg(0, 0));
            checks.check(
                info.label() == HELLO && badge == call_badge(CRASHER_INDEX),
                "the crasher says hello",
                format_args!("label {} badge {badge:#x}", info.label()),
            );
            pc
        }
        Err(e) => {
            checks.fail("the crasher says hello", e);
            checks.finish(server);
            return;
        }
    };
    // Below the crasher, this server runs again only once the crasher cannot run.
    if let Err(e) = server.own_tcb().set_priority(50) {
        checks.fail("lower the survivor's priority", e);
    }
    debug_println!("survivor: running again");
    match crasher.read_registers() {
        Ok(regs) => {
            checks.check_eq("the crasher is stopped at its faulting load", regs.pc, pc);
        }
        Err(e) => checks.fail("read the crasher's registers", e),
    }
    match ep.nb_recv() {
        Err(Error::WouldBlock) => checks.pass("the crasher never continued"),
        Ok((info, badge)) => checks.fail(
            "the crasher never continued",
            format_args!("got label {} from badge {badge:#x}", info.label()),
        ),
        Err(e) => checks.fail("the crasher never continued", e),
    }
    let words = [0x1234, 0, u64::MAX, 0xfeed_f00d];
    set_mrs(&words);
    match echo.call(MessageInfo::new(7, 0, 4)) {
        Ok((info, _)) => {
            let got = [get_mr(0), get_mr(1), get_mr(2), get_mr(3)];
            checks.check(
                info.label() == call_badge(SURVIVOR_INDEX)
                    && info.length() == 4
                    && got == words.map(|w| !w),
                "another server still answers calls",
                format_args!(
                    "label {} length {} words {got:x?}",
                    info.label(),
                    info.length()
                ),
            );
        }
        Err(e) => checks.fail("another server still answers calls", e),
    }
    checks.finish(server);
}
