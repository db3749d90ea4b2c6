//! Replication to a real redis-server: `redis-server --replicaof` pincore-server loads the dataset pincore
//! sends after SYNC (an RDB file) and then follows its stream, so it ends up holding what pincore holds: every
//! key, type, value and TTL, whether written before the replica attached or after.

mod support;

use std::time::{Duration, Instant};

use pincore_resp::{parse_reply, Limits, Reply};
use pincore_testkit::{command, require};
use support::{spawn_redis, Client, Redis, Server};

fn call(c: &mut Client, args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let reply = c.call(&args);
    assert!(
        !reply.starts_with(b"-"),
        "{args:?}: {}",
        String::from_utf8_lossy(&reply)
    );
    reply
}

/// Strings (some with TTLs), hashes, lists, sets and sorted sets, small and large, under `prefix`.
fn fill(c: &mut Client, prefix: &str) {
    for i in 0..50 {
        let key = format!("{prefix}:s:{i}");
        call(c, &["SET", &key, &format!("value {i}")]);
        if i % 3 == 0 {
            call(c, &["EXPIRE", &key, &(1000 + i).to_string()]);
        }
    }
    call(c, &["SET", &format!("{prefix}:ttl"), "v", "PX", "500000"]);
    call(c, &["SETEX", &format!("{prefix}:setex"), "700", "v"]);
    for i in 0..300 {
        let n = i.to_string();
        call(
            c,
            &["HSET", &format!("{prefix}:hash"), &format!("f{i}"), &n],
        );
        call(c, &["RPUSH", &format!("{prefix}:list"), &n]);
        call(c, &["SADD", &format!("{prefix}:set"), &format!("m{i}")]);
        call(c, &["SADD", &format!("{prefix}:intset"), &n]);
        call(
            c,
            &[
                "ZADD",
                &format!("{prefix}:zset"),
                &format!("{}.5", i % 17),
                &format!("m{i}"),
            ],
        );
    }
    call(c, &["HSET", &format!("{prefix}:small"), "a", "1", "b", "2"]);
    call(
        c,
        &["ZADD", &format!("{prefix}:zsmall"), "1", "a", "2", "b"],
    );
}

/// Writes whose propagation Redis rewrites (pops, float increments, relative TTLs, GETDEL).
fn rewrite(c: &mut Client, prefix: &str) {
    call(c, &["INCRBYFLOAT", &format!("{prefix}:float"), "1.25"]);
    call(c, &["HINCRBYFLOAT", &format!("{prefix}:small"), "a", "0.5"]);
    call(c, &["SPOP", &format!("{prefix}:set")]);
    call(c, &["SPOP", &format!("{prefix}:set"), "3"]);
    call(
        c,
        &[
            "LMPOP",
            "1",
            &format!("{prefix}:list"),
            "LEFT",
            "COUNT",
            "4",
        ],
    );
    call(c, &["BLPOP", &format!("{prefix}:list"), "1"]);
    call(
        c,
        &["ZMPOP", "1", &format!("{prefix}:zset"), "MAX", "COUNT", "2"],
    );
    call(c, &["GETEX", &format!("{prefix}:s:1"), "EX", "900"]);
    call(c, &["GETDEL", &format!("{prefix}:s:2")]);
    call(c, &["EXPIRE", &format!("{prefix}:s:4"), "-1"]);
    call(c, &["MULTI"]);
    call(c, &["SET", &format!("{prefix}:tx1"), "a"]);
    call(c, &["INCR", &format!("{prefix}:tx2")]);
    call(c, &["EXEC"]);
}

fn parsed(reply: &[u8]) -> Reply<'_> {
    parse_reply(reply, &Limits::default()).unwrap().unwrap().0
}

fn strings(reply: &Reply<'_>) -> Vec<Vec<u8>> {
    match reply {
        Reply::Array(Some(items)) => items
            .iter()
            .map(|i| match i {
                Reply::Bulk(Some(b)) => b.to_vec(),
                other => format!("{other:?}").into_bytes(),
            })
            .collect(),
        other => vec![format!("{other:?}").into_bytes()],
    }
}

fn info_field(c: &mut Client, field: &str) -> Option<String> {
    let reply = c.call(&[b"INFO", b"replication"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

/// Everything a server holds, key by key: type, content in a canonical order, and TTL in seconds.
fn contents(c: &mut Client) -> Vec<(String, String, Vec<Vec<u8>>, i64)> {
    let mut keys = strings(&parsed(&c.call(&[b"KEYS", b"*"])));
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let kind = String::from_utf8_lossy(&c.call(&[b"TYPE", &key]))
                .trim()
                .to_string();
            let mut value = match kind.as_str() {
                "+string" => strings(&parsed(&c.call(&[b"MGET", &key]))),
                "+hash" => strings(&parsed(&c.call(&[b"HGETALL", &key]))),
                "+list" => strings(&parsed(&c.call(&[b"LRANGE", &key, b"0", b"-1"]))),
                "+set" => strings(&parsed(&c.call(&[b"SMEMBERS", &key]))),
                "+zset" => strings(&parsed(&c.call(&[
                    b"ZRANGE",
                    &key,
                    b"0",
                    b"-1",
                    b"WITHSCORES",
                ]))),
                other => panic!("unexpected type {other}"),
            };
            if kind == "+hash" {
                let mut pairs: Vec<Vec<u8>> = value.chunks(2).map(|p| p.concat()).collect();
                pairs.sort();
                value = pairs;
            } else if kind == "+set" {
                value.sort();
            }
            let ttl = match parsed(&c.call(&[b"TTL", &key])) {
                Reply::Integer(n) => n,
                other => panic!("TTL answered {other:?}"),
            };
            (String::from_utf8_lossy(&key).into_owned(), kind, value, ttl)
        })
        .collect()
}

/// Waits (at most `within`) for `done`.
fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A redis-server replicating `pincore`, once its link is up.
fn replica_of(pincore: &Server) -> (Redis, Client) {
    let master_port = pincore.resp.port().to_string();
    let (replica, addr) = spawn_redis(&["--replicaof", "127.0.0.1", &master_port]);
    let mut client = Client::connect(addr);
    wait_until(
        Duration::from_secs(20),
        "the replica's link to come up",
        || info_field(&mut client, "master_link_status").as_deref() == Some("up"),
    );
    (replica, client)
}

/// Both servers hold the same keys, types and values, and TTLs within two seconds of each other.
fn assert_same(ours: &mut Client, replica: &mut Client) {
    let (mine, theirs) = (contents(ours), contents(replica));
    assert_eq!(mine.len(), theirs.len(), "key counts differ");
    for (a, b) in mine.iter().zip(&theirs) {
        assert_eq!(
            (&a.0, &a.1, &a.2),
            (&b.0, &b.1, &b.2),
            "key {} differs",
            a.0
        );
        assert!(
            (a.3 - b.3).abs() <= 2,
            "TTL of {}: {} here, {} on the replica",
            a.0,
            a.3,
            b.3
        );
    }
}

/// A redis-server replica of pincore-server holds what pincore holds, from before and after it attached.
#[test]
fn a_redis_replica_holds_what_pincore_holds() {
    require!(command("redis-server"));
    let pincore = Server::start();
    let mut ours = Client::connect(pincore.resp);
    fill(&mut ours, "before");
    rewrite(&mut ours, "before");
    let (_replica, mut replica) = replica_of(&pincore);
    assert_eq!(
        info_field(&mut ours, "connected_slaves").as_deref(),
        Some("1")
    );
    fill(&mut ours, "after");
    rewrite(&mut ours, "after");
    call(&mut ours, &["DEL", "before:hash"]);
    call(&mut ours, &["FLUSHALL"]);
    fill(&mut ours, "again");
    rewrite(&mut ours, "again");
    let offset: u64 = info_field(&mut ours, "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(offset > 0);
    wait_until(
        Duration::from_secs(20),
        "the replica to reach the master's offset",
        || {
            info_field(&mut replica, "master_repl_offset")
                .and_then(|o| o.parse::<u64>().ok())
                .is_some_and(|o| o >= offset)
        },
    );
    assert_same(&mut ours, &mut replica);
    // WAIT counts the replica once it acknowledged everything so far.
    let waited = ours.call(&[b"WAIT", b"1", b"5000"]);
    assert_eq!(waited, b":1\r\n");
}

/// Before the replica attached too: the RDB file alone carries every type and TTL.
#[test]
fn the_initial_copy_alone_carries_every_type_and_ttl() {
    require!(command("redis-server"));
    let pincore = Server::start();
    let mut ours = Client::connect(pincore.resp);
    fill(&mut ours, "only");
    let (_replica, mut replica) = replica_of(&pincore);
    assert_same(&mut ours, &mut replica);
}

/// A connection that sent SYNC, past the RDB file (checked: its header and its checksum).
fn raw_sync(pincore: &Server) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut link = pincore.connect();
    link.write_all(b"SYNC\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        link.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let len: usize = String::from_utf8_lossy(&head[1..head.len() - 2])
        .parse()
        .unwrap();
    let mut file = vec![0u8; len];
    link.read_exact(&mut file).unwrap();
    assert!(file.starts_with(b"REDIS0010"), "{:?}", &file[..9]);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&file[..len - 8]);
    assert_eq!(crc.to_le_bytes(), file[len - 8..]);
    link
}

/// Reads `link` until the command `until` arrived (at most 10 s): every command so far.
fn read_stream_until(link: &mut std::net::TcpStream, until: &str) -> Vec<String> {
    use std::io::Read;
    let mut stream = Vec::new();
    link.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !commands_in(&stream).iter().any(|c| c == until) {
        assert!(
            Instant::now() < deadline,
            "stream so far: {:?}",
            commands_in(&stream)
        );
        let mut buf = [0u8; 4096];
        if let Ok(n) = link.read(&mut buf) {
            stream.extend_from_slice(&buf[..n]);
        }
    }
    commands_in(&stream)
}

/// A quiet stream sends PING every `repl-ping-replica-period` seconds, a setting CONFIG SET changes live.
#[test]
fn a_quiet_stream_pings_at_the_configured_period() {
    let pincore = Server::start();
    let mut c = Client::connect(pincore.resp);
    call(&mut c, &["CONFIG", "SET", "repl-ping-replica-period", "1"]);
    let period = c.call(&[b"CONFIG", b"GET", b"repl-ping-replica-period"]);
    assert!(String::from_utf8_lossy(&period).ends_with("\r\n1\r\n"));
    let mut link = raw_sync(&pincore);
    let started = Instant::now();
    let commands = read_stream_until(&mut link, "PING");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(commands, ["SELECT 0", "PING"]);
}

/// The complete commands at the front of `stream` (RESP arrays of bulk strings), each as its words.
fn commands_in(stream: &[u8]) -> Vec<String> {
    let mut commands = Vec::new();
    let mut at = 0;
    while let Ok(Some((reply, used))) = parse_reply(&stream[at..], &Limits::default()) {
        let words: Vec<String> = strings(&reply)
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        commands.push(words.join(" "));
        at += used;
    }
    commands
}

/// What a raw SYNC receives: an RDB file with a valid checksum, then the writes as Redis 7.0 propagates
/// them: `SELECT 0` first, relative TTLs made absolute, EXEC as MULTI/EXEC, nothing for a write that changed
/// nothing, and a key that expired as a DEL of its own.
#[test]
fn a_raw_sync_gets_an_rdb_file_then_the_rewritten_writes() {
    let pincore = Server::start();
    let mut link = raw_sync(&pincore);

    let mut c = Client::connect(pincore.resp);
    call(&mut c, &["SET", "k", "v", "EX", "100"]);
    call(&mut c, &["DEL", "missing"]);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["INCR", "a"]);
    call(&mut c, &["GET", "a"]);
    call(&mut c, &["INCR", "b"]);
    call(&mut c, &["EXEC"]);
    call(&mut c, &["SET", "x", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    call(&mut c, &["GET", "x"]);
    call(&mut c, &["SET", "last", "1"]);
    let commands = read_stream_until(&mut link, "SET last 1");
    let shapes: Vec<String> = commands
        .iter()
        .map(|c| match c.split_once(" PXAT ") {
            Some((head, ms)) => {
                assert!(
                    ms.parse::<u64>().is_ok_and(|ms| ms > 1_700_000_000_000),
                    "{c}"
                );
                format!("{head} PXAT <ms>")
            }
            None => c.clone(),
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "SELECT 0",
            "SET k v PXAT <ms>",
            "MULTI",
            "INCR a",
            "INCR b",
            "EXEC",
            "SET x 1 PXAT <ms>",
            "DEL x",
            "SET last 1"
        ]
    );
}

/// A replica that stops reading is disconnected once `replica_max_pending_bytes` of stream wait for it, and
/// counted; writers never wait for it.
#[test]
fn a_replica_that_does_not_read_is_disconnected_and_counted() {
    let config = support::config_text(support::DEFAULT_LIMITS, support::DEFAULT_TIMEOUTS).replace(
        "resp: {listen: 127.0.0.1:0}",
        "resp: {listen: 127.0.0.1:0, settings: {replica_max_pending_bytes: 1048576}}",
    );
    let pincore = Server::start_from(&config, &[]);
    let _link = raw_sync(&pincore);
    let mut c = Client::connect(pincore.resp);
    assert_eq!(info_field(&mut c, "connected_slaves").as_deref(), Some("1"));
    let value = "x".repeat(100_000);
    wait_until(
        Duration::from_secs(20),
        "the replica to be disconnected",
        || {
            for _ in 0..20 {
                call(&mut c, &["SET", "big", &value]);
            }
            info_field(&mut c, "slow_replicas_disconnected").as_deref() == Some("1")
        },
    );
    wait_until(Duration::from_secs(5), "the replica to be gone", || {
        info_field(&mut c, "connected_slaves").as_deref() == Some("0")
    });
    let errors = "pincore_errors_total{reason=\"replica_output_limit\",shard=\"total\"}";
    assert_eq!(pincore.metric(errors), 1.0);
}

/// `min-replicas-to-write`: writes, and transactions that write, are refused while too few replicas
/// acknowledged within `min-replicas-max-lag`, and run again once a replica follows; reads always run.
#[test]
fn writes_wait_for_enough_good_replicas() {
    require!(command("redis-server"));
    let pincore = Server::start();
    let mut ours = Client::connect(pincore.resp);
    call(&mut ours, &["SET", "counter", "1"]);
    call(&mut ours, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(
        ours.call(&[b"CONFIG", b"GET", b"min-slaves-to-write"]),
        b"*2\r\n$19\r\nmin-slaves-to-write\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        ours.call(&[b"INCR", b"counter"]),
        b"-NOREPLICAS Not enough good replicas to write.\r\n"
    );
    assert_eq!(ours.call(&[b"GET", b"counter"]), b"$1\r\n1\r\n");
    // A transaction queued before the rule applied is refused whole at EXEC.
    call(&mut ours, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    call(&mut ours, &["MULTI"]);
    assert_eq!(ours.call(&[b"INCR", b"counter"]), b"+QUEUED\r\n");
    let mut other = Client::connect(pincore.resp);
    call(&mut other, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(
        ours.call(&[b"EXEC"]),
        b"-EXECABORT Transaction discarded because of: NOREPLICAS Not enough good replicas to write.\r\n"
    );
    assert_eq!(ours.call(&[b"GET", b"counter"]), b"$1\r\n1\r\n");
    // With a replica that acknowledges (redis-server sends REPLCONF ACK every second), writes run.
    let (_replica, mut replica) = replica_of(&pincore);
    wait_until(
        Duration::from_secs(10),
        "the replica to count as good",
        || info_field(&mut ours, "min_slaves_good_slaves").as_deref() == Some("1"),
    );
    assert_eq!(ours.call(&[b"INCR", b"counter"]), b":2\r\n");
    wait_until(
        Duration::from_secs(10),
        "the replica to apply the INCR",
        || replica.call(&[b"GET", b"counter"]) == b"$1\r\n2\r\n",
    );
    // A bad value is refused with the parameter named, and changes nothing.
    let refused = ours.call(&[b"CONFIG", b"SET", b"min-replicas-max-lag", b"soon"]);
    assert!(
        refused.starts_with(b"-ERR"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    assert_eq!(
        ours.call(&[b"CONFIG", b"GET", b"min-replicas-max-lag"]),
        b"*2\r\n$20\r\nmin-replicas-max-lag\r\n$2\r\n10\r\n"
    );
}

/// A replica whose link broke continues from the backlog: only the bytes it missed, no second copy of the
/// dataset (which would hold every part); a stream id it does not know gets a whole copy.
#[test]
fn a_replica_that_lost_its_link_continues_from_the_backlog() {
    require!(command("redis-server"));
    let pincore = Server::start();
    let mut ours = Client::connect(pincore.resp);
    fill(&mut ours, "before");
    let (_replica, mut replica) = replica_of(&pincore);
    fill(&mut ours, "linked");
    // The replica drops its link to the master; it reconnects by itself, with PSYNC.
    assert_eq!(
        call(&mut replica, &["CLIENT", "KILL", "TYPE", "master"]),
        b":1\r\n"
    );
    fill(&mut ours, "away");
    rewrite(&mut ours, "away");
    let offset: u64 = info_field(&mut ours, "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    wait_until(
        Duration::from_secs(20),
        "the replica to come back and reach the master's offset",
        || {
            info_field(&mut replica, "master_link_status").as_deref() == Some("up")
                && info_field(&mut replica, "master_repl_offset")
                    .and_then(|o| o.parse::<u64>().ok())
                    .is_some_and(|o| o >= offset)
        },
    );
    assert_same(&mut ours, &mut replica);
    let log = pincore.log();
    assert_eq!(
        log.matches("dataset copied under every part's lock")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains("replica continued from the backlog"), "{log}");
    assert_eq!(
        info_field(&mut ours, "repl_backlog_active").as_deref(),
        Some("1")
    );
    // PSYNC with another stream's id: a full resynchronization.
    let mut other = Client::connect(pincore.resp);
    let reply = call(
        &mut other,
        &["PSYNC", "0123456789012345678901234567890123456789", "5"],
    );
    assert!(
        reply.starts_with(b"+FULLRESYNC "),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
}
