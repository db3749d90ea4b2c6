//! Memory the server gives back: after FLUSHALL of many keys and after large values are overwritten with
//! small ones, the process's RSS falls back near where it started, and FLUSHALL does not stall the server.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{read_at_least, Server};

/// Sends `count` commands built by `command` in one pipeline and waits for all `+OK`s.
fn pipeline_sets(server: &Server, count: usize, command: impl Fn(usize) -> Vec<u8>) {
    let mut stream = server.connect();
    let mut batch = Vec::new();
    for i in 0..count {
        batch.extend(command(i));
        if batch.len() > 1 << 20 || i + 1 == count {
            stream.write_all(&batch).unwrap();
            batch.clear();
        }
    }
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < count * 5 {
        assert!(Instant::now() < deadline, "replies did not arrive");
        got += read_at_least(&mut stream, 1).len();
    }
}

fn set(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pincore_resp::encode_command(&mut out, &[b"SET", key, value]);
    out
}

/// RSS settles within a bound time after frees (the flush frees on a thread of its own).
fn settled_rss(server: &Server, below: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rss = server.rss_kib();
        if rss < below || Instant::now() > deadline {
            return rss;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn flushall_returns_the_keys_memory_without_stalling() {
    let server = Server::start();
    let before = server.rss_kib();
    let value = [b'v'; 64];
    pipeline_sets(&server, 300_000, |i| {
        set(format!("k:{i:010}").as_bytes(), &value)
    });
    let loaded = server.rss_kib();
    assert!(
        loaded > before + 30_000,
        "300k keys should take tens of MiB: {before} → {loaded} KiB"
    );
    // The loading connection is gone on the server's side too (its buffers freed) before FLUSHALL returns
    // the heap's free pages to the kernel: what it freed later would stay.
    let deadline = Instant::now() + Duration::from_secs(10);
    // Only the asking connection left.
    while !server
        .cli(&["INFO", "clients"])
        .lines()
        .any(|l| l.trim_end() == "connected_clients:1")
    {
        assert!(
            Instant::now() < deadline,
            "the loading connection did not close"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let started = Instant::now();
    assert_eq!(server.cli(&["FLUSHALL"]), "OK");
    let took = started.elapsed();
    assert_eq!(server.cli(&["DBSIZE"]), "0");
    // Freeing 300k keys inline takes tens of milliseconds at least; swapping the tables takes microseconds.
    assert!(took < Duration::from_secs(2), "{took:?}");
    let after = settled_rss(&server, before + (loaded - before) / 4);
    assert!(
        after < before + (loaded - before) / 4,
        "RSS {before} KiB empty, {loaded} loaded, {after} after FLUSHALL"
    );
}

#[test]
fn overwriting_large_values_with_small_ones_returns_their_memory() {
    let server = Server::start();
    let before = server.rss_kib();
    let big = vec![b'x'; 1 << 20];
    // One large value freed first: glibc's malloc then raises its mmap threshold past 1 MiB by default, and
    // every later large value would live in the heap, whose pages it keeps.
    pipeline_sets(&server, 1, |_| set(b"warm", &big));
    pipeline_sets(&server, 1, |_| set(b"warm", b"w"));
    let before = before.max(server.rss_kib());
    // Twice over, in one pipeline, as a cache refreshing its values would.
    pipeline_sets(&server, 120, |i| {
        set(format!("big:{}", i % 60).as_bytes(), &big)
    });
    let loaded = server.rss_kib();
    assert!(loaded > before + 50_000, "{before} → {loaded} KiB");
    pipeline_sets(&server, 60, |i| set(format!("big:{i}").as_bytes(), b"y"));
    assert_eq!(server.cli(&["GET", "big:7"]), "y");
    let after = settled_rss(&server, before + (loaded - before) / 4);
    assert!(
        after < before + (loaded - before) / 4,
        "RSS {before} KiB empty, {loaded} with 60 MiB of values, {after} after overwriting them with 1 byte"
    );
}
