//! Confinement checks of `cargo xtask test` (the model is `axolotl_image::authority`):
//!
//! - before any QEMU run, for every image description (`images/*.toml` and
//!   `tests/scenarios/*.toml`), derive who can communicate with whom and whose memory each
//!   server can map, and fail on any channel the description does not name or memory given to
//!   two servers; one line per image;
//! - after each scenario run, compare the capabilities the root task says it granted each server
//!   (`caps: ...` in its log) with the model, so that the derivation is of what the root task
//!   really does.

use axolotl_image::ImageDescription;
use axolotl_image::authority::{analyse, caps_summary};
use std::path::Path;

/// Checks every description under `images/` and `scenario_files`; prints one line each and
/// returns whether all passed.
pub fn check_all(root: &Path, scenario_files: &[std::path::PathBuf]) -> bool {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("images"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.extend(scenario_files.iter().cloned());
    let mut ok = true;
    for f in &files {
        let label = f.strip_prefix(root).unwrap_or(f).display().to_string();
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        // Malformed descriptions fail as scenarios (with the parse error), not here.
        let Ok((desc, _)) = axolotl_image::parse(&label, &text) else {
            continue;
        };
        match analyse(&desc) {
            Ok(a) => {
                let direct: usize = a.sends.iter().flatten().filter(|&&s| s).count();
                println!(
                    "confinement {label}: {} servers, {direct} direct channels, {} pairs isolated, {} pairs only through others; memory exclusive",
                    a.names.len(),
                    a.isolated_pairs().len(),
                    a.indirect_pairs().len()
                );
            }
            Err(e) => {
                ok = false;
                println!("FAIL confinement {label}: {e}");
            }
        }
    }
    ok
}

/// Checks the root task's `caps: ...` line of every server in `output` against the model.
pub fn check_granted(desc: &ImageDescription, output: &str) -> Result<(), String> {
    for (i, s) in desc.servers.iter().enumerate() {
        let head = format!("server '{}' (program ", s.name);
        let Some(line) = output.lines().find(|l| l.contains(&head)) else {
            continue; // not built (the scenario says whether that is expected)
        };
        let Some(caps) = line.split("; caps: ").nth(1) else {
            return Err(format!("root task line for '{}' has no caps", s.name));
        };
        let want = caps_summary(desc, i);
        let ok = caps.strip_prefix(want.as_str()).is_some_and(|rest| {
            rest.starts_with(';') || rest.starts_with(", device ") || rest.starts_with(", shared ")
        });
        if !ok {
            return Err(format!(
                "the root task granted '{}' \"{}\" but the confinement model says \"{want}\"",
                s.name,
                caps.split(';').next().unwrap_or("")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root task's lines from a real run of `hostile-messages` on aarch64.
    const LOG: &str = r#"[root INFO] server 'console' (program console, priority 200): 22 pages (10 program, 4 stack, 0 heap, 2 ipc/info, 6 page tables); caps: own tcb, endpoint console, device uart (irq 33, 1 page(s) at 0x20000000); faults to the supervisor (badge 0x1000)
[root INFO] server 'timer' (program timer, priority 150): 21 pages (10 program, 4 stack, 0 heap, 2 ipc/info, 5 page tables); caps: own tcb, endpoint timer, own cnode, device timer (irq 30); faults to the supervisor (badge 0x1001)
[root INFO] server 'name' (program name, priority 130): 20 pages (9 program, 4 stack, 0 heap, 2 ipc/info, 5 page tables); caps: own tcb, endpoint name, own cnode; faults to the supervisor (badge 0x1002)
[root INFO] server 'kv' (program kv, priority 110): 36 pages (13 program, 16 stack, 0 heap, 2 ipc/info, 5 page tables); caps: own tcb, endpoint kv; faults to the supervisor (badge 0x1003)
[root INFO] server 'hostile-client' (program hostile-client, priority 100): 25 pages (10 program, 8 stack, 0 heap, 2 ipc/info, 5 page tables); caps: own tcb, calls console (badge 5), calls timer (badge 5), calls name (badge 5), calls kv (badge 5), calls supervisor (badge 5), calls honest (badge 5); faults to the supervisor (badge 0x1004)
[root INFO] server 'honest-client' (program honest-client, priority 100): 23 pages (8 program, 8 stack, 0 heap, 2 ipc/info, 5 page tables); caps: own tcb, endpoint honest, calls kv (badge 6), sys control; faults to the supervisor (badge 0x1005)"#;

    fn hostile() -> ImageDescription {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text =
            std::fs::read_to_string(root.join("tests/scenarios/hostile-messages.toml")).unwrap();
        axolotl_image::parse("hostile-messages.toml", &text)
            .unwrap()
            .0
    }

    #[test]
    fn the_root_task_grants_what_the_model_says() {
        assert_eq!(check_granted(&hostile(), LOG), Ok(()));
    }

    #[test]
    fn an_extra_capability_is_caught() {
        let log = LOG.replace(
            "endpoint name, own cnode",
            "endpoint name, own cnode, sys control",
        );
        let e = check_granted(&hostile(), &log).unwrap_err();
        assert!(e.contains("'name'"), "{e}");
        let log = LOG.replace("calls console (badge 5), ", "");
        assert!(check_granted(&hostile(), &log).is_err());
    }

    #[test]
    fn every_image_of_the_tree_is_confined() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut scenarios: Vec<_> = std::fs::read_dir(root.join("tests/scenarios"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        scenarios.sort();
        assert!(check_all(&root, &scenarios));
    }
}
