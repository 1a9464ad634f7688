//! The client of the `patch-wait-free` scenario and of the `bench-patch` benchmark image: a
//! multi-threaded `patchable` server is patched wait-free to `patchable-v2` while this client's
//! threads keep calling it.
//!
//! Threads (`threads = 4`): 1 keeps a request in flight that yields inside the server (`hold`),
//! so that some server thread is busy whenever the supervisor looks; 2 and 3 call `bump` as fast
//! as they can, timing each call with the counter; 0 drives: after a steady window (at least
//! `STEADY` timed calls and `STEADY_WINDOW_MS` of counter time, so that it spans as many time
//! slices as the patch does) it starts the patch (`patch::v1 begin`) while a `hold` is in
//! flight, then yields and `step`s until every server thread has moved (the first steps build
//! the clone, the later ones move threads), then lets `AFTER` more calls run, stops the load and
//! checks:
//!
//! - every request was answered with the right value for the build that served it (0 failed),
//!   and the server counted exactly the requests the client sent;
//! - before the patch only build 1 answered; during it both builds answered (old-code threads
//!   and already patched ones, no global stop); after it only build 2;
//! - `begin` moved no thread, and no thread moved while the clone was still being built;
//! - the patch moved every thread, some of them found busy first.
//!
//! It prints `BENCH patch.latency.instructions` (mean `bump` latency during the patch),
//! `patch.latency.plain.instructions` (steady state), their maxima, `patch.total.instructions`
//! (begin to the last thread moved), `patch.begin.instructions` (the supervisor's begin) and
//! `patch.stop.max.instructions` (the longest single supervisor op of the patch, begin or step:
//! the longest every server was stopped), and `patch.latency.within_slice[.plain].instructions`:
//! the means without the calls that waited for another thread's time slice (over `SLOW`), in
//! both windows, which shows what the patch itself adds to a call.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_buffer::thread_start;
use axolotl_rt::{Cap, Endpoint, ServerInfo, debug_println, time, yield_now};
use core::sync::atomic::{AtomicU64, Ordering};
use ipc_schema::interfaces::common::Name;
use ipc_schema::patch::v1::{Client, PatchInfo, Program};
use ipc_schema::{MSG_WORDS, Transport};
use test_support::Checks;

axolotl_rt::declare_server!(main);

const BUMP: u64 = 1;
const HOLD: u64 = 2;
const STATS: u64 = 3;
/// Timed calls before the patch, and calls after it.
const STEADY: u64 = 400;
/// The steady window lasts at least this long (counter time): about a hundred 5 ms time slices,
/// as many as the patch spans. Every slice that ends while a call is in flight makes that call
/// wait for the other threads' slices, so a window shorter than a slice would see none of those
/// waits and understate the steady latency.
const STEADY_WINDOW_MS: u64 = 500;
/// A call slower than this waited for another thread's time slice (counted, not excluded).
const SLOW: u64 = 100_000;
const AFTER: u64 = 200;
/// Yields inside each `hold` request.
const HOLD_YIELDS: u64 = 40;

const PHASE_STEADY: u64 = 0;
const PHASE_PATCHING: u64 = 1;
const PHASE_AFTER: u64 = 2;
const PHASE_STOP: u64 = 3;
static PHASE: AtomicU64 = AtomicU64::new(PHASE_STEADY);
static RUNNING: AtomicU64 = AtomicU64::new(0);
static HOLD_IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

/// Per phase: calls sent, answered right, answered wrong or failed, answered by build 1, by
/// build 2, timed calls, their latency sum and maximum.
const SENT: usize = 0;
const RIGHT: usize = 1;
const WRONG: usize = 2;
const BY_1: usize = 3;
const BY_2: usize = 4;
const TIMED: usize = 5;
const LATENCY_SUM: usize = 6;
const LATENCY_MAX: usize = 7;
const SLOW_CALLS: usize = 8;
const SLOW_SUM: usize = 9;
const FIELDS: usize = 10;
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ROW: [AtomicU64; FIELDS] = [ZERO; FIELDS];
static STATS_BY_PHASE: [[AtomicU64; FIELDS]; 3] = [ROW; 3];

fn stat(phase: u64, field: usize) -> u64 {
    STATS_BY_PHASE[phase as usize][field].load(Ordering::Relaxed)
}

fn main(server: &'static ServerInfo) {
    let Some(patchable) = server.client("patchable") else {
        debug_println!("FAIL patch-client: no capability to 'patchable'");
        return;
    };
    match thread_start().index {
        0 => drive(server, patchable),
        k => load(k, patchable),
    }
}

/// A load thread: calls until told to stop, recording every answer in its phase's row.
fn load(k: u64, patchable: Cap<Endpoint>) {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    let mut x = k << 32;
    let mut reply = [0u64; MSG_WORDS];
    loop {
        let phase = PHASE.load(Ordering::Relaxed);
        if phase == PHASE_STOP {
            break;
        }
        STATS_BY_PHASE[phase as usize][SENT].fetch_add(1, Ordering::Relaxed);
        let hold = k == 1;
        if hold {
            HOLD_IN_FLIGHT.store(1, Ordering::Relaxed);
        }
        let start = time::counter();
        let answer = if hold {
            Transport::call(&patchable, HOLD, &[x, HOLD_YIELDS], &mut reply)
        } else {
            Transport::call(&patchable, BUMP, &[x], &mut reply)
        };
        let latency = time::counter().wrapping_sub(start);
        if hold {
            HOLD_IN_FLIGHT.store(0, Ordering::Relaxed);
        }
        // The answer counts in the phase it arrived in: the driver moves to the next phase
        // before it begins the patch, and after the patch is done, so a call that straddles a
        // change belongs to the later phase.
        let row = &STATS_BY_PHASE[PHASE.load(Ordering::Relaxed).min(PHASE_AFTER) as usize];
        let build = reply[2];
        let right = matches!(answer, Ok((0, 3)))
            && (build == 1 || build == 2)
            && reply[0] == x.wrapping_add(build);
        if right {
            row[RIGHT].fetch_add(1, Ordering::Relaxed);
            row[if build == 1 { BY_1 } else { BY_2 }].fetch_add(1, Ordering::Relaxed);
        } else {
            row[WRONG].fetch_add(1, Ordering::Relaxed);
        }
        if !hold {
            row[TIMED].fetch_add(1, Ordering::Relaxed);
            row[LATENCY_SUM].fetch_add(latency, Ordering::Relaxed);
            row[LATENCY_MAX].fetch_max(latency, Ordering::Relaxed);
            if latency > SLOW {
                row[SLOW_CALLS].fetch_add(1, Ordering::Relaxed);
                row[SLOW_SUM].fetch_add(latency, Ordering::Relaxed);
            }
        }
        x += 1;
    }
    RUNNING.fetch_sub(1, Ordering::Relaxed);
    // A worker has no capability to suspend itself, and returning from `main` faults (the
    // supervisor would then stop the whole client): it yields until the driver powers off.
    loop {
        yield_now();
    }
}

fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1_000_000 {
        if done() {
            return true;
        }
        yield_now();
    }
    false
}

fn drive(server: &'static ServerInfo, patchable: Cap<Endpoint>) {
    let mut c = Checks::new("patch-wait-free");
    let Some(supervisor) = server.client("supervisor") else {
        c.fail("setup", "needs the supervisor");
        return c.finish(server);
    };
    let patch = Client::new(supervisor);
    let name = Name::try_from("patchable").unwrap_or_default();
    let program = Program::try_from("patchable-v2").unwrap_or_default();

    // Steady state, then the patch while a `hold` request is in flight.
    let window = server.counter_frequency / 1000 * STEADY_WINDOW_MS;
    let t0 = time::counter();
    let steady = wait_until(|| {
        stat(PHASE_STEADY, TIMED) >= STEADY
            && time::counter().wrapping_sub(t0) >= window
            && HOLD_IN_FLIGHT.load(Ordering::Relaxed) == 1
    });
    c.check(
        steady,
        "steady load before the patch",
        "the load threads did not run",
    );
    PHASE.store(PHASE_PATCHING, Ordering::Relaxed);
    let started = time::counter();
    let begun = patch.begin(name.clone(), program.clone());
    let mut last: Option<PatchInfo> = None;
    let mut longest_stop = 0;
    match begun {
        Ok(info) => {
            debug_println!(
                "patch-client: begin: {} of {} threads moved ({} instructions in the supervisor)",
                info.moved,
                info.threads,
                info.ticks
            );
            c.check_eq(
                "begin moves no thread (the clone is built in steps)",
                info.moved,
                0,
            );
            debug_println!("BENCH patch.begin.instructions={}", info.ticks);
            longest_stop = info.ticks;
            last = Some(info);
        }
        Err(e) => c.fail("begin", e),
    }
    let mut steps = 0u32;
    let mut build_steps = 0u32;
    let mut moved_early = false;
    while let Some(before) = last.filter(|i| !i.done)
        && steps < 100_000
    {
        for _ in 0..2 {
            yield_now();
        }
        match patch.step(name.clone()) {
            Ok(info) => {
                let grew = (info.code_pages, info.shared_pages)
                    != (before.code_pages, before.shared_pages);
                if grew {
                    build_steps += 1;
                    moved_early |= info.moved > 0;
                }
                longest_stop = longest_stop.max(info.ticks);
                last = Some(info);
            }
            Err(e) => {
                c.fail("step", e);
                break;
            }
        }
        steps += 1;
    }
    c.check(
        build_steps > 1 && !moved_early,
        "the clone is built in several steps and no thread moves before it is complete",
        format_args!("{build_steps} building steps, a thread moved early: {moved_early}"),
    );
    let total = time::counter().wrapping_sub(started);
    PHASE.store(PHASE_AFTER, Ordering::Relaxed);
    if let Some(info) = last {
        c.check(
            info.done && info.moved == info.threads && info.moved_mask.count_ones() == 4,
            "every server thread moved into the patched build",
            format_args!("{info:?}"),
        );
        c.check(
            info.busy > 0,
            "a thread busy with a request is left for a later step",
            format_args!("found busy {} times", info.busy),
        );
        debug_println!(
            "patch-client: patched in {steps} steps ({build_steps} building the clone: {} new \
             code pages, {} shared pages): {} threads moved, found busy {} times, {} old code \
             pages freed",
            info.code_pages,
            info.shared_pages,
            info.moved,
            info.busy,
            info.freed_pages
        );
    }
    debug_println!("BENCH patch.total.instructions={total}");
    debug_println!("BENCH patch.stop.max.instructions={longest_stop}");

    // After the patch, then stop the load.
    let after = wait_until(|| stat(PHASE_AFTER, SENT) >= AFTER);
    c.check(after, "load after the patch", "the load threads stopped");
    PHASE.store(PHASE_STOP, Ordering::Relaxed);
    let stopped = wait_until(|| RUNNING.load(Ordering::Relaxed) == 0);
    c.check(stopped, "the load threads stop", "still running");

    // The verdict.
    let sum = |field| (0..3).map(|p| stat(p, field)).sum::<u64>();
    let (sent, right, wrong) = (sum(SENT), sum(RIGHT), sum(WRONG));
    c.check(
        sent == right && wrong == 0,
        format_args!("every request answered: {sent} sent, {right} answered right, 0 failed"),
        format_args!("{sent} sent, {right} right, {wrong} wrong or failed"),
    );
    let mut reply = [0u64; MSG_WORDS];
    let served = Transport::call(&patchable, STATS, &[], &mut reply)
        .ok()
        .map(|_| (reply[0], reply[1]));
    c.check(
        served.is_some_and(|(one, two)| one + two == sent),
        "the server counted exactly the requests sent",
        format_args!("served {served:?}, sent {sent}"),
    );
    c.check_eq(
        "before the patch, build 2 served nothing",
        stat(PHASE_STEADY, BY_2),
        0,
    );
    let (old, new) = (stat(PHASE_PATCHING, BY_1), stat(PHASE_PATCHING, BY_2));
    debug_println!(
        "patch-client: during the patch {} requests were served: {old} by old-code threads, \
         {new} by already patched threads",
        old + new
    );
    c.check(
        old > 0 && new > 0,
        "during the patch both builds served (no global stop)",
        format_args!("build 1: {old}, build 2: {new}"),
    );
    c.check_eq(
        "after the patch, build 1 served nothing",
        stat(PHASE_AFTER, BY_1),
        0,
    );
    let mean = |phase| stat(phase, LATENCY_SUM) / stat(phase, TIMED).max(1);
    debug_println!(
        "patch-client: timed calls: {} steady ({} waited for a time slice), {} during the patch \
         ({} waited for a time slice)",
        stat(PHASE_STEADY, TIMED),
        stat(PHASE_STEADY, SLOW_CALLS),
        stat(PHASE_PATCHING, TIMED),
        stat(PHASE_PATCHING, SLOW_CALLS)
    );
    // The same without the calls that waited for a time slice: what the patch itself adds.
    let within_slice = |phase| {
        (stat(phase, LATENCY_SUM) - stat(phase, SLOW_SUM))
            / (stat(phase, TIMED) - stat(phase, SLOW_CALLS)).max(1)
    };
    debug_println!(
        "BENCH patch.latency.within_slice.plain.instructions={}",
        within_slice(PHASE_STEADY)
    );
    debug_println!(
        "BENCH patch.latency.within_slice.instructions={}",
        within_slice(PHASE_PATCHING)
    );
    debug_println!(
        "BENCH patch.latency.plain.instructions={}",
        mean(PHASE_STEADY)
    );
    debug_println!("BENCH patch.latency.instructions={}", mean(PHASE_PATCHING));
    debug_println!(
        "BENCH patch.latency.max.plain.instructions={}",
        stat(PHASE_STEADY, LATENCY_MAX)
    );
    debug_println!(
        "BENCH patch.latency.max.instructions={}",
        stat(PHASE_PATCHING, LATENCY_MAX)
    );
    c.finish(server);
}
