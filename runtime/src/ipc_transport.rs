//! `ipc-schema` over the real system calls: [`Transport`] for an endpoint capability (the client
//! side, `Call`), and [`serve`], a server loop over `ReplyRecv`.
//!
//! ```ignore
//! let kv = kv::v1::Client::new(server.client("kv").unwrap());   // Cap<Endpoint> is a Transport
//! let value = kv.get(42)?;
//!
//! let mut store = Store::new();                                   // a server
//! serve(server.endpoint("kv").unwrap(), None, |caller, label, request, reply| {
//!     kv::dispatch(&mut store, caller, label, request, reply)
//! });
//! ```
//!
//! Words go through the message registers ([`set_mr`]/[`get_mr`]): the first four in CPU
//! registers, the rest in the IPC buffer, which is the kernel's business, not the caller's.
//!
//! `Cap<Endpoint>` has an inherent `call(MessageInfo)` (the raw system call), which method syntax
//! finds first: call the trait's word-level method as `Transport::call(&endpoint, label, words,
//! &mut reply)`. Generated clients are not affected.

use crate::cap::{CNode, Cap, Endpoint};
use crate::ipc_buffer::{get_mr, message_buffers, set_cap, set_mr, set_receive_slot};
use crate::syscall;
use axolotl_abi::message::{MSG_MAX_LENGTH, MSG_REGISTERS_IN_CPU};
use axolotl_abi::{CPtr, Error, MessageInfo};
use core::sync::atomic::{AtomicBool, Ordering};
use ipc_schema::{Caller, CapSlot, CapTransfer, IpcError, MSG_WORDS, ReplyInfo, Transport};

const _: () = assert!(MSG_WORDS == MSG_MAX_LENGTH);
const _: () = assert!(ipc_schema::REGISTER_WORDS == MSG_REGISTERS_IN_CPU);

/// The transport error for a kernel refusal: an empty or wrong capability means nobody serves
/// the endpoint; anything else is reported with its code.
pub fn kernel_error(e: Error) -> IpcError {
    match e {
        Error::InvalidCapability => IpcError::ServerUnavailable,
        e => IpcError::Kernel(e as u64 as u32),
    }
}

/// Whether a received message's info says a capability was transferred into the receive slot.
fn cap_transferred(info: MessageInfo) -> bool {
    info.extra_caps() > 0 && info.caps_unwrapped() == 0
}

impl Transport for Cap<Endpoint> {
    fn call_with_caps(
        &self,
        label: u64,
        request: &[u64],
        caps: CapTransfer,
        reply: &mut [u64; MSG_WORDS],
    ) -> Result<ReplyInfo, IpcError> {
        if request.len() > MSG_WORDS {
            return Err(IpcError::TooLarge);
        }
        for (i, &word) in request.iter().enumerate() {
            set_mr(i, word);
        }
        if let Some(cap) = caps.send {
            set_cap(0, cap.0);
        }
        if let Some(slot) = caps.receive_into {
            set_receive_slot(0, slot.0);
        }
        let info = MessageInfo::new(label, usize::from(caps.send.is_some()), request.len());
        let result = syscall::call(self.cptr(), info);
        if caps.receive_into.is_some() {
            // Accept no capability in later messages that did not ask for one.
            set_receive_slot(0, 0);
        }
        let (info, _badge) = result.map_err(kernel_error)?;
        let words = info.length();
        for (i, word) in reply[..words].iter_mut().enumerate() {
            *word = get_mr(i);
        }
        Ok(ReplyInfo {
            label: info.label(),
            words,
            cap_received: caps.receive_into.is_some() && cap_transferred(info),
        })
    }
}

/// Where a server receives the capabilities that come with requests.
#[derive(Clone, Copy, Debug)]
pub struct CapReceive {
    /// The server's own CNode capability (`ServerInfo::own_cnode`), to empty the slot when no
    /// handler claimed the capability in it.
    pub cnode: Cap<CNode>,
    /// An empty slot of the server's root CNode, reserved for received capabilities.
    pub slot: CPtr,
}

/// Serves requests on `endpoint` for ever: each one is passed to `handler` (typically an
/// interface's `dispatch`) as the caller (badge, received capability), label and words; the
/// label and words it returns, and the capability it attached with
/// [`Caller::reply_with_cap`], are the reply. Returns only if the kernel refuses to receive.
///
/// With `cap_receive`, a capability sent along with a request lands in its slot and is offered to
/// the handler ([`Caller::take_cap`]); a handler that claims it must move it elsewhere before
/// the next request; one nobody claimed is deleted. Without it, capabilities are not accepted.
///
/// Before each request it checks the fault the supervisor may have armed for it
/// ([`armed_fault`](crate::server_info::armed_fault), the shell's `inject`) and, if one is,
/// executes it instead of the handler: inside the request's transaction, as a real fault.
pub fn serve<F>(endpoint: Cap<Endpoint>, cap_receive: Option<CapReceive>, mut handler: F) -> Error
where
    F: FnMut(&mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize),
{
    serve_switching(
        [endpoint, endpoint],
        0,
        cap_receive,
        |_, caller, label, request, reply| {
            let (label, words) = handler(caller, label, request, reply);
            (label, words, 0)
        },
    )
}

/// Set when [`serve_switching`] returns: the program left its request loop.
static LEFT_REQUEST_LOOP: AtomicBool = AtomicBool::new(false);

/// Whether a request loop of this program returned (its receive failed). The runtime's start-up
/// then faults when `main` returns, instead of suspending the thread quietly.
pub fn left_request_loop() -> bool {
    LEFT_REQUEST_LOOP.load(Ordering::Relaxed)
}

/// [`serve`] over two endpoints, receiving on one at a time: `handler` is also told which
/// endpoint (0 or 1) the request came in on, and returns which one to receive on after its
/// reply. The reply goes to the caller whichever endpoint it called (`ReplyRecv` replies through
/// the reply right and then waits on the endpoint it names). A server that can be upgraded live
/// serves its service endpoint (0) and, while frozen or before it takes over, its upgrade control
/// endpoint (1): meanwhile the calls of its clients wait on the service endpoint.
pub fn serve_switching<F>(
    endpoints: [Cap<Endpoint>; 2],
    start: usize,
    cap_receive: Option<CapReceive>,
    mut handler: F,
) -> Error
where
    F: FnMut(usize, &mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize, usize),
{
    let receive_slot = cap_receive.map_or(0, |r| r.slot);
    let mut context = Request {
        handler: &mut handler,
        cap_receive,
    };
    let context: *mut Request<'_, F> = &mut context;
    set_receive_slot(0, receive_slot);
    // Everything the loop keeps from one request to the next stays in registers: a store to
    // this frame, which lies above the receive-time stack pointer, would cost every transaction a
    // page save.
    let mut on = start.min(1);
    let mut reply = None;
    loop {
        let (status, info, badge) = crate::syscall::serve_step(endpoints[on].cptr(), reply);
        if status != 0 {
            LEFT_REQUEST_LOOP.store(true, Ordering::Relaxed);
            return crate::syscall::status_error(status);
        }
        // SAFETY: `one_request::<F>` is called with a pointer to the live `Request<F>` above,
        // which nothing else uses meanwhile; serve's callers leave it the stack a server has
        // (the server-info layout gives every server at least a few pages).
        let (answer, then) = unsafe {
            crate::arch::call_below_page(one_request::<F>, context.cast(), info.0, badge, on as u64)
        };
        reply = Some(MessageInfo(answer));
        on = (then as usize).min(1);
    }
}

/// What [`serve_switching`]'s loop hands to [`one_request`].
struct Request<'h, F> {
    handler: &'h mut F,
    cap_receive: Option<CapReceive>,
}

/// Handles one request (message info `info`, sender `badge`, on endpoint `on`) and leaves the
/// reply in the message registers; returns the reply's message info and the endpoint to receive
/// on next.
///
/// [`serve`] runs it on the page below its own stack frame: a transaction saves the stack above
/// the receive-time stack pointer, and pages wholly below it are dead at that point, so the
/// locals of every request (here and in the handler) never cost a page save; the message buffers
/// are in the IPC buffer's page, outside any region. What `serve` itself keeps across requests
/// stays in its registers.
extern "C" fn one_request<F>(context: *mut (), info: u64, badge: u64, on: u64) -> Pair
where
    F: FnMut(usize, &mut Caller, u64, &[u64], &mut [u64; MSG_WORDS]) -> (u64, usize, usize),
{
    // SAFETY: `serve_switching` passes a pointer to its `Request<F>`, live and unaliased for this
    // call.
    let context = unsafe { &mut *context.cast::<Request<'_, F>>() };
    let info = MessageInfo(info);
    let on = on as usize;
    // SAFETY: only this function uses the buffers, and it does not nest (a handler does not
    // serve).
    let Some((request, reply)) = (unsafe { message_buffers() }) else {
        return Pair(
            MessageInfo::new(IpcError::ServerUnavailable.code(), 0, 0).0,
            on as u64,
        );
    };
    let receive_slot = context.cap_receive.map_or(0, |r| r.slot);
    let words = info.length();
    for (i, word) in request[..words].iter_mut().enumerate() {
        *word = get_mr(i);
    }
    let received = (receive_slot != 0 && cap_transferred(info)).then_some(CapSlot(receive_slot));
    let mut caller = Caller::new(badge, received);
    let armed = crate::server_info::armed_fault();
    if armed != 0
        && let Some(kind) = ipc_schema::inject::v1::FaultKind::from_code(armed)
    {
        crate::fault::inject(kind);
    }
    let (label, reply_words, then) =
        (context.handler)(on, &mut caller, info.label(), &request[..words], reply);
    if let (Some(r), Some(_)) = (context.cap_receive, caller.received_cap()) {
        // Nobody claimed it: free the slot for the next one. Failure leaves the slot full,
        // and the next capability-carrying request gets `MissingCapability`.
        let _ = r.cnode.delete(r.slot);
    }
    let reply_words = reply_words.min(MSG_WORDS);
    for (i, &word) in reply[..reply_words].iter().enumerate() {
        set_mr(i, word);
    }
    let reply_caps = match caller.reply_cap() {
        Some(cap) => {
            set_cap(0, cap.0);
            1
        }
        None => 0,
    };
    set_receive_slot(0, receive_slot);
    // The reply's message info, computed before the verification that covers it.
    let answer = MessageInfo::new(label, reply_caps, reply_words).0;
    if crate::server_info::verified_requests() {
        verify(answer, reply_words, then);
    }
    Pair(answer, then as u64)
}

/// A verified transaction (`verify = true`): the request ran once and its reply is in the message
/// registers, its message info in `answer`; the kernel rewinds the request and runs it again,
/// then compares the two runs' digests (the reply as it will be sent: the message info, the words
/// read back from the message registers and the endpoint to receive on next; and the memory the
/// request dirtied). Returns when they agree; a disagreement is a fault the supervisor rolls
/// back. A refusal (no transaction open: it cannot happen to a correct server) faults too, rather
/// than send a reply nothing checked.
#[inline(never)]
fn verify(answer: u64, words: usize, then: usize) {
    let mut d = axolotl_abi::verify::Digest::new();
    d.word(answer);
    for i in 0..words {
        d.word(get_mr(i));
    }
    d.word(then as u64);
    if crate::syscall::tx_verify(d.finish()).is_err() {
        log::error!("the kernel refused to verify a request: faulting");
        crate::arch::fault()
    }
}

/// Two words returned in two registers (x0/x1, rax/rdx).
#[repr(C)]
pub(crate) struct Pair(pub u64, pub u64);
