//! A load generator for the live-upgrade scenarios and demo: a `kv::v1` client that keeps
//! calling the store (a `put` of a fresh value, then a `get` that must return it) and counts
//! every request it sent, every one answered (served) and every one that failed (an error, or a
//! wrong value), and the longest a request took (counter ticks: instructions under `-icount`).
//!
//! It also remembers its slow requests (start and length; more than four times its running mean,
//! the last [`SLOW_LOG`] of them), so that it can say how long the requests that overlapped a
//! window of time waited: the director asks about an upgrade's blackout window.
//!
//! Between two requests it polls its own endpoint (`NBRecv`): a call there (from the director,
//! with a window `[from, to]` of counter values in its two words) is answered with its counts
//! `[sent, served, failed, longest, longest overlapping the window]` and it stops calling; it
//! then answers every later call the same way. A request that is never answered would leave
//! it blocked and the director waiting: the scenario's timeout catches that (a lost request).
//!
//! Its keys: `1000 * n + 0..32`, where `n` is the digit its name ends with (`load-1`), so two
//! load generators never touch each other's keys.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::debug_println;
use axolotl_rt::{MessageInfo, ServerInfo, get_mr, reply, set_mr};
use ipc_schema::kv::v1;

axolotl_rt::declare_server!(main);

const KEYS: u32 = 32;
/// Slow requests remembered.
const SLOW_LOG: usize = 64;

/// The last [`SLOW_LOG`] slow requests: start and length in counter ticks.
struct Slow {
    log: [(u64, u64); SLOW_LOG],
    next: usize,
    /// Running mean of every request's length (1/16 weight per request).
    mean: u64,
}

impl Slow {
    fn record(&mut self, start: u64, length: u64) {
        if self.mean > 0 && length > 4 * self.mean {
            self.log[self.next % SLOW_LOG] = (start, length);
            self.next += 1;
        }
        self.mean = if self.mean == 0 {
            length
        } else {
            self.mean - self.mean / 16 + length / 16
        };
    }

    /// The longest remembered request that was waiting at some time in `[from, to]`.
    fn longest_in(&self, from: u64, to: u64) -> u64 {
        self.log[..self.next.min(SLOW_LOG)]
            .iter()
            .filter(|&&(start, length)| start <= to && start + length >= from)
            .map(|&(_, length)| length)
            .max()
            .unwrap_or(0)
    }
}

fn main(server: &'static ServerInfo) {
    let (Some(kv), Some(own)) = (server.client("kv"), server.endpoints().first()) else {
        debug_println!("{}: needs calls = [\"kv\"] and an endpoint", server.name());
        return;
    };
    let own = axolotl_rt::Cap::<axolotl_rt::Endpoint>::from_cptr(own.cptr);
    let n = server
        .name()
        .bytes()
        .last()
        .filter(u8::is_ascii_digit)
        .map_or(0, |d| u32::from(d - b'0'));
    let kv = v1::Client::new(kv);
    let (mut sent, mut served, mut failed, mut longest) = (0u64, 0u64, 0u64, 0u64);
    let mut slow = Slow {
        log: [(0, 0); SLOW_LOG],
        next: 0,
        mean: 0,
    };
    let mut i = 0u32;
    let mut timed = |sent: &mut u64, longest: &mut u64, f: &mut dyn FnMut() -> bool| {
        *sent += 1;
        let start = axolotl_rt::time::counter();
        let ok = f();
        let length = axolotl_rt::time::counter().wrapping_sub(start);
        *longest = (*longest).max(length);
        slow.record(start, length);
        ok
    };
    let mut window = loop {
        let key = u64::from(1000 * n + i % KEYS);
        let mut value = v1::Value::new();
        for b in i.to_le_bytes() {
            let _ = value.push(b);
        }
        let _ = value.push(n as u8);
        if timed(&mut sent, &mut longest, &mut || {
            kv.put(key, value.clone()).is_ok()
        }) {
            served += 1;
        } else {
            failed += 1;
        }
        if timed(&mut sent, &mut longest, &mut || {
            kv.get(key).is_ok_and(|v| v == value)
        }) {
            served += 1;
        } else {
            failed += 1;
        }
        i = i.wrapping_add(1);
        if own.nb_recv().is_ok() {
            break (get_mr(0), get_mr(1));
        }
    };
    debug_println!(
        "{}: sent {sent}, served {served}, failed {failed}; longest request {longest} ticks",
        server.name()
    );
    loop {
        let in_window = slow.longest_in(window.0, window.1);
        for (k, word) in [sent, served, failed, longest, in_window]
            .into_iter()
            .enumerate()
        {
            set_mr(k, word);
        }
        let _ = reply(MessageInfo::new(0, 0, 5));
        if own.recv().is_err() {
            return;
        }
        window = (get_mr(0), get_mr(1));
    }
}
