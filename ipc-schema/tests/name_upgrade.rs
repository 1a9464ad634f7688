//! name v1 clients served by a v2 name service through the adapter, as after a live upgrade:
//! every v1 op against a model v2 implementation, checked against what a v2 client sees of the
//! same service, capabilities included.

use ipc_schema::interfaces::common::Name;
use ipc_schema::name::{self, V1OnV2, error_to_v1, v1, v2};
use ipc_schema::{CallError, Caller, CapSlot, IpcError, Local, MSG_WORDS, label};

/// A v2 name service: registrations in order, each with the slot its capability is kept in.
struct NameV2Model {
    capacity: usize,
    /// (registration, owner badge, slot)
    records: Vec<(v2::Registration, u64, CapSlot)>,
}

impl NameV2Model {
    fn new() -> NameV2Model {
        NameV2Model {
            capacity: 2,
            records: Vec::new(),
        }
    }
}

impl v2::Server for NameV2Model {
    fn register(
        &mut self,
        caller: &mut Caller,
        name: Name,
        interface: u16,
        min_version: u8,
        max_version: u8,
    ) -> Result<u32, v2::NameError> {
        let slot = caller.take_cap().expect("dispatch checks the capability");
        if name.is_empty() {
            return Err(v2::NameError::InvalidName);
        }
        if min_version == 0 || min_version > max_version {
            return Err(v2::NameError::InvalidVersions);
        }
        let mut registration = v2::Registration {
            name,
            interface,
            min_version,
            max_version,
            generation: 1,
        };
        if let Some(r) = self
            .records
            .iter_mut()
            .find(|r| r.0.name == registration.name)
        {
            if r.1 != caller.badge() {
                return Err(v2::NameError::AlreadyRegistered);
            }
            registration.generation = r.0.generation + 1;
            *r = (registration, caller.badge(), slot);
            return Ok(r.0.generation);
        }
        if self.records.len() == self.capacity {
            return Err(v2::NameError::Full);
        }
        self.records.push((registration, caller.badge(), slot));
        Ok(1)
    }

    fn lookup(
        &mut self,
        caller: &mut Caller,
        query: v2::Query,
    ) -> Result<v2::Registration, v2::NameError> {
        let r = self
            .records
            .iter()
            .find(|(r, _, _)| match &query {
                v2::Query::Name(n) => r.name == *n,
                v2::Query::Interface { interface, version } => {
                    r.interface == *interface && (r.min_version..=r.max_version).contains(version)
                }
            })
            .ok_or(v2::NameError::NotFound)?;
        caller.reply_with_cap(r.2);
        Ok(r.0.clone())
    }

    fn list(&mut self, _: &mut Caller, cursor: u16) -> Result<v2::RegistrationPage, v2::NameError> {
        let mut page = v2::RegistrationPage::default();
        for (r, _, _) in self.records.iter().skip(usize::from(cursor)).take(1) {
            page.entries.push(r.clone()).unwrap();
        }
        if usize::from(cursor) + 1 < self.records.len() {
            page.next = Some(cursor + 1);
        }
        Ok(page)
    }

    fn unregister(&mut self, caller: &mut Caller, name: Name) -> Result<(), v2::NameError> {
        let i = self
            .records
            .iter()
            .position(|r| r.0.name == name)
            .ok_or(v2::NameError::NotFound)?;
        if self.records[i].1 != caller.badge() {
            return Err(v2::NameError::NotPermitted);
        }
        self.records.remove(i);
        Ok(())
    }

    fn count(&mut self, _: &mut Caller) -> Result<v2::Count, v2::NameError> {
        Ok(v2::Count {
            registrations: self.records.len() as u16,
            capacity: self.capacity as u16,
        })
    }
}

fn service() -> Local<NameV2Model> {
    Local::with_badge(NameV2Model::new(), name::dispatch, 4)
}

fn n(s: &str) -> Name {
    Name::try_from(s).unwrap()
}

#[test]
fn v1_register_and_lookup_through_the_adapter() {
    let s = service();
    let (old, new) = (v1::Client::new(&s), v2::Client::new(&s));
    assert_eq!(old.register(n("kv"), 4, 1, 2, CapSlot(30)), Ok(()));
    assert_eq!(
        s.last().request_label,
        label(v1::INTERFACE, 1, v1::op::register)
    );
    assert!(
        !s.last().cap_unclaimed,
        "the v2 service claimed the capability"
    );
    assert_eq!(s.server().records[0].2, CapSlot(30));
    // A v1 lookup gets the registration without its generation, and the capability.
    let found = old.lookup(v1::Query::Name(n("kv")), CapSlot(40));
    assert_eq!(
        found,
        Ok(v1::Registration {
            name: n("kv"),
            interface: 4,
            min_version: 1,
            max_version: 2
        })
    );
    // (Local shares one CSpace: the slot the service replied with.)
    assert_eq!(s.last().cap_returned, Some(CapSlot(30)));
    let by_interface = old.lookup(
        v1::Query::Interface {
            interface: 4,
            version: 2,
        },
        CapSlot(41),
    );
    assert_eq!(by_interface.map(|r| r.name), Ok(n("kv")));
    assert_eq!(s.last().cap_returned, Some(CapSlot(30)));
    // A v2 client sees the same registration with its generation; a v1 re-registration by
    // the owner replaces it and counts up.
    assert_eq!(
        new.lookup(v2::Query::Name(n("kv")), CapSlot(42))
            .map(|r| r.generation),
        Ok(1)
    );
    assert_eq!(old.register(n("kv"), 4, 1, 1, CapSlot(31)), Ok(()));
    assert_eq!(
        new.lookup(v2::Query::Name(n("kv")), CapSlot(42))
            .map(|r| (r.generation, r.max_version)),
        Ok((2, 1))
    );
    assert_eq!(new.register(n("kv"), 4, 1, 2, CapSlot(32)), Ok(3));
    assert_eq!(
        new.count(),
        Ok(v2::Count {
            registrations: 1,
            capacity: 2
        })
    );
}

#[test]
fn v1_list_and_unregister_see_the_v2_table() {
    let s = service();
    let (old, new) = (v1::Client::new(&s), v2::Client::new(&s));
    assert_eq!(new.register(n("a"), 1, 1, 1, CapSlot(30)), Ok(1));
    assert_eq!(old.register(n("b"), 2, 1, 2, CapSlot(31)), Ok(()));
    let first = old.list(0).unwrap();
    assert_eq!(first.entries.len(), 1);
    assert_eq!(first.entries[0].name, "a");
    assert_eq!(first.next, Some(1));
    let second = old.list(1).unwrap();
    assert_eq!(second.entries[0].name, "b");
    assert_eq!(second.next, None);
    assert_eq!(old.unregister(n("a")), Ok(()));
    assert_eq!(
        new.lookup(v2::Query::Name(n("a")), CapSlot(40)),
        Err(CallError::Op(v2::NameError::NotFound))
    );
    assert_eq!(new.list(0).map(|p| p.entries.len()), Ok(1));
}

#[test]
fn v2_errors_come_down_to_v1() {
    let s = service();
    let old = v1::Client::new(&s);
    // The empty name: v2's InvalidName, v1's NotPermitted.
    assert_eq!(
        old.register(n(""), 1, 1, 1, CapSlot(30)),
        Err(CallError::Op(v1::NameError::NotPermitted))
    );
    assert_eq!(
        old.register(n("x"), 1, 2, 1, CapSlot(30)),
        Err(CallError::Op(v1::NameError::InvalidVersions))
    );
    assert_eq!(old.register(n("x"), 1, 1, 1, CapSlot(30)), Ok(()));
    assert_eq!(old.register(n("y"), 1, 1, 1, CapSlot(31)), Ok(()));
    assert_eq!(
        old.register(n("z"), 1, 1, 1, CapSlot(32)),
        Err(CallError::Op(v1::NameError::Full))
    );
    // Another caller (badge 9) may neither take over nor unregister a name.
    let mut model = NameV2Model::new();
    let mut owner = Caller::new(1, Some(CapSlot(50)));
    v1::Server::register(&mut V1OnV2(&mut model), &mut owner, n("kv"), 4, 1, 1).unwrap();
    let mut other = Caller::new(9, Some(CapSlot(51)));
    assert_eq!(
        v1::Server::register(&mut V1OnV2(&mut model), &mut other, n("kv"), 4, 1, 1),
        Err(v1::NameError::AlreadyRegistered)
    );
    assert_eq!(
        v1::Server::unregister(&mut V1OnV2(&mut model), &mut Caller::new(9, None), n("kv")),
        Err(v1::NameError::NotPermitted)
    );
    assert_eq!(
        old.lookup(v1::Query::Name(n("nobody")), CapSlot(40)),
        Err(CallError::Op(v1::NameError::NotFound))
    );
    assert_eq!(s.last().cap_returned, None);
    for (e, want) in [
        (v2::NameError::NotFound, v1::NameError::NotFound),
        (
            v2::NameError::AlreadyRegistered,
            v1::NameError::AlreadyRegistered,
        ),
        (v2::NameError::Full, v1::NameError::Full),
        (v2::NameError::NotPermitted, v1::NameError::NotPermitted),
        (
            v2::NameError::InvalidVersions,
            v1::NameError::InvalidVersions,
        ),
        (v2::NameError::InvalidName, v1::NameError::NotPermitted),
    ] {
        assert_eq!(error_to_v1(e), want);
    }
}

#[test]
fn a_v1_register_without_a_capability_and_other_versions() {
    let s = service();
    let mut reply = [0; MSG_WORDS];
    let mut caller = Caller::new(9, None);
    let mut request = [0u64; MSG_WORDS];
    let words = ipc_schema::wire::encode(&(n("kv"), 4u16, 1u8, 1u8), &mut request).unwrap();
    let (l, _) = name::dispatch(
        &mut *s.server(),
        &mut caller,
        label(v1::INTERFACE, 1, v1::op::register),
        &request[..words],
        &mut reply,
    );
    assert_eq!(l, IpcError::MissingCapability.code());
    let (l, _) = name::dispatch(
        &mut *s.server(),
        &mut caller,
        label(v1::INTERFACE, 3, v1::op::list),
        &[],
        &mut reply,
    );
    assert_eq!(l, IpcError::UnsupportedVersion.code());
}

#[test]
fn a_full_v2_page_fits_one_message() {
    let mut page = v2::RegistrationPage::default();
    for i in 0..v2::LIST_PAGE {
        page.entries
            .push(v2::Registration {
                name: n(&format!("{i:0>24}")),
                interface: u16::MAX,
                min_version: u8::MAX,
                max_version: u8::MAX,
                generation: u32::MAX,
            })
            .unwrap();
    }
    page.next = Some(u16::MAX);
    let mut words = [0u64; MSG_WORDS];
    assert!(ipc_schema::wire::encode(&Ok::<_, v2::NameError>(page), &mut words).is_ok());
}
