//! QEMU machine definitions (`qemu/<arch>.toml`) and the command lines built from them.

use crate::exit::ExitKind;
use axolotl_abi::{Arch, archive};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One `qemu/<arch>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// The QEMU binary, e.g. `qemu-system-aarch64`.
    pub qemu: String,
    pub machine: String,
    pub cpu: String,
    pub memory: String,
    /// Firmware (`-bios`), e.g. qboot on x86_64.
    pub firmware: Option<String>,
    pub exit: ExitKind,
    /// Extra arguments for every run.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra arguments for benchmark runs (deterministic instruction counting).
    #[serde(default)]
    pub bench_args: Vec<String>,
    /// The virtio-net device for `--net` (and scenarios with `[test] net`), attached to the
    /// user-networking backend `n0` that [`Machine::net_args`] adds.
    #[serde(default)]
    pub net_args: Vec<String>,
}

/// The guest's port the host port is forwarded to (netstack's Redis port).
pub const GUEST_PORT: u16 = 6379;

/// Where the guest's console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// A terminal: `-nographic` (serial and monitor multiplexed on stdio; Ctrl-A X quits).
    Terminal,
    /// Pipes or files: the first serial port on stdio, no monitor, so stdin feeds the console.
    Piped,
}

impl Machine {
    pub fn parse(label: &str, text: &str) -> Result<Machine, String> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    format!(
                        "line {}: ",
                        text[..s.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default();
            format!(
                "{label}: {line}{}",
                e.message().replace('`', "'").replace('\n', " ")
            )
        })
    }

    pub fn load(root: &Path, arch: Arch) -> Result<Machine, String> {
        let label = format!("qemu/{}.toml", arch.name());
        let text = std::fs::read_to_string(root.join(&label))
            .map_err(|e| format!("{label}: cannot read: {e}"))?;
        Machine::parse(&label, &text)
    }

    /// QEMU's arguments to boot `kernel` with the boot archive loaded at the address the kernel
    /// expects.
    pub fn args(
        &self,
        arch: Arch,
        kernel: &Path,
        archive_file: &Path,
        console: Console,
        bench: bool,
    ) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-machine".into(),
            self.machine.clone(),
            "-cpu".into(),
            self.cpu.clone(),
            "-m".into(),
            self.memory.clone(),
        ];
        if let Some(fw) = &self.firmware {
            a.extend(["-bios".into(), fw.clone()]);
        }
        a.extend(self.args.iter().cloned());
        if bench {
            a.extend(self.bench_args.iter().cloned());
        }
        match console {
            Console::Terminal => a.push("-nographic".into()),
            Console::Piped => a.extend(
                ["-display", "none", "-serial", "stdio", "-monitor", "none"].map(String::from),
            ),
        }
        a.extend([
            "-kernel".into(),
            kernel.display().to_string(),
            "-device".into(),
            format!(
                "loader,file={},addr={:#x},force-raw=on",
                qemu_escape(&archive_file.display().to_string()),
                archive::load_address(arch)
            ),
        ]);
        a
    }
}

impl Machine {
    /// QEMU user networking (backend `n0`) forwarding `host_port` on the host's loopback to the
    /// guest's [`GUEST_PORT`], and the machine's virtio-net device on it.
    pub fn net_args(&self, host_port: u16) -> Vec<String> {
        let mut a = vec![
            "-netdev".to_string(),
            format!("user,id=n0,hostfwd=tcp:127.0.0.1:{host_port}-:{GUEST_PORT}"),
        ];
        a.extend(self.net_args.iter().cloned());
        a
    }
}

/// QEMU option values double their commas.
fn qemu_escape(value: &str) -> String {
    value.replace(',', ",,")
}

/// The firmware files a machine needs that are missing.
pub fn missing_firmware(machine: &Machine) -> Option<PathBuf> {
    let fw = PathBuf::from(machine.firmware.as_ref()?);
    (!fw.exists()).then_some(fw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_machine(arch: Arch) -> Machine {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        Machine::load(root, arch).unwrap()
    }

    #[test]
    fn repository_definitions_parse() {
        let a = repo_machine(Arch::Aarch64);
        assert_eq!(a.qemu, "qemu-system-aarch64");
        assert_eq!(a.exit, ExitKind::Semihosting);
        assert_eq!(a.firmware, None);
        let x = repo_machine(Arch::X86_64);
        assert_eq!(x.qemu, "qemu-system-x86_64");
        assert_eq!(x.exit, ExitKind::IsaDebugExit);
        assert_eq!(x.firmware.as_deref(), Some("/usr/share/qemu/qboot.rom"));
        for m in [a, x] {
            assert!(m.args.iter().any(|a| a == "-no-reboot"));
            assert!(m.bench_args.iter().any(|a| a == "-icount"));
        }
    }

    #[test]
    fn command_lines() {
        let a = repo_machine(Arch::Aarch64);
        let args = a.args(
            Arch::Aarch64,
            Path::new("/t/kernel"),
            Path::new("/t/a,b.archive"),
            Console::Piped,
            false,
        );
        let s = args.join(" ");
        assert!(s.starts_with("-machine virt -cpu max -m 512M "), "{s}");
        assert!(
            s.contains("-semihosting-config enable=on,target=native"),
            "{s}"
        );
        assert!(
            s.contains("-display none -serial stdio -monitor none"),
            "{s}"
        );
        assert!(!s.contains("-icount"), "{s}");
        assert!(
            s.ends_with(
                "-kernel /t/kernel -device loader,file=/t/a,,b.archive,addr=0x48000000,force-raw=on"
            ),
            "{s}"
        );
        let x = repo_machine(Arch::X86_64);
        let s = x
            .args(
                Arch::X86_64,
                Path::new("k"),
                Path::new("a"),
                Console::Terminal,
                true,
            )
            .join(" ");
        assert!(
            s.starts_with("-machine q35 -cpu max -m 512M -bios /usr/share/qemu/qboot.rom "),
            "{s}"
        );
        assert!(
            s.contains("-device isa-debug-exit,iobase=0xf4,iosize=0x04"),
            "{s}"
        );
        assert!(s.contains("-icount shift=0,sleep=off"), "{s}");
        assert!(s.contains("-nographic"), "{s}");
        assert!(s.ends_with("addr=0x8000000,force-raw=on"), "{s}");
    }

    #[test]
    fn bad_definitions() {
        let e = Machine::parse(
            "m.toml",
            "qemu = \"q\"\nmachine = \"m\"\ncpu = \"c\"\nmemory = \"1G\"\nexit = \"reboot\"\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("m.toml: line 5: unknown variant 'reboot'"),
            "{e}"
        );
        let e = Machine::parse("m.toml", "qemu = \"q\"\nmachine = \"m\"\ncpu = \"c\"\nmemory = \"1G\"\nexit = \"semihosting\"\nbios = \"x\"\n")
            .unwrap_err();
        assert!(e.starts_with("m.toml: line 6: unknown field 'bios'"), "{e}");
    }
}
