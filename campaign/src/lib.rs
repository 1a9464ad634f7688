//! Fault-injection campaigns, the pure part shared by the guest's workload client and the host's
//! `cargo xtask campaign`: everything here is deterministic and unit-tested on the host.
//!
//! - [`draw`]: injection `index` of a campaign with seed `seed`, from the functions the golden run
//!   saw executed: where (a pc), what ([`FaultType`] and its arguments) and the workload ops that
//!   follow the arming ([`workload_op`]).
//! - [`Model`]: the reference model of the key-value state the oracle checks against.
//! - [`Outcome`] and [`classify`]: what became of an injection.
//! - [`Begin`] and [`Record`]: the machine-readable `CAMPAIGN begin ...` line the guest prints
//!   before it arms an injection and the `CAMPAIGN idx=...` line with its outcome, and parsers.
//! - [`x86_length`]: the length of the first instruction of a function on x86_64, for
//!   skip faults, decoded for the common prologue instructions only (no disassembler).
#![cfg_attr(not(test), no_std)]

pub mod record;
pub mod x86;

pub use record::{Begin, Record};
pub use x86::x86_length;

use axolotl_abi::inject::InjectKind;

/// The SplitMix64 finaliser: a bijection that spreads every input bit over the output.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64: small, fast, and the same on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator of injection `index` of campaign `seed` (stream `stream`). Seed, index and
    /// stream each pass through the full SplitMix64 finaliser, so that neighbouring indices give
    /// unrelated streams (an XOR of the raw index left the first draw of each stream biased:
    /// endless loops came out at 1 in 60 for seed 7).
    pub fn for_injection(seed: u64, index: u64, stream: u64) -> Rng {
        let s = mix(seed ^ 0x5851_f42d_4c95_7f2d);
        let s = mix(s ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        Rng(mix(s ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03)))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }
}

/// The fault types of a campaign (EDFI-style).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultType {
    RegisterBitFlip,
    MemoryBitFlip,
    CorruptPointer,
    UndefinedInstruction,
    SkipInstruction,
    EndlessLoop,
}

impl FaultType {
    pub const ALL: [FaultType; 6] = [
        FaultType::RegisterBitFlip,
        FaultType::MemoryBitFlip,
        FaultType::CorruptPointer,
        FaultType::UndefinedInstruction,
        FaultType::SkipInstruction,
        FaultType::EndlessLoop,
    ];

    /// The kernel's kind: a memory flip hits the stack memory in use above the stack pointer
    /// (the request's frames, the request loop's, and `main`'s, which holds the store).
    pub const fn kind(self) -> InjectKind {
        match self {
            FaultType::RegisterBitFlip => InjectKind::RegisterBitFlip,
            FaultType::MemoryBitFlip => InjectKind::StackBitFlip,
            FaultType::CorruptPointer => InjectKind::CorruptPointer,
            FaultType::UndefinedInstruction => InjectKind::UndefinedInstruction,
            FaultType::SkipInstruction => InjectKind::SkipInstruction,
            FaultType::EndlessLoop => InjectKind::EndlessLoop,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            FaultType::RegisterBitFlip => "reg-flip",
            FaultType::MemoryBitFlip => "mem-flip",
            FaultType::CorruptPointer => "bad-pointer",
            FaultType::UndefinedInstruction => "undef",
            FaultType::SkipInstruction => "skip",
            FaultType::EndlessLoop => "loop",
        }
    }

    pub fn from_name(s: &str) -> Option<FaultType> {
        FaultType::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// A function of the target the golden run saw executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub start: u64,
    pub size: u64,
    /// Length of its first instruction, if known (always 4 on aarch64).
    pub first_len: u8,
    /// The stack pointer the golden run saw at its entry (0 if unknown).
    pub sp: u64,
}

/// The target's layout, as the supervisor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Its stack (the key-value store lives in it): memory flips hit a byte between the stack
    /// pointer and its top.
    pub memory: (u64, u64),
    pub registers: u8,
    /// aarch64: every 4-byte word of a function is an instruction; x86_64: only function entries
    /// are known instruction boundaries.
    pub fixed_length: bool,
}

/// One injection: where, what, and when in the workload it is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    pub index: u64,
    pub fault: FaultType,
    pub pc: u64,
    /// Arguments of the kernel's kind (see `abi::inject::InjectKind`).
    pub a: u64,
    pub b: u64,
}

/// Workload ops per injection.
pub const OPS_PER_INJECTION: u64 = 6;
/// Keys of the workload (`k00`..).
pub const KEYS: usize = 12;

/// Draws injection `index` of campaign `seed` over `candidates` (which must not be empty).
pub fn draw(seed: u64, index: u64, candidates: &[Candidate], layout: &Layout) -> Injection {
    draw_as(seed, index, candidates, layout, None)
}

/// [`draw`], with the fault type forced to `fault` if it is given (the campaign-kinds plan,
/// which proves every type fires): the place and arguments are drawn as for any injection.
pub fn draw_as(
    seed: u64,
    index: u64,
    candidates: &[Candidate],
    layout: &Layout,
    fault: Option<FaultType>,
) -> Injection {
    let mut r = Rng::for_injection(seed, index, 0);
    let drawn = FaultType::ALL[r.below(FaultType::ALL.len() as u64) as usize];
    let mut fault = fault.unwrap_or(drawn);
    let f = candidates[r.below(candidates.len() as u64) as usize];
    let pc = if layout.fixed_length {
        f.start + 4 * r.below((f.size / 4).max(1))
    } else {
        f.start
    };
    if fault == FaultType::SkipInstruction && f.first_len == 0 && !layout.fixed_length {
        // An instruction of unknown length cannot be skipped: it becomes an undefined one.
        fault = FaultType::UndefinedInstruction;
    }
    let registers = u64::from(layout.registers.max(1));
    let (a, b) = match fault {
        FaultType::RegisterBitFlip => (r.below(registers), r.below(64)),
        FaultType::MemoryBitFlip => {
            // An offset from the stack pointer at the trap, within the memory in use above it
            // (from the golden run's stack pointer at the function's entry to the stack's top).
            let (lo, hi) = layout.memory;
            let sp = if (lo..hi).contains(&f.sp) { f.sp } else { lo };
            (r.below((hi - sp).max(1)), r.below(8))
        }
        FaultType::CorruptPointer => {
            let value = if r.below(2) == 0 { 0 } else { r.next() };
            (r.below(registers), value)
        }
        FaultType::SkipInstruction => (
            if layout.fixed_length {
                4
            } else {
                u64::from(f.first_len)
            },
            0,
        ),
        FaultType::UndefinedInstruction | FaultType::EndlessLoop => (0, 0),
    };
    Injection {
        index,
        fault,
        pc,
        a,
        b,
    }
}

/// A workload op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put { key: u8, value: u32 },
    Get { key: u8 },
    Delete { key: u8 },
}

/// Op `j` of the workload of injection `index`: a seeded mix, half puts.
pub fn workload_op(seed: u64, index: u64, j: u64) -> Op {
    let mut r = Rng::for_injection(seed, index, 1 + j);
    let key = r.below(KEYS as u64) as u8;
    match r.below(4) {
        0 | 1 => Op::Put {
            key,
            value: r.next() as u32,
        },
        2 => Op::Get { key },
        _ => Op::Delete { key },
    }
}

/// The reference model: what the store must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub values: [Option<u32>; KEYS],
}

impl Model {
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Put { key, value } => self.values[key as usize] = Some(value),
            Op::Delete { key } => self.values[key as usize] = None,
            Op::Get { .. } => {}
        }
    }

    pub fn get(&self, key: u8) -> Option<u32> {
        self.values.get(key as usize).copied().flatten()
    }

    pub fn len(&self) -> usize {
        self.values.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What became of an injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The trap was never executed.
    NotActivated,
    /// The fault happened and nothing noticed: every reply and the state as the model says.
    Masked,
    /// The faulting request was aborted (answered Aborted or re-delivered) and the state equals
    /// the model.
    RolledBack,
    /// The server was restarted from its image: its state is lost, and it serves again.
    Restarted,
    /// A wrong reply or a state that differs from the model, unnoticed by the system.
    SilentCorruption,
    /// The kernel or the supervisor stopped (or the server was stopped for good).
    Crash,
    /// The system stopped making progress.
    Hang,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::NotActivated,
        Outcome::Masked,
        Outcome::RolledBack,
        Outcome::Restarted,
        Outcome::SilentCorruption,
        Outcome::Crash,
        Outcome::Hang,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Outcome::NotActivated => "not-activated",
            Outcome::Masked => "masked",
            Outcome::RolledBack => "rolled-back",
            Outcome::Restarted => "restarted",
            Outcome::SilentCorruption => "sdc",
            Outcome::Crash => "crash",
            Outcome::Hang => "hang",
        }
    }

    pub fn from_name(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Whether the fault manifested (the denominator of the recovery rate): it was activated and
    /// not masked.
    pub const fn manifested(self) -> bool {
        !matches!(self, Outcome::NotActivated | Outcome::Masked)
    }

    /// Whether the system noticed the fault (fail-stop: it was rolled back, the server
    /// restarted, or the system crashed or hung), as opposed to a silent corruption. Only a
    /// secondary figure: the recovery rate's denominator is [`manifested`](Self::manifested).
    pub const fn detected(self) -> bool {
        matches!(
            self,
            Outcome::RolledBack | Outcome::Restarted | Outcome::Crash | Outcome::Hang
        )
    }

    /// Whether the system recovered from a manifested fault.
    pub const fn recovered(self) -> bool {
        matches!(self, Outcome::RolledBack | Outcome::Restarted)
    }

    /// Whether the guest should boot afresh after it (the state is in doubt). After a restart
    /// the server is fresh from its image and the model is reset: nothing is in doubt.
    pub const fn needs_reboot(self) -> bool {
        matches!(
            self,
            Outcome::SilentCorruption | Outcome::Crash | Outcome::Hang
        )
    }
}

/// What the workload client observed around one injection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// The trap fired (the kernel's slot left the armed state).
    pub activated: bool,
    /// Requests the supervisor aborted meanwhile.
    pub aborts: u64,
    /// Restarts of the server meanwhile.
    pub restarts: u64,
    /// The supervisor stopped the server for good.
    pub stopped: bool,
    /// A reply differed from the model, or the final state does.
    pub mismatch: bool,
}

/// The outcome of an injection from what the client observed.
pub fn classify(o: &Observation) -> Outcome {
    if !o.activated {
        // A trap never executed changes nothing; a mismatch would be an earlier fault's.
        return if o.mismatch {
            Outcome::SilentCorruption
        } else {
            Outcome::NotActivated
        };
    }
    if o.stopped {
        Outcome::Crash
    } else if o.mismatch {
        Outcome::SilentCorruption
    } else if o.restarts > 0 {
        Outcome::Restarted
    } else if o.aborts > 0 {
        Outcome::RolledBack
    } else {
        Outcome::Masked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates() -> [Candidate; 3] {
        [
            Candidate {
                start: 0x1000,
                size: 64,
                first_len: 4,
                sp: 0x10_f000,
            },
            Candidate {
                start: 0x2000,
                size: 8,
                first_len: 4,
                sp: 0x10_e000,
            },
            Candidate {
                start: 0x3000,
                size: 400,
                first_len: 0,
                sp: 0,
            },
        ]
    }

    const ARM: Layout = Layout {
        memory: (0x10_0000, 0x11_0000),
        registers: 32,
        fixed_length: true,
    };

    #[test]
    fn draws_are_reproducible_and_in_range() {
        let c = candidates();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000 {
            let d = draw(7, i, &c, &ARM);
            assert_eq!(d, draw(7, i, &c, &ARM));
            assert!(
                c.iter()
                    .any(|f| (f.start..f.start + f.size).contains(&d.pc))
            );
            assert_eq!(d.pc % 4, 0);
            match d.fault {
                FaultType::RegisterBitFlip => assert!(d.a < 32 && d.b < 64),
                FaultType::MemoryBitFlip => {
                    // Within the stack above the function's stack pointer.
                    let f = c
                        .iter()
                        .find(|f| (f.start..f.start + f.size).contains(&d.pc));
                    let sp = f.map_or(0, |f| f.sp).max(0x10_0000);
                    assert!(sp + d.a < 0x11_0000 && d.b < 8, "{d:?}")
                }
                FaultType::CorruptPointer => assert!(d.a < 32),
                FaultType::SkipInstruction => assert_eq!(d.a, 4),
                _ => {}
            }
            seen.insert(d.fault);
        }
        assert_eq!(seen.len(), 6, "every fault type is drawn");
        for t in FaultType::ALL {
            let d = draw_as(7, 5, &c, &ARM, Some(t));
            assert_eq!(d.fault, t);
            assert_eq!(d.pc, draw_as(7, 5, &c, &ARM, Some(t)).pc);
        }
        assert_ne!(draw(7, 1, &c, &ARM), draw(8, 1, &c, &ARM));
    }

    #[test]
    fn fault_types_are_drawn_uniformly() {
        // Each type's share of 6000 draws within 15% of a sixth, whatever the seed (the first
        // version's index mixing drew endless loops at 1 in 60 for seed 7).
        let c = candidates();
        for seed in [0, 1, 7, 42] {
            let mut counts = [0u32; 6];
            for i in 0..6000 {
                let f = draw(seed, i, &c, &ARM).fault;
                counts[FaultType::ALL.iter().position(|t| *t == f).unwrap()] += 1;
            }
            assert!(
                counts.iter().all(|&n| (850..=1150).contains(&n)),
                "seed {seed}: {counts:?}"
            );
            let first60 = (0..60)
                .filter(|&i| draw(seed, i, &c, &ARM).fault == FaultType::EndlessLoop)
                .count();
            assert!(first60 >= 4, "seed {seed}: {first60} loops in the first 60");
        }
    }

    #[test]
    fn x86_draws_only_function_entries_and_skips_known_lengths() {
        let c = candidates();
        let x86 = Layout {
            registers: 16,
            fixed_length: false,
            ..ARM
        };
        for i in 0..2000 {
            let d = draw(3, i, &c, &x86);
            assert!(c.iter().any(|f| f.start == d.pc));
            if d.fault == FaultType::SkipInstruction {
                assert_ne!(d.pc, 0x3000, "length unknown there");
                assert_eq!(d.a, 4);
            }
        }
    }

    #[test]
    fn the_model_follows_the_ops() {
        let mut m = Model::default();
        m.apply(Op::Put { key: 3, value: 9 });
        m.apply(Op::Get { key: 3 });
        assert_eq!((m.get(3), m.len()), (Some(9), 1));
        m.apply(Op::Delete { key: 3 });
        assert!(m.is_empty());
        let ops: std::vec::Vec<Op> = (0..200).map(|j| workload_op(1, 2, j)).collect();
        assert!(ops.iter().any(|o| matches!(o, Op::Get { .. })));
        assert!(ops.iter().all(|o| match o {
            Op::Put { key, .. } | Op::Get { key } | Op::Delete { key } => (*key as usize) < KEYS,
        }));
        assert_eq!(workload_op(1, 2, 5), ops[5]);
    }

    #[test]
    fn outcomes() {
        let o = |activated, aborts, restarts, stopped, mismatch| {
            classify(&Observation {
                activated,
                aborts,
                restarts,
                stopped,
                mismatch,
            })
        };
        assert_eq!(o(false, 0, 0, false, false), Outcome::NotActivated);
        assert_eq!(o(true, 0, 0, false, false), Outcome::Masked);
        assert_eq!(o(true, 1, 0, false, false), Outcome::RolledBack);
        assert_eq!(o(true, 3, 1, false, false), Outcome::Restarted);
        assert_eq!(o(true, 1, 0, false, true), Outcome::SilentCorruption);
        assert_eq!(o(true, 0, 0, true, false), Outcome::Crash);
        for out in Outcome::ALL {
            assert_eq!(Outcome::from_name(out.name()), Some(out));
        }
        assert!(Outcome::RolledBack.manifested() && Outcome::RolledBack.recovered());
        assert!(!Outcome::Masked.manifested());
        assert!(Outcome::Hang.manifested() && !Outcome::Hang.recovered());
        assert!(Outcome::SilentCorruption.manifested() && !Outcome::SilentCorruption.detected());
        assert!(Outcome::Restarted.detected() && !Outcome::Masked.detected());
        assert!(!Outcome::Restarted.needs_reboot() && Outcome::SilentCorruption.needs_reboot());
        for t in FaultType::ALL {
            assert_eq!(FaultType::from_name(t.name()), Some(t));
        }
    }
}
