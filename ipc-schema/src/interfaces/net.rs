//! `net`: TCP sockets, served by the TCP/IP server (`servers/tcpip`) to one front end
//! (`servers/resp`).
//!
//! Payload bytes never travel in messages. The two servers share one memory region (the image's
//! `[[shared]]` table, mapped by the root task into both), carved by [`Layout`] into one receive
//! area and one send area per connection. Messages carry connection ids, offsets and lengths:
//!
//! - **events**: the server signals the notification the front end [`register`](v1::Server::register)ed
//!   whenever a connection has something new (a connection to accept, received bytes, room in its
//!   send buffer, the peer's close); [`events`](v1::Server::events) says which.
//! - **receive**: [`receive`](v1::Server::receive)`(conn, consumed)` drops the first `consumed`
//!   bytes of the connection's receive area (the front end has handled them), moves the rest to
//!   its start and appends what the socket has received since, as much as fits; it returns the
//!   bytes now in the area.
//! - **send**: the front end writes a reply at the start of the connection's send area and calls
//!   [`send`](v1::Server::send)`(conn, len, consumed)`: the `consumed` bytes of the requests it
//!   answers leave the receive area (as for `receive`), and all `len` bytes go into the socket's
//!   send buffer, or none ([`NetError::WouldBlock`]).
//!
//! A connection has news when bytes arrived since the front end's last `receive`, when its peer
//! closed, or when its receive area still holds bytes (a request not yet whole, or one waiting
//! for room to answer) and its send buffer gained room.
//!
//! - **sync**: the same in batches, one call per round of the front end: the replies of every
//!   connection it served (lengths in the region's outgoing table), the closes, one poll of the
//!   network, and the connections with news, their receive areas refilled and their state in the
//!   region's status table. A round costs two messages however many connections it serves.
//!
//! Connection ids are `0..CONNECTIONS`. A connection id is the front end's from
//! [`accept`](v1::Server::accept) until it calls [`close`](v1::Server::close) (even if the peer
//! reset it meanwhile), so an id is never reused behind its back.

/// The shared region, carved into per-connection areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout;

impl Layout {
    /// Connections at once.
    pub const CONNECTIONS: usize = 64;
    /// A connection's receive area (the longest request the front end can see whole).
    pub const RX: usize = 2048;
    /// A connection's send area (the longest reply one `send` takes).
    pub const TX: usize = 4096;
    /// Bytes of one connection's areas.
    pub const PER_CONNECTION: usize = Self::RX + Self::TX;
    /// Where the status table starts: one [`AreaStatus`] per connection, written by the server
    /// at [`sync`](v1::Server::sync).
    pub const STATUS: usize = Self::CONNECTIONS * Self::PER_CONNECTION;
    /// Where the outgoing table starts: one [`Outgoing`] per connection, written by the front
    /// end before [`sync`](v1::Server::sync).
    pub const OUTGOING: usize = Self::STATUS + Self::CONNECTIONS * AreaStatus::SIZE;
    /// Bytes the region needs.
    pub const BYTES: usize = Self::OUTGOING + Self::CONNECTIONS * Outgoing::SIZE;
    /// Pages the region needs (the image's `pages` must be at least this).
    pub const PAGES: usize = Self::BYTES.div_ceil(4096);

    /// The offset of connection `conn`'s receive area in the region.
    pub const fn rx(conn: u8) -> usize {
        conn as usize * Self::PER_CONNECTION
    }

    /// The offset of connection `conn`'s send area in the region.
    pub const fn tx(conn: u8) -> usize {
        conn as usize * Self::PER_CONNECTION + Self::RX
    }

    /// The offset of connection `conn`'s entry in the status table.
    pub const fn status(conn: u8) -> usize {
        Self::STATUS + conn as usize * AreaStatus::SIZE
    }

    /// The offset of connection `conn`'s entry in the outgoing table.
    pub const fn outgoing(conn: u8) -> usize {
        Self::OUTGOING + conn as usize * Outgoing::SIZE
    }

    /// Whether `conn` names a connection.
    pub const fn valid(conn: u8) -> bool {
        (conn as usize) < Self::CONNECTIONS
    }
}

/// A connection's state as [`sync`](v1::Server::sync) leaves it in the status table (the same
/// as [`v1::Received`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaStatus {
    /// Bytes at the start of its receive area.
    pub len: u16,
    /// Room in its socket's send buffer.
    pub space: u16,
    /// The peer closed or reset it.
    pub closed: bool,
}

impl AreaStatus {
    pub const SIZE: usize = 8;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let [a, b] = self.len.to_le_bytes();
        let [c, d] = self.space.to_le_bytes();
        [a, b, c, d, u8::from(self.closed), 0, 0, 0]
    }

    pub fn decode(bytes: &[u8; Self::SIZE]) -> AreaStatus {
        AreaStatus {
            len: u16::from_le_bytes([bytes[0], bytes[1]]),
            space: u16::from_le_bytes([bytes[2], bytes[3]]),
            closed: bytes[4] != 0,
        }
    }
}

/// What the front end asks [`sync`](v1::Server::sync) to do for one connection: drop the
/// first `consumed` bytes of its receive area, then send the first `len` bytes of its send area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outgoing {
    pub len: u16,
    pub consumed: u16,
}

impl Outgoing {
    pub const SIZE: usize = 4;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let [a, b] = self.len.to_le_bytes();
        let [c, d] = self.consumed.to_le_bytes();
        [a, b, c, d]
    }

    pub fn decode(bytes: &[u8; Self::SIZE]) -> Outgoing {
        Outgoing {
            len: u16::from_le_bytes([bytes[0], bytes[1]]),
            consumed: u16::from_le_bytes([bytes[2], bytes[3]]),
        }
    }
}

/// Version 1.
pub mod v1 {
    use super::super::ids;
    use serde::{Deserialize, Serialize};

    /// A connection id, `0..Layout::CONNECTIONS`.
    pub type Conn = u8;

    /// What happened since the last [`events`](Server::events).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Events {
        /// Bit `c`: connection `c` (accepted) has received bytes, room to send, or was closed
        /// by its peer: worth a [`receive`](Server::receive).
        pub ready: u64,
        /// New connections wait to be [`accept`](Server::accept)ed.
        pub accept: bool,
    }

    /// A connection's state after [`receive`](Server::receive).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Received {
        /// Bytes at the start of its receive area.
        pub len: u16,
        /// Room in its socket's send buffer (what one `send` can take now).
        pub space: u16,
        /// The peer closed or reset it: no more bytes will come.
        pub closed: bool,
    }

    /// Why an op failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum NetError {
        /// No notification registered yet, or no port listened on.
        NotReady,
        /// Not a connection the caller accepted (or already closed).
        BadConnection,
        /// `consumed` or `len` is beyond the area or the bytes it holds.
        BadLength,
        /// The send buffer lacks room for the whole reply; nothing was sent.
        WouldBlock,
        /// Only one front end is served, and it is another caller.
        NotTheFrontEnd,
    }

    impl core::fmt::Display for NetError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                NetError::NotReady => "not ready",
                NetError::BadConnection => "bad connection",
                NetError::BadLength => "bad length",
                NetError::WouldBlock => "would block",
                NetError::NotTheFrontEnd => "not the front end",
            })
        }
    }

    crate::interface! {
        interface net = ids::NET, version 1;

        /// Gives the server the notification it signals when there are events. The first
        /// caller becomes the front end; registering again replaces the notification.
        0 => idempotent fn register() + cap notification -> Result<(), NetError>;
        /// Accept TCP connections on `port` (every connection slot listens).
        1 => idempotent fn listen(port: u16) -> Result<(), NetError>;
        /// The next established connection, if any; it is the caller's until `close`.
        2 => non_idempotent fn accept() -> Result<Option<Conn>, NetError>;
        /// Which accepted connections have news, and whether one waits to be accepted (clears
        /// what it reports).
        3 => non_idempotent fn events() -> Result<Events, NetError>;
        /// Drops the first `consumed` bytes of `conn`'s receive area and refills it from the
        /// socket (see the module documentation).
        4 => non_idempotent fn receive(conn: Conn, consumed: u16) -> Result<Received, NetError>;
        /// Drops the first `consumed` bytes of `conn`'s receive area (the requests these replies
        /// answer), then sends the first `len` bytes of its send area, all or none; returns the
        /// room left in the send buffer.
        5 => non_idempotent fn send(conn: Conn, len: u16, consumed: u16) -> Result<u16, NetError>;
        /// Closes `conn` (after what was sent is delivered); its id may come back from a later
        /// `accept`.
        6 => non_idempotent fn close(conn: Conn) -> Result<(), NetError>;
        /// The batched form of `send`, `close`, `events` and `receive`: for each connection of
        /// `sent`, does what its [`Outgoing`](super::Outgoing) entry says; closes those of
        /// `close`; polls the network once; then, for every connection with news, refills its
        /// receive area and writes its [`AreaStatus`](super::AreaStatus); returns the events.
        7 => non_idempotent fn sync(sent: u64, close: u64) -> Result<Events, NetError>;
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn areas_do_not_overlap_and_fit_the_region() {
        for c in 0..Layout::CONNECTIONS as u8 {
            assert!(Layout::valid(c));
            assert_eq!(Layout::tx(c), Layout::rx(c) + Layout::RX);
            assert!(Layout::tx(c) + Layout::TX <= Layout::BYTES);
            if c > 0 {
                assert_eq!(Layout::rx(c), Layout::tx(c - 1) + Layout::TX);
            }
        }
        assert!(!Layout::valid(Layout::CONNECTIONS as u8));
        assert!(Layout::PAGES * 4096 >= Layout::BYTES);
        assert!(
            Layout::CONNECTIONS <= 64,
            "Events::ready is one bit per connection"
        );
    }
}
