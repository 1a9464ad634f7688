//! Start-up: what runs between `_start` and the program's `main`.
//!
//! The entry macros define `__axolotl_rt_main`, which `_start` (in `arch`) calls with the first
//! argument register, and which calls [`start_root_task`] or [`start_server`] with the program's
//! `main`. Those set the IPC buffer pointer, find the boot-info or server-info page, install the
//! logger and run `main`.

use crate::ipc_buffer::ThreadStart;
use crate::ipc_buffer::set_ipc_buffer;
use crate::logger::init_log;
use crate::server_info::{
    SERVER_INFO_VADDR, SERVER_IPC_BUFFER_VADDR, START_PATCHED, START_THREAD_MASK, ServerInfo,
};
use axolotl_abi::bootinfo::{
    BOOT_INFO_MAGIC, BootInfo, ROOT_BOOT_INFO_VADDR, ROOT_IPC_BUFFER_VADDR,
};
use log::LevelFilter;

/// The level records are logged at until the program changes it.
pub const DEFAULT_LOG_LEVEL: LevelFilter = LevelFilter::Info;

/// Declares the root task's entry point: `fn main(bootinfo: &'static BootInfo) -> !`.
///
/// ```ignore
/// axolotl_rt::declare_root_task!(main);
/// fn main(bootinfo: &'static axolotl_rt::BootInfo) -> ! { ... }
/// ```
#[macro_export]
macro_rules! declare_root_task {
    ($main:path) => {
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn __axolotl_rt_main(arg: usize) -> ! {
            $crate::entry::start_root_task(arg, $main)
        }
    };
}

/// Declares a server's entry point: `fn main(info: &'static ServerInfo)`. When `main` returns,
/// the runtime suspends the thread through its own TCB capability; if its request loop
/// ([`serve`](crate::ipc_transport::serve)) returned, it faults instead (an undefined
/// instruction), so that its fault handler treats it as a crash.
///
/// ```ignore
/// axolotl_rt::declare_server!(main);
/// fn main(info: &'static axolotl_rt::ServerInfo) { ... }
/// ```
#[macro_export]
macro_rules! declare_server {
    ($main:path) => {
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn __axolotl_rt_main(arg: usize) -> ! {
            $crate::entry::start_server(arg, $main)
        }
    };
}

/// The root task's start-up; `arg` is the boot-info address the kernel passed.
#[doc(hidden)]
pub fn start_root_task(arg: usize, main: fn(&'static BootInfo) -> !) -> ! {
    // SAFETY: the kernel maps the root task's IPC buffer at ROOT_IPC_BUFFER_VADDR and registers it
    // with the root task's TCB before starting it (`abi::bootinfo`).
    unsafe { set_ipc_buffer(ROOT_IPC_BUFFER_VADDR) };
    init_log("root", DEFAULT_LOG_LEVEL);
    if arg as u64 != ROOT_BOOT_INFO_VADDR {
        log::warn!(
            "boot info passed at {arg:#x}, expected {ROOT_BOOT_INFO_VADDR:#x}; using the latter"
        );
    }
    // SAFETY: the kernel maps the boot-info page read-only at ROOT_BOOT_INFO_VADDR for the root
    // task's whole life (`abi::bootinfo`); BootInfo fits in the page and has no invalid bit
    // patterns (integers only).
    let bootinfo: &'static BootInfo =
        unsafe { &*(ROOT_BOOT_INFO_VADDR as usize as *const BootInfo) };
    if bootinfo.magic != BOOT_INFO_MAGIC {
        panic!(
            "boot info has magic {:#x}, not {BOOT_INFO_MAGIC:#x}",
            bootinfo.magic
        );
    }
    main(bootinfo)
}

/// A server's start-up; `arg` is the server-info address the root task passed, plus the
/// thread's index and [`START_PATCHED`] (see [`crate::server_info`]). Only the main thread's
/// first start installs the logger; every thread then runs `main`.
#[doc(hidden)]
pub fn start_server(arg: usize, main: fn(&'static ServerInfo)) -> ! {
    let arg = arg as u64;
    // SAFETY: the root task maps the server-info page read-only at SERVER_INFO_VADDR for the
    // server's whole life (`server_info`); ServerInfo fits in the page and has no invalid bit
    // patterns (integers and byte arrays only).
    let info: &'static ServerInfo = unsafe { &*(SERVER_INFO_VADDR as usize as *const ServerInfo) };
    let index = arg & START_THREAD_MASK;
    let patched = arg & START_PATCHED != 0;
    if info.threads <= 1 {
        // SAFETY: the root task maps the server's IPC buffer at SERVER_IPC_BUFFER_VADDR and
        // registers it with the server's TCB before starting it (`server_info`). With several
        // threads the pointer stays unset and each thread finds its own from its window.
        unsafe { set_ipc_buffer(SERVER_IPC_BUFFER_VADDR) };
    }
    crate::ipc_buffer::set_thread_start(ThreadStart { index, patched });
    if index == 0 && !patched {
        if !info.is_valid() {
            init_log("?", DEFAULT_LOG_LEVEL);
            panic!("server info at {SERVER_INFO_VADDR:#x} has a bad magic number");
        }
        init_log(info.name(), DEFAULT_LOG_LEVEL);
        crate::logger::attach_console(info);
        if arg & !(START_THREAD_MASK | START_PATCHED) != SERVER_INFO_VADDR {
            log::warn!(
                "server info passed at {arg:#x}, expected {SERVER_INFO_VADDR:#x}; using the latter"
            );
        }
    }
    main(info);
    if crate::ipc_transport::left_request_loop() {
        // A server serves its endpoints until it is stopped; leaving its request loop (a receive
        // that failed, say on a corrupted capability) is a crash. Fault, so that its fault
        // handler (the supervisor) hears of it and can restart it, rather than suspending
        // quietly with its clients waiting on it for ever.
        log::error!("main returned after the request loop failed: faulting");
        crate::arch::fault()
    }
    if index == 0
        && let Err(e) = info.own_tcb().suspend()
    {
        panic!("main returned and the thread cannot suspend itself: {e}");
    }
    // A suspended thread is only resumed on purpose, and a worker has no capability to its own
    // thread: its fault stops it.
    crate::arch::fault()
}
