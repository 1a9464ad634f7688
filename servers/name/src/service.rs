//! [`NameService`]: `name::v1` served from a [`Registry`], with the capabilities moving through
//! the request (`register`) and the reply (`lookup`).

use crate::registry::{CapSpace, Registry};
use ipc_schema::interfaces::common::Name;
use ipc_schema::name::v1::{self, NameError, Query, Registration, RegistrationPage};
use ipc_schema::{Caller, MSG_WORDS};

/// The name service: its registry and the CNode its capabilities are kept in.
pub struct NameService<C> {
    /// All the service's mutable state.
    pub registry: Registry,
    pub caps: C,
}

impl<C: CapSpace> NameService<C> {
    pub const fn new(registry: Registry, caps: C) -> NameService<C> {
        NameService { registry, caps }
    }

    /// Serves one request (`name::v1::dispatch`); the shape `axolotl_rt::ipc_transport::serve`
    /// calls and `ipc_schema::Local` takes.
    pub fn dispatch(
        service: &mut NameService<C>,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        v1::dispatch(service, caller, label, request, reply)
    }
}

impl<C: CapSpace> v1::Server for NameService<C> {
    fn register(
        &mut self,
        caller: &mut Caller,
        name: Name,
        interface: u16,
        min_version: u8,
        max_version: u8,
    ) -> Result<(), NameError> {
        // Dispatch answers MissingCapability before calling here without one.
        let Some(cap) = caller.take_cap() else {
            return Err(NameError::NotPermitted);
        };
        let registration = Registration {
            name,
            interface,
            min_version,
            max_version,
        };
        self.registry
            .register(&mut self.caps, caller.badge(), registration, cap)
    }

    fn lookup(&mut self, caller: &mut Caller, query: Query) -> Result<Registration, NameError> {
        let record = self.registry.lookup(&query)?;
        caller.reply_with_cap(record.slot);
        Ok(record.registration.clone())
    }

    fn list(&mut self, _: &mut Caller, cursor: u16) -> Result<RegistrationPage, NameError> {
        Ok(self.registry.list(cursor))
    }

    fn unregister(&mut self, caller: &mut Caller, name: Name) -> Result<(), NameError> {
        self.registry
            .unregister(&mut self.caps, caller.badge(), &name)
    }
}
