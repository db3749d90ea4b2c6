//! Pub/sub on a server with two shards: messages reach subscribers on every shard in each publisher's order,
//! PUBLISH counts them all, a subscriber that stops reading is closed and counted while memory stays
//! bounded, and a closed subscriber leaves nothing registered. (Reply shapes are checked against
//! redis-server in `parity.rs`.)

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pincore_resp::{encode_command, parse_reply, Limits, Reply};
use support::{closed_by_peer, Server};

const LIMITS: Limits = Limits {
    max_bulk_len: 1 << 30,
    max_array_len: 1 << 20,
    max_inline_len: 1 << 16,
};

/// Two shards (one per CPU of the two the test needs), the given `services.resp.settings` body and
/// `idle_ms`.
fn two_shards(settings: &str, idle_ms: u64) -> Option<Server> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        println!("skipped: needs 2 CPUs to run 2 shards, this machine allows {cpus}");
        return None;
    }
    Some(Server::start_from(
        &format!(
            "shards: {{cpus: \"0-1\"}}\nservices:\n  resp:\n    listen: 127.0.0.1:0\n    settings: {{{settings}}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\ntimeouts: {{idle_ms: {idle_ms}, request_ms: 5000}}\nlog: {{level: debug}}\n"
        ),
        &[],
    ))
}

/// A raw RESP connection that collects replies as owned argument lists.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(server: &Server) -> Client {
        Client {
            stream: server.connect(),
            buf: Vec::new(),
        }
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut request = Vec::new();
        encode_command(&mut request, args);
        self.stream.write_all(&request).expect("send a command");
    }

    /// The next reply: an integer as its digits, a bulk or simple string as its bytes, an array (or push)
    /// flattened one level.
    fn next(&mut self) -> Vec<Vec<u8>> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buf, &LIMITS).expect("a valid reply") {
                let words = flatten(&reply);
                self.buf.drain(..used);
                return words;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("a reply within 5 s");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> Vec<Vec<u8>> {
        self.send(args);
        self.next()
    }

    /// Reads and drops the next `n` replies, errors included.
    fn skip(&mut self, mut n: usize) {
        while n > 0 {
            if let Some((_, used)) = parse_reply(&self.buf, &LIMITS).expect("a valid reply") {
                self.buf.drain(..used);
                n -= 1;
                continue;
            }
            let mut chunk = [0u8; 65536];
            let read = self.stream.read(&mut chunk).expect("a reply within 5 s");
            assert!(read > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..read]);
        }
    }
}

fn flatten(reply: &Reply<'_>) -> Vec<Vec<u8>> {
    match reply {
        Reply::Array(Some(items)) | Reply::Push(items) => {
            items.iter().flat_map(|r| flatten(r)).collect()
        }
        Reply::Integer(n) => vec![n.to_string().into_bytes()],
        Reply::Bulk(Some(b)) | Reply::Simple(b) => vec![b.to_vec()],
        Reply::Error(e) => panic!("error reply: {}", String::from_utf8_lossy(e)),
        _ => vec![Vec::new()],
    }
}

fn numsub(server: &Server, channel: &str) -> Vec<u8> {
    let mut c = Client::connect(server);
    c.call(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()])[1].clone()
}

/// Polls `PUBSUB NUMSUB channel` and `NUMPAT` until both are 0 (unregistering runs as the connection closes
/// on its shard), for at most 5 s.
fn assert_unregistered(server: &Server, channel: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Client::connect(server);
        let numpat = c.call(&[b"PUBSUB", b"NUMPAT"]);
        if numsub(server, channel) == b"0" && numpat == [b"0"] {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions of closed connections are still registered: NUMSUB {channel} {:?}, NUMPAT {numpat:?}",
            String::from_utf8_lossy(&numsub(server, channel))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn messages_reach_subscribers_on_every_shard_in_publish_order() {
    let Some(s) = two_shards("", 20_000) else {
        return;
    };
    // SO_REUSEPORT spreads connections over both shards by their port numbers; 12 make it near certain.
    let mut channel_subscribers: Vec<Client> = (0..8).map(|_| Client::connect(&s)).collect();
    let mut pattern_subscribers: Vec<Client> = (0..4).map(|_| Client::connect(&s)).collect();
    for c in &mut channel_subscribers {
        assert_eq!(c.call(&[b"SUBSCRIBE", b"news"])[2], b"1");
    }
    for c in &mut pattern_subscribers {
        c.call(&[b"HELLO", b"3"]);
        assert_eq!(c.call(&[b"PSUBSCRIBE", b"new*"])[2], b"1");
    }
    let mut publishers: Vec<Client> = (0..4).map(|_| Client::connect(&s)).collect();
    let stats = s.cli(&["INFO", "stats"]);
    assert!(
        ["pubsub_channels:1", "pubsub_patterns:1"]
            .iter()
            .all(|want| stats.lines().any(|l| l.trim_end() == *want)),
        "INFO stats counts the channels and patterns subscribed to on every shard:\n{stats}"
    );
    let on = |shard: usize| {
        s.metric(&format!(
            "pincore_connections_open{{service=\"resp\",shard=\"{shard}\"}}"
        ))
    };
    assert!(
        on(0) > 0.0 && on(1) > 0.0,
        "all 16 connections landed on one shard ({} and {}); the test proves nothing then",
        on(0),
        on(1)
    );
    const EACH: usize = 200;
    for seq in 0..EACH {
        for (p, publisher) in publishers.iter_mut().enumerate() {
            let message = format!("{p}:{seq}");
            assert_eq!(
                publisher.call(&[b"PUBLISH", b"news", message.as_bytes()]),
                [b"12"],
                "PUBLISH counts every subscriber, on both shards"
            );
        }
    }
    let subscribers = channel_subscribers
        .iter_mut()
        .map(|c| (c, 2))
        .chain(pattern_subscribers.iter_mut().map(|c| (c, 3)));
    for (i, (subscriber, payload_at)) in subscribers.enumerate() {
        let mut next_of: HashMap<usize, usize> = HashMap::new();
        for _ in 0..EACH * 4 {
            let words = subscriber.next();
            let text = String::from_utf8_lossy(&words[payload_at]).to_string();
            let (p, seq) = text.split_once(':').expect("publisher:sequence");
            let (p, seq): (usize, usize) = (p.parse().unwrap(), seq.parse().unwrap());
            let expected = next_of.entry(p).or_default();
            assert_eq!(
                seq, *expected,
                "subscriber {i}: publisher {p}'s messages out of order"
            );
            *expected += 1;
        }
        assert!(next_of.values().all(|&n| n == EACH));
    }
    drop(channel_subscribers);
    drop(pattern_subscribers);
    assert_unregistered(&s, "news");
    assert_eq!(publishers[0].call(&[b"PUBLISH", b"news", b"x"]), [b"0"]);
}

#[test]
fn a_subscriber_that_does_not_read_is_closed_and_counted() {
    const LIMIT: usize = 1 << 20;
    let Some(s) = two_shards(&format!("pubsub_max_pending_bytes: {LIMIT}"), 20_000) else {
        return;
    };
    let mut slow = Client::connect(&s);
    assert_eq!(slow.call(&[b"SUBSCRIBE", b"firehose"])[2], b"1");
    let mut healthy = Client::connect(&s);
    assert_eq!(healthy.call(&[b"SUBSCRIBE", b"firehose"])[2], b"1");
    let mut publisher = Client::connect(&s);
    let before = s.rss_kib();
    let payload = vec![b'x'; 64 * 1024];
    let limit_hits = "pincore_errors_total{reason=\"pubsub_output_limit\",shard=\"total\"}";
    // 128 MiB at the most, far past what the socket buffers and the 1 MiB limit can hold; the healthy
    // subscriber reads everything as it goes.
    let mut published = 0;
    let started = Instant::now();
    let mut closed_at = None;
    while published < 2048 && started.elapsed() < Duration::from_secs(30) {
        let receivers = publisher.call(&[b"PUBLISH", b"firehose", &payload]);
        published += 1;
        let words = healthy.next();
        assert_eq!(words[2].len(), payload.len());
        if receivers == [b"1"] && closed_at.is_none() {
            closed_at = Some(published);
        }
        if closed_at.is_some_and(|at| published >= at + 64) {
            break;
        }
    }
    let closed_at = closed_at.unwrap_or_else(|| {
        panic!(
            "the subscriber that does not read was never closed after {published} messages of 64 KiB\n{}",
            s.log()
        )
    });
    assert!(s.metric(limit_hits) >= 1.0);
    let grown_kib = s.rss_kib().saturating_sub(before);
    println!("closed after {closed_at} messages of 64 KiB; the server grew by {grown_kib} KiB");
    assert!(
        grown_kib < 48 * 1024,
        "the server grew by {grown_kib} KiB for one slow subscriber ({closed_at} messages of 64 KiB before it was closed)"
    );
    assert!(
        closed_by_peer(&mut slow.stream, Duration::from_secs(5)),
        "the slow subscriber's socket is still open"
    );
    assert_eq!(numsub(&s, "firehose"), b"1");
    drop(healthy);
    assert_unregistered(&s, "firehose");
    s.assert_healthy();
}

#[test]
fn a_subscriber_is_not_closed_for_idleness() {
    let Some(s) = two_shards("", 300) else { return };
    let mut subscriber = Client::connect(&s);
    assert_eq!(subscriber.call(&[b"SUBSCRIBE", b"quiet"])[2], b"1");
    let mut idle = Client::connect(&s);
    assert_eq!(idle.call(&[b"PING"]), [b"PONG"]);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        closed_by_peer(&mut idle.stream, Duration::from_secs(2)),
        "idle_ms no longer closes idle connections; this test proves nothing then"
    );
    let mut publisher = Client::connect(&s);
    assert_eq!(
        publisher.call(&[b"PUBLISH", b"quiet", b"still here"]),
        [b"1"]
    );
    assert_eq!(subscriber.next()[2], b"still here");
    // Unsubscribed, it is an idle connection like any other again.
    assert_eq!(subscriber.call(&[b"UNSUBSCRIBE"])[2], b"0");
    assert!(closed_by_peer(
        &mut subscriber.stream,
        Duration::from_secs(2)
    ));
}

/// The monitor line's text after its timestamp and client (`"set" "foo" "bar"`), checking those are as
/// Redis writes them: `1339518083.107412 [0 127.0.0.1:60866] `.
fn monitored(line: &[u8]) -> String {
    let line = String::from_utf8_lossy(line).into_owned();
    let (time, rest) = line.split_once(' ').expect("a timestamp, then the client");
    let (seconds, micros) = time.split_once('.').expect("seconds.microseconds");
    assert!(
        seconds.parse::<u64>().is_ok() && micros.len() == 6 && micros.parse::<u32>().is_ok(),
        "{line}"
    );
    let (client, command) = rest.split_once("] ").expect("[db client]");
    let port = client
        .strip_prefix("[0 127.0.0.1:")
        .expect("db 0, a loopback client");
    assert!(port.parse::<u16>().is_ok(), "{line}");
    command.to_string()
}

#[test]
fn monitor_streams_what_every_shard_runs_as_redis_does() {
    let Some(s) = two_shards("", 20_000) else {
        return;
    };
    let mut monitor = Client::connect(&s);
    assert_eq!(monitor.call(&[b"MONITOR"]), [b"OK"]);
    let mut c = Client::connect(&s);
    let mut other = Client::connect(&s);
    c.call(&[b"SET", b"foo", b"bar"]);
    c.call(&[b"GET", b"foo"]);
    c.send(&[b"AUTH", b"not-real", b"secret"]);
    c.send(&[b"HELLO", b"2", b"AUTH", b"user", b"secret"]);
    c.send(&[b"NOSUCHCOMMAND"]);
    c.send(&[b"GET"]);
    c.send(&[b"CONFIG", b"GET", b"maxmemory"]);
    c.send(&[b"MULTI"]);
    c.send(&[b"SET", b"a", b"x\"y\n"]);
    c.send(&[b"EXEC"]);
    c.send(&[b"PING"]);
    c.skip(9);
    other.call(&[b"RPUSH", b"list", b"1"]);
    let expected = [
        r#""SET" "foo" "bar""#,
        r#""GET" "foo""#,
        r#""AUTH" "(redacted)" "(redacted)""#,
        r#""HELLO" "2" "AUTH" "(redacted)" "(redacted)""#,
        r#""MULTI""#,
        r#""SET" "a" "x\"y\n""#,
        r#""EXEC""#,
        r#""PING""#,
        r#""RPUSH" "list" "1""#,
    ];
    for line in expected {
        assert_eq!(monitored(&monitor.next()[0]), line);
    }
    // RESET ends it: the next reply to the monitor is its own PING's.
    assert_eq!(monitor.call(&[b"RESET"]), [b"RESET"]);
    other.call(&[b"GET", b"foo"]);
    assert_eq!(monitor.call(&[b"PING"]), [b"PONG"]);
    s.assert_healthy();
}

#[test]
fn a_monitor_that_does_not_read_is_closed_and_counted() {
    const LIMIT: usize = 1 << 20;
    let Some(s) = two_shards(&format!("pubsub_max_pending_bytes: {LIMIT}"), 20_000) else {
        return;
    };
    let mut slow = Client::connect(&s);
    assert_eq!(slow.call(&[b"MONITOR"]), [b"OK"]);
    let mut writer = Client::connect(&s);
    let value = vec![b'x'; 64 * 1024];
    let before = s.rss_kib();
    let started = Instant::now();
    let mut sets = 0;
    while sets < 2048 && started.elapsed() < Duration::from_secs(30) {
        assert_eq!(writer.call(&[b"SET", b"k", &value]), [b"OK"]);
        sets += 1;
        if sets % 64 == 0 && limit_hits_now(&s) >= 1.0 {
            break;
        }
    }
    assert!(
        limit_hits_now(&s) >= 1.0,
        "the monitor that does not read was never closed after {sets} commands of 64 KiB"
    );
    let grown_kib = s.rss_kib().saturating_sub(before);
    assert!(
        grown_kib < 48 * 1024,
        "the server grew by {grown_kib} KiB for one slow monitor ({sets} commands of 64 KiB)"
    );
    assert!(
        closed_by_peer(&mut slow.stream, Duration::from_secs(5)),
        "the slow monitor's socket is still open"
    );
    s.assert_healthy();
}

/// Connections closed for passing `pubsub_max_pending_bytes` so far (the series appears with the first).
fn limit_hits_now(s: &Server) -> f64 {
    let series = "pincore_errors_total{reason=\"pubsub_output_limit\",shard=\"total\"}";
    support::sample(&s.http_get("/metrics").1, series).unwrap_or(0.0)
}

#[test]
fn keyspace_notifications_reach_subscribers_on_every_shard_for_the_classes_enabled() {
    let Some(s) = two_shards("", 20_000) else {
        return;
    };
    let mut c = Client::connect(&s);
    let mut subscriber = Client::connect(&s);
    // As in Redis 7.0, a subscription is confirmed, and messages arrive, whatever CLIENT REPLY says (RESP2).
    subscriber.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    assert_eq!(subscriber.call(&[b"PSUBSCRIBE", b"*"])[2], b"1");
    // Off by default: nothing is published.
    c.call(&[b"SET", b"quiet", b"1"]);
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEl"]),
        [b"OK"]
    );
    c.call(&[b"SET", b"foo", b"bar"]);
    c.call(&[b"LPUSH", b"mylist", b"a"]);
    c.call(&[b"RPOP", b"nothing"]);
    c.call(&[b"RPOP", b"mylist"]);
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"gK$"]),
        [b"OK"]
    );
    c.call(&[b"DEL", b"foo", b"missing", b"quiet"]);
    c.call(&[b"MSET", b"a", b"1", b"b", b"2"]);
    assert_eq!(
        c.call(&[b"CONFIG", b"GET", b"notify-keyspace-events"]),
        [&b"notify-keyspace-events"[..], b"g$K"]
    );
    let expected: [&[&[u8]]; 8] = [
        &[b"__keyspace@0__:mylist", b"lpush"],
        &[b"__keyevent@0__:lpush", b"mylist"],
        &[b"__keyspace@0__:mylist", b"rpop"],
        &[b"__keyevent@0__:rpop", b"mylist"],
        &[b"__keyspace@0__:foo", b"del"],
        &[b"__keyspace@0__:quiet", b"del"],
        &[b"__keyspace@0__:a", b"set"],
        &[b"__keyspace@0__:b", b"set"],
    ];
    for words in expected {
        let message = subscriber.next();
        assert_eq!(message[0], b"pmessage");
        assert_eq!(
            &message[2..],
            words,
            "{:?}",
            String::from_utf8_lossy(&message.concat())
        );
    }
    s.assert_healthy();
}
