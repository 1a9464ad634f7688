//! The client of the `supervisor-ps` scenario: calls the root task's supervisor through
//! `supervisor::v1` (the image lists `calls = ["supervisor"]`) and checks that it reports the
//! servers of the image, in image order, with the right states and counts: all running at
//! first; then, after one request to the transactional `store` is aborted (it faults) and the
//! non-transactional `plain` faults and is suspended, `store` running with one fault and one
//! abort and `plain` stopped.
//!
//! `plain` is sent its faulting request with `Send`, not `Call`: a suspended server never
//! answers. It runs at a higher priority than this client, so it has faulted, and the
//! supervisor (the root task, at the highest priority) has handled the fault, before the send
//! returns.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, Endpoint, MessageInfo, ServerInfo, set_mrs};
use ipc_schema::interfaces::common::{LogLevel, Name};
use ipc_schema::supervisor::v1::{Client, ServerState, SupervisorError};
use ipc_schema::{CallError, IpcError, MSG_WORDS, Transport};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// `tx-store`'s request that writes `MR0` pages and then dereferences null.
const FAULTING_WRITE: u64 = 4;
/// `tx-store`'s checksum request.
const CHECKSUM: u64 = 3;

fn name(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("supervisor-ps");
    run(&mut c, server);
    c.finish(server);
}

/// One server of a `list` page: name ("?" if not one of this image's), state, faults, aborts.
type Row = (&'static str, ServerState, u32, u32);

/// The first three rows of a `list` page, how many servers it held, and the next cursor.
type Table = ([Row; 3], usize, Option<u16>);

fn table(supervisor: &Client<Cap<Endpoint>>, cursor: u16) -> Option<Table> {
    let page = supervisor.list(cursor).ok()?;
    let mut rows = [("?", ServerState::Starting, 0, 0); 3];
    for (row, s) in rows.iter_mut().zip(&page.servers) {
        let known = ["store", "plain", "ps-client"]
            .into_iter()
            .find(|n| *n == s.name.as_str())
            .unwrap_or("?");
        *row = (known, s.state, s.faults, s.aborts);
    }
    Some((rows, page.servers.len(), page.next))
}

fn run(c: &mut Checks, server: &'static ServerInfo) {
    let (Some(endpoint), Some(store), Some(plain)) = (
        server.client("supervisor"),
        server.client("store"),
        server.client("plain"),
    ) else {
        c.fail(
            "setup",
            "needs calls = [\"store\", \"plain\", \"supervisor\"]",
        );
        return;
    };
    let supervisor = Client::new(endpoint);
    use ServerState::{Running, Stopped};

    c.check_eq(
        "list(0) gives the image's servers in order, all running",
        table(&supervisor, 0),
        Some((
            [
                ("store", Running, 0, 0),
                ("plain", Running, 0, 0),
                ("ps-client", Running, 0, 0),
            ],
            3,
            None,
        )),
    );
    let me = supervisor.status(name("ps-client"));
    c.check(
        matches!(&me, Ok(s) if s.version == 1 && s.restarts == 0 && s.generation == 0),
        "status(ps-client): version 1, no restarts, generation 0",
        format_args!("{me:?}"),
    );

    // A faulting request to the transactional store: aborted, answered Aborted.
    set_mrs(&[1, 77]);
    let answer = store.call(MessageInfo::new(FAULTING_WRITE, 0, 2));
    c.check(
        matches!(answer, Ok((info, _)) if info.label() == IpcError::Aborted.code()),
        "a faulting request to store is answered Aborted (ipc-schema's code)",
        format_args!("{answer:?}"),
    );
    let answer = store.call(MessageInfo::new(CHECKSUM, 0, 0));
    c.check(
        matches!(answer, Ok((info, _)) if info.label() == 0),
        "store keeps serving after the abort",
        format_args!("{answer:?}"),
    );
    // The same fault in the non-transactional plain: suspended for good.
    set_mrs(&[1, 77]);
    let sent = plain.send(MessageInfo::new(FAULTING_WRITE, 0, 2));
    c.check_eq("a faulting request is sent to plain", sent, Ok(()));

    let store_status = supervisor.status(name("store"));
    c.check(
        matches!(&store_status, Ok(s) if s.name == "store" && s.state == Running
            && s.faults == 1 && s.aborts == 1),
        "status(store): running, 1 fault, 1 abort",
        format_args!("{store_status:?}"),
    );
    let plain_status = supervisor.status(name("plain"));
    c.check(
        matches!(&plain_status, Ok(s) if s.state == Stopped && s.faults == 1 && s.aborts == 0),
        "status(plain): stopped, 1 fault, no abort",
        format_args!("{plain_status:?}"),
    );
    c.check_eq(
        "status of an unknown server: NoSuchServer",
        supervisor.status(name("nope")).map(|s| s.name),
        Err(CallError::Op(SupervisorError::NoSuchServer)),
    );
    c.check_eq(
        "list(0) shows the new states and counts",
        table(&supervisor, 0),
        Some((
            [
                ("store", Running, 1, 1),
                ("plain", Stopped, 1, 0),
                ("ps-client", Running, 0, 0),
            ],
            3,
            None,
        )),
    );
    let from_one = table(&supervisor, 1).map(|(rows, n, next)| (rows[0].0, rows[1].0, n, next));
    c.check_eq(
        "list(1) starts at the second server",
        from_one,
        Some(("plain", "ps-client", 2, None)),
    );
    let past_end = supervisor.list(3).map(|p| (p.servers.len(), p.next));
    c.check_eq("list(3) is empty", past_end, Ok((0, None)));

    // No console in this image: log levels cannot be set.
    c.check_eq(
        "set_log_level without a console: NotPermitted",
        supervisor.set_log_level(name("store"), LogLevel::Debug),
        Err(CallError::Op(SupervisorError::NotPermitted)),
    );
    c.check_eq(
        "set_log_level of an unknown server: NoSuchServer",
        supervisor.set_log_level(name("nope"), LogLevel::Debug),
        Err(CallError::Op(SupervisorError::NoSuchServer)),
    );
    // A message that is no supervisor request is answered, not taken for a fault.
    let mut reply = [0u64; MSG_WORDS];
    let odd = Transport::call(&endpoint, 0x1234, &[], &mut reply);
    c.check_eq(
        "a message of another interface is answered UnknownInterface",
        odd,
        Ok((IpcError::UnknownInterface.code(), 0)),
    );
}
