//! Command-line parsing (hand-written: four commands, four options).

use axolotl_abi::Arch;
use std::path::PathBuf;

/// The architectures `cargo xtask test` runs by default. x86_64 joins when its port is done;
/// `--arch x86_64` (or `--arch all`) runs it anyway.
pub const SUPPORTED_ARCHES: &[Arch] = &[Arch::Aarch64, Arch::X86_64];
/// Every architecture there is (`--arch all`).
pub const ALL_ARCHES: &[Arch] = &[Arch::Aarch64, Arch::X86_64];
pub const DEFAULT_ARCH: Arch = Arch::Aarch64;
pub const DEFAULT_IMAGE: &str = "demo";
/// The image `run --net` boots unless `--image` says otherwise.
pub const DEFAULT_NET_IMAGE: &str = "net";
/// The host port `run --net` forwards unless `--port` says otherwise.
pub const DEFAULT_NET_PORT: u16 = 6379;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Build {
        arch: Arch,
        image: String,
    },
    Run {
        arch: Arch,
        image: String,
        bench: bool,
        /// `--net`: a virtio-net device on QEMU user networking, this host port (on 127.0.0.1)
        /// forwarded to the guest's Redis port.
        net: Option<u16>,
    },
    Test {
        arches: Vec<Arch>,
        /// `--only a,b`: just these scenarios (no host tests).
        only: Vec<String>,
    },
    Bench {
        arch: Arch,
        json: Option<PathBuf>,
    },
    /// `demo upgrade`: a scripted demo, its transcript on the terminal.
    Demo {
        name: String,
        arches: Vec<Arch>,
    },
    /// `campaign [merge DIR... | replay]`: see `crate::campaign`.
    Campaign(CampaignArgs),
    /// `bench net`: redis-benchmark against the network personality, steady and with faults.
    BenchNet {
        arch: Arch,
    },
    Help,
}

/// `cargo xtask campaign` and its subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignArgs {
    Run {
        arch: Arch,
        faults: u64,
        seed: u64,
        out: PathBuf,
        shard: (u64, u64),
        jobs: u64,
    },
    Merge {
        dirs: Vec<PathBuf>,
    },
    Replay {
        arch: Arch,
        seed: u64,
        index: u64,
    },
}

/// Parses the arguments after `cargo xtask campaign`.
fn parse_campaign(rest: &[String]) -> Result<Command, String> {
    if rest.first().map(String::as_str) == Some("merge") {
        if rest.len() < 2 {
            return Err("campaign merge needs at least one directory".into());
        }
        return Ok(Command::Campaign(CampaignArgs::Merge {
            dirs: rest[1..].iter().map(PathBuf::from).collect(),
        }));
    }
    let replay = rest.first().map(String::as_str) == Some("replay");
    let rest = if replay { &rest[1..] } else { rest };
    let mut get = std::collections::BTreeMap::new();
    let mut i = 0;
    while i < rest.len() {
        let name = rest[i]
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument '{}'", rest[i]))?;
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                i += 1;
                let v = rest
                    .get(i)
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                (name.to_string(), v.clone())
            }
        };
        let allowed: &[&str] = if replay {
            &["arch", "seed", "index"]
        } else {
            &["arch", "faults", "seed", "out", "shard", "jobs"]
        };
        if !allowed.contains(&name.as_str()) {
            return Err(format!("campaign takes no option --{name}"));
        }
        if get.insert(name.clone(), value).is_some() {
            return Err(format!("--{name} is given twice"));
        }
        i += 1;
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        get.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("--{name}: not a number: {v}"))
        })
    };
    let arch = get
        .get("arch")
        .map_or(Ok(DEFAULT_ARCH), |a| parse_arch(a))?;
    if replay {
        return Ok(Command::Campaign(CampaignArgs::Replay {
            arch,
            seed: number("seed", 7)?,
            index: number("index", 0)?,
        }));
    }
    let shard = match get.get("shard") {
        Some(v) => {
            let (i, n) = v.split_once('/').ok_or("--shard is I/N")?;
            let (i, n): (u64, u64) = (
                i.parse().map_err(|_| "--shard is I/N")?,
                n.parse().map_err(|_| "--shard is I/N")?,
            );
            if n == 0 || i >= n {
                return Err("--shard I/N needs I < N".into());
            }
            (i, n)
        }
        None => (0, 1),
    };
    Ok(Command::Campaign(CampaignArgs::Run {
        arch,
        faults: number("faults", 1000)?,
        seed: number("seed", 7)?,
        out: PathBuf::from(get.get("out").map_or("results", String::as_str)),
        shard,
        jobs: number("jobs", 1)?.max(1),
    }))
}

pub const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build [--arch A] [--image NAME]          build the kernel, the root task and an image's programs,
                                           and write target/images/<arch>/<image>.archive
  run   [--arch A] [--image NAME] [--bench] [--net [--port P]]
                                           build, then boot the image in QEMU (Ctrl-A X quits);
                                           exits with the guest's exit status
  test  [--arch aarch64|x86_64|all] [--only S1,S2]
                                           host unit tests, then every tests/scenarios/*.toml in QEMU
                                           (--only: just those scenarios, no host tests)
  bench [--arch A] [--json FILE]           run images/bench.toml with deterministic instruction
                                           counting and report its BENCH lines
  demo upgrade [--arch A|all]              the live-upgrade demo (both architectures unless told):
                                           kv1 -> kv2 under load, then a rolled-back kv2 -> kv3
  campaign [--arch A] [--faults N] [--seed S] [--out DIR] [--shard I/N] [--jobs J]
                                           a fault-injection campaign (docs/CAMPAIGNS.md)
  campaign merge DIR...                    combine the reports of shards
  campaign replay [--arch A] --seed S --index K
                                           rerun one injection and show the guest's output
  bench net [--arch A]                     redis-benchmark from the host against the network
                                           personality: steady, then during injected kv faults

options:
  --arch A      aarch64 (default) or x86_64
  --image NAME  images/NAME.toml, else tests/scenarios/NAME.toml, else a path (default: demo)
  --bench       run QEMU with the machine's bench_args (instruction counting)
  --json FILE   write the benchmark results as JSON
  --net         add a virtio-net device on QEMU user networking (image: net unless --image),
                forwarding 127.0.0.1:P on the host to the guest's Redis port 6379
  --port P      the host port for --net (default 6379)
";

fn parse_arch(value: &str) -> Result<Arch, String> {
    Arch::from_name(value)
        .ok_or_else(|| format!("unknown architecture '{value}' (expected aarch64 or x86_64)"))
}

/// The scripted demos `cargo xtask demo NAME` runs.
pub const DEMOS: &[&str] = &["upgrade"];

/// `demo NAME [--arch A|all]` (both architectures unless told).
fn parse_demo(rest: &[String]) -> Result<Command, String> {
    let Some((name, rest)) = rest.split_first() else {
        return Err(format!("demo needs a name: {}", DEMOS.join(", ")));
    };
    if !DEMOS.contains(&name.as_str()) {
        return Err(format!(
            "unknown demo '{name}' (known: {})",
            DEMOS.join(", ")
        ));
    }
    let arches = match rest {
        [] => ALL_ARCHES.to_vec(),
        [flag, value] if flag == "--arch" => match value.as_str() {
            "all" => ALL_ARCHES.to_vec(),
            a => vec![parse_arch(a)?],
        },
        [flag] if flag.starts_with("--arch=") => match &flag["--arch=".len()..] {
            "all" => ALL_ARCHES.to_vec(),
            a => vec![parse_arch(a)?],
        },
        _ => return Err("demo takes only --arch A (aarch64, x86_64 or all)".into()),
    };
    Ok(Command::Demo {
        name: name.clone(),
        arches,
    })
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, mut rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    if command == "campaign" {
        return parse_campaign(rest);
    }
    if command == "demo" {
        return parse_demo(rest);
    }
    let net_bench = command == "bench" && rest.first().is_some_and(|a| a == "net");
    if net_bench {
        rest = &rest[1..];
    }
    // Options as (name, value); flags have no value.
    let mut options: Vec<(String, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        let Some(body) = arg.strip_prefix("--") else {
            if arg == "-h" {
                return Ok(Command::Help);
            }
            return Err(format!(
                "unexpected argument '{arg}' (see cargo xtask help)"
            ));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if name == "help" {
            return Ok(Command::Help);
        }
        let takes_value = matches!(name.as_str(), "arch" | "image" | "json" | "port" | "only");
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(
                        rest.get(i)
                            .filter(|v| !v.starts_with("--"))
                            .ok_or_else(|| format!("--{name} needs a value"))?
                            .clone(),
                    )
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("--{name} takes no value"));
            }
            None
        };
        if options.iter().any(|(n, _)| *n == name) {
            return Err(format!("--{name} is given twice"));
        }
        options.push((name, value));
        i += 1;
    }
    let allowed: &[&str] = match command.as_str() {
        "build" => &["arch", "image"],
        "run" => &["arch", "image", "bench", "net", "port"],
        "test" => &["arch", "only"],
        "bench" => &["arch", "json"],
        "help" => return Ok(Command::Help),
        other => return Err(format!("unknown command '{other}' (see cargo xtask help)")),
    };
    if let Some((name, _)) = options.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
        return Err(format!("'{command}' takes no option --{name}"));
    }
    let get = |name: &str| {
        options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let arch = match get("arch").flatten() {
        Some(a) if command == "test" && a == "all" => None,
        Some(a) => Some(parse_arch(&a)?),
        None => None,
    };
    let image = get("image")
        .flatten()
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    Ok(match command.as_str() {
        "build" => Command::Build {
            arch: arch.unwrap_or(DEFAULT_ARCH),
            image,
        },
        "run" => {
            let net = get("net").is_some();
            let port = match get("port").flatten() {
                Some(_) if !net => return Err("--port needs --net".into()),
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("--port: '{p}' is not a port number (1..=65535)"))?,
                None => DEFAULT_NET_PORT,
            };
            let image = match get("image").flatten() {
                Some(i) => i,
                None if net => DEFAULT_NET_IMAGE.to_string(),
                None => image,
            };
            Command::Run {
                arch: arch.unwrap_or(DEFAULT_ARCH),
                image,
                bench: get("bench").is_some(),
                net: net.then_some(port),
            }
        }
        "test" => Command::Test {
            arches: match (get("arch").flatten(), arch) {
                (None, _) => SUPPORTED_ARCHES.to_vec(),
                (Some(_), None) => ALL_ARCHES.to_vec(),
                (Some(_), Some(a)) => vec![a],
            },
            only: get("only")
                .flatten()
                .map(|l| l.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        },
        "bench" if net_bench => {
            if get("json").is_some() {
                return Err("'bench net' takes no option --json".into());
            }
            Command::BenchNet {
                arch: arch.unwrap_or(DEFAULT_ARCH),
            }
        }
        "bench" => Command::Bench {
            arch: arch.unwrap_or(DEFAULT_ARCH),
            json: get("json").flatten().map(PathBuf::from),
        },
        _ => unreachable!(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &str) -> Result<Command, String> {
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    #[test]
    fn demos() {
        assert_eq!(
            p("demo upgrade"),
            Ok(Command::Demo {
                name: "upgrade".into(),
                arches: ALL_ARCHES.to_vec()
            })
        );
        assert_eq!(
            p("demo upgrade --arch x86_64"),
            Ok(Command::Demo {
                name: "upgrade".into(),
                arches: vec![Arch::X86_64]
            })
        );
        assert!(p("demo").is_err());
        assert!(p("demo nope").unwrap_err().contains("unknown demo 'nope'"));
        assert!(p("demo upgrade --json x").is_err());
    }

    #[test]
    fn defaults() {
        assert_eq!(p(""), Ok(Command::Help));
        assert_eq!(
            p("build"),
            Ok(Command::Build {
                arch: Arch::Aarch64,
                image: "demo".into()
            })
        );
        assert_eq!(
            p("run"),
            Ok(Command::Run {
                arch: Arch::Aarch64,
                image: "demo".into(),
                bench: false,
                net: None
            })
        );
        assert_eq!(
            p("test"),
            Ok(Command::Test {
                arches: SUPPORTED_ARCHES.to_vec(),
                only: vec![]
            })
        );
        assert_eq!(
            p("bench"),
            Ok(Command::Bench {
                arch: Arch::Aarch64,
                json: None
            })
        );
    }

    #[test]
    fn options() {
        assert_eq!(
            p("run --arch x86_64 --image ipc-pingpong --bench"),
            Ok(Command::Run {
                arch: Arch::X86_64,
                image: "ipc-pingpong".into(),
                bench: true,
                net: None
            })
        );
        assert_eq!(
            p("run --net"),
            Ok(Command::Run {
                arch: Arch::Aarch64,
                image: "net".into(),
                bench: false,
                net: Some(6379)
            })
        );
        assert_eq!(
            p("run --net --port 7000 --image demo"),
            Ok(Command::Run {
                arch: Arch::Aarch64,
                image: "demo".into(),
                bench: false,
                net: Some(7000)
            })
        );
        assert!(p("run --port 7000").is_err());
        assert_eq!(
            p("bench net --arch x86_64"),
            Ok(Command::BenchNet { arch: Arch::X86_64 })
        );
        assert!(p("bench net --json x").is_err());
        assert!(p("run --net --port 0").is_err());
        assert!(p("run --net --port x").is_err());
        assert_eq!(
            p("build --arch=x86_64 --image=tests/scenarios/x.toml"),
            Ok(Command::Build {
                arch: Arch::X86_64,
                image: "tests/scenarios/x.toml".into()
            })
        );
        assert_eq!(
            p("test --arch all"),
            Ok(Command::Test {
                arches: vec![Arch::Aarch64, Arch::X86_64],
                only: vec![]
            })
        );
        assert_eq!(
            p("test --arch x86_64"),
            Ok(Command::Test {
                arches: vec![Arch::X86_64],
                only: vec![]
            })
        );
        assert_eq!(
            p("bench --json out.json --arch aarch64"),
            Ok(Command::Bench {
                arch: Arch::Aarch64,
                json: Some("out.json".into())
            })
        );
        assert_eq!(p("help"), Ok(Command::Help));
        assert_eq!(p("run --help"), Ok(Command::Help));
        assert_eq!(p("test -h"), Ok(Command::Help));
    }

    #[test]
    fn errors() {
        assert_eq!(
            p("frobnicate"),
            Err("unknown command 'frobnicate' (see cargo xtask help)".into())
        );
        assert_eq!(
            p("run --arch riscv64"),
            Err("unknown architecture 'riscv64' (expected aarch64 or x86_64)".into())
        );
        assert_eq!(
            p("build --arch all"),
            Err("unknown architecture 'all' (expected aarch64 or x86_64)".into())
        );
        assert_eq!(p("run --image"), Err("--image needs a value".into()));
        assert_eq!(
            p("run --image --bench"),
            Err("--image needs a value".into())
        );
        assert_eq!(
            p("test --image demo"),
            Err("'test' takes no option --image".into())
        );
        assert_eq!(
            p("build --bench"),
            Err("'build' takes no option --bench".into())
        );
        assert_eq!(p("run --bench=1"), Err("--bench takes no value".into()));
        assert_eq!(
            p("run --arch aarch64 --arch x86_64"),
            Err("--arch is given twice".into())
        );
        assert_eq!(
            p("run demo"),
            Err("unexpected argument 'demo' (see cargo xtask help)".into())
        );
    }
}
