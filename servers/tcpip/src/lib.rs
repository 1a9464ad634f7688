//! The TCP/IP server's pure logic, host-tested with `cargo test -p tcpip`: which connection is
//! whose, how many bytes each one's receive area holds, and which ones have news for the front
//! end ([`Connections`]). The server (`main.rs`, bare metal) feeds it what smoltcp's sockets say.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use ipc_schema::net::Layout;
use ipc_schema::net::v1::{Conn, Events, NetError};

const N: usize = Layout::CONNECTIONS;

/// What a socket says at one moment (what [`Connections`] compares to decide news).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Bytes received and not yet moved to the receive area.
    pub queued: usize,
    /// Room in its send buffer.
    pub space: usize,
    /// The peer closed or reset it.
    pub closed: bool,
}

/// The connection table.
#[derive(Clone, Debug)]
pub struct Connections {
    /// Bit `c`: connection `c` belongs to the front end (accepted, not yet closed by it).
    owned: u64,
    /// Bit `c`: established, waiting to be accepted.
    acceptable: u64,
    /// Bit `c`: news not yet reported by `events`.
    ready: u64,
    /// Bytes in each receive area.
    staged: [u16; N],
    /// What each connection's socket said at the front end's last `receive`.
    seen: [Status; N],
}

impl Default for Connections {
    fn default() -> Self {
        Self::new()
    }
}

impl Connections {
    pub const fn new() -> Connections {
        Connections {
            owned: 0,
            acceptable: 0,
            ready: 0,
            staged: [0; N],
            seen: [Status {
                queued: 0,
                space: 0,
                closed: false,
            }; N],
        }
    }

    /// Whether the front end holds `c`.
    pub fn owned(&self, c: Conn) -> bool {
        Layout::valid(c) && self.owned & (1 << c) != 0
    }

    /// Bytes in `c`'s receive area.
    pub fn staged(&self, c: Conn) -> usize {
        self.staged
            .get(usize::from(c))
            .map_or(0, |&n| usize::from(n))
    }

    /// What socket `c` says now (after a poll): an established socket nobody owns becomes
    /// acceptable; an owned one has news if, since the front end's last `receive`, bytes
    /// arrived, the peer closed, or (bytes still in its receive area: a request not yet whole or
    /// waiting for room) its send buffer gained room. Returns whether this added
    /// news (the front end's notification is then worth a signal).
    pub fn observe(&mut self, c: Conn, established: bool, now: Status) -> bool {
        if !Layout::valid(c) {
            return false;
        }
        let bit = 1u64 << c;
        if self.owned & bit == 0 {
            let was = self.acceptable & bit != 0;
            if established {
                self.acceptable |= bit;
            } else {
                self.acceptable &= !bit;
            }
            return established && !was;
        }
        let seen = self.seen[usize::from(c)];
        let actionable = (now.queued > 0 && now.queued != seen.queued)
            || (now.closed && !seen.closed)
            || (self.staged(c) > 0 && now.space > seen.space);
        let news = actionable && self.ready & bit == 0;
        if news {
            self.ready |= bit;
        }
        news
    }

    /// The next connection to accept (the lowest id): it is the front end's from now on.
    pub fn accept(&mut self) -> Option<Conn> {
        if self.acceptable == 0 {
            return None;
        }
        let c = self.acceptable.trailing_zeros() as u8;
        let bit = 1u64 << c;
        self.acceptable &= !bit;
        self.owned |= bit;
        self.ready |= bit;
        self.staged[usize::from(c)] = 0;
        self.seen[usize::from(c)] = Status::default();
        Some(c)
    }

    /// What `events` reports, cleared.
    pub fn take_events(&mut self) -> Events {
        let events = Events {
            ready: self.ready & self.owned,
            accept: self.acceptable != 0,
        };
        self.ready = 0;
        events
    }

    /// The first half of `receive(c, consumed)`: checks and drops `consumed` bytes; returns how
    /// many bytes stay (to move from `consumed` to the start of the area).
    pub fn consume(&mut self, c: Conn, consumed: u16) -> Result<usize, NetError> {
        if !self.owned(c) {
            return Err(NetError::BadConnection);
        }
        let i = usize::from(c);
        if consumed > self.staged[i] {
            return Err(NetError::BadLength);
        }
        self.staged[i] -= consumed;
        if consumed > 0 && self.seen[i].queued > 0 {
            // Room made while bytes wait in the socket: worth another refill.
            self.ready |= 1 << c;
        }
        Ok(usize::from(self.staged[i]))
    }

    /// The second half of `receive`: `added` bytes were appended to the area, and the socket
    /// now says `now` (what the front end has seen).
    pub fn refilled(&mut self, c: Conn, added: usize, now: Status) -> usize {
        let i = usize::from(c);
        let staged = (usize::from(self.staged[i]) + added).min(Layout::RX);
        self.staged[i] = staged as u16;
        self.seen[i] = now;
        self.ready &= !(1 << c);
        staged
    }

    /// `close(c)`: the connection is no longer the front end's.
    pub fn close(&mut self, c: Conn) -> Result<(), NetError> {
        if !self.owned(c) {
            return Err(NetError::BadConnection);
        }
        let bit = 1u64 << c;
        self.owned &= !bit;
        self.ready &= !bit;
        self.staged[usize::from(c)] = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(queued: usize, space: usize, closed: bool) -> Status {
        Status {
            queued,
            space,
            closed,
        }
    }

    #[test]
    fn a_connection_goes_accept_receive_close() {
        let mut t = Connections::new();
        assert!(!t.observe(3, false, st(0, 0, false)));
        assert!(t.observe(3, true, st(0, 4096, false)));
        assert!(!t.observe(3, true, st(0, 4096, false)), "reported once");
        assert_eq!(
            t.take_events(),
            Events {
                ready: 0,
                accept: true
            }
        );
        assert_eq!(t.accept(), Some(3));
        assert_eq!(t.accept(), None);
        // Accepting reports it ready once (bytes may have come with the handshake).
        assert_eq!(t.take_events().ready, 1 << 3);
        assert!(t.observe(3, true, st(20, 4096, false)));
        assert_eq!(t.take_events().ready, 1 << 3);
        assert_eq!(t.consume(3, 0), Ok(0));
        assert_eq!(t.refilled(3, 20, st(0, 4096, false)), 20);
        // Nothing changed since the receive: no news, although bytes are staged.
        assert!(!t.observe(3, true, st(0, 4096, false)));
        // Less room (a reply was sent): no news.
        assert!(!t.observe(3, true, st(0, 4000, false)));
        t.refilled(3, 0, st(0, 4000, false));
        // Room freed while bytes wait: news (the front end may be waiting for it).
        assert!(t.observe(3, true, st(0, 4096, false)));
        assert_eq!(t.take_events().ready, 1 << 3);
        assert_eq!(t.consume(3, 21), Err(NetError::BadLength));
        // Everything answered: room freed is no news any more.
        assert_eq!(t.consume(3, 20), Ok(0));
        t.refilled(3, 20, st(0, 4000, false));
        assert_eq!(t.consume(3, 5), Ok(15));
        assert_eq!(t.consume(3, 15), Ok(0));
        assert!(!t.observe(3, true, st(0, 4096, false)));
        t.refilled(3, 20, st(0, 4096, false));
        assert_eq!(t.consume(3, 15), Ok(5));
        assert_eq!(t.close(3), Ok(()));
        assert_eq!(t.close(3), Err(NetError::BadConnection));
        assert_eq!(t.consume(3, 0), Err(NetError::BadConnection));
        assert_eq!(t.take_events().ready, 0);
    }

    #[test]
    fn the_peers_close_is_news_even_without_bytes() {
        let mut t = Connections::new();
        t.observe(0, true, st(0, 10, false));
        t.accept();
        t.take_events();
        t.consume(0, 0).unwrap();
        t.refilled(0, 0, st(0, 10, false));
        assert!(!t.observe(0, true, st(0, 10, false)));
        assert!(t.observe(0, false, st(0, 10, true)));
        assert_eq!(t.take_events().ready, 1);
    }

    #[test]
    fn room_made_while_bytes_wait_is_news() {
        let mut t = Connections::new();
        t.observe(1, true, st(0, 10, false));
        t.accept();
        t.take_events();
        t.consume(1, 0).unwrap();
        // The area filled up and 100 bytes stayed in the socket.
        t.refilled(1, Layout::RX, st(100, 10, false));
        assert!(!t.observe(1, true, st(100, 10, false)));
        assert_eq!(t.consume(1, 50), Ok(Layout::RX - 50));
        assert_eq!(t.take_events().ready, 1 << 1);
    }

    #[test]
    fn bad_ids_are_refused() {
        let mut t = Connections::new();
        assert!(!t.observe(64, true, st(1, 1, false)));
        assert!(!t.owned(200));
        assert_eq!(t.consume(255, 0), Err(NetError::BadConnection));
        assert_eq!(t.close(64), Err(NetError::BadConnection));
    }
}
