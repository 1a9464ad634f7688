//! The free slots of the root CNode: handed out in order, and taken back once emptied (transient
//! slots hold a capability only until it is moved into a server's bookkeeping CNode).

use axolotl_abi::CPtr;
use core::ops::Range;

/// How many returned slots are remembered for reuse; more are simply not reused.
const RECYCLED: usize = 64;

pub struct SlotAllocator {
    next: CPtr,
    end: CPtr,
    recycled: heapless::Vec<CPtr, RECYCLED>,
}

impl SlotAllocator {
    pub fn new(free: Range<CPtr>) -> SlotAllocator {
        SlotAllocator {
            next: free.start,
            end: free.end,
            recycled: heapless::Vec::new(),
        }
    }

    /// An empty slot, or `None` if the CNode is full.
    pub fn alloc(&mut self) -> Option<CPtr> {
        if let Some(slot) = self.recycled.pop() {
            return Some(slot);
        }
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// Takes back a slot the caller has emptied.
    pub fn free(&mut self, slot: CPtr) {
        if slot + 1 == self.next {
            self.next -= 1;
        } else {
            let _ = self.recycled.push(slot);
        }
    }

    /// Hands `count` never-used slots from the end of the range to a new allocator (for a part
    /// of the root task that makes objects on its own, e.g. the patcher); `None` if fewer remain.
    pub fn split_off(&mut self, count: CPtr) -> Option<SlotAllocator> {
        if self.end.saturating_sub(self.next) < count {
            return None;
        }
        self.end -= count;
        Some(SlotAllocator::new(self.end..self.end + count))
    }

    /// Slots never handed out plus those returned.
    pub fn available(&self) -> u64 {
        self.end.saturating_sub(self.next) + self.recycled.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_and_reuses() {
        let mut s = SlotAllocator::new(10..13);
        assert_eq!(s.alloc(), Some(10));
        assert_eq!(s.alloc(), Some(11));
        s.free(10);
        assert_eq!(s.available(), 2);
        assert_eq!(s.alloc(), Some(10));
        assert_eq!(s.alloc(), Some(12));
        assert_eq!(s.alloc(), None);
        s.free(12);
        assert_eq!(s.alloc(), Some(12));
    }

    #[test]
    fn splits_off_the_end() {
        let mut s = SlotAllocator::new(10..20);
        assert_eq!(s.alloc(), Some(10));
        let mut part = s.split_off(4).unwrap();
        assert_eq!((part.alloc(), part.available()), (Some(16), 3));
        assert_eq!(s.available(), 5);
        assert!(s.split_off(6).is_none());
        assert_eq!(s.split_off(5).map(|p| p.available()), Some(5));
        assert_eq!(s.alloc(), None);
    }
}
