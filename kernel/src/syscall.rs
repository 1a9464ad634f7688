//! System-call dispatch: the entry point of every `svc`/`syscall` from user mode.

use crate::arch::{Architecture, Cpu};
use crate::cspace;
use crate::invocation;
use crate::ipc;
use crate::object::Cap;
use crate::sched::{self, Reschedule};
use crate::tcb::{Fault, PendingSend, TcbPtr, tcb_mut};
use axolotl_abi::{CapRights, Error, FaultKind, MessageInfo, Syscall};

/// Handles system call `number` of the current thread `cur`.
pub fn handle(cur: TcbPtr, number: u64) {
    let t = tcb_mut(cur);
    t.ctx.set_status(0);
    let Some(sc) = Syscall::from_u64(number) else {
        let pc = t.ctx.pc;
        ipc::raise_fault(
            cur,
            Fault {
                kind: FaultKind::UnknownSyscall,
                words: [pc, number, 0, 0],
            },
        );
        return;
    };
    if let Err(e) = dispatch(cur, sc) {
        tcb_mut(cur).ctx.set_status(e as u64);
    }
}

fn dispatch(cur: TcbPtr, sc: Syscall) -> Result<(), Error> {
    let t = tcb_mut(cur);
    match sc {
        Syscall::Call | Syscall::Send | Syscall::NBSend => {
            let (slot, cap) = cspace::lookup_cap(t, t.ctx.cptr())?;
            match cap {
                Cap::Endpoint { ep, badge, rights } => {
                    let rights = CapRights(rights as u64);
                    if !rights.contains(CapRights::WRITE) {
                        return Err(Error::InvalidCapability);
                    }
                    let pending = PendingSend {
                        badge,
                        is_call: sc == Syscall::Call,
                        can_grant: rights.contains(CapRights::GRANT),
                    };
                    ipc::send(cur, ep, pending, sc != Syscall::NBSend);
                }
                Cap::Notification {
                    ntfn,
                    badge,
                    rights,
                } => {
                    if sc == Syscall::Call || !CapRights(rights as u64).contains(CapRights::WRITE) {
                        return Err(Error::InvalidCapability);
                    }
                    ipc::signal(ntfn, badge);
                }
                _ => {
                    let info = MessageInfo(t.ctx.info());
                    let result = invocation::invoke(cur, slot, cap, info);
                    if sc == Syscall::Call {
                        write_reply(cur, result);
                    }
                }
            }
        }
        Syscall::Recv | Syscall::NBRecv => receive(cur, t.ctx.cptr(), sc == Syscall::Recv)?,
        Syscall::ReplyRecv => {
            // Check the receive capability first so that a bad one leaves the reply unsent.
            cspace::lookup_cap(t, t.ctx.cptr())?;
            ipc::reply(cur);
            receive(cur, t.ctx.cptr(), true)?;
        }
        Syscall::Reply => ipc::reply(cur),
        Syscall::Yield => sched::request(Reschedule::Rotate),
        Syscall::DebugPutChar => crate::klog::putc(t.ctx.cptr() as u8),
        Syscall::TxVerify => {
            let digest = t.ctx.mr(0);
            crate::txregion::verify(cur, digest)?
        }
        Syscall::DebugWrite => {
            // Up to 40 bytes in registers: the info word, then MR0..3; the length in word0.
            let words = [
                t.ctx.info(),
                t.ctx.mr(0),
                t.ctx.mr(1),
                t.ctx.mr(2),
                t.ctx.mr(3),
            ];
            let len = (t.ctx.cptr() as usize).min(words.len() * 8);
            for i in 0..len {
                crate::klog::putc((words[i / 8] >> (8 * (i % 8))) as u8);
            }
        }
    }
    Ok(())
}

fn receive(cur: TcbPtr, cptr: u64, blocking: bool) -> Result<(), Error> {
    // The thread is done with its request (or its start-up): keep what it wrote.
    crate::txregion::commit_thread(cur);
    let (_, cap) = cspace::lookup_cap(tcb_mut(cur), cptr)?;
    match cap {
        Cap::Endpoint { ep, rights, .. } if CapRights(rights as u64).contains(CapRights::READ) => {
            ipc::receive(cur, ep, blocking)
        }
        Cap::Notification { ntfn, rights, .. }
            if CapRights(rights as u64).contains(CapRights::READ) =>
        {
            ipc::wait(cur, ntfn, blocking)
        }
        _ => return Err(Error::InvalidCapability),
    }
    Ok(())
}

/// Writes an invocation's outcome into the invoker's registers (and IPC buffer past MR3).
fn write_reply(cur: TcbPtr, result: Result<invocation::Results, Error>) {
    let t = tcb_mut(cur);
    match result {
        Ok(r) => {
            for (i, w) in r.words[..r.len].iter().enumerate() {
                if i < 4 {
                    t.ctx.set_mr(i, *w);
                } else if let Some(buf) = t.ipc_buffer() {
                    buf.msg[i] = *w;
                }
            }
            t.ctx.set_info(MessageInfo::new(0, 0, r.len).0);
        }
        Err(e) => t.ctx.set_info(MessageInfo::new(e as u64, 0, 0).0),
    }
}

/// Halts the machine when the kernel cannot go on (a kernel bug).
pub fn fatal(msg: core::fmt::Arguments) -> ! {
    log::error!("{msg}");
    Cpu::poweroff(255)
}
