//! `name`: the name service. Servers register the endpoints they serve under a name and the
//! interface versions they speak; clients look them up and get a capability to call.

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
