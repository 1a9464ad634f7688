//! The console server's logic, and the `embedded-io` adapter its clients use.
//!
//! The server (`src/main.rs`) drives the UART granted as `devices = ["uart"]` and serves
//! `console::v1` on its endpoint `console`. Everything it decides is here, free of the kernel, and
//! tested on the host:
//!
//! - [`input`]: received bytes wait in a bounded ring ([`service::INPUT_CAPACITY`] bytes; newer
//!   bytes are dropped and counted when it is full) until someone reads them;
//! - [`filter`]: log lines `[name LEVEL] message` and the per-server level table
//!   (`set_log_level`); a writer's line that the table drops is dropped whole, even when it spans
//!   several writes;
//! - [`service`]: [`Console`], the `console::v1::Server` over any [`Uart`];
//! - [`io`]: [`ConsoleIo`], `embedded_io::{Read, Write}` over the client stub.
//!
//! **Read semantics.** `read(max)` answers at once with what is buffered, possibly nothing. A
//! read that waited for input would need the server to keep the caller's reply right while it
//! serves other clients (seL4's SaveCaller / reply objects), which this kernel does not have: its
//! one reply right per thread is consumed by the next `ReplyRecv`. So readers poll: the shell (and
//! [`ConsoleIo`]'s blocking `read`) yields or sleeps between empty reads.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod filter;
pub mod input;
pub mod io;
pub mod service;

pub use filter::{LevelTable, LogPrefix};
pub use input::InputBuffer;
pub use io::{ConsoleIo, IoError};
pub use service::{Console, DeviceError, Uart, is_irq_signal};
