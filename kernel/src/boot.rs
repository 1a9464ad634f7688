//! Boot: building the root task from boot memory and handing every other byte to it as Untyped.
//!
//! Like seL4, the kernel itself makes the root task's objects (CNode, TCB, VSpace, page tables,
//! frames for its image, stack, IPC buffer, boot-info page) from a bump allocator over free RAM.
//! After this, the kernel never allocates object memory again: the rest of RAM becomes Untyped
//! capabilities in the root CNode, described by the boot-info page.

use crate::arch::{
    Architecture, Cpu, MapRights, PhysRegion, UserContext, image_virt_to_phys, phys_to_virt,
};
use crate::cspace::{self, cnode_slot};
use crate::invocation::make_object;
use crate::object::Cap;
use crate::sched::Reschedule;
use crate::state::{self, Kernel};
use crate::tcb::{Tcb, TcbPtr, ThreadState, tcb_mut};
use crate::vspace;
use axolotl_abi::archive::{self, Archive, EntryKind};
use axolotl_abi::bootinfo::{
    self, BootInfo, MAX_BOOT_UNTYPED, ROOT_CNODE_RADIX, UntypedDesc, slot,
};
use axolotl_abi::object::SLOT_BITS;
use axolotl_abi::{ObjectType, PAGE_SIZE, VmAttributes};
use axolotl_kcore::sched::ReadyQueues;
use axolotl_kcore::untyped::split_region;
use core::ptr::NonNull;

const PAGE: u64 = PAGE_SIZE as u64;

unsafe extern "C" {
    static __kernel_end: u8;
}

/// A page-aligned, zero-initialised page in the kernel image.
#[repr(C, align(4096))]
struct Page([u8; PAGE_SIZE]);

static mut EMPTY_ROOT: Page = Page([0; PAGE_SIZE]);
static mut IDLE_STACK: Page = Page([0; PAGE_SIZE]);

#[repr(C, align(2048))]
struct IdleTcb(core::mem::MaybeUninit<Tcb>);
static mut IDLE_TCB: IdleTcb = IdleTcb(core::mem::MaybeUninit::uninit());

/// Bump allocator over [next, end) of physical memory.
struct BootAlloc {
    next: u64,
    end: u64,
}

impl BootAlloc {
    fn alloc(&mut self, bits: u32) -> u64 {
        let size = 1u64 << bits;
        let at = self.next.next_multiple_of(size);
        if at + size > self.end {
            crate::syscall::fatal(format_args!(
                "boot: out of boot memory making the root task"
            ));
        }
        self.next = at + size;
        at
    }

    fn page(&mut self) -> u64 {
        let p = self.alloc(12);
        // SAFETY: fresh boot memory, mapped in the kernel window, owned by nobody else.
        unsafe { core::ptr::write_bytes(phys_to_virt(p) as *mut u8, 0, PAGE_SIZE) };
        p
    }
}

/// Maps `paddr` at `vaddr` in `root`, making page tables from boot memory as needed.
fn boot_map(alloc: &mut BootAlloc, root: u64, vaddr: u64, paddr: u64, rights: MapRights) {
    loop {
        match vspace::map_frame(root, vaddr, paddr, rights) {
            Ok(()) => return,
            Err(axolotl_abi::Error::FailedLookup) => {
                let table = alloc.page();
                let _ = vspace::map_table(root, vaddr, table);
            }
            Err(e) => crate::syscall::fatal(format_args!("boot: mapping {vaddr:#x} failed: {e}")),
        }
    }
}

struct Segment {
    vaddr: u64,
    file_offset: u64,
    file_size: u64,
    mem_size: u64,
    flags: u32,
}

/// The PT_LOAD segments and entry point of an ELF64 image, bounds-checked.
fn elf_segments(elf: &[u8], out: &mut [Option<Segment>; 16]) -> Option<u64> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    if elf.get(0..4)? != b"\x7fELF" || *elf.get(4)? != 2 {
        return None;
    }
    let entry = u64_at(24)?;
    let phoff = u64_at(32)? as usize;
    let phentsize = u16_at(54)? as usize;
    let phnum = u16_at(56)? as usize;
    let mut n = 0;
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != 1 {
            continue;
        }
        let seg = Segment {
            flags: u32_at(ph + 4)?,
            file_offset: u64_at(ph + 8)?,
            vaddr: u64_at(ph + 16)?,
            file_size: u64_at(ph + 32)?,
            mem_size: u64_at(ph + 40)?,
        };
        elf.get(seg.file_offset as usize..seg.file_offset.checked_add(seg.file_size)? as usize)?;
        if seg.file_size > seg.mem_size
            || seg.vaddr.checked_add(seg.mem_size)? >= crate::arch::USER_VADDR_LIMIT
        {
            return None;
        }
        *out.get_mut(n)? = Some(seg);
        n += 1;
    }
    Some(entry)
}

/// Boots the system: never returns (ends by running the root task).
pub fn boot(boot_arg: u64) -> ! {
    let platform = Cpu::init(boot_arg);
    let arch = Cpu::ARCH;
    let kernel_end = image_virt_to_phys(&raw const __kernel_end as u64).next_multiple_of(PAGE);

    // The boot archive, placed by QEMU's loader.
    let archive_paddr = archive::load_address(arch);
    // SAFETY: the loader put the archive there; the header is read first and the length checked
    // against a bound before the whole is looked at. RAM there is mapped in the kernel window.
    let header = unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(archive_paddr) as *const u8,
            archive::HEADER_LEN,
        )
    };
    let archive_len = match Archive::total_len(header) {
        Ok(len) if len <= archive::MAX_LEN => len,
        Ok(len) => crate::syscall::fatal(format_args!(
            "boot: boot archive of {len} bytes is too large"
        )),
        Err(e) => crate::syscall::fatal(format_args!(
            "boot: no boot archive at {archive_paddr:#x} ({e:?})"
        )),
    };
    // SAFETY: as above, with the checked length.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(archive_paddr) as *const u8,
            archive_len as usize,
        )
    };
    let archive = Archive::parse(bytes)
        .unwrap_or_else(|e| crate::syscall::fatal(format_args!("boot: bad boot archive: {e:?}")));
    let root_elf = archive
        .find(EntryKind::RootTask, None)
        .unwrap_or_else(|| {
            crate::syscall::fatal(format_args!("boot: the boot archive has no root task"))
        })
        .data;
    let archive_end = (archive_paddr + archive_len).next_multiple_of(PAGE);

    let ram = platform.ram[..platform.ram_count]
        .iter()
        .find(|r| r.start <= kernel_end && kernel_end < r.end)
        .copied()
        .unwrap_or_else(|| {
            crate::syscall::fatal(format_args!("boot: no RAM region holds the kernel"))
        });
    log::info!(
        "Axolotl kernel: RAM {:#x}..{:#x}, kernel ends {:#x}, boot archive {} bytes with {} entries",
        ram.start,
        ram.end,
        kernel_end,
        archive_len,
        archive.len()
    );
    let mut alloc = BootAlloc {
        next: kernel_end,
        end: archive_paddr,
    };

    // The root CNode, with the capability to itself in its own slot.
    let cnode_paddr = alloc.alloc(ROOT_CNODE_RADIX + SLOT_BITS);
    let cnode = make_object(
        ObjectType::CNode,
        cnode_paddr,
        ROOT_CNODE_RADIX + SLOT_BITS,
        ROOT_CNODE_RADIX,
        false,
    );
    let put = |index: u64, cap: Cap| {
        let dest = cnode_slot(cnode, index).expect("initial slots are inside the root CNode");
        cspace::insert_new(None, dest, cap);
        dest
    };
    let cnode_slot_ptr = put(slot::INIT_CNODE, cnode);

    let vspace_paddr = alloc.page();
    let vspace_cap = make_object(ObjectType::VSpace, vspace_paddr, 12, 0, false);
    let Cap::VSpace { asid, .. } = vspace_cap else {
        unreachable!()
    };
    let vspace_slot = put(slot::INIT_VSPACE, vspace_cap);

    // The root task's image.
    let mut segments: [Option<Segment>; 16] = Default::default();
    let entry = elf_segments(root_elf, &mut segments).unwrap_or_else(|| {
        crate::syscall::fatal(format_args!(
            "boot: the root task is not a valid ELF64 image"
        ))
    });
    for seg in segments.iter().flatten() {
        let rights = MapRights {
            write: seg.flags & 2 != 0,
            attrs: if seg.flags & 1 != 0 {
                VmAttributes::EXECUTE
            } else {
                VmAttributes::NONE
            },
        };
        let start = seg.vaddr & !(PAGE - 1);
        let end = (seg.vaddr + seg.mem_size).next_multiple_of(PAGE);
        for page in (start..end).step_by(PAGE as usize) {
            let frame = match vspace::translate(vspace_paddr, page) {
                Some(p) => p,
                None => {
                    let p = alloc.page();
                    boot_map(&mut alloc, vspace_paddr, page, p, rights);
                    p
                }
            };
            // Copy the part of the file image that falls in this page.
            let lo = seg.vaddr.max(page);
            let hi = (seg.vaddr + seg.file_size).min(page + PAGE);
            if lo < hi {
                let src = &root_elf[(seg.file_offset + (lo - seg.vaddr)) as usize..]
                    [..(hi - lo) as usize];
                // SAFETY: `frame` is a boot page of the root task, in the kernel window; the range
                // [lo, hi) lies inside this page.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        src.as_ptr(),
                        (phys_to_virt(frame) + (lo - page)) as *mut u8,
                        src.len(),
                    )
                };
            }
        }
    }
    let rw = MapRights {
        write: true,
        attrs: VmAttributes::NONE,
    };
    let ro = MapRights {
        write: false,
        attrs: VmAttributes::NONE,
    };
    for i in 1..=bootinfo::ROOT_STACK_PAGES {
        let p = alloc.page();
        boot_map(
            &mut alloc,
            vspace_paddr,
            bootinfo::ROOT_STACK_TOP - i * PAGE,
            p,
            rw,
        );
    }
    let ipc_paddr = alloc.page();
    boot_map(
        &mut alloc,
        vspace_paddr,
        bootinfo::ROOT_IPC_BUFFER_VADDR,
        ipc_paddr,
        rw,
    );
    let ipc_slot = put(
        slot::INIT_IPC_BUFFER,
        Cap::Frame {
            paddr: ipc_paddr,
            vaddr: bootinfo::ROOT_IPC_BUFFER_VADDR,
            asid,
            rights: 7,
            device: false,
        },
    );
    let bi_paddr = alloc.page();
    boot_map(
        &mut alloc,
        vspace_paddr,
        bootinfo::ROOT_BOOT_INFO_VADDR,
        bi_paddr,
        ro,
    );
    put(
        slot::BOOT_INFO_FRAME,
        Cap::Frame {
            paddr: bi_paddr,
            vaddr: bootinfo::ROOT_BOOT_INFO_VADDR,
            asid,
            rights: 7,
            device: false,
        },
    );
    let mut off = 0;
    while off < archive_len {
        boot_map(
            &mut alloc,
            vspace_paddr,
            bootinfo::ROOT_ARCHIVE_VADDR + off,
            archive_paddr + off,
            ro,
        );
        off += PAGE;
    }
    put(slot::IRQ_CONTROL, Cap::IrqControl);
    put(slot::SYS_CONTROL, Cap::SysControl);
    if Cpu::HAS_IO_PORTS {
        put(slot::IO_PORT_CONTROL, Cap::IoPortControl);
    }

    // The root task's TCB.
    let tcb_paddr = alloc.alloc(axolotl_abi::object::TCB_BITS);
    let tcb_cap = make_object(
        ObjectType::Tcb,
        tcb_paddr,
        axolotl_abi::object::TCB_BITS,
        0,
        false,
    );
    let Cap::Tcb { tcb } = tcb_cap else {
        unreachable!()
    };
    put(slot::INIT_TCB, tcb_cap);
    {
        let t = tcb_mut(tcb);
        t.ctx = UserContext::new_user(entry, bootinfo::ROOT_STACK_TOP);
        t.ctx.set_arg(0, bootinfo::ROOT_BOOT_INFO_VADDR);
        t.priority = 255;
        t.ipc_buffer_vaddr = bootinfo::ROOT_IPC_BUFFER_VADDR;
        for (dest, src) in [
            (&mut t.cspace_root, cnode_slot_ptr),
            (&mut t.vspace_root, vspace_slot),
            (&mut t.ipc_buffer_frame, ipc_slot),
        ] {
            let cap = cspace::derive(cspace::slot_ref(src).cap, axolotl_abi::CapRights::ALL, None)
                .expect("derivable");
            cspace::insert_derived(src, NonNull::from(dest), cap);
        }
    }

    // Everything else becomes Untyped.
    // SAFETY: the boot-info page is a fresh page of the root task, in the kernel window.
    let bi = unsafe { &mut *(phys_to_virt(bi_paddr) as *mut BootInfo) };
    bi.magic = bootinfo::BOOT_INFO_MAGIC;
    bi.arch = arch as u64;
    bi.root_cnode_radix = ROOT_CNODE_RADIX as u64;
    bi.archive_vaddr = bootinfo::ROOT_ARCHIVE_VADDR;
    bi.archive_len = archive_len;
    bi.counter_frequency = Cpu::counter_frequency();
    bi.time_slice_us = Cpu::TIME_SLICE_US;
    let mut next_slot = slot::FIRST_DYNAMIC;
    let mut count = 0;
    let mut add_region = |r: PhysRegion, device: bool, bi: &mut BootInfo| {
        let mut blocks = [(0u64, 0u32); 32];
        let mut start = r.start;
        loop {
            let n = split_region(start, r.end, 12, 30, &mut blocks);
            for &(paddr, bits) in &blocks[..n] {
                if count >= MAX_BOOT_UNTYPED {
                    return;
                }
                let dest =
                    cnode_slot(cnode, next_slot).expect("root CNode has room for boot untyped");
                cspace::insert_new(
                    None,
                    dest,
                    Cap::Untyped {
                        base: paddr,
                        free: 0,
                        bits: bits as u8,
                        device,
                    },
                );
                bi.untyped_list[count] = UntypedDesc {
                    paddr,
                    size_bits: bits as u8,
                    is_device: device as u8,
                    _pad: [0; 6],
                };
                count += 1;
                next_slot += 1;
            }
            if n < blocks.len() {
                return;
            }
            let (last, bits) = blocks[n - 1];
            start = last + (1 << bits);
        }
    };
    let untyped_start = slot::FIRST_DYNAMIC;
    let free_regions = [
        PhysRegion {
            start: alloc.next.next_multiple_of(PAGE),
            end: archive_paddr,
        },
        PhysRegion {
            start: archive_end,
            end: ram.end,
        },
    ];
    for r in free_regions.iter().filter(|r| r.start < r.end) {
        add_region(*r, false, bi);
    }
    for r in platform.devices {
        add_region(*r, true, bi);
    }
    bi.untyped = bootinfo::SlotRange {
        start: untyped_start,
        end: untyped_start + count as u64,
    };
    bi.empty = bootinfo::SlotRange {
        start: untyped_start + count as u64,
        end: 1 << ROOT_CNODE_RADIX,
    };
    let free_bytes: u64 = bi
        .untyped_descs()
        .iter()
        .filter(|u| u.is_device == 0)
        .map(|u| 1u64 << u.size_bits)
        .sum();
    log::info!(
        "root task: entry {entry:#x}, {count} untyped capabilities, {} KiB free; counter at {} kHz",
        free_bytes / 1024,
        Cpu::counter_frequency() / 1000
    );

    // The idle thread and the scheduler.
    // SAFETY: boot runs once, before anything else touches these statics; the idle TCB is
    // initialised here and then only used through the scheduler.
    let idle: TcbPtr = unsafe {
        let t = (&raw mut IDLE_TCB).cast::<Tcb>();
        (*t).init();
        (*t).ctx = Cpu::idle_context(
            idle_loop as extern "C" fn() -> ! as usize as u64,
            (&raw mut IDLE_STACK) as u64 + PAGE,
        );
        (*t).state = ThreadState::Idle;
        NonNull::new_unchecked(t)
    };
    let empty_vspace = image_virt_to_phys(&raw const EMPTY_ROOT as u64);
    Cpu::init_vspace_root(empty_vspace);
    state::init(Kernel {
        current: idle,
        idle,
        ready: ReadyQueues::new(),
        reschedule: Reschedule::No,
        loaded_vspace: (0, u16::MAX),
        empty_vspace,
        root_task: tcb,
        boot_memory: (kernel_end, alloc.next.next_multiple_of(PAGE)),
        archive: (archive_paddr, archive_end),
        kernel_end,
    });
    crate::sched::wake(tcb);
    Cpu::timer_rearm();
    crate::sched::exit()
}

/// The idle thread: waits for interrupts, at the kernel's privilege but on its own stack.
extern "C" fn idle_loop() -> ! {
    loop {
        Cpu::wait_for_interrupt();
    }
}
