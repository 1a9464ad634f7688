//! Object invocations: decoding the label and arguments of a `Call` on a kernel object's
//! capability and performing it. Every argument is checked; user space can only get an error.

use crate::arch::{Architecture, Cpu, MapRights, phys_to_virt};
use crate::cspace::{self, slot_mut, slot_ref};
use crate::object::{Cap, Slot, SlotPtr};
use crate::tcb::{Tcb, TcbPtr, ThreadState, tcb_mut};
use crate::{irq, sched, vspace};
use axolotl_abi::invocation::{TCB_ARG_REGISTERS, WRITE_REGISTERS_RESUME};
use axolotl_abi::message::MSG_REGISTERS_IN_CPU;
use axolotl_abi::{CapRights, Error, Invocation, MessageInfo, ObjectType, PAGE_SIZE, VmAttributes};
use axolotl_kcore::untyped;
use core::ptr::NonNull;

/// Results of an invocation: up to 8 message registers.
#[derive(Default)]
pub struct Results {
    pub words: [u64; 8],
    pub len: usize,
}

impl Results {
    fn with(words: &[u64]) -> Results {
        let mut r = Results::default();
        r.words[..words.len()].copy_from_slice(words);
        r.len = words.len();
        r
    }
}

/// The invoker's message registers.
struct Args {
    regs: [u64; MSG_REGISTERS_IN_CPU],
    len: usize,
    invoker: TcbPtr,
}

impl Args {
    fn get(&self, i: usize) -> Result<u64, Error> {
        if i >= self.len {
            return Err(Error::TruncatedMessage);
        }
        if i < MSG_REGISTERS_IN_CPU {
            return Ok(self.regs[i]);
        }
        tcb_mut(self.invoker)
            .ipc_buffer()
            .map(|b| b.msg[i])
            .ok_or(Error::TruncatedMessage)
    }
}

/// Performs the invocation `info.label()` on `cap` (held in `slot`) for `invoker`.
pub fn invoke(
    invoker: TcbPtr,
    slot: SlotPtr,
    cap: Cap,
    info: MessageInfo,
) -> Result<Results, Error> {
    let t = tcb_mut(invoker);
    let args = Args {
        regs: [t.ctx.mr(0), t.ctx.mr(1), t.ctx.mr(2), t.ctx.mr(3)],
        len: info.length(),
        invoker,
    };
    let op = Invocation::from_u64(info.label()).ok_or(Error::IllegalOperation)?;
    match cap {
        Cap::Untyped { .. } => untyped_op(op, slot, cap, &args),
        Cap::Tcb { tcb } => tcb_op(op, tcb, &args),
        Cap::CNode { .. } => cnode_op(op, cap, &args),
        Cap::PageTable { .. } => page_table_op(op, slot, cap, &args),
        Cap::Frame { .. } => frame_op(op, slot, cap, &args),
        Cap::IrqControl => irq_control_op(op, &args),
        Cap::IrqHandler { irq } => irq_handler_op(op, irq as u32, &args),
        Cap::TxRegion { region } => tx_region_op(op, region, &args),
        Cap::Snapshot { snapshot } => match op {
            Invocation::SnapshotStatus => Ok(Results::with(&crate::snapshot::status(snapshot))),
            _ => Err(Error::IllegalOperation),
        },
        Cap::IoPortControl => io_port_control_op(op, &args),
        Cap::IoPort { first, last } => io_port_op(op, first, last, &args),
        Cap::SysControl => match op {
            Invocation::SysControlPoweroff => {
                let status = args.get(0)?;
                log::info!(
                    "poweroff requested by thread {:#x}, status {status}",
                    invoker.as_ptr() as u64
                );
                Cpu::poweroff(status)
            }
            Invocation::SysControlCheckInvariants => Ok(Results::with(&crate::invariants::check())),
            _ => Err(Error::IllegalOperation),
        },
        _ => Err(Error::IllegalOperation),
    }
}

fn invoker(args: &Args) -> &'static Tcb {
    tcb_mut(args.invoker)
}

fn untyped_op(op: Invocation, slot: SlotPtr, cap: Cap, args: &Args) -> Result<Results, Error> {
    if op != Invocation::UntypedRetype {
        return Err(Error::IllegalOperation);
    }
    let Cap::Untyped {
        base,
        free,
        bits,
        device,
    } = cap
    else {
        unreachable!()
    };
    let ty = ObjectType::from_u64(args.get(0)?).ok_or(Error::InvalidArgument)?;
    let size_bits = u32::try_from(args.get(1)?).map_err(|_| Error::RangeError)?;
    let dest_cnode = cspace::lookup_cnode(invoker(args), args.get(2)?)?;
    let dest_index = args.get(3)?;
    let count = args.get(4)?;
    let obj_bits = ty.object_bits(size_bits).ok_or(Error::RangeError)?;
    if device && !matches!(ty, ObjectType::Frame | ObjectType::Untyped) {
        return Err(Error::IllegalOperation);
    }
    if count == 0 || count > untyped::MAX_RETYPE_COUNT {
        return Err(Error::RangeError);
    }
    // Every destination slot must exist and be empty before anything is made.
    for i in 0..count {
        let dest = cspace::cnode_slot(
            dest_cnode,
            dest_index.checked_add(i).ok_or(Error::RangeError)?,
        )?;
        if !slot_ref(dest).cap.is_null() {
            return Err(Error::DeleteFirst);
        }
    }
    if ty == ObjectType::VSpace && vspace::free_asids() < count as usize {
        return Err(Error::AsidsExhausted);
    }
    let free = if slot_ref(slot).cdt.first_child.is_none() {
        0
    } else {
        free
    };
    let alloc = untyped::allocate(bits as u32, free, obj_bits, count)?;
    for i in 0..count {
        let paddr = base + alloc.first_offset + (i << obj_bits);
        let dest = cspace::cnode_slot(dest_cnode, dest_index + i)?;
        let new = make_object(ty, paddr, obj_bits, size_bits, device);
        cspace::insert_new(Some(slot), dest, new);
    }
    slot_mut(slot).cap = Cap::Untyped {
        base,
        free: alloc.new_free_offset,
        bits,
        device,
    };
    Ok(Results::default())
}

/// Initialises the memory of a new object at `paddr` and returns its capability.
pub fn make_object(ty: ObjectType, paddr: u64, obj_bits: u32, size_bits: u32, device: bool) -> Cap {
    let va = phys_to_virt(paddr);
    if ty != ObjectType::Untyped && !device {
        // SAFETY: [paddr, paddr + 2^obj_bits) was just carved from an Untyped the caller owns;
        // nothing else refers to it, and it is mapped in the kernel window.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, 1 << obj_bits) };
    }
    match ty {
        ObjectType::Untyped => Cap::Untyped {
            base: paddr,
            free: 0,
            bits: size_bits as u8,
            device,
        },
        ObjectType::Tcb => {
            let tcb = NonNull::new(va as *mut Tcb).expect("kernel window address");
            tcb_mut(tcb).init();
            Cap::Tcb { tcb }
        }
        ObjectType::Endpoint => Cap::Endpoint {
            ep: NonNull::new(va as *mut _).expect("kernel window address"),
            badge: 0,
            rights: CapRights::ALL.0 as u8,
        },
        ObjectType::Notification => Cap::Notification {
            ntfn: NonNull::new(va as *mut _).expect("kernel window address"),
            badge: 0,
            rights: CapRights::ALL.0 as u8,
        },
        ObjectType::CNode => {
            let base = cspace::cnode_base(paddr);
            for i in 0..1usize << size_bits {
                // SAFETY: i < 2^size_bits slots of the CNode just zeroed.
                unsafe { base.as_ptr().add(i).write(Slot::EMPTY) };
            }
            Cap::CNode {
                base,
                radix: size_bits as u8,
            }
        }
        ObjectType::Frame => Cap::Frame {
            paddr,
            vaddr: 0,
            asid: 0,
            rights: CapRights::ALL.0 as u8,
            device,
        },
        ObjectType::PageTable => Cap::PageTable {
            paddr,
            vaddr: 0,
            asid: 0,
            level: 0,
        },
        ObjectType::TxRegion => Cap::TxRegion {
            region: crate::txregion::make(paddr, obj_bits),
        },
        ObjectType::Snapshot => Cap::Snapshot {
            snapshot: crate::snapshot::make(paddr, obj_bits),
        },
        ObjectType::VSpace => {
            Cpu::init_vspace_root(paddr);
            let asid = vspace::alloc_asid(paddr).expect("ASIDs counted before retype");
            Cap::VSpace { paddr, asid }
        }
    }
}

/// Replaces the capability in one of a TCB's own slots with a copy of `src`.
fn set_tcb_slot(dest: &mut Slot, src: Option<(SlotPtr, Cap)>) -> Result<(), Error> {
    let dest = NonNull::from(dest);
    cspace::delete(dest);
    if let Some((src_slot, cap)) = src {
        let derived = cspace::derive(cap, CapRights::ALL, None)?;
        cspace::insert_derived(src_slot, dest, derived);
    }
    Ok(())
}

fn lookup_typed(args: &Args, cptr: u64, want: fn(&Cap) -> bool) -> Result<(SlotPtr, Cap), Error> {
    let (slot, cap) = cspace::lookup_cap(invoker(args), cptr)?;
    if want(&cap) {
        Ok((slot, cap))
    } else {
        Err(Error::InvalidCapability)
    }
}

/// Makes a stopped thread runnable (`TcbResume`, `TcbWriteRegisters` with resume). A thread
/// stopped after a fault (suspended, or without a handler) forgets it and runs from its
/// registers. A thread still waiting for its fault handler keeps its fault, so that the handler's
/// reply resumes it without writing a message into its registers (possibly just rewritten).
fn resume(tcb: TcbPtr) {
    let t = tcb_mut(tcb);
    if t.state == ThreadState::Inactive {
        t.fault = None;
        sched::resume(tcb);
    }
}

fn tcb_op(op: Invocation, tcb: TcbPtr, args: &Args) -> Result<Results, Error> {
    match op {
        Invocation::TcbConfigure => {
            let fault_cptr = args.get(0)?;
            let fault = if fault_cptr == 0 {
                None
            } else {
                Some(lookup_typed(args, fault_cptr, |c| {
                    matches!(c, Cap::Endpoint { .. })
                })?)
            };
            let cspace = lookup_typed(args, args.get(1)?, |c| matches!(c, Cap::CNode { .. }))?;
            let vspace = lookup_typed(args, args.get(2)?, |c| matches!(c, Cap::VSpace { .. }))?;
            let buffer_vaddr = args.get(3)?;
            let buffer_cptr = args.get(4)?;
            let buffer = if buffer_cptr == 0 {
                None
            } else {
                Some(lookup_typed(args, buffer_cptr, |c| {
                    matches!(c, Cap::Frame { device: false, .. })
                })?)
            };
            if buffer_vaddr % PAGE_SIZE as u64 != 0 {
                return Err(Error::AlignmentError);
            }
            let t = tcb_mut(tcb);
            set_tcb_slot(&mut t.fault_endpoint, fault)?;
            set_tcb_slot(&mut t.cspace_root, Some(cspace))?;
            set_tcb_slot(&mut t.vspace_root, Some(vspace))?;
            set_tcb_slot(&mut t.ipc_buffer_frame, buffer)?;
            t.ipc_buffer_vaddr = buffer_vaddr;
            Ok(Results::default())
        }
        Invocation::TcbSetPriority => {
            let prio = args.get(0)?;
            if prio > invoker(args).priority as u64 {
                return Err(Error::RangeError);
            }
            sched::set_priority(tcb, prio as u8);
            Ok(Results::default())
        }
        Invocation::TcbWriteRegisters => {
            let flags = args.get(0)?;
            let pc = args.get(1)?;
            let sp = args.get(2)?;
            let t = tcb_mut(tcb);
            t.ctx.pc = pc;
            t.ctx.sp = sp;
            for i in 0..TCB_ARG_REGISTERS {
                if let Ok(v) = args.get(3 + i) {
                    t.ctx.set_arg(i, v);
                }
            }
            t.ctx.registers_written();
            if flags & WRITE_REGISTERS_RESUME != 0 {
                resume(tcb);
            }
            Ok(Results::default())
        }
        Invocation::TcbReadRegisters => {
            let c = &tcb_mut(tcb).ctx;
            let mut r = Results::with(&[c.pc, c.sp]);
            for i in 0..TCB_ARG_REGISTERS {
                r.words[2 + i] = c.arg(i);
            }
            r.len = 2 + TCB_ARG_REGISTERS;
            Ok(r)
        }
        Invocation::TcbGetState => {
            use crate::tcb::ThreadState as S;
            use axolotl_abi::invocation as inv;
            let code = match tcb_mut(tcb).state {
                S::Inactive => inv::THREAD_STATE_INACTIVE,
                S::Running => inv::THREAD_STATE_RUNNING,
                S::BlockedOnSend(_) => inv::THREAD_STATE_BLOCKED_ON_SEND,
                S::BlockedOnRecv(_) => inv::THREAD_STATE_BLOCKED_ON_RECV,
                S::BlockedOnReply => inv::THREAD_STATE_BLOCKED_ON_REPLY,
                S::BlockedOnNotification(_) => inv::THREAD_STATE_BLOCKED_ON_NOTIFICATION,
                S::Idle => inv::THREAD_STATE_IDLE,
            };
            Ok(Results::with(&[code]))
        }
        Invocation::TcbResume => {
            resume(tcb);
            Ok(Results::default())
        }
        Invocation::TcbSuspend => {
            sched::suspend(tcb);
            Ok(Results::default())
        }
        Invocation::TcbBindNotification => {
            let (_, cap) = lookup_typed(args, args.get(0)?, |c| {
                matches!(c, Cap::Notification { .. })
            })?;
            let Cap::Notification { ntfn, .. } = cap else {
                unreachable!()
            };
            let t = tcb_mut(tcb);
            // SAFETY: the notification is named by a live capability; one kernel path at a time.
            let n = unsafe { &mut *ntfn.as_ptr() };
            if t.bound_notification.is_some() || n.bound.is_some() {
                return Err(Error::IllegalOperation);
            }
            t.bound_notification = Some(ntfn);
            n.bound = Some(tcb);
            Ok(Results::default())
        }
        Invocation::TcbBindTxRegion => {
            let cptr = args.get(0)?;
            let region = if cptr == 0 {
                None
            } else {
                match lookup_typed(args, cptr, |c| matches!(c, Cap::TxRegion { .. }))?.1 {
                    Cap::TxRegion { region } => Some(region),
                    _ => unreachable!(),
                }
            };
            crate::txregion::bind(tcb, region)?;
            Ok(Results::default())
        }
        Invocation::TcbInjectArm => {
            let index = args.get(0)?;
            let pc = args.get(1)?;
            let kind = args.get(2)?;
            let a = args.get(3).unwrap_or(0);
            let b = args.get(4).unwrap_or(0);
            crate::inject::arm(tcb, index, pc, kind, a, b)?;
            Ok(Results::default())
        }
        Invocation::TcbInjectStatus => Ok(Results::with(&crate::inject::status(args.get(0)?)?)),
        Invocation::TcbInjectDisarm => Ok(Results::with(&crate::inject::disarm(args.get(0)?)?)),
        Invocation::TcbUnbindNotification => {
            let t = tcb_mut(tcb);
            if let Some(n) = t.bound_notification.take() {
                // SAFETY: a bound notification is live (its destruction unbinds it).
                unsafe { (*n.as_ptr()).bound = None };
            }
            Ok(Results::default())
        }
        _ => Err(Error::IllegalOperation),
    }
}

fn cnode_op(op: Invocation, cnode: Cap, args: &Args) -> Result<Results, Error> {
    let dest = cspace::cnode_slot(cnode, args.get(0)?)?;
    match op {
        Invocation::CNodeDelete => {
            cspace::delete(dest);
            return Ok(Results::default());
        }
        Invocation::CNodeRevoke => {
            cspace::revoke(dest);
            return Ok(Results::default());
        }
        Invocation::CNodeCopy | Invocation::CNodeMint | Invocation::CNodeMove => {}
        _ => return Err(Error::IllegalOperation),
    }
    let src_cnode = cspace::lookup_cnode(invoker(args), args.get(1)?)?;
    let src = cspace::cnode_slot(src_cnode, args.get(2)?)?;
    let src_cap = slot_ref(src).cap;
    if src_cap.is_null() {
        return Err(Error::FailedLookup);
    }
    if !slot_ref(dest).cap.is_null() {
        return Err(Error::DeleteFirst);
    }
    match op {
        Invocation::CNodeMove => cspace::move_cap(src, dest),
        _ => {
            let rights = CapRights(args.get(3)?);
            let badge = if op == Invocation::CNodeMint {
                Some(args.get(4)?)
            } else {
                None
            };
            let derived = cspace::derive(src_cap, rights, badge)?;
            cspace::insert_derived(src, dest, derived);
        }
    }
    Ok(Results::default())
}

fn vspace_arg(args: &Args, i: usize) -> Result<(u64, u16), Error> {
    match lookup_typed(args, args.get(i)?, |c| matches!(c, Cap::VSpace { .. }))?.1 {
        Cap::VSpace { paddr, asid } => Ok((paddr, asid)),
        _ => unreachable!(),
    }
}

fn page_table_op(op: Invocation, slot: SlotPtr, cap: Cap, args: &Args) -> Result<Results, Error> {
    let Cap::PageTable {
        paddr,
        asid,
        vaddr,
        level,
    } = cap
    else {
        unreachable!()
    };
    match op {
        Invocation::PageTableMap => {
            if asid != 0 {
                return Err(Error::DeleteFirst);
            }
            let (root, vs_asid) = vspace_arg(args, 0)?;
            let va = args.get(1)?;
            if va >= crate::arch::USER_VADDR_LIMIT {
                return Err(Error::RangeError);
            }
            let level = vspace::map_table(root, va, paddr)?;
            slot_mut(slot).cap = Cap::PageTable {
                paddr,
                vaddr: va,
                asid: vs_asid,
                level,
            };
            Ok(Results::default())
        }
        Invocation::PageTableUnmap => {
            if asid != 0 {
                vspace::unmap_table(asid, vaddr, level, paddr);
                // Entries left in the table must not reappear wherever it is mapped next.
                // SAFETY: the table is a page named by this capability, in the kernel window.
                unsafe { core::ptr::write_bytes(phys_to_virt(paddr) as *mut u8, 0, PAGE_SIZE) };
                slot_mut(slot).cap = Cap::PageTable {
                    paddr,
                    vaddr: 0,
                    asid: 0,
                    level: 0,
                };
            }
            Ok(Results::default())
        }
        _ => Err(Error::IllegalOperation),
    }
}

fn frame_op(op: Invocation, slot: SlotPtr, cap: Cap, args: &Args) -> Result<Results, Error> {
    let Cap::Frame {
        paddr,
        vaddr,
        asid,
        rights,
        device,
    } = cap
    else {
        unreachable!()
    };
    match op {
        Invocation::FrameMap => {
            if asid != 0 {
                return Err(Error::DeleteFirst);
            }
            let (root, vs_asid) = vspace_arg(args, 0)?;
            let va = args.get(1)?;
            vspace::check_user_vaddr(va)?;
            let want = CapRights(args.get(2)?);
            let mut attrs =
                VmAttributes(args.get(3)? & (VmAttributes::EXECUTE.0 | VmAttributes::DEVICE.0));
            let have = CapRights(rights as u64);
            if !have.contains(CapRights::READ) {
                return Err(Error::InvalidCapability);
            }
            if device {
                attrs = VmAttributes(VmAttributes::DEVICE.0);
            }
            let map = MapRights {
                write: want.contains(CapRights::WRITE) && have.contains(CapRights::WRITE),
                attrs,
            };
            vspace::map_frame(root, va, paddr, map)?;
            slot_mut(slot).cap = Cap::Frame {
                paddr,
                vaddr: va,
                asid: vs_asid,
                rights,
                device,
            };
            Ok(Results::default())
        }
        Invocation::FrameUnmap => {
            if asid != 0 {
                vspace::unmap_frame(asid, vaddr, paddr);
                slot_mut(slot).cap = Cap::Frame {
                    paddr,
                    vaddr: 0,
                    asid: 0,
                    rights,
                    device,
                };
            }
            Ok(Results::default())
        }
        Invocation::FrameGetAddress => Ok(Results::with(&[paddr])),
        _ => Err(Error::IllegalOperation),
    }
}

fn irq_control_op(op: Invocation, args: &Args) -> Result<Results, Error> {
    if op != Invocation::IrqControlGet {
        return Err(Error::IllegalOperation);
    }
    let irq = args.get(0)?;
    let cnode = cspace::lookup_cnode(invoker(args), args.get(1)?)?;
    let dest = cspace::cnode_slot(cnode, args.get(2)?)?;
    if !slot_ref(dest).cap.is_null() {
        return Err(Error::DeleteFirst);
    }
    if irq > Cpu::MAX_IRQ as u64 || !irq::claim(irq as u32) {
        return Err(Error::RangeError);
    }
    cspace::insert_new(None, dest, Cap::IrqHandler { irq: irq as u16 });
    Ok(Results::default())
}

fn irq_handler_op(op: Invocation, irq: u32, args: &Args) -> Result<Results, Error> {
    match op {
        Invocation::IrqHandlerSetNotification => {
            let (_, cap) = lookup_typed(args, args.get(0)?, |c| {
                matches!(c, Cap::Notification { .. })
            })?;
            let Cap::Notification { ntfn, .. } = cap else {
                unreachable!()
            };
            irq::set_notification(irq, Some(ntfn));
        }
        Invocation::IrqHandlerAck => irq::ack(irq),
        Invocation::IrqHandlerClear => irq::set_notification(irq, None),
        _ => return Err(Error::IllegalOperation),
    }
    Ok(Results::default())
}

fn io_port_control_op(op: Invocation, args: &Args) -> Result<Results, Error> {
    if op != Invocation::IoPortControlIssue {
        return Err(Error::IllegalOperation);
    }
    let first = u16::try_from(args.get(0)?).map_err(|_| Error::RangeError)?;
    let last = u16::try_from(args.get(1)?).map_err(|_| Error::RangeError)?;
    let cnode = cspace::lookup_cnode(invoker(args), args.get(2)?)?;
    let dest = cspace::cnode_slot(cnode, args.get(3)?)?;
    if first > last || !(first..=last).all(Cpu::io_port_allowed) {
        return Err(Error::RangeError);
    }
    if !slot_ref(dest).cap.is_null() {
        return Err(Error::DeleteFirst);
    }
    cspace::insert_new(None, dest, Cap::IoPort { first, last });
    Ok(Results::default())
}

fn io_port_op(op: Invocation, first: u16, last: u16, args: &Args) -> Result<Results, Error> {
    let port = u16::try_from(args.get(0)?).map_err(|_| Error::RangeError)?;
    if !(first..=last).contains(&port) {
        return Err(Error::RangeError);
    }
    match op {
        Invocation::IoPortIn8 => Ok(Results::with(&[Cpu::io_port_in8(port) as u64])),
        Invocation::IoPortOut8 => {
            Cpu::io_port_out8(port, args.get(1)? as u8);
            Ok(Results::default())
        }
        // A 32-bit access touches `port..=port + 3`: every one of them must be in the range.
        Invocation::IoPortIn32 | Invocation::IoPortOut32 => {
            let end = port.checked_add(3).ok_or(Error::RangeError)?;
            if end > last {
                return Err(Error::RangeError);
            }
            if op == Invocation::IoPortIn32 {
                Ok(Results::with(&[Cpu::io_port_in32(port) as u64]))
            } else {
                Cpu::io_port_out32(port, args.get(1)? as u32);
                Ok(Results::default())
            }
        }
        _ => Err(Error::IllegalOperation),
    }
}

fn snapshot_arg(args: &Args, i: usize) -> Result<crate::snapshot::SnapPtr, Error> {
    match lookup_typed(args, args.get(i)?, |c| matches!(c, Cap::Snapshot { .. }))?.1 {
        Cap::Snapshot { snapshot } => Ok(snapshot),
        _ => unreachable!(),
    }
}

fn tx_region_op(
    op: Invocation,
    region: crate::txregion::TxPtr,
    args: &Args,
) -> Result<Results, Error> {
    use axolotl_abi::invocation::TX_RANGE_STACK;
    match op {
        Invocation::TxRegionAddRange => {
            let (root, asid) = vspace_arg(args, 0)?;
            let (start, end, flags) = (args.get(1)?, args.get(2)?, args.get(3)?);
            let protected = crate::txregion::add_range(
                region,
                root,
                asid,
                start,
                end,
                flags & TX_RANGE_STACK != 0,
            )?;
            Ok(Results::with(&[protected]))
        }
        Invocation::TxRegionAbort => {
            let restored = crate::txregion::abort(region, args.get(0)?, args.get(1)?)?;
            Ok(Results::with(&[restored]))
        }
        Invocation::TxRegionStatus => Ok(Results::with(&crate::txregion::status(region))),
        Invocation::TxRegionSetBudget => {
            crate::txregion::set_budget(region, args.get(0)?);
            Ok(Results::default())
        }
        Invocation::TxRegionSetVerify => {
            crate::txregion::set_verify(region, args.get(0)? != 0);
            Ok(Results::default())
        }
        Invocation::TxRegionSnapshotBegin => {
            let snapshot = snapshot_arg(args, 0)?;
            Ok(Results::with(&crate::snapshot::begin(region, snapshot)?))
        }
        Invocation::TxRegionSnapshotStep => {
            Ok(Results::with(&crate::snapshot::step(region, args.get(0)?)?))
        }
        Invocation::TxRegionSnapshotRestore => {
            let snapshot = snapshot_arg(args, 0)?;
            let restored = crate::snapshot::restore(region, snapshot, args.get(1)?)?;
            Ok(Results::with(&[restored]))
        }
        _ => Err(Error::IllegalOperation),
    }
}
