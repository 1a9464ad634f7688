//! [`Kv`]: the `kv::v2` server over a [`State`], and [`Kv::handle`], which serves every version
//! of `kv` (v1 through ipc-schema's adapter).

use crate::state::State;
use ipc_schema::interfaces::common::Ticks;
use ipc_schema::kv::{self, v2};
use ipc_schema::{Caller, MSG_WORDS};

/// Where the store gets the time from (counter ticks, the unit of a `put`'s time to live).
pub trait Clock {
    fn now(&self) -> Ticks;
}

/// A clock that stands still until it is set: for tests, and for a store without time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixedClock(pub Ticks);

impl Clock for FixedClock {
    fn now(&self) -> Ticks {
        self.0
    }
}

/// The key-value store: its [`State`] and its clock. Implements `kv::v2::Server`; callers are
/// not told apart (every caller sees the same store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv<C> {
    /// All the store's mutable state.
    pub state: State,
    pub clock: C,
}

impl<C: Clock> Kv<C> {
    /// An empty store.
    pub const fn new(clock: C) -> Kv<C> {
        Kv {
            state: State::new(),
            clock,
        }
    }

    /// Serves one request of any `kv` version: v2 directly, v1 through
    /// [`kv::V1OnV2`](ipc_schema::kv::V1OnV2); anything else is answered with an `IpcError`.
    /// The shape `axolotl_rt::ipc_transport::serve` calls.
    pub fn handle(
        &mut self,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        kv::dispatch(self, caller, label, request, reply)
    }

    /// [`Kv::handle`] as a `DispatchFn` (for `ipc_schema::Local` in tests).
    pub fn dispatch(
        kv: &mut Kv<C>,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        kv.handle(caller, label, request, reply)
    }
}

impl<C: Clock> v2::Server for Kv<C> {
    fn get(&mut self, _: &mut Caller, key: v2::Key) -> Result<v2::Value, v2::KvError> {
        self.state.get(&key, self.clock.now()).cloned()
    }

    fn put(
        &mut self,
        _: &mut Caller,
        key: v2::Key,
        value: v2::Value,
        ttl: Option<Ticks>,
    ) -> Result<(), v2::KvError> {
        self.state.put(key, value, ttl, self.clock.now())
    }

    fn delete(&mut self, _: &mut Caller, key: v2::Key) -> Result<(), v2::KvError> {
        self.state.delete(&key, self.clock.now())
    }

    fn list(
        &mut self,
        _: &mut Caller,
        cursor: Option<v2::Key>,
    ) -> Result<v2::KeyPage, v2::KvError> {
        Ok(self.state.list(cursor.as_deref(), self.clock.now()))
    }

    fn count(&mut self, _: &mut Caller) -> Result<u64, v2::KvError> {
        Ok(self.state.count(self.clock.now()))
    }
}
