//! Memory shared with one other server (an image's `[[shared]]` region), from safe code.
//!
//! The root task maps each region read/write into both of its servers at the same offset of the
//! shared window, [`SERVER_SHARED_VADDR`]`..`[`SERVER_SHARED_END`]. By the server-info contract
//! nothing else lives there: no Rust object, stack or heap of this program, so reading or writing
//! it can never break memory the program's Rust code relies on. The other server may write the
//! same bytes at any time, so they are only ever copied in and out with volatile accesses (never
//! lent out as a Rust reference), and what they mean is the two servers' protocol (for the
//! network: `ipc_schema::net`, whose IPC calls hand each area from one server to the other).

use crate::server_info::{SERVER_SHARED_END, SERVER_SHARED_VADDR};
use axolotl_abi::PAGE_SIZE;
use core::sync::atomic::{Ordering, compiler_fence};

/// A shared region: `len` bytes at `base`, inside the shared window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedMemory {
    base: u64,
    len: usize,
}

impl SharedMemory {
    /// The region of `pages` pages at `vaddr`, if it lies wholly inside the shared window.
    pub fn new(vaddr: u64, pages: u64) -> Option<SharedMemory> {
        let len = pages.checked_mul(PAGE_SIZE as u64)?;
        let end = vaddr.checked_add(len)?;
        (vaddr >= SERVER_SHARED_VADDR && end <= SERVER_SHARED_END && len > 0).then_some(
            SharedMemory {
                base: vaddr,
                len: len as usize,
            },
        )
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of `offset..offset + n`, if inside the region.
    fn span(&self, offset: usize, n: usize) -> Option<*mut u8> {
        let end = offset.checked_add(n)?;
        (end <= self.len).then_some((self.base as usize + offset) as *mut u8)
    }

    /// Copies `dest.len()` bytes from `offset` into `dest`; `false` (nothing copied) if they are
    /// not all inside the region.
    pub fn read(&self, offset: usize, dest: &mut [u8]) -> bool {
        let Some(src) = self.span(offset, dest.len()) else {
            return false;
        };
        compiler_fence(Ordering::SeqCst);
        for (i, byte) in dest.iter_mut().enumerate() {
            // SAFETY: `src + i` is inside the region (checked by `span`), which the root task
            // mapped read/write in the shared window for the program's whole life; no Rust object
            // lives there (module documentation), so the read aliases nothing, and volatile
            // because the peer server may write the byte meanwhile.
            *byte = unsafe { src.add(i).read_volatile() };
        }
        true
    }

    /// Copies `src` to `offset`; `false` (nothing copied) if it does not fit in the region.
    pub fn write(&self, offset: usize, src: &[u8]) -> bool {
        let Some(dest) = self.span(offset, src.len()) else {
            return false;
        };
        for (i, &byte) in src.iter().enumerate() {
            // SAFETY: as in `read`: inside the region, mapped writable, holding no Rust object;
            // volatile because the peer reads it.
            unsafe { dest.add(i).write_volatile(byte) };
        }
        compiler_fence(Ordering::SeqCst);
        true
    }

    /// Moves `n` bytes from `from` to `to` inside the region (the ranges may overlap); `false`
    /// (nothing moved) if either is outside it.
    pub fn copy_within(&self, from: usize, to: usize, n: usize) -> bool {
        let (Some(src), Some(dest)) = (self.span(from, n), self.span(to, n)) else {
            return false;
        };
        compiler_fence(Ordering::SeqCst);
        let forward = to <= from;
        for k in 0..n {
            let i = if forward { k } else { n - 1 - k };
            // SAFETY: both bytes are inside the region (checked by `span`); copied one at a time
            // in the direction that reads each source byte before it is overwritten.
            unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
        }
        compiler_fence(Ordering::SeqCst);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_must_lie_in_the_window() {
        assert!(SharedMemory::new(SERVER_SHARED_VADDR, 1).is_some());
        assert!(SharedMemory::new(SERVER_SHARED_VADDR - 4096, 1).is_none());
        assert!(SharedMemory::new(SERVER_SHARED_END - 4096, 2).is_none());
        assert!(SharedMemory::new(SERVER_SHARED_VADDR, 0).is_none());
        let r = SharedMemory::new(SERVER_SHARED_VADDR, 2).unwrap();
        assert!(r.span(8192, 0).is_some());
        assert!(r.span(8190, 3).is_none());
        assert!(r.span(usize::MAX, 2).is_none());
    }
}
