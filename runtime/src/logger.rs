//! The `log` backend and the debug console.
//!
//! Each record is one line, `[name LEVEL] message`. Where it goes:
//!
//! - a server granted a client capability named `console` (`calls = ["console"]`) sends the
//!   line, already formatted, to the console server with `console::v1::write`, in chunks of at
//!   most [`CHUNK_LEN`] bytes (a line up to that long is one write, so the console sees its
//!   `[name LEVEL]` prefix and can filter the line by the level table `set_log_level` fills);
//! - everything else (the root task, the console server itself, a server without the capability,
//!   a line whose console call failed, a line logged while a console call is in progress) is
//!   written with the `DebugWrite` system call (40 bytes per call, in registers).
//!
//! [`attach_console`] (called by the server entry glue) looks the capability up. The console call
//! never logs, and a line started while one is in flight goes to the debug console, so logging
//! cannot recurse. A line is formatted into a buffer first so that it goes out in one burst,
//! which keeps lines of different threads from interleaving in the common case. The level can be
//! changed at run time with [`set_log_level`]; the console's per-server table can only hide more.
//! `debug_print!`/`debug_println!` and panic messages always use the debug console.

use crate::cap::{Cap, Endpoint};
use crate::server_info::ServerInfo;
use crate::syscall::debug_write;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use ipc_schema::console::v1::{self as console, Bytes, CHUNK_LEN};
use log::{LevelFilter, Log, Metadata, Record};

/// The program's name as log lines show it (`&'static str` split into two words).
static NAME_PTR: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);

/// The name given to [`init_log`], or `"?"` before it.
pub fn program_name() -> &'static str {
    let ptr = NAME_PTR.load(Ordering::Acquire);
    if ptr.is_null() {
        return "?";
    }
    let len = NAME_LEN.load(Ordering::Relaxed);
    // SAFETY: `init_log` stored the length, then (Release) the pointer, of a `&'static str`; the
    // pointer is only ever set from such a string, together with its length.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, len) };
    core::str::from_utf8(bytes).unwrap_or("?")
}

/// Installs the logger: lines are prefixed with `name`; records above `level` are dropped.
/// Called by the entry glue with the server's name (`"root"` for the root task).
pub fn init_log(name: &'static str, level: LevelFilter) {
    NAME_LEN.store(name.len(), Ordering::Relaxed);
    NAME_PTR.store(name.as_ptr().cast_mut(), Ordering::Release);
    // A second call keeps the logger installed by the first; only the name and level change.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Changes which records are written.
pub fn set_log_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The console endpoint log lines go to (0: none).
static CONSOLE: AtomicU64 = AtomicU64::new(0);
/// A console call is in progress: a line logged meanwhile goes to the debug console.
static IN_CONSOLE_CALL: AtomicBool = AtomicBool::new(false);
static LINES_SENT: AtomicU64 = AtomicU64::new(0);
static CHUNKS_SENT: AtomicU64 = AtomicU64::new(0);
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Sends log lines to the console server if `info` grants a client capability named `console`;
/// returns whether it does. Called by the server entry glue; a server that serves `console`
/// itself has no such capability and keeps writing to the debug console.
pub fn attach_console(info: &ServerInfo) -> bool {
    let cptr = info.client("console").map_or(0, |ep| ep.cptr());
    CONSOLE.store(cptr, Ordering::Release);
    cptr != 0
}

/// Log lines go to the debug console again.
pub fn detach_console() {
    CONSOLE.store(0, Ordering::Release);
}

/// Whether log lines go to the console server.
pub fn console_attached() -> bool {
    CONSOLE.load(Ordering::Acquire) != 0
}

/// How logging through the console went so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsoleStats {
    /// Lines whose every chunk the console accepted.
    pub lines: u64,
    /// `write` calls the console answered with success.
    pub chunks: u64,
    /// Chunks that went to the debug console instead because the call failed or another was in
    /// progress (lines of a program without the console are not counted).
    pub fallbacks: u64,
}

pub fn console_stats() -> ConsoleStats {
    ConsoleStats {
        lines: LINES_SENT.load(Ordering::Relaxed),
        chunks: CHUNKS_SENT.load(Ordering::Relaxed),
        fallbacks: FALLBACKS.load(Ordering::Relaxed),
    }
}

/// Sends `bytes` to the console at `cptr` with one `write`; `false` if that failed or a call is
/// already in progress (then nothing was sent). Never logs.
fn console_write(cptr: u64, bytes: &[u8]) -> bool {
    let Ok(chunk) = Bytes::from_slice(bytes) else {
        return false;
    };
    if IN_CONSOLE_CALL.swap(true, Ordering::Acquire) {
        return false;
    }
    let client = console::Client::new(Cap::<Endpoint>::from_cptr(cptr));
    let ok = client.write(chunk).is_ok();
    IN_CONSOLE_CALL.store(false, Ordering::Release);
    ok
}

/// One log line on its way out: collected in chunks of [`CHUNK_LEN`] bytes, each sent to the
/// console (if attached) when full and at the end of the line. After a failed chunk, the rest of
/// the line goes to the debug console.
struct ConsoleLine {
    buf: [u8; CHUNK_LEN],
    len: usize,
    /// The console endpoint, 0 once the line has fallen back (or without a console).
    console: u64,
}

impl ConsoleLine {
    fn new() -> ConsoleLine {
        ConsoleLine {
            buf: [0; CHUNK_LEN],
            len: 0,
            console: CONSOLE.load(Ordering::Acquire),
        }
    }

    fn flush(&mut self) {
        let bytes = &self.buf[..self.len];
        self.len = 0;
        if bytes.is_empty() {
            return;
        }
        if self.console != 0 {
            if console_write(self.console, bytes) {
                CHUNKS_SENT.fetch_add(1, Ordering::Relaxed);
                return;
            }
            FALLBACKS.fetch_add(1, Ordering::Relaxed);
            self.console = 0;
        }
        debug_write(bytes);
    }

    /// Sends what is left; the line is done.
    fn finish(mut self) {
        self.flush();
        if self.console != 0 {
            LINES_SENT.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Write for ConsoleLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes bytes straight to the debug console.
pub struct DebugConsole;

impl Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        debug_write(s.as_bytes());
        Ok(())
    }
}

/// Collects output and writes it to the debug console when full or dropped.
pub(crate) struct LineWriter {
    buf: [u8; 192],
    len: usize,
}

impl LineWriter {
    pub(crate) const fn new() -> LineWriter {
        LineWriter {
            buf: [0; 192],
            len: 0,
        }
    }

    fn flush(&mut self) {
        debug_write(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for LineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = ConsoleLine::new();
        let _ = writeln!(
            line,
            "[{} {}] {}",
            program_name(),
            record.level().as_str(),
            record.args()
        );
        line.finish();
    }

    fn flush(&self) {}
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = LineWriter::new().write_fmt(args);
}

/// Prints to the debug console (no prefix, no newline).
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {
        $crate::logger::_print(format_args!($($arg)*))
    };
}

/// Prints a line to the debug console (no prefix).
#[macro_export]
macro_rules! debug_println {
    () => {
        $crate::logger::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::logger::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
