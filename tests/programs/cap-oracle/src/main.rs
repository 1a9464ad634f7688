//! The third server of the `cap-transfer` scenario: it answers `ASK [x]` on endpoint `oracle`
//! with `answer(x)`, the label being the badge it saw (so callers learn whose capability they
//! used).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, debug_println, get_mr, set_mr};
use test_support::cap_protocol::{ASK, answer};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(ep) = server.endpoint("oracle") else {
        debug_println!("FAIL cap-transfer: oracle has no endpoint 'oracle'");
        return;
    };
    let mut request = ep.recv();
    loop {
        let reply = match request {
            Ok((info, badge)) if info.label() == ASK && info.length() == 1 => {
                set_mr(0, answer(get_mr(0)));
                MessageInfo::new(badge, 0, 1)
            }
            Ok(_) => MessageInfo::new(0, 0, 0),
            Err(e) => {
                debug_println!("FAIL cap-transfer: oracle cannot receive: {e}");
                return;
            }
        };
        request = ep.reply_recv(reply);
    }
}
