//! Image descriptions: which servers an Axolotl image runs and which capabilities each one gets.
//!
//! An image is described on the host in `images/<name>.toml` (or `tests/scenarios/<name>.toml`),
//! parsed and checked by [`parse`] (feature `std`), and postcard-encoded with [`encode`] into the
//! boot archive's `image` entry. The root task [`decode`]s it on bare metal; decoding checks the
//! description again, so the root task can rely on every rule below.
//!
//! Rules a description obeys:
//! - at least one and at most [`MAX_SERVERS`] servers, with distinct names;
//! - names ([`Name`]) are 1..=[`NAME_MAX_LEN`] characters of `a-z`, `0-9` and `-`;
//! - program names are 1..=[`PROGRAM_MAX_LEN`] characters of `a-z`, `0-9`, `-` and `_`, starting
//!   with a letter (they name a crate's binary and a boot-archive entry);
//! - priorities are in [`PRIORITY_MIN`]..=[`PRIORITY_MAX`] (255 is the root task's), stack pages in
//!   1..=[`STACK_PAGES_MAX`], heap pages in 0..=[`HEAP_PAGES_MAX`], `untyped_bits` is 0 or in
//!   [`UNTYPED_BITS_MIN`]..=[`UNTYPED_BITS_MAX`];
//! - endpoint names are unique in the whole image and are neither `supervisor` nor `none`;
//! - every name in `calls` is some server's endpoint or [`SUPERVISOR_ENDPOINT`] (the root task's
//!   supervisor endpoint, which serves `supervisor::v1`); a fault-handler endpoint is another
//!   server's endpoint; every name in `controls` is another server; no list repeats a name;
//! - every name in `devices` is one of [`DEVICE_NAMES`], and each device is granted to at most
//!   one server of the image;
//! - `tx_pool_pages` is in 1..=[`TX_POOL_PAGES_MAX`], `restart_after` in 1..=[`RESTART_AFTER_MAX`],
//!   `request_budget_ms` in 0..=[`REQUEST_BUDGET_MS_MAX`];
//! - `verify` (dual execution of every request) needs `transactional`;
//! - `snapshot` needs `transactional`, and `stack_pages + heap_pages` at most
//!   [`SNAPSHOT_STACK_HEAP_PAGES_MAX`] (a Snapshot object holds at most 1023 pages; the rest is
//!   for data and bss);
//! - `upgrades` (the programs a server can be upgraded to live) lists at most [`MAX_UPGRADES`]
//!   well-formed program names, none twice, on a server with at least one endpoint (its first is
//!   the service endpoint the new version takes over); at most [`MAX_UPGRADABLE`] servers of an
//!   image have one;
//! - at most one server is the `upgrader`, and it calls `supervisor` (where `lifecycle::v1` is);
//!   an image with upgradable servers need not have one (they then never upgrade).
//! - `threads` is in 1..=[`THREADS_MAX`], and more than one needs `transactional = false` (a
//!   TxRegion checkpoints one thread); `patches` names at most [`MAX_PATCHES`] distinct programs
//!   (well-formed program names, not the server's own program).
//! - at most [`MAX_SHARED`] `[[shared]]` regions with distinct names, each of 1..=256 pages
//!   (512 in all) between exactly two distinct, existing, non-transactional servers (see
//!   [`shared`]).
#![cfg_attr(not(feature = "std"), no_std)]
// Errors are rare and no_std has no Box: they carry their names inline.
#![allow(clippy::result_large_err)]

use core::fmt;
use serde::{Deserialize, Serialize};

#[cfg(feature = "std")]
pub mod authority;
pub mod shared;
pub use shared::{MAX_SHARED, SharedRegion};
#[cfg(feature = "std")]
mod parse;
#[cfg(feature = "std")]
pub use parse::{
    DEFAULT_TIMEOUT_S, ImageError, MAX_EXIT_CODE, MAX_TIMEOUT_S, TestSpec, load, parse,
};

/// The most servers one image may run.
pub const MAX_SERVERS: usize = 16;
/// The longest server, endpoint or image name.
pub const NAME_MAX_LEN: usize = 23;
/// The longest program name (it is also a boot-archive entry name).
pub const PROGRAM_MAX_LEN: usize = 32;
/// The most endpoints one server receives on.
pub const MAX_ENDPOINTS: usize = 4;
/// The most endpoints one server may call.
pub const MAX_CALLS: usize = 8;
/// The most servers one server may control.
pub const MAX_CONTROLS: usize = 8;
/// The most platform devices one server may be granted.
pub const MAX_DEVICES: usize = 4;
/// The most programs one server may be upgraded to (`upgrades = [...]`).
pub const MAX_UPGRADES: usize = 4;
/// The most upgradable servers (with a non-empty `upgrades`) in one image.
pub const MAX_UPGRADABLE: usize = 4;
/// The platform devices an image may grant (`devices = [...]`). The root task knows what each
/// one is on the machine it runs on: `uart` the console UART (aarch64 `virt` PL011, x86_64 `q35`
/// COM1), `timer` a timer user space may program (aarch64 the EL1 physical timer, x86_64 the PIT),
/// `net` a virtio-net device with DMA memory for it (aarch64 virtio-mmio, x86_64 virtio-pci).
pub const DEVICE_NAMES: [&str; 3] = ["uart", "timer", "net"];

/// Undo frames of a transactional server's region (the kernel's TxRegion holds up to 127).
pub const TX_POOL_PAGES_MAX: u8 = 127;
pub const DEFAULT_TX_POOL_PAGES: u8 = 31;
/// The most stack plus heap pages of a server with `snapshot = true`: the kernel's largest
/// Snapshot object holds 1023 region pages, and data and bss need some of them.
pub const SNAPSHOT_STACK_HEAP_PAGES_MAX: u32 = 960;
/// Consecutive aborted requests after which the supervisor restarts a server.
pub const RESTART_AFTER_MAX: u8 = 100;
pub const DEFAULT_RESTART_AFTER: u8 = 3;
/// The longest per-request time budget.
pub const REQUEST_BUDGET_MS_MAX: u32 = 60_000;

pub const PRIORITY_MIN: u8 = 1;
/// 255 is the root task's priority.
pub const PRIORITY_MAX: u8 = 254;
pub const DEFAULT_PRIORITY: u8 = 100;
pub const STACK_PAGES_MIN: u16 = 1;
pub const STACK_PAGES_MAX: u16 = 256;
pub const DEFAULT_STACK_PAGES: u16 = 4;
/// The most threads one server may run (`threads`): worker windows fit between the main stack
/// and the device window (`axolotl_rt::server_info::worker_window`).
pub const THREADS_MAX: u8 = 16;
/// The most code-only patches one server may be given (`patches`).
pub const MAX_PATCHES: usize = 2;
pub const HEAP_PAGES_MAX: u16 = 4096;
pub const DEFAULT_HEAP_PAGES: u16 = 0;
pub const UNTYPED_BITS_MIN: u8 = 12;
pub const UNTYPED_BITS_MAX: u8 = 24;

/// Words a `fault_handler` gives special meaning to; no endpoint may be named so.
pub const RESERVED_ENDPOINT_NAMES: [&str; 2] = [SUPERVISOR_ENDPOINT, "none"];

/// The root task's supervisor endpoint: the default fault handler, and an endpoint servers may
/// name in `calls` to reach the supervisor's interface (`supervisor::v1`: list servers, status,
/// log levels). No server receives on it.
pub const SUPERVISOR_ENDPOINT: &str = "supervisor";

/// A server, endpoint or image name: `[a-z0-9-]+`, 1..=23 characters.
pub type Name = heapless::String<24>;
/// A program name: the crate (and binary) name of the ELF the server runs.
pub type ProgramName = heapless::String<PROGRAM_MAX_LEN>;

/// What the root task builds: a named set of servers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ImageDescription {
    pub name: Name,
    pub servers: heapless::Vec<ServerDesc, MAX_SERVERS>,
    /// Memory regions shared by two servers (TOML `[[shared]]`, see [`shared`]).
    pub shared: heapless::Vec<SharedRegion, MAX_SHARED>,
    /// Debug only: make the root task itself fault (TOML `[image] debug_root_task_fault`).
    pub debug_root_task_fault: DebugRootTaskFault,
}

/// A deliberate, real fault of the root task, for testing that the kernel reports a fault of the
/// supervisor and stops the system (the root task has no fault handler). Never set in a real
/// image; only the scenario `root-task-fault` uses it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebugRootTaskFault {
    /// No deliberate fault (the default).
    #[default]
    Never,
    /// After every server is started, before it starts supervising, the root task loads from
    /// address 0 (TOML `"after-start"`).
    AfterStart,
}

/// One server: the program it runs, its resources and the capabilities it is given.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ServerDesc {
    pub name: Name,
    /// Crate/binary name of the ELF (`servers/*` or `tests/programs/*`).
    pub program: ProgramName,
    /// 1..=254 (255 is the root task), default 100.
    pub priority: u8,
    /// 1..=256, default 4.
    pub stack_pages: u16,
    /// 0..=4096, default 0.
    pub heap_pages: u16,
    /// Endpoints this server receives on; names are unique in the image.
    pub endpoints: heapless::Vec<Name, MAX_ENDPOINTS>,
    /// Endpoints it may Call/Send to; each is some server's endpoint.
    pub calls: heapless::Vec<Name, MAX_CALLS>,
    /// Where its faults go.
    pub fault_handler: FaultHandler,
    /// Servers whose TCB capabilities it is given (they exist and are not itself).
    pub controls: heapless::Vec<Name, MAX_CONTROLS>,
    /// 0 = none, else 12..=24: an Untyped of 2^bits bytes is granted.
    pub untyped_bits: u8,
    /// It gets a capability to its own CNode.
    pub own_cnode: bool,
    /// It gets the system-control capability (power off with an exit status).
    pub poweroff: bool,
    /// Platform devices it drives (names from [`DEVICE_NAMES`]; each granted to one server at
    /// most): their registers mapped or their I/O ports, and their interrupt.
    pub devices: heapless::Vec<Name, MAX_DEVICES>,
    /// Every request it handles is a transaction over its data, heap and stack (default false).
    pub transactional: bool,
    /// Undo frames of its transactional region: the most pages one request may dirty.
    pub tx_pool_pages: u8,
    /// The supervisor restarts it after this many consecutive aborted requests.
    pub restart_after: u8,
    /// A request running longer than this is aborted (0: no budget).
    pub request_budget_ms: u32,
    /// The root task gives its transactional region snapshot storage: `snapshot::v1` takes
    /// concurrent snapshots, and a restart uses the last complete one (default false).
    pub snapshot: bool,
    /// Verified transactions: every request runs twice inside its transaction and commits only
    /// if both runs give the same reply and memory (needs `transactional`; default false).
    pub verify: bool,
    /// Programs it can be upgraded to live (each is put in the boot archive). Non-empty: the
    /// root task gives it an upgrade control endpoint (`ServerInfo::upgrade_control`).
    pub upgrades: heapless::Vec<ProgramName, MAX_UPGRADES>,
    /// It is the image's upgrader (`servers/upgrader`): the trusted component that runs live
    /// upgrades. For every upgradable server it gets an unbadged call of its service endpoint
    /// (badge 0: `upgrade::v1::freeze` is accepted) and calls of both its control endpoints;
    /// the supervisor takes `lifecycle::v1` requests from it alone.
    pub upgrader: bool,
    /// Threads serving its endpoints (1..=[`THREADS_MAX`], default 1): the main thread and
    /// `threads - 1` workers in the same address space, each with its own stack and IPC buffer.
    pub threads: u8,
    /// Programs (other builds with the same data layout, checked by the build tool) that
    /// `patch::v1` may patch it to, wait-free (see docs/ARCHITECTURE.md, "Wait-free code patch").
    pub patches: heapless::Vec<ProgramName, MAX_PATCHES>,
}

/// Where a server's faults are delivered.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum FaultHandler {
    /// The root task (default; TOML `"supervisor"`).
    Supervisor,
    /// No fault endpoint: the kernel suspends the thread and logs the fault (TOML `"none"`).
    None,
    /// Another server's endpoint (TOML: the endpoint's name).
    Endpoint(Name),
}

impl ImageDescription {
    pub fn server(&self, name: &str) -> Option<&ServerDesc> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The server that receives on endpoint `name`.
    pub fn endpoint_owner(&self, name: &str) -> Option<&ServerDesc> {
        self.servers
            .iter()
            .find(|s| s.endpoints.iter().any(|e| e == name))
    }

    /// Checks every rule listed in the crate documentation.
    pub fn validate(&self) -> Result<(), Invalid> {
        validate(self)
    }
}

/// Why a string is not a valid [`Name`] or program name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong {
        len: usize,
        max: usize,
    },
    BadChar(char),
    /// Program names start with a letter.
    BadStart(char),
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "must not be empty"),
            NameProblem::TooLong { len, max } => {
                write!(f, "is {len} characters long, at most {max} are allowed")
            }
            NameProblem::BadChar(c) => write!(f, "contains {c:?}"),
            NameProblem::BadStart(c) => write!(f, "starts with {c:?}, not a letter"),
        }
    }
}

/// Checks a server, endpoint or image name: `[a-z0-9-]+`, 1..=[`NAME_MAX_LEN`] characters.
pub fn check_name(s: &str) -> Result<(), NameProblem> {
    if s.is_empty() {
        return Err(NameProblem::Empty);
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameProblem::BadChar(c));
    }
    if s.len() > NAME_MAX_LEN {
        return Err(NameProblem::TooLong {
            len: s.len(),
            max: NAME_MAX_LEN,
        });
    }
    Ok(())
}

/// Checks a program name: `[a-z][a-z0-9_-]*`, at most [`PROGRAM_MAX_LEN`] characters.
pub fn check_program(s: &str) -> Result<(), NameProblem> {
    let Some(first) = s.chars().next() else {
        return Err(NameProblem::Empty);
    };
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(NameProblem::BadChar(c));
    }
    if !first.is_ascii_lowercase() {
        return Err(NameProblem::BadStart(first));
    }
    if s.len() > PROGRAM_MAX_LEN {
        return Err(NameProblem::TooLong {
            len: s.len(),
            max: PROGRAM_MAX_LEN,
        });
    }
    Ok(())
}

/// What is wrong with one field of a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The image has no servers.
    NoServers,
    /// More entries than the list holds.
    TooMany { given: usize, max: usize },
    /// The name (or one name of a list) is malformed.
    BadName(NameProblem),
    /// A number is out of its range.
    OutOfRange { value: i64, min: i64, max: i64 },
    /// `untyped_bits` is neither 0 nor in 12..=24.
    BadUntypedBits(i64),
    /// A list names the same thing twice.
    Repeated(Name),
    /// `supervisor` and `none` cannot name endpoints.
    ReservedEndpoint(Name),
    /// Another server (by index) has the same name.
    DuplicateServer { other: usize },
    /// Another server (by name) already receives on this endpoint.
    DuplicateEndpoint { endpoint: Name, other: Name },
    /// No server receives on this endpoint.
    NoSuchEndpoint(Name),
    /// No server has this name.
    NoSuchServer(Name),
    /// A fault handler endpoint that the faulting server itself receives on.
    OwnFaultHandler(Name),
    /// A server listed in its own `controls`.
    ControlsItself,
    /// A device name that is not in [`DEVICE_NAMES`].
    UnknownDevice(Name),
    /// Another server (by name) is already granted this device.
    DeviceTaken { device: Name, other: Name },
    /// `snapshot = true` on a server that is not transactional.
    SnapshotNeedsTransactional,
    /// `snapshot = true` on a server whose stack and heap exceed the largest snapshot.
    SnapshotTooLarge { pages: u32, max: u32 },
    /// `verify = true` on a server that is not transactional.
    VerifyNeedsTransactional,
    /// `upgrades` on a server without an endpoint to take over.
    UpgradesNeedEndpoint,
    /// A second server with `upgrader = true` (the first, by name).
    SecondUpgrader(Name),
    /// `upgrader = true` without `calls = ["supervisor", ...]`.
    UpgraderNeedsSupervisor,
    /// More upgradable servers than [`MAX_UPGRADABLE`].
    TooManyUpgradable { given: usize, max: usize },
    /// `threads > 1` on a transactional server.
    ThreadsNeedNonTransactional,
    /// `patches` names the server's own program.
    PatchIsOwnProgram,
    /// A `[[shared]]` region is wrong.
    Shared(shared::SharedProblem),
}

impl Problem {
    /// Problems relating a server to the rest of the image are reported by server name; problems
    /// of a field on its own by server index (its name may itself be the problem).
    fn by_server_name(&self) -> bool {
        matches!(
            self,
            Problem::DuplicateEndpoint { .. }
                | Problem::NoSuchEndpoint(_)
                | Problem::NoSuchServer(_)
                | Problem::OwnFaultHandler(_)
                | Problem::ControlsItself
                | Problem::DeviceTaken { .. }
                | Problem::SecondUpgrader(_)
                | Problem::TooManyUpgradable { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoServers => write!(f, "an image needs at least one [[server]]"),
            Problem::ThreadsNeedNonTransactional => write!(
                f,
                "more than one thread needs transactional = false (a region checkpoints one thread)"
            ),
            Problem::PatchIsOwnProgram => write!(f, "a patch must be another program"),
            Problem::Shared(p) => p.fmt(f),
            Problem::SnapshotNeedsTransactional => {
                write!(
                    f,
                    "needs transactional = true (a snapshot is of a TxRegion)"
                )
            }
            Problem::VerifyNeedsTransactional => write!(
                f,
                "needs transactional = true (both runs of a request are in one transaction)"
            ),
            Problem::SnapshotTooLarge { pages, max } => write!(
                f,
                "stack_pages + heap_pages = {pages} is more than a snapshot holds ({max})"
            ),
            Problem::TooMany { given, max } => write!(f, "{given} given, at most {max} allowed"),
            Problem::UpgradesNeedEndpoint => write!(
                f,
                "needs endpoints: a new version takes over the server's first endpoint"
            ),
            Problem::SecondUpgrader(other) => {
                write!(f, "server '{other}' is already the image's upgrader")
            }
            Problem::UpgraderNeedsSupervisor => write!(
                f,
                "needs calls = [\"supervisor\", ...]: the upgrader drives lifecycle::v1 there"
            ),
            Problem::TooManyUpgradable { given, max } => write!(
                f,
                "{given} servers have upgrades, at most {max} may (this is one too many)"
            ),
            Problem::BadName(p) => p.fmt(f),
            Problem::OutOfRange { value, min, max } => {
                write!(f, "{value} is out of range {min}..={max}")
            }
            Problem::BadUntypedBits(v) => write!(
                f,
                "{v} is neither 0 (no untyped) nor in range {UNTYPED_BITS_MIN}..={UNTYPED_BITS_MAX}"
            ),
            Problem::Repeated(n) => write!(f, "'{n}' is listed twice"),
            Problem::ReservedEndpoint(n) => write!(
                f,
                "'{n}' is reserved (fault_handler uses it) and cannot name an endpoint"
            ),
            Problem::DuplicateServer { other } => {
                write!(f, "server[{other}] already has this name")
            }
            Problem::DuplicateEndpoint { endpoint, other } => write!(
                f,
                "'{endpoint}' is already an endpoint of server '{other}' (endpoint names are unique in an image)"
            ),
            Problem::NoSuchEndpoint(n) => write!(f, "no server has an endpoint named '{n}'"),
            Problem::NoSuchServer(n) => write!(f, "no server is named '{n}'"),
            Problem::OwnFaultHandler(n) => write!(
                f,
                "'{n}' is this server's own endpoint; a server cannot handle its own faults"
            ),
            Problem::ControlsItself => write!(f, "a server cannot control itself"),
            Problem::UnknownDevice(n) => {
                write!(f, "unknown device '{n}', expected one of")?;
                for (i, known) in DEVICE_NAMES.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(f, "{sep} '{known}'")?;
                }
                Ok(())
            }
            Problem::DeviceTaken { device, other } => write!(
                f,
                "device '{device}' is already granted to server '{other}' (a device goes to one server at most)"
            ),
        }
    }
}

/// A broken rule: where (`server` is its index and name, `field` a field name) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub server: Option<(usize, Name)>,
    pub field: &'static str,
    pub problem: Problem,
}

impl fmt::Display for Invalid {
    /// One line: `server 'ping': calls: no server has an endpoint named 'pongg'`,
    /// `server[1].priority: 300 is out of range 1..=254`, `image.name: must not be empty`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.server {
            Some((_, name)) if self.problem.by_server_name() => {
                write!(f, "server '{name}': {}: {}", self.field, self.problem)
            }
            Some((index, _)) => write!(f, "server[{index}].{}: {}", self.field, self.problem),
            None => write!(f, "{}: {}", self.field, self.problem),
        }
    }
}

fn check_range(value: i64, min: i64, max: i64) -> Result<(), Problem> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Problem::OutOfRange { value, min, max })
    }
}

fn check_untyped_bits(value: i64) -> Result<(), Problem> {
    if value == 0 || (UNTYPED_BITS_MIN as i64..=UNTYPED_BITS_MAX as i64).contains(&value) {
        Ok(())
    } else {
        Err(Problem::BadUntypedBits(value))
    }
}

/// The first name that appears twice in `names`.
fn first_repeated(names: &[Name]) -> Option<&Name> {
    names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
        .map(|(_, n)| n)
}

/// Checks a list of device names: each well-formed and known, none repeated.
pub(crate) fn check_device_list(names: &[Name]) -> Result<(), Problem> {
    check_name_list(names)?;
    match names.iter().find(|n| !DEVICE_NAMES.contains(&n.as_str())) {
        Some(n) => Err(Problem::UnknownDevice(n.clone())),
        None => Ok(()),
    }
}

/// Checks a list of names: each well-formed, none repeated.
fn check_name_list(names: &[Name]) -> Result<(), Problem> {
    for n in names {
        check_name(n).map_err(Problem::BadName)?;
    }
    match first_repeated(names) {
        Some(n) => Err(Problem::Repeated(n.clone())),
        None => Ok(()),
    }
}

/// The per-field checks of one server (everything that does not look at other servers).
fn check_server_fields(s: &ServerDesc) -> Result<(), (&'static str, Problem)> {
    check_name(&s.name).map_err(|p| ("name", Problem::BadName(p)))?;
    check_program(&s.program).map_err(|p| ("program", Problem::BadName(p)))?;
    check_range(s.priority.into(), PRIORITY_MIN.into(), PRIORITY_MAX.into())
        .map_err(|p| ("priority", p))?;
    check_range(
        s.stack_pages.into(),
        STACK_PAGES_MIN.into(),
        STACK_PAGES_MAX.into(),
    )
    .map_err(|p| ("stack_pages", p))?;
    check_range(s.heap_pages.into(), 0, HEAP_PAGES_MAX.into()).map_err(|p| ("heap_pages", p))?;
    check_name_list(&s.endpoints).map_err(|p| ("endpoints", p))?;
    if let Some(e) = s
        .endpoints
        .iter()
        .find(|e| RESERVED_ENDPOINT_NAMES.contains(&e.as_str()))
    {
        return Err(("endpoints", Problem::ReservedEndpoint(e.clone())));
    }
    check_name_list(&s.calls).map_err(|p| ("calls", p))?;
    if let FaultHandler::Endpoint(e) = &s.fault_handler {
        check_name(e).map_err(|p| ("fault_handler", Problem::BadName(p)))?;
    }
    check_name_list(&s.controls).map_err(|p| ("controls", p))?;
    check_untyped_bits(s.untyped_bits.into()).map_err(|p| ("untyped_bits", p))?;
    check_device_list(&s.devices).map_err(|p| ("devices", p))?;
    check_range(s.tx_pool_pages.into(), 1, TX_POOL_PAGES_MAX.into())
        .map_err(|p| ("tx_pool_pages", p))?;
    check_range(s.restart_after.into(), 1, RESTART_AFTER_MAX.into())
        .map_err(|p| ("restart_after", p))?;
    check_range(s.request_budget_ms.into(), 0, REQUEST_BUDGET_MS_MAX.into())
        .map_err(|p| ("request_budget_ms", p))?;
    check_snapshot(s).map_err(|p| ("snapshot", p))?;
    check_verify(s).map_err(|p| ("verify", p))?;
    check_upgrades(s).map_err(|p| ("upgrades", p))?;
    check_threads(s).map_err(|p| ("threads", p))?;
    check_patches(s).map_err(|p| ("patches", p))?;
    Ok(())
}

/// `threads` in range, and more than one only without transactions.
pub(crate) fn check_threads(s: &ServerDesc) -> Result<(), Problem> {
    check_range(s.threads.into(), 1, THREADS_MAX.into())?;
    if s.threads > 1 && s.transactional {
        return Err(Problem::ThreadsNeedNonTransactional);
    }
    Ok(())
}

/// `patches`: well-formed program names, none repeated, none the server's own program.
pub(crate) fn check_patches(s: &ServerDesc) -> Result<(), Problem> {
    for (i, p) in s.patches.iter().enumerate() {
        check_program(p).map_err(Problem::BadName)?;
        if *p == s.program {
            return Err(Problem::PatchIsOwnProgram);
        }
        if s.patches[..i].contains(p) {
            return Err(Problem::Repeated(
                Name::try_from(p.as_str()).unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

/// `upgrades`: well-formed program names, none twice, on a server with an endpoint.
pub(crate) fn check_upgrades(s: &ServerDesc) -> Result<(), Problem> {
    for p in &s.upgrades {
        check_program(p).map_err(Problem::BadName)?;
    }
    if let Some(p) = s
        .upgrades
        .iter()
        .enumerate()
        .find(|(i, p)| s.upgrades[..*i].contains(p))
        .map(|(_, p)| p)
    {
        return Err(Problem::Repeated(
            Name::try_from(p.as_str()).unwrap_or_default(),
        ));
    }
    if !s.upgrades.is_empty() && s.endpoints.is_empty() {
        return Err(Problem::UpgradesNeedEndpoint);
    }
    Ok(())
}

impl ServerDesc {
    /// Whether it can be upgraded live (`upgrades` is not empty).
    pub fn upgradable(&self) -> bool {
        !self.upgrades.is_empty()
    }
}

impl ImageDescription {
    /// The indices of its upgradable servers, in image order (the order of the upgrader's
    /// `ServerInfo::upgradables`).
    pub fn upgradable(&self) -> impl Iterator<Item = usize> + '_ {
        self.servers
            .iter()
            .enumerate()
            .filter(|(_, s)| s.upgradable())
            .map(|(i, _)| i)
    }

    /// The index of its upgrader, if it has one.
    pub fn upgrader(&self) -> Option<usize> {
        self.servers.iter().position(|s| s.upgrader)
    }
}

/// `verify = true` needs a transactional server.
pub(crate) fn check_verify(s: &ServerDesc) -> Result<(), Problem> {
    if s.verify && !s.transactional {
        return Err(Problem::VerifyNeedsTransactional);
    }
    Ok(())
}

/// `snapshot = true` needs a transactional server small enough for one Snapshot object.
pub(crate) fn check_snapshot(s: &ServerDesc) -> Result<(), Problem> {
    if !s.snapshot {
        return Ok(());
    }
    if !s.transactional {
        return Err(Problem::SnapshotNeedsTransactional);
    }
    let pages = u32::from(s.stack_pages) + u32::from(s.heap_pages);
    if pages > SNAPSHOT_STACK_HEAP_PAGES_MAX {
        return Err(Problem::SnapshotTooLarge {
            pages,
            max: SNAPSHOT_STACK_HEAP_PAGES_MAX,
        });
    }
    Ok(())
}

/// Checks every rule of the crate documentation: first each field on its own, then the
/// references between servers.
pub fn validate(desc: &ImageDescription) -> Result<(), Invalid> {
    check_name(&desc.name).map_err(|p| Invalid {
        server: None,
        field: "image.name",
        problem: Problem::BadName(p),
    })?;
    if desc.servers.is_empty() {
        return Err(Invalid {
            server: None,
            field: "server",
            problem: Problem::NoServers,
        });
    }
    for (i, s) in desc.servers.iter().enumerate() {
        check_server_fields(s).map_err(|(field, problem)| Invalid {
            server: Some((i, s.name.clone())),
            field,
            problem,
        })?;
    }
    check_references(desc)?;
    shared::check(desc)
}

/// The rules that relate servers to each other (names and fields are already well-formed).
pub fn check_references(desc: &ImageDescription) -> Result<(), Invalid> {
    let servers = &desc.servers;
    for (i, s) in servers.iter().enumerate() {
        let err = |field: &'static str, problem: Problem| Invalid {
            server: Some((i, s.name.clone())),
            field,
            problem,
        };
        if let Some(other) = servers[..i].iter().position(|o| o.name == s.name) {
            return Err(err("name", Problem::DuplicateServer { other }));
        }
        for e in &s.endpoints {
            if let Some(other) = servers[..i].iter().find(|o| o.endpoints.contains(e)) {
                return Err(err(
                    "endpoints",
                    Problem::DuplicateEndpoint {
                        endpoint: e.clone(),
                        other: other.name.clone(),
                    },
                ));
            }
        }
        for d in &s.devices {
            if let Some(other) = servers[..i].iter().find(|o| o.devices.contains(d)) {
                return Err(err(
                    "devices",
                    Problem::DeviceTaken {
                        device: d.clone(),
                        other: other.name.clone(),
                    },
                ));
            }
        }
    }
    for (i, s) in servers.iter().enumerate() {
        let err = |field: &'static str, problem: Problem| Invalid {
            server: Some((i, s.name.clone())),
            field,
            problem,
        };
        for c in &s.calls {
            if c != SUPERVISOR_ENDPOINT && desc.endpoint_owner(c).is_none() {
                return Err(err("calls", Problem::NoSuchEndpoint(c.clone())));
            }
        }
        if let FaultHandler::Endpoint(e) = &s.fault_handler {
            if s.endpoints.contains(e) {
                return Err(err("fault_handler", Problem::OwnFaultHandler(e.clone())));
            }
            if desc.endpoint_owner(e).is_none() {
                return Err(err("fault_handler", Problem::NoSuchEndpoint(e.clone())));
            }
        }
        for c in &s.controls {
            if *c == s.name {
                return Err(err("controls", Problem::ControlsItself));
            }
            if desc.server(c).is_none() {
                return Err(err("controls", Problem::NoSuchServer(c.clone())));
            }
        }
    }
    check_upgrader(desc)
}

/// At most [`MAX_UPGRADABLE`] upgradable servers; at most one upgrader, which calls the
/// supervisor and has room for its grants.
fn check_upgrader(desc: &ImageDescription) -> Result<(), Invalid> {
    let upgradable = desc.upgradable().count();
    if upgradable > MAX_UPGRADABLE {
        let i = desc.upgradable().nth(MAX_UPGRADABLE).unwrap_or(0);
        return Err(Invalid {
            server: Some((i, desc.servers[i].name.clone())),
            field: "upgrades",
            problem: Problem::TooManyUpgradable {
                given: upgradable,
                max: MAX_UPGRADABLE,
            },
        });
    }
    let mut first: Option<&ServerDesc> = None;
    for (i, s) in desc.servers.iter().enumerate() {
        if !s.upgrader {
            continue;
        }
        let err = |problem: Problem| Invalid {
            server: Some((i, s.name.clone())),
            field: "upgrader",
            problem,
        };
        if let Some(other) = first {
            return Err(err(Problem::SecondUpgrader(other.name.clone())));
        }
        first = Some(s);
        if !s.calls.iter().any(|c| c == SUPERVISOR_ENDPOINT) {
            return Err(err(Problem::UpgraderNeedsSupervisor));
        }
    }
    Ok(())
}

/// Bytes the postcard encoding of a [`ServerDesc`] takes at most.
const MAX_SERVER_ENCODED_LEN: usize = {
    let name = 1 + 24; // length varint + bytes
    let program = 1 + PROGRAM_MAX_LEN;
    let u16_varint = 3;
    name + program
        + 1 // priority
        + 2 * u16_varint // stack_pages, heap_pages
        + (1 + MAX_ENDPOINTS * name)
        + (1 + MAX_CALLS * name)
        + (1 + name) // fault_handler: variant + name
        + (1 + MAX_CONTROLS * name)
        + 3 // untyped_bits, own_cnode, poweroff
        + (1 + MAX_DEVICES * name)
        + 1 + 1 + 1 + 5 // transactional, tx_pool_pages, restart_after, request_budget_ms (varint)
        + 1 // snapshot
        + 1 // verify
        + (1 + MAX_UPGRADES * (1 + PROGRAM_MAX_LEN)) // upgrades
        + 1 // upgrader
        + 1 // threads
        + (1 + MAX_PATCHES * program)
};

/// Bytes the postcard encoding of any [`ImageDescription`] takes at most: a buffer of this size
/// always suffices for [`encode`].
pub const MAX_ENCODED_LEN: usize = (1 + 24)
    + 1
    + MAX_SERVERS * MAX_SERVER_ENCODED_LEN
    + 1
    + MAX_SHARED * MAX_SHARED_ENCODED_LEN
    + 1;
/// Bytes one [`SharedRegion`] takes at most: its name, its pages (a varint) and two names.
const MAX_SHARED_ENCODED_LEN: usize = (1 + 24) + 3 + 2 * (1 + 24);

/// Encodes `desc` with postcard into `buf` and returns the used part.
pub fn encode<'a>(
    desc: &ImageDescription,
    buf: &'a mut [u8],
) -> Result<&'a mut [u8], postcard::Error> {
    postcard::to_slice(desc, buf)
}

/// Why [`decode`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a postcard-encoded description.
    Postcard(postcard::Error),
    /// Bytes left over after the description.
    TrailingBytes(usize),
    /// Well-formed but breaks a rule.
    Invalid(Invalid),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Postcard(e) => write!(f, "malformed image description: {e}"),
            DecodeError::TrailingBytes(n) => {
                write!(f, "malformed image description: {n} bytes after its end")
            }
            DecodeError::Invalid(e) => write!(f, "invalid image description: {e}"),
        }
    }
}

/// Decodes a postcard-encoded description and checks it ([`validate`]).
pub fn decode(bytes: &[u8]) -> Result<ImageDescription, DecodeError> {
    let (desc, rest) =
        postcard::take_from_bytes::<ImageDescription>(bytes).map_err(DecodeError::Postcard)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    validate(&desc).map_err(DecodeError::Invalid)?;
    Ok(desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::try_from(s).unwrap()
    }

    fn server(n: &str) -> ServerDesc {
        ServerDesc {
            name: name(n),
            program: ProgramName::try_from(n).unwrap(),
            priority: DEFAULT_PRIORITY,
            stack_pages: DEFAULT_STACK_PAGES,
            heap_pages: DEFAULT_HEAP_PAGES,
            endpoints: heapless::Vec::new(),
            calls: heapless::Vec::new(),
            fault_handler: FaultHandler::Supervisor,
            controls: heapless::Vec::new(),
            untyped_bits: 0,
            own_cnode: false,
            poweroff: false,
            devices: heapless::Vec::new(),
            transactional: false,
            tx_pool_pages: DEFAULT_TX_POOL_PAGES,
            restart_after: DEFAULT_RESTART_AFTER,
            request_budget_ms: 0,
            snapshot: false,
            verify: false,
            upgrades: heapless::Vec::new(),
            upgrader: false,
            threads: 1,
            patches: heapless::Vec::new(),
        }
    }

    fn pingpong() -> ImageDescription {
        let mut pong = server("pong");
        pong.endpoints.push(name("pong")).unwrap();
        let mut ping = server("ping");
        ping.calls.push(name("pong")).unwrap();
        ping.fault_handler = FaultHandler::Endpoint(name("pong"));
        ping.controls.push(name("pong")).unwrap();
        ping.untyped_bits = 16;
        ping.own_cnode = true;
        ping.poweroff = true;
        ping.heap_pages = 4096;
        ping.stack_pages = 256;
        ping.devices.push(name("uart")).unwrap();
        let mut servers = heapless::Vec::new();
        servers.push(pong).unwrap();
        servers.push(ping).unwrap();
        ImageDescription {
            name: name("demo"),
            servers,
            shared: heapless::Vec::new(),
            debug_root_task_fault: DebugRootTaskFault::Never,
        }
    }

    #[test]
    fn round_trip() {
        let desc = pingpong();
        assert_eq!(desc.validate(), Ok(()));
        let mut buf = [0u8; MAX_ENCODED_LEN];
        let bytes = encode(&desc, &mut buf).unwrap();
        assert_eq!(decode(bytes), Ok(desc));
    }

    #[test]
    fn decode_rejects_garbage_and_trailing_bytes() {
        let desc = pingpong();
        let mut buf = [0u8; MAX_ENCODED_LEN];
        let len = encode(&desc, &mut buf).unwrap().len();
        assert!(matches!(
            decode(&buf[..len - 3]),
            Err(DecodeError::Postcard(_))
        ));
        assert_eq!(decode(&buf[..len + 2]), Err(DecodeError::TrailingBytes(2)));
    }

    #[test]
    fn decode_validates() {
        let mut desc = pingpong();
        desc.servers[1].priority = 255;
        let mut buf = [0u8; MAX_ENCODED_LEN];
        let bytes = encode(&desc, &mut buf).unwrap();
        let err = decode(bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid image description: server[1].priority: 255 is out of range 1..=254"
        );
    }

    #[test]
    fn max_encoded_len_is_tight() {
        let long = "a".repeat(24);
        let mut s = server("x");
        s.name = name(&long);
        s.program = ProgramName::try_from("p".repeat(PROGRAM_MAX_LEN).as_str()).unwrap();
        s.stack_pages = u16::MAX;
        s.heap_pages = u16::MAX;
        s.fault_handler = FaultHandler::Endpoint(name(&long));
        for _ in 0..MAX_ENDPOINTS {
            s.endpoints.push(name(&long)).unwrap();
        }
        for _ in 0..MAX_CALLS {
            s.calls.push(name(&long)).unwrap();
            s.controls.push(name(&long)).unwrap();
        }
        // Encoded length only: real device names are short and known.
        for _ in 0..MAX_DEVICES {
            s.devices.push(name(&long)).unwrap();
        }
        s.transactional = true;
        s.tx_pool_pages = u8::MAX;
        s.restart_after = u8::MAX;
        s.request_budget_ms = u32::MAX;
        s.snapshot = true;
        for _ in 0..MAX_UPGRADES {
            s.upgrades
                .push(ProgramName::try_from("u".repeat(PROGRAM_MAX_LEN).as_str()).unwrap())
                .unwrap();
        }
        s.upgrader = true;
        s.threads = u8::MAX;
        for _ in 0..MAX_PATCHES {
            s.patches
                .push(ProgramName::try_from("q".repeat(PROGRAM_MAX_LEN).as_str()).unwrap())
                .unwrap();
        }
        let mut servers = heapless::Vec::new();
        for _ in 0..MAX_SERVERS {
            servers.push(s.clone()).unwrap();
        }
        let region = SharedRegion {
            name: name(&long),
            pages: u16::MAX,
            servers: [name(&long), name(&long)],
        };
        let mut shared = heapless::Vec::new();
        for _ in 0..MAX_SHARED {
            shared.push(region.clone()).unwrap();
        }
        let desc = ImageDescription {
            name: name(&long),
            servers,
            shared,
            debug_root_task_fault: DebugRootTaskFault::AfterStart,
        };
        let mut buf = [0u8; MAX_ENCODED_LEN + 64];
        assert_eq!(encode(&desc, &mut buf).unwrap().len(), MAX_ENCODED_LEN);
        let mut small = [0u8; 64];
        assert!(encode(&desc, &mut small).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(check_name("ping-2"), Ok(()));
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        assert_eq!(check_name("Ping"), Err(NameProblem::BadChar('P')));
        assert_eq!(check_name("a_b"), Err(NameProblem::BadChar('_')));
        assert_eq!(
            check_name(&"a".repeat(24)),
            Err(NameProblem::TooLong { len: 24, max: 23 })
        );
        assert_eq!(check_name(&"a".repeat(23)), Ok(()));
        assert_eq!(check_program("ipc_test-2"), Ok(()));
        assert_eq!(check_program("2ping"), Err(NameProblem::BadStart('2')));
        assert_eq!(check_program("a.b"), Err(NameProblem::BadChar('.')));
        assert_eq!(
            check_program(&"a".repeat(33)),
            Err(NameProblem::TooLong { len: 33, max: 32 })
        );
    }

    #[test]
    fn reference_rules() {
        let check = |f: &dyn Fn(&mut ImageDescription)| {
            let mut d = pingpong();
            f(&mut d);
            d.validate().map_err(|e| e.to_string())
        };
        assert_eq!(check(&|_| ()), Ok(()));
        assert_eq!(
            check(&|d| d.servers[1].calls[0] = name("pongg")),
            Err("server 'ping': calls: no server has an endpoint named 'pongg'".into())
        );
        assert_eq!(
            check(&|d| d.servers[1].name = name("pong")),
            Err("server[1].name: server[0] already has this name".into())
        );
        assert_eq!(
            check(&|d| d.servers[1].endpoints.push(name("pong")).unwrap()),
            Err(
                "server 'ping': endpoints: 'pong' is already an endpoint of server 'pong' \
                 (endpoint names are unique in an image)"
                    .into()
            )
        );
        assert_eq!(
            check(&|d| d.servers[1].controls[0] = name("ping")),
            Err("server 'ping': controls: a server cannot control itself".into())
        );
        assert_eq!(
            check(&|d| d.servers[1].controls[0] = name("pang")),
            Err("server 'ping': controls: no server is named 'pang'".into())
        );
        assert_eq!(
            check(&|d| d.servers[1].fault_handler = FaultHandler::Endpoint(name("pang"))),
            Err("server 'ping': fault_handler: no server has an endpoint named 'pang'".into())
        );
        assert_eq!(
            check(&|d| d.servers[0].fault_handler = FaultHandler::Endpoint(name("pong"))),
            Err(
                "server 'pong': fault_handler: 'pong' is this server's own endpoint; \
                 a server cannot handle its own faults"
                    .into()
            )
        );
        assert_eq!(
            check(&|d| d.servers[1].calls.push(name("pong")).unwrap()),
            Err("server[1].calls: 'pong' is listed twice".into())
        );
        // The supervisor's endpoint may be called (nobody receives on it), but not twice, and
        // `none` is no endpoint.
        assert_eq!(
            check(&|d| d.servers[1].calls.push(name("supervisor")).unwrap()),
            Ok(())
        );
        assert_eq!(
            check(&|d| {
                d.servers[1].calls.push(name("supervisor")).unwrap();
                d.servers[1].calls.push(name("supervisor")).unwrap();
            }),
            Err("server[1].calls: 'supervisor' is listed twice".into())
        );
        assert_eq!(
            check(&|d| d.servers[0].calls.push(name("none")).unwrap()),
            Err("server 'pong': calls: no server has an endpoint named 'none'".into())
        );
        assert_eq!(
            check(&|d| d.servers[0].endpoints[0] = name("none")),
            Err(
                "server[0].endpoints: 'none' is reserved (fault_handler uses it) and cannot \
                 name an endpoint"
                    .into()
            )
        );
        assert_eq!(
            check(&|d| d.servers[1].untyped_bits = 11),
            Err("server[1].untyped_bits: 11 is neither 0 (no untyped) nor in range 12..=24".into())
        );
        assert_eq!(
            check(&|d| d.servers[1].stack_pages = 0),
            Err("server[1].stack_pages: 0 is out of range 1..=256".into())
        );
        assert_eq!(
            check(&|d| d.servers[1].heap_pages = 4097),
            Err("server[1].heap_pages: 4097 is out of range 0..=4096".into())
        );
        assert_eq!(
            check(&|d| d.servers.clear()),
            Err("server: an image needs at least one [[server]]".into())
        );
        assert_eq!(
            check(&|d| d.name = name("")),
            Err("image.name: must not be empty".into())
        );
    }

    #[test]
    fn device_rules() {
        let check = |f: &dyn Fn(&mut ImageDescription)| {
            let mut d = pingpong();
            f(&mut d);
            d.validate().map_err(|e| e.to_string())
        };
        assert_eq!(
            check(&|d| d.servers[0].devices.push(name("timer")).unwrap()),
            Ok(())
        );
        assert_eq!(
            check(&|d| d.servers[1].devices[0] = name("uartt")),
            Err(
                "server[1].devices: unknown device 'uartt', expected one of 'uart', 'timer', 'net'"
                    .into()
            )
        );
        assert_eq!(
            check(&|d| d.servers[1].devices.push(name("uart")).unwrap()),
            Err("server[1].devices: 'uart' is listed twice".into())
        );
        assert_eq!(
            check(&|d| d.servers[0].devices.push(name("uart")).unwrap()),
            Err(
                "server 'ping': devices: device 'uart' is already granted to server 'pong' \
                 (a device goes to one server at most)"
                    .into()
            )
        );
    }
}
