//! A plain server for scenarios that need "another server" to show that the system still
//! serves: on its first endpoint it answers every call with the caller's badge as the label and
//! each word of the message inverted (`!w`), with the same length.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, debug_println, get_mr, set_mr};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(ep) = server
        .endpoints()
        .first()
        .map(|e| axolotl_rt::Cap::from_cptr(e.cptr))
    else {
        debug_println!("FAIL test-echo: '{}' has no endpoint", server.name());
        return;
    };
    let ep: axolotl_rt::Cap<axolotl_rt::Endpoint> = ep;
    let mut request = ep.recv();
    loop {
        let (info, badge) = match request {
            Ok(m) => m,
            Err(e) => {
                debug_println!("FAIL test-echo: '{}' cannot receive: {e}", server.name());
                return;
            }
        };
        let length = info.length();
        for i in 0..length {
            set_mr(i, !get_mr(i));
        }
        request = ep.reply_recv(MessageInfo::new(badge, 0, length));
    }
}
