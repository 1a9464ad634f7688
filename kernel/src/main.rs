//! The Axolotl microkernel.
//!
//! seL4's object model and system calls (non-MCS), written in Rust: capabilities in CNodes with a
//! derivation tree, Untyped memory retyped into every object, synchronous IPC over endpoints,
//! notifications, one page-table tree per address space, faults delivered as IPC. No policy: the
//! root task and the servers decide everything else.
//!
//! Data flow of one kernel entry: `arch::*::trap` saves the thread's registers into its TCB and
//! calls [`trap::handle_exception`], which dispatches to [`syscall`], [`irq`] or a fault
//! ([`ipc::raise_fault`]); everything ends in [`sched::exit`], which picks the next thread and
//! returns to user mode. The kernel is not preemptible and runs with interrupts masked.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod arch;
mod boot;
mod cspace;
mod fastpath;
mod inject;
mod invariants;
mod invocation;
mod ipc;
mod irq;
mod klog;
mod object;
mod sched;
mod snapshot;
mod state;
mod syscall;
mod tcb;
mod trap;
mod txregion;
mod vspace;

/// Entered from the boot stub on the kernel stack, with the MMU on.
#[unsafe(no_mangle)]
extern "C" fn kmain(boot_arg: u64) -> ! {
    klog::init();
    boot::boot(boot_arg)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    klog::write_fmt(format_args!("\n[kernel PANIC] {info}\n"));
    <arch::Cpu as arch::Architecture>::poweroff(255)
}
