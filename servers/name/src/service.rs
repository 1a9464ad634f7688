//! [`NameService`]: `name::v2` (and `name::v1` through ipc-schema's adapter) served from a
//! [`Registry`], with the capabilities moving through the request (`register`) and the reply
//! (`lookup`).
//!
//! The registry is held as `R`: the [`Registry`] itself (the v2 build `name2`, whose upgrade
//! state formats are v2's and v1's) or a [`RegistryV1`] (the v1 build `name`, which serves and
//! transfers v1 only); see [`crate::upgrade`].

use crate::registry::{CapSpace, Registry};
use crate::upgrade::RegistryV1;
use core::borrow::BorrowMut;
use ipc_schema::interfaces::common::Name;
use ipc_schema::name::v2::{self, Count, NameError, Query, Registration, RegistrationPage};
use ipc_schema::name::{self, V1OnV2, v1};
use ipc_schema::{Caller, MSG_WORDS};

/// The name service: its registry and the CNode its capabilities are kept in.
pub struct NameService<C, R = Registry> {
    /// All the service's mutable state.
    pub registry: R,
    pub caps: C,
}

impl<C: CapSpace, R: BorrowMut<Registry>> NameService<C, R> {
    pub const fn new(registry: R, caps: C) -> NameService<C, R> {
        NameService { registry, caps }
    }

    fn table(&mut self) -> &mut Registry {
        self.registry.borrow_mut()
    }
}

impl<C: CapSpace> NameService<C, Registry> {
    /// Serves one request of any version (`name::dispatch`: v1 through the adapter); the
    /// shape `axolotl_rt::ipc_transport::serve` calls and `ipc_schema::Local` takes.
    pub fn dispatch(
        service: &mut NameService<C, Registry>,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        name::dispatch(service, caller, label, request, reply)
    }
}

impl<C: CapSpace> NameService<C, RegistryV1> {
    /// Serves one `name::v1` request (the v1 build: other versions are `UnsupportedVersion`).
    pub fn dispatch_v1(
        service: &mut NameService<C, RegistryV1>,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        v1::dispatch(&mut V1OnV2(service), caller, label, request, reply)
    }
}

impl<C: CapSpace, R: BorrowMut<Registry>> v2::Server for NameService<C, R> {
    fn register(
        &mut self,
        caller: &mut Caller,
        name: Name,
        interface: u16,
        min_version: u8,
        max_version: u8,
    ) -> Result<u32, NameError> {
        // Dispatch answers MissingCapability before calling here without one.
        let Some(cap) = caller.take_cap() else {
            return Err(NameError::NotPermitted);
        };
        let registration = Registration {
            name,
            interface,
            min_version,
            max_version,
            generation: 0,
        };
        let owner = caller.badge();
        let NameService { registry, caps } = self;
        registry
            .borrow_mut()
            .register(caps, owner, registration, cap)
    }

    fn lookup(&mut self, caller: &mut Caller, query: Query) -> Result<Registration, NameError> {
        let record = self.table().lookup(&query)?;
        caller.reply_with_cap(record.slot);
        Ok(record.registration.clone())
    }

    fn list(&mut self, _: &mut Caller, cursor: u16) -> Result<RegistrationPage, NameError> {
        Ok(self.table().list(cursor))
    }

    fn unregister(&mut self, caller: &mut Caller, name: Name) -> Result<(), NameError> {
        let owner = caller.badge();
        let NameService { registry, caps } = self;
        registry.borrow_mut().unregister(caps, owner, &name)
    }

    fn count(&mut self, _: &mut Caller) -> Result<Count, NameError> {
        let table = self.table();
        Ok(Count {
            registrations: u16::try_from(table.len()).unwrap_or(u16::MAX),
            capacity: u16::try_from(table.capacity()).unwrap_or(u16::MAX),
        })
    }
}
