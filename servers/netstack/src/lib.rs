//! The network server's pure logic, host-tested with `cargo test -p netstack`.
//!
//! - [`resp`]: RESP2 requests parsed from a connection's bytes, replies encoded;
//! - [`commands`]: the Redis commands over a [`commands::Store`] (the server's is `kv::v2`).
//!
//! The server itself (`main.rs`, bare metal) drives the virtio-net device, runs smoltcp and
//! feeds each connection's bytes through these.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod commands;
pub mod resp;
