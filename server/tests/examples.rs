//! The programs in `server/examples/`, each run as a user would and driven over real loopback sockets.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pincore_testkit::KillOnDrop;
use support::sample;

/// An example's binary, built (or found up to date) by cargo now: running only this test target does not
/// build the examples, and a stale one would test old code.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/examples-<hash> → target/<profile>
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let target = profile_dir.parent().expect("target root");
    // Without the variables cargo set for this test (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, ...): ring's build
    // script tracks them, so with them ring and everything above it would rebuild on every switch between
    // this build and the one that built the tests.
    let mut cargo = Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_") && name != "CARGO_HOME" {
            cargo.env_remove(&*name);
        }
    }
    let status = cargo
        .args([
            "build",
            "--quiet",
            "-p",
            "pincore-server",
            "--example",
            name,
            "--target-dir",
        ])
        .arg(target)
        .status()
        .expect("run cargo build --example");
    assert!(status.success(), "cargo build --example {name} failed");
    profile_dir.join("examples").join(name)
}

/// A running example with its config file and log.
struct Example {
    process: KillOnDrop,
    config: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Example {
    /// Starts example `name` with `config` and waits (at most 10 s) until every shard listens.
    fn start(name: &str, config: &str) -> Example {
        Example::start_with(name, config, |_| Vec::new())
    }

    /// As [`Example::start`], with more arguments (given the example's directory).
    fn start_with(
        name: &str,
        config: &str,
        args: impl Fn(&std::path::Path) -> Vec<std::ffi::OsString>,
    ) -> Example {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.path().join("log");
        let process = KillOnDrop::spawn(
            Command::new(example(name))
                .arg("--config")
                .arg(&config_path)
                .args(args(dir.path()))
                .env_remove("RUST_LOG")
                .env_remove("NOTIFY_SOCKET")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file")),
        )
        .expect("spawn example");
        let example = Example {
            process,
            config: config_path,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !example
            .log_text()
            .contains("ready: every shard is listening")
        {
            assert!(
                Instant::now() < deadline,
                "{name} never got ready:\n{}",
                example.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        example
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address the example logged for `service`.
    fn addr(&self, service: &str) -> SocketAddr {
        let marker = format!("listening service=\"{service}\" addr=");
        let log = self.log_text();
        let line = log
            .lines()
            .find(|l| l.contains(&marker))
            .expect("listening line");
        let rest = &line[line.find(&marker).unwrap() + marker.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    fn metrics(&self) -> String {
        let mut stream = connect(self.addr("admin"));
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    }

    /// Polls `/metrics` (at most 5 s) until `series` reaches `at_least`, and returns its value.
    fn wait_metric(&self, series: &str, at_least: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let value = sample(&self.metrics(), series).unwrap_or(-1.0);
            if value >= at_least || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// A line client: each call sends one line and reads one reply line.
struct Lines {
    reader: BufReader<TcpStream>,
}

impl Lines {
    fn open(addr: SocketAddr) -> Lines {
        Lines {
            reader: BufReader::new(connect(addr)),
        }
    }
    fn ask(&mut self, line: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap_or(0);
        reply.trim_end().to_string()
    }
}

const PORTS: &str = "timeouts: {idle_ms: 10000}\nlog: {level: debug}\n";

#[test]
fn counter_counts_over_a_line_protocol_and_shows_its_own_metric() {
    let ex = Example::start(
        "counter",
        &format!("services:\n  counter: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n{PORTS}"),
    );
    let addr = ex.addr("counter");
    let mut a = Lines::open(addr);
    assert_eq!(a.ask("INCR visits"), "1");
    assert_eq!(a.ask("INCR visits 41"), "42");
    assert_eq!(
        a.ask("INCR visits x"),
        "ERR the increment is not an integer"
    );
    assert_eq!(
        a.ask("NOPE"),
        "ERR commands are INCR name [by] and GET name"
    );
    // Another connection (maybe on another shard) sees the same counters.
    assert_eq!(Lines::open(addr).ask("GET visits"), "42");
    // A line longer than the service's 1 KiB buffer is refused and the connection closed.
    let mut long = connect(addr);
    long.write_all(&[b'x'; 2000]).unwrap();
    let mut reply = String::new();
    let _ = long.read_to_string(&mut reply);
    assert_eq!(reply, "ERR line longer than 1024 bytes\n");

    assert_eq!(
        ex.wait_metric("counter_increments_total{shard=\"total\"}", 2.0),
        2.0
    );
    let metrics = ex.metrics();
    let accepted = sample(
        &metrics,
        "pincore_connections_accepted_total{service=\"counter\",shard=\"total\"}",
    );
    assert_eq!(accepted, Some(3.0), "{metrics}");
    assert!(
        sample(
            &metrics,
            "pincore_received_bytes_total{service=\"counter\",shard=\"total\"}"
        )
        .is_some_and(|b| b >= 1024.0),
        "{metrics}"
    );
}

/// One RPC round trip: (receiving shard, owner shard, result).
fn rpc(stream: &mut TcpStream, request: &str) -> (String, String, String) {
    let mut frame = (request.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(request.as_bytes());
    stream.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("reply length");
    let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).expect("reply");
    let text = String::from_utf8(reply).unwrap();
    let mut parts = text.splitn(3, ' ');
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    (
        a.unwrap_or("").into(),
        b.unwrap_or("").into(),
        c.unwrap_or("").into(),
    )
}

#[test]
fn rpc_handler_runs_each_key_on_its_owner_shard() {
    let ex = Example::start(
        "rpc",
        &format!("services:\n  rpc: {{listen: 127.0.0.1:0}}\n{PORTS}"),
    );
    let shards = ex.log_text().matches("joined the channel meshes").count();
    pincore_testkit::require!(if shards < 2 {
        Err(pincore_testkit::Missing(format!(
            "the cross-shard call needs 2 CPUs, this process may use {shards}"
        )))
    } else {
        Ok(())
    });
    let addr = ex.addr("rpc");
    let mut put = connect(addr);
    let mut crossed = 0;
    for i in 0..32 {
        let (here, owner, result) = rpc(&mut put, &format!("PUT key{i} value{i}"));
        assert_eq!(result, "OK");
        crossed += usize::from(here != owner);
    }
    assert!(
        crossed > 0,
        "no key was owned by another shard than the receiving one"
    );
    // Every value is found from a fresh connection, whichever shard it lands on.
    let mut get = connect(addr);
    for i in 0..32 {
        let (_, _, result) = rpc(&mut get, &format!("GET key{i}"));
        assert_eq!(result, format!("value{i}"));
    }
    assert_eq!(rpc(&mut get, "GET missing").2, "NIL");
    assert_eq!(rpc(&mut get, "COUNT").2, "32", "asked of every shard");
    assert!(rpc(&mut get, "DROP x").2.starts_with("ERR"));
    // A frame past the 64 KiB limit closes the connection without buffering it.
    get.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        get.read_to_end(&mut rest).map(|_| rest.len()).unwrap_or(0),
        0
    );
}

fn greeter_config(settings: &str) -> String {
    format!("services:\n  greeter:\n    listen: 127.0.0.1:0\n    settings: {settings}\n{PORTS}")
}

#[test]
fn greeter_settings_are_checked_and_change_live_on_sighup() {
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), greeter_config("{greeting: \"\"}")).unwrap();
    let check = Command::new(example("greeter"))
        .arg("check-config")
        .arg(bad.path())
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&check.stderr);
    // An invalid configuration is bad input: exit 2, as pincore-server itself says.
    assert_eq!(check.status.code(), Some(2), "{error}");
    assert!(
        error.contains(":4:1: services.greeter.settings: greeting \"\" must be 1 to 64 bytes"),
        "{error}"
    );

    let ex = Example::start("greeter", &greeter_config("{greeting: Hello}"));
    let mut client = Lines::open(ex.addr("greeter"));
    assert_eq!(client.ask("ann"), "Hello, ann!");

    std::fs::write(
        &ex.config,
        greeter_config("{greeting: Bonjour, shout: true}"),
    )
    .unwrap();
    ex.process.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    // The same connection sees the new settings once the reload reached its shard.
    let mut reply = client.ask("ann");
    while reply != "BONJOUR, ANN!" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        reply = client.ask("ann");
    }
    assert_eq!(reply, "BONJOUR, ANN!", "{}", ex.log_text());
    assert!(ex.log_text().contains("greeter settings reloaded"));

    // Invalid settings are refused and the running ones kept.
    std::fs::write(&ex.config, greeter_config("{greeting: Hi, colour: red}")).unwrap();
    ex.process.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ex.log_text().contains("reload failed") {
        assert!(Instant::now() < deadline, "{}", ex.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        ex.log_text().contains("unknown field `colour`"),
        "{}",
        ex.log_text()
    );
    assert_eq!(client.ask("bob"), "BONJOUR, BOB!");
}

#[test]
fn a_panicking_handler_loses_its_connection_only_and_a_blocked_shard_is_detected() {
    let ex = Example::start(
        "misbehave",
        &format!("shards: {{cpus: \"0\"}}\nservices:\n  misbehave: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n{PORTS}"),
    );
    let addr = ex.addr("misbehave");
    // One shard: the survivor shares it with the connection that panics.
    let mut survivor = Lines::open(addr);
    assert_eq!(survivor.ask("before"), "before");
    let mut doomed = connect(addr);
    doomed.write_all(b"panic\n").unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        doomed
            .read_to_end(&mut rest)
            .map(|_| rest.len())
            .unwrap_or(0),
        0
    );
    assert_eq!(survivor.ask("after"), "after");
    assert_eq!(Lines::open(addr).ask("new"), "new");
    let panics = "pincore_service_panics_total{service=\"misbehave\",shard=\"total\"}";
    assert_eq!(ex.wait_metric(panics, 1.0), 1.0);
    assert!(
        ex.log_text().contains("asked to panic"),
        "{}",
        ex.log_text()
    );

    // 400 ms without yielding is well past glommio's 100 ms budget plus the 10 ms threshold. (Printing
    // the panic's backtrace may already have counted as a stall: count from here.)
    let stalls = "pincore_service_stalls_total{service=\"misbehave\",shard=\"total\"}";
    let before = sample(&ex.metrics(), stalls).expect("stall series");
    assert_eq!(survivor.ask("block 400"), "block 400");
    assert_eq!(
        ex.wait_metric(stalls, before + 1.0),
        before + 1.0,
        "{}",
        ex.log_text()
    );
    let log = ex.log_text();
    let line = log
        .lines()
        .rfind(|l| l.contains("held the shard's CPU"))
        .unwrap_or_else(|| panic!("no stall logged:\n{log}"));
    assert!(line.contains("service=\"misbehave\""), "{line}");
    let held: u64 = line
        .split("held_ms=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((300..5000).contains(&held), "held_ms {held}: {line}");
}

#[test]
fn counter_counts_survive_an_upgrade_in_place() {
    let mut ex = Example::start_with(
        "counter",
        &format!("services:\n  counter: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n{PORTS}"),
        |dir| vec!["--handoff-socket".into(), dir.join("handoff.sock").into()],
    );
    let addr = ex.addr("counter");
    let mut client = Lines::open(addr);
    assert_eq!(client.ask("INCR visits 41"), "41");
    assert_eq!(client.ask("INCR other"), "1");
    let socket = ex.config.parent().unwrap().join("handoff.sock");
    let successor_log = ex.config.parent().unwrap().join("successor.log");
    let successor = KillOnDrop::spawn(
        Command::new(example("counter"))
            .arg("--config")
            .arg(&ex.config)
            .arg("--upgrade-from")
            .arg(&socket)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&successor_log).unwrap()),
    )
    .expect("spawn the successor");
    let read_log = || std::fs::read_to_string(&successor_log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read_log().contains("took over the listeners") {
        assert!(
            Instant::now() < deadline,
            "the successor never took over:\n{}\nold:\n{}",
            read_log(),
            ex.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The old process drained and exited: its open connection was closed between requests.
    let status = ex
        .process
        .wait_timeout(Duration::from_secs(10))
        .expect("the old server exits");
    assert!(status.success(), "{status:?}\n{}", ex.log_text());
    let mut fresh = Lines::open(addr);
    assert_eq!(
        fresh.ask("INCR visits"),
        "42",
        "counts lost:\n{}",
        read_log()
    );
    assert_eq!(fresh.ask("GET other"), "1");
    drop(successor);
}
