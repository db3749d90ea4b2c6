//! What the persistence tests share (snapshots, the append-only file): a server killed as a crash kills
//! it, INFO persistence's fields, a start that must be refused, and keys of every type with deadlines.

use std::process::{Command, Stdio};
use std::time::Duration;

use pincore_testkit::KillOnDrop;

use super::{Client, Server};

/// SIGKILL, as a crash: nothing is flushed or saved on the way out.
pub fn kill(mut s: Server) {
    s.process.signal(libc::SIGKILL);
    s.process
        .wait_timeout(Duration::from_secs(10))
        .expect("killed");
}

/// One field of INFO persistence.
pub fn info_field(c: &mut Client, field: &str) -> String {
    let info = c.line("INFO persistence");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

/// Starts the server on `config` expecting it to refuse: (exit code, what it printed).
pub fn refused_start(config: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.yaml");
    std::fs::write(&path, config).unwrap();
    let log = dir.path().join("server.log");
    let mut process = KillOnDrop::spawn(
        Command::new(env!("CARGO_BIN_EXE_pincore-server"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .unwrap();
    let status = process.wait_timeout(Duration::from_secs(20));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let status =
        status.unwrap_or_else(|| panic!("the server started instead of refusing:\n{text}"));
    (status.code(), text)
}

/// Keys of every type, two with deadlines, and one (`gone`) that expires 300 ms later.
pub fn fill(c: &mut Client) {
    assert_eq!(c.line("SET s hello"), "+OK\r\n");
    assert_eq!(c.line("EXPIRE s 100"), ":1\r\n");
    assert_eq!(c.line("HSET h f1 v1 f2 v2"), ":2\r\n");
    assert_eq!(c.line("PEXPIRE h 200000"), ":1\r\n");
    assert_eq!(c.line("LPUSH l a b c"), ":3\r\n");
    assert_eq!(c.line("SADD t 1 2 x"), ":3\r\n");
    assert_eq!(c.line("ZADD z 1.5 m -2 n"), ":2\r\n");
    assert_eq!(c.line("SET gone soon PX 300"), "+OK\r\n");
}

/// What [`fill`] wrote, once `gone` has expired; `others` keys were written besides.
pub fn assert_filled(c: &mut Client, others: usize) {
    assert_eq!(c.line("GET s"), "$5\r\nhello\r\n");
    let ttl: i64 = c.line("TTL s")[1..].trim().parse().unwrap();
    assert!((90..=100).contains(&ttl), "TTL s {ttl}");
    let pttl: i64 = c.line("PTTL h")[1..].trim().parse().unwrap();
    assert!((190_000..=200_000).contains(&pttl), "PTTL h {pttl}");
    assert_eq!(
        c.line("HGETALL h"),
        "*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"
    );
    assert_eq!(
        c.line("LRANGE l 0 -1"),
        "*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"
    );
    assert_eq!(c.line("TTL l"), ":-1\r\n");
    assert_eq!(c.line("SCARD t"), ":3\r\n");
    assert_eq!(c.line("SISMEMBER t x"), ":1\r\n");
    assert_eq!(
        c.line("ZRANGE z 0 -1 WITHSCORES"),
        "*4\r\n$1\r\nn\r\n$2\r\n-2\r\n$1\r\nm\r\n$3\r\n1.5\r\n"
    );
    assert_eq!(c.line("EXISTS gone"), ":0\r\n", "expired before the load");
    assert_eq!(c.line("DBSIZE"), format!(":{}\r\n", 5 + others));
}
