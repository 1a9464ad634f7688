//! [`DeadlineQueue`]: the pending deadlines, at most one per client, earliest first.
//!
//! The timer has one hardware one-shot, armed for the head of this queue. Bounded (`N` entries,
//! one per client slot) and allocation-free; every operation is O(N), which for the handful of
//! clients an image has is cheaper than a heap.

use ipc_schema::interfaces::common::Ticks;

/// A client's index in the timer's client table.
pub type ClientId = usize;

/// The queue has no room for a new client's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull;

/// Deadlines by client, earliest first; equal deadlines in the order they were set.
#[derive(Clone, Debug, Default)]
pub struct DeadlineQueue<const N: usize> {
    /// Sorted by deadline; a client appears at most once.
    entries: heapless::Vec<(Ticks, ClientId), N>,
}

impl<const N: usize> DeadlineQueue<N> {
    pub const fn new() -> Self {
        DeadlineQueue {
            entries: heapless::Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `client`'s deadline, replacing the one it had.
    pub fn set(&mut self, client: ClientId, deadline: Ticks) -> Result<(), QueueFull> {
        self.cancel(client);
        // After every entry due no later: equal deadlines keep their order.
        let at = self.entries.partition_point(|&(d, _)| d <= deadline);
        self.entries
            .insert(at, (deadline, client))
            .map_err(|_| QueueFull)
    }

    /// Removes `client`'s deadline; returns it, if it had one.
    pub fn cancel(&mut self, client: ClientId) -> Option<Ticks> {
        let at = self.entries.iter().position(|&(_, c)| c == client)?;
        Some(self.entries.remove(at).0)
    }

    /// `client`'s pending deadline.
    pub fn deadline_of(&self, client: ClientId) -> Option<Ticks> {
        self.entries
            .iter()
            .find(|&&(_, c)| c == client)
            .map(|&(d, _)| d)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Ticks> {
        self.entries.first().map(|&(d, _)| d)
    }

    /// Removes and returns the client of the earliest deadline if it is due at `now`.
    pub fn pop_due(&mut self, now: Ticks) -> Option<ClientId> {
        match self.entries.first() {
            Some(&(deadline, client)) if deadline <= now => {
                self.entries.remove(0);
                Some(client)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due<const N: usize>(q: &mut DeadlineQueue<N>, now: Ticks) -> Vec<ClientId> {
        core::iter::from_fn(|| q.pop_due(now)).collect()
    }

    #[test]
    fn earliest_first_and_fifo_among_equals() {
        let mut q = DeadlineQueue::<8>::new();
        assert_eq!(q.next(), None);
        q.set(0, 300).unwrap();
        q.set(1, 100).unwrap();
        q.set(2, 200).unwrap();
        q.set(3, 100).unwrap();
        assert_eq!((q.len(), q.next()), (4, Some(100)));
        assert_eq!(due(&mut q, 99), []);
        assert_eq!(due(&mut q, 100), [1, 3]);
        assert_eq!(due(&mut q, 250), [2]);
        assert_eq!(q.next(), Some(300));
        assert_eq!(due(&mut q, u64::MAX), [0]);
        assert!(q.is_empty());
    }

    #[test]
    fn one_deadline_per_client() {
        let mut q = DeadlineQueue::<4>::new();
        q.set(7, 50).unwrap();
        q.set(8, 60).unwrap();
        // A new deadline replaces the old one, later or earlier.
        q.set(7, 70).unwrap();
        assert_eq!(
            (q.len(), q.next(), q.deadline_of(7)),
            (2, Some(60), Some(70))
        );
        q.set(7, 10).unwrap();
        assert_eq!((q.len(), q.next()), (2, Some(10)));
        assert_eq!(q.cancel(7), Some(10));
        assert_eq!(q.cancel(7), None);
        assert_eq!(q.deadline_of(7), None);
        assert_eq!(due(&mut q, 1000), [8]);
    }

    #[test]
    fn bounded() {
        let mut q = DeadlineQueue::<2>::new();
        q.set(0, 5).unwrap();
        q.set(1, 6).unwrap();
        assert_eq!(q.set(2, 1), Err(QueueFull));
        // Replacing an existing client's deadline still fits.
        assert_eq!(q.set(1, 1), Ok(()));
        assert_eq!(due(&mut q, 5), [1, 0]);
    }

    #[test]
    fn extreme_deadlines() {
        let mut q = DeadlineQueue::<3>::new();
        q.set(0, u64::MAX).unwrap();
        q.set(1, 0).unwrap();
        assert_eq!(due(&mut q, 0), [1]);
        assert_eq!(due(&mut q, u64::MAX - 1), []);
        assert_eq!(due(&mut q, u64::MAX), [0]);
    }
}
