//! resp: the Redis-protocol (RESP2) front end. A client of the TCP/IP server (`net::v1`, the
//! bytes in the shared region `netbuf`) and of the key-value store (`kv::v2`).
//!
//! The image grants it `calls = ["net", "kv", ...]`, `untyped_bits` and `own_cnode` (to make the
//! notification the TCP/IP server signals), and the `[[shared]]` region `netbuf` with `tcpip`.
//! It is not transactional: a connection's state is half in the TCP/IP server (what was received
//! and sent), and its own part (bytes of a request not yet whole) lives in the shared region.
//!
//! **The loop.** Wait on the notification, then rounds of `sync` until one brings nothing: a
//! round's `sync` sends the replies of the round before and says which connections have news,
//! their received bytes already in their receive areas and their state in the status table; the
//! front end accepts new connections, and for each ready one parses and runs its whole requests
//! (one `kv::v2` call each) while its send buffer has room, writing the replies into its send
//! area and their length into its outgoing entry. Two `net::v1` messages a round, however many
//! connections and requests it serves.
//!
//! **Threads and the wait-free patch.** With `threads = N` every thread waits on the one
//! notification; the one a signal wakes takes the *turn* (a second notification, a binary
//! semaphore) and runs the rounds. Both waits are receive points, where the supervisor's
//! wait-free patcher (`patch resp resp-v2`) may restart a thread in the new build: the state it
//! resumes with is in statics and in the shared region, never in a stack frame.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(program::main);

#[cfg(target_os = "none")]
mod program {
    use axolotl_rt::ipc_buffer::thread_start;
    use axolotl_rt::shared::SharedMemory;
    use axolotl_rt::{CNode, CPtr, Cap, CapRights, Endpoint, Notification, ObjectType, ServerInfo};
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use ipc_schema::kv::v2::{self as kv, Key, KvError, Value};
    use ipc_schema::net::v1::{self as net, Conn};
    use ipc_schema::net::{AreaStatus, Layout, Outgoing};
    use ipc_schema::{CallError, CapSlot, IpcError};
    use log::{error, info, warn};
    use resp::commands::{self, After, Store, StoreError};
    use resp::resp::{self as wire, Parsed, Reply};

    /// The Redis port.
    const PORT: u16 = 6379;
    /// Free room in a connection's send buffer before a request other than KEYS runs (its reply
    /// is at most a 256-byte value and framing).
    const SMALL_REPLY: usize = 512;
    /// The badge of the TCP/IP server's copy of the notification.
    const EVENT_BADGE: u64 = 1;
    /// The badge of resp's copy of its turn notification (nonzero: a signal no thread waits for
    /// yet is kept).
    const TURN_BADGE: u64 = 1;
    /// The shared region's name in the image.
    const REGION: &str = "netbuf";

    type Net = net::Client<Cap<Endpoint>>;

    /// The build, the one thing `resp` and its wait-free patch `resp-v2` (feature `patched`) do
    /// differently: INFO reports it (`axolotl_build`) and a restarted thread logs it.
    #[cfg(not(feature = "patched"))]
    const BUILD: u64 = 1;
    #[cfg(feature = "patched")]
    const BUILD: u64 = 2;

    /// [`BUILD`], out of line: the two builds' code then differs in this function's one
    /// immediate only, so it has the same size and every other function the same address, as
    /// the data-layout check requires (the read-only data, vtables included, must be equal; with
    /// the constant inlined, `main`'s register allocation differed between the builds and moved
    /// the functions after it). Not a `{BUILD}` format argument either: that would be a constant
    /// in read-only data.
    #[inline(never)]
    fn build() -> u64 {
        core::hint::black_box(BUILD)
    }

    // The state a thread needs when the patcher restarts it (on a fresh stack, at the entry, in
    // the new build) lives here, in data both builds share, not in a stack frame. Each
    // connection's own state is in the shared region and in the TCP/IP server.
    /// Set by thread 0 once it made the notifications (the others wait for it, yielding: thread
    /// 0 makes them with kernel invocations only, so it is never blocked meanwhile).
    static MADE: AtomicBool = AtomicBool::new(false);
    /// The slot of the notification `tcpip` signals (valid once [`MADE`]).
    static WAKE_SLOT: AtomicU64 = AtomicU64::new(0);
    /// The slot of a badged copy of the *turn* notification (valid once [`MADE`]): a binary
    /// semaphore, its one signal held by the thread running rounds of `sync` (a round's events
    /// are every connection's, so two threads at once would serve the same bytes twice). A
    /// blocking wait, not a spin: a spinning thread would starve `tcpip`, below it.
    static TURN_SLOT: AtomicU64 = AtomicU64::new(0);

    pub fn main(server: &'static ServerInfo) {
        if let Err(e) = run(server) {
            error!("resp: {e}");
        }
    }

    /// Thread 0's one-time making of the notifications: `tcpip`'s (and the badged copy to give
    /// it) and the turn (signalled once: the turn is free).
    fn make_notifications(server: &ServerInfo) -> Result<(CPtr, CPtr, CPtr), &'static str> {
        let (Some((untyped, _)), Some(cnode)) = (server.untyped(), server.own_cnode()) else {
            return Err("needs an Untyped and its own CNode to make notifications");
        };
        let mut free = server.empty_slots();
        let (Some(wake), Some(given), Some(turn), Some(turn_badged)) =
            (free.next(), free.next(), free.next(), free.next())
        else {
            return Err("no empty slots for the notifications");
        };
        let root = Cap::<CNode>::invoker_root();
        untyped
            .retype(ObjectType::Notification, 0, root, wake, 1)
            .and_then(|()| cnode.mint(given, root, wake, CapRights::WRITE, EVENT_BADGE))
            .and_then(|()| untyped.retype(ObjectType::Notification, 0, root, turn, 1))
            .and_then(|()| cnode.mint(turn_badged, root, turn, CapRights::ALL, TURN_BADGE))
            .and_then(|()| Cap::<Notification>::from_cptr(turn_badged).signal())
            .map_err(|_| "cannot make the notifications")?;
        Ok((wake, given, turn_badged))
    }

    /// Every thread: (thread 0 only, and only at its first start) the start-up, then the loop.
    /// All threads wait on the one notification `tcpip` signals; the kernel wakes one per
    /// signal, which takes the turn and runs rounds until one brings nothing. A thread waiting
    /// on a notification is at its receive point (no request in flight): the wait-free patcher
    /// may restart it there in the new build, where it skips the start-up, runs rounds once
    /// (the signal it had taken, if any, is not lost) and waits again.
    fn run(server: &ServerInfo) -> Result<(), &'static str> {
        let thread = thread_start();
        let net = server
            .client("net")
            .map(Net::new)
            .ok_or("no 'net' to call")?;
        let kv = server
            .client("kv")
            .map(kv::Client::new)
            .ok_or("no 'kv' to call")?;
        let shared = server
            .shared(REGION)
            .filter(|s| s.len() >= Layout::BYTES)
            .ok_or("no shared region 'netbuf' of net::Layout::PAGES pages")?;
        let first_start = thread.index == 0 && !thread.patched;
        if first_start {
            let (wake, given, turn) = make_notifications(server)?;
            WAKE_SLOT.store(wake, Ordering::Relaxed);
            TURN_SLOT.store(turn, Ordering::Relaxed);
            MADE.store(true, Ordering::Release);
            net.register(CapSlot(given))
                .map_err(|_| "the TCP/IP server refused the notification")?;
            net.listen(PORT)
                .map_err(|_| "the TCP/IP server cannot listen")?;
            info!(
                "resp: serves RESP over kv v2 on port {PORT} ({} connections, {} threads, \
                 through net v1)",
                Layout::CONNECTIONS,
                server.threads
            );
        }
        while !MADE.load(Ordering::Acquire) {
            axolotl_rt::yield_now();
        }
        let wake = Cap::<Notification>::from_cptr(WAKE_SLOT.load(Ordering::Relaxed));
        let turn = Cap::<Notification>::from_cptr(TURN_SLOT.load(Ordering::Relaxed));
        let build = build();
        if thread.patched {
            info!("resp: thread {} restarted in build {build}", thread.index);
        }

        let mut front = Front {
            store: KvStore { kv, build },
            shared,
            input: [0; Layout::RX],
            output: [0; Layout::TX],
        };
        let mut woken = thread.patched;
        loop {
            if woken {
                if turn.wait().is_err() {
                    return Err("cannot take the turn");
                }
                rounds(&net, &mut front);
                if turn.signal().is_err() {
                    return Err("cannot give the turn back");
                }
            }
            woken = wake.wait().is_ok();
            if !woken {
                axolotl_rt::yield_now();
            }
        }
    }

    /// Rounds until one brings nothing: each sync sends the last round's replies and closes,
    /// polls the network once, and says which connections have news.
    fn rounds(net: &Net, front: &mut Front) {
        let (mut sent, mut close) = (0u64, 0u64);
        loop {
            let events = match net.sync(sent, close) {
                Ok(events) => events,
                Err(e) => {
                    warn!("resp: sync: {e}");
                    return;
                }
            };
            (sent, close) = (0, 0);
            let mut accepted = false;
            if events.accept {
                while let Ok(Some(_)) = net.accept() {
                    accepted = true;
                }
            }
            if events.ready == 0 && !accepted {
                return;
            }
            let mut ready = events.ready;
            while ready != 0 {
                let c = ready.trailing_zeros() as Conn;
                ready &= ready - 1;
                match front.serve(c) {
                    Some(Served { closes }) => {
                        sent |= 1 << c;
                        if closes {
                            close |= 1 << c;
                        }
                    }
                    None => warn!("resp: connection {c}: its areas are out of the region"),
                }
            }
        }
    }

    /// What [`Front::serve`] did with a connection.
    struct Served {
        /// Close it (after its replies): the peer closed, QUIT, or malformed input.
        closes: bool,
    }

    struct Front {
        store: KvStore,
        shared: SharedMemory,
        input: [u8; Layout::RX],
        output: [u8; Layout::TX],
    }

    impl Front {
        /// Reads connection `c`'s state from the status table and its bytes from its receive
        /// area, runs its whole requests while its send buffer has room for their replies,
        /// writes the replies into its send area and what to send into its outgoing entry.
        fn serve(&mut self, c: Conn) -> Option<Served> {
            let mut entry = [0u8; AreaStatus::SIZE];
            if !self.shared.read(Layout::status(c), &mut entry) {
                return None;
            }
            let received = AreaStatus::decode(&entry);
            let len = usize::from(received.len).min(Layout::RX);
            if !self.shared.read(Layout::rx(c), &mut self.input[..len]) {
                return None;
            }
            let input = &self.input[..len];
            let room = usize::from(received.space).min(Layout::TX);
            let mut reply = Reply::new(&mut self.output[..room]);
            let mut used = 0;
            let mut close = false;
            let mut blocked = false;
            while used < len {
                let rest = &input[used..];
                let (request, n) = match wire::parse(rest) {
                    Parsed::Incomplete => {
                        if used == 0 && len == Layout::RX {
                            reject(&mut reply, b"Protocol error: request too long");
                            close = true;
                        }
                        break;
                    }
                    Parsed::Malformed(why) => {
                        reject(&mut reply, why.as_bytes());
                        close = true;
                        break;
                    }
                    Parsed::Request { request, used } => (request, used),
                };
                let big = request
                    .arg(rest, 0)
                    .is_some_and(|name| name.eq_ignore_ascii_case(b"KEYS"));
                let needed = if big { Layout::TX } else { SMALL_REPLY };
                if room == 0 || room - reply.len() < needed.min(room) {
                    // Its reply might not fit: wait until the peer has taken what is queued.
                    blocked = true;
                    break;
                }
                let before = reply.len();
                let after = commands::execute(&mut self.store, rest, &request, &mut reply);
                if reply.bytes().is_none() {
                    // Did not fit after all (KEYS of a big store): an error instead.
                    reply.truncate(before);
                    reply.raw(b"-ERR reply too long\r\n");
                }
                used += n;
                if after == After::Close {
                    close = true;
                    break;
                }
            }
            let out = reply.len();
            if !self.shared.write(Layout::tx(c), &self.output[..out]) {
                return None;
            }
            let outgoing = Outgoing {
                len: out as u16,
                consumed: used as u16,
            };
            if !self.shared.write(Layout::outgoing(c), &outgoing.encode()) {
                return None;
            }
            // The peer is gone and nothing more can be answered (what is left is incomplete).
            let finished = received.closed && !blocked;
            Some(Served {
                closes: close || finished,
            })
        }
    }

    /// Malformed input: the error (the connection, only this one, then closes).
    fn reject(reply: &mut Reply, why: &[u8]) {
        reply.raw(b"-ERR ");
        reply.raw(why);
        reply.raw(b"\r\n");
        if reply.bytes().is_none() {
            reply.truncate(0);
            reply.raw(b"-ERR Protocol error\r\n");
        }
    }

    /// `kv::v2` as the commands' store.
    struct KvStore {
        kv: kv::Client<Cap<Endpoint>>,
        build: u64,
    }

    fn failed(e: CallError<KvError>) -> StoreError {
        match e {
            CallError::Op(KvError::Full) => StoreError::Full,
            CallError::Op(KvError::InvalidKey) => StoreError::Unavailable("invalid key"),
            CallError::Op(KvError::NotFound) => StoreError::Unavailable("not found"),
            CallError::Ipc(IpcError::Aborted) => StoreError::Unavailable("request aborted"),
            CallError::Ipc(IpcError::Restarted) => StoreError::Unavailable("store restarted"),
            CallError::Ipc(_) => StoreError::Unavailable("store unavailable"),
        }
    }

    impl Store for KvStore {
        fn get(&mut self, key: &Key) -> Result<Option<Value>, StoreError> {
            match self.kv.get(key.clone()) {
                Ok(value) => Ok(Some(value)),
                Err(CallError::Op(KvError::NotFound)) => Ok(None),
                Err(e) => Err(failed(e)),
            }
        }

        fn set(&mut self, key: &Key, value: &Value) -> Result<(), StoreError> {
            self.kv
                .put(key.clone(), value.clone(), None)
                .map_err(failed)
        }

        fn delete(&mut self, key: &Key) -> Result<bool, StoreError> {
            match self.kv.delete(key.clone()) {
                Ok(()) => Ok(true),
                Err(CallError::Op(KvError::NotFound)) => Ok(false),
                Err(e) => Err(failed(e)),
            }
        }

        fn keys(&mut self, visit: &mut dyn FnMut(&Key)) -> Result<(), StoreError> {
            let mut cursor = None;
            loop {
                let page = self.kv.list(cursor).map_err(failed)?;
                page.keys.iter().for_each(&mut *visit);
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return Ok(()),
                }
            }
        }

        fn count(&mut self) -> Result<u64, StoreError> {
            self.kv.count().map_err(failed)
        }

        fn build(&self) -> u64 {
            self.build
        }
    }
}
