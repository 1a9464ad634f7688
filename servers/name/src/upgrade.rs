//! The name service's state across live upgrades: its formats, the migration from the v1
//! state, and [`Upgradable`] for both builds.
//!
//! | format | name | what | exported by | imported by |
//! |---|---|---|---|---|
//! | 1 [`NAME_V1`] | `name.v1` | [`StateV1`]: v1 registrations, owners, slots | `name1`, `name2` (generations dropped: a rollback) | `name1`, `name2` (each generation 1) |
//! | 2 [`NAME_V2`] | `name.v2` | [`StateV2`]: v2 registrations (with generations), owners, slots | `name2` | `name2` |
//!
//! The state names the CNode slots that hold the registrants' endpoint capabilities; those do
//! not travel as bytes: the upgrader has the supervisor copy them (`lifecycle::carry_caps`)
//! into the new version's CNode at the same indices before the state moves, so the numbers stay
//! true. Both versions are granted the same capabilities, so their registries use the same slots.

use crate::registry::{CAPACITY, Record, Registry};
use core::borrow::{Borrow, BorrowMut};
use ipc_schema::CapSlot;
use ipc_schema::name::{registration_to_v1, v1, v2};
use serde::{Deserialize, Serialize};
use upgrade::{Format, FormatInfo, FormatSet, Transfer, TransferError, Upgradable};

/// Version 1's state, postcard-encoded.
pub const NAME_V1: Format = Format(1);
/// Version 2's state, postcard-encoded.
pub const NAME_V2: Format = Format(2);

/// What each format number means.
pub const FORMATS: &[FormatInfo] = &[
    FormatInfo {
        format: NAME_V1,
        name: "name.v1 (postcard)",
        transfer: Transfer::Encoded,
    },
    FormatInfo {
        format: NAME_V2,
        name: "name.v2 (postcard)",
        transfer: Transfer::Encoded,
    },
];

/// The largest encoded state of either format, with room: the staging buffer of the service's
/// upgrade agent (32 records of at most 25 + 3 + 2 + 5 + 10 + 10 bytes, the slot range and the
/// length: 1,781 bytes).
pub const STAGING_BYTES: usize = 2048;

/// One record as a state format carries it: its registration (`R`: v1's or v2's), the badge
/// of its owner and the CNode slot holding its capability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState<R> {
    pub registration: R,
    pub owner: u64,
    pub slot: u64,
}

/// A whole state: the slot range and the records in registration order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State<R> {
    pub slots: (u64, u64),
    pub records: heapless::Vec<RecordState<R>, CAPACITY>,
}

/// Format 1.
pub type StateV1 = State<v1::Registration>;
/// Format 2.
pub type StateV2 = State<v2::Registration>;

fn to_state<R>(registry: &Registry, registration: impl Fn(&v2::Registration) -> R) -> State<R> {
    let slots = registry.slots();
    let mut records = heapless::Vec::new();
    for r in registry.records() {
        // The registry holds at most CAPACITY records: cannot fail.
        let _ = records.push(RecordState {
            registration: registration(&r.registration),
            owner: r.owner,
            slot: r.slot.0,
        });
    }
    State {
        slots: (slots.start, slots.end),
        records,
    }
}

fn from_state<R>(
    state: State<R>,
    registration: impl Fn(R) -> v2::Registration,
) -> Result<Registry, TransferError> {
    let records = state.records.into_iter().map(|r| Record {
        registration: registration(r.registration),
        owner: r.owner,
        slot: CapSlot(r.slot),
    });
    Registry::from_records(state.slots.0..state.slots.1, records).ok_or(TransferError::Invalid)
}

/// The v2 registration of a v1 one: its first generation.
pub fn migrate_registration(r: v1::Registration) -> v2::Registration {
    v2::Registration {
        name: r.name,
        interface: r.interface,
        min_version: r.min_version,
        max_version: r.max_version,
        generation: 1,
    }
}

/// The registry's state in format 1 (generations dropped).
pub fn export_v1(registry: &Registry) -> StateV1 {
    to_state(registry, |r| registration_to_v1(r.clone()))
}

/// The registry's state in format 2.
pub fn export_v2(registry: &Registry) -> StateV2 {
    to_state(registry, Clone::clone)
}

/// The registry of a format-1 state: every registration in its first generation.
pub fn migrate_v1_to_v2(state: StateV1) -> Result<Registry, TransferError> {
    from_state(state, migrate_registration)
}

/// The registry of a format-2 state.
pub fn import_v2(state: StateV2) -> Result<Registry, TransferError> {
    from_state(state, |r| r)
}

/// The v1 build's registry: the same table, whose upgrade formats are v1's alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryV1(pub Registry);

impl Borrow<Registry> for RegistryV1 {
    fn borrow(&self) -> &Registry {
        &self.0
    }
}

impl BorrowMut<Registry> for RegistryV1 {
    fn borrow_mut(&mut self) -> &mut Registry {
        &mut self.0
    }
}

impl Upgradable for RegistryV1 {
    const EXPORTS: FormatSet = FormatSet::of(&[NAME_V1]);
    const IMPORTS: FormatSet = FormatSet::of(&[NAME_V1]);
    const PREFERENCE: &'static [u8] = &[NAME_V1.0];

    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError> {
        match format {
            NAME_V1 => upgrade::encode(&export_v1(&self.0), out),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        match format {
            NAME_V1 => migrate_v1_to_v2(upgrade::decode(bytes)?).map(RegistryV1),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }
}

impl Upgradable for Registry {
    const EXPORTS: FormatSet = FormatSet::of(&[NAME_V2, NAME_V1]);
    const IMPORTS: FormatSet = FormatSet::of(&[NAME_V2, NAME_V1]);
    const PREFERENCE: &'static [u8] = &[NAME_V2.0, NAME_V1.0];

    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError> {
        match format {
            NAME_V2 => upgrade::encode(&export_v2(self), out),
            NAME_V1 => upgrade::encode(&export_v1(self), out),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        match format {
            NAME_V2 => import_v2(upgrade::decode(bytes)?),
            NAME_V1 => migrate_v1_to_v2(upgrade::decode(bytes)?),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{CapError, CapSpace};
    use ipc_schema::interfaces::common::Name;

    struct Caps;

    impl CapSpace for Caps {
        fn move_cap(&mut self, _: CapSlot, _: CapSlot) -> Result<(), CapError> {
            Ok(())
        }

        fn delete_cap(&mut self, _: CapSlot) -> Result<(), CapError> {
            Ok(())
        }
    }

    fn reg(name: &str, interface: u16) -> v2::Registration {
        v2::Registration {
            name: Name::try_from(name).unwrap(),
            interface,
            min_version: 1,
            max_version: 2,
            generation: 0,
        }
    }

    fn sample() -> Registry {
        let mut r = Registry::new(20..40);
        r.register(&mut Caps, 1, reg("kv", 4), CapSlot(10)).unwrap();
        r.register(&mut Caps, 2, reg("timer", 3), CapSlot(10))
            .unwrap();
        // Replaced twice by its owner: generation 3.
        r.register(&mut Caps, 1, reg("kv", 4), CapSlot(10)).unwrap();
        r.register(&mut Caps, 1, reg("kv", 4), CapSlot(10)).unwrap();
        r
    }

    fn round_trip<S: Upgradable, T: Upgradable>(
        from: &S,
        format: Format,
    ) -> Result<T, TransferError> {
        let mut buf = [0u8; STAGING_BYTES];
        let n = from.export(format, &mut buf)?;
        T::import(format, &buf[..n])
    }

    #[test]
    fn v2_to_v2_keeps_everything() {
        let r = sample();
        let back: Registry = round_trip(&r, NAME_V2).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.records()[0].registration.generation, 3);
    }

    #[test]
    fn v1_to_v2_migrates_to_first_generations_in_the_same_slots() {
        let old = RegistryV1(sample());
        let new: Registry = round_trip(&old, NAME_V1).unwrap();
        assert_eq!(new.len(), 2);
        for (a, b) in new.records().iter().zip(old.0.records()) {
            assert_eq!(a.slot, b.slot, "the slots stay: the capabilities are there");
            assert_eq!(a.owner, b.owner);
            assert_eq!(a.registration.generation, 1);
            assert_eq!(a.registration.name, b.registration.name);
        }
        assert_eq!(new.slots(), 20..40);
        // And back to v1 (a rollback carrying the state back).
        let back: RegistryV1 = round_trip(&new, NAME_V1).unwrap();
        assert_eq!(back.0, new);
        // v1 has no format 2.
        assert_eq!(
            round_trip::<Registry, RegistryV1>(&new, NAME_V2),
            Err(TransferError::UnsupportedFormat(NAME_V2))
        );
    }

    #[test]
    fn states_that_break_the_invariants_are_refused() {
        let good = export_v2(&sample());
        let mut twice = good.clone();
        twice.records[1].slot = twice.records[0].slot;
        assert_eq!(import_v2(twice), Err(TransferError::Invalid));
        let mut outside = good.clone();
        outside.records[0].slot = 5;
        assert_eq!(import_v2(outside), Err(TransferError::Invalid));
        let mut same_name = good.clone();
        same_name.records[1].registration.name = same_name.records[0].registration.name.clone();
        assert_eq!(import_v2(same_name), Err(TransferError::Invalid));
        let mut zero = good.clone();
        zero.records[0].registration.generation = 0;
        assert_eq!(import_v2(zero), Err(TransferError::Invalid));
        let mut versions = good.clone();
        versions.records[0].registration.min_version = 3;
        assert_eq!(import_v2(versions), Err(TransferError::Invalid));
        let mut small = good;
        small.slots = (20, 21);
        assert_eq!(import_v2(small), Err(TransferError::Invalid));
        let mut buf = [0u8; STAGING_BYTES];
        let n = sample().export(NAME_V2, &mut buf).unwrap();
        assert_eq!(
            Registry::import(NAME_V2, &buf[..n - 1]),
            Err(TransferError::Decode)
        );
    }

    #[test]
    fn a_full_state_fits_the_staging_buffer() {
        let mut state = StateV2 {
            slots: (u64::MAX, u64::MAX),
            records: heapless::Vec::new(),
        };
        for i in 0..CAPACITY {
            let mut name = Name::new();
            while name.push('n').is_ok() {}
            name.pop();
            name.push(char::from(b'A' + i as u8)).unwrap();
            let registration = v2::Registration {
                name,
                interface: u16::MAX,
                min_version: u8::MAX,
                max_version: u8::MAX,
                generation: u32::MAX,
            };
            state
                .records
                .push(RecordState {
                    registration,
                    owner: u64::MAX,
                    slot: u64::MAX,
                })
                .unwrap();
        }
        let mut buf = [0u8; STAGING_BYTES];
        let n = upgrade::encode(&state, &mut buf).unwrap();
        assert_eq!(n, 1781);
    }
}
