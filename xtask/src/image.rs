//! Building an image: the kernel, the root task and the programs, then the boot archive.

use crate::workspace::Workspace;
use axolotl_abi::{Arch, archive};
use axolotl_image::{ImageDescription, TestSpec};
use std::path::{Path, PathBuf};

/// A parsed, checked image description file.
#[derive(Debug, Clone)]
pub struct Image {
    /// The file's stem: names the archive and the test.
    pub name: String,
    /// The file, as shown in messages.
    pub label: String,
    pub desc: ImageDescription,
    pub test: Option<TestSpec>,
}

impl Image {
    /// Reads, parses and checks a description, including that every program is a workspace
    /// binary. Errors are one line naming the file.
    pub fn load(ws: &Workspace, path: &Path) -> Result<Image, String> {
        let label = ws.label(path);
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{label}: cannot read: {e}"))?;
        let (desc, test) = axolotl_image::parse(&label, &text).map_err(|e| e.to_string())?;
        for s in &desc.servers {
            for p in &s.patches {
                ws.variant(p)
                    .map_err(|e| format!("{label}: server '{}': {e}", s.name))?;
            }
        }
        for p in programs(&desc) {
            ws.check_program(&p).map_err(|e| format!("{label}: {e}"))?;
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| desc.name.to_string());
        Ok(Image {
            name,
            label,
            desc,
            test,
        })
    }

    /// The programs it runs or can upgrade to (`upgrades`), each once, in order of first use.
    pub fn programs(&self) -> Vec<String> {
        programs(&self.desc)
    }
}

/// The distinct programs of a description, servers' and then their `upgrades`, in order of
/// first use: all go in the boot archive.
pub fn programs(desc: &ImageDescription) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let running = desc.servers.iter().map(|s| &s.program);
    let upgrades = desc.servers.iter().flat_map(|s| s.upgrades.iter());
    for p in running.chain(upgrades) {
        if !out.iter().any(|o| o == p.as_str()) {
            out.push(p.to_string());
        }
    }
    out
}

fn release_dir(ws: &Workspace, arch: Arch) -> PathBuf {
    ws.target_dir.join(arch.target_triple()).join("release")
}

pub fn kernel_elf(ws: &Workspace, arch: Arch) -> PathBuf {
    release_dir(ws, arch).join("axolotl-kernel")
}

pub fn archive_path(ws: &Workspace, arch: Arch, image: &str) -> PathBuf {
    ws.target_dir
        .join("images")
        .join(arch.name())
        .join(format!("{image}.archive"))
}

fn cargo_build(ws: &Workspace, arch: Arch, packages: &[&str]) -> Result<(), String> {
    let mut cmd = ws.cargo();
    cmd.args(["build", "--release", "--target", arch.target_triple()]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build --release --target {} -p {} failed",
            arch.target_triple(),
            packages.join(" -p ")
        ))
    }
}

/// Builds a variant (a package with features) in a target directory of its own, so that it
/// never replaces the package's plain build; returns its ELF.
///
/// The features are turned on in the program's own crate only, as `--cfg feature="..."` given
/// to its last rustc invocation (`cargo rustc`), not with `--features`: cargo hashes a package's
/// features into its `-C metadata`, which goes into the symbol name of every generic function
/// the program instantiates (`ipc_schema::client::call::<..>`, closures' shims), and rustc
/// orders those functions by symbol name. With `--features` the two builds placed some of them
/// in another order, so the read-only data that names them (vtables, the unwind tables' index)
/// differed and the data-layout check refused the patch (seen with `resp`). A variant's features
/// therefore may only select code (`#[cfg(feature = ...)]`), not enable dependencies.
pub fn build_variant(
    ws: &Workspace,
    arch: Arch,
    variant: &crate::workspace::Variant,
) -> Result<Vec<u8>, String> {
    let dir = ws.target_dir.join("variants").join(&variant.program);
    let mut cmd = ws.cargo();
    cmd.args(["rustc", "--release", "--target", arch.target_triple()])
        .args(["-p", &variant.package, "--bin", &variant.package]);
    cmd.arg("--target-dir").arg(&dir);
    if !variant.features.is_empty() {
        cmd.arg("--");
        for feature in &variant.features {
            cmd.args(["--cfg", &format!("feature=\"{feature}\"")]);
        }
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building {} (package {} with features {}) failed",
            variant.program,
            variant.package,
            variant.features.join(",")
        ));
    }
    read_elf(
        &dir.join(arch.target_triple())
            .join("release")
            .join(&variant.package),
    )
}

/// Builds the kernel; returns its ELF.
pub fn build_kernel(ws: &Workspace, arch: Arch) -> Result<PathBuf, String> {
    eprintln!("xtask: building the kernel for {}", arch.name());
    cargo_build(ws, arch, &["axolotl-kernel"])?;
    Ok(kernel_elf(ws, arch))
}

/// Builds the root task and `programs` in one cargo invocation.
pub fn build_user(ws: &Workspace, arch: Arch, programs: &[String]) -> Result<(), String> {
    eprintln!(
        "xtask: building the root task{}{}",
        if programs.is_empty() { "" } else { " and " },
        programs.join(", ")
    );
    let mut packages = vec!["root-task"];
    packages.extend(programs.iter().map(String::as_str));
    cargo_build(ws, arch, &packages)
}

/// Builds the root task alone, then each program alone; returns the programs that failed (all
/// of them if the root task failed). Used to tell which scenarios a broken program spoils.
pub fn build_user_one_by_one(ws: &Workspace, arch: Arch, programs: &[String]) -> Vec<String> {
    if cargo_build(ws, arch, &["root-task"]).is_err() {
        let mut all = vec!["root-task".to_string()];
        all.extend(programs.iter().cloned());
        return all;
    }
    programs
        .iter()
        .filter(|p| cargo_build(ws, arch, &[p.as_str()]).is_err())
        .cloned()
        .collect()
}

fn read_elf(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err(format!("{} is not an ELF file", path.display()));
    }
    Ok(bytes)
}

/// Writes `target/images/<arch>/<image>.archive` from the built ELFs; returns its path.
pub fn write_archive(ws: &Workspace, arch: Arch, image: &Image) -> Result<PathBuf, String> {
    let dir = release_dir(ws, arch);
    let root_task = read_elf(&dir.join("root-task"))?;
    let programs = image.programs();
    let mut elfs = Vec::new();
    for p in &programs {
        elfs.push(read_elf(&dir.join(p))?);
    }
    let mut desc_buf = vec![0u8; axolotl_image::MAX_ENCODED_LEN];
    let desc = axolotl_image::encode(&image.desc, &mut desc_buf)
        .map_err(|e| format!("{}: cannot encode the description: {e}", image.label))?;

    // A server that can be patched runs a build made alone, like its patches: built together with
    // the other programs, cargo would unify the features of crates they share (the runtime's
    // `virtio` for netstack, say), and the two builds' layouts would differ for that reason only.
    for s in image.desc.servers.iter().filter(|s| !s.patches.is_empty()) {
        if let Some(index) = programs.iter().position(|p| p == s.program.as_str()) {
            let base = crate::workspace::Variant {
                program: format!("{}.base", s.program),
                package: s.program.to_string(),
                features: Vec::new(),
            };
            elfs[index] = build_variant(ws, arch, &base)?;
        }
    }
    let mut entries: Vec<(&str, archive::EntryKind, &[u8])> =
        vec![("root-task", archive::EntryKind::RootTask, &root_task)];
    for (p, elf) in programs.iter().zip(&elfs) {
        entries.push((p, archive::EntryKind::Program, elf));
    }
    // Code-only patches: each built as its variant, and refused unless its data layout is the
    // running program's.
    let mut patches: Vec<(String, Vec<u8>)> = Vec::new();
    for s in &image.desc.servers {
        let running = programs
            .iter()
            .position(|p| p == s.program.as_str())
            .map(|i| &elfs[i]);
        for p in &s.patches {
            let elf = match patches.iter().find(|(name, _)| name == p.as_str()) {
                Some((_, elf)) => elf.clone(),
                None => {
                    let elf = build_variant(ws, arch, ws.variant(p)?)?;
                    patches.push((p.to_string(), elf.clone()));
                    elf
                }
            };
            if let Some(running) = running {
                crate::layout::check(running, &elf).map_err(|e| {
                    format!(
                        "{}: server '{}' cannot be patched from {} to {p}: {e}",
                        image.label, s.name, s.program
                    )
                })?;
            }
        }
    }
    for (p, elf) in &patches {
        entries.push((p, archive::EntryKind::Program, elf));
    }
    entries.push(("image", archive::EntryKind::ImageDescription, desc));
    let mut out = vec![0u8; archive::size_needed(&entries)];
    let len = archive::write(&entries, &mut out)
        .ok_or_else(|| format!("{}: cannot write the boot archive", image.label))?;
    out.truncate(len);
    if len as u64 > archive::MAX_LEN {
        return Err(format!(
            "{}: the boot archive is {} KiB, more than the kernel accepts ({} KiB)",
            image.label,
            len / 1024,
            archive::MAX_LEN / 1024
        ));
    }
    let path = archive_path(ws, arch, &image.name);
    std::fs::create_dir_all(path.parent().expect("archive in a directory"))
        .and_then(|()| std::fs::write(&path, &out))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// A built image: what QEMU needs.
pub struct Built {
    pub kernel: PathBuf,
    pub archive: PathBuf,
    pub image: Image,
}

/// `cargo xtask build`: everything one image needs, for one architecture.
pub fn build(ws: &Workspace, arch: Arch, path: &Path) -> Result<Built, String> {
    // Check the description first: a typo should not wait for a kernel build.
    let image = Image::load(ws, path)?;
    crate::setup::ensure_targets(ws)?;
    let kernel = build_kernel(ws, arch)?;
    build_user(ws, arch, &image.programs())?;
    let archive = write_archive(ws, arch, &image)?;
    eprintln!(
        "xtask: image {} ({}) -> {} ({} KiB)",
        image.name,
        arch.name(),
        ws.label(&archive),
        std::fs::metadata(&archive)
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    );
    Ok(Built {
        kernel,
        archive,
        image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_distinct_in_order() {
        let text = "[image]\nname = \"x\"\n\
                    [[server]]\nname = \"b\"\nprogram = \"echo\"\n\
                    [[server]]\nname = \"a\"\nprogram = \"ping\"\n\
                    [[server]]\nname = \"c\"\nprogram = \"echo\"\n";
        let (desc, _) = axolotl_image::parse("x.toml", text).unwrap();
        assert_eq!(programs(&desc), ["echo", "ping"]);
    }
}
