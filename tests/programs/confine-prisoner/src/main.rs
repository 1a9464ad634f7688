//! The prisoner of the `confinement` scenario: granted nothing but its own TCB. It tries every
//! system call on every slot of its CNode and beyond, and invocations of objects it was never
//! given, and checks that each fails with the exact error (an empty slot: invalid capability; a
//! slot past the CNode: failed lookup; never a fault, never anything delivered). It runs first
//! (highest priority) and never blocks. Its only channel out is its fault endpoint: it ends with a
//! load from `VERDICT_BASE + 8 * failures`, which the checker decodes.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::abi::Invocation;
use axolotl_rt::server_info::SERVER_CNODE_RADIX;
use axolotl_rt::{
    CNode, Cap, CapRights, Error, MessageInfo, ObjectType, ServerInfo, Untyped, debug_println,
    fault, syscall,
};
use test_support::Checks;
use test_support::confine_protocol::VERDICT_BASE;

axolotl_rt::declare_server!(main);

const SLOTS: u64 = 1 << SERVER_CNODE_RADIX;

/// Every system call that names a capability, tried on `cptr`; each must fail with `want`.
/// Returns the first that did not, with what it returned.
fn every_syscall(cptr: u64, want: Error) -> Option<(&'static str, Result<(), Error>)> {
    let info = MessageInfo::new(Invocation::SysControlPoweroff as u64, 0, 1);
    let results: [(&'static str, Result<(), Error>); 6] = [
        ("Call", syscall::call(cptr, info).map(drop)),
        ("Send", syscall::send(cptr, info)),
        ("NBSend", syscall::nb_send(cptr, info)),
        ("NBRecv", syscall::nb_recv(cptr).map(drop)),
        ("Recv", syscall::recv(cptr).map(drop)),
        ("ReplyRecv", syscall::reply_recv(cptr, info).map(drop)),
    ];
    results.into_iter().find(|(_, r)| *r != Err(want))
}

fn main(server: &'static ServerInfo) {
    let mut checks = Checks::new("confinement");
    run(&mut checks, server);
    let failures = u64::from(checks.failures());
    debug_println!("prisoner: done, {failures} checks failed; reporting through its fault handler");
    fault::read_u64(VERDICT_BASE + 8 * failures);
    debug_println!("FAIL confinement: the prisoner was resumed after its verdict");
}

fn run(checks: &mut Checks, server: &'static ServerInfo) {
    let own = server.own_tcb().cptr();
    checks.check(
        server.endpoints().is_empty()
            && server.calls().is_empty()
            && server.controls().is_empty()
            && server.own_cnode().is_none()
            && server.untyped().is_none()
            && server.sys_control().is_none()
            && own == 1
            && server.empty_slots() == (2..SLOTS),
        "the prisoner's server info lists nothing but its own TCB in slot 1",
        format_args!("{server:x?}"),
    );

    // Every slot but its TCB's is empty: every system call fails with InvalidCapability.
    let mut bad = None;
    for cptr in (0..SLOTS).filter(|&c| c != own) {
        if let Some(r) = every_syscall(cptr, Error::InvalidCapability) {
            bad = Some((cptr, r));
            break;
        }
    }
    checks.check(
        bad.is_none(),
        "every system call on each of its 255 empty slots (and slot 0) fails with invalid capability",
        format_args!("{bad:?}"),
    );
    // Past the end of its CNode: FailedLookup.
    let mut bad = None;
    for cptr in [SLOTS, SLOTS + 1, 1 << 20, 1 << 40, u64::MAX] {
        if let Some(r) = every_syscall(cptr, Error::FailedLookup) {
            bad = Some((cptr, r));
            break;
        }
    }
    checks.check(
        bad.is_none(),
        "every system call on slots past its CNode fails with failed lookup",
        format_args!("{bad:?}"),
    );

    // Invocations of objects it was never given.
    let free = 2;
    checks.check_eq(
        "retyping from an Untyped it does not have fails with invalid capability",
        Cap::<Untyped>::from_cptr(free).retype(ObjectType::Frame, 0, Cap::invoker_root(), 3, 1),
        Err(Error::InvalidCapability),
    );
    checks.check_eq(
        "copying its own TCB capability through a CNode it does not have fails",
        Cap::<CNode>::from_cptr(free).copy(3, Cap::invoker_root(), own, CapRights::ALL),
        Err(Error::InvalidCapability),
    );
    checks.check_eq(
        "powering off without the system-control capability fails",
        syscall::call(
            free,
            MessageInfo::new(Invocation::SysControlPoweroff as u64, 0, 1),
        )
        .map(drop),
        Err(Error::InvalidCapability),
    );
    // What its own TCB allows: nothing that widens its authority.
    let tcb = server.own_tcb();
    checks.check_eq(
        "its TCB cannot raise its priority above its own",
        tcb.set_priority(254),
        Err(Error::RangeError),
    );
    checks.check_eq(
        "its TCB cannot reconfigure it with objects it does not have",
        tcb.configure(
            None,
            Cap::from_cptr(free),
            Cap::from_cptr(free + 1),
            0,
            None,
        ),
        Err(Error::InvalidCapability),
    );
    checks.check_eq(
        "its TCB is not a CNode: CNode operations on it are refused",
        tcb.cast::<CNode>()
            .copy(3, Cap::invoker_root(), own, CapRights::ALL),
        Err(Error::IllegalOperation),
    );
    // Still nothing in any other slot.
    let filled = (0..SLOTS)
        .filter(|&c| c != own)
        .find(|&c| syscall::nb_send(c, MessageInfo::new(0, 0, 0)) != Err(Error::InvalidCapability));
    checks.check_eq(
        "afterwards its CNode still holds nothing else",
        filled,
        None,
    );
}
