//! Interrupts: the kernel timer, and every other line delivered to user space by signalling the
//! notification bound to its IRQ handler capability. A delivered line stays masked until the
//! handler acknowledges it (`IrqHandlerAck`).

use crate::arch::{Architecture, Cpu};
use crate::object::Notification;
use crate::sched;
use core::cell::UnsafeCell;
use core::ptr::NonNull;

const NUM_IRQS: usize = <Cpu as Architecture>::MAX_IRQ as usize + 1;

#[derive(Clone, Copy)]
struct Line {
    /// An IRQ handler capability exists for this line.
    claimed: bool,
    notification: Option<NonNull<Notification>>,
}

struct Lines(UnsafeCell<[Line; NUM_IRQS]>);
// SAFETY: one kernel path at a time (see `state`).
unsafe impl Sync for Lines {}
static LINES: Lines = Lines(UnsafeCell::new(
    [Line {
        claimed: false,
        notification: None,
    }; NUM_IRQS],
));

fn lines() -> &'static mut [Line; NUM_IRQS] {
    // SAFETY: one kernel path at a time; no reference outlives the operation using it.
    unsafe { &mut *LINES.0.get() }
}

/// Whether user space may claim `irq` (in range, not the kernel's timer, not yet claimed).
pub fn claim(irq: u32) -> bool {
    let Some(line) = lines().get_mut(irq as usize) else {
        return false;
    };
    if irq == Cpu::TIMER_IRQ || line.claimed {
        return false;
    }
    line.claimed = true;
    true
}

/// The last IRQ handler capability of `irq` is gone.
pub fn release(irq: u32) {
    if let Some(line) = lines().get_mut(irq as usize) {
        *line = Line {
            claimed: false,
            notification: None,
        };
        Cpu::irq_mask(irq);
    }
}

pub fn set_notification(irq: u32, ntfn: Option<NonNull<Notification>>) {
    if let Some(line) = lines().get_mut(irq as usize) {
        line.notification = ntfn;
        if ntfn.is_some() {
            Cpu::irq_unmask(irq);
        } else {
            Cpu::irq_mask(irq);
        }
    }
}

pub fn ack(irq: u32) {
    if lines()
        .get(irq as usize)
        .is_some_and(|l| l.notification.is_some())
    {
        Cpu::irq_unmask(irq);
    }
}

/// A notification is being destroyed: no line may signal it any more.
pub fn forget_notification(ntfn: NonNull<Notification>) {
    for (irq, line) in lines().iter_mut().enumerate() {
        if line.notification == Some(ntfn) {
            line.notification = None;
            Cpu::irq_mask(irq as u32);
        }
    }
}

/// Handles a pending interrupt.
pub fn handle() {
    let Some(irq) = Cpu::irq_claim() else { return };
    if irq == Cpu::TIMER_IRQ {
        Cpu::timer_rearm();
        sched::request(sched::Reschedule::Rotate);
        // A transaction past its time budget (a server stuck in a loop) faults, so that its
        // supervisor aborts it.
        let k = crate::state::kernel();
        if k.current != k.idle
            && let Some(ran) = crate::txregion::over_budget(k.current)
        {
            let cur = k.current;
            let pc = crate::tcb::tcb_mut(cur).ctx.pc;
            crate::ipc::raise_fault(
                cur,
                crate::tcb::Fault {
                    kind: axolotl_abi::FaultKind::Timeout,
                    words: [pc, ran, 0, 0],
                },
            );
        }
    } else if let Some(line) = lines().get(irq as usize) {
        match line.notification {
            Some(n) => {
                Cpu::irq_mask(irq);
                crate::ipc::signal(n, 1 << (irq % 64));
            }
            None => Cpu::irq_mask(irq),
        }
    }
    Cpu::irq_complete(irq);
}
