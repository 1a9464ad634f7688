//! The `log` backend and the debug console.
//!
//! Each record is one line, `[name LEVEL] message`, written byte by byte with the
//! `DebugPutChar` system call (a later issue moves output to a console server). A line is first
//! formatted into a small buffer so that it goes out in one burst, which keeps lines of different
//! threads from interleaving in the common case. The level can be changed at run time with
//! [`set_log_level`].

use crate::syscall::debug_put_char;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
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

/// Writes bytes straight to the debug console.
pub struct DebugConsole;

impl Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(debug_put_char);
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
        self.buf[..self.len]
            .iter()
            .copied()
            .for_each(debug_put_char);
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
        let mut line = LineWriter::new();
        let _ = writeln!(
            line,
            "[{} {}] {}",
            program_name(),
            record.level().as_str(),
            record.args()
        );
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
