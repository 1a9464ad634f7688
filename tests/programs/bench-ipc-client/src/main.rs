//! The client half of the IPC benchmark: times `Call` round trips to `bench-ipc-server` (another
//! address space) with the guest's instruction counter and prints `BENCH` lines for
//! `cargo xtask bench`. Under `-icount shift=0` the counter advances once per guest instruction,
//! so the figures are exact and identical on every run.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, time};

axolotl_rt::declare_server!(main);

const WARMUP: u64 = 100;
const ROUNDS: u64 = 1000;

/// Instructions per round trip carrying `words` message words (each way).
fn measure(endpoint: Cap<Endpoint>, words: usize) -> Option<u64> {
    let info = MessageInfo::new(0, 0, words);
    for i in 0..WARMUP {
        axolotl_rt::set_mrs(&[i, i + 1, i + 2, i + 3][..words]);
        endpoint.call(info).ok()?;
    }
    let start = time::counter();
    for _ in 0..ROUNDS {
        endpoint.call(info).ok()?;
    }
    let end = time::counter();
    Some((end - start) / ROUNDS)
}

fn main(server: &'static ServerInfo) {
    // Instructions from reset until this first user-level server runs (the counter starts at
    // zero with the machine).
    axolotl_rt::debug_println!("BENCH boot.first_server.instructions={}", time::counter());
    let Some(endpoint) = server.client("bench") else {
        log::error!("bench-ipc-client: no capability to 'bench'");
        return;
    };
    let mut failed = false;
    for (words, metric) in [
        (0, "ipc.roundtrip.0w.instructions"),
        (4, "ipc.roundtrip.4w.instructions"),
    ] {
        match measure(endpoint, words) {
            Some(n) => axolotl_rt::debug_println!("BENCH {metric}={n}"),
            None => {
                log::error!("bench-ipc-client: a call failed");
                failed = true;
            }
        }
    }
    if let Some(sys) = server.sys_control() {
        sys.poweroff(u64::from(failed));
    }
}
