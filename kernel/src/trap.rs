//! The arch-neutral half of every kernel entry: decode, handle, schedule, return to user mode.

use crate::arch::{Architecture, Cpu, EntryKind, SyncCause, UserContext};
use crate::state::kernel;
use crate::tcb::{Fault, tcb_mut};
use crate::txregion::{self, WriteFault};
use crate::{fastpath, inject, ipc, irq, sched, syscall};
use axolotl_abi::FaultKind;
use axolotl_abi::fault::{FAULT_FLAG_USER_MAPPING_PRESENT, FAULT_FLAG_WRITE};

/// Called by the architecture's vectors with the saved context of the current thread. A system
/// call the IPC fast path can take never reaches the general path (and its stack frame).
pub fn handle_exception(ctx: *mut UserContext, kind: EntryKind) -> ! {
    if kind == EntryKind::Sync {
        let k = kernel();
        if k.current != k.idle
            && let Some(n) = Cpu::syscall_number(&tcb_mut(k.current).ctx)
        {
            fastpath::try_syscall(k.current, n);
        }
    }
    handle_general(ctx, kind)
}

#[inline(never)]
fn handle_general(_ctx: *mut UserContext, kind: EntryKind) -> ! {
    let k = kernel();
    let cur = k.current;
    match kind {
        EntryKind::Irq => irq::handle(),
        EntryKind::Sync if cur == k.idle => syscall::fatal(format_args!(
            "kernel: the idle thread took a synchronous exception"
        )),
        EntryKind::Sync => match Cpu::sync_cause(&tcb_mut(cur).ctx) {
            SyncCause::Syscall(n) => syscall::handle(cur, n),
            SyncCause::Fault {
                kind,
                address,
                syndrome,
                flags,
            } => {
                if let Some(trap_pc) = Cpu::inject_trap_pc(&tcb_mut(cur).ctx)
                    && let inject::Hit::Resume = inject::hit(cur, trap_pc)
                {
                    sched::exit();
                }
                let pc = tcb_mut(cur).ctx.pc;
                let mut fault = Fault {
                    kind,
                    words: [pc, address, syndrome, flags],
                };
                // A first write to a transactional page is not a fault.
                if kind == FaultKind::PageFault
                    && flags & FAULT_FLAG_WRITE != 0
                    && flags & FAULT_FLAG_USER_MAPPING_PRESENT != 0
                {
                    match txregion::write_fault(cur, address) {
                        WriteFault::Resolved => sched::exit(),
                        WriteFault::PoolExhausted => fault.kind = FaultKind::TxPoolExhausted,
                        WriteFault::NotOurs => {}
                    }
                }
                ipc::raise_fault(cur, fault);
            }
        },
        EntryKind::SError => {
            let pc = tcb_mut(cur).ctx.pc;
            ipc::raise_fault(
                cur,
                Fault {
                    kind: FaultKind::Other,
                    words: [pc, 0, 0, 0],
                },
            );
        }
    }
    sched::exit()
}
