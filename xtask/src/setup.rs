//! Set-up shared by the commands: the Rust bare-metal targets and QEMU 10.
//!
//! A fresh machine (Debian bookworm with rustup) has neither. The targets come from
//! `rustup target add`. QEMU 10 comes from bookworm-backports (bookworm's own 7.2 conflicts with
//! the preinstalled qemu-utils 10): as root, the suite is added to apt with the mirrors the
//! machine already uses, then `apt-get install -t bookworm-backports`. Elsewhere, one line says
//! what to install.

use crate::apt;
use crate::machine::{Machine, missing_firmware};
use crate::workspace::Workspace;
use axolotl_abi::Arch;
use std::path::Path;
use std::process::Command;

/// The oldest QEMU the project runs on.
pub const MIN_QEMU_MAJOR: u32 = 10;
const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/axolotl-backports.sources";
const QEMU_PACKAGES: [&str; 2] = ["qemu-system-arm", "qemu-system-x86"];

/// Adds the missing bare-metal Rust targets (every architecture's, so switching `--arch` never
/// stops for a download).
pub fn ensure_targets(ws: &Workspace) -> Result<(), String> {
    let wanted = [Arch::Aarch64, Arch::X86_64].map(Arch::target_triple);
    let out = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(&ws.root)
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            return Err(format!(
                "rustup target list --installed failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Err(_) => {
            eprintln!(
                "xtask: rustup not found; assuming the targets {} are installed",
                wanted.join(" and ")
            );
            return Ok(());
        }
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Rust targets {}", missing.join(", "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .current_dir(&ws.root)
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if !status.success() {
        return Err(format!("rustup target add {} failed", missing.join(" ")));
    }
    Ok(())
}

/// The major version of `qemu`, or `None` if it does not run.
fn qemu_major(qemu: &str) -> Option<u32> {
    let out = Command::new(qemu).arg("--version").output().ok()?;
    apt::qemu_major_version(&String::from_utf8_lossy(&out.stdout))
}

/// What is wrong with the machines' QEMUs, or `None` if they are all recent enough.
fn qemu_problem(machines: &[&Machine]) -> Option<String> {
    let problems: Vec<String> = machines
        .iter()
        .filter_map(|m| match qemu_major(&m.qemu) {
            Some(v) if v >= MIN_QEMU_MAJOR => None,
            Some(v) => Some(format!("{} is version {v}", m.qemu)),
            None => Some(format!("{} is not installed", m.qemu)),
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join(", "))
}

/// Makes sure every machine's QEMU is version 10 or later (installing it where possible) and
/// that its firmware exists.
pub fn ensure_qemu(machines: &[&Machine]) -> Result<(), String> {
    if let Some(problem) = qemu_problem(machines) {
        install_qemu(&problem)?;
        if let Some(problem) = qemu_problem(machines) {
            return Err(format!(
                "{problem} after installing {}; QEMU {MIN_QEMU_MAJOR} or later is needed",
                QEMU_PACKAGES.join(" ")
            ));
        }
    }
    for m in machines {
        if let Some(fw) = missing_firmware(m) {
            return Err(format!(
                "the firmware {} that {} boots with is missing (Debian package qemu-system-data)",
                fw.display(),
                m.qemu
            ));
        }
    }
    Ok(())
}

fn find_in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn run(what: &str, cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Every apt source of this machine.
fn apt_sources() -> Vec<apt::Source> {
    let mut sources = Vec::new();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    sources.extend(apt::parse_one_line(&read(Path::new(
        "/etc/apt/sources.list",
    ))));
    let mut files: Vec<_> = std::fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => sources.extend(apt::parse_deb822(&read(&f))),
            Some("list") => sources.extend(apt::parse_one_line(&read(&f))),
            _ => {}
        }
    }
    sources
}

fn install_qemu(problem: &str) -> Result<(), String> {
    let packages = QEMU_PACKAGES.join(" ");
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| apt::effective_uid(&s))
        == Some(0);
    let codename = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| apt::os_codename(&s));
    let bookworm = codename.as_deref() == Some("bookworm");
    if !is_root || !find_in_path("apt-get") {
        return Err(if bookworm {
            format!(
                "{problem}: QEMU {MIN_QEMU_MAJOR} is needed; as root, add the bookworm-backports apt suite and run \
                 `apt-get install -t bookworm-backports {packages}` (cargo xtask does this itself when run as root)"
            )
        } else {
            format!("{problem}: install QEMU {MIN_QEMU_MAJOR} or later ({packages} on Debian)")
        });
    }
    let mut install = Command::new("apt-get");
    install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y"]);
    if bookworm {
        let sources = apt_sources();
        if sources.iter().any(|s| s.serves("bookworm-backports")) {
            eprintln!("xtask: {problem}; apt already has bookworm-backports");
        } else {
            let stanza = apt::backports_stanza(&sources, "bookworm").ok_or_else(|| {
                format!(
                    "{problem}, and no apt source serves bookworm, so bookworm-backports cannot be added: \
                     install QEMU {MIN_QEMU_MAJOR} ({packages}) yourself"
                )
            })?;
            eprintln!("xtask: {problem}; adding bookworm-backports to apt in {BACKPORTS_FILE}");
            std::fs::write(BACKPORTS_FILE, stanza)
                .map_err(|e| format!("cannot write {BACKPORTS_FILE}: {e}"))?;
        }
        install.args(["-t", "bookworm-backports"]);
    } else {
        eprintln!("xtask: {problem}; installing {packages} with apt-get");
    }
    install.args(QEMU_PACKAGES);
    run("apt-get update", Command::new("apt-get").arg("update"))?;
    eprintln!("xtask: installing QEMU ({packages})");
    run("apt-get install", &mut install)
}

/// The Debian package with `redis-cli` and `redis-benchmark`, the host-side clients of the
/// network scenarios and `cargo xtask bench net`.
const REDIS_PACKAGE: &str = "redis-tools";

/// Makes sure `redis-cli` and `redis-benchmark` are installed, installing Debian's redis-tools
/// with apt-get where possible (as root). An error says what to install otherwise.
pub fn ensure_redis_tools() -> Result<(), String> {
    let present = || find_in_path("redis-cli") && find_in_path("redis-benchmark");
    if present() {
        return Ok(());
    }
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| apt::effective_uid(&s))
        == Some(0);
    if !is_root || !find_in_path("apt-get") {
        return Err(format!(
            "redis-cli and redis-benchmark are not installed: install {REDIS_PACKAGE} (as root, \
             `apt-get install {REDIS_PACKAGE}`; cargo xtask does this itself when run as root)"
        ));
    }
    eprintln!("xtask: installing {REDIS_PACKAGE} (redis-cli, redis-benchmark) with apt-get");
    run("apt-get update", Command::new("apt-get").arg("update"))?;
    run(
        "apt-get install",
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends", REDIS_PACKAGE]),
    )?;
    if present() {
        Ok(())
    } else {
        Err(format!(
            "{REDIS_PACKAGE} is installed but redis-cli or redis-benchmark is not on PATH"
        ))
    }
}
