//! The introspection commands where one connection's answer depends on the others or on the server's
//! state: SCAN while keys are written, CLIENT LIST and KILL across shards, CONFIG SET through the reload
//! path, CLIENT REPLY, and the bounds on KEYS and LCS. (Replies Redis gives too are compared byte for
//! byte in `parity.rs`.)

mod support;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pincore_resp::{encode_command, skip_reply, Limits};
use support::{closed_by_peer, config_text, read_at_least, Server, DEFAULT_TIMEOUTS};

/// Sends one command on `stream` and reads its whole reply.
fn call(stream: &mut TcpStream, args: &[&[u8]]) -> Vec<u8> {
    let mut request = Vec::new();
    encode_command(&mut request, args);
    stream.write_all(&request).expect("send");
    let limits = Limits {
        max_bulk_len: 1 << 30,
        max_array_len: 1 << 20,
        max_inline_len: 1 << 16,
    };
    let mut reply = Vec::new();
    loop {
        if let Some((len, _)) = skip_reply(&reply, &limits).expect("a valid reply") {
            assert_eq!(len, reply.len(), "one reply at a time");
            return reply;
        }
        let more = read_at_least(stream, reply.len() + 1);
        assert!(!more.is_empty(), "closed while waiting for {args:?}");
        reply.extend_from_slice(&more);
    }
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// The bulk strings of a reply, in order (for SCAN: the cursor, then the keys).
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let lines: Vec<&[u8]> = reply
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with(b"$") && i + 1 < lines.len() {
            out.push(lines[i + 1].to_vec());
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

/// A server with two shards (on CPU 0 twice when the machine has one).
fn two_shards(extra: &str) -> Server {
    let cpus = if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        "0-1"
    } else {
        "0"
    };
    Server::start_from(
        &format!(
            "shards: {{cpus: \"{cpus}\"}}\n{extra}{}",
            config_text(support::DEFAULT_LIMITS, DEFAULT_TIMEOUTS)
        ),
        &[],
    )
}

#[test]
fn a_scan_returns_every_key_present_throughout_while_keys_are_added() {
    let s = Server::start();
    let mut c = s.connect();
    let original: HashSet<Vec<u8>> = (0..3000).map(|i| format!("old:{i}").into_bytes()).collect();
    for key in &original {
        assert_eq!(call(&mut c, &[b"SET", key, b"v"]), b"+OK\r\n");
    }
    let mut writer = s.connect();
    let mut seen = HashSet::new();
    let mut cursor = b"0".to_vec();
    let mut added = 0;
    for step in 0.. {
        assert!(step < 100_000, "the scan did not end");
        let reply = call(&mut c, &[b"SCAN", &cursor, b"COUNT", b"25"]);
        let mut items = bulks(&reply).into_iter();
        cursor = items.next().expect("a cursor");
        seen.extend(items);
        // Enough new keys between steps that every part's table grows (and rehashes) during the scan.
        for _ in 0..40 {
            let key = format!("new:{added}");
            assert_eq!(
                call(&mut writer, &[b"SET", key.as_bytes(), b"v"]),
                b"+OK\r\n"
            );
            added += 1;
        }
        if cursor == b"0" {
            break;
        }
    }
    assert!(
        added > 3000,
        "the keyspace at least doubled during the scan ({added} keys added)"
    );
    let missing: Vec<_> = original.difference(&seen).map(|k| text(k)).collect();
    assert!(
        missing.is_empty(),
        "{} keys present throughout were not returned: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

#[test]
fn client_list_and_kill_reach_connections_on_every_shard() {
    let s = two_shards("");
    // SO_REUSEPORT spreads connections over the shards by their address hash.
    let mut conns = connections_on_every_shard(&s);
    for (i, c) in conns.iter_mut().enumerate() {
        let name = format!("conn{i}");
        assert_eq!(
            call(c, &[b"CLIENT", b"SETNAME", name.as_bytes()]),
            b"+OK\r\n"
        );
    }
    let ids: Vec<Vec<u8>> = conns
        .iter_mut()
        .map(|c| {
            let reply = call(c, &[b"CLIENT", b"ID"]);
            reply[1..reply.len() - 2].to_vec()
        })
        .collect();
    let list = text(&call(&mut conns[0], &[b"CLIENT", b"LIST"]));
    for (i, id) in ids.iter().enumerate() {
        let line = format!("id={} ", text(id));
        let entry = list
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("{line} not listed:\n{list}"));
        assert!(entry.contains(&format!(" name=conn{i} ")), "{entry}");
    }
    let mine = text(&call(&mut conns[0], &[b"CLIENT", b"INFO"]));
    assert!(
        mine.contains(&format!("id={} ", text(&ids[0]))) && mine.contains("cmd=client|info"),
        "{mine}"
    );

    // Kill every other connection by id from the first one: each is closed, wherever it is served.
    for (i, id) in ids.iter().enumerate().skip(1) {
        assert_eq!(
            call(&mut conns[0], &[b"CLIENT", b"KILL", b"ID", id]),
            b":1\r\n",
            "conn{i}"
        );
    }
    for (i, c) in conns.iter_mut().enumerate().skip(1) {
        assert!(
            closed_by_peer(c, Duration::from_secs(5)),
            "conn{i} was not closed"
        );
    }
    assert_eq!(
        call(&mut conns[0], &[b"PING"]),
        b"+PONG\r\n",
        "SKIPME yes spares the killer"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = text(&call(&mut conns[0], &[b"CLIENT", b"LIST"]));
        if list.lines().filter(|l| l.starts_with("id=")).count() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "killed connections still listed:\n{list}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The old form, on itself: +OK, then the connection closes.
    let addr = conns[0].local_addr().unwrap().to_string();
    assert_eq!(
        call(&mut conns[0], &[b"CLIENT", b"KILL", addr.as_bytes()]),
        b"+OK\r\n"
    );
    assert!(closed_by_peer(&mut conns[0], Duration::from_secs(5)));
    s.assert_healthy();
}

/// Reads until the peer closes (or `within` passes) and returns everything it sent.
fn read_to_close(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => break,
        }
    }
    (out, false)
}

#[test]
fn a_connection_that_kills_itself_answers_nothing_after_the_kill() {
    let s = two_shards("");
    // The kill and a PING in one write: the PING is never run.
    let mut killer = s.connect();
    let mut other = s.connect();
    let mut request = Vec::new();
    encode_command(&mut request, &[b"CLIENT", b"KILL", b"SKIPME", b"no"]);
    encode_command(&mut request, &[b"PING"]);
    killer.write_all(&request).unwrap();
    let (got, closed) = read_to_close(&mut killer, Duration::from_secs(5));
    assert!(
        closed,
        "the killer's connection stayed open; got {:?}",
        text(&got)
    );
    assert!(
        got.starts_with(b":") && !text(&got).contains("PONG"),
        "expected only the kill's count, got {:?}",
        text(&got)
    );
    assert!(closed_by_peer(&mut other, Duration::from_secs(5)));

    // The next command sent as soon as the reply is read (Redis's own test does this) is not answered either.
    let mut killer = s.connect();
    assert!(text(&call(&mut killer, &[b"CLIENT", b"KILL", b"SKIPME", b"no"])).starts_with(':'));
    let mut ping = Vec::new();
    encode_command(&mut ping, &[b"PING"]);
    let _ = killer.write_all(&ping);
    let (got, closed) = read_to_close(&mut killer, Duration::from_secs(5));
    assert!(
        closed && got.is_empty(),
        "after killing itself the connection answered {:?}",
        text(&got)
    );

    // A new connection is served.
    assert_eq!(call(&mut s.connect(), &[b"PING"]), b"+PONG\r\n");
    s.assert_healthy();
}

#[test]
fn config_set_applies_on_every_shard_and_an_invalid_change_changes_nothing() {
    let s = two_shards("");
    let mut a = s.connect();
    assert_eq!(
        call(
            &mut a,
            &[b"CONFIG", b"SET", b"maxmemory", b"10mb", b"timeout", b"42"]
        ),
        b"+OK\r\n"
    );
    let memory = text(&call(&mut a, &[b"INFO", b"memory"]));
    assert!(
        memory.contains(&format!("maxmemory:{}\r\n", 10 << 20)),
        "{memory}"
    );
    // Every shard's running configuration changed, as after a SIGHUP.
    for _ in 0..16 {
        let mut other = s.connect();
        let got = text(&call(&mut other, &[b"CONFIG", b"GET", b"timeout"]));
        assert!(got.ends_with("$2\r\n42\r\n"), "{got}");
    }
    let (_, running) = s.http_get("/config");
    assert!(
        running.contains("\"idle_ms\": 42000")
            && running.contains(&format!("\"max_memory_bytes\": {}", 10 << 20)),
        "{running}"
    );

    for (args, why) in [
        (
            &[&b"maxmemory-policy"[..], b"sometimes"][..],
            "must be one of the following",
        ),
        (&[b"maxmemory", b"lots"], "must be a memory value"),
        (&[b"timeout", b"0"], "above 0"),
        (&[b"port", b"1"], "the listener changes only with a restart"),
        // No persistence.dir in this configuration: nowhere to write the file.
        (&[b"appendonly", b"yes"], "persistence.dir"),
        (
            &[b"maxmemory", b"1mb", b"protected-mode", b"maybe"],
            "'yes' or 'no'",
        ),
        (&[b"maxclients", b"0"], "max_connections_per_shard"),
    ] {
        let mut request: Vec<&[u8]> = vec![b"CONFIG", b"SET"];
        request.extend_from_slice(args);
        let reply = text(&call(&mut a, &request));
        assert!(
            reply.starts_with("-ERR CONFIG SET failed") && reply.contains(why),
            "{args:?}: {reply}"
        );
    }
    let memory = text(&call(&mut a, &[b"INFO", b"memory"]));
    assert!(
        memory.contains(&format!("maxmemory:{}\r\n", 10 << 20))
            && memory.contains("maxmemory_policy:noeviction"),
        "{memory}"
    );
    assert!(
        text(&call(&mut a, &[b"CONFIG", b"GET", b"maxclients"]))
            .ends_with(&format!("{}\r\n", 200 * 2))
            || s.log().contains("cpus")
    );
    let rewrite = text(&call(&mut a, &[b"CONFIG", b"REWRITE"]));
    assert!(
        rewrite.starts_with("-ERR pincore-server does not support CONFIG REWRITE"),
        "{rewrite}"
    );

    // CONFIG RESETSTAT starts INFO's counters again.
    call(&mut a, &[b"GET", b"missing"]);
    assert_eq!(call(&mut a, &[b"CONFIG", b"RESETSTAT"]), b"+OK\r\n");
    let stats = text(&call(&mut a, &[b"INFO", b"stats"]));
    assert!(stats.contains("keyspace_misses:0\r\n"), "{stats}");
    assert!(
        stats.contains("total_commands_processed:1\r\n"),
        "RESETSTAT itself counts, as in Redis:\n{stats}"
    );
}

/// Connections on every shard of `s` (at least 4; more until both shards serve some, up to 64): the test
/// machine has two CPUs, so the server two shards.
fn connections_on_every_shard(s: &Server) -> Vec<TcpStream> {
    let shards_used = |s: &Server| {
        (0..2)
            .filter(|shard| {
                s.metric(&format!(
                    "pincore_connections_open{{service=\"resp\",shard=\"{shard}\"}}"
                )) > 0.0
            })
            .count()
    };
    let mut conns: Vec<TcpStream> = Vec::new();
    while conns.len() < 64 && (conns.len() < 4 || shards_used(s) < 2) {
        let mut c = s.connect();
        // A round trip, so the connection is accepted (and counted) before the next check.
        assert_eq!(call(&mut c, &[b"PING"]), b"+PONG\r\n");
        conns.push(c);
    }
    conns
}

/// Writes on every shard count in INFO's `rdb_changes_since_last_save` (each shard counts its own; INFO sums
/// them), asked on any shard; reads and refused writes do not count.
#[test]
fn writes_on_every_shard_count_as_changes_since_the_last_save() {
    let s = two_shards("");
    let mut conns = connections_on_every_shard(&s);
    let changes = |c: &mut TcpStream| {
        let info = text(&call(c, &[b"INFO", b"persistence"]));
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .unwrap_or_else(|| panic!("no rdb_changes_since_last_save in {info}"))
            .parse::<u64>()
            .unwrap()
    };
    let before = changes(&mut conns[0]);
    let mut writes = 0;
    for (i, c) in conns.iter_mut().enumerate() {
        for j in 0..25 {
            let key = format!("changes:{i}:{j}");
            assert_eq!(call(c, &[b"SET", key.as_bytes(), b"v"]), b"+OK\r\n");
            assert_eq!(call(c, &[b"GET", key.as_bytes()]), b"$1\r\nv\r\n");
            writes += 1;
        }
        // Refused before it ran (wrong arity): not a change.
        assert!(call(c, &[b"SET", b"k"]).starts_with(b"-ERR"));
    }
    for c in &mut conns {
        assert_eq!(changes(c) - before, writes, "asked on every connection");
    }
}

/// CONFIG SETs racing from connections on different shards end with one value on every shard (each change
/// is numbered; a shard never applies an older one over a newer). Every connection sends its CONFIG SET
/// before any reply is read, so the changes are in flight together, round after round.
#[test]
fn concurrent_config_sets_converge_on_every_shard() {
    let s = two_shards("");
    let mut conns = connections_on_every_shard(&s);
    for round in 0..100 {
        for (i, c) in conns.iter_mut().enumerate() {
            let mut request = Vec::new();
            let value = format!("{}", 1000 + round * 100 + i);
            encode_command(
                &mut request,
                &[b"CONFIG", b"SET", b"timeout", value.as_bytes()],
            );
            c.write_all(&request).unwrap();
        }
        for c in conns.iter_mut() {
            assert_eq!(read_at_least(c, 5), b"+OK\r\n");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let seen: HashSet<Vec<u8>> = conns
                .iter_mut()
                .map(|c| call(c, &[b"CONFIG", b"GET", b"timeout"]))
                .collect();
            if seen.len() == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: shards disagree: {:?}",
                seen.iter().map(|r| text(r)).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn client_reply_off_and_skip_silence_replies() {
    let s = Server::start();
    let mut c = s.connect();
    // OFF: nothing comes back until ON, errors and INFO's deferred reply included; SKIP: the next reply
    // only (a CLIENT REPLY ON right after it is answered, as in Redis).
    let mut request = Vec::new();
    for args in [
        &[&b"CLIENT"[..], b"REPLY", b"OFF"][..],
        &[b"SET", b"k", b"1"],
        &[b"GET", b"k"],
        &[b"CLIENT", b"REPLY", b"ON"],
        &[b"CLIENT", b"REPLY", b"SKIP"],
        &[b"INCR", b"k"],
        &[b"GET", b"k"],
        &[b"CLIENT", b"REPLY", b"SKIP"],
        &[b"CLIENT", b"REPLY", b"ON"],
        &[b"CLIENT", b"REPLY", b"OFF"],
        &[b"NOSUCH"],
        &[b"INFO", b"server"],
        &[b"CLIENT", b"REPLY", b"ON"],
        &[b"ECHO", b"end"],
    ] {
        encode_command(&mut request, args);
    }
    c.write_all(&request).unwrap();
    let expected = b"+OK\r\n$1\r\n2\r\n+OK\r\n+OK\r\n$3\r\nend\r\n";
    let got = read_at_least(&mut c, expected.len());
    assert_eq!(text(&got), text(expected));
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(read_at_least(&mut c, 1).is_empty(), "nothing more");
}

#[test]
fn keys_and_lcs_refuse_what_would_exceed_their_bounds() {
    let s = Server::start_with(
        &format!(
            "{}  max_bulk_len: 3000\n  max_reply_bytes: 4096\n",
            support::DEFAULT_LIMITS
        ),
        DEFAULT_TIMEOUTS,
    );
    let mut c = s.connect();
    for i in 0..1000 {
        call(&mut c, &[b"SET", format!("key:{i}").as_bytes(), b"v"]);
    }
    let refused = text(&call(&mut c, &[b"KEYS", b"*"]));
    assert!(
        refused.starts_with(
            "-ERR the keys matching exceed limits.max_reply_bytes (4096 bytes); iterate with SCAN"
        ),
        "{refused}"
    );
    assert_eq!(
        text(&call(&mut c, &[b"KEYS", b"key:99?"])).lines().count(),
        1 + 2 * 10
    );
    let big = vec![b'a'; 3000];
    call(&mut c, &[b"SET", b"big", &big]);
    let refused = text(&call(&mut c, &[b"LCS", b"big", b"big", b"LEN"]));
    assert!(
        refused
            .starts_with("-ERR LCS of values of 3000 and 3000 bytes needs a 36024004-byte table"),
        "{refused}"
    );
    assert_eq!(call(&mut c, &[b"LCS", b"big", b"key:1", b"LEN"]), b":0\r\n");
    s.assert_healthy();
}

#[test]
fn declined_commands_say_what_is_not_supported() {
    let s = Server::start();
    let mut c = s.connect();
    for (args, expected) in [
        (&[&b"EVAL"[..], b"return 1", b"0"][..], "-ERR pincore-server does not support scripting (EVAL)\r\n"),
        (&[b"SCRIPT", b"LOAD", b"x"], "-ERR pincore-server does not support scripting (SCRIPT)\r\n"),
        (&[b"FUNCTION", b"LIST"], "-ERR pincore-server does not support scripting (FUNCTION)\r\n"),
        (&[b"FUNCTION", b"FLUSH"], "+OK\r\n"),
        (&[b"MODULE", b"LIST"], "-ERR pincore-server does not support modules (MODULE)\r\n"),
        (&[b"REPLICAOF", b"NO", b"ONE"], "-ERR pincore-server does not support becoming a replica: it is a master only (replicas attach to it with SYNC or PSYNC) (REPLICAOF)\r\n"),
        (&[b"WAIT", b"0", b"0"], ":0\r\n"),
        (&[b"WAIT", b"1", b"20"], ":0\r\n"),
        (&[b"BGREWRITEAOF"], "-ERR BGREWRITEAOF needs services.resp.settings.persistence.dir, the directory the append-only file is written in\r\n"),
        (&[b"BGSAVE"], "-ERR persistence is off: set services.resp.settings.persistence.dir to save snapshots\r\n"),
        (&[b"DEBUG", b"SLEEP", b"0"], "-ERR DEBUG command not allowed. Set services.resp.settings.enable_debug_command: true in the configuration file to allow it.\r\n"),
        (&[b"EVAL"], "-ERR wrong number of arguments for 'eval' command\r\n"),
    ] {
        assert_eq!(text(&call(&mut c, args)), expected, "{args:?}");
    }
}

/// One shard, DEBUG allowed.
fn debug_enabled() -> Server {
    Server::start_from(
        &format!(
            "shards: {{cpus: \"0\", sweep_interval_ms: 20}}\n{}",
            config_text(support::DEFAULT_LIMITS, DEFAULT_TIMEOUTS).replace(
                "resp: {listen: 127.0.0.1:0}",
                "resp: {listen: 127.0.0.1:0, settings: {enable_debug_command: true}}"
            )
        ),
        &[],
    )
}

fn expired_keys(c: &mut TcpStream) -> String {
    let info = text(&call(c, &[b"INFO", b"stats"]));
    info.lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .expect("expired_keys")
        .to_string()
}

#[test]
fn debug_set_active_expire_stops_and_restarts_the_sweep() {
    let s = debug_enabled();
    let mut c = s.connect();
    assert_eq!(
        text(&call(&mut c, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"])),
        "+OK\r\n"
    );
    assert_eq!(
        text(&call(&mut c, &[b"SET", b"k", b"v", b"PX", b"10"])),
        "+OK\r\n"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(expired_keys(&mut c), "0", "the sweep is off");
    assert_eq!(
        text(&call(&mut c, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"1"])),
        "+OK\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while expired_keys(&mut c) != "1" {
        assert!(Instant::now() < deadline, "the sweep never removed the key");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (args, expected) in [
        (
            &[&b"DEBUG"[..], b"SET-ACTIVE-EXPIRE", b"x"][..],
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            &[b"DEBUG", b"RELOAD"],
            "-ERR persistence is off: set services.resp.settings.persistence.dir to save snapshots\r\n",
        ),
        (
            &[b"DEBUG", b"JMAP"],
            "-ERR pincore-server does not support DEBUG JMAP\r\n",
        ),
        (
            &[b"DEBUG", b"nope"],
            "-ERR unknown subcommand or wrong number of arguments for 'nope'. Try DEBUG HELP.\r\n",
        ),
        (
            &[b"DEBUG", b"SLEEP", b"x"],
            "-ERR invalid sleep time 'x'\r\n",
        ),
    ] {
        assert_eq!(text(&call(&mut c, args)), expected, "{args:?}");
    }
}

#[test]
fn debug_sleep_delays_its_connection_only() {
    let s = debug_enabled();
    let (mut sleeper, mut other) = (s.connect(), s.connect());
    let mut request = Vec::new();
    encode_command(&mut request, &[b"DEBUG", b"SLEEP", b"0.5"]);
    let sent = Instant::now();
    sleeper.write_all(&request).expect("send");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(text(&call(&mut other, &[b"PING"])), "+PONG\r\n");
    assert!(
        sent.elapsed() < Duration::from_millis(400),
        "the shard was held"
    );
    assert_eq!(text(&read_at_least(&mut sleeper, 5)), "+OK\r\n");
    assert!(sent.elapsed() >= Duration::from_millis(500));
}

#[test]
fn info_sections_are_redis_s_default_all_and_named_ones() {
    let s = Server::start();
    let mut c = s.connect();
    assert!(call(&mut c, &[b"GET"]).starts_with(b"-ERR wrong number"));
    call(&mut c, &[b"GET", b"k"]);
    let default = text(&call(&mut c, &[b"INFO"]));
    assert!(
        default.contains("# Replication\r\nrole:master\r\n"),
        "{default}"
    );
    assert!(default.contains("master_repl_offset:0\r\n"));
    assert!(
        !default.contains("cmdstat_"),
        "commandstats is not a default section"
    );
    for all in [&b"all"[..], b"everything", b"cpu all"] {
        let args: Vec<&[u8]> = std::iter::once(&b"INFO"[..])
            .chain(all.split(|&b| b == b' '))
            .collect();
        let info = text(&call(&mut c, &args));
        assert!(info.contains("# Commandstats\r\n"), "{info}");
        assert!(info.contains("used_memory:"));
        assert_eq!(info.matches("# CPU").count(), 1, "each section once");
    }
    let stats = text(&call(&mut c, &[b"INFO", b"commandSTATS"]));
    assert!(!stats.contains("used_memory"), "{stats}");
    let get = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_get:"))
        .expect("cmdstat_get");
    assert!(get.starts_with("cmdstat_get:calls=2,usec="), "{get}");
    assert!(get.ends_with(",rejected_calls=1"), "{get}");
    assert_eq!(text(&call(&mut c, &[b"CONFIG", b"RESETSTAT"])), "+OK\r\n");
    let stats = text(&call(&mut c, &[b"INFO", b"commandstats"]));
    assert!(
        !stats.contains("cmdstat_get:"),
        "RESETSTAT zeroes commandstats: {stats}"
    );
}

#[test]
fn client_list_shows_the_query_buffer_of_the_command_running() {
    let s = Server::start();
    let (mut c, mut idle) = (s.connect(), s.connect());
    call(&mut idle, &[b"CLIENT", b"SETNAME", b"idle"]);
    // "*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n" is 26 bytes, as in Redis's own test.
    let list = text(&call(&mut c, &[b"client", b"list"]));
    let mine = list
        .lines()
        .find(|l| l.contains("cmd=client|list"))
        .expect("own line");
    assert!(mine.contains(" qbuf=26 qbuf-free="), "{mine}");
    let other = list
        .lines()
        .find(|l| l.contains("name=idle"))
        .expect("idle line");
    assert!(other.contains(" qbuf=0 qbuf-free="), "{other}");
    let info = text(&call(&mut c, &[b"client", b"info"]));
    assert!(info.contains(" qbuf=26 qbuf-free="), "{info}");
}
