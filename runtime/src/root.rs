//! The root task's initial capabilities and boot info (`abi::bootinfo`), typed.

use crate::cap::{CNode, Cap, Frame, IoPortControl, IrqControl, SysControl, Tcb, Untyped, VSpace};
use axolotl_abi::archive::MAX_LEN;
use axolotl_abi::bootinfo::{BootInfo, UntypedDesc, slot};
use axolotl_abi::{CPtr, PAGE_SIZE};

pub fn tcb() -> Cap<Tcb> {
    Cap::from_cptr(slot::INIT_TCB)
}

/// The root task's CNode (to invoke; as an argument, [`Cap::<CNode>::invoker_root`] also names it).
pub fn cnode() -> Cap<CNode> {
    Cap::from_cptr(slot::INIT_CNODE)
}

pub fn vspace() -> Cap<VSpace> {
    Cap::from_cptr(slot::INIT_VSPACE)
}

pub fn irq_control() -> Cap<IrqControl> {
    Cap::from_cptr(slot::IRQ_CONTROL)
}

pub fn sys_control() -> Cap<SysControl> {
    Cap::from_cptr(slot::SYS_CONTROL)
}

/// The I/O-port control capability (x86_64; the slot is empty on architectures without ports).
pub fn io_port_control() -> Cap<IoPortControl> {
    Cap::from_cptr(slot::IO_PORT_CONTROL)
}

pub fn ipc_buffer_frame() -> Cap<Frame> {
    Cap::from_cptr(slot::INIT_IPC_BUFFER)
}

pub fn boot_info_frame() -> Cap<Frame> {
    Cap::from_cptr(slot::BOOT_INFO_FRAME)
}

/// The boot-time Untyped capabilities with their descriptions.
pub fn untyped(bootinfo: &BootInfo) -> impl Iterator<Item = (Cap<Untyped>, UntypedDesc)> + '_ {
    bootinfo
        .untyped_descs()
        .iter()
        .zip(bootinfo.untyped.start..)
        .map(|(desc, cptr)| (Cap::from_cptr(cptr), *desc))
}

/// The free slots of the root CNode.
pub fn empty_slots(bootinfo: &BootInfo) -> core::ops::Range<CPtr> {
    bootinfo.empty.start..bootinfo.empty.end.max(bootinfo.empty.start)
}

/// The boot archive's bytes; empty if boot info describes no plausible archive.
pub fn archive(bootinfo: &'static BootInfo) -> &'static [u8] {
    let (vaddr, len) = (bootinfo.archive_vaddr, bootinfo.archive_len);
    let plausible = vaddr != 0
        && vaddr % PAGE_SIZE as u64 == 0
        && len <= MAX_LEN
        && vaddr.checked_add(len).is_some();
    if !plausible {
        return &[];
    }
    // SAFETY: the kernel maps the archive's `archive_len` bytes read-only at `archive_vaddr` for
    // the root task's whole life and nothing writes them (`abi::bootinfo`); the range was checked
    // to be non-null, aligned and not to wrap.
    unsafe { core::slice::from_raw_parts(vaddr as usize as *const u8, len as usize) }
}
