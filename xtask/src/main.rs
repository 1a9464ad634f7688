//! The Axolotl build tool: `cargo xtask build | run | test | bench` (see `cargo xtask help`).
//!
//! Everything the project does on the host goes through here, so no logic lives in shell scripts.
//! The pure parts (argument parsing, exit-status decoding, output checking, BENCH lines, apt
//! sources) are separate modules with unit tests; the rest runs cargo, rustup, apt-get and QEMU.

mod apt;
mod args;
mod bench;
mod exit;
mod expect;
mod host;
mod image;
mod machine;
mod netbench;
mod qemu;
mod relay;
mod scenarios;
mod setup;
mod workspace;

use args::Command;
use axolotl_abi::Arch;
use exit::GuestExit;
use machine::{Console, Machine};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workspace::Workspace;

/// The benchmark image.
const BENCH_IMAGE: &str = "images/bench.toml";
/// How long a benchmark run may take when `images/bench.toml` has no `[test] timeout_s`.
const BENCH_TIMEOUT_S: u64 = 300;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let command = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", args::USAGE);
            Ok(0)
        }
        Command::Build { arch, image } => {
            Workspace::open().and_then(|ws| build(&ws, arch, &image).map(|_| 0))
        }
        Command::Run {
            arch,
            image,
            bench,
            net,
        } => Workspace::open().and_then(|ws| run(&ws, arch, &image, bench, net)),
        Command::Test { arches, only } => Workspace::open()
            .and_then(|ws| scenarios::test(&ws, &arches, &only))
            .map(|ok| if ok { 0 } else { 1 }),
        Command::BenchNet { arch } => {
            Workspace::open().and_then(|ws| netbench::run(&ws, arch).map(|()| 0))
        }
        Command::Bench { arch, json } => {
            Workspace::open().and_then(|ws| run_bench(&ws, arch, json.as_deref()).map(|()| 0))
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn build(ws: &Workspace, arch: Arch, image: &str) -> Result<image::Built, String> {
    let path = workspace::resolve_image(&ws.root, image, &|p: &Path| p.is_file())?;
    image::build(ws, arch, &path)
}

/// `cargo xtask run`: returns the guest's exit status.
fn run(
    ws: &Workspace,
    arch: Arch,
    image: &str,
    bench: bool,
    net: Option<u16>,
) -> Result<i32, String> {
    let machine = Machine::load(&ws.root, arch)?;
    setup::ensure_qemu(&[&machine])?;
    let built = build(ws, arch, image)?;
    let console = if std::io::stdin().is_terminal() {
        Console::Terminal
    } else {
        Console::Piped
    };
    let mut args = machine.args(arch, &built.kernel, &built.archive, console, bench);
    if let Some(port) = net {
        if let Err(e) = setup::ensure_redis_tools() {
            eprintln!("xtask: note: {e}");
        }
        let forwarded = relay::free_port()?;
        relay::start(port, forwarded)?;
        args.extend(machine.net_args(forwarded));
        eprintln!(
            "xtask: networking: 127.0.0.1:{port} on the host -> the guest's port {} (redis-cli -p {port})",
            machine::GUEST_PORT
        );
    }
    eprintln!(
        "xtask: booting {} on {}{}{}",
        built.image.name,
        arch.name(),
        if bench {
            " with instruction counting"
        } else {
            ""
        },
        if console == Console::Terminal {
            " (Ctrl-A X quits)"
        } else {
            ""
        }
    );
    match qemu::run_attached(&machine.qemu, &args, machine.exit)? {
        GuestExit::Status(s) => Ok(s),
        GuestExit::NoStatus(why) => {
            eprintln!("xtask: {why}");
            Ok(1)
        }
    }
}

/// How many boots the wall-clock boot time is the median of.
const BOOT_TIMING_RUNS: usize = 5;
/// The line the first server of the benchmark image prints first.
const BOOT_MARKER: &str = "BENCH boot.first_server.instructions";

/// `cargo xtask bench`: runs `images/bench.toml` with instruction counting and reports its
/// `BENCH <metric>=<integer>` lines.
fn run_bench(ws: &Workspace, arch: Arch, json: Option<&Path>) -> Result<(), String> {
    let path = ws.root.join(BENCH_IMAGE);
    if !path.is_file() {
        return Err(format!(
            "{BENCH_IMAGE} does not exist: there is no benchmark image yet (it runs servers that print \
             'BENCH <metric>=<integer>' lines)"
        ));
    }
    let machine = Machine::load(&ws.root, arch)?;
    setup::ensure_qemu(&[&machine])?;
    let built = image::build(ws, arch, &path)?;
    let args = machine.args(arch, &built.kernel, &built.archive, Console::Piped, true);
    let timeout_s = built
        .image
        .test
        .as_ref()
        .map_or(BENCH_TIMEOUT_S, |t| t.timeout_s);
    eprintln!(
        "xtask: benchmarking on {} ({})",
        arch.name(),
        machine.bench_args.join(" ")
    );
    let c = qemu::run_captured(
        &machine.qemu,
        &args,
        machine.exit,
        Duration::from_secs(timeout_s),
        None,
    )?;
    let log: PathBuf = ws
        .target_dir
        .join("bench-logs")
        .join(format!("{}.log", arch.name()));
    let _ = std::fs::create_dir_all(log.parent().expect("in a directory"));
    let _ = std::fs::write(
        &log,
        format!(
            "# {}\n{}",
            qemu::command_line(&machine.qemu, &args),
            c.output
        ),
    );
    let fail = |why: String| {
        for l in expect::tail(&c.output, 30) {
            eprintln!("    {l}");
        }
        Err(format!("{why} (full output in {})", ws.label(&log)))
    };
    match &c.exit {
        None => return fail(format!("the benchmark timed out after {timeout_s}s")),
        Some(GuestExit::NoStatus(why)) => return fail(why.clone()),
        Some(GuestExit::Status(s)) if *s != 0 => {
            return fail(format!("the benchmark exited with status {s}"));
        }
        Some(GuestExit::Status(_)) => {}
    }
    let metrics = match bench::parse(&c.output) {
        Ok(m) if m.is_empty() => return fail("the benchmark printed no BENCH lines".into()),
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let mut metrics = metrics;
    // Wall-clock boot time: QEMU start to the first server's first line, without instruction
    // counting; the median of a few runs (this one figure varies with the host).
    let plain = machine.args(arch, &built.kernel, &built.archive, Console::Piped, false);
    let mut runs = Vec::new();
    for _ in 0..BOOT_TIMING_RUNS {
        if let Some(t) =
            qemu::time_until_line(&machine.qemu, &plain, BOOT_MARKER, Duration::from_secs(30))?
        {
            runs.push(t.as_micros() as u64);
        }
    }
    runs.sort_unstable();
    if let Some(median) = runs.get(runs.len() / 2) {
        metrics.insert("boot.wallclock.us".to_string(), *median as i64);
    }
    print!("{}", bench::table_with_ratios(&metrics));
    if let Some(json) = json {
        std::fs::write(json, bench::json(arch.name(), &metrics))
            .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
        eprintln!("xtask: wrote {}", json.display());
    }
    Ok(())
}
