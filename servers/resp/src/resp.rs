//! RESP2, the Redis protocol: requests parsed from a connection's input, replies encoded.
//!
//! A request is an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\na\r\n`, what `redis-cli` and
//! `redis-benchmark` send) or an inline command (`PING\r\n`, words separated by spaces). The
//! parser works on whatever bytes have arrived: it says a request is complete (and how many bytes
//! it took), incomplete (wait for more), or malformed (answer the error and close the
//! connection). Arguments are byte ranges into the input, so nothing is copied.
//!
//! Limits: [`MAX_ARGS`] arguments, bulk strings of at most [`MAX_BULK`] bytes, inline lines of
//! at most [`MAX_INLINE`] bytes; anything beyond is malformed. No input makes it panic (tested
//! with every prefix of valid requests and with random bytes).

use core::ops::Range;

/// The most arguments (the command included) of one request.
pub const MAX_ARGS: usize = 16;
/// The longest bulk string of a request.
pub const MAX_BULK: usize = 1024;
/// The longest inline request line.
pub const MAX_INLINE: usize = 1024;

/// A parsed request: its arguments as ranges of the input it was parsed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub args: heapless::Vec<Range<usize>, MAX_ARGS>,
}

impl Request {
    /// Argument `i` (0: the command name) as bytes of `input`.
    pub fn arg<'a>(&self, input: &'a [u8], i: usize) -> Option<&'a [u8]> {
        self.args.get(i).and_then(|r| input.get(r.clone()))
    }

    pub fn len(&self) -> usize {
        self.args.len()
    }

    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }
}

/// What the parser made of the input so far.
// The request's ranges are inline (no allocator); one lives at a time, on the stack.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request, taking the first `used` bytes.
    Request { request: Request, used: usize },
    /// Not a whole request yet.
    Incomplete,
    /// Not RESP: the error message (without `-ERR `) to send before closing.
    Malformed(&'static str),
}

/// The position of the first `\r\n` at or after `from`.
fn line_end(input: &[u8], from: usize) -> Option<usize> {
    let rest = input.get(from..)?;
    rest.windows(2).position(|w| w == b"\r\n").map(|p| from + p)
}

/// A decimal number of at most 9 digits, optionally negative.
fn number(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// Parses the first request of `input`.
pub fn parse(input: &[u8]) -> Parsed {
    match input.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_array(input),
        Some(_) => parse_inline(input),
    }
}

fn parse_array(input: &[u8]) -> Parsed {
    let Some(end) = line_end(input, 1) else {
        return if input.len() > 16 {
            Parsed::Malformed("Protocol error: invalid multibulk length")
        } else {
            Parsed::Incomplete
        };
    };
    let count = match number(&input[1..end]) {
        Some(n) if (0..=MAX_ARGS as i64).contains(&n) => n as usize,
        Some(n) if n < 0 => {
            // A null array: nothing to do, as Redis does.
            return Parsed::Request {
                request: Request::default(),
                used: end + 2,
            };
        }
        _ => return Parsed::Malformed("Protocol error: invalid multibulk length"),
    };
    let mut request = Request::default();
    let mut at = end + 2;
    for _ in 0..count {
        match input.get(at) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(_) => return Parsed::Malformed("Protocol error: expected '$'"),
        }
        let Some(end) = line_end(input, at + 1) else {
            return if input.len() - at > 16 {
                Parsed::Malformed("Protocol error: invalid bulk length")
            } else {
                Parsed::Incomplete
            };
        };
        let len = match number(&input[at + 1..end]) {
            Some(n) if (0..=MAX_BULK as i64).contains(&n) => n as usize,
            _ => return Parsed::Malformed("Protocol error: invalid bulk length"),
        };
        let start = end + 2;
        let stop = start + len;
        if input.len() < stop + 2 {
            return Parsed::Incomplete;
        }
        if &input[stop..stop + 2] != b"\r\n" {
            return Parsed::Malformed("Protocol error: bulk string not terminated by CRLF");
        }
        // `count` is at most MAX_ARGS: the push cannot fail.
        let _ = request.args.push(start..stop);
        at = stop + 2;
    }
    Parsed::Request { request, used: at }
}

fn parse_inline(input: &[u8]) -> Parsed {
    let Some(newline) = input.iter().position(|&b| b == b'\n') else {
        return if input.len() > MAX_INLINE {
            Parsed::Malformed("Protocol error: too big inline request")
        } else {
            Parsed::Incomplete
        };
    };
    if newline > MAX_INLINE {
        return Parsed::Malformed("Protocol error: too big inline request");
    }
    let line_stop = if newline > 0 && input[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut request = Request::default();
    let mut at = 0;
    while at < line_stop {
        if input[at] == b' ' || input[at] == b'\t' {
            at += 1;
            continue;
        }
        let start = at;
        while at < line_stop && input[at] != b' ' && input[at] != b'\t' {
            at += 1;
        }
        if request.args.push(start..at).is_err() {
            return Parsed::Malformed("Protocol error: too many arguments");
        }
    }
    Parsed::Request {
        request,
        used: newline + 1,
    }
}

/// Where replies are written: a bounded buffer that remembers whether anything did not fit.
pub struct Reply<'a> {
    buffer: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Reply<'a> {
    pub fn new(buffer: &'a mut [u8]) -> Reply<'a> {
        Reply {
            buffer,
            len: 0,
            overflow: false,
        }
    }

    /// The bytes written, or `None` if some did not fit.
    pub fn bytes(&self) -> Option<&[u8]> {
        (!self.overflow).then(|| &self.buffer[..self.len])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets everything written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        self.overflow = false;
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        match self.buffer.get_mut(self.len..self.len + bytes.len()) {
            Some(dest) if !self.overflow => {
                dest.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            _ => self.overflow = true,
        }
    }

    /// `n` in decimal, as raw bytes (inside a bulk string or a status line).
    pub fn decimal(&mut self, n: i64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut value = n.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        if n < 0 {
            self.raw(b"-");
        }
        self.raw(&digits[at..]);
    }

    /// `+text`
    pub fn simple(&mut self, text: &str) {
        self.raw(b"+");
        self.raw(text.as_bytes());
        self.raw(b"\r\n");
    }

    /// `-text` (text starts with the error kind, e.g. `ERR ...`); CR and LF become spaces.
    pub fn error(&mut self, text: &[u8]) {
        self.raw(b"-");
        for &b in text {
            self.raw(&[if b == b'\r' || b == b'\n' { b' ' } else { b }]);
        }
        self.raw(b"\r\n");
    }

    /// `:n`
    pub fn integer(&mut self, n: i64) {
        self.raw(b":");
        self.decimal(n);
        self.raw(b"\r\n");
    }

    /// `$len\r\nbytes\r\n`
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.raw(b"$");
        self.decimal(bytes.len() as i64);
        self.raw(b"\r\n");
        self.raw(bytes);
        self.raw(b"\r\n");
    }

    /// `$-1`: no value.
    pub fn null(&mut self) {
        self.raw(b"$-1\r\n");
    }

    /// `*n`: an array of `n` elements follows.
    pub fn array(&mut self, n: usize) {
        self.raw(b"*");
        self.decimal(n as i64);
        self.raw(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(input: &[u8]) -> Vec<Vec<u8>> {
        match parse(input) {
            Parsed::Request { request, .. } => (0..request.len())
                .map(|i| request.arg(input, i).unwrap().to_vec())
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arrays_and_inline() {
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
        assert_eq!(
            args(set),
            vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()]
        );
        assert_eq!(
            parse(set),
            Parsed::Request {
                request: Request {
                    args: [8..11, 17..18, 24..25].into_iter().collect()
                },
                used: set.len()
            }
        );
        assert_eq!(args(b"PING\r\n"), vec![b"PING".to_vec()]);
        assert_eq!(args(b"  get   a \n"), vec![b"get".to_vec(), b"a".to_vec()]);
        assert_eq!(args(b"*1\r\n$0\r\n\r\n"), vec![Vec::<u8>::new()]);
        assert_eq!(args(b"\r\n"), Vec::<Vec<u8>>::new());
        // A second request after the first is left for the next parse.
        let two = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        assert!(matches!(parse(two), Parsed::Request { used: 14, .. }));
        // Binary data in a bulk string, CRLF included.
        assert_eq!(
            args(b"*1\r\n$4\r\n\r\n\r\n\r\n"),
            vec![b"\r\n\r\n".to_vec()]
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
        for n in 0..set.len() {
            assert_eq!(parse(&set[..n]), Parsed::Incomplete, "prefix {n}");
        }
        let inline = b"PING hello\r\n";
        for n in 0..inline.len() {
            assert_eq!(parse(&inline[..n]), Parsed::Incomplete, "prefix {n}");
        }
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"*x\r\n"[..],
            b"*17\r\n",
            b"*1\r\n:1\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$2000\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"*11111111111111111111111",
            b"*1\r\n$1111111111111111111111",
        ] {
            assert!(matches!(parse(bad), Parsed::Malformed(_)), "{bad:?}");
        }
        let long = vec![b'a'; MAX_INLINE + 2];
        assert!(matches!(parse(&long), Parsed::Malformed(_)));
        let many = b"a b c d e f g h i j k l m n o p q\r\n";
        assert!(matches!(parse(many), Parsed::Malformed(_)));
    }

    #[test]
    fn random_input_never_panics() {
        // A small deterministic generator: bytes biased towards RESP's own characters.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"*$:+-\r\n0123456789abcSETGET ";
        for _ in 0..200_000 {
            let mut input = [0u8; 48];
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 48) as usize;
            for byte in input.iter_mut().take(len) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = if seed % 4 == 0 {
                    seed as u8
                } else {
                    alphabet[(seed >> 8) as usize % alphabet.len()]
                };
            }
            if let Parsed::Request { request, used } = parse(&input[..len]) {
                assert!(used <= len);
                for i in 0..request.len() {
                    assert!(request.arg(&input[..len], i).is_some());
                }
            }
        }
    }

    #[test]
    fn encoding() {
        let mut buffer = [0u8; 128];
        let mut reply = Reply::new(&mut buffer);
        reply.simple("OK");
        reply.error(b"ERR bad\r\nthing");
        reply.integer(-42);
        reply.bulk(b"hi");
        reply.null();
        reply.array(2);
        assert_eq!(
            reply.bytes().unwrap(),
            b"+OK\r\n-ERR bad  thing\r\n:-42\r\n$2\r\nhi\r\n$-1\r\n*2\r\n"
        );
        let mut small = [0u8; 4];
        let mut reply = Reply::new(&mut small);
        reply.bulk(b"too long");
        assert_eq!(reply.bytes(), None);
        reply.truncate(0);
        reply.simple("OK");
        assert_eq!(reply.bytes(), None);
        reply.truncate(0);
        reply.integer(7);
        assert_eq!(reply.bytes().unwrap(), b":7\r\n");
    }
}
