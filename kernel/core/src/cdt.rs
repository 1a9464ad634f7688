//! The capability derivation tree (CDT).
//!
//! Every capability slot carries a [`CdtLinks`]: its parent, its first child and its two siblings.
//! A capability derived from another one (a copy, a mint, an object retyped from an Untyped) is a
//! child of it; revoking a capability deletes all of its descendants.
//!
//! # Invariants
//!
//! The links of all nodes form a forest of ordered trees:
//!
//! 1. A node's children form a doubly-linked list: the parent's `first_child` is the first one,
//!    whose `prev_sibling` is `None`; `next_sibling`/`prev_sibling` agree (`a.next == b` iff
//!    `b.prev == a`), and every node of the list has that parent as `parent`.
//! 2. A root (`parent == None`) has no siblings: roots are independent trees, not a list.
//! 3. There are no cycles: following `parent` from any node reaches a root.
//! 4. A node with all four links `None` is *unlinked* ([`CdtLinks::is_unlinked`]): a root without
//!    children. Empty slots are unlinked.
//!
//! Every operation here keeps these invariants when its preconditions hold; [`check_invariants`]
//! verifies them (and always terminates, whatever the links say).
//!
//! # Costs
//!
//! [`insert_child`], [`has_children`] and removing a leaf are O(1). [`remove`] of a node with
//! children and [`replace`] are O(number of children of the node) (the children's `parent` links are
//! rewritten). [`leaf_descendant`] and [`is_descendant`] are O(depth).
//!
//! Revoking a capability is `while let Some(leaf) = leaf_descendant(s, root) { delete(leaf) }`
//! where deleting calls [`remove`]; since every deleted node is a leaf, each step costs O(depth of
//! the leaf) for the search plus O(1) for the unlink.

/// The CDT links stored in a capability slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CdtLinks<I> {
    /// The capability this one was derived from; `None` for a root.
    pub parent: Option<I>,
    /// The first of the capabilities derived from this one.
    pub first_child: Option<I>,
    /// The next capability derived from the same parent.
    pub next_sibling: Option<I>,
    /// The previous capability derived from the same parent; `None` for the first child.
    pub prev_sibling: Option<I>,
}

impl<I> CdtLinks<I> {
    /// No links: the state of an empty slot and of a fresh capability before it is inserted.
    pub const EMPTY: Self = CdtLinks {
        parent: None,
        first_child: None,
        next_sibling: None,
        prev_sibling: None,
    };

    /// Whether all four links are `None` (a root without children).
    pub fn is_unlinked(&self) -> bool {
        self.parent.is_none()
            && self.first_child.is_none()
            && self.next_sibling.is_none()
            && self.prev_sibling.is_none()
    }
}

impl<I> Default for CdtLinks<I> {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Where the CDT links of each node live. The kernel implements it over slot pointers, the tests
/// over arrays.
pub trait CdtStore {
    /// Names one node (one capability slot).
    type Id: Copy + Eq;
    /// The links of `id`.
    fn cdt(&self, id: Self::Id) -> CdtLinks<Self::Id>;
    /// Overwrites the links of `id`.
    fn set_cdt(&mut self, id: Self::Id, links: CdtLinks<Self::Id>);
}

/// Applies `f` to the links of `id`.
#[inline]
fn update<S: CdtStore>(s: &mut S, id: S::Id, f: impl FnOnce(&mut CdtLinks<S::Id>)) {
    let mut links = s.cdt(id);
    f(&mut links);
    s.set_cdt(id, links);
}

/// Makes `child` the first child of `parent`. O(1).
///
/// Precondition: `child` is unlinked and is not `parent`.
pub fn insert_child<S: CdtStore>(s: &mut S, parent: S::Id, child: S::Id) {
    debug_assert!(parent != child, "cdt: a node cannot be its own child");
    debug_assert!(s.cdt(child).is_unlinked(), "cdt: inserted child is linked");
    let mut p = s.cdt(parent);
    let old_first = p.first_child;
    if let Some(first) = old_first {
        update(s, first, |l| l.prev_sibling = Some(child));
    }
    s.set_cdt(
        child,
        CdtLinks {
            parent: Some(parent),
            first_child: None,
            next_sibling: old_first,
            prev_sibling: None,
        },
    );
    p.first_child = Some(child);
    s.set_cdt(parent, p);
}

/// Unlinks `id` from the tree. Its children (in order) take its place among its parent's
/// children, or become separate roots if `id` is a root. `id` ends unlinked.
///
/// O(1) for a leaf, O(number of children) otherwise.
pub fn remove<S: CdtStore>(s: &mut S, id: S::Id) {
    let l = s.cdt(id);
    match (l.first_child, l.parent) {
        (None, parent) => {
            // A leaf: splice it out of its sibling list.
            match l.prev_sibling {
                Some(prev) => update(s, prev, |p| p.next_sibling = l.next_sibling),
                None => {
                    if let Some(parent) = parent {
                        update(s, parent, |p| p.first_child = l.next_sibling);
                    }
                }
            }
            if let Some(next) = l.next_sibling {
                update(s, next, |n| n.prev_sibling = l.prev_sibling);
            }
        }
        (Some(first), Some(parent)) => {
            // Reparent the children and splice the whole list in place of `id`.
            let mut cur = first;
            let last = loop {
                let mut c = s.cdt(cur);
                c.parent = Some(parent);
                if cur == first {
                    c.prev_sibling = l.prev_sibling;
                }
                let next = c.next_sibling;
                if next.is_none() {
                    c.next_sibling = l.next_sibling;
                }
                s.set_cdt(cur, c);
                match next {
                    Some(n) => cur = n,
                    None => break cur,
                }
            };
            match l.prev_sibling {
                Some(prev) => update(s, prev, |p| p.next_sibling = Some(first)),
                None => update(s, parent, |p| p.first_child = Some(first)),
            }
            if let Some(next) = l.next_sibling {
                update(s, next, |n| n.prev_sibling = Some(last));
            }
        }
        (Some(first), None) => {
            // A root (so without siblings): every child becomes a root of its own.
            let mut cur = Some(first);
            while let Some(c) = cur {
                let cl = s.cdt(c);
                cur = cl.next_sibling;
                s.set_cdt(
                    c,
                    CdtLinks {
                        first_child: cl.first_child,
                        ..CdtLinks::EMPTY
                    },
                );
            }
        }
    }
    s.set_cdt(id, CdtLinks::EMPTY);
}

/// Unlinks `id` like [`remove`], but keeps its children together: the first child takes `id`'s
/// place and the other children become children of that first child (after its own). The kernel
/// deletes every non-Untyped capability this way, so that all capabilities to one object stay one
/// connected subtree (see `kernel/src/object.rs`).
///
/// O(children of `id` + children of its first child).
pub fn remove_promoting<S: CdtStore>(s: &mut S, id: S::Id) {
    let l = s.cdt(id);
    let Some(first) = l.first_child else {
        remove(s, id);
        return;
    };
    let fl = s.cdt(first);
    let rest = fl.next_sibling;
    if let Some(r) = rest {
        let mut last_child = None;
        let mut c = fl.first_child;
        while let Some(x) = c {
            last_child = Some(x);
            c = s.cdt(x).next_sibling;
        }
        let mut cur = Some(r);
        while let Some(x) = cur {
            update(s, x, |xl| xl.parent = Some(first));
            cur = s.cdt(x).next_sibling;
        }
        match last_child {
            Some(lc) => {
                update(s, lc, |a| a.next_sibling = Some(r));
                update(s, r, |a| a.prev_sibling = Some(lc));
            }
            None => update(s, r, |a| a.prev_sibling = None),
        }
    }
    s.set_cdt(
        first,
        CdtLinks {
            parent: l.parent,
            first_child: fl.first_child.or(rest),
            next_sibling: l.next_sibling,
            prev_sibling: l.prev_sibling,
        },
    );
    match (l.prev_sibling, l.parent) {
        (Some(p), _) => update(s, p, |x| x.next_sibling = Some(first)),
        (None, Some(par)) => update(s, par, |x| x.first_child = Some(first)),
        (None, None) => {}
    }
    if let Some(n) = l.next_sibling {
        update(s, n, |x| x.prev_sibling = Some(first));
    }
    s.set_cdt(id, CdtLinks::EMPTY);
}

/// `to` takes the exact place of `from`: same parent, same siblings, same children (whose `parent`
/// links now name `to`). `from` ends unlinked. Used to move a capability to another slot.
///
/// Precondition: `to` is unlinked (or is `from`, which does nothing). O(number of children).
pub fn replace<S: CdtStore>(s: &mut S, from: S::Id, to: S::Id) {
    if from == to {
        return;
    }
    debug_assert!(s.cdt(to).is_unlinked(), "cdt: replacement node is linked");
    let l = s.cdt(from);
    let mut cur = l.first_child;
    while let Some(c) = cur {
        let mut cl = s.cdt(c);
        cl.parent = Some(to);
        cur = cl.next_sibling;
        s.set_cdt(c, cl);
    }
    match (l.prev_sibling, l.parent) {
        (Some(prev), _) => update(s, prev, |p| p.next_sibling = Some(to)),
        (None, Some(parent)) => update(s, parent, |p| p.first_child = Some(to)),
        (None, None) => {}
    }
    if let Some(next) = l.next_sibling {
        update(s, next, |n| n.prev_sibling = Some(to));
    }
    s.set_cdt(from, CdtLinks::EMPTY);
    s.set_cdt(to, l);
}

/// The parent of `id`, `None` for a root. O(1).
pub fn parent<S: CdtStore>(s: &S, id: S::Id) -> Option<S::Id> {
    s.cdt(id).parent
}

/// Whether any capability is derived from `id`. O(1).
pub fn has_children<S: CdtStore>(s: &S, id: S::Id) -> bool {
    s.cdt(id).first_child.is_some()
}

/// A descendant of `id` without children, found by following `first_child` down; `None` if `id`
/// has no children. O(depth of the leaf below `id`).
pub fn leaf_descendant<S: CdtStore>(s: &S, id: S::Id) -> Option<S::Id> {
    let mut cur = s.cdt(id).first_child?;
    while let Some(child) = s.cdt(cur).first_child {
        cur = child;
    }
    Some(cur)
}

/// Whether `id` is a strict descendant of `ancestor` (a node is not its own descendant).
/// O(depth of `id`).
pub fn is_descendant<S: CdtStore>(s: &S, ancestor: S::Id, id: S::Id) -> bool {
    let mut cur = s.cdt(id).parent;
    while let Some(p) = cur {
        if p == ancestor {
            return true;
        }
        cur = s.cdt(p).parent;
    }
    false
}

/// Follows `step` from `start` until it yields `None` and returns the last node, or `None` if the
/// walk enters a cycle. Brent's cycle detection: terminates after at most about three times
/// (tail length + cycle length) steps, without needing a bound on the number of nodes.
fn walk_to_end<S: CdtStore>(
    s: &S,
    start: S::Id,
    step: impl Fn(&CdtLinks<S::Id>) -> Option<S::Id>,
) -> Option<S::Id> {
    let mut tortoise = start;
    let mut hare = start;
    let mut power: u64 = 1;
    let mut lambda: u64 = 0;
    loop {
        hare = match step(&s.cdt(hare)) {
            Some(next) => next,
            None => return Some(hare),
        };
        if hare == tortoise {
            return None;
        }
        lambda += 1;
        if lambda == power {
            tortoise = hare;
            power = power.saturating_mul(2);
            lambda = 0;
        }
    }
}

/// Checks the invariants (see the module documentation) around each node of `ids`: its links
/// agree with those of its parent, first child and siblings, it is in its parent's child list,
/// and neither its sibling list nor its ancestor chain is a cycle.
///
/// Nodes outside `ids` are only read. Every walk terminates even on corrupted links; the cost is
/// O(depth + position among its siblings) per node. Meant for tests and debug self-checks.
pub fn check_invariants<S: CdtStore>(
    s: &S,
    ids: impl Iterator<Item = S::Id>,
) -> Result<(), &'static str> {
    for id in ids {
        let l = s.cdt(id);
        if l.parent == Some(id)
            || l.first_child == Some(id)
            || l.next_sibling == Some(id)
            || l.prev_sibling == Some(id)
        {
            return Err("cdt: node links to itself");
        }
        match l.parent {
            None => {
                if l.prev_sibling.is_some() || l.next_sibling.is_some() {
                    return Err("cdt: root has siblings");
                }
            }
            Some(parent) => {
                if l.prev_sibling.is_none() && s.cdt(parent).first_child != Some(id) {
                    return Err("cdt: first sibling is not its parent's first child");
                }
            }
        }
        if let Some(prev) = l.prev_sibling {
            let pl = s.cdt(prev);
            if pl.next_sibling != Some(id) {
                return Err("cdt: prev_sibling.next_sibling does not point back");
            }
            if pl.parent != l.parent {
                return Err("cdt: siblings have different parents");
            }
        }
        if let Some(next) = l.next_sibling {
            let nl = s.cdt(next);
            if nl.prev_sibling != Some(id) {
                return Err("cdt: next_sibling.prev_sibling does not point back");
            }
            if nl.parent != l.parent {
                return Err("cdt: siblings have different parents");
            }
        }
        if let Some(child) = l.first_child {
            let cl = s.cdt(child);
            if cl.parent != Some(id) {
                return Err("cdt: first child's parent is not the node");
            }
            if cl.prev_sibling.is_some() {
                return Err("cdt: first child has a previous sibling");
            }
        }
        // The local checks above do not rule out a sibling list detached from its parent (a cycle
        // of siblings none of which is the first child), nor a cycle of parents.
        let head = walk_to_end(s, id, |l| l.prev_sibling).ok_or("cdt: cycle in a sibling list")?;
        if let Some(parent) = l.parent
            && s.cdt(parent).first_child != Some(head)
        {
            return Err("cdt: node is not in its parent's child list");
        }
        walk_to_end(s, id, |l| l.parent).ok_or("cdt: cycle of parents")?;
    }
    Ok(())
}

/// Visits every node of the tree rooted at `root` in preorder (`root` first), following
/// `first_child`, `next_sibling` and `parent` links without a stack, and calls `visit(parent,
/// node)` for each (`parent` is `None` for `root`).
///
/// Used by the kernel's consistency checker, so it must terminate whatever the links say: it
/// stops with an error after `max_nodes` visits (a cycle, or a tree larger than the caller said
/// is possible), when a child's `parent` link does not name the node it was reached from, or when
/// the climb back up does not return to `root`. Returns the number of nodes visited.
pub fn walk_tree<S: CdtStore>(
    s: &S,
    root: S::Id,
    max_nodes: usize,
    mut visit: impl FnMut(Option<S::Id>, S::Id),
) -> Result<usize, &'static str> {
    let mut visited = 1;
    let mut steps = 0usize;
    let bound = max_nodes.saturating_mul(2);
    visit(None, root);
    let mut cur = root;
    loop {
        let l = s.cdt(cur);
        // Down to the first child, else along to the next sibling, else up until a sibling.
        let (parent, next) = match l.first_child {
            Some(child) => (cur, child),
            None => {
                let mut node = cur;
                loop {
                    if node == root {
                        return Ok(visited);
                    }
                    let nl = s.cdt(node);
                    let parent = nl.parent.ok_or("cdt: walk climbed past a root")?;
                    if let Some(sibling) = nl.next_sibling {
                        break (parent, sibling);
                    }
                    node = parent;
                    steps += 1; // climbing counts towards the bound too
                    if steps > bound {
                        return Err("cdt: walk does not terminate (cycle)");
                    }
                }
            }
        };
        if s.cdt(next).parent != Some(parent) {
            return Err("cdt: child's parent link does not name the node it hangs from");
        }
        visited += 1;
        steps += 1;
        if visited > max_nodes || steps > bound {
            return Err("cdt: walk does not terminate (cycle)");
        }
        visit(Some(parent), next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    /// Array-backed store: node `i` is `links[i]`.
    struct Arr {
        links: Vec<CdtLinks<usize>>,
    }

    impl Arr {
        fn new(n: usize) -> Arr {
            Arr {
                links: vec![CdtLinks::EMPTY; n],
            }
        }

        fn check(&self) {
            check_invariants(self, 0..self.links.len()).unwrap();
        }
    }

    impl CdtStore for Arr {
        type Id = usize;
        fn cdt(&self, id: usize) -> CdtLinks<usize> {
            self.links[id]
        }
        fn set_cdt(&mut self, id: usize, links: CdtLinks<usize>) {
            self.links[id] = links;
        }
    }

    #[test]
    fn walk_tree_visits_every_descendant_once() {
        let mut s = Arr::new(8);
        // 0 -> {1 -> {3, 4}, 2 -> {5 -> {6}}}; 7 is a separate root.
        insert_child(&mut s, 0, 2);
        insert_child(&mut s, 0, 1);
        insert_child(&mut s, 1, 4);
        insert_child(&mut s, 1, 3);
        insert_child(&mut s, 2, 5);
        insert_child(&mut s, 5, 6);
        let mut seen = Vec::new();
        let n = walk_tree(&s, 0, 8, |p, id| seen.push((p, id))).unwrap();
        assert_eq!(n, 7);
        assert_eq!(
            seen,
            vec![
                (None, 0),
                (Some(0), 1),
                (Some(1), 3),
                (Some(1), 4),
                (Some(0), 2),
                (Some(2), 5),
                (Some(5), 6)
            ]
        );
        // A subtree walk stays inside the subtree.
        let mut sub = Vec::new();
        walk_tree(&s, 2, 8, |_, id| sub.push(id)).unwrap();
        assert_eq!(sub, vec![2, 5, 6]);
        assert_eq!(walk_tree(&s, 7, 8, |_, _| {}), Ok(1));
    }

    #[test]
    fn walk_tree_terminates_on_corrupted_links() {
        let mut s = Arr::new(4);
        insert_child(&mut s, 0, 1);
        insert_child(&mut s, 1, 2);
        // A cycle: 2's child is 0 again.
        s.links[2].first_child = Some(0);
        assert!(walk_tree(&s, 0, 4, |_, _| {}).is_err());
        // A sibling cycle.
        let mut s = Arr::new(4);
        insert_child(&mut s, 0, 2);
        insert_child(&mut s, 0, 1);
        s.links[2].next_sibling = Some(1);
        assert!(walk_tree(&s, 0, 4, |_, _| {}).is_err());
        // A child that names another parent.
        let mut s = Arr::new(4);
        insert_child(&mut s, 0, 1);
        s.links[1].parent = Some(3);
        assert!(walk_tree(&s, 0, 4, |_, _| {}).is_err());
    }

    #[test]
    fn walk_tree_agrees_with_random_trees() {
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            let n = 40;
            let mut s = Arr::new(n);
            let mut model_parent = vec![None; n];
            for child in 1..n {
                let parent = rng.below(child);
                insert_child(&mut s, parent, child);
                model_parent[child] = Some(parent);
            }
            let mut seen = vec![0; n];
            let count = walk_tree(&s, 0, n, |p, id| {
                assert_eq!(p, model_parent[id]);
                seen[id] += 1;
            })
            .unwrap();
            assert_eq!(count, n);
            assert!(seen.iter().all(|&c| c == 1));
        }
    }

    /// Reference model: parent pointers and ordered child vectors.
    struct Model {
        parent: Vec<Option<usize>>,
        children: Vec<Vec<usize>>,
    }

    impl Model {
        fn new(n: usize) -> Model {
            Model {
                parent: vec![None; n],
                children: vec![Vec::new(); n],
            }
        }

        fn is_unlinked(&self, id: usize) -> bool {
            self.parent[id].is_none() && self.children[id].is_empty()
        }

        fn insert_child(&mut self, p: usize, c: usize) {
            self.children[p].insert(0, c);
            self.parent[c] = Some(p);
        }

        fn remove(&mut self, id: usize) {
            let kids = core::mem::take(&mut self.children[id]);
            match self.parent[id] {
                Some(p) => {
                    for &k in &kids {
                        self.parent[k] = Some(p);
                    }
                    let pos = self.children[p].iter().position(|&x| x == id).unwrap();
                    self.children[p].splice(pos..pos + 1, kids);
                }
                None => {
                    for &k in &kids {
                        self.parent[k] = None;
                    }
                }
            }
            self.parent[id] = None;
        }

        fn replace(&mut self, from: usize, to: usize) {
            let kids = core::mem::take(&mut self.children[from]);
            for &k in &kids {
                self.parent[k] = Some(to);
            }
            self.children[to] = kids;
            self.parent[to] = self.parent[from];
            if let Some(p) = self.parent[from] {
                let pos = self.children[p].iter().position(|&x| x == from).unwrap();
                self.children[p][pos] = to;
            }
            self.parent[from] = None;
        }

        fn leaf(&self, id: usize) -> Option<usize> {
            let mut cur = *self.children[id].first()?;
            while let Some(&c) = self.children[cur].first() {
                cur = c;
            }
            Some(cur)
        }

        fn is_descendant(&self, ancestor: usize, id: usize) -> bool {
            let mut cur = self.parent[id];
            while let Some(p) = cur {
                if p == ancestor {
                    return true;
                }
                cur = self.parent[p];
            }
            false
        }

        fn links(&self, id: usize) -> CdtLinks<usize> {
            let (prev, next) = match self.parent[id] {
                Some(p) => {
                    let sibs = &self.children[p];
                    let pos = sibs.iter().position(|&x| x == id).unwrap();
                    (
                        pos.checked_sub(1).map(|i| sibs[i]),
                        sibs.get(pos + 1).copied(),
                    )
                }
                None => (None, None),
            };
            CdtLinks {
                parent: self.parent[id],
                first_child: self.children[id].first().copied(),
                next_sibling: next,
                prev_sibling: prev,
            }
        }

        fn assert_matches(&self, s: &Arr) {
            for id in 0..self.parent.len() {
                assert_eq!(s.cdt(id), self.links(id), "node {id}");
            }
        }
    }

    /// Builds a chain 0 -> 1 -> ... -> n-1 (each node the only child of the previous one).
    fn chain(n: usize) -> Arr {
        let mut s = Arr::new(n);
        for i in 1..n {
            insert_child(&mut s, i - 1, i);
        }
        s
    }

    #[test]
    fn insert_makes_first_child() {
        let mut s = Arr::new(4);
        insert_child(&mut s, 0, 1);
        insert_child(&mut s, 0, 2);
        insert_child(&mut s, 0, 3);
        s.check();
        assert_eq!(s.cdt(0).first_child, Some(3));
        assert_eq!(s.cdt(3).next_sibling, Some(2));
        assert_eq!(s.cdt(2).next_sibling, Some(1));
        assert_eq!(s.cdt(1).next_sibling, None);
        assert_eq!(s.cdt(1).prev_sibling, Some(2));
        assert!(has_children(&s, 0));
        assert!(!has_children(&s, 1));
        assert_eq!(parent(&s, 2), Some(0));
        assert_eq!(parent(&s, 0), None);
    }

    #[test]
    fn remove_leaf_first_middle_last_only() {
        // 0 has children 3, 2, 1 (in that order).
        let mut s = Arr::new(5);
        for c in 1..4 {
            insert_child(&mut s, 0, c);
        }
        remove(&mut s, 2); // middle
        s.check();
        assert_eq!(s.cdt(3).next_sibling, Some(1));
        assert_eq!(s.cdt(1).prev_sibling, Some(3));
        remove(&mut s, 3); // first
        s.check();
        assert_eq!(s.cdt(0).first_child, Some(1));
        assert_eq!(s.cdt(1).prev_sibling, None);
        insert_child(&mut s, 0, 4);
        remove(&mut s, 1); // last
        s.check();
        assert_eq!(s.cdt(4).next_sibling, None);
        remove(&mut s, 4); // only
        s.check();
        assert!(s.links.iter().all(CdtLinks::is_unlinked));
    }

    #[test]
    fn remove_moves_children_into_place() {
        // 0: [1, 2, 3]; 2: [4, 5]
        let mut s = Arr::new(6);
        for c in [3, 2, 1] {
            insert_child(&mut s, 0, c);
        }
        for c in [5, 4] {
            insert_child(&mut s, 2, c);
        }
        s.check();
        remove(&mut s, 2);
        s.check();
        assert!(s.cdt(2).is_unlinked());
        let mut order = vec![];
        let mut cur = s.cdt(0).first_child;
        while let Some(c) = cur {
            assert_eq!(s.cdt(c).parent, Some(0));
            order.push(c);
            cur = s.cdt(c).next_sibling;
        }
        assert_eq!(order, [1, 4, 5, 3]);
    }

    #[test]
    fn remove_first_child_with_children_updates_parent() {
        // 0: [1]; 1: [2, 3]
        let mut s = Arr::new(4);
        insert_child(&mut s, 0, 1);
        insert_child(&mut s, 1, 3);
        insert_child(&mut s, 1, 2);
        remove(&mut s, 1);
        s.check();
        assert_eq!(s.cdt(0).first_child, Some(2));
        assert_eq!(s.cdt(3).next_sibling, None);
    }

    #[test]
    fn remove_root_makes_children_roots() {
        // 0: [1, 2, 3]; 2: [4]
        let mut s = Arr::new(5);
        for c in [3, 2, 1] {
            insert_child(&mut s, 0, c);
        }
        insert_child(&mut s, 2, 4);
        remove(&mut s, 0);
        s.check();
        for c in [0, 1, 3] {
            assert!(s.cdt(c).is_unlinked(), "{c}");
        }
        assert_eq!(
            s.cdt(2),
            CdtLinks {
                first_child: Some(4),
                ..CdtLinks::EMPTY
            }
        );
        assert_eq!(s.cdt(4).parent, Some(2));
    }

    #[test]
    fn replace_node_with_children_and_siblings() {
        // 0: [1, 2, 3]; 2: [4, 5]; 5: [6]; replace 2 by 7.
        let mut s = Arr::new(8);
        for c in [3, 2, 1] {
            insert_child(&mut s, 0, c);
        }
        for c in [5, 4] {
            insert_child(&mut s, 2, c);
        }
        insert_child(&mut s, 5, 6);
        let before = s.cdt(2);
        replace(&mut s, 2, 7);
        s.check();
        assert!(s.cdt(2).is_unlinked());
        assert_eq!(s.cdt(7), before);
        assert_eq!(s.cdt(1).next_sibling, Some(7));
        assert_eq!(s.cdt(3).prev_sibling, Some(7));
        assert_eq!(s.cdt(4).parent, Some(7));
        assert_eq!(s.cdt(5).parent, Some(7));
        assert_eq!(s.cdt(6).parent, Some(5));
        assert!(is_descendant(&s, 7, 6));
        assert!(!is_descendant(&s, 2, 6));
    }

    #[test]
    fn replace_first_child_root_and_self() {
        let mut s = Arr::new(5);
        insert_child(&mut s, 0, 2);
        insert_child(&mut s, 0, 1);
        replace(&mut s, 1, 3); // first child
        s.check();
        assert_eq!(s.cdt(0).first_child, Some(3));
        assert_eq!(s.cdt(2).prev_sibling, Some(3));
        replace(&mut s, 0, 4); // root with children
        s.check();
        assert_eq!(s.cdt(3).parent, Some(4));
        assert_eq!(s.cdt(2).parent, Some(4));
        assert_eq!(s.cdt(4).parent, None);
        let before = s.links.clone();
        replace(&mut s, 3, 3); // no-op
        assert_eq!(s.links, before);
        replace(&mut s, 0, 1); // unlinked onto unlinked: nothing to move
        s.check();
        assert_eq!(s.links, before);
    }

    #[test]
    fn leaf_and_descendants() {
        let s = chain(5);
        assert_eq!(leaf_descendant(&s, 0), Some(4));
        assert_eq!(leaf_descendant(&s, 3), Some(4));
        assert_eq!(leaf_descendant(&s, 4), None);
        assert!(is_descendant(&s, 0, 4));
        assert!(is_descendant(&s, 3, 4));
        assert!(!is_descendant(&s, 4, 4));
        assert!(!is_descendant(&s, 4, 0));
    }

    #[test]
    fn revoke_deep_chain() {
        const N: usize = 2000;
        let mut s = chain(N);
        s.check();
        // Revoke from the middle: everything below 1000 goes, 0..=1000 stays.
        let mut steps = 0;
        while let Some(leaf) = leaf_descendant(&s, 1000) {
            assert!(!has_children(&s, leaf));
            remove(&mut s, leaf);
            steps += 1;
        }
        assert_eq!(steps, N - 1001);
        s.check();
        assert!(!has_children(&s, 1000));
        assert!(is_descendant(&s, 0, 1000));
        assert!(s.links[1001..].iter().all(CdtLinks::is_unlinked));
        // Then from the root.
        while let Some(leaf) = leaf_descendant(&s, 0) {
            remove(&mut s, leaf);
        }
        s.check();
        assert!(s.links.iter().all(CdtLinks::is_unlinked));
    }

    #[test]
    fn revoke_bushy_tree_leaves_siblings_of_root() {
        // 0: [1, 2]; 1: [3, 4]; 3: [5]; revoking 1 leaves 0: [1, 2] and 1 childless.
        let mut s = Arr::new(6);
        insert_child(&mut s, 0, 2);
        insert_child(&mut s, 0, 1);
        insert_child(&mut s, 1, 4);
        insert_child(&mut s, 1, 3);
        insert_child(&mut s, 3, 5);
        let mut order = vec![];
        while let Some(leaf) = leaf_descendant(&s, 1) {
            order.push(leaf);
            remove(&mut s, leaf);
            s.check();
        }
        assert_eq!(order, [5, 3, 4]);
        assert_eq!(s.cdt(0).first_child, Some(1));
        assert_eq!(s.cdt(1).next_sibling, Some(2));
        assert!(!has_children(&s, 1));
    }

    #[test]
    #[should_panic(expected = "linked")]
    #[cfg(debug_assertions)]
    fn insert_linked_child_is_caught_in_debug() {
        let mut s = chain(3);
        insert_child(&mut s, 0, 2);
    }

    #[test]
    fn check_invariants_catches_corruption() {
        let base = {
            let mut s = Arr::new(6);
            for c in [3, 2, 1] {
                insert_child(&mut s, 0, c);
            }
            insert_child(&mut s, 1, 4);
            s
        };
        base.check();
        let all = |s: &Arr| check_invariants(s, 0..s.links.len());

        // Broken back pointer.
        let mut s = Arr {
            links: base.links.clone(),
        };
        s.links[2].prev_sibling = Some(3);
        assert!(all(&s).is_err());

        // Child whose parent does not list it.
        let mut s = Arr {
            links: base.links.clone(),
        };
        s.links[5].parent = Some(0);
        assert!(all(&s).is_err());

        // Root with a sibling.
        let mut s = Arr {
            links: base.links.clone(),
        };
        s.links[5].next_sibling = Some(0);
        assert!(all(&s).is_err());

        // Self link.
        let mut s = Arr {
            links: base.links.clone(),
        };
        s.links[4].first_child = Some(4);
        assert!(all(&s).is_err());

        // Cycle of parents that is locally consistent: 0 <-> 5.
        let mut s = Arr::new(2);
        s.links[0] = CdtLinks {
            parent: Some(1),
            first_child: Some(1),
            ..CdtLinks::EMPTY
        };
        s.links[1] = CdtLinks {
            parent: Some(0),
            first_child: Some(0),
            ..CdtLinks::EMPTY
        };
        assert_eq!(all(&s), Err("cdt: cycle of parents"));

        // Detached cycle of siblings under 0, whose real first child is 1:
        // 0: [1]; 2 <-> 3 <-> 4 <-> 2 all claiming parent 0.
        let mut s = Arr::new(5);
        insert_child(&mut s, 0, 1);
        for (id, prev, next) in [(2, 4, 3), (3, 2, 4), (4, 3, 2)] {
            s.links[id] = CdtLinks {
                parent: Some(0),
                first_child: None,
                next_sibling: Some(next),
                prev_sibling: Some(prev),
            };
        }
        assert_eq!(all(&s), Err("cdt: cycle in a sibling list"));
        // Checking only the consistent part passes.
        assert_eq!(check_invariants(&s, 0..2), Ok(()));
    }

    /// Random operation sequences against the reference model, checking every step.
    #[test]
    fn randomized_against_model() {
        const N: usize = 48;
        for seed in 1..=40 {
            let mut rng = Rng::new(seed);
            let mut s = Arr::new(N);
            let mut m = Model::new(N);
            for _step in 0..2500 {
                match rng.below(100) {
                    // Insert: grow the tree more often than it shrinks.
                    0..=44 => {
                        let free: Vec<usize> = (0..N).filter(|&i| m.is_unlinked(i)).collect();
                        if free.is_empty() {
                            continue;
                        }
                        let c = rng.pick(&free);
                        let p = rng.below(N);
                        if p == c {
                            continue;
                        }
                        insert_child(&mut s, p, c);
                        m.insert_child(p, c);
                    }
                    45..=69 => {
                        let id = rng.below(N);
                        remove(&mut s, id);
                        m.remove(id);
                    }
                    70..=84 => {
                        let free: Vec<usize> = (0..N).filter(|&i| m.is_unlinked(i)).collect();
                        let from = rng.below(N);
                        let to = if free.is_empty() || rng.chance(1, 20) {
                            from
                        } else {
                            rng.pick(&free)
                        };
                        replace(&mut s, from, to);
                        if from != to {
                            m.replace(from, to);
                        }
                    }
                    85..=89 => {
                        // Revoke, checking every leaf against the model.
                        let root = rng.below(N);
                        loop {
                            let leaf = leaf_descendant(&s, root);
                            assert_eq!(leaf, m.leaf(root));
                            let Some(leaf) = leaf else { break };
                            assert!(is_descendant(&s, root, leaf));
                            remove(&mut s, leaf);
                            m.remove(leaf);
                            s.check();
                        }
                        assert!(!has_children(&s, root));
                    }
                    _ => {
                        for _ in 0..8 {
                            let (a, b) = (rng.below(N), rng.below(N));
                            assert_eq!(is_descendant(&s, a, b), m.is_descendant(a, b));
                            assert_eq!(has_children(&s, a), !m.children[a].is_empty());
                            assert_eq!(leaf_descendant(&s, a), m.leaf(a));
                        }
                    }
                }
                s.check();
                m.assert_matches(&s);
            }
        }
    }

    #[test]
    fn remove_promoting_keeps_copies_together() {
        // 0 is an untyped; 1 the original object cap; 2, 3, 4 copies of 1; 5 a copy of 2; 6 a sibling object.
        let mut a = Arr::new(7);
        insert_child(&mut a, 0, 6);
        insert_child(&mut a, 0, 1);
        insert_child(&mut a, 1, 4);
        insert_child(&mut a, 1, 3);
        insert_child(&mut a, 1, 2);
        insert_child(&mut a, 2, 5);
        a.check();
        remove_promoting(&mut a, 1);
        a.check();
        assert!(a.cdt(1).is_unlinked());
        assert_eq!(parent(&a, 2), Some(0));
        for c in [3, 4, 5] {
            assert_eq!(parent(&a, c), Some(2), "node {c}");
        }
        assert!(is_descendant(&a, 0, 6));
        // A leaf and a root with one child.
        remove_promoting(&mut a, 5);
        a.check();
        remove_promoting(&mut a, 0);
        a.check();
        assert_eq!(parent(&a, 2), None);
        assert_eq!(parent(&a, 6), Some(2));
    }

    #[test]
    fn remove_promoting_randomized() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..200 {
            let n = 24;
            let mut a = Arr::new(n);
            for c in 1..n {
                let p = rng.below(c);
                insert_child(&mut a, p, c);
            }
            a.check();
            let mut alive: Vec<usize> = (0..n).collect();
            while !alive.is_empty() {
                let k = rng.below(alive.len());
                let id = alive.swap_remove(k);
                let before: Vec<usize> = alive
                    .iter()
                    .copied()
                    .filter(|&x| is_descendant(&a, id, x))
                    .collect();
                let old_parent = parent(&a, id);
                remove_promoting(&mut a, id);
                a.check();
                // Former descendants stay below the former parent (or stay one tree).
                if let Some(p) = old_parent {
                    for x in &before {
                        assert!(is_descendant(&a, p, *x));
                    }
                } else if let Some(&root) = before.first() {
                    let top = {
                        let mut t = root;
                        while let Some(p) = parent(&a, t) {
                            t = p;
                        }
                        t
                    };
                    for x in &before {
                        assert!(*x == top || is_descendant(&a, top, *x));
                    }
                }
            }
        }
    }
}
