//! `cargo xtask bench net`: redis-benchmark from the host against the network personality, in
//! steady state, while faults are injected into the key-value store, during a live upgrade of
//! it, and during a wait-free code patch of the RESP front end, in one boot.
//!
//! The image is `tests/scenarios/net-upgrade.toml` (the network servers, an upgradable kv and the
//! upgrader, with a shell that does not call kv, so an injected fault fires in a request resp
//! makes for a network client; resp has two threads and may be patched to `resp-v2`). A host
//! script (see [`crate::host`]) runs redis-benchmark four times with the same load (`-t set,get`,
//! 50 clients): undisturbed, then while `inject kv null` is typed on the console every
//! [`FAULT_EVERY_MS`] ms, then while `upgrade kv kv2` is typed once, a second into the run, then
//! while `patch resp resp-v2` is typed once, a second into the run. Each run's requests per second and latency percentiles (p50, p99 from
//! the percentile distribution redis-benchmark prints, p99.9 likewise) are reported, and each
//! disturbed run as a ratio to the steady one, measured in the same boot. Wall-clock figures under
//! TCG on a shared host: only the ratios mean much. Meanwhile xtask's probe client
//! ([`crate::netprobe`]) times one request after another, and `net-<arch>.html` next to the log
//! charts its latency over time with the faults, the upgrade and the patch marked.

use crate::host::{self, HostStep};
use crate::image;
use crate::machine::{Console, Machine};
use crate::relay;
use crate::setup;
use crate::workspace::Workspace;
use axolotl_abi::Arch;
use std::time::Duration;

/// The image the benchmark boots.
const IMAGE: &str = "tests/scenarios/net-upgrade.toml";
/// Requests per redis-benchmark test (SET, then GET).
const REQUESTS: u32 = 20_000;
/// Time between two injected faults.
const FAULT_EVERY_MS: u32 = 500;
const TIMEOUT_S: u64 = 900;

/// One redis-benchmark test's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub test: String,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// The figures of every `====== NAME ======` section of redis-benchmark's (non-quiet) output.
pub fn parse_report(text: &str) -> Vec<Figures> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<(f64, f64)>, Option<f64>)> = None;
    // Only "Latency by percentile distribution" is read, not the cumulative one after it.
    let mut in_percentiles = false;
    let finish = |c: Option<(String, Vec<(f64, f64)>, Option<f64>)>, out: &mut Vec<Figures>| {
        if let Some((test, percentiles, Some(rps))) = c {
            let at = |p: f64| {
                percentiles
                    .iter()
                    .find(|(q, _)| *q >= p)
                    .or(percentiles.last())
                    .map_or(f64::NAN, |(_, ms)| *ms)
            };
            out.push(Figures {
                test,
                rps,
                p50_ms: at(50.0),
                p99_ms: at(99.0),
                p999_ms: at(99.9),
            });
        }
    };
    for line in text.lines().map(str::trim) {
        if let Some(name) = line
            .strip_prefix("====== ")
            .and_then(|l| l.strip_suffix(" ======"))
        {
            finish(current.take(), &mut out);
            current = Some((name.to_string(), Vec::new(), None));
            in_percentiles = false;
            continue;
        }
        if line.starts_with("Latency by percentile distribution") {
            in_percentiles = true;
            continue;
        }
        if line.starts_with("Cumulative distribution") {
            in_percentiles = false;
            continue;
        }
        let Some((_, percentiles, rps)) = current.as_mut() else {
            continue;
        };
        // "99.900% <= 12.271 milliseconds (cumulative count 19981)"
        if in_percentiles
            && let Some((p, rest)) = line.split_once("% <= ")
            && let (Ok(p), Some(ms)) = (p.parse::<f64>(), rest.split_whitespace().next())
            && let Ok(ms) = ms.parse::<f64>()
        {
            percentiles.push((p, ms));
        }
        // "throughput summary: 8547.01 requests per second"
        if let Some(v) = line.strip_prefix("throughput summary: ")
            && let Some(v) = v.split_whitespace().next()
        {
            *rps = v.parse().ok();
        }
    }
    finish(current.take(), &mut out);
    out
}

/// The host script: a steady run, then runs with faults, during the upgrade and during the
/// patch, each report between markers.
fn script() -> String {
    format!(
        r#"
bench() {{ redis-benchmark -p $PORT -t set,get -n {REQUESTS} -c 50 2>&1 | tr '\r' '\n'; }}
event() {{ echo "EVENT $(date +%s%3N) $*"; }}
sleep 1
echo "PHASE steady"; event phase steady
bench
echo "PHASE faults"; event phase faults
( while :; do sleep {interval}; echo "inject kv null" > "$AXOLOTL_CONSOLE"; event inject kv null; done ) &
injector=$!
bench
kill $injector
echo "PHASE upgrade"; event phase upgrade
( sleep 1; echo "upgrade kv kv2" > "$AXOLOTL_CONSOLE"; event upgrade kv kv2 ) &
bench
wait
echo "PHASE patch"; event phase patch
( sleep 1; echo "patch resp resp-v2" > "$AXOLOTL_CONSOLE"; event patch resp resp-v2 ) &
bench
wait
echo "PHASE end"; event phase end
"#,
        interval = f64::from(FAULT_EVERY_MS) / 1000.0
    )
}

/// The phases the script runs, in order.
const PHASES: [&str; 4] = ["steady", "faults", "upgrade", "patch"];

/// Splits the script's output (lines prefixed `[host] `) into each phase's text, in
/// [`PHASES`] order.
fn phases(output: &str) -> [String; 4] {
    let mut texts: [String; 4] = Default::default();
    let mut phase: Option<usize> = None;
    // A host line may follow the shell's prompt on the same console line.
    let host_lines = output
        .lines()
        .filter_map(|l| l.find("[host] ").map(|i| &l[i + "[host] ".len()..]));
    for line in host_lines {
        if let Some(name) = line.strip_prefix("PHASE ").map(str::trim) {
            phase = PHASES.iter().position(|p| *p == name);
            continue;
        }
        if let Some(i) = phase {
            texts[i].push_str(&format!("{line}\n"));
        }
    }
    texts
}

fn errors(text: &str) -> usize {
    text.lines()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .count()
}

/// `cargo xtask bench net --arch A`.
pub fn run(ws: &Workspace, arch: Arch) -> Result<(), String> {
    setup::ensure_redis_tools()?;
    let machine = Machine::load(&ws.root, arch)?;
    setup::ensure_qemu(&[&machine])?;
    let built = image::build(ws, arch, &ws.root.join(IMAGE))?;
    let mut args = machine.args(arch, &built.kernel, &built.archive, Console::Piped, false);
    let (port, forwarded) = relay::start_on_free_ports()?;
    args.extend(machine.net_args(forwarded));
    eprintln!(
        "xtask: bench net on {}: redis-benchmark -t set,get -n {REQUESTS} -c 50, steady, then with \
         'inject kv null' every {FAULT_EVERY_MS} ms, during 'upgrade kv kv2', during 'patch resp \
         resp-v2'",
        arch.name()
    );
    let script = script();
    let probe = crate::netprobe::Probe::start(port);
    let captured = host::run_with_host(
        &machine.qemu,
        &args,
        machine.exit,
        Duration::from_secs(TIMEOUT_S),
        &HostStep {
            script: &script,
            after: "serves RESP over kv v2",
            env: vec![("PORT".into(), port.to_string())],
            input: Some("ps\npoweroff\n"),
        },
    )?;
    let log = ws
        .target_dir
        .join("bench-logs")
        .join(format!("net-{}.log", arch.name()));
    let _ = std::fs::create_dir_all(log.parent().expect("in a directory"));
    let _ = std::fs::write(&log, &captured.output);
    let samples = probe.finish();
    let texts = phases(&captured.output);
    let figures: Vec<Vec<Figures>> = texts.iter().map(|t| parse_report(t)).collect();
    let injected = captured
        .output
        .lines()
        .filter(|l| l.contains("fault in 'kv'") && l.contains("re-delivered"))
        .count();
    let upgraded = captured
        .output
        .lines()
        .any(|l| l.contains("upgrade kv -> kv2: committed"));
    let patched = captured
        .output
        .lines()
        .any(|l| l.contains("patch resp -> resp-v2: done"));
    if figures.iter().any(Vec::is_empty) {
        return Err(format!(
            "bench net: a phase has no redis-benchmark report (log: {})",
            log.display()
        ));
    }
    let errs: Vec<usize> = texts.iter().map(|t| errors(t)).collect();
    println!(
        "bench net ({}): {REQUESTS} requests per test, 50 clients; faults: {injected} injected in \
         kv and re-delivered; upgrade kv -> kv2 {}; patch resp -> resp-v2 {}; errors: steady \
         {}, during faults {}, during the upgrade {}, during the patch {}",
        arch.name(),
        if upgraded {
            "committed"
        } else {
            "NOT committed"
        },
        if patched { "done" } else { "NOT done" },
        errs[0],
        errs[1],
        errs[2],
        errs[3]
    );
    println!(
        "{:<5} {:<8} {:>9} {:>8} {:>8} {:>8}",
        "test", "phase", "rps", "p50 ms", "p99 ms", "p99.9 ms"
    );
    for (phase, figures) in PHASES.iter().zip(&figures) {
        for f in figures {
            println!(
                "{:<5} {:<8} {:>9.0} {:>8.3} {:>8.3} {:>8.3}",
                f.test, phase, f.rps, f.p50_ms, f.p99_ms, f.p999_ms
            );
        }
    }
    for (phase, disturbed) in PHASES.iter().zip(&figures).skip(1) {
        for f in disturbed {
            if let Some(s) = figures[0].iter().find(|s| s.test == f.test) {
                println!(
                    "{:<5} {phase}/steady: rps {:.2}x, p50 {:.2}x, p99 {:.2}x, p99.9 {:.2}x",
                    f.test,
                    f.rps / s.rps,
                    f.p50_ms / s.p50_ms,
                    f.p99_ms / s.p99_ms,
                    f.p999_ms / s.p999_ms
                );
            }
        }
    }
    let host_text: String = captured
        .output
        .lines()
        .filter_map(|l| l.find("[host] ").map(|i| &l[i + "[host] ".len()..]))
        .map(|l| format!("{l}\n"))
        .collect();
    let events = crate::netprobe::events(&host_text);
    let rows: Vec<crate::netprobe::Row> = PHASES
        .iter()
        .zip(&figures)
        .flat_map(|(phase, figures)| {
            figures.iter().map(|f| crate::netprobe::Row {
                test: f.test.clone(),
                phase: phase.to_string(),
                rps: f.rps,
                p50: f.p50_ms,
                p99: f.p99_ms,
                p999: f.p999_ms,
            })
        })
        .collect();
    let report = log.with_extension("html");
    let summary = format!(
        "{REQUESTS} requests per test, 50 clients; {injected} faults injected in kv and \
         re-delivered; upgrade kv -> kv2 {}; patch resp -> resp-v2 (wait-free) {}; \
         redis-benchmark errors: {}",
        if upgraded {
            "committed"
        } else {
            "NOT committed"
        },
        if patched { "done" } else { "NOT done" },
        errs.iter().sum::<usize>()
    );
    let page = crate::netprobe::html(
        &format!("cargo xtask bench net ({})", arch.name()),
        &summary,
        &rows,
        &samples,
        &events,
    );
    match std::fs::write(&report, page) {
        Ok(()) => println!(
            "report: {} ({} probe samples, {} of them errors)",
            report.display(),
            samples.len(),
            samples.iter().filter(|s| !s.ok).count()
        ),
        Err(e) => eprintln!("xtask: cannot write {}: {e}", report.display()),
    }
    println!("log: {}", log.display());
    if samples.iter().any(|s| !s.ok) {
        return Err("bench net: the probe client got error replies".into());
    }
    if errs.iter().sum::<usize>() > 0 {
        return Err("bench net: redis-benchmark reported errors".into());
    }
    if !upgraded {
        return Err("bench net: the upgrade did not commit".into());
    }
    if !patched {
        return Err("bench net: the patch of resp did not finish".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
====== SET ======
  20000 requests completed in 2.34 seconds
  50 parallel clients
Latency by percentile distribution:
0.000% <= 0.303 milliseconds (cumulative count 2)
50.000% <= 1.239 milliseconds (cumulative count 10021)
99.000% <= 9.500 milliseconds (cumulative count 19800)
99.900% <= 12.271 milliseconds (cumulative count 19981)
100.000% <= 17.263 milliseconds (cumulative count 20000)
Cumulative distribution of latencies:
0.000% <= 0.103 milliseconds (cumulative count 0)
99.950% <= 99.103 milliseconds (cumulative count 0)
Summary:
  throughput summary: 8547.01 requests per second
====== GET ======
Latency by percentile distribution:
0.000% <= 0.2 milliseconds (cumulative count 1)
50.000% <= 1.0 milliseconds (cumulative count 1)
100.000% <= 3.0 milliseconds (cumulative count 1)
Summary:
  throughput summary: 9000 requests per second
";

    #[test]
    fn reports() {
        let f = parse_report(SAMPLE);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].test, "SET");
        assert_eq!(f[0].rps, 8547.01);
        assert_eq!(
            (f[0].p50_ms, f[0].p99_ms, f[0].p999_ms),
            (1.239, 9.5, 12.271)
        );
        // Percentiles past the last listed one take the maximum.
        assert_eq!((f[1].p50_ms, f[1].p99_ms, f[1].p999_ms), (1.0, 3.0, 3.0));
        assert!(parse_report("====== SET ======\nno summary\n").is_empty());
    }

    #[test]
    fn phase_split() {
        let out = "x\naxolotl> [host] PHASE steady\n[host] a\n[host] PHASE faults\n[host] b\n[host] PHASE upgrade\n[host] u\n[host] PHASE patch\n[host] p\n[host] PHASE end\n[host] c\n";
        assert_eq!(
            phases(out),
            ["a\n".to_string(), "b\n".into(), "u\n".into(), "p\n".into()]
        );
        assert_eq!(errors("ok\nError from server: x\n"), 1);
    }
}
