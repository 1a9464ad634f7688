//! A TCP relay on the host's loopback in front of QEMU's forwarded port.
//!
//! QEMU's user networking (libslirp) listens for a `hostfwd` rule with a backlog of one and takes
//! one connection per turn of its main loop. A burst of connects (redis-benchmark opens its 50
//! clients at once) overflows that queue: the host kernel drops the handshakes it cannot queue
//! (`TcpExtListenOverflows`), and those clients wait for SYN-ACK retransmissions, seconds each,
//! before their first request reaches the guest. So `--net` forwards the user's port through this
//! relay: it listens with the kernel's usual backlog and opens its connections to QEMU's port one
//! at a time, a few milliseconds apart, then copies bytes both ways (and half-closes each
//! direction when the other end does). Nothing else changes: the guest still sees QEMU's own
//! connections from 10.0.2.2.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Time between two connects to QEMU's port (libslirp takes one per main-loop turn).
const CONNECT_GAP: Duration = Duration::from_millis(3);
/// How long a connect to QEMU's port is retried (it is refused until QEMU listens).
const CONNECT_PATIENCE: Duration = Duration::from_secs(20);

/// A free TCP port on 127.0.0.1 (bound, read, released: QEMU binds it right after).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Starts relaying `127.0.0.1:listen_port` to `127.0.0.1:upstream_port`, in background threads
/// that live as long as the process.
pub fn start(listen_port: u16, upstream_port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", listen_port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{listen_port}: {e}"))?;
    relay(listener, upstream_port);
    Ok(())
}

/// [`start`] on a port the system picks, bound at once (no other process can take it between
/// choosing and listening), relaying to a free port picked after it (so the two differ, and QEMU
/// can take the second): returns (relay port, upstream port).
pub fn start_on_free_ports() -> Result<(u16, u16), String> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot listen on a free port: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("cannot find the relay's port: {e}"))?
        .port();
    let upstream = free_port()?;
    relay(listener, upstream);
    Ok((port, upstream))
}

/// Relays every connection `listener` accepts to `127.0.0.1:upstream_port`.
fn relay(listener: TcpListener, upstream_port: u16) {
    let connecting = Arc::new(Mutex::new(()));
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let connecting = Arc::clone(&connecting);
            thread::spawn(move || relay_one(client, upstream_port, &connecting));
        }
    });
}

fn connect(port: u16, connecting: &Mutex<()>) -> Option<TcpStream> {
    let _turn = connecting.lock().unwrap_or_else(|p| p.into_inner());
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => {
                thread::sleep(CONNECT_GAP);
                return Some(stream);
            }
            Err(_) if start.elapsed() < CONNECT_PATIENCE => {
                thread::sleep(Duration::from_millis(50))
            }
            Err(_) => return None,
        }
    }
}

fn relay_one(client: TcpStream, upstream_port: u16, connecting: &Mutex<()>) {
    let Some(upstream) = connect(upstream_port, connecting) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client_in), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || copy(client_in, upstream));
    copy(upstream_in, client);
    let _ = up.join();
}

/// Copies until `from` ends, then ends `to`'s write side.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
