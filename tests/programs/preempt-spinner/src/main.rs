//! The spinner of the `preemption` scenario: after one line of output it spins forever without
//! a single system call. Only the kernel's timer can take the CPU from it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{ServerInfo, debug_println};

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    debug_println!("{}: spinning without system calls", server.name());
    loop {
        core::hint::spin_loop();
    }
}
