//! The server half of the IPC benchmark: answers every call at once with the words it got.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(endpoint) = server.endpoint("bench") else {
        log::error!("bench-ipc-server: no endpoint 'bench'");
        return;
    };
    let mut request = endpoint.recv();
    loop {
        let (message, _) = match request {
            Ok(received) => received,
            Err(e) => {
                log::error!("bench-ipc-server: receive failed: {e}");
                return;
            }
        };
        // Echo the length: the reply carries the same message registers back.
        request = endpoint.reply_recv(MessageInfo::new(0, 0, message.length()));
    }
}
