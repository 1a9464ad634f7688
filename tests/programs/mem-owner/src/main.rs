//! The owner of the `memory-isolation` scenario: it has one heap page at `SERVER_HEAP_VADDR`
//! (the victim has none), stores `OWNER_WORD` in its first word and answers `READ_HEAP` calls on
//! endpoint `owner` with that word as it is now, so the checker can see that the victim's stores
//! never landed and that the owner still serves after the victim's faults.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{MessageInfo, ServerInfo, debug_println, fault, set_mr};
use test_support::mem_protocol::{OWNER_WORD, READ_HEAP};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(ep) = server.endpoint("owner") else {
        debug_println!("FAIL memory-isolation: owner has no endpoint 'owner'");
        return;
    };
    let heap = server.heap();
    if heap.end - heap.start < 8 {
        debug_println!("FAIL memory-isolation: owner has no heap");
        return;
    }
    // The heap is memory this program owns and Rust code never uses otherwise.
    fault::write_u64(heap.start, OWNER_WORD);
    debug_println!("owner: heap word at {:#x} is {OWNER_WORD:#x}", heap.start);
    let mut request = ep.recv();
    loop {
        let reply = match request {
            Ok((info, _)) if info.label() == READ_HEAP => {
                set_mr(0, fault::read_u64(heap.start));
                MessageInfo::new(0, 0, 1)
            }
            Ok(_) => MessageInfo::new(1, 0, 0),
            Err(e) => {
                debug_println!("FAIL memory-isolation: owner cannot receive: {e}");
                return;
            }
        };
        request = ep.reply_recv(reply);
    }
}
