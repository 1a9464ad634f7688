//! The bookkeeping of transactional memory regions: which addresses a region covers, and the undo
//! log of one transaction.
//!
//! A transactional server's writable memory is write-protected while it waits for a request. The
//! first write to a protected page in a transaction traps; the kernel copies the page's pre-image
//! (or, for the page holding the receive-time stack pointer, only the live part above it) into the
//! next free undo frame of the region's pool and records an [`UndoEntry`] here. Commit drops the
//! log (re-protecting the recorded pages); abort copies every pre-image back, newest first.
//!
//! Invariants: entry `i` of the log always uses undo frame `i` of the pool, so the log needs no
//! allocator; an address is recorded at most once per transaction (the page is writable after its
//! first trap); the log never holds more entries than the pool has frames.

/// One recorded page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UndoEntry {
    /// The page's user address.
    pub vaddr: u64,
    /// The page's physical address.
    pub frame: u64,
    /// Where the page's page-table entry lives (a kernel address), to re-protect it.
    pub pte: u64,
    /// Bytes before this offset were not saved (they were dead stack below the receive-time
    /// stack pointer); abort restores `[offset, 4096)`.
    pub offset: u16,
}

/// Why an entry could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFull {
    /// Every undo frame of the pool is in use.
    PoolExhausted,
}

/// The undo log of one region: at most `N` entries, and at most `pool` (the number of undo frames
/// the region has) in use.
#[derive(Clone, Copy, Debug)]
pub struct UndoLog<const N: usize> {
    len: usize,
    entries: [UndoEntry; N],
}

impl<const N: usize> Default for UndoLog<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> UndoLog<N> {
    /// An empty log.
    pub const fn new() -> Self {
        UndoLog {
            len: 0,
            entries: [UndoEntry {
                vaddr: 0,
                frame: 0,
                pte: 0,
                offset: 0,
            }; N],
        }
    }

    /// Records `entry` and returns the index of the undo frame it uses. `pool` is how many undo
    /// frames the region has (the log uses at most `min(pool, N)`).
    pub fn record(&mut self, pool: usize, entry: UndoEntry) -> Result<usize, LogFull> {
        if self.len >= pool.min(N) {
            return Err(LogFull::PoolExhausted);
        }
        self.entries[self.len] = entry;
        self.len += 1;
        Ok(self.len - 1)
    }

    /// The recorded entries, oldest first; entry `i` uses undo frame `i`.
    pub fn entries(&self) -> &[UndoEntry] {
        &self.entries[..self.len]
    }

    /// How many pages are recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the page at `vaddr` is recorded.
    pub fn contains(&self, vaddr: u64) -> bool {
        self.entries().iter().any(|e| e.vaddr == vaddr)
    }

    /// Drops every entry (after a commit, or after an abort restored them).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// Why a range cannot be added to a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// Start or end is not page aligned, or the range is empty or inverted.
    Misaligned,
    /// The range reaches `limit` (the end of user space) or beyond.
    OutOfRange,
    /// The range overlaps one the region already has.
    Overlaps,
    /// The region has no room for another range.
    TooMany,
}

/// The address ranges a region covers: up to `N` disjoint, page-aligned `[start, end)` ranges.
#[derive(Clone, Copy, Debug)]
pub struct Ranges<const N: usize> {
    len: usize,
    ranges: [(u64, u64); N],
}

impl<const N: usize> Default for Ranges<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ranges<N> {
    /// No ranges.
    pub const fn new() -> Self {
        Ranges {
            len: 0,
            ranges: [(0, 0); N],
        }
    }

    /// Adds `[start, end)`: page aligned, non-empty, below `limit`, disjoint from the others.
    pub fn add(&mut self, start: u64, end: u64, limit: u64) -> Result<(), RangeError> {
        const PAGE: u64 = 4096;
        if !start.is_multiple_of(PAGE) || !end.is_multiple_of(PAGE) || start >= end {
            return Err(RangeError::Misaligned);
        }
        if end > limit {
            return Err(RangeError::OutOfRange);
        }
        if self.as_slice().iter().any(|&(s, e)| start < e && s < end) {
            return Err(RangeError::Overlaps);
        }
        if self.len == N {
            return Err(RangeError::TooMany);
        }
        self.ranges[self.len] = (start, end);
        self.len += 1;
        Ok(())
    }

    /// The ranges, in the order they were added.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.ranges[..self.len]
    }

    /// Whether `vaddr` lies in one of the ranges.
    pub fn contains(&self, vaddr: u64) -> bool {
        self.as_slice()
            .iter()
            .any(|&(s, e)| s <= vaddr && vaddr < e)
    }
}

/// How much of the page at `page` a transaction must save before its first write, given the
/// receive-time stack pointer `sp` and the stack range `[stack_lo, stack_hi)` of the region (empty
/// if the region has no stack range). Stack below the receive-time stack pointer is dead when the
/// server is back at its receive point, so a page wholly below it needs no saving (`None`), and
/// the page holding it needs saving from the stack pointer up. Everything else is saved whole
/// (`Some(0)`).
pub fn save_from(page: u64, sp: u64, stack_lo: u64, stack_hi: u64) -> Option<u16> {
    const PAGE: u64 = 4096;
    if page < stack_lo || page >= stack_hi {
        return Some(0);
    }
    if page + PAGE <= sp {
        None
    } else if page <= sp {
        Some((sp - page) as u16)
    } else {
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(vaddr: u64) -> UndoEntry {
        UndoEntry {
            vaddr,
            frame: vaddr + 0x1000_0000,
            pte: 0xffff_0000_0000_0000 + vaddr / 512,
            offset: 0,
        }
    }

    #[test]
    fn log_records_in_order_and_respects_the_pool() {
        let mut log: UndoLog<8> = UndoLog::new();
        assert!(log.is_empty());
        assert_eq!(log.record(3, entry(0x1000)), Ok(0));
        assert_eq!(log.record(3, entry(0x5000)), Ok(1));
        assert_eq!(log.record(3, entry(0x2000)), Ok(2));
        assert_eq!(log.record(3, entry(0x3000)), Err(LogFull::PoolExhausted));
        assert_eq!(log.len(), 3);
        assert!(log.contains(0x5000) && !log.contains(0x3000));
        let order: Vec<u64> = log.entries().iter().map(|e| e.vaddr).collect();
        assert_eq!(order, [0x1000, 0x5000, 0x2000]);
        log.clear();
        assert!(log.is_empty());
        assert_eq!(log.record(3, entry(0x3000)), Ok(0));
    }

    #[test]
    fn log_never_exceeds_its_own_capacity() {
        let mut log: UndoLog<2> = UndoLog::new();
        assert!(log.record(100, entry(0)).is_ok());
        assert!(log.record(100, entry(0x1000)).is_ok());
        assert_eq!(log.record(100, entry(0x2000)), Err(LogFull::PoolExhausted));
        let mut none: UndoLog<4> = UndoLog::new();
        assert_eq!(none.record(0, entry(0)), Err(LogFull::PoolExhausted));
    }

    #[test]
    fn ranges_are_checked() {
        let mut r: Ranges<3> = Ranges::new();
        let limit = 1 << 47;
        assert_eq!(r.add(0x1001, 0x3000, limit), Err(RangeError::Misaligned));
        assert_eq!(r.add(0x3000, 0x3000, limit), Err(RangeError::Misaligned));
        assert_eq!(r.add(0x4000, 0x3000, limit), Err(RangeError::Misaligned));
        assert_eq!(
            r.add(0x1000, limit + 0x1000, limit),
            Err(RangeError::OutOfRange)
        );
        assert_eq!(r.add(0x1000, 0x3000, limit), Ok(()));
        assert_eq!(r.add(0x2000, 0x4000, limit), Err(RangeError::Overlaps));
        assert_eq!(r.add(0x0, 0x2000, limit), Err(RangeError::Overlaps));
        assert_eq!(r.add(0x3000, 0x4000, limit), Ok(()));
        assert_eq!(r.add(0x8000, 0x9000, limit), Ok(()));
        assert_eq!(r.add(0xa000, 0xb000, limit), Err(RangeError::TooMany));
        assert!(
            r.contains(0x1000) && r.contains(0x2fff) && r.contains(0x3000) && r.contains(0x8fff)
        );
        assert!(!r.contains(0x0fff) && !r.contains(0x4000) && !r.contains(0x9000));
    }

    #[test]
    fn stack_pages_below_the_receive_point_need_no_saving() {
        let (lo, hi) = (0x10f0_0000, 0x1100_0000);
        let sp = 0x10ff_e840;
        assert_eq!(save_from(0x10ff_d000, sp, lo, hi), None);
        assert_eq!(save_from(0x10ff_e000, sp, lo, hi), Some(0x840));
        assert_eq!(save_from(0x10ff_f000, sp, lo, hi), Some(0));
        // Outside the stack range everything is saved whole.
        assert_eq!(save_from(0x3000_0000, sp, lo, hi), Some(0));
        // No stack range at all.
        assert_eq!(save_from(0x10ff_d000, sp, 0, 0), Some(0));
        // A stack pointer exactly on a page boundary: that page is live from its start.
        assert_eq!(save_from(0x10ff_e000, 0x10ff_e000, lo, hi), Some(0));
        assert_eq!(save_from(0x10ff_d000, 0x10ff_e000, lo, hi), None);
    }
}
