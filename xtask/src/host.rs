//! Scenarios with a host side (`[test] host`): QEMU runs headless while a shell script on the
//! host talks to the guest, over the forwarded network port (`$PORT`) and the console.
//!
//! The script starts once a line of QEMU's output contains `host_after`. It types on the
//! guest's console by writing to `$AXOLOTL_CONSOLE`, a named pipe whose bytes go to QEMU's
//! standard input. Its output is added to the guest's, each line prefixed `[host] `, then
//! `[host] exit status N`; the scenario's `expect` lines check both. When the script ends, the
//! scenario's `input` (typically `poweroff`) is typed.

use crate::exit::ExitKind;
use crate::qemu::{Captured, guest_exit};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The host half of a scenario.
pub struct HostStep<'a> {
    pub script: &'a str,
    pub after: &'a str,
    /// Extra environment of the script (`PORT`).
    pub env: Vec<(String, String)>,
    /// Typed when the script has ended.
    pub input: Option<&'a str>,
}

/// Runs QEMU (`program args`) with `host`'s script beside it; QEMU is killed after `timeout`.
pub fn run_with_host(
    program: &str,
    args: &[String],
    kind: ExitKind,
    timeout: Duration,
    host: &HostStep,
) -> Result<Captured, String> {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    // Everything typed goes through one channel to one writer.
    let (typed, keys) = mpsc::channel::<Vec<u8>>();
    let mut stdin = child.stdin.take().ok_or("no stdin for QEMU")?;
    let typist = std::thread::spawn(move || {
        for bytes in keys {
            if stdin
                .write_all(&bytes)
                .and_then(|()| stdin.flush())
                .is_err()
            {
                break;
            }
        }
    });
    let (output, readers) = crate::qemu::collect_output(&mut child);

    let deadline = start + timeout;
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fifo = console_fifo()?;
    let script = {
        let output = Arc::clone(&output);
        let typed = typed.clone();
        let script = host.script.to_string();
        let after = host.after.to_string();
        let env = host.env.clone();
        let input = host.input.map(str::to_string);
        let fifo = fifo.clone();
        let ended = Arc::clone(&ended);
        std::thread::spawn(move || {
            // Wait for the guest to be ready.
            loop {
                let ready = String::from_utf8_lossy(&output.lock().unwrap()).contains(&after);
                if ready {
                    break;
                }
                if Instant::now() >= deadline || ended.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // The console pipe: each writer's bytes go to QEMU.
            let forwarder = {
                let typed = typed.clone();
                let fifo = fifo.clone();
                std::thread::spawn(move || {
                    while let Ok(mut f) = std::fs::File::open(&fifo) {
                        let mut bytes = Vec::new();
                        if f.read_to_end(&mut bytes).is_err() || bytes == b"\0" {
                            break;
                        }
                        let _ = typed.send(bytes);
                    }
                })
            };
            let result = Command::new("sh")
                .args(["-c", &script])
                .envs(env)
                .env("AXOLOTL_CONSOLE", &fifo)
                .stdin(Stdio::null())
                .output();
            let mut text = String::new();
            match result {
                Ok(out) => {
                    let all = [out.stdout, out.stderr].concat();
                    for line in String::from_utf8_lossy(&all).lines() {
                        text.push_str(&format!("[host] {line}\n"));
                    }
                    text.push_str(&format!(
                        "[host] exit status {}\n",
                        out.status.code().unwrap_or(-1)
                    ));
                }
                Err(e) => text.push_str(&format!("[host] cannot run the script: {e}\n")),
            }
            output.lock().unwrap().extend_from_slice(text.as_bytes());
            // Stop the forwarder: one last writer that says so.
            let _ = std::fs::write(&fifo, b"\0");
            let _ = forwarder.join();
            if let Some(input) = input {
                let _ = typed.send(input.into_bytes());
            }
        })
    };
    drop(typed);

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for {program}: {e}")),
        }
    };
    let elapsed = start.elapsed();
    ended.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    let _ = script.join();
    let _ = typist.join();
    let _ = std::fs::remove_file(&fifo);
    let output = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    Ok(Captured {
        output,
        exit: status.map(|s| guest_exit(kind, s)),
        elapsed,
    })
}

/// A fresh named pipe for the script's console input.
fn console_fifo() -> Result<PathBuf, String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("axolotl-console-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let status = Command::new("mkfifo")
        .arg(&path)
        .status()
        .map_err(|e| format!("cannot run mkfifo: {e}"))?;
    if status.success() {
        Ok(path)
    } else {
        Err(format!("mkfifo {} failed", path.display()))
    }
}
