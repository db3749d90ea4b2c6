//! Snapshots of the RESP keyspace with the real binary: SAVE, BGSAVE, LASTSAVE, the interval, the snapshot at
//! shutdown, loading at start, and what a crash, a cut-short or a corrupt snapshot leave.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::persist::{assert_filled, fill, info_field, kill, refused_start};
use support::{config_text, Client, Server, DEFAULT_LIMITS, DEFAULT_TIMEOUTS};

/// A configuration with `persistence` set to this flow-style body (`dir` is added).
fn config(dir: &Path, persistence: &str) -> String {
    config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS).replace(
        "resp: {listen: 127.0.0.1:0}",
        &format!(
            "resp: {{listen: 127.0.0.1:0, settings: {{persistence: {{dir: {}{persistence}}}}}}}",
            dir.display()
        ),
    )
}

/// The server on `config`, and a client.
fn start(config: &str) -> (Server, Client) {
    let s = Server::start_from(config, &[]);
    let c = Client::connect(s.resp);
    (s, c)
}

fn snapshot(dir: &Path) -> PathBuf {
    dir.join("pincore.snapshot")
}

/// Waits until `done` holds, up to `within`.
fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn drain(mut s: Server) {
    s.process.signal(libc::SIGTERM);
    let status = s
        .process
        .wait_timeout(Duration::from_secs(20))
        .expect("drained and exited");
    assert_eq!(status.code(), Some(0), "{}", s.log());
}

#[test]
fn every_type_and_its_ttl_come_back_after_save_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", save_on_shutdown: false")
        .replace("settings: {", "settings: {enable_debug_command: true, ");
    let (s, mut c) = start(&config);
    fill(&mut c);
    std::thread::sleep(Duration::from_millis(400));
    // DEBUG RELOAD: saved, emptied and loaded back in the running server.
    assert_eq!(c.line("DEBUG RELOAD"), "+OK\r\n");
    assert_filled(&mut c, 0);
    assert_eq!(c.line("SAVE"), "+OK\r\n");
    assert!(snapshot(dir.path()).exists());
    // No snapshot at this drain: what comes back is SAVE's.
    assert_eq!(c.line("SET after-save x"), "+OK\r\n");
    drain(s);
    std::thread::sleep(Duration::from_millis(400));

    let (s, mut c) = start(&config);
    assert_filled(&mut c, 0);
    assert_eq!(c.line("EXISTS after-save"), ":0\r\n");
    assert!(s.log().contains("snapshot loaded"), "{}", s.log());
}

#[test]
fn a_drain_writes_a_final_snapshot_and_sigkill_keeps_the_last_save() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let (s, mut c) = start(&config);
    assert_eq!(c.line("SET kept-by-drain 1"), "+OK\r\n");
    drain(s);

    let (s, mut c) = start(&config);
    assert_eq!(c.line("GET kept-by-drain"), "$1\r\n1\r\n");
    assert_eq!(c.line("SET saved 2"), "+OK\r\n");
    assert_eq!(c.line("SAVE"), "+OK\r\n");
    assert_eq!(c.line("SET lost 3"), "+OK\r\n");
    kill(s);

    let (_server, mut c) = start(&config);
    assert_eq!(
        c.line("MGET kept-by-drain saved lost"),
        "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
    );
}

#[test]
fn an_unusable_snapshot_stops_the_start_until_told_to_start_empty() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", save_on_shutdown: false");
    let (s, mut c) = start(&config);
    fill(&mut c);
    assert_eq!(c.line("SAVE"), "+OK\r\n");
    kill(s);
    let path = snapshot(dir.path());
    let good = std::fs::read(&path).unwrap();

    std::fs::write(&path, &good[..good.len() - 7]).unwrap();
    let (code, text) = refused_start(&config, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&path.display().to_string()) && text.contains("truncated"),
        "{text}"
    );
    assert!(text.contains("--start-empty"), "{text}");

    let mut corrupt = good.clone();
    corrupt[good.len() / 2] ^= 0x01;
    std::fs::write(&path, &corrupt).unwrap();
    let (code, text) = refused_start(&config, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&path.display().to_string()) && text.contains("corrupt"),
        "{text}"
    );

    let s = Server::start_from_args(&config, &[], &["--start-empty".as_ref()]);
    let mut c = Client::connect(s.resp);
    assert_eq!(c.line("DBSIZE"), ":0\r\n");
    assert!(s.log().contains("--start-empty"), "{}", s.log());
    // The unusable file is left alone until a save replaces it.
    assert_eq!(std::fs::read(&path).unwrap(), corrupt);
}

#[test]
fn a_kill_during_a_save_leaves_the_previous_snapshot_loadable() {
    let dir = tempfile::tempdir().unwrap();
    // 2 ms per key: 3000 keys take 6 s to save, time enough to kill the server in the middle.
    let config = config(
        dir.path(),
        ", save_on_shutdown: false, key_save_delay_us: 2000",
    );
    let (s, mut c) = start(&config);
    assert_eq!(c.line("MSET a 1 b 2 c 3"), "+OK\r\n");
    assert_eq!(c.line("SAVE"), "+OK\r\n");
    let before = std::fs::read(snapshot(dir.path())).unwrap();
    let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..3000 {
        mset.push(format!("k{i}").into_bytes());
        mset.push(b"v".to_vec());
    }
    let args: Vec<&[u8]> = mset.iter().map(Vec::as_slice).collect();
    assert_eq!(c.call(&args), b"+OK\r\n");
    assert_eq!(c.line("BGSAVE"), "+Background saving started\r\n");
    let temporary = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
    };
    wait_until(
        Duration::from_secs(10),
        "the save's temporary file",
        temporary,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    kill(s);
    assert_eq!(
        std::fs::read(snapshot(dir.path())).unwrap(),
        before,
        "the snapshot is untouched"
    );

    let (_server, mut c) = start(&config);
    assert_eq!(c.line("DBSIZE"), ":3\r\n");
    assert_eq!(c.line("GET c"), "$1\r\n3\r\n");
    assert!(
        !temporary(),
        "the cut-short save's file is removed at start"
    );
}

#[test]
fn bgsave_runs_beside_serving_and_one_save_runs_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", key_save_delay_us: 1000");
    let (s, mut c) = start(&config);
    let started = c.line("LASTSAVE");
    for i in 0..1000 {
        assert_eq!(c.line(&format!("SET k{i} {i}")), "+OK\r\n");
    }
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1000");
    // LASTSAVE counts seconds: the save must start in a later one.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.line("BGSAVE"), "+Background saving started\r\n");
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(
        c.line("BGSAVE"),
        "-ERR Background save already in progress\r\n"
    );
    assert_eq!(
        c.line("SAVE"),
        "-ERR Background save already in progress\r\n"
    );
    assert_eq!(
        c.line("BGSAVE SCHEDULE"),
        "+Background saving scheduled\r\n"
    );
    // Served meanwhile, from another connection too.
    let mut other = Client::connect(s.resp);
    assert_eq!(other.line("SET during yes"), "+OK\r\n");
    assert_eq!(other.line("GET k999"), "$3\r\n999\r\n");
    assert_eq!(info_field(&mut other, "rdb_bgsave_in_progress"), "1");
    wait_until(Duration::from_secs(20), "the background save", || {
        info_field(&mut c, "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    let last = c.line("LASTSAVE");
    assert_ne!(last, started);
    assert_eq!(info_field(&mut c, "rdb_last_save_time"), last[1..].trim());
    assert_eq!(c.line("MULTI"), "+OK\r\n");
    assert_eq!(c.line("SAVE"), "-ERR Command not allowed inside a transaction: SAVE waits for the snapshot to be written (BGSAVE runs inside MULTI), run it outside MULTI\r\n");
    assert_eq!(c.line("DISCARD"), "+OK\r\n");
    kill(s);

    let (_server, mut c) = start(&config);
    let keys = c.line("DBSIZE");
    assert!(
        keys == ":1000\r\n" || keys == ":1001\r\n",
        "the snapshot has every key set before it began: {keys}"
    );
    assert_eq!(c.line("GET k0"), "$1\r\n0\r\n");
}

#[test]
fn the_interval_writes_a_snapshot_when_keys_changed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), ", interval: 1s, save_on_shutdown: false");
    let (s, mut c) = start(&config);
    assert_eq!(
        c.line("CONFIG GET save"),
        "*2\r\n$4\r\nsave\r\n$3\r\n1 1\r\n"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!snapshot(dir.path()).exists(), "no change, no snapshot");
    assert_eq!(c.line("SET periodic 1"), "+OK\r\n");
    wait_until(Duration::from_secs(10), "a periodic snapshot", || {
        snapshot(dir.path()).exists()
    });
    wait_until(Duration::from_secs(10), "the save to end", || {
        info_field(&mut c, "rdb_changes_since_last_save") == "0"
    });
    kill(s);
    let (_server, mut c) = start(&config);
    assert_eq!(c.line("GET periodic"), "$1\r\n1\r\n");
}

#[test]
fn a_snapshot_directory_the_server_cannot_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let (code, text) = refused_start(&config(&missing, ""), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("services.resp.settings.persistence.dir")
            && text.contains(&missing.display().to_string()),
        "{text}"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let (code, text) = refused_start(&config(&file, ""), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not a directory"), "{text}");

    let relative = config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS).replace(
        "resp: {listen: 127.0.0.1:0}",
        "resp: {listen: 127.0.0.1:0, settings: {persistence: {dir: data, interval: 5m}}}",
    );
    let (code, text) = refused_start(&relative, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("services.resp.settings") && text.contains("absolute path"),
        "{text}"
    );
    let off = Server::start();
    let mut c = Client::connect(off.resp);
    assert_eq!(
        c.line("SAVE"),
        "-ERR persistence is off: set services.resp.settings.persistence.dir to save snapshots\r\n"
    );
    assert_eq!(c.line("CONFIG GET save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
}
