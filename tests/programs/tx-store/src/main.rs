//! A store for the transaction scenarios and benchmarks: 4096 words of state kept in `main`'s
//! stack frame (so they span eight pages of the stack region, above the receive-time stack
//! pointer) and a request counter in `.bss`. It serves on its first endpoint (the same program
//! runs transactionally and not, under different endpoint names). Requests (label, MR0, MR1):
//!
//! | label | request | reply |
//! |---|---|---|
//! | 1 | set word `MR0` to `MR1` | |
//! | 2 | read word `MR0` | the word |
//! | 3 | checksum | sum of all words, count of requests 1, 4 and 5 |
//! | 4 | set words `i * 512` (i < `MR0` pages) to `MR1`, bump the counter, then dereference null | (never) |
//! | 5 | set words `i * 512` (i < `MR0` pages) to `MR1` | |
//! | 6 | bump the counter, then loop forever | (never) |
//! | 7 | set words `i * 512` (i < `MR0` pages) to `MR1`, nothing else (the benchmarks' N-page write) | |
//! | 8 | set word `MR0` to the raw counter (differs between the two runs of a verified request) | |
//!
//! With `verify = true` it first asks the kernel to verify outside any request, which the
//! kernel refuses (scenario `tx-verify`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ServerInfo;
use core::sync::atomic::{AtomicU64, Ordering};

axolotl_rt::declare_server!(main);

const WORDS: usize = 4096;
const WORDS_PER_PAGE: usize = 512;

/// Requests that changed the state (in `.bss`, also transactional).
static REQUESTS: AtomicU64 = AtomicU64::new(0);

fn main(server: &'static ServerInfo) {
    let Some(endpoint) = server
        .endpoints()
        .first()
        .map(|e| axolotl_rt::Cap::from_cptr(e.cptr))
    else {
        log::error!("tx-store: no endpoint");
        return;
    };
    if server.verify != 0 {
        match axolotl_rt::syscall::tx_verify(0) {
            Err(e) => {
                axolotl_rt::debug_println!("tx-store: TxVerify before any request: refused ({e:?})")
            }
            Ok(()) => axolotl_rt::debug_println!("tx-store: TxVerify before any request: accepted"),
        }
    }
    let mut state = [0u64; WORDS];
    // The runtime's server loop, as every server uses it: per-request buffers and locals stay
    // off the checkpointed stack.
    let e = axolotl_rt::ipc_transport::serve(endpoint, None, |_, label, request, reply| {
        let word = |i: usize| request.get(i).copied().unwrap_or(0);
        let (a, b) = (word(0) as usize, word(1));
        if matches!(label, 1 | 4 | 5) {
            REQUESTS.fetch_add(1, Ordering::Relaxed);
        }
        match label {
            1 if a < WORDS => {
                state[a] = b;
                (0, 0)
            }
            2 if a < WORDS => {
                reply[0] = state[a];
                (0, 1)
            }
            3 => {
                reply[0] = state.iter().fold(0u64, |s, w| s.wrapping_add(*w));
                reply[1] = REQUESTS.load(Ordering::Relaxed);
                (0, 2)
            }
            4 => {
                fill(&mut state, a, b);
                REQUESTS.fetch_add(1000, Ordering::Relaxed);
                reply[0] = axolotl_rt::fault::null_dereference();
                (0, 1)
            }
            8 if a < WORDS => {
                state[a] = axolotl_rt::time::counter();
                (0, 0)
            }
            5 | 7 => {
                fill(&mut state, a, b);
                (0, 0)
            }
            6 => {
                REQUESTS.fetch_add(1000, Ordering::Relaxed);
                loop {
                    core::hint::spin_loop();
                }
            }
            _ => (1, 0),
        }
    });
    log::error!("tx-store: receive failed: {e}");
}

fn fill(state: &mut [u64; WORDS], pages: usize, value: u64) {
    for page in 0..pages.min(WORDS / WORDS_PER_PAGE) {
        state[page * WORDS_PER_PAGE] = value;
    }
}
