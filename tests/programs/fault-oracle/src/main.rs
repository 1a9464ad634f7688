//! Tells `redeliver-server` whether to fault: "yes" the first time it asks about a label, "no"
//! after; "yes" always for labels whose op number is 2 or more (requests that can never succeed). Calls to another server are not undone by an abort, so this is how a test makes a
//! transient fault: one that a re-delivered request does not meet again.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, MessageInfo, ServerInfo, get_mr, set_mr};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(ep) = server
        .endpoints()
        .first()
        .map(|e| Cap::<axolotl_rt::Endpoint>::from_cptr(e.cptr))
    else {
        return;
    };
    let mut seen: [u64; 8] = [u64::MAX; 8];
    let mut request = ep.recv();
    while let Ok(_) = request {
        let label = get_mr(0);
        let first = !seen.contains(&label) || label & 0xffff >= 2;
        if first && let Some(free) = seen.iter_mut().find(|s| **s == u64::MAX) {
            *free = label;
        }
        set_mr(0, u64::from(first));
        request = ep.reply_recv(MessageInfo::new(0, 0, 1));
    }
}
