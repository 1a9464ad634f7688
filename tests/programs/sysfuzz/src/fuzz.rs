//! A system-call fuzzer: random object invocations with random arguments on random slots of its
//! own CNode (where it also retypes random objects from its Untyped, and which holds its clients'
//! endpoint capabilities, so servers get random messages too), plus random non-blocking IPC,
//! `Reply` without a caller and `Yield`. The kernel must answer every call with a result or an
//! error; a kernel panic stops the machine with status 255 and fails the scenario.
//!
//! Afterwards it asks the kernel to check its invariants (`SysControlCheckInvariants`: derivation
//! tree, Untyped accounting, scheduler queues, page tables) and calls the echo and kv servers,
//! which must still serve.
//!
//! Its own TCB, CNode, Untyped and system-control capabilities are never fuzzed, and nothing it
//! makes can block it: it never makes endpoints or notifications and only uses non-blocking IPC
//! (a `Call` to a server's endpoint is answered by that server).

use axolotl_rt::abi::{Error, Invocation, ObjectType};
use axolotl_rt::{CPtr, MessageInfo, ServerInfo, set_mrs, syscall};
use ipc_schema::kv;
use test_support::Checks;

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

/// Invocation labels, including unknown ones (poweroff, 50, is left out: it would end the run).
const LABELS: [u64; 27] = [
    0,
    1,
    10,
    11,
    12,
    13,
    15,
    16,
    18,
    20,
    21,
    22,
    23,
    24,
    30,
    32,
    34,
    51,
    70,
    72,
    74,
    75,
    76,
    77,
    78,
    999,
    1 << 40,
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

/// Calls made, by outcome: `ok`, then errors by kernel error code (transport errors from
/// servers, which reply with their own labels, are counted as `server_errors`).
struct Tally {
    ok: u64,
    kernel_errors: [u64; 16],
    server_errors: u64,
}

impl Tally {
    fn count(&mut self, r: Result<(MessageInfo, u64), Error>, from_server: bool) {
        match r {
            Ok((info, _)) if info.label() == 0 => self.ok += 1,
            Ok(_) if from_server => self.server_errors += 1,
            Ok((info, _)) => self.kernel_errors[(info.label() as usize).min(15)] += 1,
            Err(e) => self.kernel_errors[(e as usize).min(15)] += 1,
        }
    }
    fn total(&self) -> u64 {
        self.ok + self.server_errors + self.kernel_errors.iter().sum::<u64>()
    }
}

pub fn run(server: &'static ServerInfo, calls: u64, seed: u64) {
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
    let is_server = |slot: CPtr| server.calls().iter().any(|n| n.cptr == slot);
    let slots = server.empty_slots();
    let mut rng = Rng(seed);
    let mut tally = Tally {
        ok: 0,
        kernel_errors: [0; 16],
        server_errors: 0,
    };
    let mut made = 0u64;
    let pick = |rng: &mut Rng| -> CPtr {
        loop {
            let s = rng.below(slots.end + 8);
            if !protected.contains(&s) {
                return s;
            }
        }
    };
    axolotl_rt::debug_println!("sysfuzz: {calls} calls from seed {seed:#x}");
    for i in 0..calls {
        if i % 4 == 0 {
            // Keep some objects around: every 4th call retypes something valid-ish.
            let ty = TYPES[rng.below(TYPES.len() as u64) as usize];
            let size = match ty {
                ObjectType::Untyped => 12 + rng.below(bits.saturating_sub(11) as u64),
                ObjectType::CNode => 1 + rng.below(6),
                ObjectType::TxRegion | ObjectType::Snapshot => 13 + rng.below(3),
                _ => rng.below(64),
            };
            let dest = slots.start + rng.below(slots.end - slots.start + 8);
            set_mrs(&[ty as u64, size, 0, dest, 1 + rng.below(3)]);
            let r = syscall::call(
                untyped.cptr(),
                MessageInfo::new(Invocation::UntypedRetype as u64, 0, 5),
            );
            if matches!(r, Ok((info, _)) if info.label() == 0) {
                made += 1;
            }
            tally.count(r, false);
        } else if i % 97 == 0 {
            // Revoke the Untyped now and then, so that memory is reused.
            set_mrs(&[untyped.cptr()]);
            tally.count(
                syscall::call(
                    cnode.cptr(),
                    MessageInfo::new(Invocation::CNodeRevoke as u64, 0, 1),
                ),
                false,
            );
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
            let to_server = is_server(target);
            let r = match rng.below(20) {
                0 | 1 => syscall::nb_send(target, MessageInfo::new(label, 0, len))
                    .map(|()| (MessageInfo(0), 0)),
                2 | 3 => syscall::nb_recv(target),
                4 => syscall::reply(MessageInfo::new(label, 0, len)).map(|()| (MessageInfo(0), 0)),
                5 => {
                    syscall::yield_now();
                    Ok((MessageInfo(0), 0))
                }
                _ => syscall::call(target, MessageInfo::new(label, 0, len)),
            };
            tally.count(r, to_server);
        }
    }
    let refused = tally.total() - tally.ok;
    axolotl_rt::debug_println!(
        "sysfuzz: {} calls made, {} succeeded, {refused} refused, {made} objects made",
        tally.total(),
        tally.ok
    );
    for (code, &n) in tally.kernel_errors.iter().enumerate() {
        if n > 0 {
            let name = Error::from_u64(code as u64).map_or("other", Error::name);
            axolotl_rt::debug_println!("sysfuzz:   {n:>8} x {name} (code {code})");
        }
    }
    axolotl_rt::debug_println!(
        "sysfuzz:   {:>8} x transport errors from servers",
        tally.server_errors
    );
    // The kernel handled every one: a kernel fault would have stopped the machine (status 255).
    axolotl_rt::debug_println!("sysfuzz: kernel faults: 0");
    c.check(
        tally.total() == calls,
        "every call returned",
        format_args!("{} of {calls}", tally.total()),
    );

    // The kernel's own consistency check.
    match server.sys_control().map(|s| s.check_invariants()) {
        Some(Ok(report)) => {
            axolotl_rt::debug_println!(
                "sysfuzz: kernel invariants: {} violations ({} capabilities, {} untyped, {} queued threads, {} user mappings checked)",
                report.violations,
                report.capabilities,
                report.untyped,
                report.queued_threads,
                report.user_mappings
            );
            c.check(
                report.violations == 0
                    && report.capabilities > 0
                    && report.untyped > 0
                    && report.user_mappings > 0,
                "the kernel's invariants hold",
                format_args!("{report:?}"),
            );
        }
        other => c.fail("the kernel's invariants hold", format_args!("{other:?}")),
    }

    // The system still serves: an IPC round trip through a partner, and the kv store.
    if let Some(echo) = server.client("echo") {
        set_mrs(&[41]);
        let r = echo.call(MessageInfo::new(1, 0, 1));
        c.check(
            r.is_ok(),
            "the rest of the system still serves",
            format_args!("{r:?}"),
        );
    }
    if let Some(ep) = server.client("kv") {
        let kv = kv::v2::Client::new(ep);
        let key = kv::v2::Key::try_from("after-fuzz").unwrap_or_default();
        let value = kv::v2::Value::from_slice(b"still here").unwrap_or_default();
        let put = kv.put(key.clone(), value.clone(), None);
        let got = kv.get(key);
        c.check(
            put.is_ok() && got.as_ref().ok() == Some(&value),
            "the kv store still serves",
            format_args!("put {put:?}, get {got:?}"),
        );
    }
    c.finish(server);
}
