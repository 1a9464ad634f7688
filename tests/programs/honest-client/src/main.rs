//! The well-behaved client of the `hostile-messages` scenario: while `hostile-client` sends
//! garbage to every server, it keeps storing and reading back keys in the key-value store (at the
//! same priority, so the two interleave) and checks every answer. When the hostile client is done
//! it calls this one's endpoint with its failure count; this one then reports both and powers
//! off. Serving others while being attacked is the point: no honest request may fail.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, get_mr, reply};
use ipc_schema::kv;
use test_support::Checks;

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("honest");
    let (Some(kv_ep), Some(done)) = (
        server.client("kv"),
        server
            .endpoints()
            .first()
            .map(|e| Cap::<Endpoint>::from_cptr(e.cptr)),
    ) else {
        c.fail("setup", "needs a kv client capability and an endpoint");
        return c.finish(server);
    };
    let kv = kv::v2::Client::new(kv_ep);
    let (mut ok, mut wrong) = (0u64, 0u64);
    let mut hostile_failures = None;
    let mut i = 0u64;
    // Until the hostile client reports (or a bound, so that a lost report cannot hang the run).
    while hostile_failures.is_none() && i < 1_000_000 {
        let mut name: heapless::String<24> = heapless::String::new();
        let _ = core::fmt::write(&mut name, format_args!("honest-{}", i % 32));
        let key = kv::v2::Key::try_from(name.as_str()).unwrap_or_default();
        let value = kv::v2::Value::from_slice(&i.to_le_bytes()).unwrap_or_default();
        let stored = kv.put(key.clone(), value.clone(), None).is_ok();
        if stored && kv.get(key).ok() == Some(value) {
            ok += 1;
        } else {
            wrong += 1;
        }
        if let Ok((_, _)) = done.nb_recv() {
            hostile_failures = Some(get_mr(0));
            let _ = reply(MessageInfo::new(0, 0, 0));
        }
        i += 1;
    }
    c.check(
        hostile_failures.is_some(),
        "the hostile client finished while this one was calling",
        format_args!("{ok} pairs answered"),
    );
    c.check(
        wrong == 0 && ok > 0,
        "every honest put and get was answered right while hostile messages flowed",
        format_args!("{ok} right, {wrong} wrong"),
    );
    c.check_eq(
        "the hostile client's own checks",
        hostile_failures.unwrap_or(u64::MAX),
        0,
    );
    c.finish(server);
}
