//! `maxmemory` bounds the keyspace: under `noeviction` a write that would grow it is refused with Redis's
//! `-OOM` while reads and deletes go on; under an eviction policy writes go on and keys are evicted.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{Server, DEFAULT_LIMITS, DEFAULT_TIMEOUTS};

const MIB: usize = 1 << 20;
const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.";

fn server(settings: &str) -> Server {
    Server::start_from(
        &format!(
            "services:\n  resp: {{listen: 127.0.0.1:0, settings: {{{settings}}}}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\nlimits:\n{DEFAULT_LIMITS}timeouts:\n{DEFAULT_TIMEOUTS}"
        ),
        &[],
    )
}

/// Pipelines `SET key:i <1000 bytes>` for i in `keys` on one connection; returns each reply line.
fn set_many(s: &Server, keys: std::ops::Range<usize>) -> Vec<String> {
    let value = "v".repeat(1000);
    let mut stream = s.connect();
    let mut replies = Vec::new();
    let keys: Vec<usize> = keys.collect();
    for batch in keys.chunks(100) {
        let mut request = Vec::new();
        for i in batch {
            let key = format!("key:{i}");
            request.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1000\r\n{value}\r\n",
                    key.len()
                )
                .as_bytes(),
            );
        }
        stream.write_all(&request).unwrap();
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while text.matches("\r\n").count() < batch.len() {
            assert!(Instant::now() < deadline, "replies missing: {text:?}");
            let bytes = support::read_at_least(&mut stream, 1);
            assert!(!bytes.is_empty(), "connection closed after {text:?}");
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        replies.extend(text.lines().map(str::to_string));
    }
    replies
}

/// One field of `INFO section`, as a number.
fn info(s: &Server, section: &str, field: &str) -> usize {
    let text = s.cli(&["INFO", section]);
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn with_noeviction_writes_past_maxmemory_are_refused_and_reads_and_deletes_go_on() {
    let s = server("max_memory_bytes: 1048576, eviction_policy: noeviction");
    assert_eq!(s.cli(&["CONFIG", "GET", "maxmemory"]), "maxmemory\n1048576");
    assert_eq!(
        s.cli(&["CONFIG", "GET", "maxmemory-policy"]),
        "maxmemory-policy\nnoeviction"
    );
    // 2000 values of 1000 bytes: twice the limit.
    let replies = set_many(&s, 0..2000);
    let ok = replies.iter().filter(|r| *r == "+OK").count();
    let refused = replies.iter().filter(|r| *r == OOM).count();
    assert_eq!(ok + refused, 2000, "{:?}", &replies[..5]);
    assert!(ok > 500 && refused > 500, "{ok} stored, {refused} refused");
    let used = info(&s, "memory", "used_memory");
    // The check comes before the write, as in Redis: one value past the limit at most.
    assert!(
        used > MIB * 9 / 10 && used <= MIB + 2000,
        "used_memory {used}"
    );
    assert_eq!(info(&s, "memory", "maxmemory"), MIB);
    assert!(s
        .cli(&["INFO", "memory"])
        .contains("maxmemory_policy:noeviction"));
    assert_eq!(
        s.metric("pincore_errors_total{reason=\"oom\",shard=\"total\"}"),
        refused as f64
    );

    // More writes do not grow memory; reads and deletes still run.
    assert_eq!(set_many(&s, 5000..5100), vec![OOM.to_string(); 100]);
    assert_eq!(s.cli(&["INCR", "counter"]), OOM.trim_start_matches('-'));
    assert_eq!(info(&s, "memory", "used_memory"), used);
    assert_eq!(s.cli(&["GET", "key:0"]), "v".repeat(1000));
    let deleted: Vec<String> = (0..20).map(|i| format!("key:{i}")).collect();
    let mut del = vec!["DEL"];
    del.extend(deleted.iter().map(String::as_str));
    assert_eq!(s.cli(&del), "20");
    assert!(info(&s, "memory", "used_memory") < used);
    // Room again, for a write or a few.
    assert_eq!(set_many(&s, 9000..9001), vec!["+OK".to_string()]);
    s.assert_healthy();
}

#[test]
fn with_allkeys_lru_writes_go_on_and_keys_are_evicted() {
    let s = server("max_memory_bytes: 1048576, eviction_policy: allkeys-lru");
    let replies = set_many(&s, 0..5000);
    assert!(
        replies.iter().all(|r| r == "+OK"),
        "{:?}",
        replies.iter().find(|r| *r != "+OK")
    );
    let keys: usize = s.cli(&["DBSIZE"]).parse().unwrap();
    // About 1040 bytes per key (a 1024-byte block and the table's share): at most about 1008 fit.
    assert!((500..=1010).contains(&keys), "{keys} keys");
    assert!(info(&s, "memory", "used_memory") <= MIB + 2000);
    let evicted = s.metric("pincore_evicted_keys_total{shard=\"total\"}");
    assert_eq!(evicted as usize, 5000 - keys);
    assert_eq!(info(&s, "stats", "evicted_keys"), 5000 - keys);
    assert_eq!(
        s.cli(&["CONFIG", "GET", "maxmemory-policy"]),
        "maxmemory-policy\nallkeys-lru"
    );
    s.assert_healthy();
}

#[test]
fn sighup_sets_maxmemory_live() {
    let s = server("max_memory_bytes: 0");
    assert_eq!(s.cli(&["CONFIG", "GET", "maxmemory"]), "maxmemory\n0");
    assert!(set_many(&s, 0..1000).iter().all(|r| r == "+OK"));
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    std::fs::write(
        &s.config_path,
        text.replace("max_memory_bytes: 0", "max_memory_bytes: 524288"),
    )
    .unwrap();
    s.process.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.cli(&["CONFIG", "GET", "maxmemory"]) != "maxmemory\n524288" {
        assert!(Instant::now() < deadline, "not reloaded:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(set_many(&s, 2000..2001), vec![OOM.to_string()]);
    assert_eq!(s.cli(&["DBSIZE"]), "1000");
}
