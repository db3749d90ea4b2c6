//! Transactions over real sockets: EXEC is atomic for a client on another shard, WATCH sees writes from
//! other connections, the MULTI queue and the watched keys are bounded, a closed connection leaves no
//! watch behind, and INFO and `maxmemory` refuse what they must inside MULTI.

mod support;

use std::time::{Duration, Instant};

use pincore_testkit::{require, Missing};
use support::{Client, Server, DEFAULT_TIMEOUTS};

const PORTS: &str = "  echo: {listen: 127.0.0.1:0}\n  admin: {listen: 127.0.0.1:0}\n";

/// CPUs 0 and 1 to pin two shards on.
fn two_cpus() -> Result<(), Missing> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (cpus >= 2).then_some(()).ok_or_else(|| {
        Missing(format!(
            "two CPUs for two shards (this machine allows {cpus})"
        ))
    })
}

/// A server of two shards (the keyspace shared, each shard serving its own connections).
fn two_shards() -> Server {
    Server::start_from(
        &format!("shards: {{cpus: \"0-1\"}}\nservices:\n  resp: {{listen: 127.0.0.1:0}}\n{PORTS}"),
        &[],
    )
}

/// A connection served by shard `shard`: connections are spread by the kernel, so connect until the
/// shard's ECHO counter shows it served ours.
fn connect_to_shard(s: &Server, shard: usize) -> Client {
    let series = format!("pincore_commands_total{{command=\"echo\",shard=\"{shard}\"}}");
    for _ in 0..64 {
        let mut c = Client::connect(s.resp);
        let before = s.metric(&series);
        assert_eq!(c.line("ECHO which"), "$5\r\nwhich\r\n");
        if s.metric(&series) > before {
            return c;
        }
    }
    panic!("64 connections and none on shard {shard}");
}

/// A SORT whose BY and GET patterns name keys all over the keyspace holds every part: one on another shard
/// never sees a transaction half done, and neither the SORT nor the EXEC queueing one waits on the other.
#[test]
fn sort_by_patterns_is_atomic_and_runs_under_exec_beside_another_shard() {
    require!(two_cpus());
    let s = two_shards();
    let mut writer = connect_to_shard(&s, 0);
    let mut sorter = connect_to_shard(&s, 1);
    let ids: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(
        writer.line(&format!("RPUSH ids {}", ids.join(" "))),
        ":20\r\n"
    );
    // Each transaction flips every weight's sign: a SORT BY them sees the ids ascending or descending.
    let weights = |sign: i64| {
        let pairs: Vec<String> = (0..20).map(|i| format!("w_{i} {}", sign * i)).collect();
        format!("MSET {}", pairs.join(" "))
    };
    assert_eq!(writer.line(&weights(1)), "+OK\r\n");
    let ascending = sorter.line("SORT ids BY w_*");
    let body: Vec<&str> = ascending.lines().skip(1).collect();
    let reversed: Vec<&str> = body.chunks(2).rev().flatten().copied().collect();
    let descending = format!("*20\r\n{}\r\n", reversed.join("\r\n"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sorts = {
        let stop = stop.clone();
        let (ascending, descending) = (ascending.clone(), descending.clone());
        std::thread::spawn(move || {
            let (mut sorts, mut torn) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && sorts < 100_000 {
                let reply = sorter.line("SORT ids BY w_*");
                if reply != ascending && reply != descending && torn.len() < 3 {
                    torn.push(reply);
                }
                sorts += 1;
            }
            (sorts, torn)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut transactions = 0;
    while transactions < 500 && Instant::now() < deadline {
        let sign = if transactions % 2 == 0 { -1 } else { 1 };
        assert_eq!(writer.line("MULTI"), "+OK\r\n");
        assert_eq!(writer.line(&weights(sign)), "+QUEUED\r\n");
        assert_eq!(
            writer.line("SORT ids BY w_* GET w_* LIMIT 0 1"),
            "+QUEUED\r\n"
        );
        let exec = writer.line("EXEC");
        let lowest = if sign == 1 { "0" } else { "-19" };
        assert_eq!(
            exec,
            format!("*2\r\n+OK\r\n*1\r\n${}\r\n{lowest}\r\n", lowest.len())
        );
        transactions += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sorts, torn) = sorts.join().unwrap();
    assert!(
        torn.is_empty(),
        "SORT saw a transaction half done: {torn:?}"
    );
    assert!(
        transactions >= 50 && sorts >= 50,
        "{transactions} transactions, {sorts} sorts"
    );
    s.assert_healthy();
}

#[test]
fn exec_is_atomic_for_a_reader_on_another_shard() {
    require!(two_cpus());
    let s = two_shards();
    let mut writer = connect_to_shard(&s, 0);
    let mut reader = connect_to_shard(&s, 1);
    // Ten keys, so that they fall in several keyspace parts (one part would be atomic anyway).
    let keys: Vec<String> = (0..10).map(|i| format!("counter:{i}")).collect();
    let mget = format!("MGET {}", keys.join(" "));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reads = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut reads, mut torn) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && reads < 200_000 {
                let reply = reader.line(&mget);
                let values: Vec<&str> = reply
                    .lines()
                    .skip(1)
                    .filter(|l| !l.starts_with('$'))
                    .collect();
                if values.windows(2).any(|w| w[0] != w[1]) && torn.len() < 5 {
                    torn.push(reply.clone());
                }
                reads += 1;
            }
            (reads, torn)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut transactions = 0;
    while transactions < 2000 && Instant::now() < deadline {
        assert_eq!(writer.line("MULTI"), "+OK\r\n");
        for key in &keys {
            assert_eq!(writer.line(&format!("INCR {key}")), "+QUEUED\r\n");
        }
        let exec = writer.line("EXEC");
        assert!(exec.starts_with("*10\r\n:"), "{exec}");
        transactions += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, torn) = reads.join().unwrap();
    assert!(
        torn.is_empty(),
        "MGET saw a transaction half done ({reads} reads, {transactions} transactions): {torn:?}"
    );
    assert!(
        transactions >= 100 && reads >= 100,
        "{transactions} transactions, {reads} reads"
    );
    let committed = s.metric("pincore_transactions_total{outcome=\"exec\",shard=\"total\"}");
    assert_eq!(committed, f64::from(transactions));
    // Each INCR is counted once, when EXEC runs it, not also when it is queued.
    let incrs = s.metric("pincore_commands_total{command=\"incr\",shard=\"total\"}");
    assert_eq!(incrs, f64::from(transactions * 10));
}

#[test]
fn watch_aborts_on_a_write_from_another_shard_and_not_on_other_keys() {
    require!(two_cpus());
    let s = two_shards();
    let mut watcher = connect_to_shard(&s, 0);
    let mut other = connect_to_shard(&s, 1);
    // Many other keys written: some share the watched key's part, and WATCH is per key.
    assert_eq!(watcher.line("WATCH balance"), "+OK\r\n");
    for i in 0..1000 {
        assert_eq!(other.line(&format!("SET neighbour:{i} x")), "+OK\r\n");
    }
    assert_eq!(other.line("DEL neighbour:0 missing"), ":1\r\n");
    assert_eq!(watcher.line("MULTI"), "+OK\r\n");
    assert_eq!(watcher.line("INCRBY balance 10"), "+QUEUED\r\n");
    assert_eq!(watcher.line("EXEC"), "*1\r\n:10\r\n");

    assert_eq!(watcher.line("WATCH balance"), "+OK\r\n");
    assert_eq!(other.line("INCRBY balance 5"), ":15\r\n");
    assert_eq!(watcher.line("MULTI"), "+OK\r\n");
    assert_eq!(watcher.line("INCRBY balance 10"), "+QUEUED\r\n");
    assert_eq!(watcher.line("EXEC"), "*-1\r\n");
    assert_eq!(other.line("GET balance"), "$2\r\n15\r\n");
    let aborted = s.metric("pincore_transactions_total{outcome=\"watch_aborted\",shard=\"total\"}");
    assert_eq!(aborted, 1.0);
}

#[test]
fn a_closed_connection_leaves_no_watch_behind() {
    let s = Server::start();
    let keys: Vec<String> = (0..500).map(|i| format!("w:{i}")).collect();
    let watched = "pincore_watched_keys{shard=\"0\"}";
    let total = |s: &Server| -> f64 {
        let (_, body) = s.http_get("/metrics");
        body.lines()
            .filter(|l| l.starts_with("pincore_watched_keys{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(s.metric(watched) == 0.0);
    {
        let mut a = Client::connect(s.resp);
        let mut b = Client::connect(s.resp);
        assert_eq!(a.line(&format!("WATCH {}", keys.join(" "))), "+OK\r\n");
        assert_eq!(
            b.line(&format!("WATCH {}", keys[..100].join(" "))),
            "+OK\r\n"
        );
        assert_eq!(total(&s), 500.0);
        assert_eq!(b.line("UNWATCH"), "+OK\r\n");
        assert_eq!(total(&s), 500.0, "a still watches them all");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while total(&s) != 0.0 {
        assert!(
            Instant::now() < deadline,
            "watches left after the connection closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.assert_healthy();
}

#[test]
fn the_queue_and_the_watched_keys_are_bounded_like_one_request() {
    let s = Server::start_with(
        "  max_array_len: 16\n  max_request_bytes: 8192\n  max_bulk_len: 4096\n  max_inline_len: 1024\n  max_read_buffer_bytes_per_shard: 1048576\n  max_reply_bytes: 8192\n",
        DEFAULT_TIMEOUTS,
    );
    let mut c = Client::connect(s.resp);
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    for i in 0..16 {
        assert_eq!(c.line(&format!("SET k{i} v")), "+QUEUED\r\n", "command {i}");
    }
    let refused = c.line("SET k16 v");
    assert!(
        refused.starts_with("-ERR transaction larger than limits.max_array_len"),
        "{refused}"
    );
    assert_eq!(
        c.line("PING"),
        "+QUEUED\r\n",
        "still in MULTI, keeping nothing"
    );
    assert_eq!(
        c.line("EXEC"),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(c.line("EXISTS k0"), ":0\r\n");
    // Bytes: three values of 3000 bytes are more than 8192.
    let value = "x".repeat(3000);
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line(&format!("SET a {value}")), "+QUEUED\r\n");
    assert_eq!(c.line(&format!("SET b {value}")), "+QUEUED\r\n");
    assert!(c
        .line(&format!("SET c {value}"))
        .starts_with("-ERR transaction larger"));
    assert!(c.line("EXEC").starts_with("-EXECABORT"));

    let ten = |from: usize| {
        (from..from + 10)
            .map(|i| format!("key{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(c.line(&format!("WATCH {}", ten(0))), "+OK\r\n");
    assert_eq!(
        c.line(&format!("WATCH {}", ten(5))),
        "+OK\r\n",
        "5 new: 15 in all"
    );
    let refused = c.line(&format!("WATCH {}", ten(20)));
    assert!(refused.starts_with("-ERR WATCH would exceed"), "{refused}");
    assert_eq!(c.line("UNWATCH"), "+OK\r\n");
    assert_eq!(c.line(&format!("WATCH {}", ten(20))), "+OK\r\n");
}

#[test]
fn info_is_refused_inside_multi_and_aborts_the_transaction() {
    let s = Server::start();
    let mut c = Client::connect(s.resp);
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line("SET k v"), "+QUEUED\r\n");
    let refused = c.line("INFO");
    assert!(
        refused.starts_with("-ERR Command not allowed inside a transaction: INFO"),
        "{refused}"
    );
    assert!(c.line("EXEC").starts_with("-EXECABORT"));
    assert_eq!(c.line("EXISTS k"), ":0\r\n");
    assert!(c.line("INFO keyspace").starts_with('$'));
}

/// What defers its reply (KEYS walks the parts yielding between them; CLIENT LIST/KILL and CONFIG SET wait
/// for every shard) cannot run under EXEC's locks and is refused while queueing; SCAN, CLIENT ID and
/// PUBLISH run inside EXEC, SCAN over the parts EXEC holds.
/// Commands that defer their reply (they wait for other shards or yield between steps) run inside EXEC too:
/// they finish once EXEC has released its locks, each reply in its place; a bad CONFIG SET answers its error
/// there and changes nothing. INFO and MONITOR are refused while queueing.
#[test]
fn deferred_commands_run_inside_exec_after_its_locks_and_info_is_refused() {
    let s = Server::start();
    let mut c = Client::connect(s.resp);
    for refused in ["INFO", "MONITOR"] {
        assert_eq!(c.line("MULTI"), "+OK\r\n");
        let reply = c.line(refused);
        assert!(
            reply.starts_with(&format!(
                "-ERR Command not allowed inside a transaction: {refused}"
            )),
            "{refused}: {reply}"
        );
        assert!(c.line("EXEC").starts_with("-EXECABORT"), "{refused}");
    }
    assert_eq!(c.line("MSET a 1 b 2 c 3"), "+OK\r\n");
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    for queued in [
        "SET foo bar",
        "CONFIG SET maxmemory bla",
        "KEYS [ab]",
        "CONFIG SET maxmemory 1gb",
        "CONFIG GET maxmemory",
        "CLIENT KILL ID 999999",
        "SCAN 0 COUNT 1000",
        "INCR a",
    ] {
        assert_eq!(c.line(queued), "+QUEUED\r\n", "{queued}");
    }
    let exec = c.line("EXEC");
    let expected_start = "*8\r\n+OK\r\n-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n*2\r\n";
    assert!(exec.starts_with(expected_start), "{exec}");
    assert!(
        exec.contains("+OK\r\n*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n:0\r\n*2\r\n$1\r\n0\r\n"),
        "CONFIG SET applies after the transaction's commands, CONFIG GET runs in it: {exec}"
    );
    assert!(exec.ends_with(":2\r\n"), "{exec}");
    assert_eq!(
        c.line("CONFIG GET maxmemory"),
        "*2\r\n$9\r\nmaxmemory\r\n$10\r\n1073741824\r\n"
    );
    assert_eq!(c.line("CONFIG SET maxmemory 0"), "+OK\r\n");
}

/// The collection commands run under EXEC's held parts like the string ones (ZUNIONSTORE's source keys,
/// which its table row does not name, included), a change to a watched hash aborts EXEC, and a blocking
/// pop runs inside EXEC without blocking.
#[test]
fn collections_run_inside_exec_and_their_changes_break_a_watch() {
    let s = Server::start();
    let mut c = Client::connect(s.resp);
    let mut other = Client::connect(s.resp);
    assert_eq!(c.line("ZADD z1 1 a 2 b"), ":2\r\n");
    assert_eq!(c.line("ZADD z2 3 b 4 c"), ":2\r\n");
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    for queued in [
        "HSET h f v",
        "SADD s x y",
        "RPUSH l a b",
        "ZUNIONSTORE dest 2 z1 z2",
        "SINTERSTORE s2 s",
        "LMOVE l l2 LEFT RIGHT",
    ] {
        assert_eq!(c.line(queued), "+QUEUED\r\n", "{queued}");
    }
    assert_eq!(
        c.line("EXEC"),
        "*6\r\n:1\r\n:2\r\n:2\r\n:3\r\n:2\r\n$1\r\na\r\n"
    );
    assert_eq!(c.line("ZSCORE dest b"), "$1\r\n5\r\n");
    assert_eq!(c.line("WATCH h"), "+OK\r\n");
    assert_eq!(other.line("HSET h g w"), ":1\r\n");
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line("HLEN h"), "+QUEUED\r\n");
    assert_eq!(c.line("EXEC"), "*-1\r\n");
    // Blocking pops run inside EXEC without blocking, as Redis runs them: what is there, or a null.
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    for queued in ["BLPOP l 0", "BLPOP l 0", "BLMPOP 0 1 l2 RIGHT COUNT 5"] {
        assert_eq!(c.line(queued), "+QUEUED\r\n", "{queued}");
    }
    assert_eq!(
        c.line("EXEC"),
        "*3\r\n*2\r\n$1\r\nl\r\n$1\r\nb\r\n*-1\r\n*2\r\n$2\r\nl2\r\n*1\r\n$1\r\na\r\n"
    );
}

/// Every command of the table, queued with as many arguments as its arity asks (each `1`) and run by EXEC:
/// each must answer and leave the shard serving. A command that locked a keyspace part itself, instead of
/// using the parts EXEC holds, would deadlock its shard here.
#[test]
fn every_command_runs_under_exec_without_stalling_its_shard() {
    let s = Server::start();
    let mut c = Client::connect(s.resp);
    let table = String::from_utf8_lossy(&c.call(&[b"COMMAND"])).into_owned();
    // Each row starts `*N`, `$len`, the name, `:arity`.
    let mut rows = Vec::new();
    let mut lines = table.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with('$') {
            continue;
        }
        let Some(name) = lines.next() else { break };
        if let Some(arity) = lines.peek().and_then(|l| l.strip_prefix(':')) {
            if let Ok(arity) = arity.parse::<i64>() {
                if name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_' || ch == '-')
                {
                    rows.push((name.to_string(), arity));
                }
            }
        }
    }
    assert!(rows.len() > 100, "COMMAND listed {} rows", rows.len());
    let skip = [
        "multi",
        "exec",
        "discard",
        "quit",
        "reset",
        "subscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
    ];
    let mut ran = 0;
    for (name, arity) in rows.iter().filter(|(n, _)| !skip.contains(&n.as_str())) {
        let mut args: Vec<&[u8]> = vec![name.as_bytes()];
        args.extend(std::iter::repeat_n(
            &b"1"[..],
            (arity.unsigned_abs() as usize).saturating_sub(1),
        ));
        assert_eq!(c.call(&[b"MULTI"]), b"+OK\r\n");
        let queued = c.call(&args);
        let exec = c.call(&[b"EXEC"]);
        if queued == b"+QUEUED\r\n" {
            assert!(
                exec.starts_with(b"*1\r\n"),
                "{name}: EXEC answered {:?}",
                String::from_utf8_lossy(&exec)
            );
            ran += 1;
        }
        assert_eq!(c.call(&[b"PING"]), b"+PONG\r\n", "{name}");
    }
    assert!(ran > 100, "only {ran} commands ran inside EXEC");
    s.assert_healthy();
}

#[test]
fn over_maxmemory_writes_are_refused_while_queueing_and_at_exec() {
    let s = Server::start_from(
        &format!(
            "services:\n  resp: {{listen: 127.0.0.1:0, settings: {{max_memory_bytes: 100000, eviction_policy: noeviction}}}}\n{PORTS}"
        ),
        &[],
    );
    let mut c = Client::connect(s.resp);
    let value = "v".repeat(1000);
    assert_eq!(c.line("SET x small"), "+OK\r\n");
    // Queued while there is room; the room is gone by EXEC: only a transaction of reads runs.
    let mut reads = Client::connect(s.resp);
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line("SET y 1"), "+QUEUED\r\n");
    assert_eq!(reads.line("MULTI"), "+OK\r\n");
    assert_eq!(reads.line("GET x"), "+QUEUED\r\n");
    assert_eq!(reads.line("DEL x"), "+QUEUED\r\n");
    let mut filler = Client::connect(s.resp);
    let mut i = 0;
    while filler.line(&format!("SET fill:{i} {value}")) == "+OK\r\n" {
        i += 1;
        assert!(i < 1000, "maxmemory never refused a write");
    }
    assert_eq!(
        c.line("EXEC"),
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(reads.line("EXEC"), "*2\r\n$5\r\nsmall\r\n:1\r\n");
    // Over the limit, every command is refused while queueing, as in Redis; DISCARD still works.
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert!(c.line("GET y").starts_with("-OOM"));
    assert_eq!(c.line("DISCARD"), "+OK\r\n");
    assert_eq!(c.line("GET y"), "$-1\r\n");
}
