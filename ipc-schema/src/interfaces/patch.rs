//! `patch`: wait-free code-only patches of multi-threaded servers, served by the root task's
//! supervisor (after WfPatch, PLOS'19).
//!
//! A server whose image lists a program in `patches` (another build of it with the same data
//! layout: the build tool checks that and refuses otherwise) can be patched to it while it
//! serves. [`begin`](v1::Server::begin) checks the layout and starts a clone of the server's
//! address space; the following [`step`](v1::Server::step)s build it a few pages each (the new
//! build's code, and the very frames of its data, bss, heap, stacks, IPC buffers and info page),
//! then, once it is complete, move the threads that are at their receive point into it; a thread
//! busy with a request is left alone until a later step, so the others keep serving: no global
//! stop, and no long one. When the last thread has moved the old code and address space are
//! released. The caller paces the steps (the root task runs above every server).

/// Version 1.
pub mod v1 {
    use super::super::common::Name;
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// A program name (a boot-archive entry).
    pub type Program = heapless::String<32>;

    /// A patch of a server, as the supervisor knows it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PatchInfo {
        /// The server's threads.
        pub threads: u8,
        /// Threads running the new build.
        pub moved: u8,
        /// Bit `k`: thread `k` runs the new build.
        pub moved_mask: u16,
        /// Every thread moved and the old code was released.
        pub done: bool,
        /// Times a thread was found busy with a request and left for a later step.
        pub busy: u32,
        /// Pages of new code mapped into the clone so far, and pages shared with the old address
        /// space so far (the clone is built in steps).
        pub code_pages: u16,
        pub shared_pages: u16,
        /// Pages of the old build's code released when the last thread moved.
        pub freed_pages: u16,
        /// Counter ticks (instructions under `-icount`) the supervisor spent in the last op.
        pub ticks: u64,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum PatchError {
        /// No server of that name.
        NoSuchServer,
        /// The image does not list that program in the server's `patches`, or the boot archive
        /// does not hold it.
        NotPatchable,
        /// The new build's writable segments differ from the running one's (the build tool
        /// should have refused it; the supervisor checks again).
        LayoutDiffers,
        /// A patch of this server is in progress: finish it with `step` first.
        InProgress,
        /// `step` without a patch in progress.
        NotInProgress,
        /// Not enough memory or slots for the clone.
        NoMemory,
        /// The kernel refused (logged by the supervisor).
        Failed,
    }

    impl core::fmt::Display for PatchError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                PatchError::NoSuchServer => "no such server",
                PatchError::NotPatchable => "the server may not be patched to that program",
                PatchError::LayoutDiffers => "the new build's data layout differs",
                PatchError::InProgress => "a patch is in progress",
                PatchError::NotInProgress => "no patch in progress",
                PatchError::NoMemory => "not enough memory for the clone",
                PatchError::Failed => "the kernel refused",
            })
        }
    }

    crate::interface! {
        interface patch = ids::PATCH, version 1;

        /// Starts patching `server` to `program`: checks the data layout and starts the clone
        /// (its pages come in the following steps); moves no thread.
        0 => non_idempotent fn begin(server: Name, program: Program) -> Result<PatchInfo, PatchError>;
        /// Builds the next few pages of the clone; once it is complete, moves the threads that
        /// are at their receive point; releases the old code once every thread moved.
        1 => idempotent fn step(server: Name) -> Result<PatchInfo, PatchError>;
        /// The patch as it stands (the last one, once done).
        2 => idempotent fn status(server: Name) -> Result<PatchInfo, PatchError>;
    }
}
