//! The partner of the `revoke` scenario. It receives a capability to endpoint `rv` from the
//! revoker (transferred with `GIVE` on its own endpoint `partner`), then serves `rv` through it:
//! every `PING` is answered with the badge it arrived with as the label, and whether the
//! partner's own copy of `rv` is still valid. When its copy is revoked, its next receive fails
//! and it stops.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::ipc_buffer::set_receive_slot;
use axolotl_rt::{Cap, Endpoint, Error, MessageInfo, ServerInfo, debug_println, reply, set_mr};
use test_support::revoke_protocol::{GIVE, PING};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let (Some(own), Some(slot)) = (server.endpoint("partner"), server.empty_slots().next()) else {
        debug_println!("FAIL revoke: the partner lacks its endpoint or a free slot");
        return;
    };
    set_receive_slot(0, slot);
    match own.recv() {
        Ok((info, _)) if info.label() == GIVE && info.extra_caps() == 1 => {
            let _ = reply(MessageInfo::new(0, 0, 0));
        }
        Ok((info, _)) => {
            debug_println!("FAIL revoke: the partner got {info:?} instead of a capability");
            let _ = reply(MessageInfo::new(1, 0, 0));
            return;
        }
        Err(e) => {
            debug_println!("FAIL revoke: the partner cannot receive: {e}");
            return;
        }
    }
    set_receive_slot(0, 0);
    let rv = Cap::<Endpoint>::from_cptr(slot);
    loop {
        let (info, badge) = match rv.recv() {
            Ok(m) => m,
            Err(Error::InvalidCapability) => {
                debug_println!("partner: its copy of rv is gone; it stops");
                return;
            }
            Err(e) => {
                debug_println!("FAIL revoke: the partner cannot receive on rv: {e}");
                return;
            }
        };
        if info.label() != PING {
            let _ = reply(MessageInfo::new(u64::MAX >> 12, 0, 0));
            continue;
        }
        // Nobody else receives on rv, so a send drops the message if the capability is valid.
        let valid = rv.nb_send(MessageInfo::new(0, 0, 0)).is_ok();
        set_mr(0, u64::from(valid));
        let _ = reply(MessageInfo::new(badge, 0, 1));
    }
}
