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

/// A socket to `to` from the loopback address `from` (127.0.0.0/8 all reach loopback; each is its own peer IP).
fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&std::net::SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// /healthz from `from` on a fresh connection: the status and how long it took.
fn healthz_from(s: &Server, from: [u8; 4]) -> (u16, Duration) {
    use std::io::Read;
    let start = Instant::now();
    let Ok(mut stream) = connect_from(from, s.admin) else {
        return (0, start.elapsed());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let status = String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, start.elapsed())
}

/// 130 idle sockets used to fill the admin port's 64-per-shard cap and hold it for the 300 s idle timeout,
/// so /healthz reset for everyone. Now one address holds at most 8 per shard, the oldest idle one making
/// room for its next connection, and at the shard cap the longest-idle connection gives way.
#[test]
fn idle_sockets_cannot_lock_out_the_admin_port() {
    let s = Server::start_with(support::DEFAULT_LIMITS, DEFAULT_TIMEOUTS);
    // From the same address as the scrape that follows.
    let flood: Vec<TcpStream> = (0..130)
        .filter_map(|_| connect_from([127, 0, 0, 1], s.admin).ok())
        .collect();
    // From 19 other addresses, 8 each: more than both shards' 64 slots together.
    let others: Vec<TcpStream> = (2..=20u8)
        .flat_map(|last| (0..8).map(move |_| last))
        .filter_map(|last| connect_from([127, 0, 0, last], s.admin).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // let both shards accept the lot
    for from in [[127, 0, 0, 1], [127, 0, 0, 21], [127, 0, 0, 2]] {
        let (status, took) = healthz_from(&s, from);
        assert_eq!(status, 200, "/healthz from {from:?}\n{}", s.log());
        assert!(took < Duration::from_secs(2), "/healthz took {took:?}");
    }
    assert!(s.metric("pincore_errors_total{reason=\"admin_idle_evicted\",shard=\"total\"}") >= 1.0);
    drop((flood, others));
    s.assert_healthy();
}

#[test]
fn idle_admin_connections_close_after_their_own_short_timeout() {
    let s = Server::start_with(
        support::DEFAULT_LIMITS,
        "  idle_ms: 60000\n  admin_idle_ms: 300\n  request_ms: 300\n",
    );
    let mut admin = TcpStream::connect(s.admin).unwrap();
    let mut resp = s.connect();
    assert!(closed_by_peer(&mut admin, Duration::from_secs(3)));
    // The data port keeps its own, long idle timeout.
    resp.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_at_least(&mut resp, 7), b"+PONG\r\n");
}
