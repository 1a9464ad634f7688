//! The victim of the `memory-isolation` scenario: it has no heap, and its fault handler is
//! `mem-checker` (endpoint `checker`, which it also calls). It announces the pcs of its store and
//! load, makes every access of `mem_protocol::ACCESSES` (each faults; the checker resumes it past
//! the instruction), then reports whether its registers survived, whether every load produced
//! nothing, and whether its read-only server-info page is unchanged.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::server_info::{SERVER_INFO_MAGIC, SERVER_INFO_VADDR};
use axolotl_rt::{ServerInfo, debug_println, fault, set_mrs};
use test_support::mem_protocol::{ACCESSES, DONE, HELLO, VICTIM_WORD};
use test_support::msg;

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let Some(checker) = server.client("checker") else {
        debug_println!("FAIL memory-isolation: victim cannot call 'checker'");
        return;
    };
    set_mrs(&[fault::write_u64_pc(), fault::read_u64_pc()]);
    if let Err(e) = checker.call(msg(HELLO, 2)) {
        debug_println!("FAIL memory-isolation: victim's hello failed: {e}");
        return;
    }
    let (mut intact, mut unread) = (true, true);
    for access in &ACCESSES {
        debug_println!("victim: {} at {:#x}", access.what, access.address);
        if access.write {
            // The store cannot land anywhere: the address is not the victim's to write.
            fault::write_u64(access.address, VICTIM_WORD);
        } else {
            let value = fault::read_u64(access.address);
            if value != fault::UNREAD {
                debug_println!("victim: the read produced {value:#x}");
                unread = false;
            }
        }
        intact &= fault::registers_intact();
    }
    // The write at SERVER_INFO_VADDR aimed at the page's magic number: it must be unchanged.
    let info_intact = fault::read_u64(SERVER_INFO_VADDR) == SERVER_INFO_MAGIC;
    debug_println!("victim: survived every access");
    set_mrs(&[u64::from(intact), u64::from(unread), u64::from(info_intact)]);
    if let Err(e) = checker.call(msg(DONE, 3)) {
        debug_println!("FAIL memory-isolation: victim's report failed: {e}");
    }
}
