//! The append-only file with the real binary: what SIGKILL leaves with `appendfsync always`, rewrites,
//! turning it on and off live, a file cut short or damaged, and the same directory read by redis-server and
//! written by it.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pincore_testkit::{command, require};
use support::persist::{assert_filled, fill, info_field, kill, refused_start};
use support::{config_text, spawn_redis, values, Client, Server, DEFAULT_LIMITS, DEFAULT_TIMEOUTS};

/// A configuration with `persistence` set to this flow-style body (`dir` is added); DEBUG allowed, no
/// snapshot at shutdown (what comes back comes from the append-only file).
fn config(dir: &Path, persistence: &str) -> String {
    config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS).replace(
        "resp: {listen: 127.0.0.1:0}",
        &format!(
            "resp: {{listen: 127.0.0.1:0, settings: {{enable_debug_command: true, persistence: {{dir: {}, save_on_shutdown: false{persistence}}}}}}}",
            dir.display()
        ),
    )
}

fn start(config: &str) -> (Server, Client) {
    let s = Server::start_from(config, &[]);
    let c = Client::connect(s.resp);
    (s, c)
}

/// Waits until no rewrite runs or is asked for, as Redis's test suite's `waitForBgrewriteaof`.
fn wait_for_rewrite(c: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(c, "aof_rewrite_in_progress") == "1"
        || info_field(c, "aof_rewrite_scheduled") == "1"
    {
        assert!(Instant::now() < deadline, "the rewrite did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Besides [`fill`]'s keys, three written by commands the file holds in another form (INCRBYFLOAT as SET,
/// LPOP as the pop, a transaction as MULTI ... EXEC), and one written then deleted.
fn fill_more(c: &mut Client) {
    assert_eq!(c.line("RPUSH q a b c d"), ":4\r\n");
    assert_eq!(c.line("LPOP q"), "$1\r\na\r\n");
    assert_eq!(c.line("SET f 10.5"), "+OK\r\n");
    assert_eq!(c.line("INCRBYFLOAT f 0.25"), "$5\r\n10.75\r\n");
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line("INCR counter"), "+QUEUED\r\n");
    assert_eq!(c.line("INCR counter"), "+QUEUED\r\n");
    assert_eq!(c.line("EXEC"), "*2\r\n:1\r\n:2\r\n");
    assert_eq!(c.line("SET deleted x"), "+OK\r\n");
    assert_eq!(c.line("DEL deleted"), ":1\r\n");
    // `gone` (PX 300) expires meanwhile.
    std::thread::sleep(Duration::from_millis(350));
}

/// What [`fill`] and [`fill_more`] wrote.
fn assert_filled_more(c: &mut Client) {
    assert_filled(c, 3);
    assert_eq!(
        c.line("LRANGE q 0 -1"),
        "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
    );
    assert_eq!(c.line("GET f"), "$5\r\n10.75\r\n");
    assert_eq!(c.line("GET counter"), "$1\r\n2\r\n");
    assert_eq!(c.line("EXISTS deleted"), ":0\r\n");
}

/// Sends `text` (inline commands) in one write and reads `replies` replies.
fn pipelined(c: &mut Client, text: &str, replies: usize) -> Vec<u8> {
    use std::io::Write;
    c.stream().write_all(text.as_bytes()).unwrap();
    c.receive(replies, &[b"pipeline"])
}

fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(aof_dir(dir).join("appendonly.aof.manifest")).unwrap_or_default()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(aof_dir(dir))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn with_appendfsync_always_every_answered_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", appendonly: true, appendfsync: always");
    let (s, mut c) = start(&config);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    fill(&mut c);
    fill_more(&mut c);
    // A pipeline of writes: every reply seen means the write is on disk.
    let mut pipeline = String::new();
    for i in 0..200 {
        pipeline.push_str(&format!("RPUSH big {i}\r\n"));
    }
    let replies = pipelined(&mut c, &pipeline, 200);
    assert!(String::from_utf8_lossy(&replies).ends_with(":200\r\n"));
    // Connections waiting together (on both shards) share flushes; each still gets its reply.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let addr = s.resp;
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..100 {
                    assert_eq!(c.line(&format!("SET w{w}:{i} {i}")), "+OK\r\n");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    kill(s);
    assert!(!dir.path().join("pincore.snapshot").exists());

    let (s, mut c) = start(&config);
    assert_eq!(c.line("LLEN big"), ":200\r\n");
    assert_eq!(c.line("DEL big"), ":1\r\n");
    for w in 0..4 {
        assert_eq!(c.line(&format!("GET w{w}:99")), "$2\r\n99\r\n");
    }
    let mut args = vec!["DEL".to_string()];
    args.extend((0..4).flat_map(|w| (0..100).map(move |i| format!("w{w}:{i}"))));
    let deleted: i64 = c.line(&args.join(" "))[1..].trim().parse().unwrap();
    assert_eq!(
        deleted, 400,
        "every write answered before the kill came back"
    );
    assert_filled_more(&mut c);
    assert!(s.log().contains("append-only file replayed"), "{}", s.log());
    // Appending went on in the same file after the restart.
    assert_eq!(c.line("SET after-restart 1"), "+OK\r\n");
    kill(s);
    let (_s, mut c) = start(&config);
    assert_eq!(c.line("GET after-restart"), "$1\r\n1\r\n");
}

#[test]
fn a_rewrite_compacts_the_file_into_a_new_base_and_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", appendonly: true");
    let (s, mut c) = start(&config);
    fill(&mut c);
    fill_more(&mut c);
    let mut pipeline = String::new();
    for _ in 0..2000 {
        pipeline.push_str("INCR hits\r\n");
    }
    pipelined(&mut c, &pipeline, 2000);
    let before: u64 = info_field(&mut c, "aof_current_size").parse().unwrap();
    assert!(before > 2000 * 20, "{before}");
    assert_eq!(
        c.line("BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    wait_for_rewrite(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(
        info_field(&mut c, "aof_rewrites"),
        "2",
        "turning on, then this one"
    );
    let after: u64 = info_field(&mut c, "aof_current_size").parse().unwrap();
    assert!(after < before / 10, "{after} against {before}");
    // Only the new base and incr file are left, and the manifest lists them.
    assert_eq!(
        files(dir.path()),
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    // A base written as commands, and DEBUG LOADAOF reading it in the running server.
    assert_eq!(c.line("CONFIG SET aof-use-rdb-preamble no"), "+OK\r\n");
    assert_eq!(c.line("SET written-after 1"), "+OK\r\n");
    assert_eq!(
        c.line("BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    wait_for_rewrite(&mut c);
    assert!(files(dir.path()).contains(&"appendonly.aof.3.base.aof".to_string()));
    assert_eq!(c.line("SET written-after-rewrite 1"), "+OK\r\n");
    let digest = c.line("DEBUG DIGEST");
    assert_eq!(c.line("DEBUG LOADAOF"), "+OK\r\n");
    assert_eq!(c.line("DEBUG DIGEST"), digest);
    assert_eq!(c.line("GET hits"), "$4\r\n2000\r\n");
    kill(s);

    let (_s, mut c) = start(&config);
    assert_eq!(c.line("GET hits"), "$4\r\n2000\r\n");
    assert_eq!(
        c.line("EXISTS written-after written-after-rewrite"),
        ":2\r\n"
    );
    assert_eq!(
        c.line("DEL hits written-after written-after-rewrite"),
        ":3\r\n"
    );
    assert_filled_more(&mut c);
}

#[test]
fn appendonly_turns_on_and_off_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let off = config(dir.path(), "");
    let (s, mut c) = start(&off);
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    assert_eq!(
        c.line("CONFIG GET appendonly"),
        "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
    );
    assert_eq!(c.line("SET before-on 1"), "+OK\r\n");
    assert_eq!(c.line("CONFIG SET appendonly yes"), "+OK\r\n");
    wait_for_rewrite(&mut c);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    assert_eq!(c.line("SET after-on 2"), "+OK\r\n");
    assert_eq!(c.line("CONFIG SET appendfsync always"), "+OK\r\n");
    assert_eq!(c.line("SET while-always 3"), "+OK\r\n");
    let e = c.line("CONFIG SET appendfsync sometimes");
    assert!(e.contains("always, everysec, no"), "{e}");
    kill(s);

    // The file wins over the (absent) snapshot once appendonly is on in the file's configuration.
    let on = config(dir.path(), ", appendonly: true");
    let (s, mut c) = start(&on);
    assert_eq!(
        c.line("MGET before-on after-on while-always"),
        "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
    );
    // Off: writes stop reaching the file.
    assert_eq!(c.line("CONFIG SET appendonly no"), "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_enabled") != "0" {
        assert!(Instant::now() < deadline, "the file was not turned off");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.line("SET after-off 4"), "+OK\r\n");
    kill(s);
    let (_s, mut c) = start(&on);
    assert_eq!(c.line("EXISTS before-on after-off"), ":1\r\n");

    // Without a directory there is nowhere to write: refused, naming the setting.
    let bare = config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS);
    let (_s, mut c) = start(&bare);
    let e = c.line("CONFIG SET appendonly yes");
    assert!(
        e.starts_with("-ERR") && e.contains("persistence.dir"),
        "{e}"
    );
    let e = c.line("BGREWRITEAOF");
    assert!(
        e.starts_with("-ERR") && e.contains("persistence.dir"),
        "{e}"
    );
}

#[test]
fn a_command_cut_short_by_a_crash_is_cut_off_and_damage_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", appendonly: true");
    let (s, mut c) = start(&config);
    assert_eq!(c.line("SET a 1"), "+OK\r\n");
    assert_eq!(c.line("SET b 2"), "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_buffer_length") != "0" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(s);
    let incr = aof_dir(dir.path()).join("appendonly.aof.1.incr.aof");
    let whole = std::fs::read(&incr).unwrap();
    // What a crash in the middle of a write leaves: half a command.
    let mut cut = whole.clone();
    cut.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1");
    std::fs::write(&incr, &cut).unwrap();
    let (s, mut c) = start(&config);
    assert_eq!(c.line("MGET a b c"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
    assert!(s.log().contains("cut short"), "{}", s.log());
    assert_eq!(
        std::fs::read(&incr).unwrap(),
        whole,
        "the partial command is cut off the file"
    );
    assert_eq!(c.line("SET d 4"), "+OK\r\n");
    kill(s);
    let (s, mut c) = start(&config);
    assert_eq!(c.line("GET d"), "$1\r\n4\r\n");
    kill(s);

    // Bytes that are no command, in the middle: the start stops, naming the file and the byte.
    let mut damaged = std::fs::read(&incr).unwrap();
    let at = damaged.len() / 2;
    damaged[at..at + 3].copy_from_slice(b"???");
    std::fs::write(&incr, &damaged).unwrap();
    let (code, text) = refused_start(&config, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("appendonly.aof.1.incr.aof") && text.contains("byte"),
        "{text}"
    );
    assert!(text.contains("--start-empty"), "{text}");
}

/// redis-server's `DEBUG DIGEST`-free view of a dataset: every key with its type, value and TTL bucket.
fn dataset(c: &mut Client) -> Vec<String> {
    let keys = c.line("KEYS *");
    let mut names: Vec<String> = keys
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.starts_with('$') && !l.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names
        .iter()
        .map(|k| {
            let kind = c.line(&format!("TYPE {k}"));
            let value = match kind.trim() {
                "+string" => c.line(&format!("GET {k}")),
                "+list" => c.line(&format!("LRANGE {k} 0 -1")),
                "+hash" => c.line(&format!("HGETALL {k}")),
                "+set" => c.line(&format!("SORT {k} ALPHA")),
                "+zset" => c.line(&format!("ZRANGE {k} 0 -1 WITHSCORES")),
                other => panic!("type {other}"),
            };
            let ttl: i64 = c.line(&format!("TTL {k}"))[1..].trim().parse().unwrap();
            // Seconds may tick between the two servers' answers.
            format!("{k} {kind:?} {value:?} ttl>0:{}", ttl > 0)
        })
        .collect()
}

#[test]
fn redis_server_loads_the_file_pincore_wrote_and_the_other_way_round() {
    require!(command("redis-server"));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", appendonly: true");
    let (s, mut c) = start(&config);
    fill(&mut c);
    fill_more(&mut c);
    // Every type small and large, so that redis-server's rewrite below writes each compact encoding.
    values::fill(&mut c);
    // A base with every type (an RDB base), then writes in the incr file after it.
    assert_eq!(
        c.line("BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    wait_for_rewrite(&mut c);
    assert_eq!(c.line("SADD t y"), ":1\r\n");
    assert_eq!(c.line("HSET big-hash a 1 b 2 c 3"), ":3\r\n");
    let ours = dataset(&mut c);
    drop(c);
    kill(s);

    let (_redis, addr) =
        spawn_redis(&["--dir", dir.path().to_str().unwrap(), "--appendonly", "yes"]);
    let mut r = Client::connect(addr);
    assert_eq!(
        dataset(&mut r),
        ours,
        "redis-server loaded what pincore-server wrote"
    );
    // redis-server appends, rewrites (its own compact encodings), appends again.
    assert_eq!(r.line("RPUSH from-redis x y"), ":2\r\n");
    assert!(r.line("BGREWRITEAOF").starts_with('+'));
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut r, "aof_rewrite_in_progress") == "1"
        || info_field(&mut r, "aof_rewrite_scheduled") == "1"
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(r.line("ZADD z 7 o"), ":1\r\n");
    let theirs = dataset(&mut r);
    // Killed: what it wrote is in the files (in the page cache at least), as after a crash.
    drop(r);
    drop(_redis);

    let (_s, mut c) = start(&config);
    assert_eq!(
        dataset(&mut c),
        theirs,
        "pincore-server loaded what redis-server wrote"
    );
}
