//! A reporter of the `preemption` scenario. It tells the checker (endpoint `report`) it is
//! running, then reads the free-running counter in a tight loop: a jump of more than a
//! millisecond between two reads means another thread ran meanwhile. After `PREEMPTIONS` such
//! jumps it reports them to the checker.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{ServerInfo, debug_println, set_mrs, time};
use test_support::msg;
use test_support::preempt_protocol::{PREEMPTED, PREEMPTIONS, STARTED};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let name = server.name();
    let Some(checker) = server.client("report") else {
        debug_println!("FAIL preemption: '{name}' cannot call 'report'");
        return;
    };
    if let Err(e) = checker.call(msg(STARTED, 0)) {
        debug_println!("FAIL preemption: '{name}' cannot report: {e}");
        return;
    }
    let threshold = (server.counter_frequency / 1000).max(1);
    let (mut seen, mut longest) = (0, 0);
    let mut last = time::counter();
    while seen < PREEMPTIONS {
        let now = time::counter();
        let gap = now.wrapping_sub(last);
        if gap > threshold {
            seen += 1;
            longest = longest.max(gap);
        }
        last = now;
    }
    set_mrs(&[seen, longest]);
    if let Err(e) = checker.call(msg(PREEMPTED, 2)) {
        debug_println!("FAIL preemption: '{name}' cannot report: {e}");
    }
}
