//! The broker of the `cap-transfer` scenario: it may call `oracle` (a badged capability, badge
//! 1 + its index) and answers every `GET_ORACLE` call on endpoint `broker` with that capability
//! attached to the reply (`extra_caps = 1`) and one word.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_buffer::set_cap;
use axolotl_rt::{MessageInfo, ServerInfo, debug_println, set_mr};
use test_support::cap_protocol::{BROKER_WORD, GET_ORACLE};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let (Some(ep), Some(oracle)) = (server.endpoint("broker"), server.client("oracle")) else {
        debug_println!("FAIL cap-transfer: broker lacks its endpoint or the oracle capability");
        return;
    };
    let mut request = ep.recv();
    loop {
        let reply = match request {
            Ok((info, _)) if info.label() == GET_ORACLE => {
                set_mr(0, BROKER_WORD);
                set_cap(0, oracle.cptr());
                MessageInfo::new(0, 1, 1)
            }
            Ok(_) => MessageInfo::new(1, 0, 0),
            Err(e) => {
                debug_println!("FAIL cap-transfer: broker cannot receive: {e}");
                return;
            }
        };
        request = ep.reply_recv(reply);
    }
}
