//! The console's state and its `console::v1` server, over any [`Uart`]: the real PL011 or 16550
//! in the server binary, a byte vector in host tests.

use crate::filter::{LevelTable, LineStates, filter_write};
use crate::input::InputBuffer;
use ipc_schema::Caller;
use ipc_schema::console::v1::{self, Bytes, CHUNK_LEN, ConsoleError};
use ipc_schema::interfaces::common::{LogLevel, Name};

/// Received bytes the console keeps until someone reads them.
pub const INPUT_CAPACITY: usize = 1024;

/// Whether a received message is the signal of the UART's interrupt rather than a request.
///
/// The console's thread has the IRQ's notification bound, so the kernel delivers its signal to
/// the thread blocked receiving on the endpoint: label 0, no words, the signalled bits as the
/// badge. A request never has label 0 (its label carries a nonzero interface id), so a label-0
/// message with `irq_bit` in its badge is the interrupt. (A client could send exactly that; it
/// then costs one extra poll of the UART, and the reply it gets is an error.)
pub const fn is_irq_signal(label: u64, words: usize, badge: u64, irq_bit: u64) -> bool {
    label == 0 && words == 0 && badge & irq_bit != 0
}

/// The device failed (a refused register access).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceError;

/// What the console needs of a UART: one byte out (waiting while the transmitter is full), one
/// byte in if one was received. Interrupt set-up and acknowledgement are the driver's business.
pub trait Uart {
    fn put(&mut self, byte: u8) -> Result<(), DeviceError>;
    fn get(&mut self) -> Result<Option<u8>, DeviceError>;
}

/// Counters, for the console's own diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    pub bytes_out: u64,
    pub lines_dropped: u64,
    pub bytes_in: u64,
    pub interrupts: u64,
}

/// The console: a UART, the input received so far, the level table and each writer's position
/// within its line.
pub struct Console<U> {
    uart: U,
    input: InputBuffer<INPUT_CAPACITY>,
    levels: LevelTable,
    lines: LineStates,
    stats: Stats,
}

impl<U: Uart> Console<U> {
    pub fn new(uart: U) -> Console<U> {
        Console {
            uart,
            input: InputBuffer::new(),
            levels: LevelTable::new(),
            lines: LineStates::new(),
            stats: Stats::default(),
        }
    }

    pub fn uart(&self) -> &U {
        &self.uart
    }

    pub fn uart_mut(&mut self) -> &mut U {
        &mut self.uart
    }

    pub fn levels(&self) -> &LevelTable {
        &self.levels
    }

    pub fn input(&self) -> &InputBuffer<INPUT_CAPACITY> {
        &self.input
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Moves every byte the UART holds into the input buffer (called on its interrupt, and before
    /// each read in case an interrupt is still on its way). Returns how many bytes it moved.
    pub fn receive(&mut self) -> Result<usize, DeviceError> {
        let mut n = 0;
        // Bounded: a UART receiving faster than this loop drains it cannot keep us here.
        while n < 4 * INPUT_CAPACITY {
            match self.uart.get()? {
                Some(b) => {
                    self.input.push(b);
                    n += 1;
                }
                None => break,
            }
        }
        self.stats.bytes_in += n as u64;
        Ok(n)
    }

    /// The UART's interrupt arrived: takes in what it received.
    pub fn interrupt(&mut self) -> Result<usize, DeviceError> {
        self.stats.interrupts += 1;
        self.receive()
    }

    /// Writes `bytes` from writer `writer` (its badge): log lines the level table drops are left
    /// out, and each `\n` goes out as `\r\n`, as the kernel's console writes it.
    pub fn output(&mut self, writer: u64, bytes: &[u8]) -> Result<(), DeviceError> {
        let mut state = self.lines.get(writer);
        let mut result = Ok(());
        let mut written = 0;
        let uart = &mut self.uart;
        let dropped = filter_write(&self.levels, &mut state, bytes, |piece| {
            if result.is_err() {
                return;
            }
            result = put_crlf(uart, piece);
            written += piece.len() as u64;
        });
        self.lines.set(writer, state);
        self.stats.writes += 1;
        self.stats.bytes_out += written;
        self.stats.lines_dropped += dropped;
        result
    }

    /// Writes `text` unfiltered (the console's own output).
    pub fn print(&mut self, text: &str) -> Result<(), DeviceError> {
        put_crlf(&mut self.uart, text.as_bytes())
    }
}

fn put_crlf(uart: &mut impl Uart, bytes: &[u8]) -> Result<(), DeviceError> {
    let mut previous = 0;
    for &b in bytes {
        if b == b'\n' && previous != b'\r' {
            uart.put(b'\r')?;
        }
        uart.put(b)?;
        previous = b;
    }
    Ok(())
}

impl<U: Uart> v1::Server for Console<U> {
    fn write(&mut self, caller: &mut Caller, bytes: Bytes) -> Result<(), ConsoleError> {
        self.output(caller.badge(), &bytes)
            .map_err(|DeviceError| ConsoleError::Device)
    }

    /// Returns at once with what is buffered, possibly nothing: the kernel has no way for a
    /// server to keep a caller's reply right while it serves others, so a read cannot wait for
    /// input. Readers poll (see [`crate::ConsoleIo`]).
    fn read(&mut self, _: &mut Caller, max: u16) -> Result<Bytes, ConsoleError> {
        // An error here still lets the reader have what is already buffered.
        let polled = self.receive();
        let mut chunk = [0u8; CHUNK_LEN];
        let want = usize::from(max).min(CHUNK_LEN);
        let n = self.input.pop_into(&mut chunk[..want]);
        if n == 0 && polled.is_err() {
            return Err(ConsoleError::Device);
        }
        // `n` <= CHUNK_LEN, the vector's capacity.
        Ok(Bytes::from_slice(&chunk[..n]).unwrap_or_default())
    }

    fn set_log_level(
        &mut self,
        _: &mut Caller,
        server: Name,
        level: LogLevel,
    ) -> Result<(), ConsoleError> {
        self.levels.set(&server, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConsoleIo;
    use embedded_io::{Read, Write};
    use ipc_schema::Local;
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// A UART made of two byte queues; `broken` makes every access fail.
    #[derive(Default)]
    struct FakeUart {
        out: Vec<u8>,
        rx: VecDeque<u8>,
        broken: bool,
    }

    impl Uart for FakeUart {
        fn put(&mut self, byte: u8) -> Result<(), DeviceError> {
            if self.broken {
                return Err(DeviceError);
            }
            self.out.push(byte);
            Ok(())
        }
        fn get(&mut self) -> Result<Option<u8>, DeviceError> {
            if self.broken {
                return Err(DeviceError);
            }
            Ok(self.rx.pop_front())
        }
    }

    type Server = Console<FakeUart>;

    fn local(badge: u64) -> Local<Server> {
        Local::with_badge(
            Console::new(FakeUart::default()),
            v1::dispatch::<Server>,
            badge,
        )
    }

    fn bytes(b: &[u8]) -> Bytes {
        Bytes::from_slice(b).unwrap()
    }

    #[test]
    fn requests_are_never_taken_for_the_interrupt() {
        for op in v1::OPS {
            let label = v1::label(op.number);
            assert_ne!(label, 0);
            assert!(!is_irq_signal(label, 0, u64::MAX, 1 << 33));
        }
        // aarch64 PL011: INTID 33; x86_64 COM1: GSI 4. Client badges are 1 + image index.
        assert!(is_irq_signal(0, 0, 1 << 33, 1 << 33));
        assert!(is_irq_signal(0, 0, (1 << 4) | (1 << 2), 1 << 4));
        assert!(
            !is_irq_signal(0, 0, 1 << 2, 1 << 4),
            "another bit: not ours"
        );
        assert!(
            !is_irq_signal(0, 1, 1 << 4, 1 << 4),
            "a message with words is a request"
        );
    }

    #[test]
    fn writes_go_out_with_crlf() {
        let client = v1::Client::new(local(2));
        client.write(bytes(b"hello\nworld\r\n")).unwrap();
        let t = client.into_transport();
        assert_eq!(t.server().uart().out, b"hello\r\nworld\r\n");
        assert_eq!(t.server().stats().bytes_out, 13);
    }

    #[test]
    fn read_returns_what_is_buffered_and_never_waits() {
        let client = v1::Client::new(local(2));
        assert_eq!(
            client.read(10),
            Ok(Bytes::new()),
            "nothing typed: empty, at once"
        );
        client
            .transport()
            .server()
            .uart_mut()
            .rx
            .extend(b"ls\r".iter());
        client.transport().server().interrupt().unwrap();
        assert_eq!(client.read(2), Ok(bytes(b"ls")));
        // Bytes that arrived without an interrupt yet are picked up by the read itself.
        client.transport().server().uart_mut().rx.push_back(b'x');
        assert_eq!(client.read(500), Ok(bytes(b"\rx")));
        assert_eq!(client.read(0), Ok(Bytes::new()));
        assert_eq!(client.transport().server().stats().bytes_in, 4);
    }

    #[test]
    fn input_beyond_the_buffer_is_dropped() {
        let client = v1::Client::new(local(2));
        let total = INPUT_CAPACITY + 10;
        client
            .transport()
            .server()
            .uart_mut()
            .rx
            .extend((0..total).map(|i| i as u8));
        client.transport().server().interrupt().unwrap();
        assert_eq!(client.transport().server().input().overruns(), 10);
        let mut got = Vec::new();
        loop {
            let chunk = client.read(u16::MAX).unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= CHUNK_LEN);
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got.len(), INPUT_CAPACITY);
        assert_eq!(got[..3], [0, 1, 2]);
    }

    #[test]
    fn log_levels_filter_per_server_and_per_writer() {
        let client = v1::Client::new(local(3));
        let name = |s: &str| Name::try_from(s).unwrap();
        client.set_log_level(name("kv"), LogLevel::Info).unwrap();
        assert_eq!(
            client.set_log_level(name("No Such"), LogLevel::Info),
            Err(ipc_schema::CallError::Op(ConsoleError::NoSuchServer))
        );
        client.write(bytes(b"[kv DEBUG] hidden\n")).unwrap();
        client.write(bytes(b"[kv INFO] shown\n")).unwrap();
        client
            .write(bytes(b"[timer DEBUG] other server\n"))
            .unwrap();
        let t = client.into_transport();
        assert_eq!(
            t.server().uart().out,
            b"[kv INFO] shown\r\n[timer DEBUG] other server\r\n"
        );
        assert_eq!(t.server().stats().lines_dropped, 1);
        // Two writers, each in the middle of a line: each keeps its own verdict.
        let mut s = t.into_server();
        s.uart_mut().out.clear();
        s.output(5, b"[kv DEBUG] part one").unwrap();
        s.output(6, b"[kv INFO] other").unwrap();
        s.output(5, b", part two\n").unwrap();
        s.output(6, b" writer\n").unwrap();
        assert_eq!(s.uart().out, b"[kv INFO] other writer\r\n");
    }

    #[test]
    fn device_errors_are_reported() {
        let client = v1::Client::new(local(2));
        client.transport().server().uart_mut().broken = true;
        assert_eq!(
            client.write(bytes(b"x")),
            Err(ipc_schema::CallError::Op(ConsoleError::Device))
        );
        assert_eq!(
            client.read(1),
            Err(ipc_schema::CallError::Op(ConsoleError::Device))
        );
    }

    #[test]
    fn embedded_io_over_the_client() {
        let mut io = ConsoleIo::new(local(2));
        // More than one chunk: write_all splits it.
        let long: Vec<u8> = (0..450).map(|i| b'a' + (i % 26) as u8).collect();
        io.write_all(&long).unwrap();
        writeln!(io, " and {}", 42).unwrap();
        io.flush().unwrap();
        assert_eq!(
            io.transport().calls(),
            4,
            "200 + 200 + 50 bytes, then the formatted tail"
        );
        {
            let server = io.transport().server();
            let out = &server.uart().out;
            assert_eq!(&out[..450], &long[..]);
            assert_eq!(&out[450..], b" and 42\r\n");
        }
        let mut buf = [0u8; 8];
        assert_eq!(io.try_read(&mut buf), Ok(0));
        io.transport().server().uart_mut().rx.extend(b"hi".iter());
        assert_eq!(io.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(io.read(&mut []), Ok(0));
    }

    #[test]
    fn a_blocking_read_polls_until_input_arrives() {
        let server = local(2);
        let polls = core::cell::Cell::new(0);
        let mut io = ConsoleIo::with_idle(&server, || {
            polls.set(polls.get() + 1);
            if polls.get() == 3 {
                server.server().uart_mut().rx.push_back(b'!');
            }
        });
        let mut buf = [0u8; 4];
        assert_eq!(io.read(&mut buf), Ok(1));
        assert_eq!((buf[0], polls.get()), (b'!', 3));
    }

    #[test]
    fn io_errors_keep_their_cause() {
        use embedded_io::{Error, ErrorKind};
        let mut io = ConsoleIo::new(local(2));
        io.transport().server().uart_mut().broken = true;
        let e = io.write(b"x").unwrap_err();
        assert_eq!(e.0, ipc_schema::CallError::Op(ConsoleError::Device));
        assert_eq!(e.kind(), ErrorKind::Other);
        let e = crate::IoError(ipc_schema::CallError::Ipc(
            ipc_schema::IpcError::ServerUnavailable,
        ));
        assert_eq!(e.kind(), ErrorKind::NotConnected);
    }
}
