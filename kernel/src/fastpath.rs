//! The IPC fast path, as seL4 has one: `Call` and `ReplyRecv` with a register-only message
//! (at most 4 words, no capabilities) between two threads where the one that receives the
//! message is the one that should run next. It does what the general path would do (same
//! states, same reply rights, same registers) without the scheduler queues: the sender blocks
//! and the receiver becomes current directly. Anything unusual falls back to the general path
//! before anything has changed.

use crate::cspace;
use crate::object::Cap;
use crate::sched::Tcbs;
use crate::state::kernel;
use crate::tcb::{TcbPtr, ThreadState, tcb_mut};
use axolotl_abi::message::MSG_REGISTERS_IN_CPU;
use axolotl_abi::{CapRights, MessageInfo, Syscall};

/// Takes system call `number` of `cur` on the fast path if it can (never returning), else
/// returns having changed nothing. Kept out of line and small, so that the common case does not
/// pay for the general path's stack frame.
#[inline(never)]
pub fn try_syscall(cur: TcbPtr, number: u64) {
    if number == Syscall::Call as u64 {
        call(cur);
    } else if number == Syscall::ReplyRecv as u64 {
        reply_recv(cur);
    }
}

/// The message a fast-path send carries, if the sender's registers allow one.
fn register_message(info: u64) -> Option<MessageInfo> {
    let info = MessageInfo(info);
    (info.length() <= MSG_REGISTERS_IN_CPU && info.extra_caps() == 0).then_some(info)
}

/// Whether a thread of priority `prio` may run next instead of every ready thread.
fn runs_next(prio: u8) -> bool {
    kernel().ready.highest_priority().is_none_or(|p| p <= prio)
}

/// Copies the register message from `from` to `to`. Registers past the message length are
/// zeroed rather than left as they were (branch-free: all four are always written).
#[inline(always)]
fn copy_registers(from: TcbPtr, to: TcbPtr, badge: u64, info: MessageInfo) {
    let (f, t) = (tcb_mut(from), tcb_mut(to));
    let len = info.length();
    for i in 0..MSG_REGISTERS_IN_CPU {
        t.ctx.set_mr(i, if i < len { f.ctx.mr(i) } else { 0 });
    }
    t.ctx
        .set_info(MessageInfo::new(info.label(), 0, info.length()).0);
    t.ctx.set_badge(badge);
    t.ctx.set_status(0);
}

/// `Call` on an endpoint with a receiver waiting: switches to the receiver and never returns.
/// Returns, having changed nothing, when the general path must handle the call.
#[inline(always)]
fn call(cur: TcbPtr) {
    let c = tcb_mut(cur);
    let Some(info) = register_message(c.ctx.info()) else {
        return;
    };
    let Ok(slot) = cspace::lookup_slot(c, c.ctx.cptr()) else {
        return;
    };
    let Cap::Endpoint { ep, badge, rights } = cspace::slot_ref(slot).cap else {
        return;
    };
    if !CapRights(rights as u64).contains(CapRights::WRITE) {
        return;
    }
    // SAFETY: the endpoint is named by a live capability; one kernel path at a time.
    let e = unsafe { &mut *ep.as_ptr() };
    let Some(receiver) = e.queue.head else { return };
    let r = tcb_mut(receiver);
    if !matches!(r.state, ThreadState::BlockedOnRecv(_))
        || r.caller.is_some()
        || !runs_next(r.priority)
    {
        return;
    }
    e.queue.pop_front(&mut Tcbs);
    copy_registers(cur, receiver, badge, info);
    let (c, r) = (tcb_mut(cur), tcb_mut(receiver));
    r.caller = Some(cur);
    r.state = ThreadState::Running;
    c.reply_to = Some(receiver);
    c.state = ThreadState::BlockedOnReply;
    crate::txregion::begin(receiver, ep, badge);
    crate::sched::switch_to(receiver)
}

/// `ReplyRecv` answering a caller that should run next, on an endpoint with no sender waiting:
/// switches to the caller and never returns; returns having changed nothing otherwise.
#[inline(always)]
fn reply_recv(cur: TcbPtr) {
    let s = tcb_mut(cur);
    let Some(caller) = s.caller else { return };
    let Some(info) = register_message(s.ctx.info()) else {
        return;
    };
    let Ok(slot) = cspace::lookup_slot(s, s.ctx.cptr()) else {
        return;
    };
    let Cap::Endpoint { ep, rights, .. } = cspace::slot_ref(slot).cap else {
        return;
    };
    if !CapRights(rights as u64).contains(CapRights::READ) {
        return;
    }
    if s.bound_notification.is_some() {
        return;
    }
    // SAFETY: the endpoint is named by a live capability; one kernel path at a time.
    let e = unsafe { &mut *ep.as_ptr() };
    if e.queue
        .head
        .is_some_and(|h| matches!(tcb_mut(h).state, ThreadState::BlockedOnSend(_)))
    {
        return;
    }
    let c = tcb_mut(caller);
    if c.state != ThreadState::BlockedOnReply || c.fault.is_some() || !runs_next(c.priority) {
        return;
    }
    copy_registers(cur, caller, 0, info);
    let (s, c) = (tcb_mut(cur), tcb_mut(caller));
    s.caller = None;
    c.reply_to = None;
    c.state = ThreadState::Running;
    s.state = ThreadState::BlockedOnRecv(ep);
    e.queue.push_back(&mut Tcbs, cur);
    crate::txregion::commit_thread(cur);
    crate::sched::switch_to(caller)
}
