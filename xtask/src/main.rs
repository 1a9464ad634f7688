//! The Axolotl build tool: `cargo xtask build | run | test | bench` (see `cargo xtask help`).
//!
//! Everything the project does on the host goes through here, so no logic lives in shell scripts.
//! The pure parts (argument parsing, exit-status decoding, output checking, BENCH lines, apt
//! sources) are separate modules with unit tests; the rest runs cargo, rustup, apt-get and QEMU.

mod apt;
mod args;
mod bench;
mod campaign;
mod confinement;
mod exit;
mod expect;
mod host;
mod image;
mod layout;
mod machine;
mod netbench;
mod netprobe;
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
/// The benchmark images, run one after the other; their metric names must not overlap.
const BENCH_IMAGES: &[&str] = &[
    "images/bench.toml",
    "images/upgrade-demo.toml",
    "images/bench-patch.toml",
];
/// How long a benchmark run may take when `images/bench.toml` has no `[test] timeout_s`.
const BENCH_TIMEOUT_S: u64 = 300;
/// How many boots the wall-clock boot time is the median of.
const BOOT_TIMING_RUNS: usize = 5;

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
        Command::Campaign(args) => campaign::driver::run(args),
        Command::Demo { name, arches } => {
            Workspace::open().and_then(|ws| run_demo(&ws, &name, &arches))
        }
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

/// The line the first server of the benchmark image prints first.
const BOOT_MARKER: &str = "BENCH boot.first_server.instructions";

/// `cargo xtask bench`: runs `images/bench.toml` with instruction counting and reports its
/// `BENCH <metric>=<integer>` lines.
fn run_bench(ws: &Workspace, arch: Arch, json: Option<&Path>) -> Result<(), String> {
    let machine = Machine::load(&ws.root, arch)?;
    setup::ensure_qemu(&[&machine])?;
    let mut metrics = bench::Metrics::new();
    let mut main_image = None;
    for image in BENCH_IMAGES {
        let (built, found) = bench_image(ws, &machine, arch, image)?;
        for (name, value) in found {
            if metrics.insert(name.clone(), value).is_some() {
                return Err(format!(
                    "metric '{name}' is reported by two benchmark images"
                ));
            }
        }
        main_image.get_or_insert(built);
    }
    let built = main_image.ok_or("no benchmark image")?;
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

/// Boots one benchmark image with instruction counting; returns it and its BENCH metrics.
fn bench_image(
    ws: &Workspace,
    machine: &Machine,
    arch: Arch,
    image: &str,
) -> Result<(image::Built, bench::Metrics), String> {
    let path = ws.root.join(image);
    if !path.is_file() {
        return Err(format!(
            "{image} does not exist: it is a benchmark image (its servers print \
             'BENCH <metric>=<integer>' lines)"
        ));
    }
    let built = image::build(ws, arch, &path)?;
    let args = machine.args(arch, &built.kernel, &built.archive, Console::Piped, true);
    let timeout_s = built
        .image
        .test
        .as_ref()
        .map_or(BENCH_TIMEOUT_S, |t| t.timeout_s.max(BENCH_TIMEOUT_S));
    eprintln!(
        "xtask: benchmarking {image} on {} ({})",
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
    let stem = Path::new(image)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("bench");
    let log: PathBuf = ws
        .target_dir
        .join("bench-logs")
        .join(format!("{}-{stem}.log", arch.name()));
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
        Err(format!(
            "{image}: {why} (full output in {})",
            ws.label(&log)
        ))
    };
    match &c.exit {
        None => return fail(format!("the benchmark timed out after {timeout_s}s")),
        Some(GuestExit::NoStatus(why)) => return fail(why.clone()),
        Some(GuestExit::Status(s)) if *s != 0 => {
            return fail(format!("the benchmark exited with status {s}"));
        }
        Some(GuestExit::Status(_)) => {}
    }
    match bench::parse(&c.output) {
        Ok(m) if m.is_empty() => fail("the benchmark printed no BENCH lines".into()),
        Ok(m) => Ok((built, m)),
        Err(e) => fail(e),
    }
}

/// `cargo xtask demo upgrade`: boots `images/upgrade-demo.toml` on each architecture, with
/// deterministic instruction counting, and shows its transcript (the director's, the upgrader's and the supervisor's version lines), then
/// whether every check passed. Exits 1 if a run failed.
fn run_demo(ws: &Workspace, name: &str, arches: &[Arch]) -> Result<i32, String> {
    let image = match name {
        "upgrade" => "images/upgrade-demo.toml",
        other => return Err(format!("unknown demo '{other}'")),
    };
    let mut status = 0;
    for &arch in arches {
        let machine = Machine::load(&ws.root, arch)?;
        setup::ensure_qemu(&[&machine])?;
        let built = image::build(ws, arch, &ws.root.join(image))?;
        // Under instruction counting, so that the transcript's lengths are instructions (the
        // guest's counter advances once per instruction) and the same on every run.
        let args = machine.args(arch, &built.kernel, &built.archive, Console::Piped, true);
        println!(
            "==== live upgrade demo on {} (QEMU -icount: lengths are instructions) ====",
            arch.name()
        );
        let c = qemu::run_captured(
            &machine.qemu,
            &args,
            machine.exit,
            Duration::from_secs(DEMO_TIMEOUT_S),
            None,
        )?;
        for line in c.output.lines() {
            if let Some(shown) = demo_line(line) {
                println!("{shown}");
            }
        }
        match c.exit {
            Some(GuestExit::Status(0)) => println!(
                "==== {}: demo finished, every check passed ====\n",
                arch.name()
            ),
            other => {
                status = 1;
                println!("==== {}: demo FAILED ({other:?}) ====\n", arch.name());
            }
        }
    }
    Ok(status)
}

/// Seconds a demo may take.
const DEMO_TIMEOUT_S: u64 = 300;

/// The transcript lines of the upgrade demo, without log prefixes: the director's own lines,
/// the upgrader's, and the supervisor's lines about versions.
fn demo_line(line: &str) -> Option<String> {
    let line = line.trim_end();
    for prefix in ["[upgrader INFO] ", "[upgrader WARN] "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return Some(format!("  upgrader: {rest}"));
        }
    }
    if let Some(rest) = line.strip_prefix("[root INFO] ")
        && (rest.contains("version") || rest.contains("prepared"))
    {
        return Some(format!("  supervisor: {rest}"));
    }
    if line.starts_with('[') || line.starts_with("BENCH") {
        return None;
    }
    Some(line.to_string())
}
