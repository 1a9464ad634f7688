//! The victim of the `fault-undefined` and `fault-null` scenarios. Its fault handler is
//! `fault-checker`'s endpoint `faults`, which it also calls (with its own badge) to say what it
//! does. Its server name picks the fault: `victim-undefined` executes an undefined instruction,
//! `victim-null` loads from address 0.
//!
//! Each run of `main` (the checker restarts the thread at its entry, so there are two):
//! 1. counts the run in a static (statics survive a restart: the address space is the same);
//! 2. calls the checker with `HELLO [run, pc of the faulting instruction]`;
//! 3. faults; if resumed after the faulting instruction, prints that it continued and calls the
//!    checker with `CONTINUED [run, registers intact, value loaded]`;
//! 4. faults again, and should never get further; if it does, it says so with `CONTINUED`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{ServerInfo, debug_println, fault, set_mrs};
use core::sync::atomic::{AtomicU64, Ordering};
use test_support::fault_protocol::{CONTINUED, HELLO, Mode};
use test_support::msg;

axolotl_rt::declare_server!(main);

static RUNS: AtomicU64 = AtomicU64::new(0);

fn main(server: &'static ServerInfo) {
    let run = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    let Some(mode) = Mode::of_victim(server.name()) else {
        debug_println!("FAIL fault-victim: unknown victim name '{}'", server.name());
        return;
    };
    let Some(checker) = server.client("faults") else {
        debug_println!(
            "FAIL {}: victim has no capability to call 'faults'",
            mode.scenario()
        );
        return;
    };
    let pc = mode.pc();
    debug_println!("victim: run {run}: {} at pc {pc:#x}", mode.what());
    set_mrs(&[run, pc]);
    if let Err(e) = checker.call(msg(HELLO, 2)) {
        debug_println!("FAIL {}: victim's hello failed: {e}", mode.scenario());
        return;
    }
    for _ in 0..2 {
        let value = mode.fault();
        let intact = fault::registers_intact();
        debug_println!(
            "victim: run {run}: continued after the {}{}",
            mode.what(),
            if intact {
                " with its registers intact"
            } else {
                " with its registers CHANGED"
            }
        );
        set_mrs(&[run, u64::from(intact), value]);
        if let Err(e) = checker.call(msg(CONTINUED, 3)) {
            debug_println!("FAIL {}: victim's report failed: {e}", mode.scenario());
            return;
        }
    }
}
