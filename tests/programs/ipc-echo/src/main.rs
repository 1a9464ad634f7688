//! The server of the `ipc-pingpong` scenario: it answers the clients' calls on endpoint `echo`,
//! and checks what the kernel tells it. Each client (image index i, id i from its name
//! `client-<letter>`) must arrive with badge 1 + i, the same on every message, and distinct from
//! the other's; every request must have the length and words the client's protocol says (so
//! long messages arrived through the IPC buffer intact). It replies with the badge as the label
//! and each word transformed. When every client is done it powers off with 0 if every check (its
//! own and the clients') passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::server_info::call_badge;
use axolotl_rt::{MessageInfo, ServerInfo, debug_println, get_mr, set_mr};
use test_support::Checks;
use test_support::ipc_protocol::{DONE, ECHO, LENGTHS, ROUNDS, client_of, op_of, transform, word};

axolotl_rt::declare_server!(main);

/// Clients are image entries 1 and 2 (`client-a`, `client-b`); the server is entry 0.
const CLIENTS: usize = 2;

#[derive(Clone, Copy, Default)]
struct Client {
    /// `ECHO` requests received so far.
    received: u64,
    wrong: u64,
    badge: Option<u64>,
    done: bool,
    reported_failures: u64,
}

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("ipc-pingpong");
    let Some(ep) = server.endpoint("echo") else {
        checks.fail("the server's endpoint", "missing");
        checks.finish(server);
        return;
    };
    let mut clients = [Client::default(); CLIENTS];
    let mut request = ep.recv();
    loop {
        let (info, badge) = match request {
            Ok(m) => m,
            Err(e) => {
                checks.fail("receive", e);
                break;
            }
        };
        let id = client_of(info.label());
        let Some(c) = (id as usize)
            .checked_sub(1)
            .and_then(|i| clients.get_mut(i))
        else {
            checks.fail(
                "a request",
                format_args!("from unknown client {id}, badge {badge}"),
            );
            request = ep.reply_recv(MessageInfo::new(0, 0, 0));
            continue;
        };
        // Client `id` is image entry `id`.
        if badge != call_badge(id as usize) || c.badge.is_some_and(|b| b != badge) {
            debug_println!(
                "FAIL ipc-pingpong: client {id} arrived with badge {badge}, expected {}",
                call_badge(id as usize)
            );
            c.wrong += 1;
        }
        c.badge = Some(badge);
        let length = info.length();
        let reply = match op_of(info.label()) {
            ECHO => {
                // Which round: this length's n-th occurrence from this client.
                let k = c.received as usize;
                let (round, want_length) = ((k / LENGTHS.len()) as u64, LENGTHS[k % LENGTHS.len()]);
                c.received += 1;
                let bad = (0..length).find(|&i| get_mr(i) != word(id, round, length, i));
                if length != want_length || bad.is_some() || info.extra_caps() != 0 {
                    debug_println!(
                        "FAIL ipc-pingpong: client {id} request {k}: length {length} (expected \
                         {want_length}), word {bad:?} wrong"
                    );
                    c.wrong += 1;
                }
                for i in 0..length {
                    set_mr(i, transform(get_mr(i), i));
                }
                MessageInfo::new(badge, 0, length)
            }
            DONE => {
                c.done = true;
                c.reported_failures = get_mr(0);
                MessageInfo::new(0, 0, 0)
            }
            op => {
                debug_println!("FAIL ipc-pingpong: client {id} sent operation {op}");
                c.wrong += 1;
                MessageInfo::new(0, 0, 0)
            }
        };
        if clients.iter().all(|c| c.done) {
            break;
        }
        request = ep.reply_recv(reply);
    }
    let expected = ROUNDS * LENGTHS.len() as u64;
    for (i, c) in clients.iter().enumerate() {
        let id = i as u64 + 1;
        checks.check(
            c.badge == Some(call_badge(id as usize)),
            format_args!(
                "client {id} is told apart by its badge {}",
                call_badge(id as usize)
            ),
            format_args!("saw {:?}", c.badge),
        );
        checks.check(
            c.received == expected && c.wrong == 0,
            format_args!(
                "client {id}: {expected} messages of 0, 1, 4, 5, 100 and 120 words arrived exactly"
            ),
            format_args!("{} received, {} wrong", c.received, c.wrong),
        );
        checks.check_eq(
            format_args!("client {id}: every reply came back exactly"),
            c.reported_failures,
            0,
        );
    }
    checks.check(
        clients[0].badge != clients[1].badge,
        "the two clients' badges differ",
        "they are equal",
    );
    checks.finish(server);
}
