//! The step planner of a wait-free code patch: how the supervisor builds the clone address space
//! in bounded steps.
//!
//! The clone is made of two kinds of pages: fresh frames holding the new build's code and
//! read-only data (each made, filled with a page copy and mapped: [`CODE_COST`]) and copies of
//! the capabilities of the server's other frames, mapped at the same addresses ([`SHARED_COST`]).
//! Either may also make up to three page tables. The supervisor runs above every server, so each
//! of its actions stops them all; [`ClonePlan`] cuts the work into batches of at most a budget
//! of cost units (never empty while work remains), code pages first, so that no single `begin`
//! or `step` stops the servers for long. Threads move into the clone only once it is
//! [`complete`](ClonePlan::complete).

use core::ops::Range;

/// Cost units of a new code page: a frame made (zeroed by the kernel), filled, mapped.
pub const CODE_COST: u32 = 2;
/// Cost units of a shared page: a capability copied and mapped.
pub const SHARED_COST: u32 = 1;

/// The pages of one batch: indices into the new build's code pages and into the shared frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub code: Range<usize>,
    pub shared: Range<usize>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.code.is_empty() && self.shared.is_empty()
    }

    /// Its cost in units.
    pub fn cost(&self) -> u32 {
        self.code.len() as u32 * CODE_COST + self.shared.len() as u32 * SHARED_COST
    }
}

/// How far the clone is built: `code` code pages and `shared` shared pages in all, the first
/// `code_done` and `shared_done` of them built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClonePlan {
    code: usize,
    shared: usize,
    code_done: usize,
    shared_done: usize,
}

impl ClonePlan {
    pub fn new(code: usize, shared: usize) -> ClonePlan {
        ClonePlan {
            code,
            shared,
            ..ClonePlan::default()
        }
    }

    /// The next batch within `budget` cost units (at least one page while any remain, even if it
    /// costs more than the budget). It is not marked built: call [`done`](Self::done) once it
    /// is.
    pub fn next(&self, budget: u32) -> Batch {
        let mut left = budget;
        let mut take = |done: usize, total: usize, cost: u32, first: bool| {
            let mut n = 0;
            while done + n < total && (left >= cost || (first && n == 0)) {
                left = left.saturating_sub(cost);
                n += 1;
            }
            done..done + n
        };
        let code = take(self.code_done, self.code, CODE_COST, true);
        let shared = take(self.shared_done, self.shared, SHARED_COST, code.is_empty());
        Batch { code, shared }
    }

    /// Marks `batch` (the last [`next`](Self::next)) built; a batch that does not continue where
    /// the plan stands changes nothing and is refused.
    pub fn done(&mut self, batch: &Batch) -> bool {
        let fits = |r: &Range<usize>, done: usize, total: usize| {
            r.is_empty() || (r.start == done && r.end <= total)
        };
        if !fits(&batch.code, self.code_done, self.code)
            || !fits(&batch.shared, self.shared_done, self.shared)
        {
            return false;
        }
        if !batch.code.is_empty() {
            self.code_done = batch.code.end;
        }
        if !batch.shared.is_empty() {
            self.shared_done = batch.shared.end;
        }
        true
    }

    /// Code pages and shared pages built so far.
    pub fn built(&self) -> (usize, usize) {
        (self.code_done, self.shared_done)
    }

    /// Pages still to build.
    pub fn remaining(&self) -> usize {
        (self.code - self.code_done) + (self.shared - self.shared_done)
    }

    pub fn complete(&self) -> bool {
        self.remaining() == 0
    }

    /// How many batches of `budget` the whole clone takes (for a caller pacing the steps).
    pub fn steps(code: usize, shared: usize, budget: u32) -> usize {
        let mut plan = ClonePlan::new(code, shared);
        let mut n = 0;
        while !plan.complete() {
            let b = plan.next(budget);
            plan.done(&b);
            n += 1;
        }
        n
    }
}

/// The most page tables (below the VSpace root) that mapping pages at `vaddrs` can need, with
/// 512-entry tables at every level (aarch64 with 4 KiB pages, x86_64): one per distinct 2 MiB,
/// 1 GiB and 512 GiB region. Sizes the clone's bookkeeping CNode, so that making it costs no
/// more than the address space needs.
pub fn page_tables(vaddrs: &[u64]) -> usize {
    [21u32, 30, 39]
        .iter()
        .map(|&shift| {
            let mut regions = vaddrs.iter().map(|&v| v >> shift);
            let mut seen: heapless::Vec<u64, 64> = heapless::Vec::new();
            let mut extra = 0;
            for r in regions.by_ref() {
                if !seen.contains(&r) && seen.push(r).is_err() {
                    // More regions than tracked: count each as new (an upper bound).
                    extra += 1;
                }
            }
            seen.len() + extra
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a whole plan batch by batch; returns the batches.
    fn run(code: usize, shared: usize, budget: u32) -> std::vec::Vec<Batch> {
        let mut plan = ClonePlan::new(code, shared);
        let mut out = std::vec::Vec::new();
        while !plan.complete() {
            let b = plan.next(budget);
            assert!(!b.is_empty(), "a batch makes progress");
            assert!(plan.done(&b));
            out.push(b);
            assert!(out.len() <= code + shared, "never more batches than pages");
        }
        out
    }

    #[test]
    fn every_page_is_built_once_in_order_within_the_budget() {
        for (code, shared, budget) in [(6, 22, 8), (7, 23, 8), (1, 0, 8), (0, 5, 3), (3, 3, 1)] {
            let batches = run(code, shared, budget);
            let (mut c, mut s) = (0, 0);
            for b in &batches {
                if !b.code.is_empty() {
                    assert_eq!(b.code.start, c);
                    c = b.code.end;
                }
                if !b.shared.is_empty() {
                    assert_eq!(b.shared.start, s);
                    s = b.shared.end;
                }
                // Over budget only when one page alone costs more than the budget.
                assert!(b.cost() <= budget.max(CODE_COST), "{b:?} over {budget}");
            }
            assert_eq!((c, s), (code, shared));
            assert_eq!(batches.len(), ClonePlan::steps(code, shared, budget));
        }
    }

    #[test]
    fn code_pages_come_first_and_batches_fill_up() {
        let batches = run(6, 22, 8);
        assert_eq!(
            batches[0],
            Batch {
                code: 0..4,
                shared: 0..0
            }
        );
        assert_eq!(
            batches[1],
            Batch {
                code: 4..6,
                shared: 0..4
            }
        );
        assert_eq!(
            batches[2],
            Batch {
                code: 6..6,
                shared: 4..12
            }
        );
        assert_eq!(batches.len(), 5);
    }

    #[test]
    fn page_tables_count_distinct_regions_per_level() {
        assert_eq!(page_tables(&[]), 0);
        // One page: a table at each of the three levels.
        assert_eq!(page_tables(&[0x20_0000]), 3);
        // The same 2 MiB region: still three.
        assert_eq!(page_tables(&[0x20_0000, 0x20_1000, 0x3f_f000]), 3);
        // Another 2 MiB region in the same GiB: one more; another GiB: two more.
        assert_eq!(page_tables(&[0x20_0000, 0x40_0000]), 4);
        assert_eq!(
            page_tables(&[0x20_0000, 0x40_0000, 0x1000_0000, 0x4000_0000]),
            7
        );
    }

    #[test]
    fn a_zero_budget_still_makes_progress() {
        let batches = run(2, 2, 0);
        assert_eq!(batches.len(), 4);
        assert!(batches.iter().all(|b| b.code.len() + b.shared.len() == 1));
    }

    #[test]
    fn an_empty_clone_is_complete_and_stale_batches_are_refused() {
        assert!(ClonePlan::new(0, 0).complete());
        assert!(ClonePlan::new(0, 0).next(8).is_empty());
        let mut plan = ClonePlan::new(4, 4);
        let first = plan.next(4);
        assert!(plan.done(&first));
        assert_eq!(plan.built(), (2, 0));
        // The same batch again does not continue where the plan stands.
        assert!(!plan.done(&first));
        assert!(!plan.done(&Batch {
            code: 2..9,
            shared: 0..0
        }));
        assert_eq!(plan.remaining(), 6);
    }
}
