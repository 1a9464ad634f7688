//! An intrusive doubly-linked FIFO queue.
//!
//! The scheduler's ready queues and the wait queues of endpoints and notifications are all
//! [`Queue`]s of threads; each thread carries one [`QueueLinks`] (a thread waits in at most one
//! queue at a time). The queue itself is just a head and a tail, so it can be a field of a
//! `#[repr(C)]` kernel object.
//!
//! # Invariants
//!
//! For a queue holding `x1, ..., xn` (front to back):
//!
//! 1. `head == Some(x1)` and `tail == Some(xn)`, or both are `None` when `n == 0`.
//! 2. `x1.prev == None`, `xn.next == None`, and `xi.next == Some(x(i+1))` iff
//!    `x(i+1).prev == Some(xi)`.
//! 3. An element belongs to at most one queue, at most once. An element in no queue has both links
//!    `None` ([`QueueLinks::EMPTY`]); note that the only element of a queue has them too, so the
//!    links alone do not tell whether an element is queued — the kernel tracks that in the
//!    thread's state.
//!
//! Every operation is O(1) and keeps these invariants when its preconditions hold;
//! [`Queue::check_invariants`] verifies them.

/// The queue links stored in each element.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLinks<I> {
    /// The element behind this one (towards the tail).
    pub next: Option<I>,
    /// The element in front of this one (towards the head).
    pub prev: Option<I>,
}

impl<I> QueueLinks<I> {
    /// Not linked to any other element.
    pub const EMPTY: Self = QueueLinks {
        next: None,
        prev: None,
    };
}

impl<I> Default for QueueLinks<I> {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Where the queue links of each element live. The kernel implements it over TCB pointers, the
/// tests over arrays.
pub trait QueueStore {
    /// Names one element.
    type Id: Copy + Eq;
    /// The links of `id`.
    fn qlinks(&self, id: Self::Id) -> QueueLinks<Self::Id>;
    /// Overwrites the links of `id`.
    fn set_qlinks(&mut self, id: Self::Id, l: QueueLinks<Self::Id>);
}

/// A FIFO queue of elements linked through their [`QueueLinks`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queue<I> {
    /// The front element (the next one [`Queue::pop_front`] returns).
    pub head: Option<I>,
    /// The back element.
    pub tail: Option<I>,
}

impl<I> Queue<I> {
    /// The empty queue.
    pub const EMPTY: Self = Queue {
        head: None,
        tail: None,
    };
}

impl<I> Default for Queue<I> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<I: Copy + Eq> Queue<I> {
    /// Whether the queue holds no element.
    pub const fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The front element, without removing it.
    pub const fn front(&self) -> Option<I> {
        self.head
    }

    /// Appends `id` at the back.
    ///
    /// Precondition: `id` is in no queue.
    pub fn push_back<S: QueueStore<Id = I>>(&mut self, s: &mut S, id: I) {
        debug_assert!(
            s.qlinks(id) == QueueLinks::EMPTY && self.head != Some(id),
            "queue: pushed element is already queued"
        );
        s.set_qlinks(
            id,
            QueueLinks {
                next: None,
                prev: self.tail,
            },
        );
        match self.tail {
            Some(tail) => {
                let mut t = s.qlinks(tail);
                t.next = Some(id);
                s.set_qlinks(tail, t);
            }
            None => self.head = Some(id),
        }
        self.tail = Some(id);
    }

    /// Inserts `id` at the front.
    ///
    /// Precondition: `id` is in no queue.
    pub fn push_front<S: QueueStore<Id = I>>(&mut self, s: &mut S, id: I) {
        debug_assert!(
            s.qlinks(id) == QueueLinks::EMPTY && self.head != Some(id),
            "queue: pushed element is already queued"
        );
        s.set_qlinks(
            id,
            QueueLinks {
                next: self.head,
                prev: None,
            },
        );
        match self.head {
            Some(head) => {
                let mut h = s.qlinks(head);
                h.prev = Some(id);
                s.set_qlinks(head, h);
            }
            None => self.tail = Some(id),
        }
        self.head = Some(id);
    }

    /// Removes and returns the front element (its links end [`QueueLinks::EMPTY`]).
    pub fn pop_front<S: QueueStore<Id = I>>(&mut self, s: &mut S) -> Option<I> {
        let head = self.head?;
        let next = s.qlinks(head).next;
        match next {
            Some(n) => {
                let mut nl = s.qlinks(n);
                nl.prev = None;
                s.set_qlinks(n, nl);
            }
            None => self.tail = None,
        }
        self.head = next;
        s.set_qlinks(head, QueueLinks::EMPTY);
        Some(head)
    }

    /// Removes `id` from wherever it is in the queue (its links end [`QueueLinks::EMPTY`]).
    ///
    /// Precondition: `id` is in this queue. (In debug builds, removing an element that is at the
    /// front or back of some *other* queue is caught.)
    pub fn remove<S: QueueStore<Id = I>>(&mut self, s: &mut S, id: I) {
        let l = s.qlinks(id);
        match l.prev {
            Some(prev) => {
                let mut pl = s.qlinks(prev);
                pl.next = l.next;
                s.set_qlinks(prev, pl);
            }
            None => {
                debug_assert!(
                    self.head == Some(id),
                    "queue: removed element is not queued here"
                );
                self.head = l.next;
            }
        }
        match l.next {
            Some(next) => {
                let mut nl = s.qlinks(next);
                nl.prev = l.prev;
                s.set_qlinks(next, nl);
            }
            None => {
                debug_assert!(
                    self.tail == Some(id),
                    "queue: removed element is not queued here"
                );
                self.tail = l.prev;
            }
        }
        s.set_qlinks(id, QueueLinks::EMPTY);
    }

    /// The element behind `id` in its queue (for walking a queue front to back).
    pub fn next<S: QueueStore<Id = I>>(s: &S, id: I) -> Option<I> {
        s.qlinks(id).next
    }

    /// Checks the invariants by walking the queue; returns its length. O(length), and terminates
    /// even if the links form a cycle (the `prev` check catches the first repeated element).
    pub fn check_invariants<S: QueueStore<Id = I>>(&self, s: &S) -> Result<usize, &'static str> {
        let mut len = 0usize;
        let mut prev: Option<I> = None;
        let mut cur = self.head;
        while let Some(id) = cur {
            let l = s.qlinks(id);
            if l.prev != prev {
                return Err("queue: prev link does not match the walk");
            }
            len += 1;
            prev = Some(id);
            cur = l.next;
        }
        if self.tail != prev {
            return Err("queue: tail is not the last element");
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;
    use std::collections::VecDeque;

    struct Arr {
        links: Vec<QueueLinks<u16>>,
    }

    impl Arr {
        fn new(n: usize) -> Arr {
            Arr {
                links: vec![QueueLinks::EMPTY; n],
            }
        }
    }

    impl QueueStore for Arr {
        type Id = u16;
        fn qlinks(&self, id: u16) -> QueueLinks<u16> {
            self.links[usize::from(id)]
        }
        fn set_qlinks(&mut self, id: u16, l: QueueLinks<u16>) {
            self.links[usize::from(id)] = l;
        }
    }

    fn contents(q: &Queue<u16>, s: &Arr) -> Vec<u16> {
        let len = q.check_invariants(s).unwrap();
        let mut v = Vec::new();
        let mut cur = q.front();
        while let Some(id) = cur {
            v.push(id);
            cur = Queue::next(s, id);
        }
        assert_eq!(v.len(), len);
        v
    }

    #[test]
    fn fifo_order() {
        let mut s = Arr::new(5);
        let mut q = Queue::EMPTY;
        assert!(q.is_empty());
        assert_eq!(q.pop_front(&mut s), None);
        for i in 0..4 {
            q.push_back(&mut s, i);
        }
        q.push_front(&mut s, 4);
        assert_eq!(contents(&q, &s), [4, 0, 1, 2, 3]);
        let popped: Vec<u16> = core::iter::from_fn(|| q.pop_front(&mut s)).collect();
        assert_eq!(popped, [4, 0, 1, 2, 3]);
        assert!(q.is_empty());
        assert_eq!(q, Queue::EMPTY);
        assert!(s.links.iter().all(|l| *l == QueueLinks::EMPTY));
    }

    #[test]
    fn remove_head_tail_middle_only() {
        let mut s = Arr::new(4);
        let mut q = Queue::EMPTY;
        for i in 0..4 {
            q.push_back(&mut s, i);
        }
        q.remove(&mut s, 0); // head
        assert_eq!(contents(&q, &s), [1, 2, 3]);
        q.remove(&mut s, 3); // tail
        assert_eq!(contents(&q, &s), [1, 2]);
        q.push_back(&mut s, 3);
        q.remove(&mut s, 2); // middle
        assert_eq!(contents(&q, &s), [1, 3]);
        q.remove(&mut s, 1);
        q.remove(&mut s, 3); // only
        assert_eq!(q, Queue::EMPTY);
        assert!(s.links.iter().all(|l| *l == QueueLinks::EMPTY));
        // push_front onto an empty queue sets the tail too.
        q.push_front(&mut s, 2);
        assert_eq!(q.head, Some(2));
        assert_eq!(q.tail, Some(2));
    }

    #[test]
    #[should_panic(expected = "already queued")]
    #[cfg(debug_assertions)]
    fn double_push_of_single_element_is_caught_in_debug() {
        let mut s = Arr::new(2);
        let mut q = Queue::EMPTY;
        q.push_back(&mut s, 1);
        q.push_back(&mut s, 1);
    }

    #[test]
    #[should_panic(expected = "not queued here")]
    #[cfg(debug_assertions)]
    fn remove_from_wrong_queue_is_caught_in_debug() {
        let mut s = Arr::new(2);
        let mut a = Queue::EMPTY;
        let mut b = Queue::EMPTY;
        a.push_back(&mut s, 0);
        b.push_back(&mut s, 1);
        a.remove(&mut s, 1);
    }

    #[test]
    fn check_invariants_catches_corruption() {
        let mut s = Arr::new(4);
        let mut q = Queue::EMPTY;
        for i in 0..4 {
            q.push_back(&mut s, i);
        }
        assert_eq!(q.check_invariants(&s), Ok(4));
        // A cycle 3 -> 1 terminates the walk with an error.
        let saved = s.links.clone();
        s.links[3].next = Some(1);
        assert!(q.check_invariants(&s).is_err());
        s.links = saved.clone();
        s.links[2].prev = Some(0);
        assert!(q.check_invariants(&s).is_err());
        s.links = saved;
        let mut wrong_tail = q;
        wrong_tail.tail = Some(2);
        assert!(wrong_tail.check_invariants(&s).is_err());
    }

    /// Several queues sharing one store (like endpoints sharing the TCBs), against VecDeques.
    #[test]
    fn randomized_against_model() {
        const N: usize = 40;
        const Q: usize = 4;
        for seed in 1..=30 {
            let mut rng = Rng::new(seed);
            let mut s = Arr::new(N);
            let mut qs = [Queue::EMPTY; Q];
            let mut model: Vec<VecDeque<u16>> = vec![VecDeque::new(); Q];
            let mut where_: Vec<Option<usize>> = vec![None; N];
            for _ in 0..4000 {
                let qi = rng.below(Q);
                match rng.below(10) {
                    0..=3 => {
                        let free: Vec<u16> = (0..N as u16)
                            .filter(|&i| where_[usize::from(i)].is_none())
                            .collect();
                        if free.is_empty() {
                            continue;
                        }
                        let id = rng.pick(&free);
                        if rng.chance(1, 3) {
                            qs[qi].push_front(&mut s, id);
                            model[qi].push_front(id);
                        } else {
                            qs[qi].push_back(&mut s, id);
                            model[qi].push_back(id);
                        }
                        where_[usize::from(id)] = Some(qi);
                    }
                    4..=6 => {
                        let got = qs[qi].pop_front(&mut s);
                        assert_eq!(got, model[qi].pop_front());
                        if let Some(id) = got {
                            where_[usize::from(id)] = None;
                        }
                    }
                    _ => {
                        if model[qi].is_empty() {
                            continue;
                        }
                        let pos = rng.below(model[qi].len());
                        let id = model[qi].remove(pos).unwrap();
                        qs[qi].remove(&mut s, id);
                        where_[usize::from(id)] = None;
                    }
                }
                for (q, m) in qs.iter().zip(&model) {
                    assert_eq!(contents(q, &s), Vec::from(m.clone()));
                    assert_eq!(q.is_empty(), m.is_empty());
                }
                for (i, w) in where_.iter().enumerate() {
                    if w.is_none() {
                        assert_eq!(s.links[i], QueueLinks::EMPTY);
                    }
                }
            }
        }
    }
}
