//! The Redis commands the front end answers, over a [`Store`] (in the server: `kv::v2` calls).
//!
//! PING, ECHO, GET, SET, DEL, EXISTS, KEYS, DBSIZE, INFO, SELECT 0, QUIT. Any other command gets
//! Redis's own reply for unknown commands (`-ERR unknown command 'x', with args beginning with:
//! ...`). Keys must be what `kv::v2` stores (UTF-8, 1 to 32 bytes) and values at most 256 bytes;
//! others get an error reply, and the connection stays open. A store that fails (the request
//! was aborted, the server restarted, the store is full) gets `-ERR` with the reason.

use crate::resp::{Reply, Request};
use ipc_schema::kv::v2::{KEY_LEN, Key, VALUE_LEN, Value};

/// Why the store could not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// No room for another key.
    Full,
    /// The store is unreachable or the request failed in transit (the reason).
    Unavailable(&'static str),
}

/// The key-value store the commands run over.
pub trait Store {
    fn get(&mut self, key: &Key) -> Result<Option<Value>, StoreError>;
    fn set(&mut self, key: &Key, value: &Value) -> Result<(), StoreError>;
    /// Whether the key was there.
    fn delete(&mut self, key: &Key) -> Result<bool, StoreError>;
    /// Every key, in ascending byte order, to `visit`.
    fn keys(&mut self, visit: &mut dyn FnMut(&Key)) -> Result<(), StoreError>;
    fn count(&mut self) -> Result<u64, StoreError>;
    /// The front end's build, which INFO reports (`axolotl_build`): 1, or 2 once a wait-free
    /// patch moved the serving thread to the `resp-v2` build.
    fn build(&self) -> u64 {
        1
    }
}

/// What to do with the connection after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    KeepOpen,
    /// Send the reply, then close (QUIT).
    Close,
}

fn store_error(reply: &mut Reply, e: StoreError) {
    match e {
        StoreError::Full => reply.error(b"OOM the key-value store is full"),
        StoreError::Unavailable(why) => {
            reply.raw(b"-ERR key-value store: ");
            reply.raw(why.as_bytes());
            reply.raw(b"\r\n");
        }
    }
}

fn key(bytes: &[u8]) -> Option<Key> {
    if bytes.is_empty() || bytes.len() > KEY_LEN {
        return None;
    }
    let text = core::str::from_utf8(bytes).ok()?;
    Key::try_from(text).ok()
}

fn wrong_arity(reply: &mut Reply, name: &[u8]) {
    reply.raw(b"-ERR wrong number of arguments for '");
    quoted(reply, name);
    reply.raw(b"' command\r\n");
}

/// Bytes for an error message: printable ASCII as is, others as `\xNN`, at most 64 bytes.
fn quoted(reply: &mut Reply, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes.iter().take(64) {
        if (0x20..0x7f).contains(&b) && b != b'\'' {
            reply.raw(&[b]);
        } else {
            reply.raw(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        }
    }
}

fn bad_key(reply: &mut Reply) {
    reply.raw(b"-ERR invalid key: keys are UTF-8, 1 to ");
    reply.decimal(KEY_LEN as i64);
    reply.raw(b" bytes\r\n");
}

/// Glob matching as Redis's KEYS does it: `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative with one backtrack point for the last `*` (enough for these patterns).
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class(pattern, p, text[t]),
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(p + 2),
            Some(&c) => (c == text[t]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((sp, st))) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at `pattern[at]` against `c`: the index after it if it matches.
fn class(pattern: &[u8], at: usize, c: u8) -> Option<usize> {
    let mut i = at + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(i) {
            None => return None,
            Some(b']') => break,
            Some(b'\\') if i + 1 < pattern.len() => {
                matched |= pattern[i + 1] == c;
                i += 2;
            }
            Some(&lo)
                if pattern.get(i + 1) == Some(&b'-')
                    && i + 2 < pattern.len()
                    && pattern[i + 2] != b']' =>
            {
                let hi = pattern[i + 2];
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                matched |= (lo..=hi).contains(&c);
                i += 3;
            }
            Some(&x) => {
                matched |= x == c;
                i += 1;
            }
        }
    }
    (matched != negate).then_some(i + 1)
}

/// Runs `request` (parsed from `input`) over `store`, writing its reply.
pub fn execute(store: &mut dyn Store, input: &[u8], request: &Request, reply: &mut Reply) -> After {
    let Some(name) = request.arg(input, 0) else {
        // An empty request (a blank inline line) gets no reply, as in Redis.
        return After::KeepOpen;
    };
    let mut upper = [0u8; 16];
    let command: &[u8] = if name.len() <= upper.len() {
        for (u, c) in upper.iter_mut().zip(name) {
            *u = c.to_ascii_uppercase();
        }
        &upper[..name.len()]
    } else {
        name
    };
    let argc = request.len();
    let arg = |i: usize| request.arg(input, i).unwrap_or_default();
    match command {
        b"PING" => match argc {
            1 => reply.simple("PONG"),
            2 => reply.bulk(arg(1)),
            _ => wrong_arity(reply, name),
        },
        b"ECHO" if argc == 2 => reply.bulk(arg(1)),
        b"QUIT" => {
            reply.simple("OK");
            return After::Close;
        }
        b"SELECT" if argc == 2 => {
            if arg(1) == b"0" {
                reply.simple("OK");
            } else {
                reply.error(b"ERR DB index is out of range");
            }
        }
        b"GET" if argc == 2 => match key(arg(1)) {
            None => reply.null(),
            Some(k) => match store.get(&k) {
                Ok(Some(v)) => reply.bulk(&v),
                Ok(None) => reply.null(),
                Err(e) => store_error(reply, e),
            },
        },
        b"SET" if argc == 3 => match (key(arg(1)), Value::from_slice(arg(2))) {
            (None, _) => bad_key(reply),
            (_, Err(())) => {
                reply.raw(b"-ERR value too long: at most ");
                reply.decimal(VALUE_LEN as i64);
                reply.raw(b" bytes\r\n");
            }
            (Some(k), Ok(v)) => match store.set(&k, &v) {
                Ok(()) => reply.simple("OK"),
                Err(e) => store_error(reply, e),
            },
        },
        b"SET" if argc > 3 => reply.error(b"ERR syntax error"),
        b"DEL" | b"EXISTS" if argc >= 2 => {
            let delete = command == b"DEL";
            let mut n = 0;
            for i in 1..argc {
                let Some(k) = key(arg(i)) else { continue };
                let found = if delete {
                    store.delete(&k)
                } else {
                    store.get(&k).map(|v| v.is_some())
                };
                match found {
                    Ok(true) => n += 1,
                    Ok(false) => {}
                    Err(e) => {
                        store_error(reply, e);
                        return After::KeepOpen;
                    }
                }
            }
            reply.integer(n);
        }
        b"KEYS" if argc == 2 => keys(store, arg(1), reply),
        b"DBSIZE" if argc == 1 => match store.count() {
            Ok(n) => reply.integer(n as i64),
            Err(e) => store_error(reply, e),
        },
        b"INFO" if argc <= 2 => info(store, reply),
        b"ECHO" | b"SELECT" | b"GET" | b"SET" | b"DEL" | b"EXISTS" | b"KEYS" | b"DBSIZE"
        | b"INFO" => wrong_arity(reply, name),
        _ => {
            reply.raw(b"-ERR unknown command '");
            quoted(reply, name);
            reply.raw(b"', with args beginning with: ");
            for i in 1..argc {
                reply.raw(b"'");
                quoted(reply, arg(i));
                reply.raw(b"' ");
            }
            reply.raw(b"\r\n");
        }
    }
    After::KeepOpen
}

fn keys(store: &mut dyn Store, pattern: &[u8], reply: &mut Reply) {
    // Two passes over the store: count, then write (the reply's length comes first).
    let mut n = 0;
    if let Err(e) = store.keys(&mut |k| n += usize::from(glob(pattern, k.as_bytes()))) {
        return store_error(reply, e);
    }
    let start = reply.len();
    reply.array(n);
    let mut written = 0;
    let result = store.keys(&mut |k| {
        if written < n && glob(pattern, k.as_bytes()) {
            reply.bulk(k.as_bytes());
            written += 1;
        }
    });
    if let Err(e) = result {
        reply.truncate(start);
        return store_error(reply, e);
    }
    // The store changed between the passes (another client): pad so the reply stays valid.
    while written < n {
        reply.null();
        written += 1;
    }
    if reply.bytes().is_none() {
        reply.truncate(start);
        reply.error(b"ERR reply too long for the connection's buffer");
    }
}

fn info(store: &mut dyn Store, reply: &mut Reply) {
    let mut text = [0u8; 256];
    let mut body = Reply::new(&mut text);
    body.raw(b"# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nos:Axolotl\r\n");
    body.raw(b"axolotl_store:kv::v2 (transactional)\r\naxolotl_build:");
    body.decimal(store.build() as i64);
    body.raw(b"\r\n# Keyspace\r\n");
    if let Ok(n) = store.count() {
        body.raw(b"db0:keys=");
        body.decimal(n as i64);
        body.raw(b",expires=0,avg_ttl=0\r\n");
    }
    match body.bytes() {
        Some(bytes) => reply.bulk(bytes),
        None => reply.error(b"ERR info too long"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Parsed, parse};
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Map {
        map: BTreeMap<String, Vec<u8>>,
        fail: Option<StoreError>,
    }

    impl Store for Map {
        fn get(&mut self, key: &Key) -> Result<Option<Value>, StoreError> {
            if let Some(e) = self.fail {
                return Err(e);
            }
            Ok(self
                .map
                .get(key.as_str())
                .map(|v| Value::from_slice(v).unwrap()))
        }
        fn set(&mut self, key: &Key, value: &Value) -> Result<(), StoreError> {
            if let Some(e) = self.fail {
                return Err(e);
            }
            self.map.insert(key.to_string(), value.to_vec());
            Ok(())
        }
        fn delete(&mut self, key: &Key) -> Result<bool, StoreError> {
            Ok(self.map.remove(key.as_str()).is_some())
        }
        fn keys(&mut self, visit: &mut dyn FnMut(&Key)) -> Result<(), StoreError> {
            for k in self.map.keys() {
                visit(&Key::try_from(k.as_str()).unwrap());
            }
            Ok(())
        }
        fn count(&mut self) -> Result<u64, StoreError> {
            Ok(self.map.len() as u64)
        }
    }

    fn run(store: &mut Map, input: &str) -> (String, After) {
        let bytes = input.as_bytes();
        let Parsed::Request { request, .. } = parse(bytes) else {
            panic!("{input:?} did not parse");
        };
        let mut buffer = [0u8; 1024];
        let mut reply = Reply::new(&mut buffer);
        let after = execute(store, bytes, &request, &mut reply);
        (
            String::from_utf8_lossy(reply.bytes().unwrap()).into_owned(),
            after,
        )
    }

    fn r(store: &mut Map, input: &str) -> String {
        run(store, input).0
    }

    #[test]
    fn commands() {
        let mut s = Map::default();
        assert_eq!(r(&mut s, "PING\r\n"), "+PONG\r\n");
        assert_eq!(r(&mut s, "ping hi\r\n"), "$2\r\nhi\r\n");
        assert_eq!(r(&mut s, "GET a\r\n"), "$-1\r\n");
        assert_eq!(
            r(&mut s, "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"),
            "+OK\r\n"
        );
        assert_eq!(r(&mut s, "GET a\r\n"), "$1\r\n1\r\n");
        assert_eq!(r(&mut s, "SET b 2\r\n"), "+OK\r\n");
        assert_eq!(r(&mut s, "EXISTS a b c\r\n"), ":2\r\n");
        assert_eq!(r(&mut s, "DBSIZE\r\n"), ":2\r\n");
        assert_eq!(r(&mut s, "KEYS *\r\n"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
        assert_eq!(r(&mut s, "KEYS [^a]\r\n"), "*1\r\n$1\r\nb\r\n");
        assert_eq!(r(&mut s, "DEL a c\r\n"), ":1\r\n");
        assert_eq!(r(&mut s, "DBSIZE\r\n"), ":1\r\n");
        assert!(r(&mut s, "INFO\r\n").contains("db0:keys=1"));
        assert!(r(&mut s, "INFO\r\n").contains("axolotl_build:1\r\n"));
        assert_eq!(run(&mut s, "QUIT\r\n"), ("+OK\r\n".into(), After::Close));
        assert_eq!(r(&mut s, "SELECT 0\r\n"), "+OK\r\n");
    }

    #[test]
    fn errors() {
        let mut s = Map::default();
        assert_eq!(
            r(&mut s, "FLUSHALL now please\r\n"),
            "-ERR unknown command 'FLUSHALL', with args beginning with: 'now' 'please' \r\n"
        );
        assert_eq!(
            r(&mut s, "config\r\n"),
            "-ERR unknown command 'config', with args beginning with: \r\n"
        );
        assert_eq!(
            r(&mut s, "GET\r\n"),
            "-ERR wrong number of arguments for 'GET' command\r\n"
        );
        assert_eq!(r(&mut s, "SET a 1 EX 10\r\n"), "-ERR syntax error\r\n");
        let long_key = format!("SET {} 1\r\n", "k".repeat(33));
        assert!(r(&mut s, &long_key).starts_with("-ERR invalid key"));
        let long_value = format!("SET k {}\r\n", "v".repeat(257));
        assert!(r(&mut s, &long_value).starts_with("-ERR value too long"));
        s.fail = Some(StoreError::Unavailable("aborted"));
        assert_eq!(r(&mut s, "GET a\r\n"), "-ERR key-value store: aborted\r\n");
        s.fail = Some(StoreError::Full);
        assert!(r(&mut s, "SET a 1\r\n").starts_with("-OOM"));
        assert_eq!(
            r(&mut s, "*2\r\n$3\r\nBAD\r\n$2\r\n\x01'\r\n"),
            "-ERR unknown command 'BAD', with args beginning with: '\\x01\\x27' \r\n"
        );
    }

    #[test]
    fn globbing() {
        assert!(glob(b"*", b""));
        assert!(glob(b"key:*", b"key:000012"));
        assert!(!glob(b"key:*", b"ke"));
        assert!(glob(b"h?llo", b"hello"));
        assert!(glob(b"h[ae]llo", b"hallo"));
        assert!(!glob(b"h[^e]llo", b"hello"));
        assert!(glob(b"h[a-c]llo", b"hbllo"));
        assert!(glob(b"*a*b*", b"xxaxxbxx"));
        assert!(!glob(b"*a*b", b"xxaxxbxx"));
        assert!(glob(b"\\*", b"*"));
        assert!(!glob(b"[abc", b"a"));
    }
}
