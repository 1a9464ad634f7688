//! A system-call fuzzer: random object invocations with random arguments on random slots of its
//! own CNode (where it also retypes random objects from its Untyped), plus random non-blocking
//! IPC. The kernel must answer every call with a result or an error; a kernel panic stops the
//! machine with status 255 and fails the scenario. Its own TCB, CNode and system-control
//! capabilities are never touched, and nothing it makes can block it: it never makes endpoints
//! or notifications and only uses non-blocking IPC.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::abi::{Invocation, ObjectType};
use axolotl_rt::{CPtr, MessageInfo, ServerInfo, set_mrs, syscall};
use test_support::Checks;

axolotl_rt::declare_server!(main);

const CALLS: u32 = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Invocation labels, including unknown ones.
const LABELS: [u64; 24] = [
    0, 1, 10, 11, 12, 13, 15, 16, 18, 20, 21, 22, 23, 24, 30, 32, 34, 70, 72, 74, 75, 76, 77, 999,
];
/// Object types it may make (no endpoints or notifications: nothing it could block on).
const TYPES: [ObjectType; 7] = [
    ObjectType::Untyped,
    ObjectType::Frame,
    ObjectType::CNode,
    ObjectType::PageTable,
    ObjectType::VSpace,
    ObjectType::TxRegion,
    ObjectType::Snapshot,
];

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("sysfuzz");
    let (Some(cnode), Some((untyped, bits))) = (server.own_cnode(), server.untyped()) else {
        c.fail("setup", "needs own_cnode and untyped_bits");
        return c.finish(server);
    };
    let protected = [
        server.own_tcb().cptr(),
        cnode.cptr(),
        untyped.cptr(),
        server.sys_control().map_or(0, |s| s.cptr()),
    ];
    let slots = server.empty_slots();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut ok, mut errors, mut made) = (0u32, [0u32; 16], 0u32);
    let pick = |rng: &mut Rng| -> CPtr {
        loop {
            let s = slots.start + rng.below(slots.end - slots.start + 8);
            if !protected.contains(&s) {
                return s;
            }
        }
    };
    for i in 0..CALLS {
        // Keep some objects around: every 4th call retypes something valid-ish from the Untyped.
        let result = if i % 4 == 0 {
            let ty = TYPES[rng.below(TYPES.len() as u64) as usize];
            let size = match ty {
                ObjectType::Untyped => 12 + rng.below(bits.saturating_sub(11) as u64),
                ObjectType::CNode => 1 + rng.below(6),
                ObjectType::TxRegion | ObjectType::Snapshot => 13 + rng.below(3),
                _ => rng.below(64),
            };
            set_mrs(&[ty as u64, size, 0, pick(&mut rng), 1 + rng.below(3)]);
            let r = syscall::call(
                untyped.cptr(),
                MessageInfo::new(Invocation::UntypedRetype as u64, 0, 5),
            );
            if matches!(r, Ok((info, _)) if info.label() == 0) {
                made += 1;
            }
            r
        } else if i % 97 == 0 {
            // Revoke the Untyped now and then, so that memory is reused.
            set_mrs(&[untyped.cptr()]);
            syscall::call(
                cnode.cptr(),
                MessageInfo::new(Invocation::CNodeRevoke as u64, 0, 1),
            )
        } else {
            let label = LABELS[rng.below(LABELS.len() as u64) as usize];
            let mut args = [0u64; 8];
            for a in args.iter_mut() {
                *a = match rng.below(4) {
                    0 => rng.next(),
                    1 => rng.below(16),
                    2 => pick(&mut rng),
                    _ => rng.below(1 << 20) << 12,
                };
            }
            let len = rng.below(9) as usize;
            set_mrs(&args[..len]);
            let target = pick(&mut rng);
            match rng.below(10) {
                0 => syscall::nb_send(target, MessageInfo::new(label, 0, len))
                    .map(|()| (MessageInfo(0), 0)),
                1 => syscall::nb_recv(target),
                _ => syscall::call(target, MessageInfo::new(label, 0, len)),
            }
        };
        match result {
            Ok((info, _)) if info.label() == 0 => ok += 1,
            Ok((info, _)) => errors[(info.label() as usize).min(15)] += 1,
            Err(e) => errors[(e as usize).min(15)] += 1,
        }
    }
    let failed: u32 = errors.iter().sum();
    axolotl_rt::debug_println!(
        "sysfuzz: {CALLS} calls, {ok} succeeded, {failed} refused, {made} objects made; errors by code: {:?}",
        errors
    );
    c.check(
        ok + failed == CALLS,
        "every call returned",
        format_args!("{ok} + {failed}"),
    );
    // The system still serves: an IPC round trip through a partner.
    if let Some(echo) = server.client("echo") {
        set_mrs(&[41]);
        let r = echo.call(MessageInfo::new(1, 0, 1));
        c.check(
            r.is_ok(),
            "the rest of the system still serves",
            format_args!("{r:?}"),
        );
    }
    c.finish(server);
}
