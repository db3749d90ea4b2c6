//! Reload and shutdown: SIGHUP applies live settings or keeps the running ones; SIGTERM drains and exits 0.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{closed_by_peer, read_at_least, Server, DEFAULT_LIMITS, DEFAULT_TIMEOUTS};

fn set_with_value(len: usize) -> Vec<u8> {
    let mut request = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${len}\r\n").into_bytes();
    request.extend(std::iter::repeat_n(b'v', len));
    request.extend_from_slice(b"\r\n");
    request
}

fn wait_for_log(s: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "log never said {needle:?}:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_applies_a_changed_limit_on_every_shard() {
    let s = Server::start();
    assert_eq!(s.round_trip(&set_with_value(100), 5), b"+OK\r\n");
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    // A smaller bulk limit (live) and a different resp port (needs a restart).
    let changed = text
        .replace("limits:\n", "limits:\n  max_bulk_len: 50\n")
        .replace("resp: {listen: 127.0.0.1:0}", "resp: {listen: 127.0.0.1:1}");
    std::fs::write(&s.config_path, changed).unwrap();
    s.process.signal(libc::SIGHUP);
    wait_for_log(&s, "configuration reloaded");
    assert!(s.log().contains("needs a restart"), "{}", s.log());
    // Several connections, so both shards' listeners are exercised.
    for _ in 0..8 {
        assert_eq!(
            s.round_trip(&set_with_value(100), 64),
            b"-ERR Protocol error: invalid bulk length\r\n"
        );
        assert_eq!(s.round_trip(&set_with_value(10), 5), b"+OK\r\n");
    }
    let (_, config) = s.http_get("/config");
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["limits"]["max_bulk_len"], 50);
    // The port change was not applied: the running port is still served and reported.
    assert_eq!(config["services"]["resp"]["listen"], "127.0.0.1:0");
    assert_eq!(s.round_trip(b"PING\r\n", 7), b"+PONG\r\n");
}

#[test]
fn sighup_with_a_broken_file_keeps_the_running_configuration() {
    let s = Server::start();
    std::fs::write(&s.config_path, "limits:\n  max_bulk_len: [oops\n").unwrap();
    s.process.signal(libc::SIGHUP);
    wait_for_log(&s, "reload failed");
    assert!(
        s.log().contains("server.yaml:"),
        "the error names the file and line:\n{}",
        s.log()
    );
    assert_eq!(s.round_trip(&set_with_value(1000), 5), b"+OK\r\n");
    let (status, config) = s.http_get("/config");
    assert_eq!(status, 200);
    assert!(config.contains("\"max_bulk_len\": 8388608"), "{config}");
    s.assert_healthy();
}

#[test]
fn sigterm_answers_what_was_received_then_exits_zero() {
    let mut s = Server::start_with(DEFAULT_LIMITS, DEFAULT_TIMEOUTS);
    let mut idle = s.connect();
    let mut busy = s.connect();
    // Both connections are accepted and served before the signal (the drain closes the listeners, which
    // resets connections still waiting in the accept queue).
    for stream in [&mut idle, &mut busy] {
        stream.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_at_least(stream, 7), b"+PONG\r\n");
    }
    let mut pipeline = Vec::new();
    for i in 0..2000 {
        pipeline.extend_from_slice(format!("SET key{i} {i}\r\n").as_bytes());
    }
    busy.write_all(&pipeline).unwrap();
    s.process.signal(libc::SIGTERM);
    let replies = read_at_least(&mut busy, 2000 * 5);
    assert_eq!(
        replies.len(),
        2000 * 5,
        "every received request is answered"
    );
    assert!(
        closed_by_peer(&mut idle, Duration::from_secs(3)),
        "idle connection closed by the drain"
    );
    let status = s
        .process
        .wait_timeout(Duration::from_secs(5))
        .expect("exited within the drain deadline");
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(s.log().contains("shutting down"), "{}", s.log());
    assert!(
        std::net::TcpStream::connect(s.resp).is_err(),
        "still accepting after exit"
    );
}

#[test]
fn systemd_is_told_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let s = Server::start_with_env(
        DEFAULT_LIMITS,
        DEFAULT_TIMEOUTS,
        &[("NOTIFY_SOCKET", socket_path.as_os_str())],
    );
    let next = || {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification within 5 s");
        String::from_utf8_lossy(&buf[..n]).trim().to_string()
    };
    assert_eq!(next(), "READY=1");
    s.process.signal(libc::SIGHUP);
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), "READY=1");
    s.process.signal(libc::SIGTERM);
    assert_eq!(next(), "STOPPING=1");
}

/// SHUTDOWN stops the server as SIGTERM does (exit 0), closing its own connection without a reply; inside
/// MULTI it is refused and aborts the transaction (Redis's `no-multi`), and options that contradict the
/// configuration are refused rather than ignored.
#[test]
fn shutdown_stops_the_server_and_is_refused_inside_multi() {
    let mut s = Server::start_with(DEFAULT_LIMITS, DEFAULT_TIMEOUTS);
    let mut c = support::Client::connect(s.resp);
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line("SET foo bar"), "+QUEUED\r\n");
    assert!(c
        .line("SHUTDOWN")
        .starts_with("-ERR Command not allowed inside a transaction: SHUTDOWN"));
    assert!(c.line("EXEC").starts_with("-EXECABORT"));
    assert_eq!(c.line("EXISTS foo"), ":0\r\n");
    // No persistence directory: nothing is saved on shutdown, so SAVE cannot be honoured.
    assert!(c.line("SHUTDOWN SAVE").starts_with("-ERR SHUTDOWN SAVE"));
    assert_eq!(c.line("SHUTDOWN BOGUS"), "-ERR syntax error\r\n");
    assert_eq!(c.line("PING"), "+PONG\r\n");
    let mut stream = s.connect();
    stream.write_all(b"SHUTDOWN NOSAVE NOW\r\n").unwrap();
    assert!(
        closed_by_peer(&mut stream, Duration::from_secs(5)),
        "SHUTDOWN closes its connection"
    );
    let status = s
        .process
        .wait_timeout(Duration::from_secs(10))
        .expect("exited after SHUTDOWN");
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(s.log().contains("SHUTDOWN received"), "{}", s.log());
}
