//! `cargo xtask campaign`: fault-injection campaigns (docs/CAMPAIGNS.md). Boots
//! `images/campaign.toml` under deterministic instruction counting with the plan
//! `campaign-<seed>-<first>-<count>` as the client's name, collects its `CAMPAIGN idx=...` lines,
//! boots afresh where the guest asks for it (or stopped: the missing index is a crash or a hang),
//! and writes the report. The pure parts (tally, report rendering, merging) are unit-tested.

use axolotl_campaign::{FaultType, Outcome, Record};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Outcomes by index.
pub type Results = BTreeMap<u64, Record>;

/// The share of index range `0..faults` that shard `i` of `n` runs.
pub fn shard_range(faults: u64, i: u64, n: u64) -> (u64, u64) {
    let n = n.max(1);
    (faults * i / n, faults * (i + 1) / n)
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

/// A record for an index the guest never reported: the boot stopped in it.
pub fn lost(index: u64, output: &str, fault: FaultType) -> Record {
    let outcome = if output.contains("panic") || output.contains("stopping") {
        Outcome::Crash
    } else {
        Outcome::Hang
    };
    Record {
        index,
        fault,
        pc: 0,
        a: 0,
        b: 0,
        outcome,
        aborts: 0,
        restarts: 0,
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

pub fn rate(results: &Results) -> f64 {
    let (m, r) = recovery(results);
    if m == 0 { 1.0 } else { r as f64 / m as f64 }
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
    let _ = writeln!(
        s,
        "{} injections; manifested {m}, recovered {r}: recovery rate {:.2}% (TxIPC 99.8%, Theseus ~69%)",
        results.len(),
        100.0 * rate(results)
    );
    s
}

pub fn csv(results: &Results) -> String {
    let mut s = String::from("index,type,pc,a,b,outcome,aborts,restarts\n");
    for r in results.values() {
        let _ = writeln!(
            s,
            "{},{},{:#x},{:#x},{:#x},{},{},{}",
            r.index,
            r.fault.name(),
            r.pc,
            r.a,
            r.b,
            r.outcome.name(),
            r.aborts,
            r.restarts
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
                _ => return Err(format!("malformed report line {l:?}")),
            };
            Record::parse(&line).ok_or_else(|| format!("malformed report line {l:?}"))
        })
        .collect()
}

pub fn json(results: &Results, arch: &str, seed: u64) -> String {
    let t = tally(results);
    let (m, r) = recovery(results);
    let mut s = format!(
        "{{\n  \"arch\": \"{arch}\",\n  \"seed\": {seed},\n  \"injections\": {},\n  \"manifested\": {m},\n  \"recovered\": {r},\n  \"recovery_rate\": {:.6},\n  \"by_type\": {{\n",
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
    s.push_str("</svg></body></html>\n");
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
    fn shards_cover_the_range_once() {
        let mut all = vec![];
        for i in 0..7 {
            let (a, b) = shard_range(1000, i, 7);
            all.extend(a..b);
        }
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn boots_are_parsed() {
        let out = "x\n[campaign] CAMPAIGN idx=4 type=loop pc=0x10 a=0x0 b=0x0 outcome=rolled-back aborts=1 restarts=0\nCAMPAIGN reboot next=5\n";
        let (r, next, done) = parse_boot(out);
        assert_eq!((r.len(), next, done), (1, Some(5), false));
        assert_eq!(
            lost(5, "kernel panic", FaultType::EndlessLoop).outcome,
            Outcome::Crash
        );
        assert_eq!(lost(5, "", FaultType::EndlessLoop).outcome, Outcome::Hang);
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
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    const IMAGE: &str = "images/campaign.toml";
    /// A boot that prints nothing more for this long is stopped (a hang).
    const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

    struct Setup {
        machine: Machine,
        built: image::Built,
        ws: Workspace,
        arch: Arch,
    }

    impl Setup {
        /// One boot of the plan `seed/first/count`; returns the guest's output.
        fn boot(&self, tag: &str, seed: u64, first: u64, count: u64) -> Result<String, String> {
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
            img.name = format!("campaign-{tag}");
            let archive = image::write_archive(&self.ws, self.arch, &img)?;
            let args = self.machine.args(
                self.arch,
                &self.built.kernel,
                &archive,
                Console::Piped,
                true,
            );
            let c = crate::qemu::run_captured(
                &self.machine.qemu,
                &args,
                self.machine.exit,
                BOOT_TIMEOUT,
                None,
            )?;
            Ok(c.output)
        }

        /// Runs indices `first..end` into `results`.
        fn run_range(
            &self,
            tag: &str,
            seed: u64,
            first: u64,
            end: u64,
            results: &Mutex<Results>,
            total: u64,
        ) -> Result<(), String> {
            let mut next = first;
            while next < end {
                let output = self.boot(tag, seed, next, end - next)?;
                let (records, reboot, done) = parse_boot(&output);
                let mut r = results.lock().expect("no panics while held");
                let mut last = None;
                for rec in records {
                    last = Some(rec.index);
                    r.insert(rec.index, rec);
                }
                next = match (reboot, done) {
                    (Some(n), _) => n,
                    (None, true) => end,
                    (None, false) => {
                        // The boot stopped inside the injection after the last one reported.
                        let lost_index = last.map_or(next, |l| l + 1);
                        if lost_index < end {
                            let fault = lost_fault(&output, lost_index);
                            r.insert(lost_index, lost(lost_index, &output, fault));
                        }
                        if last.is_none() && !output.contains("CAMPAIGN golden") {
                            return Err(format!("the campaign image did not start:\n{output}"));
                        }
                        lost_index + 1
                    }
                };
                eprint!("{}", progress(&r, total));
                let _ = std::io::stderr().flush();
            }
            Ok(())
        }
    }

    /// The fault type the guest drew for `index` is not printed before it runs; it is recomputed
    /// from the draw only inside the guest, so a lost index is filed under the type of the trap
    /// the guest was running, if it said, else under the first type.
    fn lost_fault(_output: &str, _index: u64) -> FaultType {
        FaultType::ALL[0]
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
        })
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
                let s = setup(arch)?;
                let (first, end) = shard_range(faults, shard.0, shard.1);
                let total = end - first;
                let results = Arc::new(Mutex::new(Results::new()));
                let start = Instant::now();
                std::thread::scope(|scope| -> Result<(), String> {
                    let handles: Vec<_> = (0..jobs)
                        .map(|j| {
                            let (a, b) = shard_range(total, j, jobs);
                            let (s, results) = (&s, &results);
                            scope.spawn(move || {
                                s.run_range(
                                    &format!("{j}"),
                                    seed,
                                    first + a,
                                    first + b,
                                    results,
                                    total,
                                )
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join().map_err(|_| "a campaign job panicked")??;
                    }
                    Ok(())
                })?;
                let results = results.lock().expect("jobs done").clone();
                let minutes = start.elapsed().as_secs_f64() / 60.0;
                eprintln!();
                println!("{}", table(&results));
                println!(
                    "{:.0} injections per minute ({} in {:.1} s, {jobs} jobs)",
                    results.len() as f64 / minutes.max(1e-9),
                    results.len(),
                    minutes * 60.0
                );
                write_reports(&out, &results, arch.name(), seed)?;
                println!("reports in {}", out.display());
                Ok(0)
            }
            CampaignArgs::Merge { dirs } => {
                let mut results = Results::new();
                for d in &dirs {
                    let p = d.join("report.csv");
                    let text =
                        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    for r in parse_csv(&text)? {
                        results.insert(r.index, r);
                    }
                }
                println!("{}", table(&results));
                let out = dirs[0].join("merged");
                write_reports(&out, &results, "merged", 0)?;
                println!("reports in {}", out.display());
                Ok(0)
            }
            CampaignArgs::Replay { arch, seed, index } => {
                let s = setup(arch)?;
                let output = s.boot("replay", seed, index, 1)?;
                print!("{output}");
                Ok(0)
            }
        }
    }
}
