//! How the guest's exit status comes back through QEMU's.

use serde::Deserialize;

/// How a machine reports the guest's exit status (`exit` in `qemu/<arch>.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitKind {
    /// aarch64: semihosting SYS_EXIT; QEMU's exit status is the guest's.
    Semihosting,
    /// x86_64: a write of v to the isa-debug-exit port; QEMU exits with `(v << 1) | 1`.
    IsaDebugExit,
}

/// What the guest reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestExit {
    /// The guest's exit status.
    Status(i32),
    /// QEMU ended without the guest reporting a status: why, in words.
    NoStatus(String),
}

/// Decodes QEMU's exit: `code` is its exit status, `signal` the signal that killed it.
pub fn decode(kind: ExitKind, code: Option<i32>, signal: Option<i32>) -> GuestExit {
    let Some(code) = code else {
        return GuestExit::NoStatus(match signal {
            Some(s) => format!("QEMU was killed by signal {s}"),
            None => "QEMU ended without an exit status".into(),
        });
    };
    match kind {
        ExitKind::Semihosting => GuestExit::Status(code),
        ExitKind::IsaDebugExit if code & 1 == 1 => GuestExit::Status(code >> 1),
        ExitKind::IsaDebugExit => GuestExit::NoStatus(format!(
            "QEMU exited with status {code} without the guest writing to isa-debug-exit \
             (shutdown, triple fault or Ctrl-A X)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semihosting_passes_the_status_through() {
        assert_eq!(
            decode(ExitKind::Semihosting, Some(0), None),
            GuestExit::Status(0)
        );
        assert_eq!(
            decode(ExitKind::Semihosting, Some(3), None),
            GuestExit::Status(3)
        );
    }

    #[test]
    fn isa_debug_exit_is_shifted() {
        assert_eq!(
            decode(ExitKind::IsaDebugExit, Some(1), None),
            GuestExit::Status(0)
        );
        assert_eq!(
            decode(ExitKind::IsaDebugExit, Some(7), None),
            GuestExit::Status(3)
        );
        assert_eq!(
            decode(ExitKind::IsaDebugExit, Some(255), None),
            GuestExit::Status(127)
        );
        assert!(matches!(
            decode(ExitKind::IsaDebugExit, Some(0), None),
            GuestExit::NoStatus(m) if m.starts_with("QEMU exited with status 0 without")
        ));
    }

    #[test]
    fn signals() {
        assert_eq!(
            decode(ExitKind::Semihosting, None, Some(9)),
            GuestExit::NoStatus("QEMU was killed by signal 9".into())
        );
    }
}
