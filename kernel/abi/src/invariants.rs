//! The kernel's consistency check (`SysControlCheckInvariants`) and how the kernel stops when the
//! root task faults.
//!
//! Invoking `SysControlCheckInvariants` on the system-control capability makes the kernel walk its
//! own state and check:
//!
//! - the capability derivation tree: every tree reachable from a root capability in the root
//!   task's CNode has consistent links (parent, first child, siblings agree) and no cycles; no
//!   empty slot is in a tree; a child of an Untyped lies inside the used part of its parent and is
//!   aligned to its size; a child of any other capability names the same object;
//! - Untyped accounting: every Untyped's watermark is within its size and its base is aligned;
//! - scheduler queues: the ready queues are well-formed lists agreeing with their bitmaps, every
//!   queued thread is runnable and queued at its own priority, and the number of queued threads
//!   equals the number of runnable threads other than the current one (so each is queued once);
//!   every endpoint's queue is well-formed and holds only threads blocked on that endpoint;
//! - page tables: every user mapping of every address space is of a page covered by a Frame
//!   capability mapped at that address in that address space (the root task's boot mappings
//!   excepted: its image, stack and the boot archive), and none points below the end of the
//!   kernel image.
//!
//! The reply's message registers are [`RESULT_WORDS`] words: the number of violations found (each
//! is also logged by the kernel), then how many capabilities, Untyped capabilities, queued threads
//! and user mappings were checked. The label is 0 (an error only for a wrong capability or label).

/// Words of the `SysControlCheckInvariants` reply.
pub const RESULT_WORDS: usize = 5;
/// Index of each word in the reply.
pub const RESULT_VIOLATIONS: usize = 0;
pub const RESULT_CAPABILITIES: usize = 1;
pub const RESULT_UNTYPED: usize = 2;
pub const RESULT_QUEUED_THREADS: usize = 3;
pub const RESULT_USER_MAPPINGS: usize = 4;

/// The exit status of the machine when the root task (the supervisor) takes a fault: it has no
/// fault handler, and a system without its supervisor cannot recover, so the kernel logs the
/// fault (kind, pc, address) and powers off with this status. Distinct from a kernel panic (255)
/// and from the root task's own "cannot build the image" (1).
pub const ROOT_TASK_FAULT_EXIT_STATUS: u64 = 120;
