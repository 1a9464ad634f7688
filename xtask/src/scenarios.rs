//! `cargo xtask test`: host unit tests, then every QEMU scenario of `tests/scenarios/`.
//!
//! A scenario is an image description with a `[test]` table (see `tests/scenarios/README.md`).
//! For each architecture: every scenario is parsed, the kernel and all the programs of all the
//! scenarios are built (one cargo invocation), the archives are written, then the scenarios run,
//! two QEMUs at a time, headless; a scenario's `input` is typed on the console (written to QEMU's
//! stdin), otherwise stdin is null. A scenario passes iff the guest's exit status is
//! its `exit_code` and every `expect` line appears in order. Results print in scenario order:
//! `PASS <arch>/<name> (<seconds> s)` or `FAIL <arch>/<name>: <reason>` and the output's last
//! lines; full output goes to `target/test-logs/<arch>/<name>.log`. The last line is
//! `scenarios: <n> passed, <m> failed`.

use crate::expect::{tail, verdict};
use crate::image::{self, Image};
use crate::machine::{Console, Machine};
use crate::qemu::{command_line, run_captured};
use crate::workspace::Workspace;
use crate::{host, relay, setup};
use axolotl_abi::Arch;
use axolotl_image::TestSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// QEMUs run at once.
const PARALLEL: usize = 2;
/// Output lines shown under a failure.
const TAIL_LINES: usize = 30;

/// The `[test]` table a scenario without one gets: exit status 0, every architecture.
fn default_spec() -> TestSpec {
    TestSpec::default()
}

/// `tests/scenarios/*.toml`, sorted.
fn scenario_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/scenarios"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One scenario on one architecture, on its way through build and run.
struct Case {
    name: String,
    image: Option<Image>,
    /// Set once it has failed (before running).
    failed: Option<String>,
    archive: Option<PathBuf>,
}

/// What a finished case prints.
struct Outcome {
    line: String,
    passed: bool,
    tail: Vec<String>,
}

/// `cargo xtask test`: returns whether everything passed.
pub fn test(ws: &Workspace, arches: &[Arch], only: &[String]) -> Result<bool, String> {
    let host_ok = if only.is_empty() {
        eprintln!("xtask: host tests (cargo test)");
        ws.cargo()
            .arg("test")
            .status()
            .map_err(|e| format!("cannot run cargo test: {e}"))?
            .success()
    } else {
        eprintln!(
            "xtask: only the scenarios {} (no host tests)",
            only.join(", ")
        );
        true
    };

    let mut files = scenario_files(&ws.root);
    if !only.is_empty() {
        files.retain(|f| only.contains(&stem(f)));
        if files.len() != only.len() {
            return Err(format!(
                "--only: not every one of {} is a scenario",
                only.join(", ")
            ));
        }
    }
    let confined = crate::confinement::check_all(&ws.root, &files);
    let mut passed = 0;
    let mut failed = 0;
    let mut targets_ready = false;
    let mut campaigns_failed = 0;
    for &arch in arches {
        // Parse every scenario; keep those meant for this architecture.
        let mut cases = Vec::new();
        for f in &files {
            let (image, failed) = match Image::load(ws, f) {
                Ok(image) => (Some(image), None),
                Err(e) => (None, Some(e)),
            };
            let spec_arches = image
                .as_ref()
                .and_then(|i| i.test.as_ref())
                .map_or_else(|| default_spec().arches, |t| t.arches.clone());
            if spec_arches.contains(&arch) {
                cases.push(Case {
                    name: stem(f),
                    image,
                    failed,
                    archive: None,
                });
            }
        }
        if cases.is_empty() {
            continue;
        }
        if !targets_ready {
            setup::ensure_targets(ws)?;
            targets_ready = true;
        }
        let machine = Machine::load(&ws.root, arch)?;
        setup::ensure_qemu(&[&machine])?;
        let kernel = build_all(ws, arch, &mut cases);
        let outcomes = run_all(ws, arch, &machine, kernel.as_deref(), &cases);
        // run_all printed them; count them.
        let ok = outcomes.iter().filter(|o| o.passed).count();
        passed += ok;
        failed += outcomes.len() - ok;
        // A short fault-injection campaign (docs/CAMPAIGNS.md).
        if !crate::campaign::driver::short(arch)? {
            campaigns_failed += 1;
        }
    }
    println!("host tests: {}", if host_ok { "passed" } else { "FAILED" });
    println!(
        "confinement: {}",
        if confined {
            "every image passed"
        } else {
            "FAILED"
        }
    );
    println!("scenarios: {passed} passed, {failed} failed");
    println!(
        "campaigns: {}",
        if campaigns_failed == 0 {
            "passed"
        } else {
            "FAILED"
        }
    );
    Ok(host_ok && confined && failed == 0 && campaigns_failed == 0)
}

/// Builds the kernel, every program of every case (one cargo invocation; program by program if
/// that fails, to find the culprits) and each case's archive. Returns the kernel ELF.
fn build_all(ws: &Workspace, arch: Arch, cases: &mut [Case]) -> Option<PathBuf> {
    let fail_all = |cases: &mut [Case], why: &str| {
        for c in cases.iter_mut().filter(|c| c.failed.is_none()) {
            c.failed = Some(why.to_string());
        }
    };
    if cases.iter().all(|c| c.failed.is_some()) {
        return None;
    }
    let kernel = match image::build_kernel(ws, arch) {
        Ok(k) => k,
        Err(e) => {
            fail_all(cases, &format!("kernel build failed: {e}"));
            return None;
        }
    };
    let mut programs: Vec<String> = Vec::new();
    for c in cases.iter().filter(|c| c.failed.is_none()) {
        for p in c.image.as_ref().expect("parsed").programs() {
            if !programs.contains(&p) {
                programs.push(p);
            }
        }
    }
    programs.sort();
    if image::build_user(ws, arch, &programs).is_err() {
        eprintln!("xtask: building the root task and each program alone to find which fail");
        let broken = image::build_user_one_by_one(ws, arch, &programs);
        for c in cases.iter_mut().filter(|c| c.failed.is_none()) {
            let image = c.image.as_ref().expect("parsed");
            if broken.iter().any(|b| b == "root-task") {
                c.failed = Some("the root task does not build".into());
            } else if let Some(p) = image.programs().iter().find(|p| broken.contains(p)) {
                c.failed = Some(format!("program '{p}' does not build"));
            }
        }
    }
    for c in cases.iter_mut().filter(|c| c.failed.is_none()) {
        match image::write_archive(ws, arch, c.image.as_ref().expect("parsed")) {
            Ok(a) => c.archive = Some(a),
            Err(e) => c.failed = Some(e),
        }
    }
    Some(kernel)
}

/// Runs one built case and checks it; writes its log.
fn run_one(ws: &Workspace, arch: Arch, machine: &Machine, kernel: &Path, case: &Case) -> Outcome {
    let id = format!("{}/{}", arch.name(), case.name);
    let image = case.image.as_ref().expect("parsed");
    let spec = image.test.clone().unwrap_or_else(default_spec);
    let archive = case.archive.as_ref().expect("built");
    let mut args = machine.args(arch, kernel, archive, Console::Piped, false);
    let mut env = Vec::new();
    if spec.net {
        // The host side needs redis-cli and redis-benchmark: installed by the set-up where it
        // can (as root); otherwise the scenario is skipped, saying why.
        if let Err(why) = setup::ensure_redis_tools() {
            return Outcome {
                line: format!("SKIP {}/{}: {why}", arch.name(), case.name),
                passed: true,
                tail: Vec::new(),
            };
        }
        let ports = relay::start_on_free_ports();
        match ports {
            Ok((port, forwarded)) => {
                args.extend(machine.net_args(forwarded));
                env.push(("PORT".to_string(), port.to_string()));
            }
            Err(why) => {
                return Outcome {
                    line: format!("FAIL {}/{}: {why}", arch.name(), case.name),
                    passed: false,
                    tail: Vec::new(),
                };
            }
        }
    }
    let cmd = command_line(&machine.qemu, &args);
    let timeout = Duration::from_secs(spec.timeout_s);
    let input = spec.input.as_deref().map(str::as_bytes);
    let captured = match (&spec.host, &spec.host_after) {
        (Some(script), Some(after)) => host::run_with_host(
            &machine.qemu,
            &args,
            machine.exit,
            timeout,
            &host::HostStep {
                script,
                after,
                env,
                input: spec.input.as_deref(),
            },
        ),
        _ => run_captured(&machine.qemu, &args, machine.exit, timeout, input),
    };
    let (result, output, secs) = match captured {
        Err(e) => (Err(e), String::new(), 0.0),
        Ok(c) => {
            let result = match &c.exit {
                None => Err(format!("timed out after {}s", spec.timeout_s)),
                Some(exit) => verdict(exit, spec.exit_code, &c.output, &spec.expect)
                    .and_then(|()| crate::confinement::check_granted(&image.desc, &c.output)),
            };
            (result, c.output, c.elapsed.as_secs_f64())
        }
    };
    let line = match &result {
        Ok(()) => format!("PASS {id} ({secs:.1} s)"),
        Err(why) => format!("FAIL {id}: {why}"),
    };
    let log = ws
        .target_dir
        .join("test-logs")
        .join(arch.name())
        .join(format!("{}.log", case.name));
    let typed = spec
        .input
        .as_ref()
        .map(|i| format!("# input: {i:?}\n"))
        .unwrap_or_default();
    let text = format!(
        "# {cmd}\n{typed}{output}{}# {line}\n",
        if output.is_empty() || output.ends_with('\n') {
            ""
        } else {
            "\n"
        }
    );
    if let Err(e) = std::fs::create_dir_all(log.parent().expect("in a directory"))
        .and_then(|()| std::fs::write(&log, text))
    {
        eprintln!("xtask: cannot write {}: {e}", log.display());
    }
    Outcome {
        passed: result.is_ok(),
        tail: if result.is_ok() {
            Vec::new()
        } else {
            tail(&output, TAIL_LINES)
                .into_iter()
                .map(String::from)
                .collect()
        },
        line,
    }
}

/// Runs the cases, [`PARALLEL`] at a time, printing each outcome in case order as soon as it and
/// those before it are known.
fn run_all(
    ws: &Workspace,
    arch: Arch,
    machine: &Machine,
    kernel: Option<&Path>,
    cases: &[Case],
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let mut outcomes = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let outcome = match (&case.failed, kernel) {
                        (Some(why), _) => Outcome {
                            line: format!("FAIL {}/{}: {why}", arch.name(), case.name),
                            passed: false,
                            tail: Vec::new(),
                        },
                        (None, Some(kernel)) => run_one(ws, arch, machine, kernel, case),
                        (None, None) => unreachable!("a case without a kernel has failed"),
                    };
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        for (i, outcome) in rx {
            pending.insert(i, outcome);
            while let Some(o) = pending.remove(&outcomes.len()) {
                println!("{}", o.line);
                for l in &o.tail {
                    println!("    {l}");
                }
                outcomes.push(o);
            }
        }
    });
    outcomes
}
