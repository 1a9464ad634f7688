//! `cargo xtask campaign`: fault-injection campaigns (docs/CAMPAIGNS.md). Boots
//! `images/campaign.toml` under deterministic instruction counting with the plan
//! `campaign-<seed>-<first>-<count>` as the client's name, collects its `CAMPAIGN idx=...` lines,
//! boots afresh where the guest asks for it (or stopped: the injection it had begun, named by its
//! `CAMPAIGN begin` line, is a crash if the guest stopped by itself and a hang if it made no
//! progress for [`driver::IDLE`]), and writes the report. The pure parts (tally, report
//! rendering, merging) are unit-tested.

use axolotl_campaign::{Begin, FaultType, Outcome, Record};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Outcomes by index.
pub type Results = BTreeMap<u64, Record>;

/// Injections are run in blocks of this many indices, each from a fresh boot: the state an
/// injection meets depends only on the seed and the indices of its block before it, whatever
/// the shards and jobs, so `campaign replay` can reproduce it (it reruns the block up to it).
pub const BLOCK: u64 = 100;

/// The share of index range `0..faults` that shard `i` of `n` runs: whole blocks, except at the
/// end of the range.
pub fn shard_range(faults: u64, i: u64, n: u64) -> (u64, u64) {
    let n = n.max(1);
    let align = |x: u64| if x >= faults { faults } else { x - x % BLOCK };
    (align(faults * i / n), align(faults * (i + 1) / n))
}

/// The blocks of `first..end` (`first` a block boundary, or the range's start).
pub fn blocks(first: u64, end: u64) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    let mut b = first;
    while b < end {
        let e = (b - b % BLOCK + BLOCK).min(end);
        v.push((b, e));
        b = e;
    }
    v
}

/// Reads one boot's output: its records, and where the guest wants to go on (`Some(next)` after
/// `CAMPAIGN reboot next=N`, `None` after `CAMPAIGN done` or if it stopped without saying).
pub fn parse_boot(output: &str) -> (Vec<Record>, Option<u64>, bool) {
    let records = output.lines().filter_map(Record::parse).collect();
    let next = output
        .lines()
        .find_map(|l| l.split("CAMPAIGN reboot next=").nth(1))
        .and_then(|n| n.trim().parse().ok());
    let done = output.lines().any(|l| l.contains("CAMPAIGN done"));
    (records, next, done)
}

/// What the boot died in: the last injection it began and never reported, if any.
pub fn begun_unreported(output: &str, records: &[Record]) -> Option<Begin> {
    let begin = output.lines().rev().find_map(Begin::parse)?;
    (!records.iter().any(|r| r.index == begin.0.index)).then_some(begin)
}

/// The record of injection `begin`, which the boot died in: a crash if the guest stopped by
/// itself (`stopped`: it powered off or QEMU ended, or the kernel panicked or the root task said
/// it is stopping), else a hang (it was killed for making no progress).
pub fn lost(begin: Begin, output: &str, stopped: bool) -> Record {
    let outcome = if stopped || output.contains("[kernel PANIC]") || output.contains("; stopping") {
        Outcome::Crash
    } else {
        Outcome::Hang
    };
    let i = begin.0;
    Record {
        index: i.index,
        fault: i.fault,
        pc: i.pc,
        a: i.a,
        b: i.b,
        outcome,
        aborts: 0,
        restarts: 0,
        detail: (0, 0),
    }
}

/// Counts by fault type and outcome.
pub fn tally(results: &Results) -> BTreeMap<(FaultType, Outcome), u64> {
    let mut t = BTreeMap::new();
    for r in results.values() {
        *t.entry((r.fault, r.outcome)).or_insert(0) += 1;
    }
    t
}

/// (manifested, recovered) over all results.
pub fn recovery(results: &Results) -> (u64, u64) {
    let manifested = results.values().filter(|r| r.outcome.manifested()).count() as u64;
    let recovered = results.values().filter(|r| r.outcome.recovered()).count() as u64;
    (manifested, recovered)
}

/// Recovered over manifested faults (1 if none manifested).
pub fn rate(results: &Results) -> f64 {
    let (m, r) = recovery(results);
    if m == 0 { 1.0 } else { r as f64 / m as f64 }
}

/// The secondary figure: (detected, recovered), detected being the fail-stop faults the system
/// noticed (manifested minus silent corruptions).
pub fn detected(results: &Results) -> (u64, u64) {
    let detected = results.values().filter(|r| r.outcome.detected()).count() as u64;
    (detected, recovery(results).1)
}

/// What `cargo xtask test`'s short campaign requires of its results: no crash (the kernel or the
/// supervisor stopped) and no hang, and at least `min_rate` of the manifested faults recovered
/// (a silent corruption counts against it: the campaign's kv verifies its requests by dual
/// execution, which turns most of them into detected faults; docs/CAMPAIGNS.md).
pub fn gate(results: &Results, min_rate: f64) -> Result<(), String> {
    let bad: Vec<String> = results
        .values()
        .filter(|r| matches!(r.outcome, Outcome::Crash | Outcome::Hang))
        .map(|r| {
            format!(
                "injection {} ({}): {}",
                r.index,
                r.fault.name(),
                r.outcome.name()
            )
        })
        .collect();
    if !bad.is_empty() {
        return Err(format!("the system did not survive: {}", bad.join(", ")));
    }
    let (n, recovered) = recovery(results);
    let rate = rate(results);
    if rate < min_rate {
        return Err(format!(
            "recovery rate over manifested faults {:.2}% ({recovered}/{n}) is below {:.2}%",
            100.0 * rate,
            100.0 * min_rate
        ));
    }
    Ok(())
}

/// The fault type × outcome table.
pub fn table(results: &Results) -> String {
    let t = tally(results);
    let mut s = format!("{:<12}", "type");
    for o in Outcome::ALL {
        let _ = write!(s, " {:>13}", o.name());
    }
    s.push_str("     total\n");
    for f in FaultType::ALL {
        let _ = write!(s, "{:<12}", f.name());
        let mut total = 0;
        for o in Outcome::ALL {
            let n = t.get(&(f, o)).copied().unwrap_or(0);
            total += n;
            let _ = write!(s, " {n:>13}");
        }
        let _ = writeln!(s, " {total:>9}");
    }
    let (m, r) = recovery(results);
    let (d, _) = detected(results);
    let _ = writeln!(
        s,
        "{} injections; manifested {m}, recovered {r}: recovery rate {:.2}% (TxIPC 99.8%, Theseus ~69%)",
        results.len(),
        100.0 * rate(results)
    );
    let _ = writeln!(
        s,
        "detected (fail-stop) {d}, recovered {r}: {:.2}%; silent corruptions {}",
        if d == 0 {
            100.0
        } else {
            100.0 * r as f64 / d as f64
        },
        m - d
    );
    s
}

pub fn csv(results: &Results) -> String {
    let mut s = String::from("index,type,pc,a,b,outcome,aborts,restarts,d0,d1\n");
    for r in results.values() {
        let _ = writeln!(
            s,
            "{},{},{:#x},{:#x},{:#x},{},{},{},{:#x},{:#x}",
            r.index,
            r.fault.name(),
            r.pc,
            r.a,
            r.b,
            r.outcome.name(),
            r.aborts,
            r.restarts,
            r.detail.0,
            r.detail.1
        );
    }
    s
}

/// Parses what [`csv`] wrote (for `campaign merge`).
pub fn parse_csv(text: &str) -> Result<Vec<Record>, String> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let line = match f.as_slice() {
                [i, t, pc, a, b, o, ab, re] => format!(
                    "CAMPAIGN idx={i} type={t} pc={pc} a={a} b={b} outcome={o} aborts={ab} restarts={re}"
                ),
                [i, t, pc, a, b, o, ab, re, d0, d1] => format!(
                    "CAMPAIGN idx={i} type={t} pc={pc} a={a} b={b} outcome={o} aborts={ab} restarts={re} d0={d0} d1={d1}"
                ),
                _ => return Err(format!("malformed report line {l:?}")),
            };
            Record::parse(&line).ok_or_else(|| format!("malformed report line {l:?}"))
        })
        .collect()
}

pub fn json(results: &Results, arch: &str, seed: u64) -> String {
    let t = tally(results);
    let (m, r) = recovery(results);
    let (d, _) = detected(results);
    let mut s = format!(
        "{{\n  \"arch\": \"{arch}\",\n  \"seed\": {seed},\n  \"injections\": {},\n  \"manifested\": {m},\n  \"recovered\": {r},\n  \"recovery_rate\": {:.6},\n  \"detected\": {d},\n  \"by_type\": {{\n",
        results.len(),
        rate(results)
    );
    for (i, f) in FaultType::ALL.iter().enumerate() {
        let _ = write!(s, "    \"{}\": {{", f.name());
        for (j, o) in Outcome::ALL.iter().enumerate() {
            let n = t.get(&(*f, *o)).copied().unwrap_or(0);
            let _ = write!(s, "{}\"{}\": {n}", if j == 0 { "" } else { ", " }, o.name());
        }
        s.push_str(if i + 1 < FaultType::ALL.len() {
            "},\n"
        } else {
            "}\n"
        });
    }
    s.push_str("  }\n}\n");
    s
}

/// The `arch` and `seed` a [`json`] report names (for `campaign merge`).
pub fn json_identity(text: &str) -> Option<(String, u64)> {
    let field = |name: &str| {
        let at = text.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = text[at..].trim_start();
        let end = rest.find([',', '\n', '}'])?;
        Some(rest[..end].trim().trim_matches('"').to_string())
    };
    Some((field("arch")?, field("seed")?.parse().ok()?))
}

const COLOURS: [&str; 7] = [
    "#bbbbbb", "#7fb3d5", "#52be80", "#f4d03f", "#e74c3c", "#8e44ad", "#34495e",
];

/// The HTML report: the table and one stacked bar per fault type, as inline SVG.
pub fn html(results: &Results, arch: &str, seed: u64) -> String {
    let t = tally(results);
    let mut s = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Axolotl campaign {arch} seed {seed}</title></head><body style=\"font-family:sans-serif\"><h1>Fault-injection campaign: {arch}, seed {seed}</h1><pre>{}</pre>",
        table(results)
    );
    let width = 600.0;
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"{}\">",
        40 + 30 * FaultType::ALL.len() + 40
    );
    for (row, f) in FaultType::ALL.iter().enumerate() {
        let total: u64 = Outcome::ALL
            .iter()
            .map(|o| t.get(&(*f, *o)).copied().unwrap_or(0))
            .sum();
        let y = 20 + row * 30;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 15,
            f.name()
        );
        let mut x = 100.0;
        for (i, o) in Outcome::ALL.iter().enumerate() {
            let n = t.get(&(*f, *o)).copied().unwrap_or(0);
            if n == 0 || total == 0 {
                continue;
            }
            let w = width * n as f64 / total as f64;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"{}\"><title>{}: {n}</title></rect>",
                COLOURS[i],
                o.name()
            );
            x += w;
        }
    }
    let y = 20 + 30 * FaultType::ALL.len() + 10;
    for (i, o) in Outcome::ALL.iter().enumerate() {
        let x = 100 + i * 100;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            COLOURS[i],
            x + 16,
            y + 11,
            o.name()
        );
    }
    s.push_str("</svg>");
    // Recovery rates beside the literature's.
    let (m, r) = recovery(results);
    let (d, _) = detected(results);
    let pct = |n: u64, of: u64| {
        if of == 0 {
            100.0
        } else {
            100.0 * n as f64 / of as f64
        }
    };
    let bars = [
        ("Axolotl, over manifested".to_string(), pct(r, m), "#52be80"),
        ("Axolotl, over detected".to_string(), pct(r, d), "#7fb3d5"),
        ("TxIPC (paper)".to_string(), 99.8, "#bbbbbb"),
        ("Theseus (paper)".to_string(), 69.0, "#bbbbbb"),
    ];
    let _ = write!(
        s,
        "<h2>Recovery rate</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"{}\">",
        20 + 30 * bars.len()
    );
    for (i, (label, value, colour)) in bars.iter().enumerate() {
        let y = 10 + i * 30;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{label}</text><rect x=\"200\" y=\"{y}\" width=\"{:.1}\" height=\"20\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{value:.1}%</text>",
            y + 15,
            5.0 * value,
            205.0 + 5.0 * value,
            y + 15
        );
    }
    s.push_str(
        "</svg><p>Manifested: the trap fired and the fault was not masked (silent corruptions, \
         crashes and hangs count as not recovered). Detected: manifested faults the system \
         noticed (fail-stop), i.e. without silent corruptions. See docs/CAMPAIGNS.md.</p>\
         </body></html>\n",
    );
    s
}

/// Writes report.json, report.csv and report.html into `dir`.
pub fn write_reports(dir: &Path, results: &Results, arch: &str, seed: u64) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in [
        ("report.json", json(results, arch, seed)),
        ("report.csv", csv(results)),
        ("report.html", html(results, arch, seed)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// The running tally on one terminal line.
pub fn progress(results: &Results, total: u64) -> String {
    let done = results.len() as u64;
    let filled = (30 * done / total.max(1)) as usize;
    let mut s = format!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        ".".repeat(30 - filled)
    );
    for o in Outcome::ALL {
        let n = results.values().filter(|r| r.outcome == o).count();
        if n > 0 {
            let _ = write!(s, " {}={n}", o.name());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u64, fault: FaultType, outcome: Outcome) -> Record {
        Record {
            index,
            fault,
            pc: 0x1000 + index,
            a: 1,
            b: 2,
            outcome,
            aborts: 1,
            restarts: 0,
            detail: (3, 4),
        }
    }

    fn sample() -> Results {
        [
            rec(0, FaultType::EndlessLoop, Outcome::RolledBack),
            rec(1, FaultType::SkipInstruction, Outcome::NotActivated),
            rec(2, FaultType::RegisterBitFlip, Outcome::Masked),
            rec(3, FaultType::MemoryBitFlip, Outcome::SilentCorruption),
            rec(4, FaultType::UndefinedInstruction, Outcome::Restarted),
        ]
        .into_iter()
        .map(|r| (r.index, r))
        .collect()
    }

    #[test]
    fn shards_cover_the_range_once_in_whole_blocks() {
        for (faults, n) in [(1000, 7), (10_000, 2), (250, 4), (50, 3)] {
            let mut all = vec![];
            for i in 0..n {
                let (a, b) = shard_range(faults, i, n);
                assert!(a % BLOCK == 0 || a == faults, "{faults} {n} {i}");
                for (x, y) in blocks(a, b) {
                    assert!(x % BLOCK == 0 && (y % BLOCK == 0 || y == faults));
                    all.extend(x..y);
                }
            }
            assert_eq!(all, (0..faults).collect::<Vec<_>>());
        }
    }

    #[test]
    fn boots_are_parsed() {
        let out = "x\n[campaign] CAMPAIGN idx=4 type=loop pc=0x10 a=0x0 b=0x0 outcome=rolled-back aborts=1 restarts=0\nCAMPAIGN reboot next=5\n";
        let (r, next, done) = parse_boot(out);
        assert_eq!((r.len(), next, done), (1, Some(5), false));
        assert_eq!(begun_unreported(out, &r), None);
        // A boot that died inside injection 5: filed under the type its begin line names.
        let died = format!(
            "{out}CAMPAIGN begin idx=5 type=mem-flip pc=0x20 a=0x1000 b=0x3\n[kv ERROR] x\n"
        );
        let begin = begun_unreported(&died, &r).unwrap();
        let hang = lost(begin, &died, false);
        assert_eq!(
            (
                hang.index,
                hang.fault,
                hang.pc,
                hang.a,
                hang.b,
                hang.outcome
            ),
            (5, FaultType::MemoryBitFlip, 0x20, 0x1000, 3, Outcome::Hang)
        );
        assert_eq!(lost(begin, &died, true).outcome, Outcome::Crash);
        assert_eq!(
            lost(begin, "[kernel PANIC] x", false).outcome,
            Outcome::Crash
        );
    }

    #[test]
    fn the_gate_refuses_crashes_hangs_and_low_rates() {
        let r = sample();
        // sample: manifested 3 (rolled-back, sdc, restarted), detected 2, recovered 2.
        assert!(gate(&r, 0.6).is_ok());
        let err = gate(&r, 0.99).unwrap_err();
        assert!(
            err.contains("over manifested faults 66.67% (2/3)"),
            "a silent corruption counts against the rate: {err}"
        );
        let mut recovered = r.clone();
        recovered.remove(&3);
        assert!(gate(&recovered, 0.99).is_ok());
        let mut crashed = r.clone();
        crashed.insert(9, rec(9, FaultType::EndlessLoop, Outcome::Crash));
        assert!(gate(&crashed, 0.0).is_err());
        let mut hung = r;
        hung.insert(9, rec(9, FaultType::EndlessLoop, Outcome::Hang));
        assert!(gate(&hung, 0.0).is_err());
    }

    #[test]
    fn recovery_counts_manifested_faults_only() {
        let r = sample();
        assert_eq!(recovery(&r), (3, 2));
        assert!((rate(&r) - 2.0 / 3.0).abs() < 1e-9);
        assert!(table(&r).contains("manifested 3, recovered 2"));
    }

    #[test]
    fn csv_round_trips_and_reports_render() {
        let r = sample();
        let back: Results = parse_csv(&csv(&r))
            .unwrap()
            .into_iter()
            .map(|x| (x.index, x))
            .collect();
        assert_eq!(back, r);
        let j = json(&r, "aarch64", 7);
        assert!(j.contains("\"recovered\": 2") && j.contains("\"loop\": {"));
        assert_eq!(json_identity(&j), Some(("aarch64".to_string(), 7)));
        assert!(table(&r).contains("detected (fail-stop) 2, recovered 2: 100.00%"));
        let h = html(&r, "aarch64", 7);
        assert!(h.contains("<svg") && h.contains("rolled-back: 1"));
        assert!(progress(&r, 10).contains("5/10"));
    }
}

/// The driver: boots QEMU until every index of the range has a record.
pub mod driver {
    use super::*;
    use crate::args::CampaignArgs;
    use crate::image;
    use crate::machine::{Console, Machine};
    use crate::workspace::Workspace;
    use axolotl_abi::Arch;
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    const IMAGE: &str = "images/campaign.toml";
    /// A boot whose output has not grown for this long made no progress: it is killed and the
    /// injection it was in is a hang. A boot prints a line per injection (a few tens of
    /// milliseconds each) and its golden run takes about a second.
    pub const IDLE: Duration = Duration::from_secs(5);
    /// A boot is killed after this long in any case.
    const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
    /// Boots in a row that die before they begin an injection before the campaign gives up.
    const FRUITLESS_BOOTS: u32 = 3;

    /// The short campaign of `cargo xtask test`: injections per architecture, and the seed.
    pub const SHORT_FAULTS: u64 = 300;
    pub const SHORT_SEED: u64 = 2026;

    struct Setup {
        machine: Machine,
        built: image::Built,
        ws: Workspace,
        arch: Arch,
        boots: AtomicU64,
    }

    /// One boot's output, and whether the guest stopped by itself.
    struct Boot {
        output: String,
        stopped: bool,
    }

    impl Setup {
        /// One boot of the plan `seed/first/count`.
        fn boot(&self, tag: &str, seed: u64, first: u64, count: u64) -> Result<Boot, String> {
            let mut img = self.built.image.clone();
            let client = img
                .desc
                .servers
                .iter_mut()
                .find(|s| s.name.starts_with("campaign"))
                .ok_or("images/campaign.toml has no campaign client")?;
            client.name =
                axolotl_image::Name::try_from(format!("campaign-{seed}-{first}-{count}").as_str())
                    .map_err(|_| "the plan does not fit a server name")?;
            // Named after this process too, so that campaigns running at once in one tree do
            // not overwrite each other's archives; removed after the boot.
            img.name = format!("campaign-{}-{tag}", std::process::id());
            let archive = image::write_archive(&self.ws, self.arch, &img)?;
            let args = self.machine.args(
                self.arch,
                &self.built.kernel,
                &archive,
                Console::Piped,
                true,
            );
            self.boots.fetch_add(1, Ordering::Relaxed);
            let c = crate::qemu::run_watched(
                &self.machine.qemu,
                &args,
                self.machine.exit,
                BOOT_TIMEOUT,
                Some(IDLE),
                None,
            );
            let _ = std::fs::remove_file(&archive);
            let c = c?;
            Ok(Boot {
                output: c.output,
                stopped: c.exit.is_some(),
            })
        }

        /// Runs indices `first..end` into `results`; `quiet`: no progress bar.
        #[allow(clippy::too_many_arguments)]
        fn run_range(
            &self,
            tag: &str,
            seed: u64,
            first: u64,
            end: u64,
            results: &Mutex<Results>,
            total: u64,
            quiet: bool,
        ) -> Result<(), String> {
            let mut next = first;
            let mut fruitless = 0;
            while next < end {
                let boot = self.boot(tag, seed, next, end - next)?;
                let (records, reboot, done) = parse_boot(&boot.output);
                let mut r = results.lock().expect("no panics while held");
                for rec in &records {
                    r.insert(rec.index, *rec);
                }
                let reported = records.iter().map(|rec| rec.index + 1).max();
                next = match (reboot, done) {
                    (Some(n), _) => n,
                    (None, true) => end,
                    (None, false) => match begun_unreported(&boot.output, &records) {
                        // The boot died inside an injection: a crash or a hang, under the type
                        // its begin line names.
                        Some(begin) if begin.0.index < end => {
                            r.insert(begin.0.index, lost(begin, &boot.output, boot.stopped));
                            begin.0.index + 1
                        }
                        _ => {
                            // It died outside any injection (booting, the golden run, or
                            // between two): boot again from the first index not reported.
                            fruitless += 1;
                            if fruitless >= FRUITLESS_BOOTS {
                                return Err(format!(
                                    "{FRUITLESS_BOOTS} boots in a row stopped outside an \
                                     injection (at index {next}); the last one:\n{}",
                                    boot.output
                                ));
                            }
                            reported.unwrap_or(next).max(next)
                        }
                    },
                };
                if !records.is_empty() {
                    fruitless = 0;
                }
                if !quiet {
                    eprint!("{}", progress(&r, total));
                    let _ = std::io::stderr().flush();
                }
            }
            Ok(())
        }

        /// Runs injections `first..end` of campaign `seed` with `jobs` QEMUs at once.
        fn run_campaign(
            &self,
            seed: u64,
            (first, end): (u64, u64),
            jobs: u64,
            quiet: bool,
        ) -> Result<Results, String> {
            let total = end - first;
            let results = Arc::new(Mutex::new(Results::new()));
            let queue = Mutex::new(blocks(first, end).into_iter());
            std::thread::scope(|scope| -> Result<(), String> {
                let handles: Vec<_> = (0..jobs)
                    .map(|j| {
                        let (results, queue) = (&results, &queue);
                        scope.spawn(move || -> Result<(), String> {
                            // Each job takes the next block until none is left.
                            loop {
                                let block = queue.lock().expect("no panics while held").next();
                                let Some((a, b)) = block else {
                                    return Ok(());
                                };
                                self.run_range(&format!("{j}"), seed, a, b, results, total, quiet)?;
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().map_err(|_| "a campaign job panicked")??;
                }
                Ok(())
            })?;
            Ok(results.lock().expect("jobs done").clone())
        }
    }

    fn setup(arch: Arch) -> Result<Setup, String> {
        let ws = Workspace::open()?;
        let machine = Machine::load(&ws.root, arch)?;
        crate::setup::ensure_qemu(&[&machine])?;
        let built = image::build(&ws, arch, &ws.root.join(IMAGE))?;
        Ok(Setup {
            machine,
            built,
            ws,
            arch,
            boots: AtomicU64::new(0),
        })
    }

    /// The short campaign `cargo xtask test` runs on `arch`: [`SHORT_FAULTS`] injections, 2
    /// jobs; fails on any crash or hang, or if less than 99% of the manifested faults were
    /// recovered (silent corruptions included).
    pub fn short(arch: Arch) -> Result<bool, String> {
        let s = setup(arch)?;
        let start = Instant::now();
        let results = s.run_campaign(SHORT_SEED, (0, SHORT_FAULTS), 2, true)?;
        let (m, r) = recovery(&results);
        let (d, _) = detected(&results);
        let verdict = if results.len() as u64 != SHORT_FAULTS {
            Err(format!(
                "{} of {SHORT_FAULTS} injections reported",
                results.len()
            ))
        } else {
            gate(&results, 0.99)
        };
        println!(
            "campaign {} seed {SHORT_SEED}: {} injections in {:.1} s ({} boots); manifested {m}, \
             recovered {r} ({:.1}%); detected {d} ({:.1}%): {}",
            arch.name(),
            results.len(),
            start.elapsed().as_secs_f64(),
            s.boots.load(Ordering::Relaxed),
            100.0 * rate(&results),
            if d == 0 {
                100.0
            } else {
                100.0 * r as f64 / d as f64
            },
            match &verdict {
                Ok(()) => "passed".to_string(),
                Err(e) => format!("FAILED: {e}"),
            }
        );
        if verdict.is_err() {
            print!("{}", table(&results));
        }
        Ok(verdict.is_ok())
    }

    pub fn run(args: CampaignArgs) -> Result<i32, String> {
        match args {
            CampaignArgs::Run {
                arch,
                faults,
                seed,
                out,
                shard,
                jobs,
            } => {
                // The plan travels in the client's name (24 bytes at most).
                if format!("campaign-{seed}-{faults}-{BLOCK}").len() > 24 {
                    return Err(format!(
                        "seed {seed} with {faults} faults does not fit the plan in a server \
                         name: use a seed of at most {} digits",
                        24usize.saturating_sub(format!("campaign--{faults}-{BLOCK}").len())
                    ));
                }
                let s = setup(arch)?;
                let range = shard_range(faults, shard.0, shard.1);
                let start = Instant::now();
                let results = s.run_campaign(seed, range, jobs, false)?;
                let seconds = start.elapsed().as_secs_f64();
                eprintln!();
                println!("{}", table(&results));
                println!(
                    "{:.0} injections per minute ({} in {seconds:.1} s wall, {} boots, {jobs} \
                     jobs; the image was built before the clock started)",
                    results.len() as f64 * 60.0 / seconds.max(1e-9),
                    results.len(),
                    s.boots.load(Ordering::Relaxed),
                );
                write_reports(&out, &results, arch.name(), seed)?;
                println!("reports in {}", out.display());
                Ok(0)
            }
            CampaignArgs::Merge { dirs } => {
                let mut results = Results::new();
                let mut identity: Option<(String, u64)> = None;
                for d in &dirs {
                    let j = d.join("report.json");
                    let text =
                        std::fs::read_to_string(&j).map_err(|e| format!("{}: {e}", j.display()))?;
                    let id = json_identity(&text)
                        .ok_or_else(|| format!("{}: no arch and seed", j.display()))?;
                    match &identity {
                        Some(first) if *first != id => {
                            return Err(format!(
                                "{} is a campaign of {} seed {}, not {} seed {}: shards of \
                                 different campaigns cannot be merged",
                                d.display(),
                                id.0,
                                id.1,
                                first.0,
                                first.1
                            ));
                        }
                        _ => identity = Some(id),
                    }
                    let p = d.join("report.csv");
                    let text =
                        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    for r in parse_csv(&text)? {
                        if results.insert(r.index, r).is_some() {
                            return Err(format!("injection {} is in more than one shard", r.index));
                        }
                    }
                }
                let (arch, seed) = identity.ok_or("nothing to merge")?;
                println!("{}", table(&results));
                let out = dirs[0].join("merged");
                write_reports(&out, &results, &arch, seed)?;
                println!("reports in {}", out.display());
                Ok(0)
            }
            CampaignArgs::Replay { arch, seed, index } => {
                let s = setup(arch)?;
                // Rerun its block from the start, booting afresh where the campaign did, so that
                // the store is in the state the injection met in the campaign.
                let mut next = index - index % BLOCK;
                let boot = loop {
                    let boot = s.boot("replay", seed, next, index + 1 - next)?;
                    let (records, reboot, _) = parse_boot(&boot.output);
                    if boot
                        .output
                        .lines()
                        .any(|l| Begin::parse(l).is_some_and(|b| b.0.index == index))
                    {
                        break boot;
                    }
                    next = match (reboot, begun_unreported(&boot.output, &records)) {
                        (Some(n), _) if n > next && n <= index => n,
                        (None, Some(b)) if b.0.index < index => b.0.index + 1,
                        _ => {
                            print!("{}", boot.output);
                            return Err(format!("the guest did not begin injection {index}"));
                        }
                    };
                };
                let lines: Vec<&str> = boot.output.lines().collect();
                let begin = lines
                    .iter()
                    .position(|l| Begin::parse(l).is_some_and(|b| b.0.index == index))
                    .unwrap_or(0);
                println!(
                    "replay of injection {index} of campaign {seed} on {}: a boot from index \
                     {next} (its block starts at {}); the server's log around it:",
                    arch.name(),
                    index - index % BLOCK
                );
                for l in &lines[begin.saturating_sub(3)..] {
                    println!("{l}");
                }
                let records: Vec<Record> = lines.iter().filter_map(|l| Record::parse(l)).collect();
                let record = records
                    .iter()
                    .find(|r| r.index == index)
                    .copied()
                    .or_else(|| {
                        begun_unreported(&boot.output, &records)
                            .map(|b| lost(b, &boot.output, boot.stopped))
                    });
                match record {
                    Some(r) => println!(
                        "injection {index}: {} at pc {:#x} (a {:#x}, b {:#x}): {} (d0 {:#x}, d1 \
                         {:#x})",
                        r.fault.name(),
                        r.pc,
                        r.a,
                        r.b,
                        r.outcome.name(),
                        r.detail.0,
                        r.detail.1
                    ),
                    None => println!("injection {index}: no outcome"),
                }
                Ok(0)
            }
        }
    }
}
