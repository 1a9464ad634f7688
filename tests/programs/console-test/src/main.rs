//! console-test: writes, reads and logs through the console server (scenario
//! `tests/scenarios/console-echo.toml`).
//!
//! The image grants it `calls = ["console"]`, so its runtime sends its log lines to the console.
//! It writes through `embedded_io::Write` over the `console::v1` client (short, formatted and
//! multi-chunk writes), checks that a read with no input returns nothing at once, logs lines
//! that must come out through the console, hides its own debug lines with `set_log_level` and
//! checks that the logger never fell back to the debug console. Its check lines (`PASS
//! console-echo: ...`) go straight to the debug console, like every test program's.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::logger::{console_attached, console_stats};
use axolotl_rt::{ServerInfo, set_log_level, yield_now};
use console::ConsoleIo;
use embedded_io::Write;
use ipc_schema::CallError;
use ipc_schema::console::v1::{Bytes, CHUNK_LEN, ConsoleError};
use ipc_schema::interfaces::common::{LogLevel, Name};
use log::{LevelFilter, debug, info};
use test_support::Checks;

axolotl_rt::declare_server!(main);

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("console-echo");
    match server.client("console") {
        Some(endpoint) => run(server, &mut checks, endpoint),
        None => checks.fail("the console capability", "none was granted"),
    }
    checks.finish(server);
}

fn run(server: &ServerInfo, checks: &mut Checks, endpoint: axolotl_rt::Cap<axolotl_rt::Endpoint>) {
    checks.check(
        console_attached(),
        "the logger writes through the console",
        "it writes to the debug console",
    );

    let mut io = ConsoleIo::with_idle(endpoint, yield_now as fn());
    let wrote = io.write_all(b"console-test: hello through embedded-io\n");
    checks.check_eq("write_all through the console", wrote, Ok(()));
    let wrote = writeln!(io, "console-test: formatted {} + {} = {}", 2, 3, 2 + 3);
    checks.check(wrote.is_ok(), "writeln! through the console", "it failed");
    // Longer than one chunk: write_all splits it into writes of at most CHUNK_LEN bytes.
    let mut long = [b'='; 2 * CHUNK_LEN + 21];
    let prefix = b"console-test: long ";
    long[..prefix.len()].copy_from_slice(prefix);
    let end = long.len() - 5;
    long[end..].copy_from_slice(b" end\n");
    let wrote = io.write_all(&long);
    checks.check_eq("a write of 3 chunks", wrote, Ok(()));

    let mut buf = [0u8; 16];
    checks.check_eq(
        "read with no input returns nothing at once",
        io.try_read(&mut buf),
        Ok(0),
    );
    let client = io.client();
    checks.check_eq(
        "the read op with no input returns empty bytes",
        client.read(16),
        Ok(Bytes::new()),
    );

    let name = Name::try_from(server.name()).unwrap_or_default();
    let before = console_stats();
    info!("console-test: info line through the console");
    set_log_level(LevelFilter::Debug);
    debug!("console-test: debug line shown");
    checks.check_eq(
        "set_log_level(console-test, info)",
        client.set_log_level(name.clone(), LogLevel::Info),
        Ok(()),
    );
    debug!("console-test: debug line hidden by the console");
    info!("console-test: info line after the filter");
    checks.check_eq(
        "set_log_level of a name no server can have",
        client.set_log_level(
            Name::try_from("Not A Server").unwrap_or_default(),
            LogLevel::Info,
        ),
        Err(CallError::Op(ConsoleError::NoSuchServer)),
    );
    // Back to the default: the console hides nothing of ours any more.
    checks.check_eq(
        "set_log_level(console-test, trace)",
        client.set_log_level(name, LogLevel::Trace),
        Ok(()),
    );
    debug!("console-test: debug line shown again");
    let after = console_stats();
    checks.check_eq(
        "5 log lines went through the console, none fell back",
        (
            after.lines - before.lines,
            after.fallbacks - before.fallbacks,
        ),
        (5, 0),
    );
}
