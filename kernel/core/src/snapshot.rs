//! The bookkeeping of concurrent snapshots of a transactional region (after the UESTC concurrent
//! checkpoint): which pages of the region are still to be copied, and where each page goes.
//!
//! A snapshot numbers the pages of a region in the order of its ranges: page `i` of the region is
//! the `i`-th page counting through the ranges as they were added. Snapshot frame `i` holds page
//! `i` as it was at the snapshot point. While a snapshot is in progress, [`PageBitmap`] `pending`
//! says which pages are not yet copied; both the copier (`TxRegionSnapshotStep`) and the write
//! fault path (copy-before-write) clear a page's bit when they copy it, so every page is copied
//! exactly once, and always before its first write after the snapshot point.
//!
//! Invariants: a bitmap never has a bit set at or beyond its length; `count` equals the number of
//! set bits.

use crate::undo::Ranges;

/// A fixed-size set of page indices `0..len` (at most `64 * W`).
#[derive(Clone, Copy, Debug)]
pub struct PageBitmap<const W: usize> {
    len: usize,
    count: usize,
    words: [u64; W],
}

impl<const W: usize> Default for PageBitmap<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const W: usize> PageBitmap<W> {
    /// The most pages a bitmap holds.
    pub const CAPACITY: usize = 64 * W;

    /// An empty bitmap of length 0.
    pub const fn new() -> Self {
        PageBitmap {
            len: 0,
            count: 0,
            words: [0; W],
        }
    }

    /// A bitmap of `len` pages (clamped to [`Self::CAPACITY`]), all set when `full`.
    pub fn with_len(len: usize, full: bool) -> Self {
        let len = len.min(Self::CAPACITY);
        let mut b = PageBitmap {
            len,
            count: 0,
            words: [0; W],
        };
        if full {
            for i in 0..len / 64 {
                b.words[i] = u64::MAX;
            }
            if len % 64 != 0 {
                b.words[len / 64] = (1u64 << (len % 64)) - 1;
            }
            b.count = len;
        }
        b
    }

    /// How many pages the bitmap covers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it covers no page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pages are set.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether page `i` is set (false beyond the length).
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Sets page `i`; returns whether it was clear (false beyond the length).
    pub fn set(&mut self, i: usize) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.words[i / 64] |= 1 << (i % 64);
        self.count += 1;
        true
    }

    /// Clears page `i`; returns whether it was set.
    pub fn clear(&mut self, i: usize) -> bool {
        if !self.get(i) {
            return false;
        }
        self.words[i / 64] &= !(1 << (i % 64));
        self.count -= 1;
        true
    }

    /// The first set page at or after `from`, if any.
    pub fn next_set(&self, from: usize) -> Option<usize> {
        if from >= self.len {
            return None;
        }
        let mut w = from / 64;
        let mut bits = self.words[w] & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                return (i < self.len).then_some(i);
            }
            w += 1;
            if w * 64 >= self.len {
                return None;
            }
            bits = self.words[w];
        }
    }
}

/// How many pages the ranges cover in all.
pub fn total_pages<const N: usize>(ranges: &Ranges<N>) -> usize {
    ranges
        .as_slice()
        .iter()
        .map(|&(s, e)| ((e - s) / 4096) as usize)
        .sum()
}

/// The index of the page holding `vaddr` in the numbering of `ranges` (see the module's doc), or
/// `None` if no range holds it. O(number of ranges).
pub fn page_index<const N: usize>(ranges: &Ranges<N>, vaddr: u64) -> Option<usize> {
    let mut before = 0usize;
    for &(s, e) in ranges.as_slice() {
        if s <= vaddr && vaddr < e {
            return Some(before + ((vaddr - s) / 4096) as usize);
        }
        before += ((e - s) / 4096) as usize;
    }
    None
}

/// The address of page `index` in the numbering of `ranges`, or `None` past the last page.
pub fn page_address<const N: usize>(ranges: &Ranges<N>, index: usize) -> Option<u64> {
    let mut rest = index as u64;
    for &(s, e) in ranges.as_slice() {
        let pages = (e - s) / 4096;
        if rest < pages {
            return Some(s + rest * 4096);
        }
        rest -= pages;
    }
    None
}

/// Whether two regions cover exactly the same ranges in the same order (a snapshot of one can be
/// restored into the other).
pub fn same_layout<const N: usize>(a: &Ranges<N>, b: &Ranges<N>) -> bool {
    a.as_slice() == b.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_sets_clears_and_counts() {
        let mut b: PageBitmap<2> = PageBitmap::with_len(70, false);
        assert_eq!((b.len(), b.count()), (70, 0));
        assert!(b.set(0) && b.set(63) && b.set(64) && b.set(69));
        assert!(!b.set(69), "already set");
        assert!(!b.set(70), "beyond the length");
        assert_eq!(b.count(), 4);
        assert!(b.get(63) && b.get(64) && !b.get(1) && !b.get(70) && !b.get(1000));
        assert!(b.clear(63) && !b.clear(63) && !b.clear(500));
        assert_eq!(b.count(), 3);
        assert_eq!(b.next_set(0), Some(0));
        assert_eq!(b.next_set(1), Some(64));
        assert_eq!(b.next_set(65), Some(69));
        assert_eq!(b.next_set(70), None);
    }

    #[test]
    fn a_full_bitmap_has_exactly_its_length_set() {
        for len in [0, 1, 63, 64, 65, 127, 128] {
            let mut b: PageBitmap<2> = PageBitmap::with_len(len, true);
            assert_eq!(b.count(), len);
            let mut seen = 0;
            let mut at = 0;
            while let Some(i) = b.next_set(at) {
                assert!(i < len);
                assert!(b.clear(i));
                seen += 1;
                at = i + 1;
            }
            assert_eq!((seen, b.count()), (len, 0));
            assert_eq!(b.next_set(0), None);
        }
        // Clamped to the capacity.
        let b: PageBitmap<1> = PageBitmap::with_len(1000, true);
        assert_eq!((b.len(), b.count()), (64, 64));
    }

    #[test]
    fn pages_are_numbered_through_the_ranges() {
        let mut r: Ranges<4> = Ranges::new();
        r.add(0x20_0000, 0x20_3000, 1 << 47).unwrap(); // pages 0..3
        r.add(0x3000_0000, 0x3000_2000, 1 << 47).unwrap(); // pages 3..5
        r.add(0x1000_0000, 0x1000_1000, 1 << 47).unwrap(); // page 5
        assert_eq!(total_pages(&r), 6);
        assert_eq!(page_index(&r, 0x20_0000), Some(0));
        assert_eq!(page_index(&r, 0x20_2fff), Some(2));
        assert_eq!(page_index(&r, 0x3000_1008), Some(4));
        assert_eq!(page_index(&r, 0x1000_0000), Some(5));
        assert_eq!(page_index(&r, 0x20_3000), None);
        assert_eq!(page_index(&r, 0), None);
        for i in 0..6 {
            assert_eq!(page_index(&r, page_address(&r, i).unwrap()), Some(i));
        }
        assert_eq!(page_address(&r, 6), None);
        let empty: Ranges<4> = Ranges::new();
        assert_eq!((total_pages(&empty), page_address(&empty, 0)), (0, None));
    }

    #[test]
    fn layouts_compare_range_by_range() {
        let mut a: Ranges<4> = Ranges::new();
        let mut b: Ranges<4> = Ranges::new();
        assert!(same_layout(&a, &b));
        a.add(0x1000, 0x3000, 1 << 47).unwrap();
        assert!(!same_layout(&a, &b));
        b.add(0x1000, 0x2000, 1 << 47).unwrap();
        assert!(!same_layout(&a, &b));
        let mut c: Ranges<4> = Ranges::new();
        c.add(0x1000, 0x3000, 1 << 47).unwrap();
        assert!(same_layout(&a, &c));
    }
}
