//! pong: the answering half of the ping/pong demo.
//!
//! Receives on endpoint `pong` and answers every request with label = request label + 1,
//! MR0 = request MR0 * 2 and MR1 = the badge the request carried (so the caller can see which
//! badge the kernel delivered). Logs `pong: request N from badge B` for each.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, get_mr, set_mr};
use log::{error, info};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(endpoint) = server.endpoint("pong") else {
        error!("pong: no endpoint 'pong' was granted");
        return;
    };
    let mut request = endpoint.recv();
    let mut count: u64 = 0;
    loop {
        let (message, badge) = match request {
            Ok(received) => received,
            Err(e) => {
                error!("pong: receive failed: {e}");
                return;
            }
        };
        count += 1;
        info!("pong: request {count} from badge {badge}");
        set_mr(0, get_mr(0).wrapping_mul(2));
        set_mr(1, badge);
        let reply = MessageInfo::new(message.label().wrapping_add(1), 0, 2);
        request = endpoint.reply_recv(reply);
    }
}
