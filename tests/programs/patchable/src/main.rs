//! A multi-threaded server that can be patched wait-free (scenario `patch-wait-free`, benchmark
//! image `bench-patch`): every thread of it (`threads = N`) serves its first endpoint, and all
//! of its state is in statics shared by the threads. Two builds of this crate differ only in code
//! (feature `patched`, program `patchable-v2`): `bump(x)` answers `x + 1` in build 1 and `x + 2`
//! in build 2, so a client can tell which build served each request.
//!
//! Requests (raw labels, words in the message registers):
//!
//! | label | request | reply words |
//! |---|---|---|
//! | [`BUMP`] | x | x + 1 (build 1) or x + 2 (build 2), the serving thread's index, the build |
//! | [`HOLD`] | x, n | like `bump`, after yielding `n` times inside the request (it stays in flight) |
//! | [`STATS`] | | requests served by build 1, by build 2 |
//!
//! Anything else is answered with label 1 and no words.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_buffer::thread_start;
use axolotl_rt::ipc_transport::serve;
use axolotl_rt::{ServerInfo, debug_println, yield_now};
use core::sync::atomic::{AtomicU64, Ordering};

axolotl_rt::declare_server!(main);

pub const BUMP: u64 = 1;
pub const HOLD: u64 = 2;
pub const STATS: u64 = 3;

/// The build: the one thing the two builds do differently.
#[cfg(not(feature = "patched"))]
const BUILD: u64 = 1;
#[cfg(feature = "patched")]
const BUILD: u64 = 2;

/// Requests served, by build (index 1 and 2). Shared by every thread and by both builds: the
/// patch maps the same frames.
static SERVED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn main(info: &'static ServerInfo) {
    let start = thread_start();
    let Some(endpoint) = info
        .endpoints()
        .first()
        .map(|e| axolotl_rt::Cap::from_cptr(e.cptr))
    else {
        debug_println!("FAIL patchable: no endpoint");
        return;
    };
    if start.index == 0 {
        // Through a local: a `{BUILD}` format argument would be a constant in read-only data,
        // which differs between the builds, and the build tool refuses a patch whose read-only
        // data differs (live data may point into it).
        let build = core::hint::black_box(BUILD);
        if start.patched {
            log::info!("thread 0 restarted in build {build}");
        } else {
            log::info!("build {build}, {} threads serving", info.threads);
        }
    }
    let e = serve(endpoint, None, |_, label, request, reply| {
        let x = request.first().copied().unwrap_or(0);
        match label {
            BUMP | HOLD => {
                if label == HOLD {
                    for _ in 0..request.get(1).copied().unwrap_or(0).min(10_000) {
                        yield_now();
                    }
                }
                SERVED[BUILD as usize].fetch_add(1, Ordering::Relaxed);
                reply[0] = x.wrapping_add(BUILD);
                reply[1] = thread_start().index;
                reply[2] = BUILD;
                (0, 3)
            }
            STATS => {
                reply[0] = SERVED[1].load(Ordering::Relaxed);
                reply[1] = SERVED[2].load(Ordering::Relaxed);
                (0, 2)
            }
            _ => (1, 0),
        }
    });
    debug_println!(
        "FAIL patchable: thread {} stopped serving: {e}",
        start.index
    );
}
