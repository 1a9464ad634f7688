//! netstack: the virtio-net driver, a TCP/IP stack (smoltcp) and the Redis-protocol front end
//! over the key-value store, in one server.
//!
//! The image grants it `devices = ["net"]` (the device's registers or PCI configuration ports,
//! its interrupt on a notification, and DMA memory), `calls = ["kv", "timer", ...]` and
//! `own_cnode` (to give the timer a badged copy of its notification). It is not transactional:
//! its state is device and connection state (virtqueues, TCP sequence numbers, buffers the
//! device writes by DMA), which a rollback could not make consistent with the device and the
//! peers again. The store behind it is: a fault in kv aborts that one request, the supervisor
//! re-delivers it (every `kv::v2` op is idempotent), and this server never sees it.
//!
//! **One server, not three.** The driver, the stack and the front end share one address space:
//! every received frame would otherwise cross two address spaces before it reached the RESP
//! parser, and every reply two more, on a machine with one core. Only the store is another
//! server (`kv::v2` calls, one per command).
//!
//! **The loop.** Poll the device and smoltcp, run each connection's complete requests, flush the
//! replies, then sleep on the notification, which both the device's interrupt and the timer (at
//! smoltcp's next deadline, at most [`MAX_SLEEP_MS`] ahead) signal.
//!
//! Address: 10.0.2.15/24, gateway 10.0.2.2 (QEMU user networking's defaults; `cargo xtask run
//! --net` forwards a host port to 10.0.2.15:6379). [`SOCKETS`] connections at once.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(program::main);

#[cfg(target_os = "none")]
mod program {
    use axolotl_rt::virtio::{self, NetDevice, VirtioDeviceType};
    use axolotl_rt::{CNode, Cap, CapRights, Endpoint, ServerInfo};
    use ipc_schema::kv::v2::{self as kv, Key, KvError, Value};
    use ipc_schema::{CallError, CapSlot, IpcError, timer};
    use log::{error, info, warn};
    use netstack::commands::{self, After, Store, StoreError};
    use netstack::resp::{self, Parsed, Reply};
    use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
    use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
    use smoltcp::socket::tcp;
    use smoltcp::time::{Duration, Instant};
    use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};

    /// Connections served at once (redis-benchmark opens 50 by default).
    const SOCKETS: usize = 128;
    const RX_BUFFER: usize = 1024;
    const TX_BUFFER: usize = 4096;
    /// The Redis port.
    const PORT: u16 = 6379;
    /// The longest sleep without an interrupt.
    const MAX_SLEEP_MS: u64 = 20;
    /// The shortest (a sleep lets the CPU idle, and QEMU's I/O thread run).
    const MIN_SLEEP_US: u64 = 200;
    /// Free room in a connection's send buffer before a request other than KEYS runs (its reply
    /// is at most a 256-byte value and framing).
    const SMALL_REPLY: usize = 512;
    /// The badge of the timer's copy of the notification (not an IRQ's bit).
    const TIMER_BADGE: u64 = 1 << 62;

    type Timer = timer::v1::Client<Cap<Endpoint>>;

    pub fn main(server: &'static ServerInfo) {
        if let Err(e) = run(server) {
            error!("netstack: {e}");
        }
    }

    fn run(server: &ServerInfo) -> Result<(), &'static str> {
        let grant = server.device("net").ok_or("no device 'net' was granted")?;
        let dma = grant.dma.ok_or("the 'net' grant has no DMA memory")?;
        virtio::init_dma(&dma).map_err(|e| {
            error!("netstack: DMA: {e}");
            "no DMA memory"
        })?;
        let transport = virtio::transport(&grant, VirtioDeviceType::Network).map_err(|e| {
            error!("netstack: {e}");
            "no virtio-net device"
        })?;
        let device = NetDevice::new(transport).map_err(|e| {
            error!("netstack: virtio-net: {e}");
            "the virtio-net device refused to start"
        })?;
        let kv = server
            .client("kv")
            .map(kv::Client::new)
            .ok_or("no 'kv' to call")?;
        let timer = server.client("timer").map(Timer::new);
        let alarm = timer.and_then(|t| Alarm::new(server, &grant, t));
        let mac = device.mac_address();
        info!(
            "netstack: virtio-net {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, irq {}, {} DMA pages; \
             10.0.2.15:{PORT} serves RESP over kv v2 ({SOCKETS} connections{})",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            grant.irq_number,
            dma.pages,
            if alarm.is_some() {
                ""
            } else {
                ", no timer: polling"
            }
        );

        let mut phy = Phy {
            device,
            frame: [0; NetDevice::MAX_FRAME],
        };
        let frequency = server.counter_frequency.max(1);
        let now = || {
            let ticks = u128::from(axolotl_rt::time::counter());
            Instant::from_micros((ticks * 1_000_000 / u128::from(frequency)) as i64)
        };
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = axolotl_rt::time::counter();
        let mut iface = Interface::new(config, &mut phy, now());
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(Ipv4Address::new(10, 0, 2, 15).into(), 24));
        });
        let _ = iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::new(10, 0, 2, 2));

        let mut rx_memory = [[0u8; RX_BUFFER]; SOCKETS];
        let mut tx_memory = [[0u8; TX_BUFFER]; SOCKETS];
        let mut storage: [SocketStorage; SOCKETS] = [SocketStorage::EMPTY; SOCKETS];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let mut handles = heapless::Vec::<_, SOCKETS>::new();
        for (rx, tx) in rx_memory.iter_mut().zip(tx_memory.iter_mut()) {
            let mut socket = tcp::Socket::new(
                tcp::SocketBuffer::new(&mut rx[..]),
                tcp::SocketBuffer::new(&mut tx[..]),
            );
            socket.set_ack_delay(None);
            socket.set_nagle_enabled(false);
            let _ = socket.listen(PORT);
            let _ = handles.push(sockets.add(socket));
        }

        let mut store = KvStore { kv };
        let mut input = [0u8; RX_BUFFER];
        let mut output = [0u8; TX_BUFFER];
        let mut retries = 0;
        loop {
            let timestamp = now();
            iface.poll(timestamp, &mut phy, &mut sockets);
            let mut served = false;
            for &handle in &handles {
                let socket = sockets.get_mut::<tcp::Socket>(handle);
                served |= serve_connection(socket, &mut store, &mut input, &mut output);
            }
            if served {
                // Replies were queued: send them before anything else.
                retries = 0;
                continue;
            }
            phy.device.ack_interrupt();
            if let Err(e) = grant.irq.ack() {
                warn!("netstack: acknowledging irq {}: {e}", grant.irq_number);
            }
            if phy.device.can_receive() {
                continue;
            }
            // smoltcp's next deadline. Zero means it has frames to send now: that is worth an
            // immediate second try only if a transmit buffer is free; otherwise (or after a few
            // tries) wait for the device's interrupt, with a short timeout. Never spin on the
            // device: under QEMU a guest that keeps touching device registers holds off the
            // emulator's own I/O, the very work it is waiting for.
            let delay = iface
                .poll_delay(timestamp, &sockets)
                .unwrap_or(Duration::from_millis(MAX_SLEEP_MS))
                .min(Duration::from_millis(MAX_SLEEP_MS));
            if delay == Duration::ZERO && retries < 2 && phy.device.can_transmit() {
                retries += 1;
                continue;
            }
            retries = 0;
            let delay = delay.max(Duration::from_micros(MIN_SLEEP_US));
            match &alarm {
                Some(alarm) => alarm.sleep(delay.total_micros()),
                None => axolotl_rt::yield_now(),
            }
        }
    }

    /// Reads, runs and answers the complete requests waiting on `socket`; re-listens on a
    /// closed one. Returns whether it queued any reply.
    fn serve_connection(
        socket: &mut tcp::Socket,
        store: &mut KvStore,
        input: &mut [u8],
        output: &mut [u8],
    ) -> bool {
        match socket.state() {
            tcp::State::Closed => {
                let _ = socket.listen(PORT);
                return false;
            }
            tcp::State::CloseWait if socket.recv_queue() == 0 => {
                socket.close();
                return false;
            }
            _ => {}
        }
        let mut served = false;
        while socket.can_recv() {
            let free = socket.send_capacity() - socket.send_queue();
            let Ok(len) = socket.peek_slice(input) else {
                break;
            };
            let (request, used) = match resp::parse(&input[..len]) {
                Parsed::Incomplete => {
                    if len == input.len() {
                        reject(socket, b"ERR Protocol error: request too long");
                    }
                    break;
                }
                Parsed::Malformed(why) => {
                    let mut text = [0u8; 96];
                    let mut message = Reply::new(&mut text);
                    message.raw(b"ERR ");
                    message.raw(why.as_bytes());
                    reject(socket, message.bytes().unwrap_or(b"ERR Protocol error"));
                    break;
                }
                Parsed::Request { request, used } => (request, used),
            };
            let big = request
                .arg(&input[..len], 0)
                .is_some_and(|name| name.eq_ignore_ascii_case(b"KEYS"));
            let needed = if big { output.len() } else { SMALL_REPLY };
            if free < needed.min(socket.send_capacity()) {
                // Its reply might not fit: wait until the peer has taken what is queued.
                break;
            }
            let mut reply = Reply::new(output);
            let after = commands::execute(store, &input[..len], &request, &mut reply);
            if let Some(bytes) = reply.bytes() {
                let _ = socket.send_slice(bytes);
            }
            consume(socket, used);
            served = true;
            if after == After::Close {
                socket.close();
                break;
            }
        }
        served
    }

    /// Drops the first `n` received bytes (the ring buffer may hand them out in two pieces).
    fn consume(socket: &mut tcp::Socket, mut n: usize) {
        while n > 0 {
            match socket.recv(|data| {
                let taken = n.min(data.len());
                (taken, taken)
            }) {
                Ok(0) | Err(_) => return,
                Ok(taken) => n -= taken,
            }
        }
    }

    /// Malformed input: the error, then the connection (only this one) closes.
    fn reject(socket: &mut tcp::Socket, message: &[u8]) {
        let _ = socket.send_slice(b"-");
        let _ = socket.send_slice(message);
        let _ = socket.send_slice(b"\r\n");
        consume(socket, socket.recv_queue());
        socket.close();
    }

    /// `kv::v2` as the commands' store.
    struct KvStore {
        kv: kv::Client<Cap<Endpoint>>,
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
    }

    /// The device as smoltcp sees it: a received frame is copied out of the device's buffer
    /// first (so that smoltcp may transmit while it holds the receive token).
    struct Phy {
        device: NetDevice,
        frame: [u8; NetDevice::MAX_FRAME],
    }

    struct Rx<'a> {
        frame: &'a [u8],
    }

    struct Tx<'a> {
        device: &'a mut NetDevice,
    }

    impl RxToken for Rx<'_> {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(self.frame)
        }
    }

    impl TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let (result, sent) = self.device.transmit(len, f);
            if let Err(e) = sent {
                warn!("netstack: a frame was dropped: {e}");
            }
            result
        }
    }

    impl Device for Phy {
        type RxToken<'a> = Rx<'a>;
        type TxToken<'a> = Tx<'a>;

        fn receive(&mut self, _timestamp: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
            if !self.device.can_transmit() {
                return None;
            }
            let frame = &mut self.frame;
            let len = self.device.receive(|data| {
                let len = data.len().min(frame.len());
                frame[..len].copy_from_slice(&data[..len]);
                len
            })?;
            Some((
                Rx {
                    frame: &self.frame[..len],
                },
                Tx {
                    device: &mut self.device,
                },
            ))
        }

        fn transmit(&mut self, _timestamp: Instant) -> Option<Tx<'_>> {
            self.device.can_transmit().then_some(Tx {
                device: &mut self.device,
            })
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = NetDevice::MAX_FRAME;
            caps.max_burst_size = Some(1);
            caps
        }
    }

    /// The timer and the device's notification, which it signals at our deadlines.
    struct Alarm {
        timer: Timer,
        frequency: u64,
        wake: Cap<axolotl_rt::Notification>,
    }

    impl Alarm {
        fn new(
            server: &ServerInfo,
            grant: &axolotl_rt::DeviceGrant,
            timer: Timer,
        ) -> Option<Alarm> {
            let Some(cnode) = server.own_cnode() else {
                warn!("netstack: no own CNode to give the timer a notification");
                return None;
            };
            let slot = server.empty_slots().next()?;
            let root = Cap::<CNode>::invoker_root();
            if let Err(e) = cnode.mint(
                slot,
                root,
                grant.notification.cptr(),
                CapRights::WRITE,
                TIMER_BADGE,
            ) {
                warn!("netstack: cannot mint the timer's notification: {e}");
                return None;
            }
            if let Err(e) = timer.register(CapSlot(slot)) {
                warn!("netstack: the timer refused the notification: {e}");
                return None;
            }
            let frequency = timer.frequency().ok()?;
            Some(Alarm {
                timer,
                frequency,
                wake: grant.notification,
            })
        }

        /// Sleeps until `micros` from now or the device interrupts, whichever comes first.
        fn sleep(&self, micros: u64) {
            let ticks = (u128::from(micros) * u128::from(self.frequency) / 1_000_000) as u64;
            let Ok(now) = self.timer.now() else {
                axolotl_rt::yield_now();
                return;
            };
            if self
                .timer
                .set_deadline(Some(now.saturating_add(ticks.max(1))))
                .is_err()
            {
                axolotl_rt::yield_now();
                return;
            }
            let _ = self.wake.wait();
        }
    }
}
