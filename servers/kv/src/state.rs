//! [`State`]: everything the key-value store remembers, in one bounded value.
//!
//! This is what a transaction checkpoints (it lives in the server's transactional stack, data or
//! heap) and what a state-migrating upgrade carries from one version of the server to the next
//! (it is `Serialize`/`Deserialize`; [`State::validate`] checks an imported one).
//!
//! Layout and cost: the entries sit in one `heapless::Vec` in no particular order, each in a
//! fixed place until it is deleted (a delete moves the last entry into the hole). So a request
//! writes only the entry it changes (and the vector's length): under transactions it dirties a
//! page or two whatever the store holds. Reads (`get`, `list`, `count`) write nothing. Lookups
//! scan at most [`CAPACITY`] keys; `list` sorts on the fly, one pass per page.
//!
//! Time: an entry may carry an expiry time in counter ticks; every operation takes the current
//! time `now`. An entry whose expiry time has come is gone for every reader; its slot is reused
//! when a new key needs room, or freed by a delete.
//!
//! Invariants: every key is non-empty and at most `v2::KEY_LEN` bytes (the type bounds the
//! length); no two entries have the same key; at most [`CAPACITY`] entries.

use ipc_schema::interfaces::common::Ticks;
use ipc_schema::kv::v2::{self, Key, KeyPage, KvError, Value};
use serde::{Deserialize, Serialize};

/// The most entries the store holds (expired ones included, until their slot is reused).
pub const CAPACITY: usize = 128;

/// One key and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    /// When the entry expires (counter ticks); `None`: never.
    pub expires_at: Option<Ticks>,
}

impl Entry {
    /// Whether the entry still exists at time `now`.
    pub fn is_live(&self, now: Ticks) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }
}

/// Why an imported [`State`] is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidState {
    /// The entry at this index has an empty key.
    EmptyKey(usize),
    /// The entry at this index repeats the key of an earlier one.
    DuplicateKey(usize),
}

/// The store's contents: at most [`CAPACITY`] entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    entries: heapless::Vec<Entry, CAPACITY>,
}

impl State {
    /// An empty store.
    pub const fn new() -> State {
        State {
            entries: heapless::Vec::new(),
        }
    }

    /// The value stored under `key`, if it is live at `now`.
    pub fn get(&self, key: &str, now: Ticks) -> Result<&Value, KvError> {
        check_key(key)?;
        match self.find(key) {
            Some(i) if self.entries[i].is_live(now) => Ok(&self.entries[i].value),
            _ => Err(KvError::NotFound),
        }
    }

    /// Stores `value` under `key`, replacing what was there; with `ttl`, the entry expires `ttl`
    /// ticks after `now`. A new key takes a free slot, else the slot of an expired entry, else
    /// fails with [`KvError::Full`] (and the store is unchanged).
    pub fn put(
        &mut self,
        key: Key,
        value: Value,
        ttl: Option<Ticks>,
        now: Ticks,
    ) -> Result<(), KvError> {
        check_key(&key)?;
        let expires_at = ttl.map(|t| now.saturating_add(t));
        if let Some(i) = self.find(&key) {
            let entry = &mut self.entries[i];
            entry.value = value;
            entry.expires_at = expires_at;
            return Ok(());
        }
        let entry = Entry {
            key,
            value,
            expires_at,
        };
        if self.entries.is_full() {
            // Reuse the first expired slot in place: one entry written, nothing moved.
            let Some(expired) = self.entries.iter_mut().find(|e| !e.is_live(now)) else {
                return Err(KvError::Full);
            };
            *expired = entry;
            return Ok(());
        }
        self.entries.push(entry).map_err(|_| KvError::Full)
    }

    /// Removes `key`. An entry that has expired is removed too, but reported as
    /// [`KvError::NotFound`], as if it had already gone.
    pub fn delete(&mut self, key: &str, now: Ticks) -> Result<(), KvError> {
        check_key(key)?;
        let i = self.find(key).ok_or(KvError::NotFound)?;
        let removed = self.entries.swap_remove(i);
        if removed.is_live(now) {
            Ok(())
        } else {
            Err(KvError::NotFound)
        }
    }

    /// The live keys after `cursor` (all of them with `None`) in ascending byte order, at most
    /// [`v2::LIST_PAGE`]; `next` is the page's last key when more keys follow it, else `None`.
    pub fn list(&self, cursor: Option<&str>, now: Ticks) -> KeyPage {
        // Indices of the LIST_PAGE + 1 smallest keys after the cursor, sorted by key: one more
        // than a page, to know whether another page follows.
        let mut smallest: heapless::Vec<usize, { v2::LIST_PAGE + 1 }> = heapless::Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            let key = entry.key.as_str();
            if !entry.is_live(now) || cursor.is_some_and(|c| key <= c) {
                continue;
            }
            let at = smallest.partition_point(|&j| self.entries[j].key.as_str() < key);
            if smallest.is_full() {
                if at == smallest.len() {
                    continue;
                }
                smallest.pop();
            }
            // Cannot fail: there is room now.
            let _ = smallest.insert(at, i);
        }
        let mut page = KeyPage::default();
        for &i in smallest.iter().take(v2::LIST_PAGE) {
            // Cannot fail: at most LIST_PAGE keys are taken.
            let _ = page.keys.push(self.entries[i].key.clone());
        }
        if smallest.len() > v2::LIST_PAGE {
            page.next = page.keys.last().cloned();
        }
        page
    }

    /// How many entries are live at `now`.
    pub fn count(&self, now: Ticks) -> u64 {
        self.entries.iter().filter(|e| e.is_live(now)).count() as u64
    }

    /// Slots in use, expired entries included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every slot is in use (a new key still fits if one of them has expired).
    pub fn is_full(&self) -> bool {
        self.entries.is_full()
    }

    /// Every entry, expired ones included, in storage order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Frees the slots of the entries expired at `now`; returns how many.
    pub fn purge_expired(&mut self, now: Ticks) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.is_live(now));
        before - self.entries.len()
    }

    /// Checks the invariants of a state that did not come from these methods (an imported one).
    pub fn validate(&self) -> Result<(), InvalidState> {
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.key.is_empty() {
                return Err(InvalidState::EmptyKey(i));
            }
            if self.entries[..i].iter().any(|e| e.key == entry.key) {
                return Err(InvalidState::DuplicateKey(i));
            }
        }
        Ok(())
    }

    /// The slot holding `key`, live or not.
    fn find(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }
}

/// Keys are non-empty (their length is bounded by their type).
fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        Err(KvError::InvalidKey)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::try_from(s).unwrap()
    }

    fn value(b: &[u8]) -> Value {
        Value::from_slice(b).unwrap()
    }

    /// Key `i` of a set that sorts the same as the numbers: "k000", "k001", ...
    fn nth(i: usize) -> Key {
        let mut k = Key::new();
        core::fmt::Write::write_fmt(&mut k, format_args!("k{i:03}")).unwrap();
        k
    }

    /// The footprint the server program's image must make room for (its stack holds the State).
    #[test]
    fn state_fits_eleven_pages() {
        let size = core::mem::size_of::<State>();
        assert!(size <= 11 * 4096, "State is {size} bytes");
    }

    #[test]
    fn put_get_replace_delete() {
        let mut s = State::new();
        assert_eq!(s.get("a", 0), Err(KvError::NotFound));
        s.put(key("a"), value(b"one"), None, 0).unwrap();
        assert_eq!(s.get("a", 0).unwrap(), &value(b"one"));
        s.put(key("a"), value(b"two"), None, 0).unwrap();
        assert_eq!(s.get("a", 5).unwrap(), &value(b"two"));
        assert_eq!((s.len(), s.count(0)), (1, 1));
        s.delete("a", 0).unwrap();
        assert_eq!(s.get("a", 0), Err(KvError::NotFound));
        assert_eq!(s.delete("a", 0), Err(KvError::NotFound));
        assert!(s.is_empty());
    }

    #[test]
    fn empty_keys_are_invalid() {
        let mut s = State::new();
        assert_eq!(
            s.put(key(""), value(b"x"), None, 0),
            Err(KvError::InvalidKey)
        );
        assert_eq!(s.get("", 0), Err(KvError::InvalidKey));
        assert_eq!(s.delete("", 0), Err(KvError::InvalidKey));
        assert!(s.is_empty());
    }

    #[test]
    fn longest_key_and_value() {
        let mut s = State::new();
        let k = "k".repeat(v2::KEY_LEN);
        let v = [7u8; v2::VALUE_LEN];
        s.put(key(&k), value(&v), None, 0).unwrap();
        assert_eq!(s.get(&k, 0).unwrap().as_slice(), &v[..]);
        assert_eq!(value(b"").len(), 0);
        s.put(key("empty"), value(b""), None, 0).unwrap();
        assert!(s.get("empty", 0).unwrap().is_empty());
    }

    #[test]
    fn full_store_refuses_new_keys_but_replaces_old_ones() {
        let mut s = State::new();
        for i in 0..CAPACITY {
            s.put(nth(i), value(&[i as u8]), None, 0).unwrap();
        }
        assert!(s.is_full());
        assert_eq!(s.count(0), CAPACITY as u64);
        let before = s.clone();
        assert_eq!(s.put(key("new"), value(b"x"), None, 0), Err(KvError::Full));
        assert_eq!(s, before, "a refused put changes nothing");
        s.put(nth(5), value(b"replaced"), None, 0).unwrap();
        assert_eq!(s.get("k005", 0).unwrap(), &value(b"replaced"));
        s.delete("k010", 0).unwrap();
        s.put(key("new"), value(b"x"), None, 0).unwrap();
        assert_eq!(
            s.put(key("newer"), value(b"x"), None, 0),
            Err(KvError::Full)
        );
        for i in (0..CAPACITY).filter(|&i| i != 10) {
            assert_eq!(s.get(&nth(i), 0).unwrap().len(), if i == 5 { 8 } else { 1 });
        }
    }

    #[test]
    fn entries_expire() {
        let mut s = State::new();
        s.put(key("t"), value(b"x"), Some(10), 100).unwrap();
        s.put(key("forever"), value(b"y"), None, 100).unwrap();
        assert!(s.get("t", 109).is_ok());
        assert_eq!(s.get("t", 110), Err(KvError::NotFound));
        assert_eq!(s.count(109), 2);
        assert_eq!(s.count(110), 1);
        assert_eq!(s.list(None, 110).keys, ["forever"]);
        // A put with no ttl makes it permanent again.
        s.put(key("t"), value(b"z"), None, 200).unwrap();
        assert!(s.get("t", u64::MAX).is_ok());
        // A ttl of 0 expires at once; an enormous one never overflows.
        s.put(key("t"), value(b"z"), Some(0), 300).unwrap();
        assert_eq!(s.get("t", 300), Err(KvError::NotFound));
        s.put(key("far"), value(b"z"), Some(u64::MAX), 300).unwrap();
        assert!(s.get("far", u64::MAX - 1).is_ok());
        // Deleting an expired entry frees it and says it was not there.
        assert_eq!(s.len(), 3);
        assert_eq!(s.delete("t", 300), Err(KvError::NotFound));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn expired_slots_are_reused_when_full() {
        let mut s = State::new();
        for i in 0..CAPACITY {
            let ttl = (i % 2 == 0).then_some(50);
            s.put(nth(i), value(b"v"), ttl, 0).unwrap();
        }
        assert_eq!(s.put(key("new"), value(b"x"), None, 49), Err(KvError::Full));
        for i in 0..CAPACITY / 2 {
            let mut k = Key::new();
            core::fmt::Write::write_fmt(&mut k, format_args!("new{i}")).unwrap();
            s.put(k, value(b"x"), None, 50).unwrap();
        }
        assert_eq!(
            s.put(key("more"), value(b"x"), None, 50),
            Err(KvError::Full)
        );
        assert_eq!(s.count(50), CAPACITY as u64);
        s.validate().unwrap();
    }

    #[test]
    fn purge_frees_expired_slots() {
        let mut s = State::new();
        s.put(key("a"), value(b"x"), Some(1), 0).unwrap();
        s.put(key("b"), value(b"x"), None, 0).unwrap();
        s.put(key("c"), value(b"x"), Some(5), 0).unwrap();
        assert_eq!(s.purge_expired(1), 1);
        assert_eq!(s.purge_expired(1), 0);
        assert_eq!(s.len(), 2);
        assert_eq!(s.purge_expired(10), 1);
        assert_eq!(s.entries()[0].key, "b");
    }

    #[test]
    fn list_pages_in_byte_order() {
        let mut s = State::new();
        // Inserted in a scrambled order.
        for i in (0..40).map(|i| (i * 17) % 40) {
            s.put(nth(i), value(b""), None, 0).unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor: Option<Key> = None;
        let mut pages = 0;
        loop {
            let page = s.list(cursor.as_deref(), 0);
            pages += 1;
            assert!(page.keys.len() <= v2::LIST_PAGE);
            seen.extend(page.keys.iter().cloned());
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), page.keys.last());
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let expected: Vec<Key> = (0..40).map(nth).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn list_edges() {
        let mut s = State::new();
        assert_eq!(s.list(None, 0), KeyPage::default());
        for i in 0..v2::LIST_PAGE {
            s.put(nth(i), value(b""), None, 0).unwrap();
        }
        // Exactly one page: no next.
        let page = s.list(None, 0);
        assert_eq!((page.keys.len(), page.next), (v2::LIST_PAGE, None));
        // A cursor that is not a key starts after where it would sort.
        let page = s.list(Some("k0055"), 0);
        assert_eq!(page.keys.first().map(|k| k.as_str()), Some("k006"));
        assert_eq!(s.list(Some("z"), 0), KeyPage::default());
        // The empty cursor sorts before every key.
        assert_eq!(s.list(Some(""), 0).keys.len(), v2::LIST_PAGE);
        // Byte order, not numeric order.
        let mut t = State::new();
        for k in ["b", "a", "B", "ab", "a0", "é"] {
            t.put(key(k), value(b""), None, 0).unwrap();
        }
        assert_eq!(t.list(None, 0).keys, ["B", "a", "a0", "ab", "b", "é"]);
    }

    #[test]
    fn list_skips_expired_keys_without_ending_early() {
        let mut s = State::new();
        for i in 0..40 {
            let ttl = (i % 3 == 0).then_some(5);
            s.put(nth(i), value(b""), ttl, 0).unwrap();
        }
        let first = s.list(None, 5);
        assert_eq!(first.keys.len(), v2::LIST_PAGE);
        assert!(first.keys.iter().all(|k| k != "k000" && k != "k003"));
        let mut total = first.keys.len();
        let mut next = first.next;
        while let Some(c) = next {
            let page = s.list(Some(&c), 5);
            total += page.keys.len();
            next = page.next;
        }
        assert_eq!(total as u64, s.count(5));
        assert_eq!(total, 40 - 14);
    }

    #[test]
    fn serialized_state_round_trips_and_validates() {
        let mut s = State::new();
        s.put(key("a"), value(b"1"), Some(9), 1).unwrap();
        s.put(key("b"), value(&[2; 200]), None, 1).unwrap();
        let mut buf = [0u8; 1024];
        let bytes = postcard::to_slice(&s, &mut buf).unwrap();
        let back: State = postcard::from_bytes(bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.validate(), Ok(()));

        let dup = State {
            entries: heapless::Vec::from_slice(&[s.entries[0].clone(), s.entries[0].clone()])
                .unwrap(),
        };
        assert_eq!(dup.validate(), Err(InvalidState::DuplicateKey(1)));
        let mut empty = s.clone();
        empty.entries[1].key.clear();
        assert_eq!(empty.validate(), Err(InvalidState::EmptyKey(1)));
    }
}
