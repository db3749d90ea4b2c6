//! HTTP/1.1 request heads as the built-in HTTP services (admin, files) read them: where a head ends in a
//! buffer and what it says (pure functions over bytes), and [`HeadReader`], which reads heads off a
//! connection under the idle and request deadlines. Size limits and replies stay with each service.

use std::time::{Duration, Instant};

use crate::framework::{Connection, ReadError, Service};

/// A connection's unparsed input: heads arriving, pipelined ones waiting.
pub struct HeadReader {
    pub buf: Vec<u8>,
    chunk: Vec<u8>,
    /// When the head now arriving began (the request deadline runs from there).
    started: Option<Instant>,
}

impl HeadReader {
    pub fn new() -> HeadReader {
        HeadReader {
            buf: Vec::with_capacity(1024),
            chunk: vec![0u8; 4096],
            started: None,
        }
    }

    /// Takes the complete head of `end` bytes off the front (see [`head_end`]).
    pub fn take_head(&mut self, end: usize) -> Vec<u8> {
        let head = self.buf[..end].to_vec();
        self.buf.drain(..end);
        self.started = (!self.buf.is_empty()).then(Instant::now);
        head
    }

    /// Reads at most `room` more bytes: within `idle` when no request has begun, else within what is left
    /// of `request` since it began. False when the connection should close: end of input, an error, or a
    /// timeout (counted as `idle_timeout` or `request_timeout`).
    pub async fn fill<S: Service>(
        &mut self,
        conn: &mut Connection<S>,
        room: usize,
        idle: Duration,
        request: Duration,
    ) -> bool {
        let limit = match self.started {
            Some(at) => request.saturating_sub(at.elapsed()),
            None => idle,
        };
        let room = room.min(self.chunk.len());
        conn.set_idle(self.started.is_none() && self.buf.is_empty());
        match conn.read(&mut self.chunk[..room], limit).await {
            Ok(0) => false,
            Ok(n) => {
                conn.set_idle(false);
                self.buf.extend_from_slice(&self.chunk[..n]);
                self.started.get_or_insert_with(Instant::now);
                true
            }
            Err(ReadError::TimedOut) => {
                conn.context().error(if self.started.is_some() {
                    "request_timeout"
                } else {
                    "idle_timeout"
                });
                false
            }
            Err(_) => false,
        }
    }
}

/// One parsed request head, borrowing from the bytes it was parsed from.
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target as sent (origin-form `/path?query`, or anything else the client wrote).
    pub target: &'a str,
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// A non-zero `Content-Length` or any `Transfer-Encoding`: these services take no bodies.
    pub has_body: bool,
    headers: Vec<(&'a str, &'a str)>,
}

/// Why a head could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, not UTF-8, or a header line without a colon: 400.
    Malformed,
    /// More header lines than the caller allows: 431.
    TooManyHeaders,
}

impl<'a> Request<'a> {
    /// The path of an origin-form target: the target up to `?`.
    pub fn path(&self) -> &'a str {
        self.target.split('?').next().unwrap_or(self.target)
    }

    /// The value of the first header called `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// The length of the head at the front of `buf` (up to and including the blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Parses a complete head (as [`head_end`] delimits it) of at most `max_headers` header lines.
pub fn parse_head(head: &[u8], max_headers: usize) -> Result<Request<'_>, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().ok_or(HeadError::Malformed)?.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Err(HeadError::Malformed);
    }
    let mut request = Request {
        method,
        target,
        keep_alive: version == "HTTP/1.1",
        has_body: false,
        headers: Vec::new(),
    };
    for line in lines.filter(|l| !l.is_empty()) {
        if request.headers.len() == max_headers {
            return Err(HeadError::TooManyHeaders);
        }
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                request.keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                request.keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            request.has_body |= value != "0";
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            request.has_body = true;
        }
        request.headers.push((name, value));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse() {
        let r = parse_head(
            b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            64,
        )
        .unwrap();
        assert_eq!(
            (r.method, r.path(), r.keep_alive, r.has_body),
            ("GET", "/metrics", false, false)
        );
        assert_eq!(r.header("host"), Some("a"));
        let r = parse_head(b"GET / HTTP/1.0\r\n\r\n", 64).unwrap();
        assert!(!r.keep_alive);
        assert!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 64)
                .unwrap()
                .has_body
        );
        assert_eq!(
            parse_head(b"garbage\r\n\r\n", 64).err(),
            Some(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nno-colon\r\n\r\n", 64).err(),
            Some(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n\r\n", 1).err(),
            Some(HeadError::TooManyHeaders)
        );
    }

    #[test]
    fn a_head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nGET"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
