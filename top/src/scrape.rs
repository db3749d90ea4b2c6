//! Fetching `/metrics` from a pincore-server admin address over plain HTTP/1.1 (the edge: a socket with
//! deadlines). A server that does not answer is an error to show, never a panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest scrape read (a server with many commands and shards writes a few hundred KiB).
const MAX_BYTES: u64 = 32 << 20;

/// `GET /metrics` from `address` (`host:port`), within `timeout` for the connect and again for the answer.
pub fn fetch_metrics(address: &str, timeout: Duration) -> Result<String, String> {
    let addr: SocketAddr = address
        .to_socket_addrs()
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("{address}: connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nUser-Agent: pincore-top\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{address}: send: {e}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_BYTES)
        .read_to_end(&mut response)
        .map_err(|e| format!("{address}: read: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{address}: not an HTTP answer"))?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("{address}: /metrics answered {status}"));
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        })
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    if length.is_some_and(|n| n != body.len()) {
        return Err(format!("{address}: the answer was cut short"));
    }
    Ok(body.to_string())
}
