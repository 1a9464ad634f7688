//! The kernel's pure logic, kept apart from the kernel so that it is unit-tested on the host.
//!
//! | module | what |
//! |---|---|
//! | [`cdt`] | the capability derivation tree: insert, remove, replace (move), revoke support, self-check, bounded tree walk |
//! | [`untyped`] | untyped memory arithmetic: retype allocation, splitting memory into aligned blocks, consistency checks |
//! | [`queue`] | the intrusive doubly-linked FIFO used by run queues and endpoint/notification wait queues |
//! | [`sched`] | the 256 ready queues with a bitmap of the non-empty priorities |
//! | [`undo`] | transactional regions: their address ranges and the undo log of one transaction |
//! | [`snapshot`] | concurrent snapshots of a region: page numbering and the not-yet-copied bitmap |
//!
//! The kernel stores links *intrusively* in its objects (a CNode slot holds its [`cdt::CdtLinks`],
//! a TCB its [`queue::QueueLinks`]) and addresses objects by raw pointers. Every algorithm is
//! therefore generic over a *store* trait ([`cdt::CdtStore`], [`queue::QueueStore`]) that reads and
//! writes the links of one element by identifier: the kernel implements it over pointers, the tests
//! over arrays. Identifiers are small `Copy + Eq` values (a `NonNull` in the kernel, an index in the
//! tests); no code here allocates, and no code here is `unsafe`.
//!
//! Preconditions that the caller must uphold (for example "the element is not in a queue") are
//! checked with `debug_assert!` only where the check is O(1); release builds trust the caller, as
//! the kernel is the only caller and it keeps the invariants.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cdt;
pub mod queue;
pub mod sched;
pub mod snapshot;
pub mod undo;
pub mod untyped;
pub mod verify;

#[cfg(test)]
mod testutil;
