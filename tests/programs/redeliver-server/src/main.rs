//! A transactional server whose requests fault once: before handling a request it asks
//! `fault-oracle` whether to fault (yes the first time for each label) and, if so, dereferences
//! null after writing its state. It answers every request it completes with label 0 and the number
//! of requests it has completed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, MessageInfo, ServerInfo, get_mr, set_mr, set_mrs};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let (Some(ep), Some(oracle)) = (
        server
            .endpoints()
            .first()
            .map(|e| Cap::<axolotl_rt::Endpoint>::from_cptr(e.cptr)),
        server.client("oracle"),
    ) else {
        return;
    };
    let mut completed: u64 = 0;
    let mut request = ep.recv();
    while let Ok((message, _)) = request {
        completed += 1;
        set_mrs(&[message.label()]);
        let fault = oracle.call(MessageInfo::new(0, 0, 1)).is_ok() && get_mr(0) == 1;
        if fault {
            let v = axolotl_rt::fault::null_dereference();
            set_mr(1, v);
        }
        set_mr(0, completed);
        request = ep.reply_recv(MessageInfo::new(0, 0, 1));
    }
}
