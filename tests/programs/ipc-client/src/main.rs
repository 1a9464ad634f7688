//! A client of the `ipc-pingpong` scenario (`client-a`, `client-b`, ...: its id is its letter).
//! It calls endpoint `echo` with messages of every length in `ipc_protocol::LENGTHS` (0 words, in
//! registers only, and long ones through the IPC buffer), `ROUNDS` times each, and checks each
//! reply word for word: the right length, the server's transform of every word, and the same
//! badge every time (the reply's label). Then it tells the server how many checks failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, debug_println, get_mr, set_mr};
use test_support::ipc_protocol::{DONE, ECHO, LENGTHS, ROUNDS, client_id, label, transform, word};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let name = server.name();
    let (Some(id), Some(echo)) = (client_id(name), server.client("echo")) else {
        debug_println!("FAIL ipc-pingpong: '{name}' is not a client-<letter> that calls 'echo'");
        return;
    };
    let mut failures = 0u64;
    let mut badge_seen = None;
    for round in 0..ROUNDS {
        for length in LENGTHS {
            for i in 0..length {
                set_mr(i, word(id, round, length, i));
            }
            let reply = match echo.call(MessageInfo::new(label(id, ECHO), 0, length)) {
                Ok((reply, _)) => reply,
                Err(e) => {
                    debug_println!("FAIL ipc-pingpong: {name}: call of {length} words failed: {e}");
                    failures += 1;
                    continue;
                }
            };
            let bad_word =
                (0..length).find(|&i| get_mr(i) != transform(word(id, round, length, i), i));
            if reply.length() != length || reply.extra_caps() != 0 || bad_word.is_some() {
                debug_println!(
                    "FAIL ipc-pingpong: {name}: {length}-word message came back with length {} \
                     and word {bad_word:?} wrong",
                    reply.length()
                );
                failures += 1;
            }
            match badge_seen {
                None => badge_seen = Some(reply.label()),
                Some(b) if b != reply.label() => {
                    debug_println!(
                        "FAIL ipc-pingpong: {name}: the server saw badge {} after {b}",
                        reply.label()
                    );
                    failures += 1;
                }
                Some(_) => {}
            }
        }
    }
    debug_println!(
        "{name}: {} messages of {LENGTHS:?} words each round-tripped, {failures} failed; \
         the server saw badge {}",
        ROUNDS as usize * LENGTHS.len(),
        badge_seen.unwrap_or(0)
    );
    set_mr(0, failures);
    if let Err(e) = echo.call(MessageInfo::new(label(id, DONE), 0, 1)) {
        debug_println!("FAIL ipc-pingpong: {name}: the last call failed: {e}");
    }
}
