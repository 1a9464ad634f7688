//! The server of the `confinement` scenario the prisoner has no capability to: it counts every
//! message on endpoint `counter` other than the checker's `QUERY`, and answers `QUERY` with the
//! count and the badge of the last request counted.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, debug_println, set_mrs};
use test_support::confine_protocol::QUERY;

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(ep) = server.endpoint("counter") else {
        debug_println!("FAIL confinement: counter has no endpoint 'counter'");
        return;
    };
    let (mut count, mut last_badge) = (0u64, 0u64);
    let mut request = ep.recv();
    loop {
        let reply = match request {
            Ok((info, _)) if info.label() == QUERY => {
                set_mrs(&[count, last_badge]);
                MessageInfo::new(0, 0, 2)
            }
            Ok((_, badge)) => {
                count += 1;
                last_badge = badge;
                debug_println!("counter: request {count} from badge {badge}");
                MessageInfo::new(0, 0, 0)
            }
            Err(e) => {
                debug_println!("FAIL confinement: counter cannot receive: {e}");
                return;
            }
        };
        request = ep.reply_recv(reply);
    }
}
