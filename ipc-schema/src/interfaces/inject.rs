//! `inject`: deliberate faults on demand, served by the root task's supervisor (the shell's
//! `inject SERVER KIND`). The supervisor arms the fault in the server's info page; the server's
//! request loop (`axolotl_rt::ipc_transport::serve`) executes it while handling its next request,
//! inside that request's transaction, so the fault is a real hardware fault (or a real panic) in
//! the server, and recovery is the same as for any bug.

/// Version 1.
pub mod v1 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// What the server's next request does instead of being handled.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum FaultKind {
        /// Loads from address 0: a page fault.
        Null,
        /// Writes garbage to a pseudo-random mapped heap address, then loads from address 0.
        Wild,
        /// Panics (the runtime's panic handler then faults with an undefined instruction).
        Panic,
        /// Spins for ever: only the request's time budget ends it.
        Loop,
        /// Executes an undefined instruction.
        Undef,
        /// Recurses until the stack runs into its guard page.
        Stack,
    }

    impl FaultKind {
        /// Every kind, in declaration order.
        pub const ALL: [FaultKind; 6] = [
            FaultKind::Null,
            FaultKind::Wild,
            FaultKind::Panic,
            FaultKind::Loop,
            FaultKind::Undef,
            FaultKind::Stack,
        ];

        /// The name the shell uses.
        pub const fn name(self) -> &'static str {
            match self {
                FaultKind::Null => "null",
                FaultKind::Wild => "wild",
                FaultKind::Panic => "panic",
                FaultKind::Loop => "loop",
                FaultKind::Undef => "undef",
                FaultKind::Stack => "stack",
            }
        }

        /// The kind named `name`.
        pub fn from_name(name: &str) -> Option<FaultKind> {
            FaultKind::ALL.into_iter().find(|k| k.name() == name)
        }

        /// Its code in a server's info page (`0` is "nothing armed").
        pub const fn code(self) -> u64 {
            self as u64 + 1
        }

        /// The kind with info-page code `code`.
        pub fn from_code(code: u64) -> Option<FaultKind> {
            FaultKind::ALL.into_iter().find(|k| k.code() == code)
        }
    }

    /// Why an injection was refused.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum InjectError {
        /// No server of that name.
        NoSuchServer,
        /// The server is not running (never built, or stopped).
        NotRunning,
        /// A fault is already armed in that server and has not fired yet.
        AlreadyArmed,
    }

    impl core::fmt::Display for InjectError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                InjectError::NoSuchServer => "no such server",
                InjectError::NotRunning => "the server is not running",
                InjectError::AlreadyArmed => "a fault is already armed in that server",
            })
        }
    }

    crate::interface! {
        interface inject = ids::INJECT, version 1;

        /// Arms `kind` in server `server`: its next request faults that way.
        0 => non_idempotent fn arm(server: Name, kind: FaultKind) -> Result<(), InjectError>;
        /// The fault armed in `server` and not fired yet, if any.
        1 => idempotent fn armed(server: Name) -> Result<Option<FaultKind>, InjectError>;
    }
}

#[cfg(test)]
mod tests {
    use super::v1::FaultKind;

    #[test]
    fn names_and_codes_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(kind.name()), Some(kind));
            assert_eq!(FaultKind::from_code(kind.code()), Some(kind));
            assert_ne!(kind.code(), 0);
        }
        assert_eq!(FaultKind::from_code(0), None);
        assert_eq!(FaultKind::from_name("nul"), None);
    }
}
