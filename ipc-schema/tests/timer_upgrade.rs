//! timer v1 clients served by a v2 timer through the adapter, as after a live upgrade: every v1
//! op against a model v2 implementation, checked against what a v2 client sees of the same
//! server.

use ipc_schema::timer::{self, V1OnV2, error_to_v1, v1, v2};
use ipc_schema::{CallError, Caller, CapSlot, IpcError, Local, MSG_WORDS, Never, label};
use std::collections::BTreeMap;

/// A v2 timer: a settable clock, registered callers by badge, one deadline each.
#[derive(Default)]
struct TimerV2Model {
    now: u64,
    max_sleep: u64,
    capacity: usize,
    /// badge -> (notification slot, deadline)
    clients: BTreeMap<u64, (CapSlot, Option<v2::Deadline>)>,
}

impl TimerV2Model {
    fn new() -> TimerV2Model {
        TimerV2Model {
            now: 1000,
            max_sleep: 50,
            capacity: 2,
            ..TimerV2Model::default()
        }
    }
}

impl v2::Server for TimerV2Model {
    fn now(&mut self, _: &mut Caller) -> Result<u64, Never> {
        Ok(self.now)
    }

    fn frequency(&mut self, _: &mut Caller) -> Result<u64, Never> {
        Ok(62_500_000)
    }

    fn sleep(&mut self, _: &mut Caller, ticks: u64) -> Result<(), v2::TimerError> {
        if ticks > self.max_sleep {
            return Err(v2::TimerError::TooLong);
        }
        self.now += ticks;
        Ok(())
    }

    fn register(&mut self, caller: &mut Caller) -> Result<(), v2::TimerError> {
        let badge = caller.badge();
        if !self.clients.contains_key(&badge) && self.clients.len() == self.capacity {
            return Err(v2::TimerError::Full);
        }
        let slot = caller.take_cap().expect("dispatch checks the capability");
        let deadline = self.clients.get(&badge).and_then(|c| c.1);
        self.clients.insert(badge, (slot, deadline));
        Ok(())
    }

    fn set_deadline(
        &mut self,
        caller: &mut Caller,
        deadline: Option<v2::Deadline>,
    ) -> Result<(), v2::TimerError> {
        if deadline.is_some_and(|d| d.period == Some(0)) {
            return Err(v2::TimerError::InvalidPeriod);
        }
        let client = self
            .clients
            .get_mut(&caller.badge())
            .ok_or(v2::TimerError::NotRegistered)?;
        client.1 = deadline;
        Ok(())
    }

    fn pending(&mut self, caller: &mut Caller) -> Result<Option<v2::Deadline>, v2::TimerError> {
        let client = self
            .clients
            .get(&caller.badge())
            .ok_or(v2::TimerError::NotRegistered)?;
        Ok(client.1)
    }
}

fn server() -> Local<TimerV2Model> {
    Local::with_badge(TimerV2Model::new(), timer::dispatch, 4)
}

#[test]
fn v1_time_ops_see_the_v2_clock() {
    let t = server();
    let (old, new) = (v1::Client::new(&t), v2::Client::new(&t));
    assert_eq!(old.now(), new.now());
    assert_eq!(old.frequency(), Ok(62_500_000));
    assert_eq!(
        t.last().request_label,
        label(v1::INTERFACE, 1, v1::op::frequency)
    );
    assert_eq!(old.sleep(20), Ok(()));
    assert_eq!(new.now(), Ok(1020), "the v1 sleep ran on the v2 server");
    assert_eq!(old.sleep(51), Err(CallError::Op(v1::TimerError::TooLong)));
    assert_eq!(old.now(), Ok(1020));
}

#[test]
fn v1_deadlines_are_v2_deadlines_without_a_period() {
    let t = server();
    let (old, new) = (v1::Client::new(&t), v2::Client::new(&t));
    assert_eq!(
        old.set_deadline(Some(5)),
        Err(CallError::Op(v1::TimerError::NotRegistered))
    );
    assert_eq!(old.register(CapSlot(30)), Ok(()));
    assert_eq!(
        t.server().clients[&4].0,
        CapSlot(30),
        "the v2 server claimed the capability"
    );
    assert!(!t.last().cap_unclaimed);
    assert_eq!(old.set_deadline(Some(2000)), Ok(()));
    assert_eq!(
        new.pending(),
        Ok(Some(v2::Deadline {
            at: 2000,
            period: None
        }))
    );
    // Re-registering through v1 keeps the deadline, as v1 promises.
    assert_eq!(old.register(CapSlot(31)), Ok(()));
    assert_eq!(new.pending().map(|d| d.map(|d| d.at)), Ok(Some(2000)));
    // A v2 client sets a periodic deadline; a v1 cancel clears it.
    let periodic = v2::Deadline {
        at: 3000,
        period: Some(100),
    };
    assert_eq!(new.set_deadline(Some(periodic)), Ok(()));
    assert_eq!(new.pending(), Ok(Some(periodic)));
    assert_eq!(old.set_deadline(None), Ok(()));
    assert_eq!(new.pending(), Ok(None));
    // v2's own error, which no v1 request can cause.
    let zero = v2::Deadline {
        at: 1,
        period: Some(0),
    };
    assert_eq!(
        new.set_deadline(Some(zero)),
        Err(CallError::Op(v2::TimerError::InvalidPeriod))
    );
}

#[test]
fn v1_register_without_a_capability_and_a_full_timer() {
    let t = server();
    let mut caller = Caller::new(9, None);
    let mut reply = [0; MSG_WORDS];
    // A v1 register carrying no capability is refused before the adapter.
    let (l, _) = timer::dispatch(
        &mut *t.server(),
        &mut caller,
        label(v1::INTERFACE, 1, v1::op::register),
        &[],
        &mut reply,
    );
    assert_eq!(l, IpcError::MissingCapability.code());
    // Fill the model (capacity 2) through v1 callers of other badges.
    let mut model = TimerV2Model::new();
    for badge in [1, 2, 3] {
        let mut caller = Caller::new(badge, Some(CapSlot(40 + badge)));
        let result = v1::Server::register(&mut V1OnV2(&mut model), &mut caller);
        let want = if badge < 3 {
            Ok(())
        } else {
            Err(v1::TimerError::Full)
        };
        assert_eq!(result, want, "badge {badge}");
    }
}

#[test]
fn errors_map_down() {
    assert_eq!(
        error_to_v1(v2::TimerError::NotRegistered),
        v1::TimerError::NotRegistered
    );
    assert_eq!(error_to_v1(v2::TimerError::Full), v1::TimerError::Full);
    assert_eq!(
        error_to_v1(v2::TimerError::TooLong),
        v1::TimerError::TooLong
    );
    assert_eq!(
        error_to_v1(v2::TimerError::InvalidPeriod),
        v1::TimerError::TooLong
    );
}

#[test]
fn other_versions_are_refused() {
    let t = server();
    let mut reply = [0; MSG_WORDS];
    let mut caller = Caller::new(1, None);
    let (l, _) = timer::dispatch(
        &mut *t.server(),
        &mut caller,
        label(v1::INTERFACE, 3, 0),
        &[],
        &mut reply,
    );
    assert_eq!(l, IpcError::UnsupportedVersion.code());
}
