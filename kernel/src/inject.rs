//! Fault injection for campaign images (`abi::inject`): traps planted in a thread's code through
//! the kernel window, and the faults applied when the thread executes them.
//!
//! Arming translates the pc in the thread's address space, remembers the original bytes and their
//! physical addresses, and writes the architecture's trap instruction over them (then makes the
//! change visible to instruction fetch). The trap exception of the thread comes to [`hit`], which
//! puts the original bytes back and applies the fault of the slot's kind to the thread's saved
//! registers or memory. A slot only ever writes the bytes it saved, so disarming after the thread
//! or its address space changed is harmless. The code frames of a server are its own copies of
//! its image (never shared), so a trap cannot be hit by another program.

use crate::arch::{Architecture, Cpu, phys_to_virt};
use crate::ipc;
use crate::tcb::{Fault, TcbPtr, tcb_mut};
use crate::txregion::{self, WriteFault};
use crate::vspace;
use axolotl_abi::inject::{InjectKind, TRAP_SLOTS, TrapState, register_count};
use axolotl_abi::{Error, FaultKind};
use core::cell::UnsafeCell;

/// Bytes saved under a trap (the longest of the trap and the loop instruction).
const SAVED: usize = 4;

#[derive(Clone, Copy)]
struct Slot {
    state: TrapState,
    tcb: Option<TcbPtr>,
    pc: u64,
    kind: InjectKind,
    a: u64,
    b: u64,
    /// Physical address of each byte at `pc..pc + SAVED` (0: not mapped), and its original value.
    paddr: [u64; SAVED],
    original: [u8; SAVED],
    /// What the fault did (per kind: old and new register value, byte before and after).
    detail: [u64; 2],
}

const EMPTY: Slot = Slot {
    state: TrapState::Empty,
    tcb: None,
    pc: 0,
    kind: InjectKind::Probe,
    a: 0,
    b: 0,
    paddr: [0; SAVED],
    original: [0; SAVED],
    detail: [0; 2],
};

struct Slots(UnsafeCell<[Slot; TRAP_SLOTS]>);

// SAFETY: one kernel path runs at a time (see `state`).
unsafe impl Sync for Slots {}

static SLOTS: Slots = Slots(UnsafeCell::new([EMPTY; TRAP_SLOTS]));

fn slots() -> &'static mut [Slot; TRAP_SLOTS] {
    // SAFETY: one kernel path at a time; no caller keeps the reference across another call.
    unsafe { &mut *SLOTS.0.get() }
}

/// Writes `bytes` at the saved physical addresses of `slot` (the first `bytes.len()` of them).
fn write_code(slot: &Slot, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        if slot.paddr[i] != 0 {
            let kva = phys_to_virt(slot.paddr[i]);
            // SAFETY: the byte is in a frame of user memory that was mapped at `pc + i` when the
            // slot was armed; the kernel window maps all RAM, and nothing else runs meanwhile.
            unsafe { core::ptr::write_volatile(kva as *mut u8, b) };
            Cpu::sync_code(kva, 1);
        }
    }
}

fn restore(slot: &Slot) {
    write_code(slot, &slot.original);
}

/// `TcbInjectArm`.
pub fn arm(tcb: TcbPtr, index: u64, pc: u64, kind: u64, a: u64, b: u64) -> Result<(), Error> {
    let kind = InjectKind::from_u64(kind).ok_or(Error::InvalidArgument)?;
    disarm(index)?;
    let registers = register_count(Cpu::ARCH);
    match kind {
        InjectKind::RegisterBitFlip if a >= registers || b >= 64 => return Err(Error::RangeError),
        InjectKind::CorruptPointer if a >= registers => return Err(Error::RangeError),
        InjectKind::MemoryBitFlip | InjectKind::StackBitFlip if b >= 8 => {
            return Err(Error::RangeError);
        }
        InjectKind::SkipInstruction if a == 0 || a > 15 => return Err(Error::RangeError),
        _ => {}
    }
    if pc >= crate::arch::USER_VADDR_LIMIT - SAVED as u64 {
        return Err(Error::RangeError);
    }
    let (root, _) = tcb_mut(tcb).vspace().ok_or(Error::InvalidCapability)?;
    let mut new = Slot {
        state: TrapState::Armed,
        tcb: Some(tcb),
        pc,
        kind,
        a,
        b,
        ..EMPTY
    };
    for i in 0..SAVED {
        if let Some(p) = vspace::translate(root, pc + i as u64) {
            new.paddr[i] = p;
            // SAFETY: a byte of mapped user memory, read through the kernel window.
            new.original[i] = unsafe { core::ptr::read_volatile(phys_to_virt(p) as *const u8) };
        } else if i < Cpu::INJECT_TRAP.len() {
            return Err(Error::FailedLookup);
        }
    }
    // Two traps over the same bytes would save each other's trap as the original.
    if slots().iter().any(|s| {
        s.state != TrapState::Empty
            && s.paddr
                .iter()
                .any(|p| *p != 0 && new.paddr[..Cpu::INJECT_LOOP.len()].contains(p))
    }) {
        return Err(Error::DeleteFirst);
    }
    write_code(&new, Cpu::INJECT_TRAP);
    slots()[index as usize] = new;
    Ok(())
}

/// `TcbInjectStatus`: state, pc, detail.
pub fn status(index: u64) -> Result<[u64; 4], Error> {
    let s = slots().get(index as usize).ok_or(Error::RangeError)?;
    Ok([s.state as u64, s.pc, s.detail[0], s.detail[1]])
}

/// `TcbInjectDisarm`: puts the original code back if the trap (or a loop) is still in place.
/// Returns the state before, and the pc.
pub fn disarm(index: u64) -> Result<[u64; 2], Error> {
    let s = slots().get_mut(index as usize).ok_or(Error::RangeError)?;
    let before = [s.state as u64, s.pc];
    if matches!(s.state, TrapState::Armed | TrapState::Looping) {
        restore(s);
    }
    *s = EMPTY;
    Ok(before)
}

/// The thread's transaction was aborted: an endless loop holding it is taken out again.
pub fn thread_reset(tcb: TcbPtr) {
    for s in slots().iter_mut() {
        if s.state == TrapState::Looping && s.tcb == Some(tcb) {
            restore(s);
            s.state = TrapState::Fired;
            // The loop held the thread until its transaction was aborted.
            s.detail[1] = 1;
        }
    }
}

/// What the trap handler does after [`hit`].
pub enum Hit {
    /// Not one of our traps: an ordinary breakpoint fault.
    NotOurs,
    /// The thread continues from its (possibly changed) registers.
    Resume,
}

/// The current thread `tcb` executed a trap at `pc`.
pub fn hit(tcb: TcbPtr, pc: u64) -> Hit {
    let Some(s) = slots()
        .iter_mut()
        .find(|s| s.state == TrapState::Armed && s.tcb == Some(tcb) && s.pc == pc)
    else {
        return Hit::NotOurs;
    };
    restore(s);
    s.state = TrapState::Fired;
    let t = tcb_mut(tcb);
    t.ctx.pc = pc;
    match s.kind {
        InjectKind::Probe => s.detail = [1, t.ctx.sp],
        InjectKind::RegisterBitFlip | InjectKind::CorruptPointer => {
            if let Some(r) = Cpu::user_register(&mut t.ctx, s.a) {
                let old = *r;
                *r = if s.kind == InjectKind::CorruptPointer {
                    s.b
                } else {
                    old ^ (1 << s.b)
                };
                s.detail = [old, *r];
            }
        }
        InjectKind::MemoryBitFlip => {
            s.detail = flip_memory(tcb, s.a, s.b);
        }
        InjectKind::StackBitFlip => {
            let sp = t.ctx.sp;
            s.detail = flip_memory(tcb, sp.wrapping_add(s.a), s.b);
        }
        InjectKind::UndefinedInstruction => {
            s.detail = [pc, 0];
            t.ctx.registers_written();
            ipc::raise_fault(
                tcb,
                Fault {
                    kind: FaultKind::UndefinedInstruction,
                    words: [pc, pc, 0, 0],
                },
            );
            return Hit::Resume;
        }
        InjectKind::SkipInstruction => {
            t.ctx.pc = pc + s.a;
            s.detail = [pc, t.ctx.pc];
        }
        InjectKind::EndlessLoop => {
            write_code(s, Cpu::INJECT_LOOP);
            s.detail = [pc, 0];
            s.state = TrapState::Looping;
        }
    }
    t.ctx.registers_written();
    Hit::Resume
}

/// Flips bit `bit` of the byte at `vaddr` in the address space of `tcb` (the current thread). A
/// write-protected page of its transactional region is first logged, as the thread's own first
/// write would be, so an abort puts it back. Returns the byte before and after (all ones if
/// nothing is mapped there).
fn flip_memory(tcb: TcbPtr, vaddr: u64, bit: u64) -> [u64; 2] {
    let Some((root, _)) = tcb_mut(tcb).vspace() else {
        return [u64::MAX; 2];
    };
    let Some(paddr) = vspace::translate(root, vaddr) else {
        return [u64::MAX; 2];
    };
    if let WriteFault::PoolExhausted = txregion::write_fault(tcb, vaddr) {
        return [u64::MAX; 2];
    }
    let kva = phys_to_virt(paddr);
    // SAFETY: a byte of a frame mapped in the thread's address space, through the kernel window.
    unsafe {
        let p = kva as *mut u8;
        let old = core::ptr::read_volatile(p);
        core::ptr::write_volatile(p, old ^ (1 << bit));
        [old as u64, (old ^ (1 << bit)) as u64]
    }
}
