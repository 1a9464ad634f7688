//! Deliberate faults, for tests of fault handling and memory protection.
//!
//! Each faulting instruction is the first instruction of a tiny assembly routine, so its address is
//! known before it runs ([`undefined_instruction_pc`], [`read_u64_pc`], [`write_u64_pc`]) and a
//! fault handler can resume the thread after it by advancing the pc by [`UNDEFINED_INSTRUCTION_LEN`]
//! or [`ACCESS_INSTRUCTION_LEN`] (the routine then returns normally).
//!
//! While the routine runs, every register of the system-call ABI (aarch64 x0..x7; x86_64 rax, rcx,
//! rdx, rsi, rdi, r8..r12) that is not an argument or result holds a known value. When the routine
//! returns, [`registers_intact`] tells whether those values survived: a fault handler that resumes
//! a thread must not change its registers other than those it wrote on purpose.
//!
//! [`read_u64`] and [`write_u64`] access whatever address they are given. They are meant for
//! addresses that fault (unmapped, read-only or kernel memory) and for memory no Rust code of the
//! program otherwise touches (a heap page); pointing them at its stack or statics is as unsound as
//! it sounds.

use core::sync::atomic::{AtomicBool, Ordering};

/// What [`read_u64`] returns when the fault handler resumed the thread after the load, so that the
/// load never happened.
pub const UNREAD: u64 = 0x0bad_5eed_0bad_5eed;

#[cfg(target_arch = "aarch64")]
mod arch {
    /// `udf #0`.
    pub const UNDEFINED_INSTRUCTION_LEN: u64 = 4;
    /// `ldr x1, [x0]` / `str x1, [x0]`.
    pub const ACCESS_INSTRUCTION_LEN: u64 = 4;
    /// The registers loaded with sentinels besides the argument (x0) and value (x1): x2..x7.
    pub const SPARE: usize = 6;

    core::arch::global_asm!(
        ".section .text.axolotl_rt_fault, \"ax\"",
        ".balign 4",
        ".global axolotl_rt_fault_undefined",
        ".type axolotl_rt_fault_undefined, %function",
        "axolotl_rt_fault_undefined:",
        "    udf #0",
        "    ret",
        ".size axolotl_rt_fault_undefined, . - axolotl_rt_fault_undefined",
        ".global axolotl_rt_fault_read",
        ".type axolotl_rt_fault_read, %function",
        "axolotl_rt_fault_read:",
        "    ldr x1, [x0]",
        "    ret",
        ".size axolotl_rt_fault_read, . - axolotl_rt_fault_read",
        ".global axolotl_rt_fault_write",
        ".type axolotl_rt_fault_write, %function",
        "axolotl_rt_fault_write:",
        "    str x1, [x0]",
        "    ret",
        ".size axolotl_rt_fault_write, . - axolotl_rt_fault_write",
    );

    /// Calls `routine` with x0 = `address`, x1 = `value` and sentinels in `spare` (x2..x7).
    /// Returns x1 and the spare registers as they were when it returned.
    macro_rules! call_routine {
        ($routine:literal, $address:expr, $value:expr, $spare:expr) => {{
            let mut x1: u64 = $value;
            let mut s: [u64; SPARE] = $spare;
            // SAFETY: the routine (above) executes one faulting instruction and returns; it
            // touches only x0, x1 and lr (declared) and, for a store that does not fault, the
            // memory at `address` (the asm is not `nomem`). Every register the kernel might
            // change while the thread is stopped in it is an operand here, so the compiler keeps
            // nothing live in them.
            unsafe {
                core::arch::asm!(
                    concat!("bl ", $routine),
                    in("x0") $address,
                    inout("x1") x1,
                    inout("x2") s[0],
                    inout("x3") s[1],
                    inout("x4") s[2],
                    inout("x5") s[3],
                    inout("x6") s[4],
                    inout("x7") s[5],
                    out("x30") _,
                    options(nostack),
                );
            }
            (x1, s)
        }};
    }
    pub(super) use call_routine;
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// `ud2`.
    pub const UNDEFINED_INSTRUCTION_LEN: u64 = 2;
    /// `mov rsi, [rdi]` / `mov [rdi], rsi` (REX.W 8B/89 /r: 3 bytes).
    pub const ACCESS_INSTRUCTION_LEN: u64 = 3;
    /// The registers loaded with sentinels besides the address (rdi) and value (rsi):
    /// rax, rcx, rdx, r8, r9, r10, r11, r12.
    pub const SPARE: usize = 8;

    core::arch::global_asm!(
        ".section .text.axolotl_rt_fault, \"ax\"",
        ".global axolotl_rt_fault_undefined",
        ".type axolotl_rt_fault_undefined, @function",
        "axolotl_rt_fault_undefined:",
        "    ud2",
        "    ret",
        ".size axolotl_rt_fault_undefined, . - axolotl_rt_fault_undefined",
        ".global axolotl_rt_fault_read",
        ".type axolotl_rt_fault_read, @function",
        "axolotl_rt_fault_read:",
        "    mov rsi, qword ptr [rdi]",
        "    ret",
        ".size axolotl_rt_fault_read, . - axolotl_rt_fault_read",
        // A handler skips ACCESS_INSTRUCTION_LEN bytes: check the encoding (+ 1 for `ret`).
        ".if (. - axolotl_rt_fault_read) != 4",
        ".error \"axolotl_rt_fault_read: the load is not 3 bytes long\"",
        ".endif",
        ".global axolotl_rt_fault_write",
        ".type axolotl_rt_fault_write, @function",
        "axolotl_rt_fault_write:",
        "    mov qword ptr [rdi], rsi",
        "    ret",
        ".size axolotl_rt_fault_write, . - axolotl_rt_fault_write",
        ".if (. - axolotl_rt_fault_write) != 4",
        ".error \"axolotl_rt_fault_write: the store is not 3 bytes long\"",
        ".endif",
    );

    /// Calls `routine` with rdi = `address`, rsi = `value` and sentinels in `spare`. Returns rsi and
    /// the spare registers as they were when it returned.
    macro_rules! call_routine {
        ($routine:literal, $address:expr, $value:expr, $spare:expr) => {{
            let mut rsi: u64 = $value;
            let mut s: [u64; SPARE] = $spare;
            // SAFETY: the routine (above) executes one faulting instruction and returns; it
            // touches only rdi, rsi and the stack slot of its return address (the asm does not
            // say `nostack`) and, for a store that does not fault, the memory at `address` (the
            // asm is not `nomem`). Every register the kernel might change while the thread is
            // stopped in it is an operand here, so the compiler keeps nothing live in them.
            unsafe {
                core::arch::asm!(
                    concat!("call ", $routine),
                    in("rdi") $address,
                    inout("rsi") rsi,
                    inout("rax") s[0],
                    inout("rcx") s[1],
                    inout("rdx") s[2],
                    inout("r8") s[3],
                    inout("r9") s[4],
                    inout("r10") s[5],
                    inout("r11") s[6],
                    inout("r12") s[7],
                );
            }
            (rsi, s)
        }};
    }
    pub(super) use call_routine;
}

pub use arch::{ACCESS_INSTRUCTION_LEN, UNDEFINED_INSTRUCTION_LEN};
use arch::{SPARE, call_routine};

unsafe extern "C" {
    fn axolotl_rt_fault_undefined();
    fn axolotl_rt_fault_read();
    fn axolotl_rt_fault_write();
}

static INTACT: AtomicBool = AtomicBool::new(true);

const fn sentinels() -> [u64; SPARE] {
    let mut s = [0; SPARE];
    let mut i = 0;
    while i < SPARE {
        s[i] = 0x5a5a_0000_0000_5a00 | ((i as u64 + 1) << 32);
        i += 1;
    }
    s
}

fn record(spare: [u64; SPARE]) {
    INTACT.store(spare == sentinels(), Ordering::Relaxed);
}

/// Whether the spare registers held their values across the last fault routine that returned
/// (`true` before any did).
pub fn registers_intact() -> bool {
    INTACT.load(Ordering::Relaxed)
}

/// Executes an undefined instruction (aarch64 `udf #0`, x86_64 `ud2`) at
/// [`undefined_instruction_pc`]. Returns only if the fault handler resumes the thread after it.
pub fn undefined_instruction() {
    let (_, spare) = call_routine!("axolotl_rt_fault_undefined", 0u64, 0u64, sentinels());
    record(spare);
}

/// Loads the word at `addr` with the instruction at [`read_u64_pc`]. Returns [`UNREAD`] if the
/// load faulted and the handler resumed the thread after it.
pub fn read_u64(addr: u64) -> u64 {
    let (value, spare) = call_routine!("axolotl_rt_fault_read", addr, UNREAD, sentinels());
    record(spare);
    value
}

/// Stores `v` at `addr` with the instruction at [`write_u64_pc`].
pub fn write_u64(addr: u64, v: u64) {
    let (_, spare) = call_routine!("axolotl_rt_fault_write", addr, v, sentinels());
    record(spare);
}

/// Loads from address 0: a page fault at address 0, pc [`read_u64_pc`]. Returns [`UNREAD`] if the
/// handler resumed the thread after the load.
pub fn null_dereference() -> u64 {
    read_u64(0)
}

/// The address of the instruction [`undefined_instruction`] faults on.
pub fn undefined_instruction_pc() -> u64 {
    axolotl_rt_fault_undefined as *const () as usize as u64
}

/// The address of the load [`read_u64`] and [`null_dereference`] execute.
pub fn read_u64_pc() -> u64 {
    axolotl_rt_fault_read as *const () as usize as u64
}

/// The address of the store [`write_u64`] executes.
pub fn write_u64_pc() -> u64 {
    axolotl_rt_fault_write as *const () as usize as u64
}

/// Executes the deliberate fault `kind` (the shell's `inject SERVER KIND`, armed by the supervisor
/// in the server-info page and fired by [`serve`](crate::ipc_transport::serve) at the next
/// request). Never returns: each kind ends in a real fault (or, for `Loop`, in the request's time
/// budget running out), which the supervisor rolls back when the server is transactional.
pub fn inject(kind: ipc_schema::inject::v1::FaultKind) -> ! {
    use ipc_schema::inject::v1::FaultKind;
    log::warn!("injected fault: {}", kind.name());
    match kind {
        FaultKind::Null => {
            null_dereference();
        }
        FaultKind::Wild => {
            scribble();
            null_dereference();
        }
        FaultKind::Panic => panic!("injected panic"),
        FaultKind::Loop => loop {
            core::hint::spin_loop();
        },
        FaultKind::Undef => undefined_instruction(),
        FaultKind::Stack => {
            overflow(0);
        }
    }
    // Resumed after the faulting instruction by a handler that skipped it: fault for good.
    crate::arch::fault()
}

/// Writes garbage to 16 pseudo-random 8-byte words of the thread's live data: its heap, if it
/// has one, and the live part of its stack (where servers like kv keep their state).
fn scribble() {
    use crate::server_info::{SERVER_HEAP_VADDR, SERVER_STACK_TOP};
    let marker = 0u8;
    let sp = core::hint::black_box(&marker) as *const u8 as u64 & !7;
    // SAFETY: as in `armed_fault`: the page is mapped read-only for the server's life and
    // `heap_len` is never changed after start-up.
    let heap_len = unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!(
            (*(crate::server_info::SERVER_INFO_VADDR as usize
                as *const crate::server_info::ServerInfo))
                .heap_len
        ))
    };
    let mut seed = crate::time::counter() | 1;
    for i in 0..16u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (base, len) = if heap_len >= 8 && i % 2 == 1 {
            (SERVER_HEAP_VADDR, heap_len)
        } else {
            (sp + 64, SERVER_STACK_TOP - sp - 64)
        };
        let addr = base + (seed % (len / 8)) * 8;
        // SAFETY: `addr` is an aligned word of this thread's mapped, writable heap or of the
        // stack above this frame. Writing it breaks whatever Rust value lives there, which is the
        // point; no Rust code reads those values again: the caller faults right after, and the
        // supervisor either rolls the memory back (transactional server) or never resumes the
        // thread.
        unsafe { core::ptr::write_volatile(addr as *mut u64, 0xdead_beef_0bad_f00d ^ seed) };
    }
}

/// Recurses until the stack runs into its unmapped guard page.
#[allow(unconditional_recursion)]
#[inline(never)]
fn overflow(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    frame[0] = depth as u8;
    let frame = core::hint::black_box(&mut frame);
    overflow(depth + 1).wrapping_add(u64::from(frame[0]))
}
