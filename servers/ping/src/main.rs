//! ping: the calling half of the ping/pong demo.
//!
//! Calls endpoint `pong` five times with the values 21..=25, checks each reply (label + 1, value
//! doubled), logs `ping: sent 21, got 42 (badge B)` where B is the badge pong saw, then
//! `ping: done` and returns (the runtime then suspends the thread). If the image grants it the
//! system-control capability, it powers the machine off with status 0 instead of returning.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, get_mr, set_mr};
use log::{error, info};

axolotl_rt::declare_server!(main);

const ROUNDS: u64 = 5;
const FIRST_VALUE: u64 = 21;

fn main(server: &'static ServerInfo) {
    let Some(pong) = server.client("pong") else {
        error!("ping: no capability to call 'pong' was granted");
        return;
    };
    for round in 0..ROUNDS {
        let value = FIRST_VALUE + round;
        let label = round + 1;
        set_mr(0, value);
        let (reply, _) = match pong.call(MessageInfo::new(label, 0, 1)) {
            Ok(reply) => reply,
            Err(e) => {
                error!("ping: call {label} to pong failed: {e}");
                return;
            }
        };
        let (got, badge) = (get_mr(0), get_mr(1));
        if reply.label() != label + 1 || reply.length() < 2 || got != value * 2 {
            error!(
                "ping: sent {value} with label {label}, got {got} with label {} and length {} \
                 (expected {} with label {})",
                reply.label(),
                reply.length(),
                value * 2,
                label + 1
            );
            return;
        }
        info!("ping: sent {value}, got {got} (badge {badge})");
    }
    info!("ping: done");
    if let Some(sys_control) = server.sys_control() {
        info!("ping: powering off");
        sys_control.poweroff(0);
    }
}
