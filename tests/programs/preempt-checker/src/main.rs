//! The checker of the `preemption` scenario, at the highest priority, waiting on endpoint
//! `report`. The spinner (priority 100, started first) never makes a system call; the worker
//! (also 100) can only run because the timer rotates threads of one priority, and the low
//! reporter (priority 50) must never run while a thread of priority 100 is runnable. The checker
//! waits for the worker to start and to see itself preempted `PREEMPTIONS` times, checks that
//! the low reporter never said a word, and powers off with 0 if every check passed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::server_info::call_badge;
use axolotl_rt::{Error, ServerInfo, debug_println, get_mr, reply};
use test_support::preempt_protocol::{PREEMPTED, PREEMPTIONS, STARTED};
use test_support::{Checks, msg};

axolotl_rt::declare_server!(main);

/// Image indexes: spinner 0, worker 1, low 2, checker 3.
const WORKER_INDEX: usize = 1;
const LOW_INDEX: usize = 2;

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("preemption");
    let Some(ep) = server.endpoint("report") else {
        checks.fail("the checker's endpoint", "missing");
        checks.finish(server);
        return;
    };
    let (worker, low) = (call_badge(WORKER_INDEX), call_badge(LOW_INDEX));
    let mut heard_low = false;
    let mut started = false;
    loop {
        let (info, badge) = match ep.recv() {
            Ok(m) => m,
            Err(e) => {
                checks.fail("receive", e);
                break;
            }
        };
        let words = [get_mr(0), get_mr(1)];
        let _ = reply(msg(0, 0));
        if badge == low {
            heard_low = true;
            debug_println!("checker: the low-priority reporter ran");
        } else if badge == worker && info.label() == STARTED {
            started = true;
            checks.pass("the worker runs although the spinner never gives up the CPU");
        } else if badge == worker && info.label() == PREEMPTED {
            let ticks_per_ms = server.counter_frequency / 1000;
            checks.check(
                started && words[0] == PREEMPTIONS,
                "round robin: the worker and the spinner took turns several times",
                format_args!("started {started}, preemptions {}", words[0]),
            );
            debug_println!(
                "checker: longest time the worker was off the CPU: {} ms",
                words[1] / ticks_per_ms.max(1)
            );
            break;
        } else {
            checks.fail(
                "an expected report",
                format_args!("label {} from badge {badge}", info.label()),
            );
            break;
        }
    }
    match ep.nb_recv() {
        Ok((_, badge)) if badge == low => heard_low = true,
        Ok(_) | Err(Error::WouldBlock) => {}
        Err(e) => checks.fail("poll", e),
    }
    checks.check(
        !heard_low,
        "strict priority: the low-priority reporter never ran while a priority-100 thread could",
        "it reported",
    );
    checks.finish(server);
}
