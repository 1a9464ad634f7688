//! Synchronous IPC over endpoints, notifications, replies and fault delivery.
//!
//! An endpoint's queue holds either senders or receivers (the head's state says which). A `Call`
//! leaves the caller BlockedOnReply with the receiver holding the one-shot reply right
//! (`Tcb::caller`); `Reply` consumes it. A fault is delivered the same way: the faulting thread
//! "calls" its fault endpoint with a fault message instead of its registers, and the reply resumes
//! it without touching its registers.

use crate::cspace::{self, slot_ref};
use crate::object::{Cap, Endpoint, Notification};
use crate::sched::{self, Tcbs};
use crate::tcb::{PendingSend, Tcb, TcbPtr, ThreadState, tcb_mut};
use axolotl_abi::message::{MSG_MAX_LENGTH, MSG_REGISTERS_IN_CPU};
use axolotl_abi::{CapRights, Error, MessageInfo};
use core::ptr::NonNull;

#[allow(clippy::mut_from_ref)]
fn ep_mut(ep: NonNull<Endpoint>) -> &'static mut Endpoint {
    // SAFETY: endpoints named by capabilities or by a blocked thread's state are live (the last
    // capability's deletion empties the queue first); one kernel path at a time.
    unsafe { &mut *ep.as_ptr() }
}

#[allow(clippy::mut_from_ref)]
fn ntfn_mut(n: NonNull<Notification>) -> &'static mut Notification {
    // SAFETY: as for endpoints.
    unsafe { &mut *n.as_ptr() }
}

/// Sends from `sender` on `ep`. With `blocking`, waits for a receiver; otherwise drops the message
/// when none waits.
pub fn send(sender: TcbPtr, ep: NonNull<Endpoint>, pending: PendingSend, blocking: bool) {
    let e = ep_mut(ep);
    if let Some(head) = e.queue.head
        && matches!(tcb_mut(head).state, ThreadState::BlockedOnRecv(_))
    {
        e.queue.pop_front(&mut Tcbs);
        deliver(sender, head, pending, ep);
        return;
    }
    if blocking {
        let s = tcb_mut(sender);
        s.pending = pending;
        s.state = ThreadState::BlockedOnSend(ep);
        e.queue.push_back(&mut Tcbs, sender);
        sched::request(sched::Reschedule::Preempted);
    }
}

/// Receives on `ep` into `receiver`. A signal pending on the receiver's bound notification is
/// delivered first. Without `blocking` and with nothing to receive, returns at once with an empty
/// message and badge 0.
pub fn receive(receiver: TcbPtr, ep: NonNull<Endpoint>, blocking: bool) {
    let r = tcb_mut(receiver);
    if let Some(n) = r.bound_notification {
        let n = ntfn_mut(n);
        if n.word != 0 {
            r.ctx.set_badge(core::mem::take(&mut n.word));
            r.ctx.set_info(0);
            return;
        }
    }
    let e = ep_mut(ep);
    if let Some(head) = e.queue.head
        && matches!(tcb_mut(head).state, ThreadState::BlockedOnSend(_))
    {
        e.queue.pop_front(&mut Tcbs);
        let pending = tcb_mut(head).pending;
        if !pending.is_call {
            sched::wake(head);
        }
        deliver(head, receiver, pending, ep);
        return;
    }
    if blocking {
        r.state = ThreadState::BlockedOnRecv(ep);
        e.queue.push_back(&mut Tcbs, receiver);
        sched::request(sched::Reschedule::Preempted);
    } else {
        r.ctx.set_badge(0);
        r.ctx.set_info(0);
        r.ctx.set_status(Error::WouldBlock as u64);
    }
}

/// Moves a message from `sender` to `receiver` (which received it on `ep`) and makes the receiver
/// runnable; for a call, the sender waits for the reply. A transactional receiver begins a
/// transaction here.
fn deliver(sender: TcbPtr, receiver: TcbPtr, pending: PendingSend, ep: NonNull<Endpoint>) {
    transfer(
        tcb_mut(sender),
        tcb_mut(receiver),
        pending.badge,
        pending.can_grant,
    );
    crate::txregion::begin(receiver, ep, pending.badge);
    let r = tcb_mut(receiver);
    if pending.is_call {
        if let Some(old) = r.caller.take() {
            // The receiver never answered its previous caller; that call fails.
            fail_blocked(old, Error::IllegalOperation);
        }
        r.caller = Some(sender);
        let s = tcb_mut(sender);
        s.state = ThreadState::BlockedOnReply;
        s.reply_to = Some(receiver);
    }
    if r.state != ThreadState::Running {
        sched::wake(receiver);
    }
}

/// Copies a message (or the sender's pending fault) into the receiver's registers and buffer.
fn transfer(sender: &mut Tcb, receiver: &mut Tcb, badge: u64, can_grant: bool) {
    receiver.ctx.set_badge(badge);
    receiver.ctx.set_status(0);
    if let Some(fault) = sender.fault {
        for (i, w) in fault.words.iter().enumerate() {
            receiver.ctx.set_mr(i, *w);
        }
        receiver
            .ctx
            .set_info(MessageInfo::new(fault.kind as u64, 0, fault.words.len()).0);
        return;
    }
    let info = MessageInfo(sender.ctx.info());
    let mut length = info.length();
    for i in 0..length.min(MSG_REGISTERS_IN_CPU) {
        receiver.ctx.set_mr(i, sender.ctx.mr(i));
    }
    let sbuf = sender.ipc_buffer();
    let mut rbuf = receiver.ipc_buffer();
    if length > MSG_REGISTERS_IN_CPU {
        match (&sbuf, &mut rbuf) {
            (Some(s), Some(r)) => {
                let n = length.min(MSG_MAX_LENGTH);
                r.msg[MSG_REGISTERS_IN_CPU..n].copy_from_slice(&s.msg[MSG_REGISTERS_IN_CPU..n]);
            }
            _ => length = MSG_REGISTERS_IN_CPU,
        }
    }
    let mut caps = 0;
    if info.extra_caps() > 0
        && can_grant
        && let (Some(s), Some(r)) = (sbuf, rbuf)
        && transfer_cap(
            sender,
            s.caps_or_badges[0],
            receiver,
            r.receive_cnode,
            r.receive_index,
        )
    {
        caps = 1;
    }
    receiver
        .ctx
        .set_info(MessageInfo::new(info.label(), caps, length).0);
}

/// Copies the sender's capability `cptr` into the receiver's receive slot. Returns whether it did.
fn transfer_cap(sender: &Tcb, cptr: u64, receiver: &Tcb, recv_cnode: u64, recv_index: u64) -> bool {
    if recv_index == 0 {
        return false;
    }
    let Ok((src, cap)) = cspace::lookup_cap(sender, cptr) else {
        return false;
    };
    let Ok(cnode) = cspace::lookup_cnode(receiver, recv_cnode) else {
        return false;
    };
    let Ok(dest) = cspace::cnode_slot(cnode, recv_index) else {
        return false;
    };
    if !slot_ref(dest).cap.is_null() {
        return false;
    }
    match cspace::derive(cap, CapRights::ALL, None) {
        Ok(derived) => {
            cspace::insert_derived(src, dest, derived);
            true
        }
        Err(_) => false,
    }
}

/// Replies from `replier` to its caller, if it has one.
pub fn reply(replier: TcbPtr) {
    crate::txregion::commit_thread(replier);
    let r = tcb_mut(replier);
    let Some(caller) = r.caller.take() else {
        return;
    };
    let c = tcb_mut(caller);
    c.reply_to = None;
    if c.fault.take().is_none() {
        transfer(r, c, 0, true);
    }
    sched::wake(caller);
}

/// Signals `badge` on a notification: wakes one waiter, or the bound thread if it is waiting on
/// an endpoint, or accumulates the bits.
pub fn signal(ntfn: NonNull<Notification>, badge: u64) {
    let n = ntfn_mut(ntfn);
    let woken = match n.queue.pop_front(&mut Tcbs) {
        Some(waiter) => Some(waiter),
        None => match n.bound {
            Some(bound) if matches!(tcb_mut(bound).state, ThreadState::BlockedOnRecv(_)) => {
                cancel_ipc(bound);
                Some(bound)
            }
            _ => None,
        },
    };
    match woken {
        Some(t) => {
            let ctx = &mut tcb_mut(t).ctx;
            ctx.set_badge(n.word | badge);
            ctx.set_info(0);
            ctx.set_status(0);
            n.word = 0;
            sched::wake(t);
        }
        None => n.word |= badge,
    }
}

/// Waits for a signal on `ntfn`; without `blocking`, returns the bits pending (maybe 0).
pub fn wait(t: TcbPtr, ntfn: NonNull<Notification>, blocking: bool) {
    let n = ntfn_mut(ntfn);
    let tcb = tcb_mut(t);
    if n.word != 0 || !blocking {
        tcb.ctx.set_badge(core::mem::take(&mut n.word));
        tcb.ctx.set_info(0);
        return;
    }
    tcb.state = ThreadState::BlockedOnNotification(ntfn);
    n.queue.push_back(&mut Tcbs, t);
    sched::request(sched::Reschedule::Preempted);
}

/// Takes a thread out of whatever IPC it is blocked in (for suspend and delete). A thread waiting
/// for a reply loses it; a thread holding a reply right gives it up (its caller fails).
pub fn cancel_ipc(t: TcbPtr) {
    let tcb = tcb_mut(t);
    match tcb.state {
        ThreadState::BlockedOnSend(ep) | ThreadState::BlockedOnRecv(ep) => {
            ep_mut(ep).queue.remove(&mut Tcbs, t);
        }
        ThreadState::BlockedOnNotification(n) => ntfn_mut(n).queue.remove(&mut Tcbs, t),
        ThreadState::BlockedOnReply => {
            if let Some(server) = tcb.reply_to.take() {
                tcb_mut(server).caller = None;
            }
        }
        _ => {}
    }
    if !matches!(tcb.state, ThreadState::Running | ThreadState::Idle) {
        tcb.state = ThreadState::Inactive;
    }
    if let Some(caller) = tcb.caller.take() {
        fail_blocked(caller, Error::InvalidCapability);
    }
}

/// Wakes a blocked thread with an error status (its peer went away).
fn fail_blocked(t: TcbPtr, err: Error) {
    let tcb = tcb_mut(t);
    tcb.reply_to = None;
    tcb.ctx.set_status(err as u64);
    tcb.ctx.set_info(0);
    if tcb.fault.is_some() {
        // A faulting thread whose handler went away stays stopped.
        tcb.state = ThreadState::Inactive;
        return;
    }
    sched::wake(t);
}

/// The endpoint's last capability is gone: every queued thread fails.
pub fn cancel_all(ep: NonNull<Endpoint>) {
    while let Some(t) = ep_mut(ep).queue.pop_front(&mut Tcbs) {
        tcb_mut(t).state = ThreadState::Inactive;
        fail_blocked(t, Error::InvalidCapability);
    }
}

/// The notification's last capability is gone: waiters fail, the bound thread is unbound.
pub fn cancel_all_signals(ntfn: NonNull<Notification>) {
    let n = ntfn_mut(ntfn);
    while let Some(t) = n.queue.pop_front(&mut Tcbs) {
        tcb_mut(t).state = ThreadState::Inactive;
        fail_blocked(t, Error::InvalidCapability);
    }
    if let Some(b) = n.bound.take() {
        tcb_mut(b).bound_notification = None;
    }
}

/// Handles a fault of `t`: deliver it to the fault endpoint, or stop the thread.
pub fn raise_fault(t: TcbPtr, fault: crate::tcb::Fault) {
    let tcb = tcb_mut(t);
    tcb.fault = Some(fault);
    match tcb.fault_endpoint.cap {
        Cap::Endpoint { ep, badge, rights }
            if CapRights(rights as u64).contains(CapRights::WRITE) =>
        {
            send(
                t,
                ep,
                PendingSend {
                    badge,
                    is_call: true,
                    can_grant: false,
                },
                true,
            );
        }
        _ if t == crate::state::kernel().root_task => {
            // The root task is the supervisor: nobody can handle its faults, and a system without
            // it is half alive. Say what and where, and stop.
            log::error!(
                "kernel: the root task faulted: {} at address {:#x}, pc {:#x} (syndrome {:#x}, flags {:#x})",
                fault.kind.name(),
                fault.words[1],
                fault.words[0],
                fault.words[2],
                fault.words[3],
            );
            log::error!(
                "kernel: the root task (the supervisor) cannot be supervised: stopping the system with status {}",
                axolotl_abi::invariants::ROOT_TASK_FAULT_EXIT_STATUS
            );
            <crate::arch::Cpu as crate::arch::Architecture>::poweroff(
                axolotl_abi::invariants::ROOT_TASK_FAULT_EXIT_STATUS,
            )
        }
        _ => {
            log::warn!(
                "thread {:#x}: {} at pc {:#x} address {:#x} (syndrome {:#x}); no fault handler, suspended",
                t.as_ptr() as u64,
                fault.kind.name(),
                fault.words[0],
                fault.words[1],
                fault.words[2]
            );
            sched::suspend(t);
        }
    }
}
