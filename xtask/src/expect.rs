//! Checking a scenario's output and exit status against its `[test]` table.

use crate::exit::GuestExit;

/// Checks that every `expect` entry is a substring of an output line, each on a later line than
/// the one before. Lines end at `\n`; a trailing `\r` is ignored.
pub fn check_expect(output: &str, expect: &[String]) -> Result<(), String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut next = 0; // the first line the next entry may match
    for (i, e) in expect.iter().enumerate() {
        match lines[next..].iter().position(|l| l.contains(e.as_str())) {
            Some(at) => next += at + 1,
            None => {
                let mut reason =
                    format!("expected output {}/{} {e:?} not found", i + 1, expect.len());
                if next > 0 {
                    reason += &format!(" after output line {next}");
                }
                if let Some(earlier) = lines[..next].iter().position(|l| l.contains(e.as_str())) {
                    reason += &format!(" (it is on line {}: out of order)", earlier + 1);
                }
                return Err(reason);
            }
        }
    }
    Ok(())
}

/// The verdict on a finished run: the exit status must be `exit_code` and the output must hold
/// the expected lines. Returns every reason for failure, joined with "; ".
pub fn verdict(
    exit: &GuestExit,
    exit_code: i32,
    output: &str,
    expect: &[String],
) -> Result<(), String> {
    let mut reasons = Vec::new();
    match exit {
        GuestExit::Status(s) if *s == exit_code => {}
        GuestExit::Status(s) => reasons.push(format!("exit status {s}, expected {exit_code}")),
        GuestExit::NoStatus(why) => reasons.push(why.clone()),
    }
    if let Err(e) = check_expect(output, expect) {
        reasons.push(e);
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons.join("; "))
    }
}

/// The last `n` lines of `output`.
pub fn tail(output: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const OUT: &str = "boot\r\n[root] starting ping\r\nping: 1\nping: 2\npong: done\n";

    #[test]
    fn in_order_substrings_pass() {
        assert_eq!(check_expect(OUT, &[]), Ok(()));
        assert_eq!(
            check_expect(OUT, &v(&["starting ping", "ping: 2", "done"])),
            Ok(())
        );
        // A trailing \r does not stop a match at the end of a line.
        assert_eq!(check_expect(OUT, &v(&["boot", "starting ping"])), Ok(()));
    }

    #[test]
    fn missing_lines_fail() {
        assert_eq!(
            check_expect(OUT, &v(&["ping: 1", "ping: 3"])),
            Err("expected output 2/2 \"ping: 3\" not found after output line 3".into())
        );
        assert_eq!(
            check_expect(OUT, &v(&["nothing"])),
            Err("expected output 1/1 \"nothing\" not found".into())
        );
    }

    #[test]
    fn order_matters_and_lines_are_not_reused() {
        assert_eq!(
            check_expect(OUT, &v(&["ping: 2", "ping: 1"])),
            Err(
                "expected output 2/2 \"ping: 1\" not found after output line 4 \
                 (it is on line 3: out of order)"
                    .into()
            )
        );
        // Two entries cannot both match the same line.
        assert!(check_expect(OUT, &v(&["pong", "done"])).is_err());
    }

    #[test]
    fn verdicts() {
        let e = v(&["ping: 1"]);
        assert_eq!(verdict(&GuestExit::Status(0), 0, OUT, &e), Ok(()));
        assert_eq!(
            verdict(&GuestExit::Status(1), 0, OUT, &e),
            Err("exit status 1, expected 0".into())
        );
        assert_eq!(verdict(&GuestExit::Status(3), 3, OUT, &e), Ok(()));
        assert_eq!(
            verdict(&GuestExit::Status(1), 0, OUT, &v(&["nope"])),
            Err("exit status 1, expected 0; expected output 1/1 \"nope\" not found".into())
        );
        assert_eq!(
            verdict(
                &GuestExit::NoStatus("QEMU was killed by signal 9".into()),
                0,
                OUT,
                &e
            ),
            Err("QEMU was killed by signal 9".into())
        );
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(tail("a\nb", 30), vec!["a", "b"]);
        assert!(tail("", 30).is_empty());
    }
}
