//! [`Registry`]: the name service's table of registrations and the capability slots that hold
//! their endpoints.
//!
//! Each registration owns one slot of the service's CNode, taken from the range the registry was
//! given; the slot holds the endpoint capability the registrant sent. The capability operations
//! go through [`CapSpace`] (the kernel's CNode invocations on the target, a model in tests).
//!
//! Rules:
//! - a registration is identified by its name; it belongs to the caller that made it, as the
//!   badge of the capability it called through tells (its `owner`);
//! - registering a name again from its owner replaces the registration and its capability, in
//!   place (it keeps its position) and counts its generation up (1 at first); from anyone else
//!   it is `AlreadyRegistered`;
//! - only the owner may unregister (`NotPermitted`), and unregistering deletes the capability;
//! - [`Registry::register`] *consumes* the capability it is given: moved into the table on
//!   success, deleted on failure, so the receive slot is empty again in every case;
//! - registrations are kept in registration order, which `list` cursors index.

use core::ops::Range;
use ipc_schema::CapSlot;
use ipc_schema::name::v2::{self, NameError, Query, Registration, RegistrationPage};

/// The most registrations the service holds (fewer if it was given fewer slots).
pub const CAPACITY: usize = 32;

/// A capability operation the kernel refused, with the kernel's error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapError(pub u64);

/// The capability operations the registry needs on the service's own CNode.
pub trait CapSpace {
    /// Moves the capability in slot `from` into the empty slot `to`.
    fn move_cap(&mut self, from: CapSlot, to: CapSlot) -> Result<(), CapError>;
    /// Empties slot `slot`.
    fn delete_cap(&mut self, slot: CapSlot) -> Result<(), CapError>;
}

/// One registration and where its capability is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub registration: Registration,
    /// The badge of the caller that registered it.
    pub owner: u64,
    /// The slot holding its endpoint capability.
    pub slot: CapSlot,
}

/// The registrations, in registration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    records: heapless::Vec<Record, CAPACITY>,
    /// Slots for the capabilities: one per registration.
    slots: Range<u64>,
}

impl Registry {
    /// An empty registry keeping capabilities in `slots` (empty slots of the service's CNode);
    /// it holds as many registrations as there are slots, at most [`CAPACITY`].
    pub fn new(slots: Range<u64>) -> Registry {
        Registry {
            records: heapless::Vec::new(),
            slots,
        }
    }

    /// How many registrations fit.
    pub fn capacity(&self) -> usize {
        let slots = self.slots.end.saturating_sub(self.slots.start);
        usize::try_from(slots).map_or(CAPACITY, |n| n.min(CAPACITY))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every registration, in registration order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The slots its capabilities are kept in.
    pub fn slots(&self) -> Range<u64> {
        self.slots.clone()
    }

    /// A registry of `records` (in registration order) keeping capabilities in `slots`, if they
    /// keep its invariants: at most [`Registry::capacity`] records, names non-empty and
    /// distinct, version ranges valid, generations non-zero, each record in its own slot among
    /// the first `capacity` of `slots`. (A live upgrade rebuilds the registry from its state;
    /// the capabilities are already in those slots, carried by the supervisor.)
    pub fn from_records(
        slots: Range<u64>,
        records: impl IntoIterator<Item = Record>,
    ) -> Option<Registry> {
        let mut registry = Registry::new(slots);
        let usable = registry.slots.start..registry.slots.start + registry.capacity() as u64;
        for record in records {
            let r = &record.registration;
            let valid = !r.name.is_empty()
                && r.min_version != 0
                && r.min_version <= r.max_version
                && r.generation != 0
                && usable.contains(&record.slot.0)
                && registry.find(&r.name).is_none()
                && registry.records.iter().all(|o| o.slot != record.slot);
            if !valid || registry.records.len() >= registry.capacity() {
                return None;
            }
            registry.records.push(record).ok()?;
        }
        Some(registry)
    }

    /// Registers `registration` (its generation is the registry's to set) for `owner` with the
    /// endpoint capability in slot `cap`, which this consumes (see the module docs). Returns the
    /// registration's generation.
    pub fn register(
        &mut self,
        caps: &mut impl CapSpace,
        owner: u64,
        registration: Registration,
        cap: CapSlot,
    ) -> Result<u32, NameError> {
        let result = self.try_register(caps, owner, registration, cap);
        if result.is_err() {
            // Leave the receive slot empty for the next request. Should even this fail, the
            // next capability-carrying request is answered MissingCapability.
            let _ = caps.delete_cap(cap);
        }
        result
    }

    fn try_register(
        &mut self,
        caps: &mut impl CapSpace,
        owner: u64,
        mut registration: Registration,
        cap: CapSlot,
    ) -> Result<u32, NameError> {
        let Registration {
            ref name,
            min_version,
            max_version,
            ..
        } = registration;
        if min_version == 0 || min_version > max_version {
            return Err(NameError::InvalidVersions);
        }
        if name.is_empty() {
            return Err(NameError::InvalidName);
        }
        if let Some(i) = self.find(name) {
            let record = &self.records[i];
            if record.owner != owner {
                return Err(NameError::AlreadyRegistered);
            }
            // Replace in place: the old capability goes, the new one takes its slot.
            let slot = record.slot;
            let _ = caps.delete_cap(slot);
            if caps.move_cap(cap, slot).is_err() {
                // The old capability is gone and the new one could not be stored: the
                // registration cannot stand.
                self.records.remove(i);
                return Err(NameError::Full);
            }
            registration.generation = self.records[i].registration.generation.saturating_add(1);
            let generation = registration.generation;
            self.records[i].registration = registration;
            return Ok(generation);
        }
        if self.records.len() >= self.capacity() {
            return Err(NameError::Full);
        }
        let slot = self.free_slot().ok_or(NameError::Full)?;
        // A slot the kernel refuses to fill is as good as no room.
        caps.move_cap(cap, slot).map_err(|_| NameError::Full)?;
        registration.generation = 1;
        let record = Record {
            registration,
            owner,
            slot,
        };
        self.records.push(record).map_err(|_| NameError::Full)?;
        Ok(1)
    }

    /// The first registration matching `query`: by name, or the first (in registration order)
    /// whose version range of the interface includes the version asked for.
    pub fn lookup(&self, query: &Query) -> Result<&Record, NameError> {
        self.records
            .iter()
            .find(|r| matches(&r.registration, query))
            .ok_or(NameError::NotFound)
    }

    /// Registrations from index `cursor` on, at most [`v2::LIST_PAGE`]; `next` is the index
    /// after the page if more follow.
    pub fn list(&self, cursor: u16) -> RegistrationPage {
        let mut page = RegistrationPage::default();
        let start = usize::from(cursor).min(self.records.len());
        for record in self.records[start..].iter().take(v2::LIST_PAGE) {
            // Cannot fail: at most LIST_PAGE are taken.
            let _ = page.entries.push(record.registration.clone());
        }
        let end = start + page.entries.len();
        if end < self.records.len() {
            page.next = u16::try_from(end).ok();
        }
        page
    }

    /// Removes the registration of `name`, which `owner` must have made, and deletes its
    /// capability.
    pub fn unregister(
        &mut self,
        caps: &mut impl CapSpace,
        owner: u64,
        name: &str,
    ) -> Result<(), NameError> {
        let i = self.find(name).ok_or(NameError::NotFound)?;
        if self.records[i].owner != owner {
            return Err(NameError::NotPermitted);
        }
        let record = self.records.remove(i);
        // Should the kernel refuse, the slot stays occupied and a later register into it
        // fails with Full; nothing else depends on it.
        let _ = caps.delete_cap(record.slot);
        Ok(())
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.records
            .iter()
            .position(|r| r.registration.name == name)
    }

    /// The first slot of the range no registration holds.
    fn free_slot(&self) -> Option<CapSlot> {
        self.slots
            .clone()
            .take(self.capacity())
            .map(CapSlot)
            .find(|&s| self.records.iter().all(|r| r.slot != s))
    }
}

fn matches(registration: &Registration, query: &Query) -> bool {
    match query {
        Query::Name(name) => registration.name == *name,
        Query::Interface { interface, version } => {
            registration.interface == *interface
                && (registration.min_version..=registration.max_version).contains(version)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A CNode: slot -> the object its capability names.
    #[derive(Default)]
    struct Cnode {
        slots: BTreeMap<u64, u32>,
        refuse_moves: bool,
    }

    impl CapSpace for Cnode {
        fn move_cap(&mut self, from: CapSlot, to: CapSlot) -> Result<(), CapError> {
            if self.refuse_moves || self.slots.contains_key(&to.0) {
                return Err(CapError(8));
            }
            let object = self.slots.remove(&from.0).ok_or(CapError(1))?;
            self.slots.insert(to.0, object);
            Ok(())
        }

        fn delete_cap(&mut self, slot: CapSlot) -> Result<(), CapError> {
            self.slots.remove(&slot.0);
            Ok(())
        }
    }

    const RECEIVE: CapSlot = CapSlot(10);
    const TABLE: Range<u64> = 20..24;

    fn reg(name: &str, interface: u16, min: u8, max: u8) -> Registration {
        Registration {
            name: name.try_into().unwrap(),
            interface,
            min_version: min,
            max_version: max,
            generation: 1,
        }
    }

    /// `reg`, registered `generation` times.
    fn nth(r: Registration, generation: u32) -> Registration {
        Registration { generation, ..r }
    }

    /// Registers `r` for `owner` with a capability to `object` arriving in the receive slot.
    fn register(
        registry: &mut Registry,
        cnode: &mut Cnode,
        owner: u64,
        r: Registration,
        object: u32,
    ) -> Result<u32, NameError> {
        cnode.slots.insert(RECEIVE.0, object);
        let result = registry.register(cnode, owner, r, RECEIVE);
        assert!(
            !cnode.slots.contains_key(&RECEIVE.0),
            "the receive slot is emptied"
        );
        result
    }

    #[test]
    fn register_lookup_unregister() {
        let (mut r, mut c) = (Registry::new(TABLE), Cnode::default());
        assert_eq!(r.capacity(), 4);
        register(&mut r, &mut c, 1, reg("kv", 4, 1, 2), 100).unwrap();
        register(&mut r, &mut c, 2, reg("timer", 3, 1, 1), 200).unwrap();
        let kv = r.lookup(&Query::Name("kv".try_into().unwrap())).unwrap();
        assert_eq!(kv.registration, reg("kv", 4, 1, 2));
        assert_eq!(c.slots.get(&kv.slot.0), Some(&100));
        let timer = r
            .lookup(&Query::Interface {
                interface: 3,
                version: 1,
            })
            .unwrap();
        assert_eq!(c.slots.get(&timer.slot.0), Some(&200));
        assert_ne!(kv.slot, timer.slot);
        let kv_slot = kv.slot;

        assert_eq!(r.unregister(&mut c, 2, "kv"), Err(NameError::NotPermitted));
        assert_eq!(r.unregister(&mut c, 1, "nope"), Err(NameError::NotFound));
        r.unregister(&mut c, 1, "kv").unwrap();
        assert!(
            !c.slots.contains_key(&kv_slot.0),
            "its capability is deleted"
        );
        assert_eq!(
            r.lookup(&Query::Name("kv".try_into().unwrap())),
            Err(NameError::NotFound)
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn lookup_by_interface_version() {
        let (mut r, mut c) = (Registry::new(TABLE), Cnode::default());
        register(&mut r, &mut c, 1, reg("kv-old", 4, 1, 1), 1).unwrap();
        register(&mut r, &mut c, 2, reg("kv-new", 4, 1, 2), 2).unwrap();
        let q = |version| Query::Interface {
            interface: 4,
            version,
        };
        // The first in registration order that serves the version.
        assert_eq!(r.lookup(&q(1)).unwrap().registration.name, "kv-old");
        assert_eq!(r.lookup(&q(2)).unwrap().registration.name, "kv-new");
        assert_eq!(r.lookup(&q(3)), Err(NameError::NotFound));
        assert_eq!(r.lookup(&q(0)), Err(NameError::NotFound));
        let other = Query::Interface {
            interface: 5,
            version: 1,
        };
        assert_eq!(r.lookup(&other), Err(NameError::NotFound));
    }

    #[test]
    fn names_belong_to_their_registrant() {
        let (mut r, mut c) = (Registry::new(TABLE), Cnode::default());
        register(&mut r, &mut c, 1, reg("kv", 4, 1, 1), 100).unwrap();
        register(&mut r, &mut c, 9, reg("other", 1, 1, 1), 900).unwrap();
        assert_eq!(
            register(&mut r, &mut c, 2, reg("kv", 4, 1, 2), 200),
            Err(NameError::AlreadyRegistered)
        );
        assert_eq!(r.records()[0].registration, reg("kv", 4, 1, 1));
        // The owner replaces it in place: same slot, same position, the new capability, the
        // next generation.
        let slot = r.records()[0].slot;
        assert_eq!(register(&mut r, &mut c, 1, reg("kv", 4, 1, 2), 101), Ok(2));
        assert_eq!(r.records()[0].registration, nth(reg("kv", 4, 1, 2), 2));
        assert_eq!(r.records()[0].slot, slot);
        assert_eq!(c.slots.get(&slot.0), Some(&101));
        assert_eq!(c.slots.len(), 2, "the old capability is deleted");
    }

    #[test]
    fn invalid_registrations_are_refused_and_their_capability_deleted() {
        let (mut r, mut c) = (Registry::new(TABLE), Cnode::default());
        for (min, max) in [(0, 1), (2, 1), (0, 0)] {
            assert_eq!(
                register(&mut r, &mut c, 1, reg("kv", 4, min, max), 1),
                Err(NameError::InvalidVersions)
            );
        }
        assert_eq!(
            register(&mut r, &mut c, 1, reg("", 4, 1, 1), 1),
            Err(NameError::InvalidName)
        );
        assert!(r.is_empty());
        assert!(c.slots.is_empty());
    }

    #[test]
    fn full_when_slots_or_table_run_out() {
        let (mut r, mut c) = (Registry::new(TABLE), Cnode::default());
        for i in 0..4 {
            register(&mut r, &mut c, 1, reg(&format!("s{i}"), 1, 1, 1), i).unwrap();
        }
        assert_eq!(
            register(&mut r, &mut c, 1, reg("s4", 1, 1, 1), 4),
            Err(NameError::Full)
        );
        // Replacing still works when full.
        register(&mut r, &mut c, 1, reg("s2", 1, 1, 2), 22).unwrap();
        // Unregistering frees a slot, which the next registration reuses.
        let freed = r.records()[1].slot;
        r.unregister(&mut c, 1, "s1").unwrap();
        register(&mut r, &mut c, 1, reg("s4", 1, 1, 1), 4).unwrap();
        assert_eq!(r.records().last().unwrap().slot, freed);
        assert_eq!(c.slots.len(), 4);

        // The table bounds a registry given more slots than it holds.
        let mut big = Registry::new(100..1000);
        assert_eq!(big.capacity(), CAPACITY);
        for i in 0..CAPACITY {
            register(&mut big, &mut c, 1, reg(&format!("b{i}"), 1, 1, 1), 0).unwrap();
        }
        assert_eq!(
            register(&mut big, &mut c, 1, reg("more", 1, 1, 1), 0),
            Err(NameError::Full)
        );
        assert_eq!(Registry::new(5..5).capacity(), 0);
    }

    #[test]
    fn a_refused_move_leaves_nothing_behind() {
        let (mut r, mut c) = (Registry::new(TABLE), Cnode::default());
        register(&mut r, &mut c, 1, reg("kv", 4, 1, 1), 1).unwrap();
        c.refuse_moves = true;
        assert_eq!(
            register(&mut r, &mut c, 1, reg("new", 4, 1, 1), 2),
            Err(NameError::Full)
        );
        // A failed replacement drops the registration whose capability is gone.
        assert_eq!(
            register(&mut r, &mut c, 1, reg("kv", 4, 1, 2), 3),
            Err(NameError::Full)
        );
        assert!(r.is_empty());
        assert!(c.slots.is_empty());
    }

    #[test]
    fn list_pages_in_registration_order() {
        let mut c = Cnode::default();
        let mut r = Registry::new(100..100 + CAPACITY as u64);
        for i in 0..20 {
            register(&mut r, &mut c, 1, reg(&format!("z{i}"), 1, 1, 1), i).unwrap();
        }
        let first = r.list(0);
        assert_eq!(first.entries.len(), v2::LIST_PAGE);
        assert_eq!(first.entries[0].name, "z0");
        assert_eq!(first.next, Some(16));
        let second = r.list(16);
        assert_eq!(second.entries.len(), 4);
        assert_eq!(second.entries[3].name, "z19");
        assert_eq!(second.next, None);
        assert_eq!(r.list(20), RegistrationPage::default());
        assert_eq!(r.list(u16::MAX), RegistrationPage::default());
        let mut exactly = Registry::new(TABLE);
        register(&mut exactly, &mut c, 1, reg("only", 1, 1, 1), 0).unwrap();
        assert_eq!(exactly.list(0).next, None);
    }
}
