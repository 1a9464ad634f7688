//! The client of the `net-echo` scenario: a TCP echo server on the TCP/IP server's sockets,
//! through `net::v1`'s single-socket ops only (`register`, `listen`, `accept`, `events`,
//! `receive`, `send`, `close`; never the batched `sync`), the bytes in the shared region
//! `netbuf`. It makes a notification, registers a badged copy, listens on port 6379 (the port
//! the scenario forwards from the host), and then waits on the notification and serves what
//! `events` reports: every byte a connection receives goes back upper-cased (so the host sees
//! that the bytes went through this program), in the order received, however many receive
//! areas they fill; when the peer closes and everything is echoed, it closes the connection and
//! prints how many bytes it echoed. After [`CONNECTIONS`] connections it powers off.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::shared::SharedMemory;
use axolotl_rt::{Cap, CapRights, Endpoint, Notification, ObjectType, ServerInfo};
use ipc_schema::net::Layout;
use ipc_schema::net::v1::{self as net, Conn, NetError};
use ipc_schema::{CallError, CapSlot};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// The port the scenario forwards from the host.
const PORT: u16 = 6379;
/// The badge of the notification capability the TCP/IP server gets.
const EVENT_BADGE: u64 = 1;
/// Connections served before the verdict (the scenario's host script opens this many).
const CONNECTIONS: u32 = 6;

type Net = net::Client<Cap<Endpoint>>;

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("net-echo");
    run(&mut c, server);
    c.finish(server);
}

/// One accepted connection's count of echoed bytes.
#[derive(Clone, Copy, Default)]
struct Served {
    open: bool,
    echoed: usize,
}

fn run(c: &mut Checks, server: &'static ServerInfo) {
    let (Some(endpoint), Some((untyped, _)), Some(cnode), Some(shared)) = (
        server.client("net"),
        server.untyped(),
        server.own_cnode(),
        server.shared("netbuf").filter(|s| s.len() >= Layout::BYTES),
    ) else {
        c.fail(
            "setup",
            "needs calls = [\"net\"], an Untyped, its own CNode and the shared region netbuf",
        );
        return;
    };
    let net = Net::new(endpoint);
    let mut free = server.empty_slots();
    let (Some(wake), Some(given)) = (free.next(), free.next()) else {
        c.fail("setup", "no empty slots");
        return;
    };
    let root = Cap::<axolotl_rt::CNode>::invoker_root();
    let made = untyped
        .retype(ObjectType::Notification, 0, root, wake, 1)
        .and_then(|()| cnode.mint(given, root, wake, CapRights::WRITE, EVENT_BADGE));
    if !c.check(
        made.is_ok(),
        "made the notification",
        format_args!("{made:?}"),
    ) {
        return;
    }
    let wake = Cap::<Notification>::from_cptr(wake);

    c.check_eq(
        "listen before register is refused",
        net.listen(PORT),
        Err(CallError::Op(NetError::NotReady)),
    );
    if !c.check_eq("register", net.register(CapSlot(given)), Ok(())) {
        return;
    }
    c.check_eq("accept before listen finds nothing", net.accept(), Ok(None));
    c.check_eq(
        "receive on a connection never accepted is refused",
        net.receive(0, 0),
        Err(CallError::Op(NetError::BadConnection)),
    );
    c.check_eq(
        "send on an invalid connection id is refused",
        net.send(200, 1, 0),
        Err(CallError::Op(NetError::BadConnection)),
    );
    c.check_eq(
        "close on a connection never accepted is refused",
        net.close(3),
        Err(CallError::Op(NetError::BadConnection)),
    );
    if !c.check_eq("listen on port 6379", net.listen(PORT), Ok(())) {
        return;
    }
    axolotl_rt::debug_println!("net-echo: listening on port {PORT}");

    let mut table = [Served::default(); Layout::CONNECTIONS];
    let mut served = 0;
    let mut buf = [0u8; Layout::RX];
    while served < CONNECTIONS {
        if wake.wait().is_err() {
            c.fail("wait", "the notification wait failed");
            return;
        }
        // Until `events` reports nothing: a signal may stand for many events.
        loop {
            let events = match net.events() {
                Ok(e) => e,
                Err(e) => {
                    c.fail("events", e);
                    return;
                }
            };
            if events.accept {
                loop {
                    match net.accept() {
                        Ok(Some(conn)) => match table.get_mut(usize::from(conn)) {
                            Some(s) if !s.open => {
                                *s = Served {
                                    open: true,
                                    echoed: 0,
                                }
                            }
                            _ => {
                                c.fail("accept", format_args!("connection {conn} given twice"));
                                return;
                            }
                        },
                        Ok(None) => break,
                        Err(e) => {
                            c.fail("accept", e);
                            return;
                        }
                    }
                }
            }
            // A connection accepted just now is reported ready by the next `events`.
            let ready = events.ready;
            if ready == 0 && !events.accept {
                break;
            }
            for conn in 0..Layout::CONNECTIONS as Conn {
                if ready & (1 << conn) == 0 || !table[usize::from(conn)].open {
                    continue;
                }
                match serve(&net, shared, conn, &mut buf, &mut table[usize::from(conn)]) {
                    Ok(false) => {}
                    Ok(true) => {
                        let echoed = table[usize::from(conn)].echoed;
                        table[usize::from(conn)].open = false;
                        served += 1;
                        axolotl_rt::debug_println!(
                            "net-echo: connection {served} closed after echoing {echoed} bytes"
                        );
                    }
                    Err(e) => {
                        c.fail(format_args!("connection {conn}"), e);
                        return;
                    }
                }
            }
        }
    }
    c.pass(format_args!("served {served} connections"));
}

/// Echoes what connection `conn` holds, upper-cased: a `receive`, a `send` of all it got while
/// the socket's send buffer has room (else the bytes stay in the receive area until `events`
/// reports room), again until nothing is left. Returns whether it closed the connection (its
/// peer closed and everything was echoed).
fn serve(
    net: &Net,
    shared: SharedMemory,
    conn: Conn,
    buf: &mut [u8; Layout::RX],
    served: &mut Served,
) -> Result<bool, CallError<NetError>> {
    loop {
        let r = net.receive(conn, 0)?;
        let len = usize::from(r.len);
        if len == 0 {
            if r.closed {
                net.close(conn)?;
                return Ok(true);
            }
            return Ok(false);
        }
        if usize::from(r.space) < len {
            // No room for the whole echo: wait for the news that the peer took some.
            return Ok(false);
        }
        let bytes = &mut buf[..len];
        if !shared.read(Layout::rx(conn), bytes) {
            return Err(CallError::Op(NetError::BadLength));
        }
        bytes.make_ascii_uppercase();
        if !shared.write(Layout::tx(conn), bytes) {
            return Err(CallError::Op(NetError::BadLength));
        }
        // The echo goes out and the bytes it answers leave the receive area in one call.
        match net.send(conn, r.len, r.len) {
            Ok(_) => served.echoed += len,
            Err(CallError::Op(NetError::WouldBlock)) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}
