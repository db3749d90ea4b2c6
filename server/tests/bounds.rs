//! What one client, or many together, can make a shard hold: a reply is bounded by `max_reply_bytes`, and the
//! read buffers of all of a shard's connections by `max_read_buffer_bytes_per_shard`.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{closed_by_peer, Server};

fn server(limits: &str) -> Server {
    Server::start_from(
        &format!(
            "shards: {{cpus: \"0\"}}\nservices:\n  resp: {{listen: 127.0.0.1:0}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\nlimits:\n{limits}timeouts: {{idle_ms: 10000, request_ms: 10000}}\n"
        ),
        &[],
    )
}

/// Reads until the peer closes (or 5 s pass) and returns everything it sent.
fn read_to_close(stream: &mut std::net::TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut all = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    all
}

#[test]
fn a_reply_past_max_reply_bytes_is_an_error_and_closes_the_connection() {
    let s =
        server("  max_bulk_len: 10000\n  max_request_bytes: 100000\n  max_reply_bytes: 30000\n");
    let value = "v".repeat(10_000);
    for i in 0..5 {
        assert_eq!(s.cli(&["SET", &format!("k{i}"), &value]), "OK");
    }
    // Two values fit; five (50 KB) do not.
    assert_eq!(s.cli(&["MGET", "k0", "k1"]).len(), 2 * 10_000 + 1);
    let mut stream = s.connect();
    stream
        .write_all(b"PING\r\nMGET k0 k1 k2 k3 k4\r\nPING\r\n")
        .unwrap();
    let reply = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert_eq!(
        reply, "+PONG\r\n-ERR reply larger than limits.max_reply_bytes; closing\r\n",
        "nothing of the big reply is sent, and nothing after it"
    );
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"reply_too_large\",shard=\"total\"}"),
        1.0
    );
    s.assert_healthy();
}

/// A collection's reply is bounded like any other, whatever the collection's size or the count asked for,
/// also when it is queued behind a reply that waits for every shard (INFO).
#[test]
fn a_collection_reply_past_max_reply_bytes_is_an_error_and_closes_the_connection() {
    let s =
        server("  max_bulk_len: 10000\n  max_request_bytes: 100000\n  max_reply_bytes: 30000\n");
    for batch in 0..5 {
        let mut push = vec!["RPUSH".to_string(), "list".to_string()];
        push.extend((0..1000).map(|i| format!("element:{batch}{i:04}")));
        let push: Vec<&str> = push.iter().map(String::as_str).collect();
        assert_eq!(s.cli(&push), ((batch + 1) * 1000).to_string());
    }
    assert_eq!(s.cli(&["HSET", "hash", "f", "v"]), "1");
    for request in [
        &b"PING\r\nLRANGE list 0 -1\r\nPING\r\n"[..],
        b"PING\r\nHRANDFIELD hash -9223372036854775807\r\nPING\r\n",
        b"PING\r\nSRANDMEMBER nothing 5\r\nINFO server\r\nLRANGE list 0 -1\r\nPING\r\n",
    ] {
        let mut stream = s.connect();
        stream.write_all(request).unwrap();
        let reply = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
        assert!(reply.starts_with("+PONG\r\n"), "{reply}");
        assert!(
            reply.ends_with("-ERR reply larger than limits.max_reply_bytes; closing\r\n")
                && !reply.contains("element:"),
            "nothing of the big reply is sent, and nothing after it: {:?}",
            &reply[..reply.len().min(300)]
        );
    }
    assert_eq!(s.cli(&["LLEN", "list"]), "5000");
    s.assert_healthy();
}

#[test]
fn the_read_buffers_of_a_shard_are_bounded_together() {
    // Each connection may buffer a 200 KB command, but the shard only 300 KB beyond 16 KiB per connection.
    let s = server(
        "  max_bulk_len: 190000\n  max_request_bytes: 200000\n  max_read_buffer_bytes_per_shard: 300000\n",
    );
    let partial = |stream: &mut std::net::TcpStream| {
        // A SET whose value is announced as 190 KB and sent only in part: its bytes stay buffered.
        stream
            .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$190000\r\n")
            .unwrap();
        stream.write_all(&vec![b'x'; 120_000]).unwrap();
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = s.connect();
        partial(&mut stream);
        held.push(stream);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two fit (each grows its buffer to 128 KiB: 112 KiB counted); the later ones are refused.
    let mut refused = 0;
    for stream in &mut held[2..] {
        let reply = String::from_utf8_lossy(&read_to_close(stream)).into_owned();
        if reply.contains("read buffers are full") {
            refused += 1;
        }
    }
    assert_eq!(refused, 2);
    assert!(!closed_by_peer(&mut held[0], Duration::from_millis(100)));
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"read_buffers_full\",shard=\"total\"}"),
        2.0
    );
    // Closing the holders gives their share back: a whole big SET goes through again.
    held.clear();
    std::thread::sleep(Duration::from_millis(200));
    let mut stream = s.connect();
    stream
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$190000\r\n")
        .unwrap();
    stream.write_all(&vec![b'y'; 190_000]).unwrap();
    stream.write_all(b"\r\n").unwrap();
    let mut ok = [0u8; 5];
    stream.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
}

#[test]
fn clients_that_never_read_pin_little_memory_however_much_they_ask_for() {
    // Each client pipelines 400 GETs of a 1 MiB value and never reads a byte of the replies: 400 MiB each
    // if replies were queued by count. A connection holds at most one flush's worth of replies
    // (256 KiB plus one reply) while the kernel's socket buffers are full, so 8 of them pin a few MiB.
    // A shard per CPU (the default): when requests were forwarded to the shard owning the key, replies from
    // the other shard queued by count (512 per connection), 2.35 GiB for 8 such clients.
    let s = Server::start_from(
        "services:\n  resp: {listen: 127.0.0.1:0}\n  echo: {listen: 127.0.0.1:0}\n  admin: {listen: 127.0.0.1:0}\nlimits: {max_bulk_len: 2000000, max_request_bytes: 4000000}\n",
        &[],
    );
    let value = vec![b'v'; 1 << 20];
    let mut set = s.connect();
    let mut request = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    request.extend_from_slice(&value);
    request.extend_from_slice(b"\r\n");
    set.write_all(&request).unwrap();
    assert_eq!(support::read_at_least(&mut set, 5), b"+OK\r\n");
    let before = s.rss_kib();

    let pipeline = b"GET big\r\n".repeat(400);
    let mut attackers: Vec<_> = (0..8)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(&pipeline).unwrap();
            c
        })
        .collect();
    // Give the shard time to run every command it will run and fill every socket buffer.
    std::thread::sleep(Duration::from_millis(1500));
    let pinned = s.rss_kib().saturating_sub(before) << 10;
    eprintln!("8 clients that never read pin {} KiB", pinned >> 10);
    assert!(
        pinned < 64 << 20,
        "8 clients that never read pin {} MiB of the server's memory",
        pinned >> 20
    );
    // The server still answers everyone else at once.
    assert_eq!(s.cli(&["PING"]), "PONG");
    for c in &mut attackers {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
    s.assert_healthy();
}
