//! tcpip: the virtio-net driver and a TCP/IP stack (smoltcp), offering TCP sockets to one front
//! end through `net::v1` (`ipc_schema::net`), with the payload bytes in memory shared with it.
//!
//! The image grants it `devices = ["net"]` (the device's registers or PCI configuration ports,
//! its interrupt on a notification, and DMA memory), the endpoint `net`, `calls = ["timer",
//! ...]`, `own_cnode` (to give the timer a badged copy of its notification and keep the front
//! end's), and a `[[shared]]` region `netbuf` with the front end (at least
//! `net::Layout::PAGES` pages). It is not transactional: its state is device and connection
//! state (virtqueues, TCP sequence numbers, buffers the device writes by DMA), which a rollback
//! could not make consistent with the device and the peers again.
//!
//! **The loop.** The device's notification is bound to its thread, so the one receive of the
//! server loop returns the front end's calls, the device's interrupts, the timer's deadlines
//! (smoltcp's next timeout, at most [`MAX_SLEEP_MS`] ahead) and its own *kick* (a signal it sends
//! itself when sockets have bytes to transmit: the poll then runs once the front end, which runs
//! at a higher priority, has made all its calls of the moment). After a poll it signals the
//! front end's notification if a connection has news ([`tcpip::Connections`]).
//!
//! Address: 10.0.2.15/24, gateway 10.0.2.2 (QEMU user networking's defaults).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(program::main);

#[cfg(target_os = "none")]
mod program {
    use axolotl_rt::ipc_transport::{CapReceive, serve};
    use axolotl_rt::shared::SharedMemory;
    use axolotl_rt::virtio::{self, NetDevice, VirtioDeviceType};
    use axolotl_rt::{CNode, Cap, CapRights, Endpoint, Notification, ServerInfo};
    use ipc_schema::net::v1::{self as net, Conn, Events, NetError, Received};
    use ipc_schema::net::{AreaStatus, Layout, Outgoing};
    use ipc_schema::{Caller, CapSlot, MSG_WORDS, timer};
    use log::{debug, error, info, warn};
    use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
    use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
    use smoltcp::socket::tcp;
    use smoltcp::time::{Duration, Instant};
    use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};
    use tcpip::{Connections, Status};

    const SOCKETS: usize = Layout::CONNECTIONS;
    /// The longest sleep without an interrupt.
    const MAX_SLEEP_MS: u64 = 20;
    /// The shortest (a sleep lets the CPU idle, and QEMU's I/O thread run).
    const MIN_SLEEP_US: u64 = 200;
    /// The badge of the timer's copy of the notification (not an IRQ's bit).
    const TIMER_BADGE: u64 = 1 << 62;
    /// The badge of the server's own copy (the kick).
    const KICK_BADGE: u64 = 1 << 61;
    /// The shared region's name in the image.
    const REGION: &str = "netbuf";

    type Timer = timer::v1::Client<Cap<Endpoint>>;

    pub fn main(server: &'static ServerInfo) {
        if let Err(e) = run(server) {
            error!("tcpip: {e}");
        }
    }

    fn run(server: &ServerInfo) -> Result<(), &'static str> {
        let grant = server.device("net").ok_or("no device 'net' was granted")?;
        let dma = grant.dma.ok_or("the 'net' grant has no DMA memory")?;
        let endpoint = server
            .endpoint("net")
            .ok_or("no endpoint 'net' was granted")?;
        let shared = server
            .shared(REGION)
            .filter(|s| s.len() >= Layout::BYTES)
            .ok_or("no shared region 'netbuf' of net::Layout::PAGES pages")?;
        let cnode = server
            .own_cnode()
            .ok_or("needs its own CNode (own_cnode = true)")?;
        let mut empty = server.empty_slots();
        let (Some(receive_slot), Some(front_slot), Some(kick_slot), Some(timer_slot)) =
            (empty.next(), empty.next(), empty.next(), empty.next())
        else {
            return Err("not enough empty slots");
        };
        virtio::init_dma(&dma).map_err(|e| {
            error!("tcpip: DMA: {e}");
            "no DMA memory"
        })?;
        let transport = virtio::transport(&grant, VirtioDeviceType::Network).map_err(|e| {
            error!("tcpip: {e}");
            "no virtio-net device"
        })?;
        let device = NetDevice::new(transport).map_err(|e| {
            error!("tcpip: virtio-net: {e}");
            "the virtio-net device refused to start"
        })?;
        let root = Cap::<CNode>::invoker_root();
        cnode
            .mint(
                kick_slot,
                root,
                grant.notification.cptr(),
                CapRights::WRITE,
                KICK_BADGE,
            )
            .map_err(|_| "cannot mint the kick notification")?;
        server
            .own_tcb()
            .bind_notification(grant.notification)
            .map_err(|_| "cannot bind the device's notification")?;
        let timer = server.client("timer").map(Timer::new);
        let alarm = timer.and_then(|t| Alarm::new(cnode, timer_slot, &grant, t));
        let mac = device.mac_address();
        info!(
            "tcpip: virtio-net {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, irq {}, {} DMA pages; \
             10.0.2.15, {SOCKETS} TCP connections for net v1 (payloads in '{REGION}', {} KiB){}",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            grant.irq_number,
            dma.pages,
            shared.len() / 1024,
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
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = axolotl_rt::time::counter();
        let mut iface = Interface::new(config, &mut phy, now(frequency));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(Ipv4Address::new(10, 0, 2, 15).into(), 24));
        });
        let _ = iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::new(10, 0, 2, 2));

        let mut rx_memory = [[0u8; Layout::RX]; SOCKETS];
        let mut tx_memory = [[0u8; Layout::TX]; SOCKETS];
        let mut storage: [SocketStorage; SOCKETS] = [SocketStorage::EMPTY; SOCKETS];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let mut handles = heapless::Vec::<SocketHandle, SOCKETS>::new();
        for (rx, tx) in rx_memory.iter_mut().zip(tx_memory.iter_mut()) {
            let mut socket = tcp::Socket::new(
                tcp::SocketBuffer::new(&mut rx[..]),
                tcp::SocketBuffer::new(&mut tx[..]),
            );
            socket.set_ack_delay(None);
            socket.set_nagle_enabled(false);
            let _ = handles.push(sockets.add(socket));
        }

        let mut stack = Stack {
            iface,
            phy,
            sockets,
            handles,
            table: Connections::new(),
            shared,
            port: None,
            front: None,
            front_slot,
            cnode,
            kick: Cap::from_cptr(kick_slot),
            kicked: false,
            frequency,
            alarm,
            irq: grant.irq,
            irq_number: grant.irq_number,
            stats: [0; 7],
        };
        stack.pump(true);
        let cap_receive = CapReceive {
            cnode,
            slot: receive_slot,
        };
        let e = serve(
            endpoint,
            Some(cap_receive),
            |caller, label, request, reply| stack.handle(caller, label, request, reply),
        );
        error!("tcpip: receive failed: {e}");
        Ok(())
    }

    fn now(frequency: u64) -> Instant {
        let ticks = u128::from(axolotl_rt::time::counter());
        Instant::from_micros((ticks * 1_000_000 / u128::from(frequency)) as i64)
    }

    /// Everything the server keeps between two messages.
    struct Stack<'a> {
        iface: Interface,
        phy: Phy,
        sockets: SocketSet<'a>,
        handles: heapless::Vec<SocketHandle, SOCKETS>,
        table: Connections,
        shared: SharedMemory,
        /// The port every socket listens on, once the front end said.
        port: Option<u16>,
        /// The front end: the badge of its calls, once it registered.
        front: Option<u64>,
        /// Where the front end's notification is kept.
        front_slot: u64,
        cnode: Cap<CNode>,
        kick: Cap<Notification>,
        /// A kick is pending (sent and not yet received).
        kicked: bool,
        frequency: u64,
        alarm: Option<Alarm>,
        irq: Cap<axolotl_rt::IrqHandler>,
        irq_number: u64,
        stats: [u64; 7],
    }

    impl<'a> Stack<'a> {
        fn handle(
            &mut self,
            caller: &mut Caller,
            label: u64,
            request: &[u64],
            reply: &mut [u64; MSG_WORDS],
        ) -> (u64, usize) {
            if label == 0 && request.is_empty() && caller.received_cap().is_none() {
                // The bound notification: an interrupt, a deadline or a kick.
                if caller.badge() & KICK_BADGE != 0 {
                    self.kicked = false;
                }
                self.pump(true);
                return (0, 0);
            }
            net::dispatch(self, caller, label, request, reply)
        }

        /// Asks for a poll once the front end has made its calls of the moment.
        fn kick(&mut self) {
            if !self.kicked && self.kick.signal().is_ok() {
                self.kicked = true;
            }
        }

        /// Socket `c` (checked valid by the caller: the table or a loop below `SOCKETS`).
        fn socket(&mut self, c: Conn) -> &mut tcp::Socket<'a> {
            let handle = self.handles[usize::from(c)];
            self.sockets.get_mut::<tcp::Socket<'a>>(handle)
        }

        /// Polls the device and smoltcp (again while frames keep coming), re-listens on free
        /// sockets, signals the front end if a connection has news (with `signal`), arms the
        /// timer.
        fn pump(&mut self, signal: bool) {
            self.stats[0] += 1;
            if self.stats[0] % 8192 == 0 {
                debug!(
                    "tcpip: pumps, polls, refills, sends, syncs, timer arms, signals: {:?}",
                    self.stats
                );
            }
            // One poll, and another while frames keep arriving (at most a few: the front end's
            // events should not wait behind a flood).
            for _ in 0..4 {
                let t = now(self.frequency);
                self.iface.poll(t, &mut self.phy, &mut self.sockets);
                self.stats[1] += 1;
                self.phy.device.ack_interrupt();
                if let Err(e) = self.irq.ack() {
                    warn!("tcpip: acknowledging irq {}: {e}", self.irq_number);
                }
                if !self.phy.device.can_receive() {
                    break;
                }
            }
            let mut news = false;
            for c in 0..SOCKETS as Conn {
                let port = self.port;
                let owned = self.table.owned(c);
                let socket = self.socket(c);
                let state = socket.state();
                if !owned
                    && state == tcp::State::Closed
                    && let Some(port) = port
                {
                    let _ = socket.listen(port);
                }
                let established = matches!(state, tcp::State::Established | tcp::State::CloseWait);
                let status = status_of(socket);
                news |= self.table.observe(c, established, status);
            }
            if news && signal && self.front.is_some() {
                self.stats[6] += 1;
                let _ = Cap::<Notification>::from_cptr(self.front_slot).signal();
            }
            let t = now(self.frequency);
            let delay = self
                .iface
                .poll_delay(t, &self.sockets)
                .unwrap_or(Duration::from_millis(MAX_SLEEP_MS))
                .min(Duration::from_millis(MAX_SLEEP_MS));
            if delay == Duration::ZERO && self.phy.device.can_transmit() {
                self.kick();
                return;
            }
            let delay = delay.max(Duration::from_micros(MIN_SLEEP_US));
            match &mut self.alarm {
                Some(alarm) => self.stats[5] += u64::from(alarm.arm(delay.total_micros())),
                None => self.kick(),
            }
        }

        /// Drops the first `consumed` bytes of `c`'s receive area (moves the rest to its start);
        /// returns how many stay.
        fn drop_consumed(&mut self, c: Conn, consumed: u16) -> Result<usize, NetError> {
            let keep = self.table.consume(c, consumed)?;
            let area = Layout::rx(c);
            if consumed > 0 && keep > 0 {
                self.shared
                    .copy_within(area + usize::from(consumed), area, keep);
            }
            Ok(keep)
        }

        /// Moves what socket `c` received into its receive area, as much as fits.
        fn refill(&mut self, c: Conn) -> Received {
            self.stats[2] += 1;
            let keep = self.table.staged(c);
            let area = Layout::rx(c);
            let shared = self.shared;
            let socket = self.socket(c);
            let mut added = 0;
            while keep + added < Layout::RX && socket.can_recv() {
                let at = area + keep + added;
                let room = Layout::RX - keep - added;
                match socket.recv(|data| {
                    let n = data.len().min(room);
                    shared.write(at, &data[..n]);
                    (n, n)
                }) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => added += n,
                }
            }
            let status = status_of(socket);
            let len = self.table.refilled(c, added, status);
            if added >= Layout::RX / 2 {
                // The window opened wide: tell the peer at the next poll (smaller reads are
                // announced with the next reply).
                self.kick();
            }
            Received {
                len: len as u16,
                space: status.space.min(usize::from(u16::MAX)) as u16,
                closed: status.closed,
            }
        }

        /// Queues the first `len` bytes of `c`'s send area on its socket, all or none.
        fn send_area(&mut self, c: Conn, len: u16) -> Result<u16, NetError> {
            if !self.table.owned(c) {
                return Err(NetError::BadConnection);
            }
            self.stats[3] += 1;
            let len = usize::from(len);
            if len > Layout::TX {
                return Err(NetError::BadLength);
            }
            let shared = self.shared;
            let area = Layout::tx(c);
            let socket = self.socket(c);
            if !socket.may_send() {
                return Err(NetError::BadConnection);
            }
            if socket.send_capacity() - socket.send_queue() < len {
                return Err(NetError::WouldBlock);
            }
            let mut sent = 0;
            while sent < len {
                match socket.send(|buf| {
                    let n = buf.len().min(len - sent);
                    shared.read(area + sent, &mut buf[..n]);
                    (n, n)
                }) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sent += n,
                }
            }
            let space = socket.send_capacity() - socket.send_queue();
            Ok(space.min(usize::from(u16::MAX)) as u16)
        }

        fn close_connection(&mut self, c: Conn) -> Result<(), NetError> {
            self.table.close(c)?;
            self.socket(c).close();
            Ok(())
        }

        fn check(&self, caller: &Caller) -> Result<(), NetError> {
            match self.front {
                Some(badge) if badge == caller.badge() => Ok(()),
                Some(_) => Err(NetError::NotTheFrontEnd),
                None => Err(NetError::NotReady),
            }
        }
    }

    /// The connection ids whose bit is set in `mask`, lowest first.
    fn bits(mut mask: u64) -> impl Iterator<Item = Conn> {
        core::iter::from_fn(move || {
            (mask != 0).then(|| {
                let c = mask.trailing_zeros() as Conn;
                mask &= mask - 1;
                c
            })
        })
        .filter(|&c| Layout::valid(c))
    }

    fn status_of(socket: &tcp::Socket) -> Status {
        Status {
            queued: socket.recv_queue(),
            space: socket.send_capacity() - socket.send_queue(),
            closed: !socket.may_recv()
                && !matches!(socket.state(), tcp::State::Listen | tcp::State::SynReceived),
        }
    }

    impl net::Server for Stack<'_> {
        fn register(&mut self, caller: &mut Caller) -> Result<(), NetError> {
            if self.front.is_some_and(|b| b != caller.badge()) {
                return Err(NetError::NotTheFrontEnd);
            }
            let Some(CapSlot(slot)) = caller.take_cap() else {
                return Err(NetError::NotReady);
            };
            let _ = self.cnode.delete(self.front_slot);
            self.cnode
                .move_(self.front_slot, Cap::<CNode>::invoker_root(), slot)
                .map_err(|_| NetError::NotReady)?;
            self.front = Some(caller.badge());
            Ok(())
        }

        fn listen(&mut self, caller: &mut Caller, port: u16) -> Result<(), NetError> {
            self.check(caller)?;
            if port == 0 {
                return Err(NetError::NotReady);
            }
            self.port = Some(port);
            for c in 0..SOCKETS as Conn {
                let socket = self.socket(c);
                if socket.state() == tcp::State::Closed {
                    let _ = socket.listen(port);
                }
            }
            info!("tcpip: listening on port {port}");
            self.kick();
            Ok(())
        }

        fn accept(&mut self, caller: &mut Caller) -> Result<Option<Conn>, NetError> {
            self.check(caller)?;
            Ok(self.table.accept())
        }

        fn events(&mut self, caller: &mut Caller) -> Result<Events, NetError> {
            self.check(caller)?;
            self.stats[4] += 1;
            Ok(self.table.take_events())
        }

        fn receive(
            &mut self,
            caller: &mut Caller,
            c: Conn,
            consumed: u16,
        ) -> Result<Received, NetError> {
            self.check(caller)?;
            self.drop_consumed(c, consumed)?;
            Ok(self.refill(c))
        }

        fn send(
            &mut self,
            caller: &mut Caller,
            c: Conn,
            len: u16,
            consumed: u16,
        ) -> Result<u16, NetError> {
            self.check(caller)?;
            if !self.table.owned(c) {
                return Err(NetError::BadConnection);
            }
            self.drop_consumed(c, consumed)?;
            let space = self.send_area(c, len)?;
            self.kick();
            Ok(space)
        }

        fn close(&mut self, caller: &mut Caller, c: Conn) -> Result<(), NetError> {
            self.check(caller)?;
            self.close_connection(c)?;
            self.kick();
            Ok(())
        }

        fn sync(&mut self, caller: &mut Caller, sent: u64, close: u64) -> Result<Events, NetError> {
            self.check(caller)?;
            self.stats[4] += 1;
            for c in bits(sent) {
                let mut entry = [0u8; Outgoing::SIZE];
                if !self.table.owned(c) || !self.shared.read(Layout::outgoing(c), &mut entry) {
                    continue;
                }
                let out = Outgoing::decode(&entry);
                let sent = self
                    .drop_consumed(c, out.consumed)
                    .and_then(|_| match out.len {
                        0 => Ok(0),
                        len => self.send_area(c, len),
                    });
                if let Err(e) = sent {
                    warn!("tcpip: sync: connection {c}: {e}");
                }
            }
            for c in bits(close) {
                let _ = self.close_connection(c);
            }
            // The replies go out, new frames come in: one poll for the whole round.
            self.pump(false);
            let events = self.table.take_events();
            for c in bits(events.ready) {
                let r = self.refill(c);
                let status = AreaStatus {
                    len: r.len,
                    space: r.space,
                    closed: r.closed,
                };
                self.shared.write(Layout::status(c), &status.encode());
            }
            Ok(events)
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
                warn!("tcpip: a frame was dropped: {e}");
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

    /// The timer, which signals the device's (bound) notification at our deadlines.
    struct Alarm {
        timer: Timer,
        frequency: u64,
        /// The deadline the timer holds (counter ticks, the timer's own clock).
        armed: Option<u64>,
    }

    impl Alarm {
        fn new(
            cnode: Cap<CNode>,
            slot: u64,
            grant: &axolotl_rt::DeviceGrant,
            timer: Timer,
        ) -> Option<Alarm> {
            let root = Cap::<CNode>::invoker_root();
            if let Err(e) = cnode.mint(
                slot,
                root,
                grant.notification.cptr(),
                CapRights::WRITE,
                TIMER_BADGE,
            ) {
                warn!("tcpip: cannot mint the timer's notification: {e}");
                return None;
            }
            if let Err(e) = timer.register(CapSlot(slot)) {
                warn!("tcpip: the timer refused the notification: {e}");
                return None;
            }
            let frequency = timer.frequency().ok()?;
            Some(Alarm {
                timer,
                frequency,
                armed: None,
            })
        }

        /// The notification is signalled `micros` from now, or earlier: a deadline already
        /// armed that comes first and has not passed is kept (no call to the timer).
        fn arm(&mut self, micros: u64) -> bool {
            let ticks = (u128::from(micros) * u128::from(self.frequency) / 1_000_000) as u64;
            let now = axolotl_rt::time::counter();
            let at = now.saturating_add(ticks.max(1));
            if self.armed.is_some_and(|armed| armed > now && armed <= at) {
                return false;
            }
            if self.timer.set_deadline(Some(at)).is_ok() {
                self.armed = Some(at);
            }
            true
        }
    }
}
