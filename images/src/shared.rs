//! Shared memory regions (`[[shared]]`): pages both of two servers map, the only memory one
//! server ever shares with another.
//!
//! ```toml
//! [[shared]]
//! name = "netbuf"                 # [a-z0-9-], unique among the image's regions
//! pages = 96                      # 1..=SHARED_PAGES_MAX
//! servers = ["tcpip", "resp"]     # exactly two distinct servers, neither transactional
//! ```
//!
//! The root task makes the frames once, from its own memory (not from either server's, so a
//! server restarted from its image maps the same frames again and its peer keeps its view), and
//! maps them read/write, ordinary memory, into both address spaces at
//! `SERVER_SHARED_VADDR + offset`, regions one after another in image order (each server sees
//! only the regions it is in, at the same offsets as its peer). Neither server gets a capability
//! to the frames. A transactional server cannot be in a region: its peer's writes would be
//! neither checkpointed nor rolled back.
//!
//! For confinement ([`crate::authority`]) a region is a channel both ways between its two
//! servers, like a call with the grant right would be: either can write what the other reads.

use crate::{Invalid, Name, Problem, check_name};
use serde::{Deserialize, Serialize};

/// The most shared regions one image may have.
pub const MAX_SHARED: usize = 4;
/// The most pages one region may have (all regions together: [`SHARED_TOTAL_PAGES_MAX`]).
pub const SHARED_PAGES_MAX: u16 = 256;
/// The most shared pages one image may have (the servers' shared window).
pub const SHARED_TOTAL_PAGES_MAX: u32 = 512;

/// One region: `pages` pages mapped by both `servers`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SharedRegion {
    pub name: Name,
    pub pages: u16,
    pub servers: [Name; 2],
}

/// Why a `[[shared]]` table is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedProblem {
    /// `servers` does not list exactly two servers.
    NotTwo(usize),
    /// A server named in `servers` does not exist.
    NoSuchServer(Name),
    /// `servers` names one server twice.
    SameServer(Name),
    /// A transactional server cannot share memory.
    Transactional(Name),
    /// Another region has the same name.
    Repeated(Name),
    /// All regions together exceed the shared window.
    TooManyPages { total: u32, max: u32 },
}

impl core::fmt::Display for SharedProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SharedProblem::NotTwo(n) => {
                write!(f, "lists {n} servers; a region is between exactly two")
            }
            SharedProblem::NoSuchServer(n) => write!(f, "no server is named '{n}'"),
            SharedProblem::SameServer(n) => {
                write!(f, "'{n}' is listed twice (a region is between two servers)")
            }
            SharedProblem::Transactional(n) => write!(
                f,
                "server '{n}' is transactional; its peer's writes to shared memory could not be rolled back"
            ),
            SharedProblem::Repeated(n) => write!(f, "another region is already named '{n}'"),
            SharedProblem::TooManyPages { total, max } => {
                write!(f, "regions total {total} pages, at most {max} are allowed")
            }
        }
    }
}

/// Checks the regions of `desc` (names, sizes, servers).
pub(crate) fn check(desc: &crate::ImageDescription) -> Result<(), Invalid> {
    let err = |field: &'static str, problem: Problem| Invalid {
        server: None,
        field,
        problem,
    };
    let mut total = 0u32;
    for (i, r) in desc.shared.iter().enumerate() {
        check_name(&r.name).map_err(|p| err("shared.name", Problem::BadName(p)))?;
        if desc.shared[..i].iter().any(|o| o.name == r.name) {
            return Err(err(
                "shared.name",
                Problem::Shared(SharedProblem::Repeated(r.name.clone())),
            ));
        }
        if !(1..=SHARED_PAGES_MAX).contains(&r.pages) {
            return Err(err(
                "shared.pages",
                Problem::OutOfRange {
                    value: i64::from(r.pages),
                    min: 1,
                    max: i64::from(SHARED_PAGES_MAX),
                },
            ));
        }
        total += u32::from(r.pages);
        if r.servers[0] == r.servers[1] {
            return Err(err(
                "shared.servers",
                Problem::Shared(SharedProblem::SameServer(r.servers[0].clone())),
            ));
        }
        for s in &r.servers {
            let Some(server) = desc.server(s) else {
                return Err(err(
                    "shared.servers",
                    Problem::Shared(SharedProblem::NoSuchServer(s.clone())),
                ));
            };
            if server.transactional {
                return Err(err(
                    "shared.servers",
                    Problem::Shared(SharedProblem::Transactional(s.clone())),
                ));
            }
        }
    }
    if total > SHARED_TOTAL_PAGES_MAX {
        return Err(err(
            "shared.pages",
            Problem::Shared(SharedProblem::TooManyPages {
                total,
                max: SHARED_TOTAL_PAGES_MAX,
            }),
        ));
    }
    Ok(())
}

impl crate::ImageDescription {
    /// The regions server `name` is in, each with its page offset in the shared window (the
    /// same in both servers).
    pub fn shared_regions_of<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (u64, &'a SharedRegion)> + 'a {
        let mut offset = 0u64;
        self.shared.iter().filter_map(move |r| {
            let at = offset;
            offset += u64::from(r.pages);
            r.servers.iter().any(|s| s == name).then_some((at, r))
        })
    }
}
