//! `kv` version 2: string keys, longer values, an optional time to live, and `count`.
//!
//! Changes from [`super::v1`]: keys are strings of up to [`KEY_LEN`] bytes instead of integers
//! (a v1 key `n` is the v2 key spelling `n` in decimal, see [`super::key_from_v1`]); values hold
//! up to [`VALUE_LEN`] bytes instead of 64; `put` takes an optional time to live; op 4 `count`
//! is new.

use super::super::common::Ticks;
use super::super::ids;
use serde::{Deserialize, Serialize};

/// The longest key, in bytes.
pub const KEY_LEN: usize = 32;
/// A key: a non-empty UTF-8 string of at most [`KEY_LEN`] bytes.
pub type Key = heapless::String<KEY_LEN>;
/// The longest value, in bytes.
pub const VALUE_LEN: usize = 256;
/// A value: at most [`VALUE_LEN`] bytes.
pub type Value = heapless::Vec<u8, VALUE_LEN>;
/// The most keys one [`list`](Server::list) reply carries.
pub const LIST_PAGE: usize = 16;

/// One page of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// Keys in ascending byte order.
    pub keys: heapless::Vec<Key, LIST_PAGE>,
    /// The cursor for the next page (the last key of this one), `None` after the last page.
    pub next: Option<Key>,
}

/// Why an op failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvError {
    /// No value is stored under the key (or it has expired).
    NotFound,
    /// The store has no room for another key.
    Full,
    /// The key is empty.
    InvalidKey,
}

impl core::fmt::Display for KvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            KvError::NotFound => "not found",
            KvError::Full => "store full",
            KvError::InvalidKey => "invalid key",
        })
    }
}

crate::interface! {
    interface kv = ids::KV, version 2;

    /// The value stored under `key`, if it has not expired.
    0 => idempotent fn get(key: Key) -> Result<Value, KvError>;
    /// Stores `value` under `key`, replacing any value there. With `ttl`, the entry expires
    /// `ttl` ticks after this call; without, it never does.
    1 => idempotent fn put(key: Key, value: Value, ttl: Option<Ticks>) -> Result<(), KvError>;
    /// Removes `key` (a second delete reports `NotFound`).
    2 => idempotent fn delete(key: Key) -> Result<(), KvError>;
    /// Keys after `cursor` (from the first with `None`) in ascending byte order, at most
    /// [`LIST_PAGE`] of them; pass the reply's `next` to get the following page.
    3 => idempotent fn list(cursor: Option<Key>) -> Result<KeyPage, KvError>;
    /// How many unexpired entries the store holds.
    4 => idempotent fn count() -> Result<u64, KvError>;
}
