//! The scheduler: fixed priorities, round robin within a priority, a timer-driven time slice.
//!
//! The current thread is never in a ready queue; every other runnable thread is. Each kernel entry
//! ends in [`exit`], which picks the thread to run (the current one unless something asked for a
//! new choice), switches address space if needed, and returns to user mode.

use crate::arch::{Architecture, Cpu, UserContext, exit_to_user};
use crate::ipc;
use crate::state::kernel;
use crate::tcb::{TcbPtr, ThreadState, tcb_mut};
use axolotl_kcore::queue::{QueueLinks, QueueStore};

/// The intrusive queue links of TCBs (shared by ready queues and endpoint/notification queues: a
/// thread is in at most one queue).
pub struct Tcbs;

impl QueueStore for Tcbs {
    type Id = TcbPtr;
    fn qlinks(&self, id: TcbPtr) -> QueueLinks<TcbPtr> {
        tcb_mut(id).qlinks
    }
    fn set_qlinks(&mut self, id: TcbPtr, l: QueueLinks<TcbPtr>) {
        tcb_mut(id).qlinks = l;
    }
}

/// Why the current thread should give way at the next exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reschedule {
    /// Keep running the current thread if it is still runnable.
    No,
    /// A higher-priority thread became runnable: the current one goes to the front of its queue.
    Preempted,
    /// The time slice ran out or the thread yielded: it goes to the back of its queue.
    Rotate,
}

/// Makes a blocked thread runnable.
pub fn wake(t: TcbPtr) {
    let k = kernel();
    let tcb = tcb_mut(t);
    tcb.state = ThreadState::Running;
    k.ready.enqueue(&mut Tcbs, tcb.priority, t);
    let cur = tcb_mut(k.current);
    if tcb.priority > cur.priority || !cur.is_runnable() {
        request(Reschedule::Preempted);
    }
}

/// Asks for a new choice of thread at the next exit.
pub fn request(r: Reschedule) {
    let k = kernel();
    if k.reschedule != Reschedule::Rotate {
        k.reschedule = r;
    }
}

/// Stops a thread from running: out of its queue or IPC, state Inactive.
pub fn suspend(t: TcbPtr) {
    ipc::cancel_ipc(t);
    let k = kernel();
    let tcb = tcb_mut(t);
    if tcb.is_runnable() && t != k.current {
        k.ready.remove(&mut Tcbs, tcb.priority, t);
    }
    tcb.state = ThreadState::Inactive;
    if t == k.current {
        request(Reschedule::Preempted);
    }
}

/// Makes a suspended thread runnable again.
pub fn resume(t: TcbPtr) {
    if tcb_mut(t).state == ThreadState::Inactive {
        wake(t);
    }
}

/// Changes a thread's priority, moving it between ready queues.
pub fn set_priority(t: TcbPtr, prio: u8) {
    let k = kernel();
    let tcb = tcb_mut(t);
    if tcb.is_runnable() && t != k.current {
        k.ready.remove(&mut Tcbs, tcb.priority, t);
        tcb.priority = prio;
        k.ready.enqueue(&mut Tcbs, prio, t);
    } else {
        tcb.priority = prio;
    }
    request(Reschedule::Preempted);
}

/// Called when the last capability to a TCB goes: the thread leaves every queue and relation.
pub fn destroy_thread(t: TcbPtr) {
    suspend(t);
    let _ = crate::txregion::bind(t, None);
    let tcb = tcb_mut(t);
    if let Some(ntfn) = tcb.bound_notification.take() {
        // SAFETY: a bound notification stays alive while bound (its finalisation unbinds it).
        unsafe { (*ntfn.as_ptr()).bound = None };
    }
}

/// Returns to user mode in `next`, a runnable thread chosen by the IPC fast path to run instead
/// of the current one (which has blocked) and of every ready thread.
pub fn switch_to(next: TcbPtr) -> ! {
    kernel().current = next;
    enter(next)
}

/// Installs `t`'s address space and returns to user mode in it.
fn enter(t: TcbPtr) -> ! {
    let k = kernel();
    let tcb = tcb_mut(t);
    if t != k.idle {
        let (root, asid) = tcb.vspace().unwrap_or((k.empty_vspace, 0));
        if (root, asid) != k.loaded_vspace {
            Cpu::switch_vspace(root, asid);
            k.loaded_vspace = (root, asid);
        }
    }
    let ctx: *mut UserContext = &mut tcb.ctx;
    // SAFETY: `ctx` is the context of the thread just made current, inside a live TCB (or the
    // static idle TCB), and its address space (or the empty one) is installed.
    unsafe { exit_to_user(ctx) }
}

/// Picks the thread to run and returns to user mode in it.
pub fn exit() -> ! {
    let k = kernel();
    let cur = k.current;
    let reschedule = core::mem::replace(&mut k.reschedule, Reschedule::No);
    let cur_tcb = tcb_mut(cur);
    let keep = cur_tcb.is_runnable() && reschedule == Reschedule::No;
    if !keep {
        if cur_tcb.is_runnable() {
            match reschedule {
                Reschedule::Rotate => k.ready.enqueue(&mut Tcbs, cur_tcb.priority, cur),
                _ => k.ready.enqueue_front(&mut Tcbs, cur_tcb.priority, cur),
            }
        }
        k.current = match k.ready.highest() {
            Some((prio, next)) => {
                k.ready.remove(&mut Tcbs, prio, next);
                next
            }
            None => k.idle,
        };
    }
    enter(k.current)
}
