//! The kernel log: the `log` facade over the architecture's console.

use crate::arch::{Architecture, Cpu};
use core::fmt::Write;

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            putc(b);
        }
        Ok(())
    }
}

pub fn putc(c: u8) {
    if c == b'\n' {
        Cpu::console_putc(b'\r');
    }
    Cpu::console_putc(c);
}

struct KernelLogger;

impl log::Log for KernelLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let _ = writeln!(Console, "[kernel {}] {}", record.level(), record.args());
    }
    fn flush(&self) {}
}

static LOGGER: KernelLogger = KernelLogger;

pub fn init() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

pub fn write_fmt(args: core::fmt::Arguments) {
    let _ = Console.write_fmt(args);
}
