//! The boot Untyped memory, from which the root task makes every object.
//!
//! The pool mirrors the kernel's watermark arithmetic (`axolotl_kcore::untyped::allocate`, the
//! code the kernel itself runs) to pick an Untyped with room. Among those with room it takes the
//! smallest, which keeps large Untypeds whole for large objects. Should the kernel disagree and
//! answer `NotEnoughMemory`, that Untyped is treated as full and the next one is tried, so a
//! mismatch costs memory, never correctness. Device Untypeds are kept apart, in
//! [`DeviceMemory`], which makes the frames of device registers at given physical addresses.

use axolotl_abi::bootinfo::{BootInfo, MAX_BOOT_UNTYPED};
use axolotl_abi::{Error, ObjectType, PAGE_BITS};
use axolotl_kcore::untyped::allocate;
use axolotl_rt::{CNode, CPtr, Cap, Frame, Untyped, root};

#[derive(Clone, Copy, Debug)]
struct Region {
    cap: Cap<Untyped>,
    size_bits: u32,
    /// The kernel's watermark as far as the root task knows.
    free_offset: u64,
}

impl Region {
    fn free_bytes(&self) -> u64 {
        (1u64 << self.size_bits).saturating_sub(self.free_offset)
    }
}

/// Untyped capabilities to make objects from: the boot Untypeds (`N` = [`MAX_BOOT_UNTYPED`]), or
/// one server's own Untyped (`N` = 1, [`ServerMemory`]).
pub struct UntypedPool<const N: usize = MAX_BOOT_UNTYPED> {
    regions: heapless::Vec<Region, N>,
}

/// A server's own Untyped, from which all its objects are made.
pub type ServerMemory = UntypedPool<1>;

impl UntypedPool {
    /// No memory (a builder that makes everything from its own Untyped).
    pub fn none() -> UntypedPool {
        UntypedPool {
            regions: heapless::Vec::new(),
        }
    }

    /// The boot info's normal-memory Untypeds, all assumed unused (watermark 0).
    pub fn new(bootinfo: &BootInfo) -> UntypedPool {
        let mut regions = heapless::Vec::new();
        for (cap, desc) in root::untyped(bootinfo) {
            if desc.is_device == 0 && u32::from(desc.size_bits) < u64::BITS {
                let _ = regions.push(Region {
                    cap,
                    size_bits: u32::from(desc.size_bits),
                    free_offset: 0,
                });
            }
        }
        UntypedPool { regions }
    }
}

impl ServerMemory {
    /// A pool of one Untyped of 2^`size_bits` bytes, unused (a server's own memory).
    pub fn single(cap: Cap<Untyped>, size_bits: u32) -> ServerMemory {
        let mut regions = heapless::Vec::new();
        let _ = regions.push(Region {
            cap,
            size_bits,
            free_offset: 0,
        });
        UntypedPool { regions }
    }

    /// The Untyped of a [`single`](Self::single) pool and its size in bits.
    pub fn only(&self) -> Option<(Cap<Untyped>, u32)> {
        match self.regions.as_slice() {
            [r] => Some((r.cap, r.size_bits)),
            _ => None,
        }
    }

    /// Every region unused again: after its Untypeds were revoked.
    pub fn reset(&mut self) {
        for r in &mut self.regions {
            r.free_offset = 0;
        }
    }
}

impl<const N: usize> UntypedPool<N> {
    /// Free bytes left, as far as the root task knows.
    pub fn free_bytes(&self) -> u64 {
        self.regions.iter().map(Region::free_bytes).sum()
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// The index of the smallest region where `count` objects of `2^object_bits` bytes fit, and
    /// the watermark it would have after.
    fn choose(&self, object_bits: u32, count: u64) -> Option<(usize, u64)> {
        self.regions
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                allocate(r.size_bits, r.free_offset, object_bits, count)
                    .ok()
                    .map(|a| (i, a.new_free_offset))
            })
            .min_by_key(|&(i, _)| self.regions[i].size_bits)
    }

    /// Makes `count` objects of type `ty` in slots `dest_index..` of `dest_cnode` (a CNode in the
    /// root's CSpace; [`Cap::<CNode>::invoker_root`] for the root's own).
    pub fn retype(
        &mut self,
        ty: ObjectType,
        size_bits: u32,
        dest_cnode: Cap<CNode>,
        dest_index: CPtr,
        count: u64,
    ) -> Result<(), Error> {
        let object_bits = ty.object_bits(size_bits).ok_or(Error::InvalidArgument)?;
        while let Some((i, new_free_offset)) = self.choose(object_bits, count) {
            let region = &mut self.regions[i];
            match region
                .cap
                .retype(ty, size_bits, dest_cnode, dest_index, count)
            {
                Ok(()) => {
                    region.free_offset = new_free_offset;
                    return Ok(());
                }
                Err(Error::NotEnoughMemory) => {
                    log::debug!("untyped {:?} fuller than expected", region.cap);
                    region.free_offset = 1u64 << region.size_bits;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NotEnoughMemory)
    }
}

/// A device Untyped: its physical range and how far the root task has used it.
#[derive(Clone, Copy, Debug)]
struct DeviceRegion {
    cap: Cap<Untyped>,
    paddr: u64,
    size_bits: u32,
    /// The kernel's watermark: frames below it are made.
    free_offset: u64,
}

/// Why [`DeviceMemory::frame_at`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceMemoryError {
    /// No device Untyped covers the address.
    NotDeviceMemory,
    /// The frame there was already made (for another grant).
    InUse,
    /// A retype, an address check or a deletion failed.
    Kernel(&'static str, Error),
}

/// The boot info's device Untypeds (device registers), from which the root task makes the frames
/// it maps into drivers.
///
/// The kernel places objects in an Untyped at a rising watermark, so the frame at a given address
/// is reached by first filling the gap below it with padding Untypeds (the largest aligned blocks
/// that fit: a few retypes whatever the gap), then making the frame, then deleting the padding:
/// the frame, still a child of the Untyped, keeps the watermark where it is. Frames are therefore
/// made in rising address order within one Untyped; an address below the watermark is in use.
pub struct DeviceMemory {
    regions: heapless::Vec<DeviceRegion, MAX_BOOT_UNTYPED>,
}

/// The blocks (log2 sizes) that fill `[from, to)` (both page-aligned offsets in an Untyped), each
/// aligned to its size, largest first where alignment allows.
pub fn padding(from: u64, to: u64) -> impl Iterator<Item = u32> {
    let mut at = from;
    core::iter::from_fn(move || {
        if at >= to {
            return None;
        }
        let align = if at == 0 { 63 } else { at.trailing_zeros() };
        let fits = (to - at).ilog2();
        let bits = align.min(fits);
        at += 1 << bits;
        Some(bits)
    })
}

impl DeviceMemory {
    /// No device memory (a builder that never maps devices).
    pub fn none() -> DeviceMemory {
        DeviceMemory {
            regions: heapless::Vec::new(),
        }
    }

    pub fn new(bootinfo: &BootInfo) -> DeviceMemory {
        let mut regions = heapless::Vec::new();
        for (cap, desc) in root::untyped(bootinfo) {
            if desc.is_device != 0 && u32::from(desc.size_bits) < u64::BITS {
                let _ = regions.push(DeviceRegion {
                    cap,
                    paddr: desc.paddr,
                    size_bits: u32::from(desc.size_bits),
                    free_offset: 0,
                });
            }
        }
        DeviceMemory { regions }
    }

    /// Makes the frame of device memory at `paddr` (page-aligned) in root slot `dest`; `scratch`
    /// gives (and takes back) root slots for the padding.
    pub fn frame_at(
        &mut self,
        paddr: u64,
        dest: CPtr,
        scratch: &mut crate::slots::SlotAllocator,
    ) -> Result<Cap<Frame>, DeviceMemoryError> {
        let region = self
            .regions
            .iter_mut()
            .find(|r| paddr >= r.paddr && paddr - r.paddr < 1u64 << r.size_bits)
            .ok_or(DeviceMemoryError::NotDeviceMemory)?;
        let offset = (paddr - region.paddr) & !((1u64 << PAGE_BITS) - 1);
        if offset < region.free_offset {
            return Err(DeviceMemoryError::InUse);
        }
        let root_cnode = Cap::<CNode>::invoker_root();
        let mut pads: heapless::Vec<CPtr, 64> = heapless::Vec::new();
        let mut result = Ok(());
        for bits in padding(region.free_offset, offset) {
            let Some(slot) = scratch.alloc() else {
                result = Err(DeviceMemoryError::Kernel(
                    "pad device memory",
                    Error::RangeError,
                ));
                break;
            };
            if let Err(e) = region
                .cap
                .retype(ObjectType::Untyped, bits, root_cnode, slot, 1)
            {
                scratch.free(slot);
                result = Err(DeviceMemoryError::Kernel("pad device memory", e));
                break;
            }
            let _ = pads.push(slot);
        }
        let frame = result.and_then(|()| {
            region
                .cap
                .retype(ObjectType::Frame, 0, root_cnode, dest, 1)
                .map_err(|e| DeviceMemoryError::Kernel("make a device frame", e))
        });
        // Delete the padding only now: while the frame exists, the watermark stays above it.
        for &slot in pads.iter().rev() {
            if root::cnode().delete(slot).is_ok() {
                scratch.free(slot);
            }
        }
        frame?;
        region.free_offset = offset + (1u64 << PAGE_BITS);
        let frame = Cap::<Frame>::from_cptr(dest);
        match frame.paddr() {
            Ok(got) if got == paddr & !((1u64 << PAGE_BITS) - 1) => Ok(frame),
            Ok(_) => {
                let _ = root::cnode().delete(dest);
                Err(DeviceMemoryError::InUse)
            }
            Err(e) => {
                let _ = root::cnode().delete(dest);
                Err(DeviceMemoryError::Kernel(
                    "read a device frame's address",
                    e,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(sizes: &[(u32, u64)]) -> UntypedPool {
        let mut regions = heapless::Vec::new();
        for (i, &(size_bits, free_offset)) in sizes.iter().enumerate() {
            let _ = regions.push(Region {
                cap: Cap::from_cptr(100 + i as u64),
                size_bits,
                free_offset,
            });
        }
        UntypedPool { regions }
    }

    #[test]
    fn picks_the_smallest_region_with_room() {
        let p = pool(&[(20, 0), (14, 0), (16, 0)]);
        // A 4 KiB frame fits everywhere; the 16 KiB region is the smallest.
        assert_eq!(p.choose(12, 1), Some((1, 0x1000)));
        // A 32 KiB object does not fit in 16 KiB.
        assert_eq!(p.choose(15, 1), Some((2, 0x8000)));
        // Alignment: a 16 KiB object after a 16-byte one starts at 16 KiB.
        let p = pool(&[(16, 0x10)]);
        assert_eq!(p.choose(14, 1), Some((0, 0x8000)));
        let p = pool(&[(14, 0x3000)]);
        assert_eq!(p.choose(12, 2), None);
        assert_eq!(p.free_bytes(), 0x1000);
    }

    #[test]
    fn padding_fills_the_gap_with_aligned_blocks() {
        let blocks = |from, to| padding(from, to).collect::<heapless::Vec<u32, 64>>();
        assert!(blocks(0x3000, 0x3000).is_empty());
        assert_eq!(blocks(0, 0x1000), [12]);
        assert_eq!(blocks(0, 0x3000), [13, 12]);
        assert_eq!(blocks(0x1000, 0x8000), [12, 13, 14]);
        assert_eq!(blocks(0x1000, 0x4000_0000).len(), 18);
        // Every block is aligned to its size and they tile the gap exactly.
        let mut at = 0x5000u64;
        for bits in padding(0x5000, 0x123_4000) {
            assert_eq!(at % (1 << bits), 0);
            at += 1 << bits;
        }
        assert_eq!(at, 0x123_4000);
    }
}
