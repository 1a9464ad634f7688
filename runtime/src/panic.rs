//! The panic handler: logs `[name PANIC] message at file:line`, then faults with an undefined
//! instruction so that the thread's supervisor sees a clean fault; resumed, it faults again.

use crate::logger::{LineWriter, program_name};
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    // A panic while formatting the first one's message goes straight to the fault.
    if !PANICKING.swap(true, Ordering::Relaxed) {
        let mut line = LineWriter::new();
        let _ = write!(line, "[{} PANIC] {}", program_name(), info.message());
        if let Some(location) = info.location() {
            let _ = write!(line, " at {}:{}", location.file(), location.line());
        }
        let _ = line.write_str("\n");
    }
    crate::arch::fault()
}
