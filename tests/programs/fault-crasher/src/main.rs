//! The server of the `fault-no-handler` scenario that faults with no fault handler: it tells the
//! survivor (endpoint `survivor`) the pc of its load, then loads from address 0. The kernel must
//! log the fault and suspend it; if it ever continues, it tells the survivor.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{ServerInfo, debug_println, fault, set_mrs};
use test_support::msg;

axolotl_rt::declare_server!(main);

/// Crasher to survivor: `[pc of the faulting load]`.
const HELLO: u64 = 1;
/// Crasher to survivor: it continued after the fault.
const CONTINUED: u64 = 2;

fn main(server: &'static ServerInfo) {
    let Some(survivor) = server.client("survivor") else {
        debug_println!("FAIL fault-no-handler: crasher cannot call 'survivor'");
        return;
    };
    let pc = fault::read_u64_pc();
    set_mrs(&[pc]);
    if let Err(e) = survivor.call(msg(HELLO, 1)) {
        debug_println!("FAIL fault-no-handler: crasher's hello failed: {e}");
        return;
    }
    debug_println!("crasher: null dereference at pc {pc:#x}, with no fault handler");
    let value = fault::null_dereference();
    debug_println!("FAIL fault-no-handler: crasher continued after its fault (read {value:#x})");
    let _ = survivor.call(msg(CONTINUED, 0));
}
