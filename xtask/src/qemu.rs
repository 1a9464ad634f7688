//! Running QEMU: interactively, or headless with the output captured and a timeout.

use crate::exit::{ExitKind, GuestExit, decode};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn guest_exit(kind: ExitKind, status: ExitStatus) -> GuestExit {
    decode(kind, status.code(), status.signal())
}

/// The command line as one shell-like string (for logs and messages).
pub fn command_line(program: &str, args: &[String]) -> String {
    let quote = |a: &str| {
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=,./:".contains(c))
        {
            a.to_string()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs QEMU on this process's terminal (or pipes); returns what the guest reported.
pub fn run_attached(program: &str, args: &[String], kind: ExitKind) -> Result<GuestExit, String> {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    Ok(guest_exit(kind, status))
}

/// A headless run.
/// Collects `child`'s standard output and error, as they come, into one buffer: one reader
/// thread each, to join once the child has ended.
pub fn collect_output(
    child: &mut std::process::Child,
) -> (Arc<Mutex<Vec<u8>>>, Vec<std::thread::JoinHandle<()>>) {
    let output = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    })
    .collect();
    (output, readers)
}

pub struct Captured {
    /// stdout and stderr, interleaved as they came.
    pub output: String,
    /// `None` if it timed out (and was killed).
    pub exit: Option<GuestExit>,
    pub elapsed: Duration,
}

/// Starts QEMU and measures the wall-clock time until a line of its standard output contains
/// `needle`; then kills it. `None` if the line did not come within `timeout`.
pub fn time_until_line(
    program: &str,
    args: &[String],
    needle: &str,
    timeout: Duration,
) -> Result<Option<Duration>, String> {
    use std::io::{BufRead, BufReader};
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let needle = needle.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) if l.contains(&needle) => {
                    let _ = tx.send(start.elapsed());
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let found = rx.recv_timeout(timeout).ok();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    Ok(found)
}

/// Runs QEMU with its output captured; kills it after `timeout`.
///
/// `input` is what is typed on the guest's console: with `-serial stdio`, QEMU reads its
/// standard input into the first serial port, taking bytes only as fast as the UART accepts
/// them, so the whole input is written at once, as a paste, right after QEMU starts, and stdin
/// is then closed. QEMU does not stop at the end of its standard input (every run without
/// `input` has stdin null, an immediate end of file), so the guest keeps running until it powers
/// off. Without `input`, stdin is null.
pub fn run_captured(
    program: &str,
    args: &[String],
    kind: ExitKind,
    timeout: Duration,
    input: Option<&[u8]>,
) -> Result<Captured, String> {
    run_watched(program, args, kind, timeout, None, input)
}

/// [`run_captured`], also killing it once its output has not grown for `idle` (a guest that
/// stopped making progress: campaigns notice a hang in seconds rather than at `timeout`).
pub fn run_watched(
    program: &str,
    args: &[String],
    kind: ExitKind,
    timeout: Duration,
    idle: Option<Duration>,
    input: Option<&[u8]>,
) -> Result<Captured, String> {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    // A thread, because a write larger than the pipe's buffer waits for QEMU to read. An error
    // (QEMU ended before reading it all) leaves the verdict to the exit status and the output.
    let typist = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => {
            let bytes = bytes.to_vec();
            Some(std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let (output, readers) = collect_output(&mut child);
    let deadline = start + timeout;
    let (mut seen, mut last_progress) = (0, Instant::now());
    let status = loop {
        let now = Instant::now();
        let len = output.lock().unwrap().len();
        if len != seen {
            (seen, last_progress) = (len, now);
        }
        let stalled = idle.is_some_and(|idle| now.duration_since(last_progress) >= idle);
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if now >= deadline || stalled => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for {program}: {e}")),
        }
    };
    let elapsed = start.elapsed();
    for r in readers {
        let _ = r.join();
    }
    if let Some(t) = typist {
        let _ = t.join();
    }
    let output = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    Ok(Captured {
        output,
        exit: status.map(|s| guest_exit(kind, s)),
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            command_line(
                "qemu",
                &["-m".into(), "512M".into(), "a b".into(), "it's".into()]
            ),
            r"qemu -m 512M 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn captures_output_and_status() {
        let c = run_captured(
            "sh",
            &["-c".into(), "echo out; echo err >&2; exit 3".into()],
            ExitKind::Semihosting,
            Duration::from_secs(10),
            None,
        )
        .unwrap();
        assert!(
            c.output.contains("out\n") && c.output.contains("err\n"),
            "{}",
            c.output
        );
        assert_eq!(c.exit, Some(GuestExit::Status(3)));
    }

    #[test]
    fn kills_on_timeout() {
        let c = run_captured(
            "sh",
            &["-c".into(), "echo started; exec sleep 10".into()],
            ExitKind::Semihosting,
            Duration::from_millis(200),
            None,
        )
        .unwrap();
        assert_eq!(c.exit, None);
        assert!(c.output.contains("started"));
        assert!(c.elapsed < Duration::from_secs(5));
    }

    #[test]
    fn kills_when_the_output_stops_growing() {
        let c = run_watched(
            "sh",
            &[
                "-c".into(),
                "echo a; sleep 0.1; echo b; sleep 5; exit 3".into(),
            ],
            ExitKind::Semihosting,
            Duration::from_secs(60),
            Some(Duration::from_millis(500)),
            None,
        )
        .unwrap();
        // Killed (no exit status), not left to exit with 3 after its silence.
        assert_eq!(c.exit, None);
        assert!(c.output.contains("a\nb\n"), "{}", c.output);
    }

    #[test]
    fn feeds_input_then_ends_it() {
        // The child reads two lines, then sees the end of its input.
        let c = run_captured(
            "sh",
            &[
                "-c".into(),
                "read a; read b; echo \"got $a/$b\"; cat; echo eof; exit 5".into(),
            ],
            ExitKind::Semihosting,
            Duration::from_secs(10),
            Some(b"help\nkv list\n"),
        )
        .unwrap();
        assert_eq!(c.output, "got help/kv list\neof\n");
        assert_eq!(c.exit, Some(GuestExit::Status(5)));
    }

    #[test]
    fn input_larger_than_a_pipe_buffer_arrives_whole() {
        let input = "0123456789abcdef\n".repeat(16 * 1024);
        let c = run_captured(
            "sh",
            &["-c".into(), "wc -c".into()],
            ExitKind::Semihosting,
            Duration::from_secs(10),
            Some(input.as_bytes()),
        )
        .unwrap();
        assert_eq!(c.output.trim(), input.len().to_string());
    }

    #[test]
    fn without_input_stdin_is_at_its_end() {
        let c = run_captured(
            "sh",
            &["-c".into(), "cat; echo eof".into()],
            ExitKind::Semihosting,
            Duration::from_secs(10),
            None,
        )
        .unwrap();
        assert_eq!(c.output, "eof\n");
    }

    #[test]
    fn a_child_that_never_reads_its_input_is_still_timed_out() {
        let input = vec![b'x'; 1 << 20];
        let c = run_captured(
            "sh",
            &["-c".into(), "exec sleep 10".into()],
            ExitKind::Semihosting,
            Duration::from_millis(200),
            Some(&input),
        )
        .unwrap();
        assert_eq!(c.exit, None);
        assert!(c.elapsed < Duration::from_secs(5));
    }
}
