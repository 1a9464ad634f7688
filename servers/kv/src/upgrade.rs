//! The kv store's state across live upgrades: its state formats, the migration from the
//! version-1 state to the version-2 state, and [`Upgradable`] for both.
//!
//! | format | name | what | exported by | imported by |
//! |---|---|---|---|---|
//! | 1 [`KV_V1`] | `kv.v1` | [`StateV1`], postcard | `kv1`, `kv2` (when every entry fits v1: rollback) | `kv1`, `kv2` (migrated by [`migrate_v1_to_v2`]) |
//! | 2 [`KV_V2`] | `kv.v2` | [`State`], postcard | `kv2` | `kv2` |
//!
//! `kv2` prefers `kv.v2` (nothing lost) over `kv.v1`. The broken `kv3` imports format 3 only
//! ([`KV_V3`]): an upgrade from `kv1` to it is refused at negotiation, before anything changes.
//! No format is by reference: the two layouts differ, and the same layout would need the
//! supervisor to map the old version's frames into the new one.

use crate::state::{Entry, State};
use crate::state_v1::StateV1;
use ipc_schema::kv::{self, v1};
use upgrade::{Format, FormatInfo, FormatSet, Transfer, TransferError, Upgradable};

/// Version 1's state, postcard-encoded.
pub const KV_V1: Format = Format(1);
/// Version 2's state, postcard-encoded.
pub const KV_V2: Format = Format(2);
/// A format no released version exports (what the broken `kv3` asks for).
pub const KV_V3: Format = Format(3);

/// What each kv format number means.
pub const FORMATS: &[FormatInfo] = &[
    FormatInfo {
        format: KV_V1,
        name: "kv.v1 (postcard)",
        transfer: Transfer::Encoded,
    },
    FormatInfo {
        format: KV_V2,
        name: "kv.v2 (postcard)",
        transfer: Transfer::Encoded,
    },
    FormatInfo {
        format: KV_V3,
        name: "kv.v3 (postcard)",
        transfer: Transfer::Encoded,
    },
];

/// The largest encoded state of either version, with room to spare: the staging buffer of a kv
/// server's upgrade agent. (128 entries of a 32-byte key, a 256-byte value and an expiry time
/// take at most 128 * 302 + 2 bytes.)
pub const STAGING_BYTES: usize = 40 * 1024;

/// The version-2 state holding exactly what a version-1 state holds: key `n` becomes the v2
/// key spelling `n` in decimal (as the `V1OnV2` adapter names it), values are copied, nothing
/// expires. Fails only on a state that breaks v1's invariants (a repeated key).
pub fn migrate_v1_to_v2(old: &StateV1) -> Result<State, TransferError> {
    old.validate().map_err(|_| TransferError::Invalid)?;
    let mut new = State::new();
    for entry in old.entries() {
        // v1 values are shorter than v2's; cannot fail.
        let value = kv::v2::Value::from_slice(&entry.value).map_err(|()| TransferError::Invalid)?;
        // Fresh keys into a store of the same capacity: cannot fail.
        new.put(kv::key_from_v1(entry.key), value, None, 0)
            .map_err(|_| TransferError::Invalid)?;
    }
    Ok(new)
}

/// The version-1 state for a version-2 state, when v1 can hold it (for carrying the state back
/// on a rollback): every key the decimal spelling of a number, every value at most 64 bytes, no
/// expiry time. Anything else is [`TransferError::Invalid`]: v1 would lose it.
pub fn downgrade_v2_to_v1(new: &State) -> Result<StateV1, TransferError> {
    let mut old = StateV1::new();
    for Entry {
        key,
        value,
        expires_at,
    } in new.entries()
    {
        let key = kv::key_to_v1(key).ok_or(TransferError::Invalid)?;
        if expires_at.is_some() {
            return Err(TransferError::Invalid);
        }
        let value = v1::Value::from_slice(value).map_err(|()| TransferError::Invalid)?;
        old.put(key, value).map_err(|_| TransferError::Invalid)?;
    }
    Ok(old)
}

impl Upgradable for StateV1 {
    const EXPORTS: FormatSet = FormatSet::of(&[KV_V1]);
    const IMPORTS: FormatSet = FormatSet::of(&[KV_V1]);
    const PREFERENCE: &'static [u8] = &[KV_V1.0];

    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError> {
        match format {
            KV_V1 => upgrade::encode(self, out),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        match format {
            KV_V1 => {
                let state: StateV1 = upgrade::decode(bytes)?;
                state.validate().map_err(|_| TransferError::Invalid)?;
                Ok(state)
            }
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }
}

impl Upgradable for State {
    const EXPORTS: FormatSet = FormatSet::of(&[KV_V2, KV_V1]);
    const IMPORTS: FormatSet = FormatSet::of(&[KV_V2, KV_V1]);
    const PREFERENCE: &'static [u8] = &[KV_V2.0, KV_V1.0];

    fn export(&self, format: Format, out: &mut [u8]) -> Result<usize, TransferError> {
        match format {
            KV_V2 => upgrade::encode(self, out),
            KV_V1 => upgrade::encode(&downgrade_v2_to_v1(self)?, out),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        match format {
            KV_V2 => {
                let state: State = upgrade::decode(bytes)?;
                state.validate().map_err(|_| TransferError::Invalid)?;
                Ok(state)
            }
            KV_V1 => migrate_v1_to_v2(&upgrade::decode(bytes)?),
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }
}

/// The broken version 3's upgrade state. Version 3 serves from an ordinary v2 store; what is
/// broken is its import, which decodes the v2 state and then rejects it, as a version with a
/// faulty migration would. It exports nothing (it can never hand a state on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateV3;

impl Upgradable for StateV3 {
    const EXPORTS: FormatSet = FormatSet::EMPTY;
    const IMPORTS: FormatSet = FormatSet::of(&[KV_V3, KV_V2]);
    const PREFERENCE: &'static [u8] = &[KV_V3.0, KV_V2.0];

    fn export(&self, format: Format, _: &mut [u8]) -> Result<usize, TransferError> {
        Err(TransferError::UnsupportedFormat(format))
    }

    fn import(format: Format, bytes: &[u8]) -> Result<Self, TransferError> {
        match format {
            KV_V2 | KV_V3 => {
                let _: State = upgrade::decode(bytes)?;
                Err(TransferError::Invalid)
            }
            f => Err(TransferError::UnsupportedFormat(f)),
        }
    }
}
