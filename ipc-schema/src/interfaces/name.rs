//! `name`: the name service. Servers register the endpoints they serve under a name and the
//! interface versions they speak; clients look them up and get a capability to call.
//!
//! Two versions, and the adapter through which a v2 service serves v1 clients. Version 2 adds a
//! registration's *generation* (1 when a name is first registered, one more each time its owner
//! registers it again: a client that looked a name up can tell it was replaced), returned by
//! `register` and carried by every [`v2::Registration`]; the error `InvalidName` (v1 called an
//! empty name `NotPermitted`); and op 4 `count`. v1 requests go up through [`V1OnV2`] and
//! replies come down without the generation, errors mapped by [`error_to_v1`].

/// Version 1.
pub mod v1 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// The most registrations one [`list`](Server::list) reply carries.
    pub const LIST_PAGE: usize = 16;

    /// What a lookup asks for.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Query {
        /// The registration of this name.
        Name(Name),
        /// A registration whose versions of interface `interface` include `version`.
        Interface { interface: u16, version: u8 },
    }

    /// One registration.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Registration {
        pub name: Name,
        /// The interface id served.
        pub interface: u16,
        /// The oldest and newest versions served (a server of version N that serves older
        /// versions through adapters registers them all).
        pub min_version: u8,
        pub max_version: u8,
    }

    /// One page of registrations.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RegistrationPage {
        pub entries: heapless::Vec<Registration, LIST_PAGE>,
        /// The cursor for the next page, `None` after the last page.
        pub next: Option<u16>,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum NameError {
        /// Nothing registered matches.
        NotFound,
        /// The name is taken by another registrant.
        AlreadyRegistered,
        /// The service has no room for another registration.
        Full,
        /// The caller may not register or unregister this name.
        NotPermitted,
        /// `min_version` is 0 or above `max_version`.
        InvalidVersions,
    }

    impl core::fmt::Display for NameError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                NameError::NotFound => "no such name",
                NameError::AlreadyRegistered => "name already registered",
                NameError::Full => "name service full",
                NameError::NotPermitted => "not permitted",
                NameError::InvalidVersions => "invalid version range",
            })
        }
    }

    crate::interface! {
        interface name = ids::NAME, version 1;

        /// Registers `endpoint` (a capability the service keeps a copy of) under `name`, serving
        /// versions `min_version..=max_version` of interface `interface`. Registering the same
        /// name again from the same caller replaces the registration.
        0 => idempotent fn register(name: Name, interface: u16, min_version: u8, max_version: u8)
            + cap endpoint -> Result<(), NameError>;
        /// Finds a registration; the reply carries its endpoint capability, placed in the
        /// caller's empty slot `endpoint`.
        1 => idempotent fn lookup(query: Query) -> Result<Registration, NameError> + cap endpoint;
        /// Registrations from index `cursor` on (start with 0), in registration order.
        2 => idempotent fn list(cursor: u16) -> Result<RegistrationPage, NameError>;
        /// Removes the registration of `name` (only its registrant may).
        3 => idempotent fn unregister(name: Name) -> Result<(), NameError>;
    }
}

/// Version 2: generations, `InvalidName`, `count`.
pub mod v2 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    pub use super::v1::{LIST_PAGE, Query};

    /// One registration.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Registration {
        pub name: Name,
        /// The interface id served.
        pub interface: u16,
        /// The oldest and newest versions served.
        pub min_version: u8,
        pub max_version: u8,
        /// 1 when the name was first registered, one more each time its owner registered it
        /// again (replacing the capability).
        pub generation: u32,
    }

    /// One page of registrations.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RegistrationPage {
        pub entries: heapless::Vec<Registration, LIST_PAGE>,
        /// The cursor for the next page, `None` after the last page.
        pub next: Option<u16>,
    }

    /// How full the service is.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Count {
        pub registrations: u16,
        pub capacity: u16,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum NameError {
        /// Nothing registered matches.
        NotFound,
        /// The name is taken by another registrant.
        AlreadyRegistered,
        /// The service has no room for another registration.
        Full,
        /// The caller may not register or unregister this name.
        NotPermitted,
        /// `min_version` is 0 or above `max_version`.
        InvalidVersions,
        /// The empty name.
        InvalidName,
    }

    impl core::fmt::Display for NameError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                NameError::NotFound => "no such name",
                NameError::AlreadyRegistered => "name already registered",
                NameError::Full => "name service full",
                NameError::NotPermitted => "not permitted",
                NameError::InvalidVersions => "invalid version range",
                NameError::InvalidName => "invalid name",
            })
        }
    }

    crate::interface! {
        interface name = ids::NAME, version 2;

        /// Registers `endpoint` under `name` (see v1); returns the registration's generation.
        0 => idempotent fn register(name: Name, interface: u16, min_version: u8, max_version: u8)
            + cap endpoint -> Result<u32, NameError>;
        /// Finds a registration; the reply carries its endpoint capability.
        1 => idempotent fn lookup(query: Query) -> Result<Registration, NameError> + cap endpoint;
        /// Registrations from index `cursor` on (start with 0), in registration order.
        2 => idempotent fn list(cursor: u16) -> Result<RegistrationPage, NameError>;
        /// Removes the registration of `name` (only its registrant may).
        3 => idempotent fn unregister(name: Name) -> Result<(), NameError>;
        /// How many registrations there are, and room for how many.
        4 => idempotent fn count() -> Result<Count, NameError>;
    }
}

use crate::server::Caller;

dispatch_v1_through_adapter!();

/// A v2 error as v1 reports it: v1 called an empty name `NotPermitted`.
pub fn error_to_v1(e: v2::NameError) -> v1::NameError {
    match e {
        v2::NameError::NotFound => v1::NameError::NotFound,
        v2::NameError::AlreadyRegistered => v1::NameError::AlreadyRegistered,
        v2::NameError::Full => v1::NameError::Full,
        v2::NameError::NotPermitted | v2::NameError::InvalidName => v1::NameError::NotPermitted,
        v2::NameError::InvalidVersions => v1::NameError::InvalidVersions,
    }
}

/// A v2 registration as v1 sees it (without its generation).
pub fn registration_to_v1(r: v2::Registration) -> v1::Registration {
    v1::Registration {
        name: r.name,
        interface: r.interface,
        min_version: r.min_version,
        max_version: r.max_version,
    }
}

/// A v2 name service seen as a v1 name service.
pub struct V1OnV2<'a, S: ?Sized>(pub &'a mut S);

impl<S: v2::Server + ?Sized> v1::Server for V1OnV2<'_, S> {
    /// The capability that came with the v1 request is the v2 service's to claim: the caller is
    /// passed through unchanged; the generation is dropped.
    fn register(
        &mut self,
        caller: &mut Caller,
        name: super::common::Name,
        interface: u16,
        min_version: u8,
        max_version: u8,
    ) -> Result<(), v1::NameError> {
        self.0
            .register(caller, name, interface, min_version, max_version)
            .map(drop)
            .map_err(error_to_v1)
    }

    /// The capability the v2 service puts in the reply goes to the v1 caller as it is.
    fn lookup(
        &mut self,
        caller: &mut Caller,
        query: v1::Query,
    ) -> Result<v1::Registration, v1::NameError> {
        self.0
            .lookup(caller, query)
            .map(registration_to_v1)
            .map_err(error_to_v1)
    }

    fn list(
        &mut self,
        caller: &mut Caller,
        cursor: u16,
    ) -> Result<v1::RegistrationPage, v1::NameError> {
        let page = self.0.list(caller, cursor).map_err(error_to_v1)?;
        let mut old = v1::RegistrationPage {
            entries: heapless::Vec::new(),
            next: page.next,
        };
        for r in page.entries {
            // The pages have the same length: cannot fail.
            let _ = old.entries.push(registration_to_v1(r));
        }
        Ok(old)
    }

    fn unregister(
        &mut self,
        caller: &mut Caller,
        name: super::common::Name,
    ) -> Result<(), v1::NameError> {
        self.0.unregister(caller, name).map_err(error_to_v1)
    }
}
