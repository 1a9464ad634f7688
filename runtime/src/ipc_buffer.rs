//! The calling thread's IPC buffer and its message registers.
//!
//! Message registers 0..3 travel in CPU registers, 4.. in the IPC buffer. As in seL4's libsel4,
//! user code never cares which: [`set_mr`] and [`get_mr`] always use `IpcBuffer::msg[i]`, and the
//! system call wrappers in [`crate::syscall`] load `msg[0..4]` into the CPU registers before
//! trapping and store them back afterwards.
//!
//! The buffer's address is set once at start-up by the entry glue (the root task's
//! [`ROOT_IPC_BUFFER_VADDR`](axolotl_abi::bootinfo::ROOT_IPC_BUFFER_VADDR), a server's
//! [`SERVER_IPC_BUFFER_VADDR`](crate::server_info::SERVER_IPC_BUFFER_VADDR)). A server with
//! several threads leaves it unset: then each thread's buffer is found from its stack pointer,
//! one page above the base of its [`THREAD_WINDOW`]-aligned window
//! ([`thread_window`](crate::server_info::thread_window)). Single-threaded programs pay nothing
//! for this: the pointer's null check was there before.
//!
//! Accesses go through raw pointers, never long-lived references, because the kernel writes the
//! buffer during system calls.

use crate::server_info::THREAD_WINDOW;
use axolotl_abi::message::{MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};
use axolotl_abi::{CPtr, IpcBuffer};
use core::sync::atomic::{AtomicPtr, Ordering};

static IPC_BUFFER: AtomicPtr<IpcBuffer> = AtomicPtr::new(core::ptr::null_mut());

/// Sets the address of the calling thread's IPC buffer.
///
/// # Safety
/// `vaddr` must be the page-aligned address of a page mapped read/write in this address space for
/// the rest of the program, registered with the kernel as this thread's IPC buffer, and not used
/// for anything else.
pub unsafe fn set_ipc_buffer(vaddr: u64) {
    IPC_BUFFER.store(vaddr as usize as *mut IpcBuffer, Ordering::Relaxed);
}

/// The calling thread's IPC buffer: the one [`set_ipc_buffer`] named, else (a server with
/// several threads) the one of the thread window its stack pointer lies in.
#[inline(always)]
fn buffer() -> Option<*mut IpcBuffer> {
    let p = IPC_BUFFER.load(Ordering::Relaxed);
    if !p.is_null() {
        return Some(p);
    }
    Some(window_buffer())
}

/// The IPC buffer of the thread window holding the stack pointer. The stack pointer is below its
/// window's end from the first call on (the entry's call pushed something), so `sp - 1` is in
/// the window even at its very top. Inlined: a call here would make the system call wrappers
/// save registers for it on every call, single-threaded or not.
#[inline(always)]
fn window_buffer() -> *mut IpcBuffer {
    let sp = crate::arch::stack_pointer();
    let base = (sp - 1) & !(THREAD_WINDOW - 1);
    (base + axolotl_abi::PAGE_SIZE as u64) as usize as *mut IpcBuffer
}

/// Where a thread's start record ([`ThreadStart`]) is kept: the last words of its IPC buffer
/// page, after the message buffers.
const START_OFFSET: usize = axolotl_abi::PAGE_SIZE - 16;
const _: () = assert!(SCRATCH_OFFSET + 2 * MSG_MAX_LENGTH * 8 <= START_OFFSET);

/// How the calling thread was started (see [`crate::server_info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadStart {
    /// 0 for the main thread, 1.. for workers.
    pub index: u64,
    /// Restarted by the supervisor in a patched build of the program (wait-free code patch).
    pub patched: bool,
}

/// Records how the calling thread started (entry glue only).
pub(crate) fn set_thread_start(start: ThreadStart) {
    let Some(p) = buffer() else { return };
    // SAFETY: the buffer's page is mapped read/write for the thread's life (`set_ipc_buffer`, or
    // the thread window layout the root task built); the two words at START_OFFSET are aligned,
    // inside the page, used by nothing else (the kernel's part and the message buffers end
    // before them, checked above).
    unsafe {
        let words = p.cast::<u8>().add(START_OFFSET).cast::<u64>();
        words.write_volatile(start.index);
        words.add(1).write_volatile(u64::from(start.patched));
    }
}

/// How the calling thread was started: its index in its server and whether it was restarted in
/// a patched build.
pub fn thread_start() -> ThreadStart {
    match buffer() {
        // SAFETY: as in `set_thread_start`; plain integers are read.
        Some(p) => unsafe {
            let words = p.cast::<u8>().add(START_OFFSET).cast::<u64>();
            ThreadStart {
                index: words.read_volatile(),
                patched: words.add(1).read_volatile() != 0,
            }
        },
        None => ThreadStart {
            index: 0,
            patched: false,
        },
    }
}

/// Where [`message_buffers`] are in the IPC buffer's page: after the kernel's [`IpcBuffer`].
const SCRATCH_OFFSET: usize = 2048;
const _: () = assert!(core::mem::size_of::<IpcBuffer>() <= SCRATCH_OFFSET);
const _: () = assert!(SCRATCH_OFFSET + 2 * MSG_MAX_LENGTH * 8 <= axolotl_abi::PAGE_SIZE);

/// Two message-sized word buffers (request, reply) in the calling thread's IPC buffer page, after
/// the part the kernel uses: memory outside any transactional region, so a server's request loop
/// can fill them on every request without dirtying a checkpointed page. The kernel never touches
/// them. `None` before start-up set the IPC buffer.
///
/// # Safety
/// The caller must not hold the buffers of an earlier call while using these (one user at a
/// time per thread: [`crate::ipc_transport::serve`], which does not nest).
pub(crate) unsafe fn message_buffers() -> Option<(
    &'static mut [u64; MSG_MAX_LENGTH],
    &'static mut [u64; MSG_MAX_LENGTH],
)> {
    let page = buffer()?.cast::<u8>();
    // SAFETY: the IPC buffer is page-aligned and its whole page is mapped read/write for the
    // program's life (`set_ipc_buffer`); both arrays lie in it after `IpcBuffer` (checked above),
    // are 8-byte aligned, do not overlap, and hold plain integers. The kernel reads and writes
    // only the `IpcBuffer` part, and the caller guarantees no other reference to them is alive.
    unsafe {
        let request = page.add(SCRATCH_OFFSET).cast::<[u64; MSG_MAX_LENGTH]>();
        let reply = page
            .add(SCRATCH_OFFSET + MSG_MAX_LENGTH * 8)
            .cast::<[u64; MSG_MAX_LENGTH]>();
        Some((&mut *request, &mut *reply))
    }
}

/// Message register `i` (`i` < [`MSG_MAX_LENGTH`]); 0 for an out-of-range index or before start-up.
pub fn get_mr(i: usize) -> u64 {
    match buffer() {
        // SAFETY: `p` points to the mapped IPC buffer (see `set_ipc_buffer`) and `i` is in bounds
        // of `msg`; no reference to the buffer is alive.
        Some(p) if i < MSG_MAX_LENGTH => unsafe { (&raw const (*p).msg[i]).read() },
        _ => 0,
    }
}

/// The time the kernel gave the open request at its delivery ([`IpcBuffer::request_time`]; verified
/// transactions only, else 0).
pub fn request_time() -> u64 {
    match buffer() {
        // SAFETY: as in `get_mr`.
        Some(p) => unsafe { (&raw const (*p).request_time).read() },
        None => 0,
    }
}

/// Sets message register `i` (`i` < [`MSG_MAX_LENGTH`]; others are ignored).
pub fn set_mr(i: usize, value: u64) {
    if let Some(p) = buffer()
        && i < MSG_MAX_LENGTH
    {
        // SAFETY: as in `get_mr`.
        unsafe { (&raw mut (*p).msg[i]).write(value) }
    }
}

/// Sets message registers `0..values.len()`.
pub fn set_mrs(values: &[u64]) {
    for (i, &v) in values.iter().enumerate() {
        set_mr(i, v);
    }
}

/// Send side: the capability (a cptr in the sender's root CNode) transferred as extra cap `i`.
pub fn set_cap(i: usize, cptr: CPtr) {
    if let Some(p) = buffer()
        && i < MSG_MAX_EXTRA_CAPS
    {
        // SAFETY: as in `get_mr`; `i` is in bounds of `caps_or_badges`.
        unsafe { (&raw mut (*p).caps_or_badges[i]).write(cptr) }
    }
}

/// Receive side: the badge of unwrapped extra capability `i`.
pub fn get_unwrapped_badge(i: usize) -> u64 {
    match buffer() {
        // SAFETY: as in `get_mr`; `i` is in bounds of `caps_or_badges`.
        Some(p) if i < MSG_MAX_EXTRA_CAPS => unsafe { (&raw const (*p).caps_or_badges[i]).read() },
        _ => 0,
    }
}

/// Receive side: where a capability sent to this thread is placed (`cnode` 0 = its root CNode;
/// `index` 0 = accept none).
pub fn set_receive_slot(cnode: CPtr, index: CPtr) {
    if let Some(p) = buffer() {
        // SAFETY: as in `get_mr`.
        unsafe {
            (&raw mut (*p).receive_cnode).write(cnode);
            (&raw mut (*p).receive_index).write(index);
            (&raw mut (*p).receive_depth).write(0);
        }
    }
}

/// Message registers 0..3 as they are to be loaded into CPU registers.
#[inline(always)]
pub(crate) fn load_cpu_mrs() -> [u64; 4] {
    match buffer() {
        // SAFETY: as in `get_mr`; indexes 0..4 are in bounds.
        Some(p) => unsafe { (&raw const (*p).msg).cast::<[u64; 4]>().read() },
        None => [0; 4],
    }
}

/// Stores message registers 0..3 received in CPU registers into the buffer.
#[inline(always)]
pub(crate) fn store_cpu_mrs(mrs: [u64; 4]) {
    if let Some(p) = buffer() {
        // SAFETY: as in `get_mr`; indexes 0..4 are in bounds.
        unsafe { (&raw mut (*p).msg).cast::<[u64; 4]>().write(mrs) }
    }
}
