//! The scheduler's ready queues: one FIFO [`Queue`] per priority and a bitmap of the non-empty
//! ones.
//!
//! Priorities are `0..=255` ([`axolotl_abi::NUM_PRIORITIES`]), 255 the highest. Round-robin within
//! a priority is the caller's business: at the end of a time slice it removes the current thread
//! and enqueues it at the back; a preempted thread goes back at the front.
//!
//! # Invariants
//!
//! 1. Bit `p % 64` of `words[p / 64]` is set iff queue `p` is non-empty.
//! 2. Bit `w` of `summary` is set iff `words[w] != 0`.
//! 3. Each queue satisfies the invariants of [`crate::queue`], and an element is in at most one
//!    queue; the caller remembers which priority it enqueued an element at (it is the thread's
//!    priority) and passes the same one to [`ReadyQueues::remove`].
//!
//! Every operation is O(1): finding the highest priority is two `leading_zeros`.

use crate::queue::{Queue, QueueStore};

const LEVELS: usize = 256;
const WORDS: usize = LEVELS / 64;

const _: () = assert!(axolotl_abi::NUM_PRIORITIES == LEVELS && LEVELS <= u8::MAX as usize + 1);

/// The ready queues of one CPU.
#[derive(Debug)]
pub struct ReadyQueues<I> {
    queues: [Queue<I>; LEVELS],
    /// Bit `p % 64` of `words[p / 64]`: queue `p` is non-empty.
    words: [u64; WORDS],
    /// Bit `w`: `words[w]` is non-zero.
    summary: u64,
}

impl<I: Copy + Eq> Default for ReadyQueues<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: Copy + Eq> ReadyQueues<I> {
    /// No thread ready at any priority.
    pub const fn new() -> Self {
        ReadyQueues {
            queues: [Queue::EMPTY; LEVELS],
            words: [0; WORDS],
            summary: 0,
        }
    }

    #[inline]
    fn mark_nonempty(&mut self, prio: u8) {
        let w = usize::from(prio) / 64;
        self.words[w] |= 1 << (prio % 64);
        self.summary |= 1 << w;
    }

    #[inline]
    fn mark_if_empty(&mut self, prio: u8) {
        if self.queues[usize::from(prio)].is_empty() {
            let w = usize::from(prio) / 64;
            self.words[w] &= !(1 << (prio % 64));
            if self.words[w] == 0 {
                self.summary &= !(1 << w);
            }
        }
    }

    /// Appends `id` to the back of queue `prio`. Precondition: `id` is in no queue.
    pub fn enqueue<S: QueueStore<Id = I>>(&mut self, s: &mut S, prio: u8, id: I) {
        self.queues[usize::from(prio)].push_back(s, id);
        self.mark_nonempty(prio);
    }

    /// Inserts `id` at the front of queue `prio`. Precondition: `id` is in no queue.
    pub fn enqueue_front<S: QueueStore<Id = I>>(&mut self, s: &mut S, prio: u8, id: I) {
        self.queues[usize::from(prio)].push_front(s, id);
        self.mark_nonempty(prio);
    }

    /// Removes `id` from queue `prio`. Precondition: `id` is in queue `prio`.
    pub fn remove<S: QueueStore<Id = I>>(&mut self, s: &mut S, prio: u8, id: I) {
        self.queues[usize::from(prio)].remove(s, id);
        self.mark_if_empty(prio);
    }

    /// Removes and returns the front of the highest non-empty priority.
    pub fn pop_highest<S: QueueStore<Id = I>>(&mut self, s: &mut S) -> Option<(u8, I)> {
        let prio = self.highest_priority()?;
        let id = self.queues[usize::from(prio)].pop_front(s)?;
        self.mark_if_empty(prio);
        Some((prio, id))
    }

    /// The highest priority with a ready thread.
    #[inline]
    pub fn highest_priority(&self) -> Option<u8> {
        if self.summary == 0 {
            return None;
        }
        let w = 63 - self.summary.leading_zeros() as usize;
        let bit = 63 - self.words[w % WORDS].leading_zeros() as usize;
        // `w < 4` and `bit < 64`, so this is at most 255.
        Some((w * 64 + bit) as u8)
    }

    /// The front thread of the highest non-empty priority, and that priority.
    #[inline]
    pub fn highest(&self) -> Option<(u8, I)> {
        let prio = self.highest_priority()?;
        self.queues[usize::from(prio)].front().map(|id| (prio, id))
    }

    /// Whether no thread is ready.
    pub fn is_empty(&self) -> bool {
        self.summary == 0
    }

    /// The queue of one priority (read-only: changes go through `ReadyQueues` to keep the bitmap).
    pub fn queue(&self, prio: u8) -> &Queue<I> {
        &self.queues[usize::from(prio)]
    }

    /// Checks every queue and that the bitmap agrees with them; returns the number of queued
    /// elements. O(number of queued elements + 256).
    pub fn check_invariants<S: QueueStore<Id = I>>(&self, s: &S) -> Result<usize, &'static str> {
        let mut total = 0;
        for (p, q) in self.queues.iter().enumerate() {
            total += q.check_invariants(s)?;
            let bit = self.words[p / 64] & (1 << (p % 64)) != 0;
            if bit == q.is_empty() {
                return Err("sched: priority bitmap disagrees with the queue");
            }
        }
        for (w, &word) in self.words.iter().enumerate() {
            if (self.summary & (1 << w) != 0) != (word != 0) {
                return Err("sched: summary bitmap disagrees with the words");
            }
        }
        if self.summary >> WORDS != 0 {
            return Err("sched: stray summary bits");
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueLinks;
    use crate::testutil::Rng;
    use std::collections::VecDeque;

    struct Arr {
        links: Vec<QueueLinks<usize>>,
    }

    impl QueueStore for Arr {
        type Id = usize;
        fn qlinks(&self, id: usize) -> QueueLinks<usize> {
            self.links[id]
        }
        fn set_qlinks(&mut self, id: usize, l: QueueLinks<usize>) {
            self.links[id] = l;
        }
    }

    // The kernel keeps its ready queues in a static: `new` must be usable in a const context
    // with a pointer-like identifier.
    const _CONST_OK: ReadyQueues<core::ptr::NonNull<u8>> = ReadyQueues::new();

    #[test]
    fn empty() {
        let r: ReadyQueues<usize> = ReadyQueues::new();
        assert!(r.is_empty());
        assert_eq!(r.highest(), None);
        assert_eq!(r.highest_priority(), None);
    }

    #[test]
    fn highest_across_words() {
        let mut s = Arr {
            links: vec![QueueLinks::EMPTY; 8],
        };
        let mut r = ReadyQueues::new();
        r.enqueue(&mut s, 0, 0);
        assert_eq!(r.highest(), Some((0, 0)));
        r.enqueue(&mut s, 63, 1);
        assert_eq!(r.highest(), Some((63, 1)));
        r.enqueue(&mut s, 64, 2);
        assert_eq!(r.highest(), Some((64, 2)));
        r.enqueue(&mut s, 255, 3);
        assert_eq!(r.highest(), Some((255, 3)));
        r.enqueue(&mut s, 255, 4);
        r.enqueue_front(&mut s, 255, 5);
        assert_eq!(r.highest(), Some((255, 5)));
        r.check_invariants(&s).unwrap();
        r.remove(&mut s, 255, 5);
        assert_eq!(r.pop_highest(&mut s), Some((255, 3)));
        assert_eq!(r.pop_highest(&mut s), Some((255, 4)));
        assert_eq!(r.highest_priority(), Some(64));
        r.remove(&mut s, 64, 2);
        assert_eq!(r.highest(), Some((63, 1)));
        r.remove(&mut s, 63, 1);
        assert_eq!(r.highest(), Some((0, 0)));
        r.remove(&mut s, 0, 0);
        assert!(r.is_empty());
        assert_eq!(r.check_invariants(&s), Ok(0));
    }

    #[test]
    fn randomized_against_model() {
        const N: usize = 64;
        // A few priorities on word boundaries plus random ones.
        let prios: [u8; 10] = [0, 1, 63, 64, 65, 127, 128, 191, 192, 255];
        for seed in 1..=30 {
            let mut rng = Rng::new(seed);
            let mut s = Arr {
                links: vec![QueueLinks::EMPTY; N],
            };
            let mut r = ReadyQueues::new();
            let mut model: Vec<VecDeque<usize>> = vec![VecDeque::new(); 256];
            let mut prio_of: Vec<Option<u8>> = vec![None; N];
            for _ in 0..4000 {
                match rng.below(10) {
                    0..=4 => {
                        let free: Vec<usize> = (0..N).filter(|&i| prio_of[i].is_none()).collect();
                        if free.is_empty() {
                            continue;
                        }
                        let id = rng.pick(&free);
                        let p = if rng.chance(1, 2) {
                            rng.pick(&prios)
                        } else {
                            rng.below(256) as u8
                        };
                        if rng.chance(1, 4) {
                            r.enqueue_front(&mut s, p, id);
                            model[usize::from(p)].push_front(id);
                        } else {
                            r.enqueue(&mut s, p, id);
                            model[usize::from(p)].push_back(id);
                        }
                        prio_of[id] = Some(p);
                    }
                    5..=7 => {
                        let queued: Vec<usize> = (0..N).filter(|&i| prio_of[i].is_some()).collect();
                        if queued.is_empty() {
                            continue;
                        }
                        let id = rng.pick(&queued);
                        let p = prio_of[id].take().unwrap();
                        r.remove(&mut s, p, id);
                        let m = &mut model[usize::from(p)];
                        let pos = m.iter().position(|&x| x == id).unwrap();
                        m.remove(pos);
                    }
                    _ => {
                        let want = (0..256)
                            .rev()
                            .find(|&p| !model[p].is_empty())
                            .map(|p| (p as u8, model[p].pop_front().unwrap()));
                        assert_eq!(r.pop_highest(&mut s), want);
                        if let Some((_, id)) = want {
                            prio_of[id] = None;
                        }
                    }
                }
                let want = (0..256)
                    .rev()
                    .find(|&p| !model[p].is_empty())
                    .map(|p| (p as u8, model[p][0]));
                assert_eq!(r.highest(), want);
                assert_eq!(r.highest_priority(), want.map(|(p, _)| p));
                assert_eq!(r.is_empty(), want.is_none());
                let total = r.check_invariants(&s).unwrap();
                assert_eq!(total, prio_of.iter().filter(|p| p.is_some()).count());
            }
        }
    }
}
