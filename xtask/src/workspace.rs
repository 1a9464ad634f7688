//! The repository: where it is, its cargo, its packages and its target directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace package and its binary targets.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub bins: Vec<String>,
}

/// A program built from a workspace package with features (`[package.metadata.axolotl]
/// variants = { "<program>" = ["<feature>", ...] }`): another build of the same crate, e.g. the
/// code-only patch of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub program: String,
    pub package: String,
    pub features: Vec<String>,
}

pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    cargo: OsString,
    packages: Vec<Package>,
    pub variants: Vec<Variant>,
}

impl Workspace {
    /// Finds the repository (the parent of this crate) and asks cargo for its packages.
    pub fn open() -> Result<Workspace, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the repository")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(&root)
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            return Err(format!("cargo metadata failed: {first}"));
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("cargo metadata printed bad JSON: {e}"))?;
        let target_dir = meta["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let packages = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| Package {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                bins: p["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| {
                        t["kind"]
                            .as_array()
                            .is_some_and(|k| k.iter().any(|k| k == "bin"))
                    })
                    .filter_map(|t| t["name"].as_str().map(String::from))
                    .collect(),
            })
            .collect();
        let variants = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                let package = p["name"].as_str().unwrap_or_default().to_string();
                p["metadata"]["axolotl"]["variants"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(program, features)| Variant {
                        program: program.clone(),
                        package: package.clone(),
                        features: features
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f.as_str().map(String::from))
                            .collect(),
                    })
            })
            .collect();
        Ok(Workspace {
            root,
            target_dir,
            cargo,
            packages,
            variants,
        })
    }

    /// A `cargo` command run at the repository root.
    pub fn cargo(&self) -> Command {
        let mut c = Command::new(&self.cargo);
        c.current_dir(&self.root);
        c
    }

    /// `path` relative to the repository root when it is inside it (for messages).
    pub fn label(&self, path: &Path) -> String {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(path)
        };
        match abs.strip_prefix(&self.root) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// The variant named `program`, or why there is none.
    pub fn variant(&self, program: &str) -> Result<&Variant, String> {
        self.variants
            .iter()
            .find(|v| v.program == program)
            .ok_or_else(|| {
                format!(
                    "patch '{program}': no workspace package declares it as a variant \
                     ([package.metadata.axolotl] variants = {{ \"{program}\" = [features] }})"
                )
            })
    }

    /// Checks that `program` is a workspace package with a binary of the same name.
    pub fn check_program(&self, program: &str) -> Result<(), String> {
        check_program(&self.packages, program)
    }
}

/// The rule behind [`Workspace::check_program`].
pub fn check_program(packages: &[Package], program: &str) -> Result<(), String> {
    if program == "root-task" {
        return Err("program 'root-task' is the root task, not a server program".into());
    }
    match packages.iter().find(|p| p.name == program) {
        Some(p) if p.bins.iter().any(|b| b == program) => Ok(()),
        Some(_) => Err(format!(
            "program '{program}': package '{program}' has no binary named '{program}' (add src/main.rs)"
        )),
        None => Err(format!(
            "program '{program}': no workspace package has that name (programs are crates under servers/ or tests/programs/)"
        )),
    }
}

/// Where an image name leads: `images/NAME.toml`, else `tests/scenarios/NAME.toml`, else `NAME`
/// as a path.
pub fn resolve_image(
    root: &Path,
    name: &str,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    let candidates = [
        root.join("images").join(format!("{name}.toml")),
        root.join("tests/scenarios").join(format!("{name}.toml")),
        PathBuf::from(name),
    ];
    candidates
        .into_iter()
        .find(|c| exists(c))
        .ok_or_else(|| {
            format!(
                "no image '{name}': there is no images/{name}.toml, tests/scenarios/{name}.toml or file '{name}'"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_resolution_order() {
        let root = Path::new("/repo");
        let files = [
            "/repo/images/demo.toml",
            "/repo/tests/scenarios/demo.toml",
            "/repo/tests/scenarios/ipc.toml",
            "my/own.toml",
        ];
        let exists = |p: &Path| files.iter().any(|f| Path::new(f) == p);
        assert_eq!(
            resolve_image(root, "demo", &exists),
            Ok(PathBuf::from("/repo/images/demo.toml"))
        );
        assert_eq!(
            resolve_image(root, "ipc", &exists),
            Ok(PathBuf::from("/repo/tests/scenarios/ipc.toml"))
        );
        assert_eq!(
            resolve_image(root, "my/own.toml", &exists),
            Ok(PathBuf::from("my/own.toml"))
        );
        assert_eq!(
            resolve_image(root, "nosuch", &exists),
            Err("no image 'nosuch': there is no images/nosuch.toml, tests/scenarios/nosuch.toml or file 'nosuch'".into())
        );
    }

    #[test]
    fn programs_must_be_binaries_of_workspace_packages() {
        let packages = [
            Package {
                name: "ping".into(),
                bins: vec!["ping".into()],
            },
            Package {
                name: "ipc-schema".into(),
                bins: vec![],
            },
        ];
        assert_eq!(check_program(&packages, "ping"), Ok(()));
        assert!(
            check_program(&packages, "pong")
                .unwrap_err()
                .contains("no workspace package")
        );
        assert!(
            check_program(&packages, "ipc-schema")
                .unwrap_err()
                .contains("no binary")
        );
        assert!(check_program(&packages, "root-task").is_err());
    }
}
