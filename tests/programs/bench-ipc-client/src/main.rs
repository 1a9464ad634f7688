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
/// Rounds of the store requests (each costs more than a bare round trip).
const STORE_ROUNDS: u64 = 200;

/// Instructions per request `label` with `args` to a `tx-store` (see tests/programs/tx-store).
fn measure_store(store: Cap<Endpoint>, label: u64, args: &[u64]) -> Option<u64> {
    let info = MessageInfo::new(label, 0, args.len());
    for _ in 0..WARMUP {
        axolotl_rt::set_mrs(args);
        store.call(info).ok()?;
    }
    let start = time::counter();
    for _ in 0..STORE_ROUNDS {
        axolotl_rt::set_mrs(args);
        store.call(info).ok()?;
    }
    Some((time::counter() - start) / STORE_ROUNDS)
}

/// Instructions per typed `kv::v2` get and put (through the generated client, postcard both ways)
/// to the store `ep`.
fn measure_kv(ep: Cap<Endpoint>) -> Option<(u64, u64)> {
    use ipc_schema::kv::v2;
    let kv = v2::Client::new(ep);
    let key = v2::Key::try_from("bench-key").ok()?;
    let value = v2::Value::from_slice(b"a value of some twenty bytes").ok()?;
    kv.put(key.clone(), value.clone(), None).ok()?;
    for _ in 0..WARMUP {
        kv.get(key.clone()).ok()?;
    }
    let start = time::counter();
    for _ in 0..STORE_ROUNDS {
        kv.get(key.clone()).ok()?;
    }
    let get = (time::counter() - start) / STORE_ROUNDS;
    let start = time::counter();
    for _ in 0..STORE_ROUNDS {
        kv.put(key.clone(), value.clone(), None).ok()?;
    }
    let put = (time::counter() - start) / STORE_ROUNDS;
    Some((get, put))
}

/// Fault to next request served when the supervisor restarts the server from its image
/// (`restart_after = 1`): a request that always faults (op 7, not idempotent), then a good one.
fn measure_restart(ep: Cap<Endpoint>) -> Option<u64> {
    use ipc_schema::{console, label};
    let good = label(console::v1::INTERFACE, 1, 0);
    let doomed = label(console::v1::INTERFACE, 1, 7);
    // The first good request faults once (and restarts the server); after that it succeeds.
    ep.call(MessageInfo::new(good, 0, 0)).ok()?;
    ep.call(MessageInfo::new(good, 0, 0)).ok()?;
    const ROUNDS: u64 = 3;
    let start = time::counter();
    for _ in 0..ROUNDS {
        ep.call(MessageInfo::new(doomed, 0, 0)).ok()?;
        let (reply, _) = ep.call(MessageInfo::new(good, 0, 0)).ok()?;
        if reply.label() != 0 {
            return None;
        }
    }
    Some((time::counter() - start) / ROUNDS)
}

/// Transaction overhead: the same requests to a transactional and a plain `tx-store`, and the
/// cost of a request that faults and is rolled back.
fn measure_transactions(tx: Cap<Endpoint>, plain: Cap<Endpoint>) -> bool {
    let workloads: [(&str, u64, &[u64]); 3] = [
        ("get", 2, &[600]),
        ("put_1page", 7, &[1, 3]),
        ("put_8page", 7, &[8, 5]),
    ];
    for (name, label, args) in workloads {
        let (Some(on), Some(off)) = (
            measure_store(tx, label, args),
            measure_store(plain, label, args),
        ) else {
            return false;
        };
        axolotl_rt::debug_println!("BENCH tx.{name}.instructions={on}");
        axolotl_rt::debug_println!("BENCH tx.{name}.plain.instructions={off}");
    }
    // Fault to next request served: a one-page request that faults (aborted by the supervisor,
    // answered Aborted) followed by a read.
    let start = time::counter();
    for _ in 0..10 {
        axolotl_rt::set_mrs(&[1, 9]);
        if tx.call(MessageInfo::new(4, 0, 2)).is_err() {
            return false;
        }
        axolotl_rt::set_mrs(&[600]);
        if tx.call(MessageInfo::new(2, 0, 1)).is_err() {
            return false;
        }
    }
    axolotl_rt::debug_println!(
        "BENCH recovery.rollback.instructions={}",
        (time::counter() - start) / 10
    );
    true
}

/// How long a snapshot stops the transactional kv (`kv-tx`, through the supervisor's
/// `snapshot::v1`): a concurrent snapshot's `begin` (the snapshot point; the copy then runs in
/// steps while the server serves) against stop-and-copy (`take`: the point and the copy of every
/// page before the server runs again). Both are the supervisor's own count around the kernel
/// invocations, during which no server runs. Returns (stop, stop-and-copy, region pages).
fn measure_snapshot(supervisor: Cap<Endpoint>) -> Option<(u64, u64, u32)> {
    use ipc_schema::snapshot::v1::Client;
    let snapshots = Client::new(supervisor);
    let name = ipc_schema::interfaces::common::Name::try_from("kv-tx").ok()?;
    let begun = snapshots.begin(name.clone()).ok()?;
    let mut info = begun;
    while !info.complete {
        info = snapshots.step(name.clone(), 4).ok()?;
    }
    let taken = snapshots.take(name).ok()?;
    Some((begun.stop_ticks, taken.stop_ticks, taken.pages))
}

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
    if let (Some(tx), Some(plain)) = (server.client("store-tx"), server.client("store-plain"))
        && !measure_transactions(tx, plain)
    {
        log::error!("bench-ipc-client: a store request failed");
        failed = true;
    }
    if let (Some(kv), Some(kv_tx)) = (server.client("kv"), server.client("kv-tx")) {
        let verified = server.client("kv-vfy").map(measure_kv);
        match (measure_kv(kv), measure_kv(kv_tx)) {
            (Some((get, put)), Some((tx_get, tx_put))) => {
                match verified {
                    Some(Some((vfy_get, vfy_put))) => {
                        // Verified transactions against the same transactional store unverified.
                        axolotl_rt::debug_println!("BENCH verify.kv_get.instructions={vfy_get}");
                        axolotl_rt::debug_println!(
                            "BENCH verify.kv_get.plain.instructions={tx_get}"
                        );
                        axolotl_rt::debug_println!("BENCH verify.kv_put.instructions={vfy_put}");
                        axolotl_rt::debug_println!(
                            "BENCH verify.kv_put.plain.instructions={tx_put}"
                        );
                    }
                    Some(None) => {
                        log::error!("bench-ipc-client: a verified kv request failed");
                        failed = true;
                    }
                    None => {}
                }
                axolotl_rt::debug_println!("BENCH kv.get.instructions={get}");
                axolotl_rt::debug_println!("BENCH kv.put.instructions={put}");
                axolotl_rt::debug_println!("BENCH tx.kv_get.instructions={tx_get}");
                axolotl_rt::debug_println!("BENCH tx.kv_get.plain.instructions={get}");
                axolotl_rt::debug_println!("BENCH tx.kv_put.instructions={tx_put}");
                axolotl_rt::debug_println!("BENCH tx.kv_put.plain.instructions={put}");
            }
            _ => {
                log::error!("bench-ipc-client: a kv request failed");
                failed = true;
            }
        }
    }
    if let Some(supervisor) = server.client("supervisor") {
        match measure_snapshot(supervisor) {
            Some((stop, stop_and_copy, pages)) => {
                axolotl_rt::debug_println!("BENCH snapshot.stop.instructions={stop}");
                axolotl_rt::debug_println!(
                    "BENCH snapshot.stop_and_copy.instructions={stop_and_copy}"
                );
                axolotl_rt::debug_println!("BENCH snapshot.region.pages={pages}");
            }
            None => {
                log::error!("bench-ipc-client: a snapshot request failed");
                failed = true;
            }
        }
    }
    if let Some(ep) = server.client("restarter") {
        match measure_restart(ep) {
            Some(n) => axolotl_rt::debug_println!("BENCH recovery.restart.instructions={n}"),
            None => {
                log::error!("bench-ipc-client: a restart request failed");
                failed = true;
            }
        }
    }
    if let Some(sys) = server.sys_control() {
        sys.poweroff(u64::from(failed));
    }
}
