//! The TOML form of image descriptions (host only).
//!
//! ```toml
//! [image]
//! name = "demo"                  # required
//! description = "..."            # optional, host only
//! debug_root_task_fault = "never" # debug only: "after-start" makes the root task fault (a test)
//!
//! [[server]]
//! name = "pong"                  # required
//! program = "pong"               # required
//! priority = 100                 # 1..=254
//! stack_pages = 4                # 1..=256
//! heap_pages = 0                 # 0..=4096
//! endpoints = ["pong"]
//! calls = []                     # endpoints it calls; "supervisor" is the root task's
//! fault_handler = "supervisor"   # "supervisor" | "none" | an endpoint name
//! controls = []
//! untyped_bits = 0               # 0 or 12..=24
//! own_cnode = false
//! poweroff = false
//! devices = []                   # platform devices it drives: "uart", "timer" (at most 4)
//! transactional = false          # every request is a transaction over data, heap and stack
//! tx_pool_pages = 31             # 1..=127: the most pages one request may dirty
//! restart_after = 3              # 1..=100: consecutive aborts before a restart
//! request_budget_ms = 0          # 0..=60000: a longer request is aborted (0: no budget)
//! snapshot = false               # snapshot storage for its region (needs transactional):
//!                                # snapshot::v1, and restarts from the last snapshot
//! verify = false                 # verified transactions (needs transactional): every request
//!                                # runs twice and commits only if both runs agree
//! upgrades = []                  # programs it can be upgraded to live (at most 4): they go in
//!                                # the boot archive, and it gets an upgrade control endpoint
//! upgrader = false               # the image's upgrader (servers/upgrader): badge-0 calls of
//!                                # every upgradable server, and lifecycle::v1 at the supervisor
//! threads = 1                    # 1..=16 threads serving its endpoints (more: not transactional)
//! patches = []                   # programs it may be patched to, wait-free (same data layout)
//!
//! [[shared]]                     # optional, at most 4: memory two servers both map
//! name = "netbuf"
//! pages = 97                     # 1..=256 (512 in all)
//! servers = ["tcpip", "resp"]    # exactly two, neither transactional
//!
//! [test]                         # optional, host only (QEMU scenario tests)
//! expect = ["line", "..."]       # substrings of output lines, in order
//! exit_code = 0
//! timeout_s = 30
//! arches = ["aarch64", "x86_64"]
//! input = "help\npoweroff\n"     # typed on the console: fed to QEMU's standard input
//! net = false                    # a virtio-net device, a host port forwarded to guest port 6379
//! host = "redis-cli -p $PORT ping" # a host script, run once an output line has host_after
//! host_after = "serves RESP"     # (it may type on the console through $AXOLOTL_CONSOLE)
//! ```
//!
//! The file is read into private serde structs with std types (unknown fields are rejected), then
//! converted field by field into the heapless types with explicit checks, then the references
//! between servers are checked. Every error is one line naming the file and the field.

use crate::{
    DEFAULT_HEAP_PAGES, DEFAULT_PRIORITY, DEFAULT_RESTART_AFTER, DEFAULT_STACK_PAGES,
    DEFAULT_TX_POOL_PAGES, FaultHandler, HEAP_PAGES_MAX, ImageDescription, Invalid, MAX_CALLS,
    MAX_CONTROLS, MAX_DEVICES, MAX_ENDPOINTS, MAX_PATCHES, MAX_SERVERS, MAX_UPGRADES, Name,
    PRIORITY_MAX, PRIORITY_MIN, Problem, ProgramName, REQUEST_BUDGET_MS_MAX,
    RESERVED_ENDPOINT_NAMES, RESTART_AFTER_MAX, STACK_PAGES_MAX, STACK_PAGES_MIN, ServerDesc,
    THREADS_MAX, TX_POOL_PAGES_MAX, check_device_list, check_name, check_patches, check_program,
    check_range, check_references, check_snapshot, check_threads, check_untyped_bits,
    check_upgrades, check_verify, first_repeated,
};
use axolotl_abi::Arch;
use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// The default `[test] timeout_s`.
pub const DEFAULT_TIMEOUT_S: u64 = 30;
/// The longest `[test] timeout_s`.
pub const MAX_TIMEOUT_S: u64 = 3600;
/// The largest `[test] exit_code`: x86's isa-debug-exit reports only 7 bits.
pub const MAX_EXIT_CODE: i32 = 127;

/// The host-only `[test]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSpec {
    /// Substrings that must appear in output lines, each in a later line than the previous one.
    pub expect: Vec<String>,
    /// The guest's exit status.
    pub exit_code: i32,
    pub timeout_s: u64,
    /// The architectures the scenario runs on.
    pub arches: Vec<Arch>,
    /// Bytes typed on the console: written to QEMU's standard input (the first serial port)
    /// right after it starts (with `host`: after the host script ends). `None`: nothing is typed.
    pub input: Option<String>,
    /// Boot with a virtio-net device on QEMU user networking; the host port forwarded to the
    /// guest's port 6379 is `$PORT` in the `host` script.
    pub net: bool,
    /// A shell script (`sh -c`) run on the host once an output line contains `host_after`: it
    /// can reach the guest (`$PORT`) and type on its console (write to `$AXOLOTL_CONSOLE`); its
    /// output joins the guest's, each line prefixed `[host] `, and the last line says
    /// `[host] exit status N`.
    pub host: Option<String>,
    /// The output the host script waits for (required with `host`).
    pub host_after: Option<String>,
}

impl Default for TestSpec {
    /// What an empty `[test]` table means.
    fn default() -> TestSpec {
        TestSpec {
            expect: Vec::new(),
            exit_code: 0,
            timeout_s: DEFAULT_TIMEOUT_S,
            arches: vec![Arch::Aarch64, Arch::X86_64],
            input: None,
            net: false,
            host: None,
            host_after: None,
        }
    }
}

/// A description that cannot be read, parsed or checked. Its `Display` is one line:
/// `<file>: [line N: ]<message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError {
    pub file: String,
    /// For syntax errors and fields of the wrong type or name.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ImageError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    image: RawImage,
    #[serde(default)]
    server: Vec<RawServer>,
    #[serde(default)]
    shared: Vec<RawShared>,
    test: Option<RawTest>,
}

/// A `[[shared]]` table (see [`crate::shared`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShared {
    name: String,
    pages: i64,
    servers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    debug_root_task_fault: RawRootTaskFault,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
enum RawRootTaskFault {
    #[default]
    Never,
    AfterStart,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: String,
    program: String,
    priority: Option<i64>,
    stack_pages: Option<i64>,
    heap_pages: Option<i64>,
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    calls: Vec<String>,
    fault_handler: Option<String>,
    #[serde(default)]
    controls: Vec<String>,
    untyped_bits: Option<i64>,
    #[serde(default)]
    own_cnode: bool,
    #[serde(default)]
    poweroff: bool,
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    transactional: bool,
    tx_pool_pages: Option<i64>,
    restart_after: Option<i64>,
    request_budget_ms: Option<i64>,
    #[serde(default)]
    snapshot: bool,
    #[serde(default)]
    verify: bool,
    #[serde(default)]
    upgrades: Vec<String>,
    #[serde(default)]
    upgrader: bool,
    threads: Option<i64>,
    #[serde(default)]
    patches: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    #[serde(default)]
    expect: Vec<String>,
    exit_code: Option<i64>,
    timeout_s: Option<i64>,
    arches: Option<Vec<String>>,
    input: Option<String>,
    #[serde(default)]
    net: bool,
    host: Option<String>,
    host_after: Option<String>,
}

/// Reads and parses a description; errors name the file as `path` is written.
pub fn load(path: &Path) -> Result<(ImageDescription, Option<TestSpec>), ImageError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ImageError {
        file: label.clone(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(&label, &text)
}

/// Parses and checks a description. `file_label` names the file in errors.
pub fn parse(
    file_label: &str,
    text: &str,
) -> Result<(ImageDescription, Option<TestSpec>), ImageError> {
    let error = |message: String| ImageError {
        file: file_label.to_string(),
        line: None,
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| ImageError {
        file: file_label.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: one_line(e.message()),
    })?;

    let name = convert_name(&raw.image.name).map_err(|p| error(format!("image.name: {p}")))?;
    if raw.server.is_empty() {
        return Err(error(format!("server: {}", Problem::NoServers)));
    }
    if raw.server.len() > MAX_SERVERS {
        return Err(error(format!(
            "server: {}",
            Problem::TooMany {
                given: raw.server.len(),
                max: MAX_SERVERS
            }
        )));
    }
    let mut servers = heapless::Vec::new();
    for (i, s) in raw.server.iter().enumerate() {
        let server = convert_server(s)
            .map_err(|(field, problem)| error(format!("server[{i}].{field}: {problem}")))?;
        // Cannot fail: at most MAX_SERVERS, checked above.
        let _ = servers.push(server);
    }
    let debug_root_task_fault = match raw.image.debug_root_task_fault {
        RawRootTaskFault::Never => crate::DebugRootTaskFault::Never,
        RawRootTaskFault::AfterStart => crate::DebugRootTaskFault::AfterStart,
    };
    if raw.shared.len() > crate::MAX_SHARED {
        return Err(error(format!(
            "shared: {}",
            Problem::TooMany {
                given: raw.shared.len(),
                max: crate::MAX_SHARED
            }
        )));
    }
    let mut shared = heapless::Vec::new();
    for (i, r) in raw.shared.iter().enumerate() {
        let region = convert_shared(r)
            .map_err(|(field, problem)| error(format!("shared[{i}].{field}: {problem}")))?;
        let _ = shared.push(region);
    }
    let desc = ImageDescription {
        name,
        servers,
        shared,
        debug_root_task_fault,
    };
    check_references(&desc).map_err(|e: Invalid| error(e.to_string()))?;
    crate::shared::check(&desc).map_err(|e: Invalid| error(e.to_string()))?;

    let test = raw
        .test
        .map(|t| convert_test(&t))
        .transpose()
        .map_err(|(field, message)| error(format!("test.{field}: {message}")))?;
    Ok((desc, test))
}

/// One `[[shared]]` table, its fields on their own (names, sizes); what relates it to the
/// servers is [`crate::shared`]'s check.
fn convert_shared(r: &RawShared) -> Result<crate::SharedRegion, (&'static str, Problem)> {
    let name = convert_name(&r.name).map_err(|p| ("name", p))?;
    let max = i64::from(crate::shared::SHARED_PAGES_MAX);
    if !(1..=max).contains(&r.pages) {
        return Err((
            "pages",
            Problem::OutOfRange {
                value: r.pages,
                min: 1,
                max,
            },
        ));
    }
    let [a, b] = r.servers.as_slice() else {
        return Err((
            "servers",
            Problem::Shared(crate::shared::SharedProblem::NotTwo(r.servers.len())),
        ));
    };
    let a = convert_name(a).map_err(|p| ("servers", p))?;
    let b = convert_name(b).map_err(|p| ("servers", p))?;
    Ok(crate::SharedRegion {
        name,
        pages: r.pages as u16,
        servers: [a, b],
    })
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// toml's messages quote with backticks and may span lines; make them one plain line, without
/// the raw structs' Rust types.
fn one_line(message: &str) -> String {
    message
        .replace('`', "'")
        .replace("expected i64", "expected an integer")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn convert_name(s: &str) -> Result<Name, Problem> {
    check_name(s).map_err(Problem::BadName)?;
    Ok(Name::try_from(s).expect("checked length"))
}

fn convert_list<const N: usize>(names: &[String]) -> Result<heapless::Vec<Name, N>, Problem> {
    if names.len() > N {
        return Err(Problem::TooMany {
            given: names.len(),
            max: N,
        });
    }
    let mut out = heapless::Vec::new();
    for n in names {
        let _ = out.push(convert_name(n)?);
    }
    if let Some(n) = first_repeated(&out) {
        return Err(Problem::Repeated(n.clone()));
    }
    Ok(out)
}

fn convert_number(value: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64, Problem> {
    let value = value.unwrap_or(default);
    check_range(value, min, max)?;
    Ok(value)
}

fn convert_server(s: &RawServer) -> Result<ServerDesc, (&'static str, Problem)> {
    let name = convert_name(&s.name).map_err(|p| ("name", p))?;
    check_program(&s.program).map_err(|p| ("program", Problem::BadName(p)))?;
    let program = ProgramName::try_from(s.program.as_str()).expect("checked length");
    let priority = convert_number(
        s.priority,
        DEFAULT_PRIORITY.into(),
        PRIORITY_MIN.into(),
        PRIORITY_MAX.into(),
    )
    .map_err(|p| ("priority", p))?;
    let stack_pages = convert_number(
        s.stack_pages,
        DEFAULT_STACK_PAGES.into(),
        STACK_PAGES_MIN.into(),
        STACK_PAGES_MAX.into(),
    )
    .map_err(|p| ("stack_pages", p))?;
    let heap_pages = convert_number(
        s.heap_pages,
        DEFAULT_HEAP_PAGES.into(),
        0,
        HEAP_PAGES_MAX.into(),
    )
    .map_err(|p| ("heap_pages", p))?;
    let endpoints = convert_list::<MAX_ENDPOINTS>(&s.endpoints).map_err(|p| ("endpoints", p))?;
    if let Some(e) = endpoints
        .iter()
        .find(|e| RESERVED_ENDPOINT_NAMES.contains(&e.as_str()))
    {
        return Err(("endpoints", Problem::ReservedEndpoint(e.clone())));
    }
    let calls = convert_list::<MAX_CALLS>(&s.calls).map_err(|p| ("calls", p))?;
    let fault_handler = match s.fault_handler.as_deref() {
        None | Some("supervisor") => FaultHandler::Supervisor,
        Some("none") => FaultHandler::None,
        Some(e) => FaultHandler::Endpoint(convert_name(e).map_err(|p| ("fault_handler", p))?),
    };
    let controls = convert_list::<MAX_CONTROLS>(&s.controls).map_err(|p| ("controls", p))?;
    let untyped_bits = s.untyped_bits.unwrap_or(0);
    check_untyped_bits(untyped_bits).map_err(|p| ("untyped_bits", p))?;
    let devices = convert_list::<MAX_DEVICES>(&s.devices).map_err(|p| ("devices", p))?;
    check_device_list(&devices).map_err(|p| ("devices", p))?;
    let tx_pool_pages = convert_number(
        s.tx_pool_pages,
        DEFAULT_TX_POOL_PAGES.into(),
        1,
        TX_POOL_PAGES_MAX.into(),
    )
    .map_err(|p| ("tx_pool_pages", p))?;
    let restart_after = convert_number(
        s.restart_after,
        DEFAULT_RESTART_AFTER.into(),
        1,
        RESTART_AFTER_MAX.into(),
    )
    .map_err(|p| ("restart_after", p))?;
    let request_budget_ms = convert_number(s.request_budget_ms, 0, 0, REQUEST_BUDGET_MS_MAX.into())
        .map_err(|p| ("request_budget_ms", p))?;
    let desc = ServerDesc {
        name,
        program,
        priority: priority as u8,
        stack_pages: stack_pages as u16,
        heap_pages: heap_pages as u16,
        endpoints,
        calls,
        fault_handler,
        controls,
        untyped_bits: untyped_bits as u8,
        own_cnode: s.own_cnode,
        poweroff: s.poweroff,
        devices,
        transactional: s.transactional,
        tx_pool_pages: tx_pool_pages as u8,
        restart_after: restart_after as u8,
        request_budget_ms: request_budget_ms as u32,
        snapshot: s.snapshot,
        verify: s.verify,
        upgrades: convert_upgrades(&s.upgrades).map_err(|p| ("upgrades", p))?,
        upgrader: s.upgrader,
        threads: convert_number(s.threads, 1, 1, THREADS_MAX.into()).map_err(|p| ("threads", p))?
            as u8,
        patches: convert_programs(&s.patches).map_err(|p| ("patches", p))?,
    };
    check_snapshot(&desc).map_err(|p| ("snapshot", p))?;
    check_verify(&desc).map_err(|p| ("verify", p))?;
    check_upgrades(&desc).map_err(|p| ("upgrades", p))?;
    check_threads(&desc).map_err(|p| ("threads", p))?;
    check_patches(&desc).map_err(|p| ("patches", p))?;
    Ok(desc)
}

fn convert_upgrades(
    programs: &[String],
) -> Result<heapless::Vec<ProgramName, MAX_UPGRADES>, Problem> {
    if programs.len() > MAX_UPGRADES {
        return Err(Problem::TooMany {
            given: programs.len(),
            max: MAX_UPGRADES,
        });
    }
    let mut out = heapless::Vec::new();
    for p in programs {
        check_program(p).map_err(Problem::BadName)?;
        let _ = out.push(ProgramName::try_from(p.as_str()).expect("checked length"));
    }
    Ok(out)
}

/// A list of program names (`patches`): each well-formed, at most [`MAX_PATCHES`].
fn convert_programs(names: &[String]) -> Result<heapless::Vec<ProgramName, MAX_PATCHES>, Problem> {
    if names.len() > MAX_PATCHES {
        return Err(Problem::TooMany {
            given: names.len(),
            max: MAX_PATCHES,
        });
    }
    let mut out = heapless::Vec::new();
    for n in names {
        check_program(n).map_err(Problem::BadName)?;
        let _ = out.push(ProgramName::try_from(n.as_str()).expect("checked length"));
    }
    Ok(out)
}

fn convert_test(t: &RawTest) -> Result<TestSpec, (&'static str, String)> {
    if let Some(i) = t.expect.iter().position(|e| e.trim().is_empty()) {
        return Err((
            "expect",
            format!("entry {i} is empty (it would match any line)"),
        ));
    }
    if t.input.as_deref() == Some("") {
        return Err((
            "input",
            "is empty; leave it out when nothing is typed".into(),
        ));
    }
    if t.host.is_some() != t.host_after.is_some() {
        return Err((
            "host",
            "host and host_after go together (the script waits for host_after)".into(),
        ));
    }
    if let Some(i) = t.expect.iter().position(|e| e.contains('\n')) {
        return Err((
            "expect",
            format!("entry {i} spans lines; each entry matches within one output line"),
        ));
    }
    let exit_code = convert_number(t.exit_code, 0, 0, MAX_EXIT_CODE.into()).map_err(|p| {
        (
            "exit_code",
            format!("{p} (x86's isa-debug-exit reports 7 bits)"),
        )
    })?;
    let timeout_s = convert_number(
        t.timeout_s,
        DEFAULT_TIMEOUT_S as i64,
        1,
        MAX_TIMEOUT_S as i64,
    )
    .map_err(|p| ("timeout_s", p.to_string()))?;
    let arches = match &t.arches {
        None => vec![Arch::Aarch64, Arch::X86_64],
        Some(names) => {
            if names.is_empty() {
                return Err((
                    "arches",
                    "is empty; leave it out to run on every architecture".into(),
                ));
            }
            let mut arches = Vec::new();
            for n in names {
                let arch = Arch::from_name(n).ok_or_else(|| {
                    (
                        "arches",
                        format!("unknown architecture '{n}', expected 'aarch64' or 'x86_64'"),
                    )
                })?;
                if arches.contains(&arch) {
                    return Err(("arches", format!("'{n}' is listed twice")));
                }
                arches.push(arch);
            }
            arches
        }
    };
    Ok(TestSpec {
        expect: t.expect.clone(),
        exit_code: exit_code as i32,
        timeout_s: timeout_s as u64,
        arches,
        input: t.input.clone(),
        net: t.net,
        host: t.host.clone(),
        host_after: t.host_after.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_ENCODED_LEN, decode, encode};

    const DEMO: &str = include_str!("../demo.toml");

    const GOOD: &str = r#"
[image]
name = "pingpong"
description = "two servers"

[[server]]
name = "pong"
program = "pong"
endpoints = ["pong"]

[[server]]
name = "ping"
program = "ping"
priority = 120
stack_pages = 8
heap_pages = 16
calls = ["pong"]
fault_handler = "pong"
controls = ["pong"]
untyped_bits = 20
own_cnode = true
poweroff = true
devices = ["uart", "timer"]

[test]
expect = ["ping: got 1", "ping: done"]
exit_code = 3
timeout_s = 10
arches = ["aarch64"]
input = "ps\npoweroff\n"
"#;

    /// Parses `text` and returns the error line.
    fn err(text: &str) -> String {
        parse("t.toml", text).unwrap_err().to_string()
    }

    /// A one-server image with extra lines in its server table.
    fn one(server_lines: &str) -> String {
        format!(
            "[image]\nname = \"x\"\n\n[[server]]\nname = \"a\"\nprogram = \"a\"\nendpoints = [\"a\"]\n{server_lines}\n"
        )
    }

    /// GOOD with one replacement made.
    fn good_with(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    }

    #[test]
    fn demo_parses() {
        let (desc, test) = parse("images/demo.toml", DEMO).unwrap();
        assert_eq!(desc.name, "demo");
        let names: Vec<&str> = desc.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["console", "timer", "name", "kv", "upgrader", "shell"]
        );
        for s in &desc.servers {
            // Each server is the program of its name (kv and name: their live-upgradable builds,
            // kv2 and name1) and serves the endpoint of its name.
            let program = match s.name.as_str() {
                "kv" => "kv2",
                "name" => "name1",
                other => other,
            };
            assert_eq!(s.program, program);
            if s.name != "shell" {
                assert_eq!(s.endpoints, [s.name.as_str()], "{}", s.name);
            }
            assert_eq!(s.fault_handler, FaultHandler::Supervisor);
        }
        assert_eq!(desc.server("console").unwrap().devices, ["uart"]);
        assert_eq!(desc.server("timer").unwrap().devices, ["timer"]);
        assert!(desc.server("kv").unwrap().transactional);
        let shell = desc.server("shell").unwrap();
        assert_eq!(
            shell.calls,
            ["console", "kv", "supervisor", "timer", "upgrader"]
        );
        assert_eq!(desc.server("kv").unwrap().upgrades, ["kv2", "kv3"]);
        assert_eq!(desc.server("name").unwrap().upgrades, ["name2"]);
        assert!(shell.poweroff && shell.endpoints.is_empty());
        assert!(test.is_none());
    }

    /// The shell scenarios boot exactly the demo's servers, so that they test what
    /// `cargo xtask run` boots.
    #[test]
    fn the_shell_scenarios_run_the_demo() {
        let (demo, _) = parse("images/demo.toml", DEMO).unwrap();
        for (name, scenario) in [
            (
                "shell-session.toml",
                include_str!("../../tests/scenarios/shell-session.toml"),
            ),
            (
                "shell-inject.toml",
                include_str!("../../tests/scenarios/shell-inject.toml"),
            ),
        ] {
            let (desc, test) = parse(name, scenario).unwrap();
            assert_eq!(desc.servers, demo.servers, "{name}");
            assert!(test.unwrap().input.is_some());
        }
    }

    #[test]
    fn good_parses_with_every_field() {
        let (desc, test) = parse("t.toml", GOOD).unwrap();
        assert_eq!(desc.name, "pingpong");
        assert_eq!(desc.servers.len(), 2);
        let pong = &desc.servers[0];
        assert_eq!(pong.priority, DEFAULT_PRIORITY);
        assert_eq!(pong.stack_pages, DEFAULT_STACK_PAGES);
        assert_eq!(pong.heap_pages, DEFAULT_HEAP_PAGES);
        assert_eq!(pong.untyped_bits, 0);
        assert!(!pong.own_cnode && !pong.poweroff);
        assert!(pong.calls.is_empty() && pong.controls.is_empty());
        let ping = &desc.servers[1];
        assert_eq!(ping.priority, 120);
        assert_eq!(ping.stack_pages, 8);
        assert_eq!(ping.heap_pages, 16);
        assert_eq!(
            ping.fault_handler,
            FaultHandler::Endpoint("pong".try_into().unwrap())
        );
        assert_eq!(ping.controls, ["pong"]);
        assert_eq!(ping.untyped_bits, 20);
        assert!(ping.own_cnode && ping.poweroff);
        assert_eq!(ping.devices, ["uart", "timer"]);
        assert!(pong.devices.is_empty());
        assert_eq!(
            test,
            Some(TestSpec {
                expect: vec!["ping: got 1".into(), "ping: done".into()],
                exit_code: 3,
                timeout_s: 10,
                arches: vec![Arch::Aarch64],
                input: Some("ps\npoweroff\n".into()),
                net: false,
                host: None,
                host_after: None,
            })
        );
    }

    #[test]
    fn test_table_defaults() {
        let (_, test) = parse("t.toml", &(one("") + "[test]\n")).unwrap();
        assert_eq!(
            test,
            Some(TestSpec {
                expect: vec![],
                exit_code: 0,
                timeout_s: DEFAULT_TIMEOUT_S,
                arches: vec![Arch::Aarch64, Arch::X86_64],
                input: None,
                net: false,
                host: None,
                host_after: None,
            })
        );
        assert_eq!(test, Some(TestSpec::default()));
        let (_, test) = parse(
            "t.toml",
            &(one("") + "[test]\nnet = true\nhost = \"true\"\nhost_after = \"ready\"\n"),
        )
        .unwrap();
        let test = test.unwrap();
        assert!(test.net);
        assert_eq!(test.host.as_deref(), Some("true"));
        assert_eq!(test.host_after.as_deref(), Some("ready"));
        assert!(parse("t.toml", &(one("") + "[test]\nhost = \"true\"\n")).is_err());
        let (_, test) = parse("t.toml", &one("fault_handler = \"none\"")).unwrap();
        assert_eq!(test, None);
    }

    #[test]
    fn parsed_description_round_trips() {
        let (desc, _) = parse("t.toml", GOOD).unwrap();
        let mut buf = [0u8; MAX_ENCODED_LEN];
        let bytes = encode(&desc, &mut buf).unwrap();
        assert_eq!(decode(bytes).unwrap(), desc);
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = err("[image]\nname = \"x\"\n\n[[server]\nname = \"a\"\n");
        assert!(e.starts_with("t.toml: line 4: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = err("[image]\nname = \"x\nprogram = 1\n");
        assert!(e.starts_with("t.toml: line 2: "), "{e}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = err(&one("stak_pages = 4"));
        assert!(
            e.starts_with("t.toml: line 8: unknown field 'stak_pages', expected one of 'name', "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = err("[image]\nname = \"x\"\nauthor = \"me\"\n");
        assert!(
            e.starts_with("t.toml: line 3: unknown field 'author'"),
            "{e}"
        );
        let e = err(&(one("") + "[test]\nexpected = []\n"));
        assert!(
            e.starts_with("t.toml: line 10: unknown field 'expected'"),
            "{e}"
        );
        let e = err(&(one("") + "[tests]\n"));
        assert!(e.contains("unknown field 'tests'"), "{e}");
    }

    #[test]
    fn wrong_types_and_missing_fields() {
        let e = err(&one("priority = \"high\""));
        assert!(
            e.starts_with("t.toml: line 8: invalid type: string \"high\""),
            "{e}"
        );
        let e = err(&one("own_cnode = 1"));
        assert!(
            e.starts_with("t.toml: line 8: invalid type: integer"),
            "{e}"
        );
        let e = err("[image]\nname = \"x\"\n[[server]]\nname = \"a\"\n");
        assert!(e.contains("missing field 'program'"), "{e}");
        let e = err("[[server]]\nname = \"a\"\nprogram = \"a\"\n");
        assert!(e.contains("missing field 'image'"), "{e}");
    }

    #[test]
    fn no_servers() {
        assert_eq!(
            err("[image]\nname = \"x\"\n"),
            "t.toml: server: an image needs at least one [[server]]"
        );
        let mut many = String::from("[image]\nname = \"x\"\n");
        for i in 0..17 {
            many += &format!("[[server]]\nname = \"s{i}\"\nprogram = \"p\"\n");
        }
        assert_eq!(err(&many), "t.toml: server: 17 given, at most 16 allowed");
    }

    #[test]
    fn bad_names() {
        assert_eq!(
            err("[image]\nname = \"Demo\"\n"),
            "t.toml: image.name: contains 'D'"
        );
        assert_eq!(
            err(&good_with("name = \"ping\"", "name = \"ping_1\"")),
            "t.toml: server[1].name: contains '_'"
        );
        assert_eq!(
            err(&good_with("name = \"ping\"", "name = \"\"")),
            "t.toml: server[1].name: must not be empty"
        );
        assert_eq!(
            err(&good_with(
                "name = \"ping\"",
                "name = \"a-server-name-that-is-long\""
            )),
            "t.toml: server[1].name: is 26 characters long, at most 23 are allowed"
        );
        assert_eq!(
            err(&good_with("program = \"ping\"", "program = \"ping.elf\"")),
            "t.toml: server[1].program: contains '.'"
        );
        assert_eq!(
            err(&good_with("program = \"ping\"", "program = \"9ping\"")),
            "t.toml: server[1].program: starts with '9', not a letter"
        );
        assert_eq!(
            err(&good_with("calls = [\"pong\"]", "calls = [\"Pong\"]")),
            "t.toml: server[1].calls: contains 'P'"
        );
        assert_eq!(
            err(&good_with(
                "fault_handler = \"pong\"",
                "fault_handler = \"Pong\""
            )),
            "t.toml: server[1].fault_handler: contains 'P'"
        );
    }

    #[test]
    fn out_of_range_numbers() {
        assert_eq!(
            err(&good_with("priority = 120", "priority = 300")),
            "t.toml: server[1].priority: 300 is out of range 1..=254"
        );
        assert_eq!(
            err(&good_with("priority = 120", "priority = 0")),
            "t.toml: server[1].priority: 0 is out of range 1..=254"
        );
        assert_eq!(
            err(&good_with("stack_pages = 8", "stack_pages = 257")),
            "t.toml: server[1].stack_pages: 257 is out of range 1..=256"
        );
        assert_eq!(
            err(&good_with("heap_pages = 16", "heap_pages = -1")),
            "t.toml: server[1].heap_pages: -1 is out of range 0..=4096"
        );
        assert_eq!(
            err(&good_with("untyped_bits = 20", "untyped_bits = 25")),
            "t.toml: server[1].untyped_bits: 25 is neither 0 (no untyped) nor in range 12..=24"
        );
    }

    #[test]
    fn list_errors() {
        assert_eq!(
            err(
                &one("endpoints = [\"a\", \"b\", \"c\", \"d\", \"e\"]").replacen(
                    "endpoints = [\"a\"]\n",
                    "",
                    1
                )
            ),
            "t.toml: server[0].endpoints: 5 given, at most 4 allowed"
        );
        assert_eq!(
            err(&good_with(
                "calls = [\"pong\"]",
                "calls = [\"pong\", \"pong\"]"
            )),
            "t.toml: server[1].calls: 'pong' is listed twice"
        );
        assert_eq!(
            err(&good_with(
                "endpoints = [\"pong\"]",
                "endpoints = [\"supervisor\"]"
            )),
            "t.toml: server[0].endpoints: 'supervisor' is reserved (fault_handler uses it) \
             and cannot name an endpoint"
        );
    }

    #[test]
    fn the_supervisor_may_be_called() {
        let text = good_with("calls = [\"pong\"]", "calls = [\"pong\", \"supervisor\"]");
        let (desc, _) = parse("t.toml", &text).unwrap();
        assert_eq!(desc.servers[1].calls, ["pong", "supervisor"]);
    }

    #[test]
    fn reference_errors() {
        assert_eq!(
            err(&good_with("calls = [\"pong\"]", "calls = [\"pongg\"]")),
            "t.toml: server 'ping': calls: no server has an endpoint named 'pongg'"
        );
        assert_eq!(
            err(&good_with("name = \"ping\"", "name = \"pong\"")),
            "t.toml: server[1].name: server[0] already has this name"
        );
        assert_eq!(
            err(&good_with("calls = [\"pong\"]", "endpoints = [\"pong\"]")),
            "t.toml: server 'ping': endpoints: 'pong' is already an endpoint of server 'pong' \
             (endpoint names are unique in an image)"
        );
        assert_eq!(
            err(&good_with(
                "fault_handler = \"pong\"",
                "fault_handler = \"pang\""
            )),
            "t.toml: server 'ping': fault_handler: no server has an endpoint named 'pang'"
        );
        assert_eq!(
            err(&good_with("controls = [\"pong\"]", "controls = [\"pang\"]")),
            "t.toml: server 'ping': controls: no server is named 'pang'"
        );
        assert_eq!(
            err(&good_with("controls = [\"pong\"]", "controls = [\"ping\"]")),
            "t.toml: server 'ping': controls: a server cannot control itself"
        );
        assert_eq!(
            err(&one("fault_handler = \"a\"")),
            "t.toml: server 'a': fault_handler: 'a' is this server's own endpoint; \
             a server cannot handle its own faults"
        );
    }

    #[test]
    fn device_errors() {
        assert_eq!(
            err(&good_with(
                "devices = [\"uart\", \"timer\"]",
                "devices = [\"rtc\"]"
            )),
            "t.toml: server[1].devices: unknown device 'rtc', expected one of 'uart', 'timer', 'net'"
        );
        assert_eq!(
            err(&good_with(
                "devices = [\"uart\", \"timer\"]",
                "devices = [\"Uart\"]"
            )),
            "t.toml: server[1].devices: contains 'U'"
        );
        assert_eq!(
            err(&good_with(
                "devices = [\"uart\", \"timer\"]",
                "devices = [\"uart\", \"uart\"]"
            )),
            "t.toml: server[1].devices: 'uart' is listed twice"
        );
        assert_eq!(
            err(&good_with(
                "devices = [\"uart\", \"timer\"]",
                "devices = [\"uart\", \"timer\", \"uart\", \"timer\", \"uart\"]"
            )),
            "t.toml: server[1].devices: 5 given, at most 4 allowed"
        );
        assert_eq!(
            err(&good_with(
                "endpoints = [\"pong\"]",
                "endpoints = [\"pong\"]\ndevices = [\"timer\"]"
            )),
            "t.toml: server 'ping': devices: device 'timer' is already granted to server 'pong' \
             (a device goes to one server at most)"
        );
        let e = err(&one("devices = \"uart\""));
        assert!(
            e.starts_with("t.toml: line 8: invalid type: string \"uart\""),
            "{e}"
        );
    }

    #[test]
    fn test_table_errors() {
        assert_eq!(
            err(&good_with("exit_code = 3", "exit_code = 200")),
            "t.toml: test.exit_code: 200 is out of range 0..=127 (x86's isa-debug-exit reports 7 bits)"
        );
        assert_eq!(
            err(&good_with("timeout_s = 10", "timeout_s = 0")),
            "t.toml: test.timeout_s: 0 is out of range 1..=3600"
        );
        assert_eq!(
            err(&good_with("arches = [\"aarch64\"]", "arches = [\"riscv\"]")),
            "t.toml: test.arches: unknown architecture 'riscv', expected 'aarch64' or 'x86_64'"
        );
        assert_eq!(
            err(&good_with("arches = [\"aarch64\"]", "arches = []")),
            "t.toml: test.arches: is empty; leave it out to run on every architecture"
        );
        assert_eq!(
            err(&good_with("\"ping: done\"", "\"  \"")),
            "t.toml: test.expect: entry 1 is empty (it would match any line)"
        );
    }

    #[test]
    fn test_input() {
        let input = |line: &str| {
            let (_, test) = parse("t.toml", &(one("") + "[test]\n" + line + "\n")).unwrap();
            test.unwrap().input
        };
        assert_eq!(input(""), None);
        // TOML escapes: newlines, carriage returns, control bytes such as Ctrl-C and DEL.
        assert_eq!(
            input(r#"input = "kv put a 1\r\nps\u0003\u007f\n""#).as_deref(),
            Some("kv put a 1\r\nps\u{3}\u{7f}\n")
        );
        assert_eq!(
            input("input = \"\"\"\nhelp\npoweroff\n\"\"\"").as_deref(),
            Some("help\npoweroff\n")
        );
        assert_eq!(
            err(&(one("") + "[test]\ninput = \"\"\n")),
            "t.toml: test.input: is empty; leave it out when nothing is typed"
        );
        let e = err(&(one("") + "[test]\ninput = [\"ps\"]\n"));
        assert!(
            e.starts_with("t.toml: line 10: invalid type: sequence"),
            "{e}"
        );
    }

    #[test]
    fn load_reports_missing_files() {
        let e = load(Path::new("/nonexistent/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/x.toml: cannot read: "), "{e}");
        assert!(load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/demo.toml"))).is_ok());
    }

    #[test]
    fn transaction_fields() {
        let (desc, _) = parse(
            "t.toml",
            &one("transactional = true\ntx_pool_pages = 7\nrestart_after = 5"),
        )
        .unwrap();
        let s = &desc.servers[0];
        assert!(s.transactional);
        assert_eq!(
            (s.tx_pool_pages, s.restart_after, s.request_budget_ms),
            (7, 5, 0)
        );
        let (desc, _) = parse("t.toml", &one("")).unwrap();
        let s = &desc.servers[0];
        assert!(!s.transactional);
        assert_eq!((s.tx_pool_pages, s.restart_after), (31, 3));
        assert_eq!(
            err(&one("tx_pool_pages = 128")),
            "t.toml: server[0].tx_pool_pages: 128 is out of range 1..=127"
        );
        assert_eq!(
            err(&one("restart_after = 0")),
            "t.toml: server[0].restart_after: 0 is out of range 1..=100"
        );
        assert_eq!(
            err(&one("request_budget_ms = 60001")),
            "t.toml: server[0].request_budget_ms: 60001 is out of range 0..=60000"
        );
    }

    #[test]
    fn threads_and_patches() {
        let (desc, _) = parse("t.toml", &one("threads = 4\npatches = [\"a-v2\"]")).unwrap();
        let s = &desc.servers[0];
        assert_eq!(
            (s.threads, s.patches.as_slice()),
            (4, &["a-v2".try_into().unwrap()][..])
        );
        let (desc, _) = parse("t.toml", &one("")).unwrap();
        assert_eq!(
            (desc.servers[0].threads, desc.servers[0].patches.len()),
            (1, 0)
        );
        assert_eq!(
            err(&one("threads = 0")),
            "t.toml: server[0].threads: 0 is out of range 1..=16"
        );
        assert_eq!(
            err(&one("threads = 17")),
            "t.toml: server[0].threads: 17 is out of range 1..=16"
        );
        assert_eq!(
            err(&one("threads = 2\ntransactional = true")),
            "t.toml: server[0].threads: more than one thread needs transactional = false (a \
             region checkpoints one thread)"
        );
        assert_eq!(
            err(&one("patches = [\"a\"]")),
            "t.toml: server[0].patches: a patch must be another program"
        );
        assert!(
            err(&one("patches = [\"b\", \"c\", \"d\"]")).starts_with("t.toml: server[0].patches: "),
            "{}",
            err(&one("patches = [\"b\", \"c\", \"d\"]"))
        );
        assert!(err(&one("patches = [\"b\", \"b\"]")).starts_with("t.toml: server[0].patches: "));
        assert!(err(&one("patches = [\"B!\"]")).starts_with("t.toml: server[0].patches: "));
        // The encoding carries both.
        let (desc, _) = parse("t.toml", &one("threads = 3\npatches = [\"a-v2\"]")).unwrap();
        let mut buf = [0u8; crate::MAX_ENCODED_LEN];
        let bytes = crate::encode(&desc, &mut buf).unwrap();
        assert_eq!(crate::decode(bytes).unwrap(), desc);
    }

    #[test]
    fn snapshot_field() {
        let (desc, _) = parse(
            "t.toml",
            &one("transactional = true
snapshot = true"),
        )
        .unwrap();
        assert!(desc.servers[0].snapshot);
        let (desc, _) = parse("t.toml", &one("transactional = true")).unwrap();
        assert!(!desc.servers[0].snapshot);
        assert_eq!(
            err(&one("snapshot = true")),
            "t.toml: server[0].snapshot: needs transactional = true (a snapshot is of a TxRegion)"
        );
        assert_eq!(
            err(&one(
                "transactional = true\nsnapshot = true\nstack_pages = 200\nheap_pages = 800"
            )),
            "t.toml: server[0].snapshot: stack_pages + heap_pages = 1000 is more than a snapshot \
             holds (960)"
        );
        assert!(
            err(&one("snapshot = 1")).contains("invalid type: integer"),
            "{}",
            err(&one("snapshot = 1"))
        );
    }

    #[test]
    fn verify_field() {
        let (desc, _) = parse("t.toml", &one("transactional = true\nverify = true")).unwrap();
        assert!(desc.servers[0].verify);
        let (desc, _) = parse("t.toml", &one("transactional = true")).unwrap();
        assert!(!desc.servers[0].verify);
        assert_eq!(
            err(&one("verify = true")),
            "t.toml: server[0].verify: needs transactional = true (both runs of a request are in \
             one transaction)"
        );
    }

    #[test]
    fn upgrade_fields() {
        let (desc, _) = parse("t.toml", &one("upgrades = [\"kv2\", \"kv3\"]")).unwrap();
        assert_eq!(desc.servers[0].upgrades.len(), 2);
        assert!(desc.servers[0].upgradable());
        assert_eq!(desc.upgradable().collect::<Vec<_>>(), [0]);
        assert_eq!(desc.upgrader(), None);
        assert_eq!(
            err(&one("upgrades = [\"Kv2\"]")),
            "t.toml: server[0].upgrades: contains 'K'"
        );
        assert_eq!(
            err(&one("upgrades = [\"kv2\", \"kv2\"]")),
            "t.toml: server[0].upgrades: 'kv2' is listed twice"
        );
        assert_eq!(
            err(&one("upgrades = [\"a\", \"b\", \"c\", \"d\", \"e\"]")),
            "t.toml: server[0].upgrades: 5 given, at most 4 allowed"
        );
        let no_endpoint = "[image]\nname = \"x\"\n[[server]]\nname = \"a\"\nprogram = \"a\"\nupgrades = [\"b\"]\n";
        assert_eq!(
            err(no_endpoint),
            "t.toml: server[0].upgrades: needs endpoints: a new version takes over the server's \
             first endpoint"
        );
        assert_eq!(
            err(&one("upgrader = true")),
            "t.toml: server[0].upgrader: needs calls = [\"supervisor\", ...]: the upgrader \
             drives lifecycle::v1 there"
        );
        let (desc, _) = parse("t.toml", &one("upgrader = true\ncalls = [\"supervisor\"]")).unwrap();
        assert_eq!(desc.upgrader(), Some(0));
        let two = "[image]\nname = \"x\"\n[[server]]\nname = \"a\"\nprogram = \"a\"\n\
                   calls = [\"supervisor\"]\nupgrader = true\n[[server]]\nname = \"b\"\n\
                   program = \"a\"\ncalls = [\"supervisor\"]\nupgrader = true\n";
        assert_eq!(
            err(two),
            "t.toml: server 'b': upgrader: server 'a' is already the image's upgrader"
        );
        let mut five = String::from("[image]\nname = \"x\"\n");
        for i in 0..5 {
            five.push_str(&format!(
                "[[server]]\nname = \"s{i}\"\nprogram = \"a\"\nendpoints = [\"e{i}\"]\n\
                 upgrades = [\"b\"]\n"
            ));
        }
        assert_eq!(
            err(&five),
            "t.toml: server 's4': upgrades: 5 servers have upgrades, at most 4 may (this is one \
             too many)"
        );
        assert!(err(&one("upgrader = 1")).contains("invalid type: integer"));
    }
}
