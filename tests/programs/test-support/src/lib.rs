//! What the QEMU scenario test programs share: checks that print `PASS <what>` or
//! `FAIL <what>: <detail>` lines on the debug console, and the verdict that ends a run with
//! exit status 0 (every check passed) or 1.
//!
//! Lines are printed without a log prefix, so scenarios match them exactly
//! (`expect = ["PASS revoke: ..."]`).
#![no_std]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, debug_println, get_mr, set_mrs};
use core::fmt::{Debug, Display};

/// A run's checks: how many failed so far.
pub struct Checks {
    scenario: &'static str,
    failures: u32,
}

impl Checks {
    /// Checks of `scenario`, whose name prefixes every line.
    pub const fn new(scenario: &'static str) -> Checks {
        Checks {
            scenario,
            failures: 0,
        }
    }

    /// Prints `PASS <scenario>: <what>`.
    pub fn pass(&mut self, what: impl Display) {
        debug_println!("PASS {}: {what}", self.scenario);
    }

    /// Prints `FAIL <scenario>: <what>: <detail>` and counts the failure.
    pub fn fail(&mut self, what: impl Display, detail: impl Display) {
        debug_println!("FAIL {}: {what}: {detail}", self.scenario);
        self.failures += 1;
    }

    /// Passes or fails `what`; returns `ok`.
    pub fn check(&mut self, ok: bool, what: impl Display, detail: impl Display) -> bool {
        if ok {
            self.pass(what);
        } else {
            self.fail(what, detail);
        }
        ok
    }

    /// Passes `what` if `got == want`, else fails it with both values.
    pub fn check_eq<T: PartialEq + Debug>(&mut self, what: impl Display, got: T, want: T) -> bool {
        if got == want {
            self.pass(what);
            true
        } else {
            self.fail(what, format_args!("got {got:x?}, expected {want:x?}"));
            false
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Prints the verdict (`PASS <scenario>` or `FAIL <scenario>: N checks failed`) and powers
    /// the machine off with status 0 or 1. Without the system-control capability, it returns.
    pub fn finish(self, server: &ServerInfo) {
        if self.failures == 0 {
            debug_println!("PASS {}", self.scenario);
        } else {
            debug_println!("FAIL {}: {} checks failed", self.scenario, self.failures);
        }
        match server.sys_control() {
            Some(sys) => sys.poweroff(u64::from(self.failures != 0)),
            None => debug_println!(
                "FAIL {}: '{}' cannot power off",
                self.scenario,
                server.name()
            ),
        }
    }
}

/// A message of `length` words with `label` and no capabilities.
pub const fn msg(label: u64, length: usize) -> MessageInfo {
    MessageInfo::new(label, 0, length)
}

/// The messages of the `fault-undefined` and `fault-null` scenarios (`fault-victim` calls
/// `fault-checker`, which is also its fault handler).
/// The label the supervisor answers an aborted request with: `ipc-schema`'s transport error.
pub const ABORTED: u64 = ipc_schema::IpcError::Aborted.code();

/// A raw call of `tx-store` (label, words): the reply's label and MR0, or `u64::MAX` and the
/// kernel's error code.
pub fn store_call(store: Cap<Endpoint>, label: u64, args: &[u64]) -> (u64, u64) {
    set_mrs(args);
    match store.call(MessageInfo::new(label, 0, args.len())) {
        Ok((reply, _)) => (reply.label(), get_mr(0)),
        Err(e) => (u64::MAX, e as u64),
    }
}

pub mod fault_protocol {
    use axolotl_rt::{FaultKind, fault};

    /// Victim to checker: `[run, pc of the faulting instruction]`.
    pub const HELLO: u64 = 1;
    /// Victim to checker, after being resumed past a fault: `[run, registers intact (0/1),
    /// value loaded]`.
    pub const CONTINUED: u64 = 2;

    /// Which fault the victim takes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Mode {
        Undefined,
        Null,
    }

    impl Mode {
        /// The mode of the victim server named `name`.
        pub fn of_victim(name: &str) -> Option<Mode> {
            match name {
                "victim-undefined" => Some(Mode::Undefined),
                "victim-null" => Some(Mode::Null),
                _ => None,
            }
        }

        pub fn scenario(self) -> &'static str {
            match self {
                Mode::Undefined => "fault-undefined",
                Mode::Null => "fault-null",
            }
        }

        pub fn what(self) -> &'static str {
            match self {
                Mode::Undefined => "undefined instruction",
                Mode::Null => "null dereference",
            }
        }

        /// The fault kind the kernel must report.
        pub fn kind(self) -> FaultKind {
            match self {
                Mode::Undefined => FaultKind::UndefinedInstruction,
                Mode::Null => FaultKind::PageFault,
            }
        }

        /// The address of the faulting instruction (in the calling program).
        pub fn pc(self) -> u64 {
            match self {
                Mode::Undefined => fault::undefined_instruction_pc(),
                Mode::Null => fault::read_u64_pc(),
            }
        }

        /// The fault address the kernel must report for a fault at `pc`.
        pub fn address(self, pc: u64) -> u64 {
            match self {
                Mode::Undefined => pc,
                Mode::Null => 0,
            }
        }

        /// How far a handler advances the pc to resume after the faulting instruction.
        pub fn length(self) -> u64 {
            match self {
                Mode::Undefined => fault::UNDEFINED_INSTRUCTION_LEN,
                Mode::Null => fault::ACCESS_INSTRUCTION_LEN,
            }
        }

        /// Takes the fault; returns what was loaded (null) or [`fault::UNREAD`] (undefined).
        pub fn fault(self) -> u64 {
            match self {
                Mode::Undefined => {
                    fault::undefined_instruction();
                    fault::UNREAD
                }
                Mode::Null => fault::null_dereference(),
            }
        }
    }
}

/// The messages and accesses of the `memory-isolation` scenario (`mem-victim` faults to
/// `mem-checker`, which asks `mem-owner` about its heap).
pub mod mem_protocol {
    use axolotl_rt::server_info::{SERVER_HEAP_VADDR, SERVER_INFO_VADDR};

    /// Victim to checker: `[pc of the store, pc of the load]`.
    pub const HELLO: u64 = 1;
    /// Victim to checker, after every access: `[registers intact after each (0/1), every load
    /// produced nothing (0/1), its server-info page unchanged (0/1)]`.
    pub const DONE: u64 = 2;
    /// Checker to owner: reply `[the first word of the owner's heap]`.
    pub const READ_HEAP: u64 = 3;

    /// What the owner keeps in the first word of its heap.
    pub const OWNER_WORD: u64 = 0x0123_4567_89ab_cdef;
    /// What the victim tries to store.
    pub const VICTIM_WORD: u64 = 0xbad0_bad0_bad0_bad0;

    /// A kernel address: the start of the kernel image in the kernel's window.
    #[cfg(target_arch = "aarch64")]
    pub const KERNEL_ADDRESS: u64 = 0xFFFF_0000_4020_0000;
    #[cfg(target_arch = "x86_64")]
    pub const KERNEL_ADDRESS: u64 = 0xFFFF_FFFF_8020_0000;

    /// One access the victim makes; each must fault.
    pub struct Access {
        pub what: &'static str,
        pub address: u64,
        pub write: bool,
        /// Whether the kernel must report the address as mapped (a permission fault).
        pub mapped: bool,
    }

    /// The victim's accesses, in order.
    pub const ACCESSES: [Access; 5] = [
        Access {
            what: "write to another server's heap",
            address: SERVER_HEAP_VADDR,
            write: true,
            mapped: false,
        },
        Access {
            what: "write to kernel memory",
            address: KERNEL_ADDRESS,
            write: true,
            mapped: true,
        },
        Access {
            what: "write to its own read-only server-info page",
            address: SERVER_INFO_VADDR,
            write: true,
            mapped: true,
        },
        Access {
            what: "read of another server's heap",
            address: SERVER_HEAP_VADDR,
            write: false,
            mapped: false,
        },
        Access {
            what: "read of kernel memory",
            address: KERNEL_ADDRESS,
            write: false,
            mapped: true,
        },
    ];
}

/// The messages of the `ipc-pingpong` scenario (`ipc-client` ×2 call `ipc-echo`).
pub mod ipc_protocol {
    /// A request's label: `client id << 8 | operation`.
    pub const fn label(client: u64, op: u64) -> u64 {
        client << 8 | op
    }
    pub const fn client_of(label: u64) -> u64 {
        label >> 8
    }
    pub const fn op_of(label: u64) -> u64 {
        label & 0xff
    }

    /// Client to server: words to transform; reply: label = the badge the server saw, the same
    /// length, word `i` = [`transform`]`(w, i)`.
    pub const ECHO: u64 = 1;
    /// Client to server: `[checks failed]`; the client is done.
    pub const DONE: u64 = 2;

    /// The message lengths each client sends: empty, in registers only, one word past them, a
    /// long message in the IPC buffer, the largest message.
    pub const LENGTHS: [usize; 6] = [0, 1, 4, 5, 100, 120];
    /// Rounds of every length.
    pub const ROUNDS: u64 = 3;

    /// What the server makes of word `i` of a message.
    pub const fn transform(w: u64, i: usize) -> u64 {
        w.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ (i as u64)
    }

    /// Word `i` of a client's message in `round` of `length` words.
    pub const fn word(client: u64, round: u64, length: usize, i: usize) -> u64 {
        (client << 56) ^ (round << 48) ^ ((length as u64) << 32) ^ (i as u64).wrapping_mul(0x0101)
    }

    /// The client id of a client server named `client-a`, `client-b`, ...: 1, 2, ...
    pub fn client_id(name: &str) -> Option<u64> {
        match name.as_bytes() {
            [b'c', b'l', b'i', b'e', b'n', b't', b'-', c @ b'a'..=b'z'] => {
                Some(u64::from(c - b'a') + 1)
            }
            _ => None,
        }
    }
}

/// The messages of the `cap-transfer` scenario (`cap-client` calls `cap-broker`, which hands out
/// its capability to `cap-oracle`'s endpoint).
pub mod cap_protocol {
    /// Client to broker: reply with the oracle capability attached (`extra_caps = 1`) and one
    /// word, [`BROKER_WORD`].
    pub const GET_ORACLE: u64 = 1;
    pub const BROKER_WORD: u64 = 0xb40c_e400;
    /// Client to oracle: `[x]`; reply: label = the badge the oracle saw, `[`[`answer`]`(x)]`.
    pub const ASK: u64 = 2;

    pub const fn answer(x: u64) -> u64 {
        x.wrapping_mul(x).wrapping_add(42)
    }
}

/// The messages of the `confinement` scenario.
pub mod confine_protocol {
    /// Checker to counter: reply `[requests counted so far, badge of the last one]`. Any other
    /// message is counted as a request.
    pub const QUERY: u64 = 1;
    /// The prisoner's verdict: it ends by loading from `VERDICT_BASE + 8 * failures`, a page
    /// fault its fault handler (the checker) reads the number of failed checks from.
    pub const VERDICT_BASE: u64 = 0xdead_0000;
}

/// The messages of the `preemption` scenario (`preempt-reporter`s call `preempt-checker`).
pub mod preempt_protocol {
    /// Reporter to checker: it is running.
    pub const STARTED: u64 = 1;
    /// Reporter to checker: `[times it saw itself preempted, the longest gap in counter ticks]`.
    pub const PREEMPTED: u64 = 2;
    /// How many preemptions a reporter waits to see.
    pub const PREEMPTIONS: u64 = 3;
}

/// The messages of the `revoke` scenario (`revoke-server` and `revoke-partner`).
pub mod revoke_protocol {
    /// Revoker to partner (its own endpoint): a capability to endpoint `rv` is attached; the
    /// partner receives on it from then on.
    pub const GIVE: u64 = 1;
    /// Anyone to the partner through `rv`: reply label = the badge the partner saw, `[1 if the
    /// partner's own copy of `rv` is still valid, else 0]`.
    pub const PING: u64 = 2;
}

/// The load generators of the live-upgrade scenarios: each counts the requests it sends and
/// their outcomes, and a director stops them and sums the counts.
///
/// Protocol: between two requests a load generator polls its own endpoint (`NBRecv`); a call
/// there stops it, and it answers that call and every later one with `[sent, served, failed,
/// longest]` (counter ticks for the longest request). A request never answered leaves it
/// blocked and the director waiting: the scenario's timeout catches that (a lost request).
pub mod load {
    //! The load generators' protocol (the live-upgrade scenarios and demo). A load generator
    //! keeps calling and counts every request it sent, every one answered (served) and every
    //! one that failed, the longest a request took (counter ticks: instructions under
    //! `-icount`), and remembers its slow requests (start and length; more than four times its
    //! running mean, the last [`SLOW_LOG`] of them), so that it can say how long the requests
    //! that overlapped a window of time waited: the director asks about an upgrade's blackout.
    //!
    //! Between two requests it polls its own endpoint (`NBRecv`): a call there (from the
    //! director, with a window `[from, to]` of counter values in its two words) is answered with
    //! `[sent, served, failed, longest, longest overlapping the window]` and it stops calling;
    //! it then answers every later call the same way. A request that is never answered would
    //! leave it blocked and the director waiting: the scenario's timeout catches that (a lost
    //! request).
    use super::Checks;
    use axolotl_rt::{Cap, Endpoint, MessageInfo, get_mr, reply, set_mr};

    /// Slow requests remembered.
    pub const SLOW_LOG: usize = 64;

    /// What a load generator counted.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Counts {
        pub sent: u64,
        pub served: u64,
        pub failed: u64,
        /// The longest request, in counter ticks.
        pub longest: u64,
        /// The last [`SLOW_LOG`] slow requests: start and length in counter ticks.
        slow: [(u64, u64); SLOW_LOG],
        slow_next: usize,
        /// Running mean of every request's length (1/16 weight per request).
        mean: u64,
    }

    impl Default for Counts {
        fn default() -> Self {
            Counts {
                sent: 0,
                served: 0,
                failed: 0,
                longest: 0,
                slow: [(0, 0); SLOW_LOG],
                slow_next: 0,
                mean: 0,
            }
        }
    }

    impl Counts {
        /// Sends one request (`request` returns whether it was answered correctly), timed and
        /// counted; returns its outcome.
        pub fn time(&mut self, request: impl FnOnce() -> bool) -> bool {
            self.sent += 1;
            let start = axolotl_rt::time::counter();
            let ok = request();
            let took = axolotl_rt::time::counter().wrapping_sub(start);
            self.longest = self.longest.max(took);
            self.record(start, took);
            if ok {
                self.served += 1;
            } else {
                self.failed += 1;
            }
            ok
        }

        fn record(&mut self, start: u64, length: u64) {
            if self.mean > 0 && length > 4 * self.mean {
                self.slow[self.slow_next % SLOW_LOG] = (start, length);
                self.slow_next += 1;
            }
            self.mean = if self.mean == 0 {
                length
            } else {
                self.mean - self.mean / 16 + length / 16
            };
        }

        /// The longest remembered request that was waiting at some time in `[from, to]`.
        pub fn longest_in(&self, (from, to): (u64, u64)) -> u64 {
            self.slow[..self.slow_next.min(SLOW_LOG)]
                .iter()
                .filter(|&&(start, length)| start <= to && start + length >= from)
                .map(|&(_, length)| length)
                .max()
                .unwrap_or(0)
        }

        /// Requests neither served nor failed.
        pub fn lost(&self) -> u64 {
            self.sent - self.served - self.failed
        }
    }

    /// Whether the director asked to stop (a call waits on `own`).
    pub fn stop_asked(own: Cap<Endpoint>) -> bool {
        own.nb_recv().is_ok()
    }

    /// Answers the director's call, and every later one, with `counts` and the longest wait
    /// in the window the call names.
    pub fn report(own: Cap<Endpoint>, counts: Counts) {
        loop {
            let in_window = counts.longest_in((get_mr(0), get_mr(1)));
            let words = [
                counts.sent,
                counts.served,
                counts.failed,
                counts.longest,
                in_window,
            ];
            for (k, word) in words.into_iter().enumerate() {
                set_mr(k, word);
            }
            let _ = reply(MessageInfo::new(0, 0, 5));
            if own.recv().is_err() {
                return;
            }
        }
    }

    /// Yields for about `ticks` counter ticks (load generators at the caller's priority run).
    pub fn let_run(ticks: u64) {
        let start = axolotl_rt::time::counter();
        while axolotl_rt::time::counter().wrapping_sub(start) < ticks {
            axolotl_rt::yield_now();
        }
    }

    /// The load generators' counts summed (`longest`, `in_window`: the longest of all).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Totals {
        pub sent: u64,
        pub served: u64,
        pub failed: u64,
        pub longest: u64,
        /// The longest a request took that was waiting at some time in the window asked about.
        pub in_window: u64,
    }

    impl Totals {
        /// Requests neither served nor failed.
        pub fn lost(&self) -> u64 {
            self.sent - self.served - self.failed
        }
    }

    /// Stops the load generators and sums their counts; `window` (counter values, from and
    /// to) is the time their longest overlapping wait is asked about (`(0, 0)`: none).
    pub fn stop(loads: &[Option<Cap<Endpoint>>], c: &mut Checks, window: (u64, u64)) -> Totals {
        let mut total = Totals::default();
        for load in loads.iter().flatten() {
            set_mr(0, window.0);
            set_mr(1, window.1);
            match load.call(MessageInfo::new(0, 0, 2)) {
                Ok((info, _)) if info.label() == 0 && info.length() == 5 => {
                    total.sent += get_mr(0);
                    total.served += get_mr(1);
                    total.failed += get_mr(2);
                    total.longest = total.longest.max(get_mr(3));
                    total.in_window = total.in_window.max(get_mr(4));
                }
                other => c.fail("a load generator reports", format_args!("{other:?}")),
            }
        }
        total
    }
}
