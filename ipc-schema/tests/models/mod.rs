//! Reference servers of every interface, deterministic and comparable: the round-trip tests run
//! one behind the in-memory transport and an identical one called directly, and require the same
//! results and the same final state.
#![allow(dead_code)]

use ipc_schema::interfaces::common::{LogLevel, Name, Ticks};
use ipc_schema::{Caller, CapSlot, Never, console, kv, name, supervisor, timer};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameModel {
    /// Registration, its endpoint's slot, the registrant's badge.
    pub entries: Vec<(name::v1::Registration, CapSlot, u64)>,
}

pub const NAME_CAPACITY: usize = 40;

impl name::v1::Server for NameModel {
    fn register(
        &mut self,
        caller: &mut Caller,
        name: Name,
        interface: u16,
        min_version: u8,
        max_version: u8,
    ) -> Result<(), name::v1::NameError> {
        use name::v1::NameError;
        if min_version == 0 || min_version > max_version {
            return Err(NameError::InvalidVersions);
        }
        let registration = name::v1::Registration {
            name,
            interface,
            min_version,
            max_version,
        };
        let slot = caller.take_cap().expect("dispatch checks the capability");
        let existing = self
            .entries
            .iter()
            .position(|(r, _, _)| r.name == registration.name);
        match existing {
            Some(i) if self.entries[i].2 != caller.badge() => Err(NameError::AlreadyRegistered),
            Some(i) => {
                self.entries[i] = (registration, slot, caller.badge());
                Ok(())
            }
            None if self.entries.len() == NAME_CAPACITY => Err(NameError::Full),
            None => {
                self.entries.push((registration, slot, caller.badge()));
                Ok(())
            }
        }
    }

    fn lookup(
        &mut self,
        caller: &mut Caller,
        query: name::v1::Query,
    ) -> Result<name::v1::Registration, name::v1::NameError> {
        let found = self.entries.iter().find(|(r, _, _)| match &query {
            name::v1::Query::Name(n) => r.name == *n,
            name::v1::Query::Interface { interface, version } => {
                r.interface == *interface && (r.min_version..=r.max_version).contains(version)
            }
        });
        let (registration, slot, _) = found.ok_or(name::v1::NameError::NotFound)?;
        caller.reply_with_cap(*slot);
        Ok(registration.clone())
    }

    fn list(
        &mut self,
        _: &mut Caller,
        cursor: u16,
    ) -> Result<name::v1::RegistrationPage, name::v1::NameError> {
        let mut page = name::v1::RegistrationPage::default();
        for (i, (r, _, _)) in self.entries.iter().enumerate().skip(cursor.into()) {
            if page.entries.push(r.clone()).is_err() {
                page.next = Some(i as u16);
                break;
            }
        }
        Ok(page)
    }

    fn unregister(&mut self, caller: &mut Caller, name: Name) -> Result<(), name::v1::NameError> {
        let i = self
            .entries
            .iter()
            .position(|(r, _, _)| r.name == name)
            .ok_or(name::v1::NameError::NotFound)?;
        if self.entries[i].2 != caller.badge() {
            return Err(name::v1::NameError::NotPermitted);
        }
        self.entries.remove(i);
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsoleModel {
    pub output: Vec<u8>,
    pub input: VecDeque<u8>,
    pub levels: BTreeMap<String, LogLevel>,
}

impl console::v1::Server for ConsoleModel {
    fn write(
        &mut self,
        _: &mut Caller,
        bytes: console::v1::Bytes,
    ) -> Result<(), console::v1::ConsoleError> {
        self.output.extend_from_slice(&bytes);
        Ok(())
    }

    fn read(
        &mut self,
        _: &mut Caller,
        max: u16,
    ) -> Result<console::v1::Bytes, console::v1::ConsoleError> {
        let mut bytes = console::v1::Bytes::new();
        while bytes.len() < usize::from(max) && !bytes.is_full() {
            let Some(b) = self.input.pop_front() else {
                break;
            };
            bytes.push(b).unwrap();
        }
        Ok(bytes)
    }

    fn set_log_level(
        &mut self,
        _: &mut Caller,
        server: Name,
        level: LogLevel,
    ) -> Result<(), console::v1::ConsoleError> {
        match self.levels.get_mut(server.as_str()) {
            Some(l) => {
                *l = level;
                Ok(())
            }
            None => Err(console::v1::ConsoleError::NoSuchServer),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimerModel {
    pub now: Ticks,
    /// Per caller badge: its notification and deadline.
    pub clients: BTreeMap<u64, (CapSlot, Option<Ticks>)>,
}

pub const MAX_SLEEP: Ticks = 1_000;

impl timer::v1::Server for TimerModel {
    fn now(&mut self, _: &mut Caller) -> Result<Ticks, Never> {
        self.now += 1;
        Ok(self.now)
    }

    fn frequency(&mut self, _: &mut Caller) -> Result<u64, Never> {
        Ok(62_500_000)
    }

    fn sleep(&mut self, _: &mut Caller, ticks: Ticks) -> Result<(), timer::v1::TimerError> {
        if ticks > MAX_SLEEP {
            return Err(timer::v1::TimerError::TooLong);
        }
        self.now += ticks;
        Ok(())
    }

    fn register(&mut self, caller: &mut Caller) -> Result<(), timer::v1::TimerError> {
        let slot = caller.take_cap().expect("dispatch checks the capability");
        self.clients.insert(caller.badge(), (slot, None));
        Ok(())
    }

    fn set_deadline(
        &mut self,
        caller: &mut Caller,
        deadline: Option<Ticks>,
    ) -> Result<(), timer::v1::TimerError> {
        let client = self
            .clients
            .get_mut(&caller.badge())
            .ok_or(timer::v1::TimerError::NotRegistered)?;
        client.1 = deadline;
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct KvV1Model {
    pub map: BTreeMap<u64, kv::v1::Value>,
}

pub const KV_CAPACITY: usize = 100;

impl kv::v1::Server for KvV1Model {
    fn get(&mut self, _: &mut Caller, key: u64) -> Result<kv::v1::Value, kv::v1::KvError> {
        self.map.get(&key).cloned().ok_or(kv::v1::KvError::NotFound)
    }

    fn put(
        &mut self,
        _: &mut Caller,
        key: u64,
        value: kv::v1::Value,
    ) -> Result<(), kv::v1::KvError> {
        if self.map.len() == KV_CAPACITY && !self.map.contains_key(&key) {
            return Err(kv::v1::KvError::Full);
        }
        self.map.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, _: &mut Caller, key: u64) -> Result<(), kv::v1::KvError> {
        self.map
            .remove(&key)
            .map(drop)
            .ok_or(kv::v1::KvError::NotFound)
    }

    fn list(
        &mut self,
        _: &mut Caller,
        cursor: Option<u64>,
    ) -> Result<kv::v1::KeyPage, kv::v1::KvError> {
        let mut page = kv::v1::KeyPage::default();
        let from = cursor.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        for &key in self
            .map
            .range((from, std::ops::Bound::Unbounded))
            .map(|(k, _)| k)
        {
            if page.keys.push(key).is_err() {
                page.next = page.keys.last().copied();
                break;
            }
        }
        Ok(page)
    }
}

/// kv v2 with a logical clock: every request is one tick.
#[derive(Clone, Debug, PartialEq)]
pub struct KvV2Model {
    pub now: Ticks,
    pub map: BTreeMap<String, (kv::v2::Value, Option<Ticks>)>,
    pub capacity: usize,
}

impl Default for KvV2Model {
    fn default() -> Self {
        KvV2Model::with_capacity(KV_CAPACITY)
    }
}

impl KvV2Model {
    pub fn with_capacity(capacity: usize) -> KvV2Model {
        KvV2Model {
            now: 0,
            map: BTreeMap::new(),
            capacity,
        }
    }

    fn tick(&mut self) {
        self.now += 1;
        let now = self.now;
        self.map
            .retain(|_, (_, expiry)| expiry.is_none_or(|e| e > now));
    }
}

impl kv::v2::Server for KvV2Model {
    fn get(&mut self, _: &mut Caller, key: kv::v2::Key) -> Result<kv::v2::Value, kv::v2::KvError> {
        self.tick();
        self.map
            .get(key.as_str())
            .map(|(v, _)| v.clone())
            .ok_or(kv::v2::KvError::NotFound)
    }

    fn put(
        &mut self,
        _: &mut Caller,
        key: kv::v2::Key,
        value: kv::v2::Value,
        ttl: Option<Ticks>,
    ) -> Result<(), kv::v2::KvError> {
        self.tick();
        if key.is_empty() {
            return Err(kv::v2::KvError::InvalidKey);
        }
        if self.map.len() == self.capacity && !self.map.contains_key(key.as_str()) {
            return Err(kv::v2::KvError::Full);
        }
        let expiry = ttl.map(|t| self.now.saturating_add(t));
        self.map.insert(key.as_str().into(), (value, expiry));
        Ok(())
    }

    fn delete(&mut self, _: &mut Caller, key: kv::v2::Key) -> Result<(), kv::v2::KvError> {
        self.tick();
        self.map
            .remove(key.as_str())
            .map(drop)
            .ok_or(kv::v2::KvError::NotFound)
    }

    fn list(
        &mut self,
        _: &mut Caller,
        cursor: Option<kv::v2::Key>,
    ) -> Result<kv::v2::KeyPage, kv::v2::KvError> {
        self.tick();
        let mut page = kv::v2::KeyPage::default();
        let keys = self
            .map
            .keys()
            .filter(|k| cursor.as_ref().is_none_or(|c| k.as_str() > c.as_str()));
        for key in keys {
            if page
                .keys
                .push(kv::v2::Key::try_from(key.as_str()).unwrap())
                .is_err()
            {
                page.next = page.keys.last().cloned();
                break;
            }
        }
        Ok(page)
    }

    fn count(&mut self, _: &mut Caller) -> Result<u64, kv::v2::KvError> {
        self.tick();
        Ok(self.map.len() as u64)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SupervisorModel {
    pub servers: Vec<(supervisor::v1::ServerStatus, LogLevel)>,
}

impl SupervisorModel {
    pub fn with_servers(n: usize) -> SupervisorModel {
        let servers = (0..n)
            .map(|i| {
                let status = supervisor::v1::ServerStatus {
                    name: Name::try_from(format!("server-{i}").as_str()).unwrap(),
                    version: 1 + i as u32 % 3,
                    state: supervisor::v1::ServerState::Running,
                    faults: i as u32 * 2,
                    aborts: i as u32,
                    restarts: i as u32 / 2,
                    generation: i as u32 / 2,
                };
                (status, LogLevel::Info)
            })
            .collect();
        SupervisorModel { servers }
    }
}

impl supervisor::v1::Server for SupervisorModel {
    fn list(
        &mut self,
        _: &mut Caller,
        cursor: u16,
    ) -> Result<supervisor::v1::ServerPage, supervisor::v1::SupervisorError> {
        let mut page = supervisor::v1::ServerPage::default();
        for (i, (s, _)) in self.servers.iter().enumerate().skip(cursor.into()) {
            if page.servers.push(s.clone()).is_err() {
                page.next = Some(i as u16);
                break;
            }
        }
        Ok(page)
    }

    fn status(
        &mut self,
        _: &mut Caller,
        name: Name,
    ) -> Result<supervisor::v1::ServerStatus, supervisor::v1::SupervisorError> {
        self.servers
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(s, _)| s.clone())
            .ok_or(supervisor::v1::SupervisorError::NoSuchServer)
    }

    fn set_log_level(
        &mut self,
        caller: &mut Caller,
        server: Name,
        level: LogLevel,
    ) -> Result<(), supervisor::v1::SupervisorError> {
        if caller.badge() == 0 {
            return Err(supervisor::v1::SupervisorError::NotPermitted);
        }
        let (_, l) = self
            .servers
            .iter_mut()
            .find(|(s, _)| s.name == server)
            .ok_or(supervisor::v1::SupervisorError::NoSuchServer)?;
        *l = level;
        Ok(())
    }
}
