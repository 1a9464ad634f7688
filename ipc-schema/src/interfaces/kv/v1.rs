//! `kv` version 1: a map from integer keys to short byte strings.
//!
//! Released and frozen: what changed since is in [`super::v2`], and a v2 server serves this
//! version through [`super::V1OnV2`].

use super::super::ids;
use serde::{Deserialize, Serialize};

/// A key.
pub type Key = u64;
/// The longest value, in bytes.
pub const VALUE_LEN: usize = 64;
/// A value: at most [`VALUE_LEN`] bytes.
pub type Value = heapless::Vec<u8, VALUE_LEN>;
/// The most keys one [`list`](Server::list) reply carries.
pub const LIST_PAGE: usize = 32;

/// One page of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// Keys, in the store's order.
    pub keys: heapless::Vec<Key, LIST_PAGE>,
    /// The cursor for the next page (the last key of this one), `None` after the last page.
    pub next: Option<Key>,
}

/// Why an op failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvError {
    /// No value is stored under the key.
    NotFound,
    /// The store has no room for another key.
    Full,
    /// The entry exists but this version cannot express it (a newer client stored a value
    /// longer than [`VALUE_LEN`], or the store's state is otherwise beyond version 1).
    Unrepresentable,
}

impl core::fmt::Display for KvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            KvError::NotFound => "not found",
            KvError::Full => "store full",
            KvError::Unrepresentable => "not representable in kv v1",
        })
    }
}

crate::interface! {
    interface kv = ids::KV, version 1;

    /// The value stored under `key`.
    0 => idempotent fn get(key: Key) -> Result<Value, KvError>;
    /// Stores `value` under `key`, replacing any value there.
    1 => idempotent fn put(key: Key, value: Value) -> Result<(), KvError>;
    /// Removes `key` (a second delete reports `NotFound`).
    2 => idempotent fn delete(key: Key) -> Result<(), KvError>;
    /// Keys after `cursor` (from the first with `None`), at most [`LIST_PAGE`] of them, in the
    /// store's own order; pass the reply's `next` to get the following page.
    3 => idempotent fn list(cursor: Option<Key>) -> Result<KeyPage, KvError>;
}
