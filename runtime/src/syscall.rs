//! The system calls, one wrapper each.
//!
//! Message registers are read from and written to the IPC buffer ([`crate::ipc_buffer`]): each
//! sending wrapper loads MR0..3 from `msg[0..4]` into CPU registers, and each receiving wrapper
//! stores the CPU registers back there, so [`get_mr`](crate::get_mr)/[`set_mr`](crate::set_mr)
//! see every word wherever it travelled.
//!
//! A nonzero kernel status (the kernel refused the call: an empty or wrong capability, missing
//! rights, a non-blocking call that would block) is returned as `Err`. The label of a received
//! message is the sender's business: invocation replies are decoded in [`crate::cap`].

use crate::arch::{self, SyscallRegisters};
use crate::ipc_buffer::{load_cpu_mrs, store_cpu_mrs};
use axolotl_abi::{Badge, CPtr, Error, MessageInfo, Syscall};

/// The error for a nonzero kernel status. A status this runtime does not know (a newer kernel)
/// is reported as [`Error::IllegalOperation`].
pub(crate) fn status_error(status: u64) -> Error {
    Error::from_u64(status).unwrap_or(Error::IllegalOperation)
}

fn check(regs: SyscallRegisters) -> Result<SyscallRegisters, Error> {
    if regs.status == 0 {
        Ok(regs)
    } else {
        Err(status_error(regs.status))
    }
}

/// A system call that sends the message in the IPC buffer.
#[inline(always)]
fn send_message(number: Syscall, word0: u64, info: MessageInfo) -> Result<SyscallRegisters, Error> {
    check(arch::syscall(number as u64, word0, info.0, load_cpu_mrs()))
}

/// Stores a received message's registers and returns its info and badge.
#[inline(always)]
fn received(regs: SyscallRegisters) -> (MessageInfo, Badge) {
    store_cpu_mrs(regs.mrs);
    (MessageInfo(regs.info), regs.word0)
}

/// Sends a message to `dest` and blocks for the reply; on a kernel object's capability, performs
/// an invocation. Returns the reply's info and badge.
pub fn call(dest: CPtr, info: MessageInfo) -> Result<(MessageInfo, Badge), Error> {
    send_message(Syscall::Call, dest, info).map(received)
}

/// Sends a message to `dest`, blocking until it is received; signals a notification.
pub fn send(dest: CPtr, info: MessageInfo) -> Result<(), Error> {
    send_message(Syscall::Send, dest, info).map(|_| ())
}

/// Sends only if a receiver is waiting (the message is dropped otherwise); signals a notification.
pub fn nb_send(dest: CPtr, info: MessageInfo) -> Result<(), Error> {
    send_message(Syscall::NBSend, dest, info).map(|_| ())
}

/// Blocks until a message (endpoint) or signal (notification) arrives on `src`. Returns its info
/// and badge (for a notification: the signalled word).
pub fn recv(src: CPtr) -> Result<(MessageInfo, Badge), Error> {
    check(arch::syscall(Syscall::Recv as u64, src, 0, [0; 4])).map(received)
}

/// Receives if a message or signal is pending on `src`; otherwise `Err(Error::WouldBlock)`.
pub fn nb_recv(src: CPtr) -> Result<(MessageInfo, Badge), Error> {
    check(arch::syscall(Syscall::NBRecv as u64, src, 0, [0; 4])).map(received)
}

/// Replies to the thread whose `Call` this thread received last.
pub fn reply(info: MessageInfo) -> Result<(), Error> {
    send_message(Syscall::Reply, 0, info).map(|_| ())
}

/// [`recv`] (`reply` `None`) or [`reply_recv`] for a server loop that must keep everything in
/// registers ([`crate::ipc_transport::serve`]): the received message's registers are stored in
/// the IPC buffer and the result is `(kernel status, info, badge)`, no `Result` in memory.
#[inline(always)]
pub(crate) fn serve_step(src: CPtr, reply: Option<MessageInfo>) -> (u64, MessageInfo, Badge) {
    let regs = match reply {
        None => arch::syscall(Syscall::Recv as u64, src, 0, [0; 4]),
        Some(info) => arch::syscall(Syscall::ReplyRecv as u64, src, info.0, load_cpu_mrs()),
    };
    if regs.status == 0 {
        store_cpu_mrs(regs.mrs);
    }
    (regs.status, MessageInfo(regs.info), regs.word0)
}

/// Verified transactions: asks the kernel to compare this run of the open request with the other
/// one (`Syscall::TxVerify`, `reply` the reply's digest). Returns the kernel status: 0 when both
/// runs agree. After the first run it does not return: the thread is back where its last
/// `ReplyRecv` returned with this request, its transactional memory as it was then (the same
/// rewind as an aborted transaction, without the supervisor); after a disagreeing second run it
/// faults. [`crate::ipc_transport::serve`] calls it in a server with `verify = true`; from any
/// other thread, or outside a request, the kernel refuses it (`IllegalOperation`).
pub fn tx_verify(reply: u64) -> Result<(), Error> {
    check(arch::syscall(
        Syscall::TxVerify as u64,
        0,
        0,
        [reply, 0, 0, 0],
    ))
    .map(drop)
}

/// Replies to the current caller (if any), then blocks receiving on `src`: the server loop.
pub fn reply_recv(src: CPtr, info: MessageInfo) -> Result<(MessageInfo, Badge), Error> {
    send_message(Syscall::ReplyRecv, src, info).map(received)
}

/// Gives up the rest of the time slice to threads of the same priority.
pub fn yield_now() {
    arch::syscall(Syscall::Yield as u64, 0, 0, [0; 4]);
}

/// Writes `bytes` to the kernel's debug console, 40 bytes per system call, in registers (the
/// message registers in the IPC buffer are left alone, so logging never clobbers a message).
pub fn debug_write(bytes: &[u8]) {
    for chunk in bytes.chunks(axolotl_abi::syscall::DEBUG_WRITE_MAX) {
        let mut words = [0u64; 5];
        for (i, part) in chunk.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..part.len()].copy_from_slice(part);
            words[i] = u64::from_le_bytes(w);
        }
        arch::syscall(
            Syscall::DebugWrite as u64,
            chunk.len() as u64,
            words[0],
            [words[1], words[2], words[3], words[4]],
        );
    }
}

/// Writes one byte to the kernel's debug console.
pub fn debug_put_char(c: u8) {
    arch::syscall(Syscall::DebugPutChar as u64, u64::from(c), 0, [0; 4]);
}
