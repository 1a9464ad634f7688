//! The root task's toolkit for making objects: Untyped memory, root CNode slots, page-table
//! creation on demand, the scratch mapping through which it fills frames, and per-server
//! bookkeeping CNodes.
//!
//! Slot discipline: every object is retyped into a slot of the root CNode (the root can only
//! invoke capabilities there). Capabilities the root keeps using (TCBs, CNodes, VSpaces,
//! endpoints, its own page tables) stay there; the frames and page tables of a server, once
//! mapped, are moved into that server's bookkeeping CNode ([`Storage`]), which keeps them (and
//! with them their mappings) alive while freeing the root slot. So the root CNode's use grows
//! with the number of servers and endpoints, not with their memory.

use crate::error::{BuildError, Context};
use crate::slots::SlotAllocator;
use crate::untyped::{DeviceMemory, DeviceMemoryError, ServerMemory, UntypedPool};
use axolotl_abi::bootinfo::BootInfo;
use axolotl_abi::{CapRights, Error, ObjectType, PAGE_SIZE, VmAttributes};
use axolotl_rt::{CNode, CPtr, Cap, CapType, Frame, PageTable, VSpace, root};

/// Where the root task maps a frame to fill it (one page, in its own VSpace).
pub const SCRATCH_VADDR: u64 = 0x4000_0000;
/// Where the root task keeps a writable mapping of each server's info page, so that the
/// supervisor can change its control words (`axolotl_rt::server_info::SERVER_CONTROL_OFFSET`):
/// server `i`'s page is at `CONTROL_VADDR + i * PAGE_SIZE`.
pub const CONTROL_VADDR: u64 = 0x4100_0000;
/// The most page tables one mapping may need (the levels below the VSpace root).
const MAX_TABLE_LEVELS: usize = 3;

/// Page tables made while mapping one frame.
pub type NewTables = heapless::Vec<Cap<PageTable>, MAX_TABLE_LEVELS>;

/// A server's bookkeeping CNode, held by the root task: the capabilities of its frames and page
/// tables, in slots `0..next` in the order they were made.
pub struct Storage {
    pub cnode: Cap<CNode>,
    next: CPtr,
    end: CPtr,
}

pub struct Builder {
    /// The boot Untypeds: the root task's own objects, and each server's memory.
    pub pool: UntypedPool,
    /// While a server is built ([`enter`](Self::enter)), its own Untyped, from which all its
    /// objects are made, so that revoking that one capability frees the whole server.
    server_pool: Option<ServerMemory>,
    /// Device Untypeds, for the frames of device registers.
    pub devices: DeviceMemory,
    pub slots: SlotAllocator,
    /// Page tables the root made for its own scratch mapping.
    pub scratch_tables: usize,
    /// Ticks per second of the counter (for time budgets).
    pub counter_frequency: u64,
}

impl Builder {
    pub fn new(bootinfo: &BootInfo) -> Builder {
        Builder {
            pool: UntypedPool::new(bootinfo),
            server_pool: None,
            devices: DeviceMemory::new(bootinfo),
            slots: SlotAllocator::new(root::empty_slots(bootinfo)),
            scratch_tables: 0,
            counter_frequency: bootinfo.counter_frequency,
        }
    }

    /// A builder of its own for a part of the root task that makes objects after start-up (the
    /// patcher): it makes everything from one new Untyped of 2^`bits` bytes and hands out
    /// `slots` root slots taken from this one. It shares the scratch mapping (the root task is
    /// single-threaded).
    pub fn split(&mut self, bits: u32, slots: CPtr) -> Result<Builder, BuildError> {
        let memory = self.make(ObjectType::Untyped, bits, "make an Untyped for the patcher")?;
        let slots = self.slots.split_off(slots).ok_or(BuildError::OutOfSlots)?;
        Ok(Builder {
            pool: UntypedPool::none(),
            server_pool: Some(ServerMemory::single(memory, bits)),
            devices: DeviceMemory::none(),
            slots,
            scratch_tables: 0,
            counter_frequency: self.counter_frequency,
        })
    }

    /// Makes one object of type `ty` in a fresh root slot.
    pub fn make<T: CapType>(
        &mut self,
        ty: ObjectType,
        size_bits: u32,
        what: &'static str,
    ) -> Result<Cap<T>, BuildError> {
        let slot = self.slots.alloc().ok_or(BuildError::OutOfSlots)?;
        match self.retype(ty, size_bits, Cap::<CNode>::invoker_root(), slot, 1) {
            Ok(()) => Ok(Cap::from_cptr(slot)),
            Err(error) => {
                self.slots.free(slot);
                Err(BuildError::Kernel { what, error })
            }
        }
    }

    /// Retypes from where objects come from now: the server's Untyped inside
    /// [`enter`](Self::enter), the boot Untypeds otherwise (see [`UntypedPool::retype`]).
    pub fn retype(
        &mut self,
        ty: ObjectType,
        size_bits: u32,
        dest_cnode: Cap<CNode>,
        dest_index: axolotl_rt::CPtr,
        count: u64,
    ) -> Result<(), Error> {
        match &mut self.server_pool {
            Some(memory) => memory.retype(ty, size_bits, dest_cnode, dest_index, count),
            None => self
                .pool
                .retype(ty, size_bits, dest_cnode, dest_index, count),
        }
    }

    /// Makes objects from `memory` (a server's own Untyped) until [`leave`](Self::leave).
    pub fn enter(&mut self, memory: ServerMemory) {
        self.server_pool = Some(memory);
    }

    /// Back to the boot Untypeds; returns the server's, with its watermark.
    pub fn leave(&mut self) -> Option<ServerMemory> {
        self.server_pool.take()
    }

    /// Makes the frame of device registers at `paddr` in a fresh root slot.
    pub fn device_frame(&mut self, paddr: u64) -> Result<Cap<Frame>, BuildError> {
        let slot = self.slots.alloc().ok_or(BuildError::OutOfSlots)?;
        self.devices
            .frame_at(paddr, slot, &mut self.slots)
            .map_err(|e| {
                self.slots.free(slot);
                match e {
                    DeviceMemoryError::NotDeviceMemory => BuildError::NotDeviceMemory { paddr },
                    DeviceMemoryError::InUse => BuildError::DeviceMemoryInUse { paddr },
                    DeviceMemoryError::Kernel(what, error) => BuildError::Kernel { what, error },
                }
            })
    }

    /// Deletes a capability in the root CNode and takes its slot back.
    pub fn delete<T: CapType>(&mut self, cap: Cap<T>) -> Result<(), BuildError> {
        root::cnode()
            .delete(cap.cptr())
            .context("delete a root capability")?;
        self.slots.free(cap.cptr());
        Ok(())
    }

    /// A bookkeeping CNode with room for `slots` capabilities.
    pub fn make_storage(&mut self, slots: u64) -> Result<Storage, BuildError> {
        let radix = slots.max(2).next_power_of_two().trailing_zeros();
        if radix > axolotl_abi::object::CNODE_MAX_RADIX {
            return Err(BuildError::TooLarge {
                pages: slots,
                max: 1 << axolotl_abi::object::CNODE_MAX_RADIX,
            });
        }
        let cnode = self.make(ObjectType::CNode, radix, "make the bookkeeping CNode")?;
        Ok(Storage {
            cnode,
            next: 0,
            end: 1 << radix,
        })
    }

    /// Moves `cap` from the root CNode into `storage` and frees its root slot; returns its slot
    /// in `storage`.
    pub fn stash<T: CapType>(
        &mut self,
        storage: &mut Storage,
        cap: Cap<T>,
    ) -> Result<CPtr, BuildError> {
        if storage.next >= storage.end {
            return Err(BuildError::StorageFull);
        }
        storage
            .cnode
            .move_(storage.next, Cap::<CNode>::invoker_root(), cap.cptr())
            .context("move a capability to the bookkeeping CNode")?;
        storage.next += 1;
        self.slots.free(cap.cptr());
        Ok(storage.next - 1)
    }

    /// Maps `frame` at `vaddr` in `vspace`, making and mapping page tables (in fresh root slots)
    /// for every missing level first; returns the tables made.
    pub fn map_frame(
        &mut self,
        frame: Cap<Frame>,
        vspace: Cap<VSpace>,
        vaddr: u64,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<NewTables, BuildError> {
        let mut tables = NewTables::new();
        loop {
            match frame.map(vspace, vaddr, rights, attrs) {
                Ok(()) => return Ok(tables),
                Err(Error::FailedLookup) if !tables.is_full() => {
                    // The root task's own tables outlive any server: never from a server's
                    // Untyped.
                    let table: Cap<PageTable> = if vspace.cptr() == root::vspace().cptr() {
                        let server = self.server_pool.take();
                        let table = self.make(ObjectType::PageTable, 0, "make a page table");
                        self.server_pool = server;
                        table?
                    } else {
                        self.make(ObjectType::PageTable, 0, "make a page table")?
                    };
                    if let Err(error) = table.map(vspace, vaddr) {
                        let _ = self.delete(table);
                        return Err(BuildError::Kernel {
                            what: "map a page table",
                            error,
                        });
                    }
                    let _ = tables.push(table);
                }
                Err(Error::FailedLookup) => return Err(BuildError::PageTableLoop { vaddr }),
                Err(error) => {
                    return Err(BuildError::Kernel {
                        what: "map a frame",
                        error,
                    });
                }
            }
        }
    }

    /// Makes a frame in a fresh root slot and fills it through [`fill_frame`](Self::fill_frame);
    /// on failure nothing is left behind.
    pub fn make_filled_frame(
        &mut self,
        what: &'static str,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Cap<Frame>, BuildError> {
        let frame: Cap<Frame> = self.make(ObjectType::Frame, 0, what)?;
        if let Err(e) = self.fill_frame(frame, fill) {
            let _ = self.delete(frame);
            return Err(e);
        }
        Ok(frame)
    }

    /// Maps `frame` at [`SCRATCH_VADDR`] in the root's VSpace, lets `fill` write the page, and
    /// unmaps it again.
    pub fn fill_frame<R>(
        &mut self,
        frame: Cap<Frame>,
        fill: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, BuildError> {
        let tables = self.map_frame(
            frame,
            root::vspace(),
            SCRATCH_VADDR,
            CapRights::READ_WRITE,
            VmAttributes::NONE,
        )?;
        // The root's own page tables stay in its CNode: they are made once and reused.
        self.scratch_tables += tables.len();
        // SAFETY: `frame` is mapped read/write at SCRATCH_VADDR (page-aligned, one page) in this
        // address space, where nothing else lives, and stays mapped until the unmap below, after
        // the slice's last use. The kernel does not write the frame meanwhile.
        let page = unsafe {
            core::slice::from_raw_parts_mut(SCRATCH_VADDR as usize as *mut u8, PAGE_SIZE)
        };
        let result = fill(page);
        frame.unmap().context("unmap the scratch page")?;
        Ok(result)
    }
}
