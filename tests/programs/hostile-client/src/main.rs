//! Hostile messages to every server of the OS personality (console, timer, name, kv and the root
//! task's supervisor interface): random labels and words, truncated and oversized payloads, wrong
//! versions, unknown ops and interfaces. Every one must be answered with a transport error
//! (`IpcError`) and no server may stop: afterwards each still answers a well-formed request.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, set_mrs};
use ipc_schema::{IpcError, console, kv, label, name, supervisor, timer};
use test_support::Checks;

axolotl_rt::declare_server!(main);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Sends one raw message; returns the reply label (or `None` if the kernel refused the call).
fn raw(ep: Cap<Endpoint>, label: u64, words: &[u64]) -> Option<u64> {
    set_mrs(words);
    ep.call(MessageInfo::new(label, 0, words.len()))
        .ok()
        .map(|(info, _)| info.label())
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("hostile");
    let targets: [(&str, u16, u8); 5] = [
        ("console", console::v1::INTERFACE, 1),
        ("timer", timer::v1::INTERFACE, 1),
        ("name", name::v1::INTERFACE, 1),
        ("kv", kv::v2::INTERFACE, 2),
        ("supervisor", supervisor::v1::INTERFACE, 1),
    ];
    let mut rng = Rng(0xbad_cafe_f00d_0001);
    for (who, interface, version) in targets {
        let Some(ep) = server.client(who) else {
            c.fail(who, "no capability");
            continue;
        };
        let mut answered = 0;
        let mut errors = 0;
        let mut well_formed_replies = 0;
        let total = 300;
        for i in 0..total {
            let mut words = [0u64; 120];
            for w in words.iter_mut() {
                *w = rng.next();
            }
            let (lbl, len) = match i % 6 {
                // Random label and words.
                0 => (rng.next() >> 12, (rng.next() % 121) as usize),
                // The right interface and version, a random op, random words.
                1 => (
                    label(interface, version, (rng.next() % 16) as u16),
                    (rng.next() % 121) as usize,
                ),
                // A known op with a truncated payload (no words).
                2 => (label(interface, version, 0), 0),
                // A known op, oversized garbage.
                3 => (label(interface, version, (rng.next() % 4) as u16), 120),
                // Wrong version.
                4 => (label(interface, version.wrapping_add(7), 0), 2),
                // Unknown interface.
                _ => (label(0x7ee7, 1, 0), 1),
            };
            match raw(ep, lbl, &words[..len]) {
                Some(reply) => {
                    answered += 1;
                    if IpcError::from_code(reply).is_some() {
                        errors += 1;
                    }
                    if reply == 0 || IpcError::from_code(reply).is_some() {
                        well_formed_replies += 1;
                    }
                }
                None => {}
            }
        }
        c.check(
            answered == total,
            format_args!("{who} answers all {total} hostile messages"),
            format_args!("{answered}"),
        );
        // Some random messages happen to be valid requests (an op without arguments); every
        // reply is either a delivered result or a transport error.
        c.check(
            well_formed_replies == total && errors * 2 >= total,
            format_args!("{who} rejects them with transport errors"),
            format_args!("{errors} errors, {well_formed_replies} well-formed replies of {total}"),
        );
    }
    // Every server still serves well-formed requests.
    if let Some(ep) = server.client("kv") {
        let kv = kv::v2::Client::new(ep);
        let key = kv::v2::Key::try_from("still").unwrap_or_default();
        let value = kv::v2::Value::from_slice(b"here").unwrap_or_default();
        let ok =
            kv.put(key.clone(), value.clone(), None).is_ok() && kv.get(key).ok() == Some(value);
        c.check(ok, "kv still serves", "put/get");
    }
    if let Some(ep) = server.client("timer") {
        c.check(
            timer::v1::Client::new(ep).now().is_ok(),
            "timer still serves",
            "now",
        );
    }
    if let Some(ep) = server.client("name") {
        c.check(
            name::v1::Client::new(ep).list(0).is_ok(),
            "name still serves",
            "list",
        );
    }
    if let Some(ep) = server.client("supervisor") {
        c.check(
            supervisor::v1::Client::new(ep).list(0).is_ok(),
            "supervisor still serves",
            "list",
        );
    }
    if let Some(ep) = server.client("console") {
        let line =
            console::v1::Bytes::from_slice(b"hostile: console still writes\n").unwrap_or_default();
        c.check(
            console::v1::Client::new(ep).write(line).is_ok(),
            "console still serves",
            "write",
        );
    }
    // With a partner that keeps calling kv meanwhile (`honest-client`), tell it how this side
    // went and let it report and power off; alone, finish here.
    match server.client("honest") {
        Some(honest) => {
            if c.failures() == 0 {
                axolotl_rt::debug_println!("PASS hostile");
            } else {
                axolotl_rt::debug_println!("FAIL hostile: {} checks failed", c.failures());
            }
            axolotl_rt::set_mrs(&[u64::from(c.failures())]);
            let _ = honest.call(MessageInfo::new(0, 0, 1));
        }
        None => c.finish(server),
    }
}
