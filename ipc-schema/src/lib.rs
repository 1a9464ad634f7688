//! `ipc-schema`: Axolotl's typed, versioned IPC interfaces.
//!
//! Each interface version is declared once, as a module (`kv::v1`, `kv::v2`, ...), with the
//! [`interface!`] macro; from that declaration come the op metadata, a `Server` trait, a pure
//! `dispatch` function and a `Client` stub generic over a [`Transport`]. Where it sits in a
//! request's path:
//!
//! ```text
//! client code -> vN::Client::op(args) -> encode (label, words) -> Transport::call_with_caps
//!   (axolotl_rt: Call on a badged endpoint | Local: in memory) -> server loop -> vM::dispatch
//!   (or a multi-version dispatch: old versions through an adapter) -> Server::op -> encode
//!   Result<T, E> -> reply -> client decodes Result<T, CallError<E>>
//! ```
//!
//! **Wire format** ([`wire`]): request label = interface id (16 bits) << 24 | version (8) << 16 |
//! op (16); words = the postcard encoding of the op's argument tuple, packed little-endian, the
//! last word zero-padded. Reply label 0 = delivered, the words hold the op's `Result<T, E>`;
//! any other reply label is an [`IpcError`] code and carries no words. Short values (up to 32
//! bytes) fit the four register words and so can take the kernel's fast path; longer ones use the
//! IPC buffer; callers never see the difference.
//!
//! **Invariants.** Op numbers are explicit, strictly increasing within a version, and never
//! reused: new ops are appended. A released version is frozen (its op table is pinned by tests);
//! a change is a new version, and the server of the new version serves the old one through an
//! adapter (see [`kv`]). Every op says whether it is idempotent ([`OpInfo::idempotent`]); the
//! supervisor re-delivers only those. Dispatch is total: any label and any words produce a reply,
//! never a panic. Every type on the wire has a bounded size (`heapless` strings and vectors), no
//! heap is used, and no code is unsafe.
//!
//! **Why `macro_rules!` and not a procedural macro or a build-time generator.** A declarative
//! macro needs no extra crate compiled for the host, no build script and no code generation step,
//! so the crate builds the same way for the host, the bare-metal targets and `cargo fuzz`; it
//! works in `no_std` as it is; and its expansion is ordinary Rust that a reader can see in one
//! place (`src/interface.rs`) and step through with `cargo expand`. The price is a fixed input
//! grammar (`N => idempotent fn name(args) -> Result<T, E>;`), which is all an interface needs.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod client;
mod error;
mod interface;
pub mod interfaces;
mod local;
pub mod meta;
pub mod server;
pub mod testing;
mod transport;
pub mod wire;

pub use error::{CallError, IpcError, Never};
pub use interfaces::{
    campaign, console, inject, kv, lifecycle, name, net, patch, snapshot, supervisor, timer,
    upgrade,
};
pub use local::{Exchange, Local};
pub use meta::{InterfaceInfo, OpInfo};
pub use server::{Caller, DispatchFn};
pub use transport::{CapSlot, CapTransfer, ReplyInfo, Transport};
pub use wire::{
    Label, MAX_PAYLOAD_BYTES, MSG_WORDS, REGISTER_WORDS, REPLY_DELIVERED, check_label, label,
};

/// Re-exported so that interfaces defined in other crates name the same versions.
pub use heapless;
pub use serde;
