//! Hostile and broken clients: each gets its documented outcome, and the server stays healthy afterwards.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{closed_by_peer, read_at_least, Server, DEFAULT_TIMEOUTS};

const SMALL_LIMITS: &str = "  max_connections_per_shard: 100\n  max_connections_per_ip: 100\n  max_bulk_len: 1024\n  max_array_len: 16\n  max_inline_len: 256\n  max_request_bytes: 4096\n";

#[test]
fn oversized_bulk_is_refused_from_its_header_and_the_connection_closed() {
    let s = Server::start_with(SMALL_LIMITS, DEFAULT_TIMEOUTS);
    let mut stream = s.connect();
    // Only the header is sent: the server must not wait for (or buffer) the 1 GB it announces.
    stream
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000000\r\n")
        .unwrap();
    let reply = read_at_least(&mut stream, 1 << 20);
    assert_eq!(reply, b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed_by_peer(&mut stream, Duration::from_secs(2)));
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"bulk_too_long\",shard=\"total\"}"),
        1.0
    );
    s.assert_healthy();
}

#[test]
fn giant_array_header_is_refused() {
    let s = Server::start_with(SMALL_LIMITS, DEFAULT_TIMEOUTS);
    let reply = s.round_trip(b"*2147483647\r\n", 1 << 20);
    assert_eq!(reply, b"-ERR Protocol error: invalid multibulk length\r\n");
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"array_too_long\",shard=\"total\"}"),
        1.0
    );
    s.assert_healthy();
}

#[test]
fn garbage_gets_an_error_and_a_close() {
    let s = Server::start_with(SMALL_LIMITS, DEFAULT_TIMEOUTS);
    let mut stream = s.connect();
    stream.write_all(b"*1\r\n\x00\xff\xfegarbage\r\n").unwrap();
    let reply = read_at_least(&mut stream, 1 << 20);
    assert!(
        reply.starts_with(b"-ERR Protocol error"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(closed_by_peer(&mut stream, Duration::from_secs(2)));
    // A long inline line without a newline is cut off at max_inline_len.
    let reply = s.round_trip(&[b'a'; 600], 1 << 20);
    assert_eq!(reply, b"-ERR Protocol error: too big inline request\r\n");
    // Random bytes in many shapes: every connection ends with an error or a close, never a crash.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20 {
        let junk: Vec<u8> = (0..200)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 256) as u8
            })
            .collect();
        let mut stream = TcpStream::connect(s.resp).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let _ = stream.write_all(&junk);
        let _ = read_at_least(&mut stream, 1 << 16);
    }
    s.assert_healthy();
}

#[test]
fn request_too_large_for_the_buffer_is_refused() {
    let s = Server::start_with(SMALL_LIMITS, DEFAULT_TIMEOUTS);
    let mut request = b"*16\r\n$3\r\nSET\r\n".to_vec();
    for _ in 0..15 {
        request.extend_from_slice(b"$1000\r\n");
        request.extend_from_slice(&[b'x'; 1000]);
        request.extend_from_slice(b"\r\n");
    }
    let mut stream = s.connect();
    let _ = stream.write_all(&request);
    let reply = read_at_least(&mut stream, 1 << 20);
    assert!(
        reply.starts_with(b"-ERR request larger than limits.max_request_bytes"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"request_too_large\",shard=\"total\"}"),
        1.0
    );
    s.assert_healthy();
}

#[test]
fn half_sent_request_is_closed_after_the_request_deadline() {
    // request_ms is 300 in the test configuration, idle_ms 10 s.
    let s = Server::start();
    let mut stream = s.connect();
    let started = Instant::now();
    stream.write_all(b"*2\r\n$3\r\nGET\r\n$10\r\nabc").unwrap();
    let reply = read_at_least(&mut stream, 1 << 20);
    let took = started.elapsed();
    assert!(
        reply.starts_with(b"-ERR request not completed"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"request_timeout\",shard=\"total\"}"),
        1.0
    );
    // Trickling one byte at a time does not extend the deadline: the connection is closed long before the
    // 10 s idle timeout although a byte arrives every 20 ms.
    let mut stream = s.connect();
    let started = Instant::now();
    let mut closed = false;
    for byte in b"*2\r\n$3\r\nGET\r\n$100\r\n".iter().cycle().take(100) {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    assert!(closed || closed_by_peer(&mut stream, Duration::from_secs(2)));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "closed only after {:?}",
        started.elapsed()
    );
    s.assert_healthy();
}

#[test]
fn idle_connections_are_closed() {
    let s = Server::start_with(
        support::DEFAULT_LIMITS,
        "  idle_ms: 300\n  request_ms: 300\n",
    );
    let mut stream = s.connect();
    assert!(closed_by_peer(&mut stream, Duration::from_secs(3)));
    assert!(s.metric("pincore_errors_total{reason=\"idle_timeout\",shard=\"total\"}") >= 1.0);
    s.assert_healthy();
}

/// The idle deadline restarts with every read: a client that sends a command every 100 ms under a 300 ms idle
/// timeout keeps its connection for well over the timeout.
#[test]
fn active_connections_outlive_the_idle_timeout() {
    let s = Server::start_with(
        support::DEFAULT_LIMITS,
        "  idle_ms: 300\n  request_ms: 300\n",
    );
    let mut stream = s.connect();
    for i in 0..12 {
        stream.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_at_least(&mut stream, 7), b"+PONG\r\n", "reply {i}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"idle_timeout\",shard=\"total\"}"),
        0.0
    );
    assert!(closed_by_peer(&mut stream, Duration::from_secs(3)));
    s.assert_healthy();
}

#[test]
fn connection_flood_past_the_limit_is_rejected_and_counted() {
    // 2 per IP per shard: a flood of 40 connections from 127.0.0.1 mostly gets closed at once.
    let limits = "  max_connections_per_shard: 100\n  max_connections_per_ip: 2\n";
    let s = Server::start_with(limits, DEFAULT_TIMEOUTS);
    let mut held = Vec::new();
    for _ in 0..40 {
        if let Ok(stream) = TcpStream::connect(s.resp) {
            held.push(stream);
        }
    }
    let mut answered = 0;
    for stream in held.iter_mut() {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        if stream.write_all(b"PING\r\n").is_ok() && read_at_least(stream, 7) == b"+PONG\r\n" {
            answered += 1;
        }
    }
    let shards = s
        .http_get("/metrics")
        .1
        .lines()
        .filter(|l| l.starts_with("pincore_shard_info{"))
        .count();
    assert!(
        answered >= 1 && answered <= 2 * shards,
        "{answered} of 40 answered with {shards} shards"
    );
    let rejected = s.metric(
        "pincore_connections_rejected_total{service=\"resp\",reason=\"per_ip\",shard=\"total\"}",
    );
    assert_eq!(rejected as usize, 40 - answered);
    drop(held);
    // Slots free up once the flood is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.metric("pincore_connections_open{service=\"resp\",shard=\"total\"}") > 0.0 {
        assert!(Instant::now() < deadline, "connections never closed");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.assert_healthy();
}
