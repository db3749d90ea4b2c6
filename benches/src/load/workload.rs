//! What one request is and where its reply ends, per protocol: RESP (GET/SET over a key space), raw echo,
//! and HTTP/1.1 GET.

use std::fmt;

use pincore_resp::{encode_command, skip_reply, Limits};
use serde::{Deserialize, Serialize};

/// The protocol spoken to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Redis protocol: GET and SET on random keys.
    Resp,
    /// Raw bytes echoed back: a reply is as many bytes as the request.
    Echo,
    /// HTTP/1.1 GET with keep-alive, replies framed by Content-Length.
    Http,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Resp => "resp",
            Protocol::Echo => "echo",
            Protocol::Http => "http",
        })
    }
}

/// The requests a run sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    pub protocol: Protocol,
    /// RESP: SET value size; echo: payload size (bytes).
    pub value_size: usize,
    /// RESP: keys are `key:N` for N in `0..keys`.
    pub keys: u64,
    /// RESP: fraction of requests that are SET (the rest are GET), 0.0 to 1.0.
    pub set_ratio: f64,
    /// HTTP: the request path.
    pub path: String,
}

/// The end of one reply at the front of a buffer: its length, and whether the server reported an error.
pub type Framed = Option<(usize, bool)>;

/// A reply the client cannot frame: the connection's byte stream is lost and must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply(pub String);

impl Workload {
    /// Checks the settings before any connection is made.
    pub fn validate(&self) -> Result<(), String> {
        if self.protocol == Protocol::Echo && self.value_size == 0 {
            return Err("--value-size must be at least 1 byte for echo".into());
        }
        if !(0.0..=1.0).contains(&self.set_ratio) {
            return Err(format!(
                "--set-ratio {} is not between 0 and 1",
                self.set_ratio
            ));
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if self.protocol == Protocol::Http && !self.path.starts_with('/') {
            return Err(format!("--path `{}` must start with /", self.path));
        }
        Ok(())
    }

    /// Appends one request to `out`.
    pub fn encode(&self, rng: &mut Rng, value: &[u8], out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Resp => {
                let mut key = *b"key:000000000000";
                let mut n = rng.below(self.keys);
                for digit in key[4..].iter_mut().rev() {
                    *digit = b'0' + (n % 10) as u8;
                    n /= 10;
                }
                if rng.unit() < self.set_ratio {
                    encode_command(out, &[b"SET", &key, value]);
                } else {
                    encode_command(out, &[b"GET", &key]);
                }
            }
            Protocol::Echo => out.extend_from_slice(value),
            Protocol::Http => {
                out.extend_from_slice(b"GET ");
                out.extend_from_slice(self.path.as_bytes());
                out.extend_from_slice(b" HTTP/1.1\r\nHost: pincore-bench\r\n\r\n");
            }
        }
    }

    /// The value (RESP SET) or payload (echo) every request carries.
    pub fn value(&self) -> Vec<u8> {
        vec![b'x'; self.value_size]
    }

    /// Where the first reply in `buf` ends.
    pub fn frame(&self, buf: &[u8], limits: &Limits) -> Result<Framed, BadReply> {
        match self.protocol {
            Protocol::Resp => skip_reply(buf, limits).map_err(|e| BadReply(e.to_string())),
            Protocol::Echo => {
                Ok((buf.len() >= self.value_size).then_some((self.value_size, false)))
            }
            Protocol::Http => frame_http(buf),
        }
    }
}

/// Frames one HTTP/1.1 response by its Content-Length; a 4xx or 5xx status counts as an error.
fn frame_http(buf: &[u8]) -> Result<Framed, BadReply> {
    let Some(head_len) = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        if buf.len() > 64 * 1024 {
            return Err(BadReply("HTTP response head longer than 64 KiB".into()));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len])
        .map_err(|_| BadReply("HTTP response head is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| BadReply(format!("not an HTTP/1.x status line: {status_line:?}")))?;
    let mut body_len = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            body_len = value
                .trim()
                .parse()
                .map_err(|_| BadReply(format!("bad Content-Length: {line:?}")))?;
        } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            return Err(BadReply(
                "chunked responses are not supported: serve with Content-Length".into(),
            ));
        }
    }
    let total = head_len + body_len;
    Ok((buf.len() >= total).then_some((total, status >= 400)))
}

/// A small, fast pseudo-random generator (xorshift64*): key choice and GET/SET mix, reproducible per seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is xorshift's one fixed point.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), with negligible bias for the key spaces used here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(protocol: Protocol, set_ratio: f64) -> Workload {
        Workload {
            protocol,
            value_size: 3,
            keys: 10,
            set_ratio,
            path: "/healthz".into(),
        }
    }

    #[test]
    fn resp_requests_are_get_or_set_on_keys_in_range() {
        let w = workload(Protocol::Resp, 0.0);
        let mut out = Vec::new();
        w.encode(&mut Rng::new(1), b"abc", &mut out);
        let mut args = Vec::new();
        let n = pincore_resp::parse_command(&out, &Limits::default(), &mut args).unwrap();
        assert_eq!(n, Some(out.len()));
        assert_eq!(&out[args[0].clone()], b"GET");
        assert!(out[args[1].clone()].starts_with(b"key:00000000000"));

        let w = workload(Protocol::Resp, 1.0);
        out.clear();
        w.encode(&mut Rng::new(2), b"abc", &mut out);
        pincore_resp::parse_command(&out, &Limits::default(), &mut args).unwrap();
        assert_eq!(&out[args[0].clone()], b"SET");
        assert_eq!(&out[args[2].clone()], b"abc");
    }

    #[test]
    fn resp_replies_are_framed_with_errors_flagged() {
        let w = workload(Protocol::Resp, 0.5);
        let l = Limits::default();
        assert_eq!(w.frame(b"+OK\r\n$1\r\n", &l), Ok(Some((5, false))));
        assert_eq!(w.frame(b"-ERR no\r\n", &l), Ok(Some((9, true))));
        assert_eq!(w.frame(b"$3\r\nab", &l), Ok(None));
        assert!(w.frame(b"?\r\n", &l).is_err());
    }

    #[test]
    fn echo_replies_are_as_long_as_the_payload() {
        let w = workload(Protocol::Echo, 0.0);
        let l = Limits::default();
        assert_eq!(w.frame(b"xx", &l), Ok(None));
        assert_eq!(w.frame(b"xxxx", &l), Ok(Some((3, false))));
    }

    #[test]
    fn http_replies_are_framed_by_content_length() {
        let w = workload(Protocol::Http, 0.0);
        let l = Limits::default();
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        assert_eq!(w.frame(ok, &l), Ok(Some((ok.len(), false))));
        assert_eq!(w.frame(&ok[..ok.len() - 1], &l), Ok(None));
        let missing = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(w.frame(missing, &l), Ok(Some((missing.len(), true))));
        assert!(w.frame(b"SSH-2.0\r\n\r\n", &l).is_err());
    }

    #[test]
    fn validation_names_the_flag() {
        let mut w = workload(Protocol::Echo, 0.0);
        w.value_size = 0;
        assert!(w.validate().unwrap_err().contains("--value-size"));
        let w = workload(Protocol::Resp, 1.5);
        assert!(w.validate().unwrap_err().contains("--set-ratio"));
    }

    #[test]
    fn rng_stays_in_range() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            assert!(r.below(3) < 3);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
