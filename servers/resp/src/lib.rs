//! The RESP front end's pure logic, host-tested with `cargo test -p resp`.
//!
//! - [`resp`]: RESP2 requests parsed from a connection's bytes, replies encoded;
//! - [`commands`]: the Redis commands over a [`commands::Store`] (the server's is `kv::v2`).
//!
//! The server itself (`main.rs`, bare metal) gets each connection's bytes from the TCP/IP
//! server (`net::v1`, shared memory) and feeds them through these.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod commands;
pub mod resp;
