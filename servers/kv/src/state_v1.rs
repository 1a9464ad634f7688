//! [`StateV1`]: the store of the first version of the server (program `kv1`), which speaks only
//! `kv::v1`: integer keys, values of at most 64 bytes, no expiry.
//!
//! It is the state a live upgrade to version 2 starts from: exported in format
//! [`crate::upgrade::KV_V1`] (postcard) and migrated by [`crate::upgrade::migrate_v1_to_v2`].
//! Layout and costs as in [`crate::state`]: entries in a bounded vector, each in a fixed slot
//! until deleted; reads write nothing.
//!
//! Invariants: no two entries have the same key; at most [`CAPACITY`] entries.

use crate::state::CAPACITY;
use ipc_schema::kv::v1::{self, Key, KeyPage, KvError, Value};
use serde::{Deserialize, Serialize};

/// One key and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryV1 {
    pub key: Key,
    pub value: Value,
}

/// The version-1 store's contents: at most [`CAPACITY`] entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateV1 {
    entries: heapless::Vec<EntryV1, CAPACITY>,
}

impl StateV1 {
    pub const fn new() -> StateV1 {
        StateV1 {
            entries: heapless::Vec::new(),
        }
    }

    pub fn get(&self, key: Key) -> Result<&Value, KvError> {
        self.find(key)
            .map(|i| &self.entries[i].value)
            .ok_or(KvError::NotFound)
    }

    /// Stores `value` under `key`; a new key in a full store fails with `Full` and changes
    /// nothing.
    pub fn put(&mut self, key: Key, value: Value) -> Result<(), KvError> {
        if let Some(i) = self.find(key) {
            self.entries[i].value = value;
            return Ok(());
        }
        self.entries
            .push(EntryV1 { key, value })
            .map_err(|_| KvError::Full)
    }

    pub fn delete(&mut self, key: Key) -> Result<(), KvError> {
        let i = self.find(key).ok_or(KvError::NotFound)?;
        self.entries.swap_remove(i);
        Ok(())
    }

    /// The keys after `cursor` in ascending order, at most [`v1::LIST_PAGE`]; `next` is the
    /// page's last key when more follow.
    pub fn list(&self, cursor: Option<Key>) -> KeyPage {
        let mut smallest: heapless::Vec<Key, { v1::LIST_PAGE + 1 }> = heapless::Vec::new();
        for key in self.entries.iter().map(|e| e.key) {
            if cursor.is_some_and(|c| key <= c) {
                continue;
            }
            let at = smallest.partition_point(|&k| k < key);
            if smallest.is_full() {
                if at == smallest.len() {
                    continue;
                }
                smallest.pop();
            }
            // Cannot fail: there is room now.
            let _ = smallest.insert(at, key);
        }
        let mut page = KeyPage::default();
        for &key in smallest.iter().take(v1::LIST_PAGE) {
            // Cannot fail: at most LIST_PAGE keys are taken.
            let _ = page.keys.push(key);
        }
        if smallest.len() > v1::LIST_PAGE {
            page.next = page.keys.last().copied();
        }
        page
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in storage order.
    pub fn entries(&self) -> &[EntryV1] {
        &self.entries
    }

    /// Checks the invariants of a state that did not come from these methods (an imported one):
    /// the index of the first entry that repeats an earlier key.
    pub fn validate(&self) -> Result<(), usize> {
        for (i, entry) in self.entries.iter().enumerate() {
            if self.entries[..i].iter().any(|e| e.key == entry.key) {
                return Err(i);
            }
        }
        Ok(())
    }

    fn find(&self, key: Key) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }
}

/// The version-1 server: `kv::v1` over a [`StateV1`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvV1 {
    pub state: StateV1,
}

impl v1::Server for KvV1 {
    fn get(&mut self, _: &mut ipc_schema::Caller, key: Key) -> Result<Value, KvError> {
        self.state.get(key).cloned()
    }

    fn put(&mut self, _: &mut ipc_schema::Caller, key: Key, value: Value) -> Result<(), KvError> {
        self.state.put(key, value)
    }

    fn delete(&mut self, _: &mut ipc_schema::Caller, key: Key) -> Result<(), KvError> {
        self.state.delete(key)
    }

    fn list(
        &mut self,
        _: &mut ipc_schema::Caller,
        cursor: Option<Key>,
    ) -> Result<KeyPage, KvError> {
        Ok(self.state.list(cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(b: &[u8]) -> Value {
        Value::from_slice(b).unwrap()
    }

    #[test]
    fn put_get_delete_and_full() {
        let mut s = StateV1::new();
        assert_eq!(s.get(1), Err(KvError::NotFound));
        s.put(1, value(b"a")).unwrap();
        s.put(1, value(b"b")).unwrap();
        assert_eq!(s.get(1), Ok(&value(b"b")));
        assert_eq!(s.delete(1), Ok(()));
        assert_eq!(s.delete(1), Err(KvError::NotFound));
        for k in 0..CAPACITY as u64 {
            s.put(k, value(b"x")).unwrap();
        }
        let before = s.clone();
        assert_eq!(s.put(u64::MAX, value(b"y")), Err(KvError::Full));
        assert_eq!(s, before);
        s.put(5, value(b"replaced")).unwrap();
        assert_eq!(s.get(5), Ok(&value(b"replaced")));
    }

    #[test]
    fn list_pages_in_numeric_order() {
        let mut s = StateV1::new();
        for k in (0..70u64).map(|i| (i * 37) % 70) {
            s.put(k * 1000, value(b"")).unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s.list(cursor);
            seen.extend(page.keys.iter().copied());
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, (0..70u64).map(|k| k * 1000).collect::<Vec<_>>());
        assert_eq!(s.list(Some(u64::MAX)), KeyPage::default());
    }

    #[test]
    fn validate_finds_duplicates() {
        let mut s = StateV1::new();
        s.put(3, value(b"x")).unwrap();
        assert_eq!(s.validate(), Ok(()));
        s.entries.push(s.entries[0].clone()).unwrap();
        assert_eq!(s.validate(), Err(1));
    }
}
