//! The boot Untyped memory, from which the root task makes every object.
//!
//! The pool mirrors the kernel's watermark arithmetic (`axolotl_kcore::untyped::allocate`, the
//! code the kernel itself runs) to pick an Untyped with room. Among those with room it takes the
//! smallest, which keeps large Untypeds whole for large objects. Should the kernel disagree and
//! answer `NotEnoughMemory`, that Untyped is treated as full and the next one is tried, so a
//! mismatch costs memory, never correctness. Device Untypeds are left alone.

use axolotl_abi::bootinfo::{BootInfo, MAX_BOOT_UNTYPED};
use axolotl_abi::{Error, ObjectType};
use axolotl_kcore::untyped::allocate;
use axolotl_rt::{CNode, CPtr, Cap, Untyped, root};

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

pub struct UntypedPool {
    regions: heapless::Vec<Region, MAX_BOOT_UNTYPED>,
}

impl UntypedPool {
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
}
