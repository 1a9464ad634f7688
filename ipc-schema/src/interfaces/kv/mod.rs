//! `kv`: the key-value store, in two versions, and the adapter through which a v2 server keeps
//! serving v1 clients.
//!
//! The adapter pattern, which every versioned interface follows: an adapter is a type that
//! implements the *old* version's `Server` trait by calling the *new* server: it converts each
//! old request up (v1 integer key `n` -> v2 key `"n"`), calls the new op, and converts the reply
//! down (a value longer than v1 allows -> [`v1::KvError::Unrepresentable`]). A multi-version
//! [`dispatch`] routes each request by the version in its label: old versions through their
//! adapter, the current one straight to the server. Old clients never notice the upgrade.

pub mod v1;
pub mod v2;

use crate::server::Caller;
use core::fmt::Write;

dispatch_v1_through_adapter!();

/// The v2 key of v1 key `key`: its decimal spelling (`42` -> `"42"`).
pub fn key_from_v1(key: v1::Key) -> v2::Key {
    let mut spelled = v2::Key::new();
    // u64::MAX has 20 digits, fewer than v2::KEY_LEN: this cannot fail.
    let _ = write!(spelled, "{key}");
    spelled
}

/// The v1 key a v2 key stands for, if it is the canonical decimal spelling of one (digits only,
/// no leading zero, at most `u64::MAX`). Other v2 keys are invisible to v1 clients.
pub fn key_to_v1(key: &str) -> Option<v1::Key> {
    let canonical = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if canonical { key.parse().ok() } else { None }
}

/// A v2 error as v1 reports it.
pub fn error_to_v1(e: v2::KvError) -> v1::KvError {
    match e {
        v2::KvError::NotFound => v1::KvError::NotFound,
        v2::KvError::Full => v1::KvError::Full,
        // v1 keys always convert to valid v2 keys; should a server disagree, v1 cannot say why.
        v2::KvError::InvalidKey => v1::KvError::Unrepresentable,
    }
}

/// A v2 server seen as a v1 server.
pub struct V1OnV2<'a, S: ?Sized>(pub &'a mut S);

impl<S: v2::Server + ?Sized> v1::Server for V1OnV2<'_, S> {
    fn get(&mut self, caller: &mut Caller, key: v1::Key) -> Result<v1::Value, v1::KvError> {
        let value = self.0.get(caller, key_from_v1(key)).map_err(error_to_v1)?;
        v1::Value::from_slice(&value).map_err(|()| v1::KvError::Unrepresentable)
    }

    fn put(
        &mut self,
        caller: &mut Caller,
        key: v1::Key,
        value: v1::Value,
    ) -> Result<(), v1::KvError> {
        // v1 values are shorter than v2's: this cannot fail.
        let value = v2::Value::from_slice(&value).map_err(|()| v1::KvError::Unrepresentable)?;
        self.0
            .put(caller, key_from_v1(key), value, None)
            .map_err(error_to_v1)
    }

    fn delete(&mut self, caller: &mut Caller, key: v1::Key) -> Result<(), v1::KvError> {
        self.0.delete(caller, key_from_v1(key)).map_err(error_to_v1)
    }

    /// Walks v2 pages from the cursor's spelling, keeping the keys v1 can name, until a v1 page
    /// is full or the store ends. The v1 order is therefore v2's byte order of the decimal
    /// spellings; `next` (the last key returned) resumes right after it.
    fn list(
        &mut self,
        caller: &mut Caller,
        cursor: Option<v1::Key>,
    ) -> Result<v1::KeyPage, v1::KvError> {
        let mut page = v1::KeyPage::default();
        let mut v2_cursor = cursor.map(key_from_v1);
        loop {
            let v2_page = self
                .0
                .list(caller, v2_cursor.clone())
                .map_err(error_to_v1)?;
            for key in v2_page.keys.iter().filter_map(|k| key_to_v1(k)) {
                if page.keys.push(key).is_err() {
                    // One more key exists: the page ends at its last key.
                    page.next = page.keys.last().copied();
                    return Ok(page);
                }
            }
            match v2_page.next {
                // A server whose cursor does not advance would loop forever: end the listing.
                Some(next) if v2_cursor.as_ref().is_none_or(|c| next > *c) => {
                    v2_cursor = Some(next)
                }
                _ => return Ok(page),
            }
        }
    }
}
