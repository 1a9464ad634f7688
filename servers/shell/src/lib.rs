//! The Axolotl shell: an interactive command line on the console.
//!
//! ```text
//! UART -> console server --console::v1 read (polled)--> shell: line editor -> command parser
//!      <- console server <--console::v1 write (echo, output)--   | runs the command over
//!                                                                 v typed clients
//!          supervisor::v1 (ps, log)   kv::v2 (kv get|put|del|list)   console::v1 (log, fallback)
//!          SysControl (poweroff)
//! ```
//!
//! Everything but the bare-metal glue is here and tested on the host: [`line`] (echo,
//! backspace, CR/LF, Ctrl-C/U, escape sequences), [`command`] (parsing and the messages for bad
//! input), [`shell`] (running commands over `ipc-schema` clients generic over their
//! `Transport`), [`show`] (formatting), [`output`] (the output sink and the console-sized
//! chunking) and [`idle`] (how long to wait when the console has no input). `src/main.rs` finds
//! the capabilities in the server-info page, polls the console, and powers off.
//!
//! Invariants: the shell never panics on any input; every command either prints its result or
//! one line saying why not; a server the image does not let it call is a message, not a fault.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod command;
pub mod idle;
pub mod line;
pub mod output;
pub mod shell;
pub mod show;

pub use output::{ChunkWriter, Terminal};
pub use shell::{BANNER, Outcome, PROMPT, Services, Shell};
