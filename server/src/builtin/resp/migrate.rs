//! MIGRATE's transfer: its arguments read as Redis 7.0 reads them, the request sent to the target (AUTH,
//! SELECT, one RESTORE per key with its remaining TTL) and the target's replies, each wait bounded by the
//! command's timeout.
//!
//! The transfer is blocking socket work, so it runs on the shard's blocking pool, never on the shard; the
//! command ([`super::commands`]'s `migrate`) serializes the keys before it and deletes them after it, under
//! the keys' part locks. Unlike Redis, no connection is cached between MIGRATEs: each opens its own.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::expiry::{NOT_AN_INTEGER, SYNTAX};
use super::store::parse_i64;

/// What MIGRATE was asked to do, its keys by their place in the arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub host: &'a [u8],
    pub port: &'a [u8],
    pub db: i64,
    pub timeout: Duration,
    pub copy: bool,
    pub replace: bool,
    /// AUTH password (`None` user) or AUTH2 username password.
    pub auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    pub keys: Vec<&'a [u8]>,
}

/// Reads `MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password] [AUTH2 username
/// password] [KEYS key ...]` (the name first, arity already checked) in Redis's order: the options first,
/// then the timeout and the database; a timeout of 0 or less means 1000 ms, as in Redis.
pub fn parse<'a>(args: &[&'a [u8]]) -> Result<Request<'a>, &'static [u8]> {
    let mut request = Request {
        host: args[1],
        port: args[2],
        db: 0,
        timeout: Duration::ZERO,
        copy: false,
        replace: false,
        auth: None,
        keys: vec![args[3]],
    };
    let mut j = 6;
    while j < args.len() {
        let option = args[j];
        let more = args.len() - 1 - j;
        if option.eq_ignore_ascii_case(b"COPY") {
            request.copy = true;
        } else if option.eq_ignore_ascii_case(b"REPLACE") {
            request.replace = true;
        } else if option.eq_ignore_ascii_case(b"AUTH") {
            if more < 1 {
                return Err(SYNTAX);
            }
            request.auth = Some((None, args[j + 1]));
            j += 1;
        } else if option.eq_ignore_ascii_case(b"AUTH2") {
            if more < 2 {
                return Err(SYNTAX);
            }
            request.auth = Some((Some(args[j + 1]), args[j + 2]));
            j += 2;
        } else if option.eq_ignore_ascii_case(b"KEYS") {
            if !args[3].is_empty() {
                return Err(b"ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
            }
            request.keys = args[j + 1..].to_vec();
            break;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let timeout = parse_i64(args[5]).ok_or(NOT_AN_INTEGER)?;
    request.db = parse_i64(args[4]).ok_or(NOT_AN_INTEGER)?;
    let timeout = if timeout <= 0 { 1000 } else { timeout };
    request.timeout = Duration::from_millis(timeout as u64);
    Ok(request)
}

/// The argument positions MONITOR shows as `(redacted)`: AUTH's password, AUTH2's user and password.
pub fn secret_positions(args: &[&[u8]]) -> Vec<usize> {
    let mut secret = Vec::new();
    let mut j = 6;
    while j < args.len() {
        let option = args[j];
        if option.eq_ignore_ascii_case(b"AUTH") && j + 1 < args.len() {
            secret.push(j + 1);
            j += 1;
        } else if option.eq_ignore_ascii_case(b"AUTH2") && j + 2 < args.len() {
            secret.extend([j + 1, j + 2]);
            j += 2;
        } else if !option.eq_ignore_ascii_case(b"COPY") && !option.eq_ignore_ascii_case(b"REPLACE")
        {
            break;
        }
        j += 1;
    }
    secret
}

/// Where the keys after KEYS start, if MIGRATE has that option (AUTH's and AUTH2's values are skipped, so a
/// password spelt `KEYS` is not taken for the option), as Redis's `migrateGetKeys` reads it.
pub fn keys_start(args: &[&[u8]]) -> Option<usize> {
    let mut j = 6;
    while j < args.len() {
        let option = args[j];
        if option.eq_ignore_ascii_case(b"AUTH") {
            j += 2;
        } else if option.eq_ignore_ascii_case(b"AUTH2") {
            j += 3;
        } else if option.eq_ignore_ascii_case(b"KEYS") {
            return Some(j + 1);
        } else {
            j += 1;
        }
    }
    None
}

/// One key to send: its name, remaining TTL in milliseconds (0: none) and DUMP payload.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: Vec<u8>,
    pub ttl_ms: u64,
    pub payload: Vec<u8>,
}

/// Everything the blocking transfer needs, owned.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub host: String,
    pub port: String,
    pub db: i64,
    pub timeout: Duration,
    pub replace: bool,
    pub auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
    pub items: Vec<Item>,
}

/// How a transfer ended: the items the target acknowledged (by index), and the error to answer, if any.
/// Acknowledged items count even when a later one failed, as in Redis.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub acknowledged: Vec<usize>,
    pub error: Option<Vec<u8>>,
}

/// Redis's words for a target that could not be reached.
pub const CONNECT_FAILED: &[u8] = b"IOERR error or timeout connecting to the client";
const WRITE_FAILED: &[u8] = b"IOERR error or timeout writing to target instance";
const READ_FAILED: &[u8] = b"IOERR error or timeout reading to target instance";
/// The longest reply line read from the target: AUTH, SELECT and RESTORE answer one short line.
const MAX_LINE: usize = 64 * 1024;

impl Transfer {
    /// The commands sent, in one buffer: AUTH and SELECT if needed, then a RESTORE per item.
    pub fn request(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some((user, password)) = &self.auth {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            args.extend(user.as_deref());
            args.push(password);
            command(&mut out, &args);
        }
        let db = self.db.to_string();
        command(&mut out, &[b"SELECT", db.as_bytes()]);
        for item in &self.items {
            let ttl = item.ttl_ms.to_string();
            let mut args: Vec<&[u8]> = vec![b"RESTORE", &item.key, ttl.as_bytes(), &item.payload];
            if self.replace {
                args.push(b"REPLACE");
            }
            command(&mut out, &args);
        }
        out
    }

    /// Connects, sends the request and reads a reply per command, each step within the timeout (blocking:
    /// run it on the blocking pool).
    pub fn run(&self) -> Outcome {
        let failed = |text: &[u8]| Outcome {
            acknowledged: Vec::new(),
            error: Some(text.to_vec()),
        };
        let Some(mut stream) = self.connect() else {
            return failed(CONNECT_FAILED);
        };
        let _ = stream.set_nodelay(true);
        if stream.set_write_timeout(Some(self.timeout)).is_err()
            || stream.write_all(&self.request()).is_err()
        {
            return failed(WRITE_FAILED);
        }
        let mut replies = Replies {
            stream,
            buffer: Vec::new(),
            timeout: self.timeout,
        };
        let mut refused = None;
        if self.auth.is_some() {
            match replies.line() {
                Some(line) => refused = refusal(&line),
                None => return failed(READ_FAILED),
            }
        }
        match replies.line() {
            Some(line) => refused = refused.or_else(|| refusal(&line)),
            None => return failed(READ_FAILED),
        }
        let mut outcome = Outcome::default();
        for index in 0..self.items.len() {
            let Some(line) = replies.line() else {
                // Keys acknowledged so far were restored: they count; the error is reported.
                outcome.error = outcome.error.or_else(|| Some(READ_FAILED.to_vec()));
                return outcome;
            };
            match refused.clone().or_else(|| refusal(&line)) {
                Some(text) => {
                    outcome.error = outcome.error.or_else(|| {
                        Some([&b"ERR Target instance replied with error: "[..], &text].concat())
                    });
                }
                None => outcome.acknowledged.push(index),
            }
        }
        outcome
    }

    fn connect(&self) -> Option<TcpStream> {
        let deadline = Instant::now() + self.timeout;
        let port: u16 = self.port.parse().ok()?;
        // Name resolution may block too: it is on the blocking pool, and its answers are tried in turn
        // within what is left of the timeout.
        let addresses = (self.host.as_str(), port).to_socket_addrs().ok()?;
        for address in addresses.take(8) {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Ok(stream) = TcpStream::connect_timeout(&address, left) {
                return Some(stream);
            }
        }
        None
    }
}

/// The text of an error reply line (without its `-`), or `None` for any other reply.
fn refusal(line: &[u8]) -> Option<Vec<u8>> {
    line.strip_prefix(b"-").map(<[u8]>::to_vec)
}

/// The target's reply lines, each read within the timeout from when it is waited for.
struct Replies {
    stream: TcpStream,
    buffer: Vec<u8>,
    timeout: Duration,
}

impl Replies {
    /// The next line without its CRLF, or `None` on a timeout, an error, a closed connection or a line
    /// longer than [`MAX_LINE`].
    fn line(&mut self) -> Option<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = self.buffer[..end].to_vec();
                self.buffer.drain(..end + 2);
                return Some(line);
            }
            if self.buffer.len() > MAX_LINE {
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// One command as a RESP array of bulk strings.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<Vec<u8>> {
        text.split(' ')
            .map(|a| {
                if a == "''" {
                    vec![]
                } else {
                    a.as_bytes().to_vec()
                }
            })
            .collect()
    }

    fn parsed(text: &str) -> Result<(bool, bool, Vec<String>, u128), String> {
        let owned = args(text);
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        parse(&refs)
            .map(|r| {
                (
                    r.copy,
                    r.replace,
                    r.keys
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect(),
                    r.timeout.as_millis(),
                )
            })
            .map_err(|e| String::from_utf8_lossy(e).into_owned())
    }

    #[test]
    fn arguments_read_as_redis_reads_them() {
        assert_eq!(
            parsed("migrate h 1 k 0 5000"),
            Ok((false, false, vec!["k".into()], 5000))
        );
        assert_eq!(
            parsed("migrate h 1 '' 0 0 copy REPLACE keys a b"),
            Ok((true, true, vec!["a".into(), "b".into()], 1000))
        );
        assert_eq!(
            parsed("migrate h 1 k 0 10 keys a"),
            Err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string".into())
        );
        assert_eq!(
            parsed("migrate h 1 k 0 10 auth"),
            Err("ERR syntax error".into())
        );
        assert_eq!(
            parsed("migrate h 1 k 0 10 auth2 u"),
            Err("ERR syntax error".into())
        );
        assert_eq!(
            parsed("migrate h 1 k 0 10 bogus"),
            Err("ERR syntax error".into())
        );
        assert_eq!(
            parsed("migrate h 1 k x 10"),
            Err("ERR value is not an integer or out of range".into())
        );
        // Options are judged before numbers, as in Redis.
        assert_eq!(
            parsed("migrate h 1 k x y bogus"),
            Err("ERR syntax error".into())
        );
    }

    #[test]
    fn secrets_are_found_where_redis_redacts_them() {
        let positions = |text: &str| {
            let owned = args(text);
            let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            secret_positions(&refs)
        };
        assert_eq!(positions("migrate h 1 k 9 5000"), Vec::<usize>::new());
        assert_eq!(positions("migrate h 1 k 9 5000 AUTH user"), vec![7]);
        assert_eq!(positions("migrate h 1 k 9 5000 copy AUTH2 u p"), vec![8, 9]);
        assert_eq!(
            positions("migrate h 1 '' 9 5000 KEYS auth x"),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn the_request_is_auth_select_and_a_restore_per_key() {
        let transfer = Transfer {
            host: "h".into(),
            port: "1".into(),
            db: 9,
            timeout: Duration::from_secs(1),
            replace: true,
            auth: Some((Some(b"u".to_vec()), b"p".to_vec())),
            items: vec![Item {
                key: b"k".to_vec(),
                ttl_ms: 0,
                payload: b"x".to_vec(),
            }],
        };
        assert_eq!(
            transfer.request(),
            b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n9\r\n\
              *5\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$1\r\n0\r\n$1\r\nx\r\n$7\r\nREPLACE\r\n"
                .to_vec()
        );
    }
}
