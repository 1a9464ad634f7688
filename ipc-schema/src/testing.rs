//! A stub server of every interface, one dispatch routing to all of them, and sample requests
//! of every op: for the fuzz target, the randomized tests, and other crates' host tests that need
//! a peer which answers every op with something valid.

use crate::interfaces::common::{LogLevel, Name, Ticks};
use crate::interfaces::{
    campaign, console, inject, kv, lifecycle, name, net, patch, snapshot, supervisor, timer,
    upgrade,
};
use crate::server::Caller;
use crate::transport::{CapSlot, CapTransfer, ReplyInfo, Transport};
use crate::wire::{Label, MSG_WORDS};
use crate::{IpcError, Never};
use core::cell::Cell;

/// The slot a stub replies with when an op returns a capability.
pub const STUB_REPLY_CAP: CapSlot = CapSlot(77);

/// Answers every op of every interface with a fixed valid value, and counts the calls it
/// handled (so a test can tell whether a request reached a handler).
#[derive(Clone, Debug, Default)]
pub struct Stub {
    pub calls: u64,
}

impl Stub {
    fn hit(&mut self) {
        self.calls += 1;
    }
}

/// Serves every interface version with one [`Stub`]: `kv` through its multi-version dispatch,
/// the rest through their own.
pub fn dispatch_all(
    stub: &mut Stub,
    caller: &mut Caller,
    label: u64,
    request: &[u64],
    reply: &mut [u64; MSG_WORDS],
) -> (u64, usize) {
    let interface = Label::from_u64(label).map(|l| l.interface);
    match interface {
        Some(name::v1::INTERFACE) => name::dispatch(stub, caller, label, request, reply),
        Some(console::v1::INTERFACE) => console::v1::dispatch(stub, caller, label, request, reply),
        Some(timer::v1::INTERFACE) => timer::dispatch(stub, caller, label, request, reply),
        Some(kv::v2::INTERFACE) => kv::dispatch(stub, caller, label, request, reply),
        Some(supervisor::v1::INTERFACE) => {
            supervisor::v1::dispatch(stub, caller, label, request, reply)
        }
        Some(inject::v1::INTERFACE) => inject::v1::dispatch(stub, caller, label, request, reply),
        Some(snapshot::v1::INTERFACE) => {
            snapshot::v1::dispatch(stub, caller, label, request, reply)
        }
        Some(campaign::v1::INTERFACE) => {
            campaign::v1::dispatch(stub, caller, label, request, reply)
        }
        Some(upgrade::v1::INTERFACE) => upgrade::v1::dispatch(stub, caller, label, request, reply),
        Some(patch::v1::INTERFACE) => patch::v1::dispatch(stub, caller, label, request, reply),
        Some(net::v1::INTERFACE) => net::v1::dispatch(stub, caller, label, request, reply),
        Some(lifecycle::v1::INTERFACE) => {
            lifecycle::v1::dispatch(stub, caller, label, request, reply)
        }
        _ => IpcError::UnknownInterface.reply(),
    }
}

/// Each interface version's own dispatch, over a [`Stub`].
pub const DISPATCHES: &[(&str, crate::DispatchFn<Stub>)] = &[
    ("name v1", name::v1::dispatch::<Stub>),
    ("name v2", name::v2::dispatch::<Stub>),
    ("name all", name::dispatch::<Stub>),
    ("console v1", console::v1::dispatch::<Stub>),
    ("timer v1", timer::v1::dispatch::<Stub>),
    ("timer v2", timer::v2::dispatch::<Stub>),
    ("timer all", timer::dispatch::<Stub>),
    ("kv v1", kv::v1::dispatch::<Stub>),
    ("kv v2", kv::v2::dispatch::<Stub>),
    ("kv all", kv::dispatch::<Stub>),
    ("supervisor v1", supervisor::v1::dispatch::<Stub>),
    ("inject v1", inject::v1::dispatch::<Stub>),
    ("snapshot v1", snapshot::v1::dispatch::<Stub>),
    ("upgrade v1", upgrade::v1::dispatch::<Stub>),
    ("campaign v1", campaign::v1::dispatch::<Stub>),
    ("lifecycle v1", lifecycle::v1::dispatch::<Stub>),
    ("patch v1", patch::v1::dispatch::<Stub>),
    ("net v1", net::v1::dispatch::<Stub>),
    ("all", dispatch_all),
];

impl name::v1::Server for Stub {
    fn register(
        &mut self,
        caller: &mut Caller,
        _: Name,
        _: u16,
        _: u8,
        _: u8,
    ) -> Result<(), name::v1::NameError> {
        self.hit();
        caller.take_cap();
        Ok(())
    }

    fn lookup(
        &mut self,
        caller: &mut Caller,
        query: name::v1::Query,
    ) -> Result<name::v1::Registration, name::v1::NameError> {
        self.hit();
        caller.reply_with_cap(STUB_REPLY_CAP);
        let (name, interface) = match query {
            name::v1::Query::Name(name) => (name, 0),
            name::v1::Query::Interface { interface, .. } => (Name::new(), interface),
        };
        Ok(name::v1::Registration {
            name,
            interface,
            min_version: 1,
            max_version: 1,
        })
    }

    fn list(
        &mut self,
        _: &mut Caller,
        _: u16,
    ) -> Result<name::v1::RegistrationPage, name::v1::NameError> {
        self.hit();
        Ok(name::v1::RegistrationPage::default())
    }

    fn unregister(&mut self, _: &mut Caller, _: Name) -> Result<(), name::v1::NameError> {
        self.hit();
        Err(name::v1::NameError::NotFound)
    }
}

impl name::v2::Server for Stub {
    fn register(
        &mut self,
        caller: &mut Caller,
        _: Name,
        _: u16,
        _: u8,
        _: u8,
    ) -> Result<u32, name::v2::NameError> {
        self.hit();
        caller.take_cap();
        Ok(1)
    }

    fn lookup(
        &mut self,
        caller: &mut Caller,
        query: name::v2::Query,
    ) -> Result<name::v2::Registration, name::v2::NameError> {
        self.hit();
        caller.reply_with_cap(STUB_REPLY_CAP);
        let (name, interface) = match query {
            name::v2::Query::Name(name) => (name, 0),
            name::v2::Query::Interface { interface, .. } => (Name::new(), interface),
        };
        Ok(name::v2::Registration {
            name,
            interface,
            min_version: 1,
            max_version: 2,
            generation: u32::MAX,
        })
    }

    fn list(
        &mut self,
        _: &mut Caller,
        _: u16,
    ) -> Result<name::v2::RegistrationPage, name::v2::NameError> {
        self.hit();
        Ok(name::v2::RegistrationPage::default())
    }

    fn unregister(&mut self, _: &mut Caller, _: Name) -> Result<(), name::v2::NameError> {
        self.hit();
        Err(name::v2::NameError::InvalidName)
    }

    fn count(&mut self, _: &mut Caller) -> Result<name::v2::Count, name::v2::NameError> {
        self.hit();
        Ok(name::v2::Count::default())
    }
}

impl console::v1::Server for Stub {
    fn write(
        &mut self,
        _: &mut Caller,
        _: console::v1::Bytes,
    ) -> Result<(), console::v1::ConsoleError> {
        self.hit();
        Ok(())
    }

    fn read(
        &mut self,
        _: &mut Caller,
        _: u16,
    ) -> Result<console::v1::Bytes, console::v1::ConsoleError> {
        self.hit();
        Ok(console::v1::Bytes::new())
    }

    fn set_log_level(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: crate::interfaces::common::LogLevel,
    ) -> Result<(), console::v1::ConsoleError> {
        self.hit();
        Ok(())
    }
}

impl timer::v1::Server for Stub {
    fn now(&mut self, _: &mut Caller) -> Result<Ticks, Never> {
        self.hit();
        Ok(self.calls)
    }

    fn frequency(&mut self, _: &mut Caller) -> Result<u64, Never> {
        self.hit();
        Ok(1_000_000)
    }

    fn sleep(&mut self, _: &mut Caller, _: Ticks) -> Result<(), timer::v1::TimerError> {
        self.hit();
        Ok(())
    }

    fn register(&mut self, caller: &mut Caller) -> Result<(), timer::v1::TimerError> {
        self.hit();
        caller.take_cap();
        Ok(())
    }

    fn set_deadline(
        &mut self,
        _: &mut Caller,
        _: Option<Ticks>,
    ) -> Result<(), timer::v1::TimerError> {
        self.hit();
        Err(timer::v1::TimerError::NotRegistered)
    }
}

impl timer::v2::Server for Stub {
    fn now(&mut self, _: &mut Caller) -> Result<Ticks, Never> {
        self.hit();
        Ok(0)
    }

    fn frequency(&mut self, _: &mut Caller) -> Result<u64, Never> {
        self.hit();
        Ok(1)
    }

    fn sleep(&mut self, _: &mut Caller, _: Ticks) -> Result<(), timer::v2::TimerError> {
        self.hit();
        Ok(())
    }

    fn register(&mut self, caller: &mut Caller) -> Result<(), timer::v2::TimerError> {
        self.hit();
        let _ = caller.take_cap();
        Ok(())
    }

    fn set_deadline(
        &mut self,
        _: &mut Caller,
        _: Option<timer::v2::Deadline>,
    ) -> Result<(), timer::v2::TimerError> {
        self.hit();
        Ok(())
    }

    fn pending(
        &mut self,
        _: &mut Caller,
    ) -> Result<Option<timer::v2::Deadline>, timer::v2::TimerError> {
        self.hit();
        Ok(None)
    }
}

impl kv::v1::Server for Stub {
    fn get(&mut self, _: &mut Caller, _: kv::v1::Key) -> Result<kv::v1::Value, kv::v1::KvError> {
        self.hit();
        Ok(kv::v1::Value::new())
    }

    fn put(
        &mut self,
        _: &mut Caller,
        _: kv::v1::Key,
        _: kv::v1::Value,
    ) -> Result<(), kv::v1::KvError> {
        self.hit();
        Ok(())
    }

    fn delete(&mut self, _: &mut Caller, _: kv::v1::Key) -> Result<(), kv::v1::KvError> {
        self.hit();
        Err(kv::v1::KvError::NotFound)
    }

    fn list(
        &mut self,
        _: &mut Caller,
        _: Option<kv::v1::Key>,
    ) -> Result<kv::v1::KeyPage, kv::v1::KvError> {
        self.hit();
        Ok(kv::v1::KeyPage::default())
    }
}

impl kv::v2::Server for Stub {
    fn get(&mut self, _: &mut Caller, _: kv::v2::Key) -> Result<kv::v2::Value, kv::v2::KvError> {
        self.hit();
        Ok(kv::v2::Value::new())
    }

    fn put(
        &mut self,
        _: &mut Caller,
        _: kv::v2::Key,
        _: kv::v2::Value,
        _: Option<Ticks>,
    ) -> Result<(), kv::v2::KvError> {
        self.hit();
        Ok(())
    }

    fn delete(&mut self, _: &mut Caller, _: kv::v2::Key) -> Result<(), kv::v2::KvError> {
        self.hit();
        Err(kv::v2::KvError::NotFound)
    }

    fn list(
        &mut self,
        _: &mut Caller,
        _: Option<kv::v2::Key>,
    ) -> Result<kv::v2::KeyPage, kv::v2::KvError> {
        self.hit();
        Ok(kv::v2::KeyPage::default())
    }

    fn count(&mut self, _: &mut Caller) -> Result<u64, kv::v2::KvError> {
        self.hit();
        Ok(0)
    }
}

impl supervisor::v1::Server for Stub {
    fn list(
        &mut self,
        _: &mut Caller,
        _: u16,
    ) -> Result<supervisor::v1::ServerPage, supervisor::v1::SupervisorError> {
        self.hit();
        Ok(supervisor::v1::ServerPage::default())
    }

    fn status(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<supervisor::v1::ServerStatus, supervisor::v1::SupervisorError> {
        self.hit();
        Err(supervisor::v1::SupervisorError::NoSuchServer)
    }

    fn set_log_level(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: crate::interfaces::common::LogLevel,
    ) -> Result<(), supervisor::v1::SupervisorError> {
        self.hit();
        Ok(())
    }
}

impl inject::v1::Server for Stub {
    fn arm(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: inject::v1::FaultKind,
    ) -> Result<(), inject::v1::InjectError> {
        self.hit();
        Ok(())
    }

    fn armed(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<Option<inject::v1::FaultKind>, inject::v1::InjectError> {
        self.hit();
        Err(inject::v1::InjectError::NoSuchServer)
    }
}

impl snapshot::v1::Server for Stub {
    fn begin(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<snapshot::v1::SnapshotInfo, snapshot::v1::SnapshotError> {
        self.hit();
        Ok(snapshot::v1::SnapshotInfo::default())
    }

    fn step(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: u16,
    ) -> Result<snapshot::v1::SnapshotInfo, snapshot::v1::SnapshotError> {
        self.hit();
        Ok(snapshot::v1::SnapshotInfo {
            pages: u32::MAX,
            remaining: u32::MAX,
            complete: true,
            commits_at_point: u64::MAX,
            commits_at_complete: u64::MAX,
            copied_before_write: u32::MAX,
            stop_ticks: u64::MAX,
        })
    }

    fn take(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<snapshot::v1::SnapshotInfo, snapshot::v1::SnapshotError> {
        self.hit();
        Err(snapshot::v1::SnapshotError::Busy)
    }

    fn status(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<snapshot::v1::SnapshotInfo, snapshot::v1::SnapshotError> {
        self.hit();
        Err(snapshot::v1::SnapshotError::NoSnapshot)
    }

    fn restore(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<snapshot::v1::SnapshotInfo, snapshot::v1::SnapshotError> {
        self.hit();
        Err(snapshot::v1::SnapshotError::Incomplete)
    }
}

impl campaign::v1::Server for Stub {
    fn target(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<campaign::v1::Target, campaign::v1::CampaignError> {
        self.hit();
        Ok(campaign::v1::Target::default())
    }

    fn functions(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: u32,
    ) -> Result<campaign::v1::FunctionPage, campaign::v1::CampaignError> {
        self.hit();
        Ok(campaign::v1::FunctionPage::default())
    }

    fn arm(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: u8,
        _: u64,
        _: u8,
        _: u64,
        _: u64,
    ) -> Result<(), campaign::v1::CampaignError> {
        self.hit();
        Ok(())
    }

    fn status(
        &mut self,
        _: &mut Caller,
        _: u8,
    ) -> Result<campaign::v1::Trap, campaign::v1::CampaignError> {
        self.hit();
        Ok(campaign::v1::Trap::default())
    }

    fn disarm(
        &mut self,
        _: &mut Caller,
        _: u8,
    ) -> Result<campaign::v1::Trap, campaign::v1::CampaignError> {
        self.hit();
        Ok(campaign::v1::Trap::default())
    }
}

impl lifecycle::v1::Server for Stub {
    fn prepare(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: lifecycle::v1::Program,
    ) -> Result<lifecycle::v1::Prepared, lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(lifecycle::v1::Prepared::default())
    }

    fn switch(&mut self, _: &mut Caller, _: Name) -> Result<u32, lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(2)
    }

    fn revert(&mut self, _: &mut Caller, _: Name) -> Result<u32, lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(1)
    }

    fn commit(&mut self, _: &mut Caller, _: Name) -> Result<(), lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(())
    }

    fn discard(&mut self, _: &mut Caller, _: Name) -> Result<(), lifecycle::v1::LifecycleError> {
        self.hit();
        Err(lifecycle::v1::LifecycleError::WrongStep)
    }

    fn probation(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<lifecycle::v1::Probation, lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(lifecycle::v1::Probation::default())
    }

    fn upgrade(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: lifecycle::v1::Program,
        _: bool,
    ) -> Result<lifecycle::v1::Report, lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(lifecycle::v1::Report {
            outcome: lifecycle::v1::Outcome::FaultedInProbation { carried_back: true },
            version: u32::MAX,
            format: Some(u8::MAX),
            state_bytes: u32::MAX,
            lengths: [u64::MAX; 4],
            blackout: u64::MAX,
            blocked_at: u64::MAX,
            total: u64::MAX,
            chunks: u32::MAX,
        })
    }

    fn carry_caps(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<u32, lifecycle::v1::LifecycleError> {
        self.hit();
        Ok(u32::MAX)
    }
}

impl upgrade::v1::Server for Stub {
    fn formats(
        &mut self,
        _: &mut Caller,
    ) -> Result<upgrade::v1::Formats, upgrade::v1::UpgradeError> {
        self.hit();
        Ok(upgrade::v1::Formats::default())
    }

    fn freeze(&mut self, _: &mut Caller) -> Result<(), upgrade::v1::UpgradeError> {
        self.hit();
        Err(upgrade::v1::UpgradeError::WrongMode)
    }

    fn export(
        &mut self,
        _: &mut Caller,
        _: u8,
        _: u32,
    ) -> Result<upgrade::v1::ExportChunk, upgrade::v1::UpgradeError> {
        self.hit();
        Ok(upgrade::v1::ExportChunk::default())
    }

    fn import(
        &mut self,
        _: &mut Caller,
        _: u8,
        _: u32,
        _: upgrade::v1::Chunk,
        _: bool,
    ) -> Result<(), upgrade::v1::UpgradeError> {
        self.hit();
        Ok(())
    }

    fn serve(&mut self, _: &mut Caller) -> Result<(), upgrade::v1::UpgradeError> {
        self.hit();
        Ok(())
    }
}

impl patch::v1::Server for Stub {
    fn begin(
        &mut self,
        _: &mut Caller,
        _: Name,
        _: patch::v1::Program,
    ) -> Result<patch::v1::PatchInfo, patch::v1::PatchError> {
        self.hit();
        Ok(patch::v1::PatchInfo {
            threads: u8::MAX,
            moved: u8::MAX,
            moved_mask: u16::MAX,
            done: true,
            busy: u32::MAX,
            code_pages: u16::MAX,
            shared_pages: u16::MAX,
            freed_pages: u16::MAX,
            ticks: u64::MAX,
        })
    }

    fn step(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<patch::v1::PatchInfo, patch::v1::PatchError> {
        self.hit();
        Err(patch::v1::PatchError::LayoutDiffers)
    }

    fn status(
        &mut self,
        _: &mut Caller,
        _: Name,
    ) -> Result<patch::v1::PatchInfo, patch::v1::PatchError> {
        self.hit();
        Ok(patch::v1::PatchInfo::default())
    }
}

impl net::v1::Server for Stub {
    fn register(&mut self, caller: &mut Caller) -> Result<(), net::v1::NetError> {
        self.hit();
        let _ = caller.take_cap();
        Ok(())
    }

    fn listen(&mut self, _: &mut Caller, _: u16) -> Result<(), net::v1::NetError> {
        self.hit();
        Err(net::v1::NetError::NotReady)
    }

    fn accept(&mut self, _: &mut Caller) -> Result<Option<net::v1::Conn>, net::v1::NetError> {
        self.hit();
        Ok(Some(u8::MAX))
    }

    fn events(&mut self, _: &mut Caller) -> Result<net::v1::Events, net::v1::NetError> {
        self.hit();
        Ok(net::v1::Events {
            ready: u64::MAX,
            accept: true,
        })
    }

    fn receive(
        &mut self,
        _: &mut Caller,
        _: net::v1::Conn,
        _: u16,
    ) -> Result<net::v1::Received, net::v1::NetError> {
        self.hit();
        Ok(net::v1::Received {
            len: u16::MAX,
            space: u16::MAX,
            closed: true,
        })
    }

    fn send(
        &mut self,
        _: &mut Caller,
        _: net::v1::Conn,
        _: u16,
        _: u16,
    ) -> Result<u16, net::v1::NetError> {
        self.hit();
        Err(net::v1::NetError::WouldBlock)
    }

    fn close(&mut self, _: &mut Caller, _: net::v1::Conn) -> Result<(), net::v1::NetError> {
        self.hit();
        Ok(())
    }

    fn sync(
        &mut self,
        _: &mut Caller,
        _: u64,
        _: u64,
    ) -> Result<net::v1::Events, net::v1::NetError> {
        self.hit();
        Ok(net::v1::Events::default())
    }
}

/// A transport that only records: the request is handed to a callback and the call fails with
/// [`IpcError::ServerUnavailable`].
struct Recorder<'f> {
    sink: Cell<Option<Sink<'f>>>,
}

type Sink<'f> = &'f mut dyn FnMut(u64, &[u64]);

impl Transport for Recorder<'_> {
    fn call_with_caps(
        &self,
        label: u64,
        request: &[u64],
        _: CapTransfer,
        _: &mut [u64; MSG_WORDS],
    ) -> Result<ReplyInfo, IpcError> {
        if let Some(sink) = self.sink.take() {
            sink(label, request);
            self.sink.set(Some(sink));
        }
        Err(IpcError::ServerUnavailable)
    }
}

/// Calls `sink(label, words)` with valid requests of every op of every interface version:
/// smallest and largest arguments. A seed corpus for fuzzing and randomized tests.
pub fn sample_requests(sink: &mut dyn FnMut(u64, &[u64])) {
    let recorder = Recorder {
        sink: Cell::new(Some(sink)),
    };
    let slot = CapSlot(9);
    let short = Name::try_from("kv").unwrap_or_default();
    let mut long = Name::new();
    while long.push('n').is_ok() {}

    let c = name::v1::Client::new(&recorder);
    for n in [&short, &long] {
        let _ = c.register(n.clone(), kv::v2::INTERFACE, 1, 2, slot);
        let _ = c.lookup(name::v1::Query::Name(n.clone()), slot);
        let _ = c.unregister(n.clone());
    }
    let by_interface = name::v1::Query::Interface {
        interface: u16::MAX,
        version: 1,
    };
    let _ = c.lookup(by_interface, slot);
    let _ = c.list(0);
    let _ = c.list(u16::MAX);

    let c = name::v2::Client::new(&recorder);
    for n in [&short, &long] {
        let _ = c.register(n.clone(), kv::v2::INTERFACE, 1, 2, slot);
        let _ = c.lookup(name::v2::Query::Name(n.clone()), slot);
        let _ = c.unregister(n.clone());
    }
    let _ = c.list(u16::MAX);
    let _ = c.count();

    let c = console::v1::Client::new(&recorder);
    let mut chunk = console::v1::Bytes::new();
    let _ = c.write(chunk.clone());
    while chunk.push(b'x').is_ok() {}
    let _ = c.write(chunk);
    let _ = c.read(1);
    let _ = c.read(u16::MAX);
    let _ = c.set_log_level(short.clone(), LogLevel::Off);
    let _ = c.set_log_level(long.clone(), LogLevel::Trace);

    let c = timer::v1::Client::new(&recorder);
    let _ = c.now();
    let _ = c.frequency();
    let _ = c.sleep(1);
    let _ = c.sleep(u64::MAX);
    let _ = c.register(slot);
    let _ = c.set_deadline(None);
    let _ = c.set_deadline(Some(u64::MAX));

    let c = timer::v2::Client::new(&recorder);
    let _ = c.now();
    let _ = c.frequency();
    let _ = c.sleep(u64::MAX);
    let _ = c.register(slot);
    let _ = c.set_deadline(None);
    let longest = timer::v2::Deadline {
        at: u64::MAX,
        period: Some(u64::MAX),
    };
    let _ = c.set_deadline(Some(longest));
    let _ = c.pending();

    let c = kv::v1::Client::new(&recorder);
    let mut value = kv::v1::Value::new();
    for key in [0, u64::MAX] {
        let _ = c.get(key);
        let _ = c.put(key, value.clone());
        let _ = c.delete(key);
        let _ = c.list(Some(key));
        while value.push(0xa5).is_ok() {}
    }
    let _ = c.list(None);

    let c = kv::v2::Client::new(&recorder);
    let mut key = kv::v2::Key::new();
    let mut value = kv::v2::Value::new();
    for ttl in [None, Some(u64::MAX)] {
        let _ = c.get(key.clone());
        let _ = c.put(key.clone(), value.clone(), ttl);
        let _ = c.delete(key.clone());
        let _ = c.list(Some(key.clone()));
        while key.push('k').is_ok() {}
        while value.push(0x5a).is_ok() {}
    }
    let _ = c.list(None);
    let _ = c.count();

    let c = supervisor::v1::Client::new(&recorder);
    let _ = c.list(0);
    let _ = c.list(u16::MAX);
    let _ = c.status(short.clone());
    let _ = c.status(long.clone());
    let _ = c.set_log_level(long.clone(), LogLevel::Debug);

    let c = inject::v1::Client::new(&recorder);
    for kind in inject::v1::FaultKind::ALL {
        let _ = c.arm(short.clone(), kind);
    }
    let _ = c.arm(long.clone(), inject::v1::FaultKind::Stack);
    let _ = c.armed(short.clone());
    let _ = c.armed(long.clone());

    let c = snapshot::v1::Client::new(&recorder);
    for n in [&short, &long] {
        let _ = c.begin(n.clone());
        let _ = c.step(n.clone(), 0);
        let _ = c.step(n.clone(), u16::MAX);
        let _ = c.take(n.clone());
        let _ = c.status(n.clone());
        let _ = c.restore(n.clone());
    }

    let c = upgrade::v1::Client::new(&recorder);
    let _ = c.formats();
    let _ = c.freeze();
    let mut chunk = upgrade::v1::Chunk::new();
    for (format, offset) in [(0, 0), (u8::MAX, u32::MAX)] {
        let _ = c.export(format, offset);
        let _ = c.import(format, offset, chunk.clone(), format != 0);
        while chunk.push(0xc3).is_ok() {}
    }
    let _ = c.serve();

    let c = lifecycle::v1::Client::new(&recorder);
    let mut program = lifecycle::v1::Program::new();
    while program.push('p').is_ok() {}
    for n in [&short, &long] {
        let _ = c.prepare(n.clone(), program.clone());
        let _ = c.switch(n.clone());
        let _ = c.revert(n.clone());
        let _ = c.commit(n.clone());
        let _ = c.discard(n.clone());
        let _ = c.probation(n.clone());
        let _ = c.upgrade(n.clone(), program.clone(), n == &short);
        let _ = c.carry_caps(n.clone());
    }

    let c = campaign::v1::Client::new(&recorder);
    let _ = c.target(short.clone());
    let _ = c.functions(long.clone(), u32::MAX);
    let _ = c.arm(long.clone(), u8::MAX, u64::MAX, u8::MAX, u64::MAX, u64::MAX);
    let _ = c.arm(short.clone(), 0, 0, 0, 0, 0);
    let _ = c.status(u8::MAX);
    let _ = c.disarm(0);

    let c = patch::v1::Client::new(&recorder);
    let long_program =
        patch::v1::Program::try_from("pppppppppppppppppppppppppppppppp").unwrap_or_default();
    for n in [&short, &long] {
        let _ = c.begin(n.clone(), long_program.clone());
        let _ = c.begin(n.clone(), patch::v1::Program::new());
        let _ = c.step(n.clone());
        let _ = c.status(n.clone());
    }

    let c = campaign::v1::Client::new(&recorder);
    let _ = c.target(short.clone());
    let _ = c.functions(long.clone(), u32::MAX);
    let _ = c.arm(long.clone(), u8::MAX, u64::MAX, u8::MAX, u64::MAX, u64::MAX);
    let _ = c.arm(short.clone(), 0, 0, 0, 0, 0);
    let _ = c.status(u8::MAX);
    let _ = c.disarm(0);

    let c = net::v1::Client::new(&recorder);
    let _ = c.register(crate::CapSlot(7));
    let _ = c.listen(u16::MAX);
    let _ = c.accept();
    let _ = c.events();
    let _ = c.sync(u64::MAX, 0);
    let _ = c.sync(0, u64::MAX);
    for conn in [0, u8::MAX] {
        let _ = c.receive(conn, u16::MAX);
        let _ = c.send(conn, u16::MAX, u16::MAX);
        let _ = c.close(conn);
    }
}
