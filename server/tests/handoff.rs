//! Upgrades in place: a running server hands its listeners to a successor under load without a refused
//! connection or an unanswered request, and a successor that cannot start leaves it serving.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{config_text, Server, DEFAULT_LIMITS, DEFAULT_TIMEOUTS};

fn upgrade(socket: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pincore-server"))
        .arg("upgrade")
        .arg("--handoff-socket")
        .arg(socket)
        .output()
        .expect("run pincore-server upgrade")
}

/// The successor's pid from `upgrade`'s answer; the process is killed when the guard drops (it is the old
/// server's child, not the test's).
struct Successor(i32);

impl Successor {
    fn from(output: &Output) -> Successor {
        let text = String::from_utf8_lossy(&output.stdout);
        let pid = text
            .split("pid ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {text:?}"));
        Successor(pid)
    }

    /// Running: it exists and is not a zombie waiting for whoever inherited it to reap it.
    fn alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).unwrap_or_default();
        let state = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.chars().next());
        matches!(state, Some(s) if s != 'Z' && s != 'X')
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        // SAFETY: the pid is a server this test started (through the old server) and nothing else reaps it.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    /// Connections closed by a draining server between requests, each followed by a new connection.
    reconnects: AtomicU64,
    connect_errors: AtomicU64,
    wrong: AtomicU64,
}

/// One client: a pipelined SET and GET of its own key per round, on one connection for as long as the
/// server keeps it. A connection closed cleanly before any byte of the answer is a connection the draining
/// server closed between requests: the round is sent again on a new connection. Anything else counts as
/// wrong, a reset too: a draining server half-closes and never resets a request on the wire.
fn client(addr: SocketAddr, id: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut conn: Option<TcpStream> = None;
    let mut round = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        round += 1;
        let value = format!("{id}-{round}");
        let request = format!(
            "*3\r\n$3\r\nSET\r\n$4\r\nk{id:03}\r\n${}\r\n{value}\r\n*2\r\n$3\r\nGET\r\n$4\r\nk{id:03}\r\n",
            value.len()
        );
        let expected = format!("+OK\r\n${}\r\n{value}\r\n", value.len());
        let mut attempts = 0;
        loop {
            attempts += 1;
            if attempts > 5 {
                tally.wrong.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let stream = match conn.as_mut() {
                Some(stream) => stream,
                None => match TcpStream::connect(addr) {
                    Ok(stream) => {
                        stream
                            .set_read_timeout(Some(Duration::from_secs(15)))
                            .unwrap();
                        conn.insert(stream)
                    }
                    Err(e) => {
                        eprintln!("client {id}: connect: {e}");
                        tally.connect_errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                },
            };
            let mut reply = vec![0u8; expected.len()];
            let mut got = 0;
            if let Err(e) = stream.write_all(request.as_bytes()) {
                eprintln!("client {id}: send: {e}");
                tally.wrong.fetch_add(1, Ordering::Relaxed);
                return;
            }
            while got < reply.len() {
                match stream.read(&mut reply[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => {
                        eprintln!("client {id}: {e} after {got} bytes of the answer");
                        tally.wrong.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            if got == reply.len() {
                if reply != expected.as_bytes() {
                    eprintln!(
                        "client {id}: {:?} for {expected:?}",
                        String::from_utf8_lossy(&reply)
                    );
                    tally.wrong.fetch_add(1, Ordering::Relaxed);
                }
                tally.answered.fetch_add(1, Ordering::Relaxed);
                break;
            }
            conn = None;
            if got > 0 {
                eprintln!("client {id}: answer cut after {got} bytes");
                tally.wrong.fetch_add(1, Ordering::Relaxed);
                return;
            }
            tally.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn handoff_socket(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("handoff.sock")
}

fn start_with_handoff(socket: &Path) -> Server {
    Server::start_from_args(
        &config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS),
        &[],
        &[std::ffi::OsStr::new("--handoff-socket"), socket.as_os_str()],
    )
}

#[test]
fn an_upgrade_under_load_refuses_no_connection_and_answers_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let socket = handoff_socket(&dir);
    let mut old = start_with_handoff(&socket);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..8)
        .map(|id| {
            let (stop, tally, addr) = (stop.clone(), tally.clone(), old.resp);
            std::thread::spawn(move || client(addr, id, stop, tally))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = tally.answered.load(Ordering::Relaxed);
    let first = upgrade(&socket);
    assert!(
        first.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&first.stderr),
        old.log()
    );
    let successor = Successor::from(&first);
    let status = old.process.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "the old server did not exit cleanly: {status:?}\n{}",
        old.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    // The successor hands over in turn: it serves the same handoff socket.
    let second = upgrade(&socket);
    assert!(
        second.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&second.stderr),
        old.log()
    );
    let third = Successor::from(&second);
    let wait = Instant::now() + Duration::from_secs(15);
    while successor.alive() && Instant::now() < wait {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let answered = tally.answered.load(Ordering::Relaxed);
    let log = old.log();
    assert_eq!(tally.connect_errors.load(Ordering::Relaxed), 0, "{log}");
    assert_eq!(tally.wrong.load(Ordering::Relaxed), 0, "{log}");
    assert!(
        before > 0 && answered > before,
        "answered {before} before and {answered} in all\n{log}"
    );
    assert!(
        !successor.alive(),
        "the first successor did not hand over and exit\n{log}"
    );
    assert!(third.alive(), "the last successor is not running\n{log}");
    assert!(log.contains("took over the listeners"), "{log}");
    eprintln!(
        "answered {answered} rounds, {} after a reconnect",
        tally.reconnects.load(Ordering::Relaxed)
    );
}

#[test]
fn a_successor_that_cannot_start_leaves_the_old_one_serving() {
    let dir = tempfile::tempdir().unwrap();
    let socket = handoff_socket(&dir);
    let mut old = start_with_handoff(&socket);
    let mut kept = TcpStream::connect(old.resp).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ping = |stream: &mut TcpStream| {
        stream.write_all(b"PING\r\n").unwrap();
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+PONG\r\n");
    };
    let good = std::fs::read_to_string(&old.config_path).unwrap();

    // An invalid configuration: the successor exits before taking anything, and says why to both.
    std::fs::write(&old.config_path, format!("{good}bogus_key: 1\n")).unwrap();
    let out = upgrade(&socket);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rolled back") && stderr.contains("bogus_key"),
        "{stderr}"
    );

    // A configuration that moves a port: the listeners do not fit, the successor refuses them.
    let port = pincore_testkit::free_port();
    let moved = good.replacen(
        "resp: {listen: 127.0.0.1:0}",
        &format!("resp: {{listen: 127.0.0.1:{port}}}"),
        1,
    );
    assert_ne!(moved, good);
    std::fs::write(&old.config_path, moved).unwrap();
    let out = upgrade(&socket);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("services.resp.listen") && stderr.contains("needs a restart"),
        "{stderr}"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    while old.log().matches("handoff rolled back").count() < 2 {
        assert!(Instant::now() < deadline, "{}", old.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(old.log().contains("bogus_key"), "{}", old.log());
    assert!(old
        .process
        .wait_timeout(Duration::from_millis(200))
        .is_none());
    ping(&mut kept);
    ping(&mut old.connect());
    assert_eq!(old.http_get("/readyz").0, 200);

    // With the configuration put right, the same server still upgrades.
    std::fs::write(&old.config_path, good).unwrap();
    let out = upgrade(&socket);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _successor = Successor::from(&out);
    ping(&mut TcpStream::connect(old.resp).unwrap());
}

/// The RESP keyspace passes to the successor whole: every type, TTLs as deadlines, and nothing the old server
/// answered before it drained is lost. Without persistence configured: the handoff does not need it.
#[test]
fn the_keyspace_and_its_ttls_pass_to_the_successor() {
    let dir = tempfile::tempdir().unwrap();
    let socket = handoff_socket(&dir);
    let mut old = start_with_handoff(&socket);
    let mut c = support::Client::connect(old.resp);
    for i in 0..2000 {
        assert_eq!(c.line(&format!("SET key:{i} value:{i}")), "+OK\r\n");
    }
    assert_eq!(c.line("HSET h f1 v1 f2 v2"), ":2\r\n");
    assert_eq!(c.line("RPUSH l a b c"), ":3\r\n");
    assert_eq!(c.line("SADD s x y"), ":2\r\n");
    assert_eq!(c.line("ZADD z 1 one 2 two"), ":2\r\n");
    assert_eq!(c.line("SET short v PX 1"), "+OK\r\n");
    assert_eq!(c.line("SET later v EX 1000"), "+OK\r\n");
    let digest_before = c.line("DBSIZE");
    drop(c);

    let out = upgrade(&socket);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        old.log()
    );
    let _successor = Successor::from(&out);
    let status = old.process.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "old server: {status:?}\n{}",
        old.log()
    );

    let mut c = support::Client::connect(old.resp);
    // `short` expired on the way (a deadline, not a duration restarted by the load).
    assert_eq!(digest_before, ":2006\r\n");
    assert_eq!(c.line("DBSIZE"), ":2005\r\n", "{}", old.log());
    assert_eq!(c.line("GET key:1999"), "$10\r\nvalue:1999\r\n");
    assert_eq!(c.line("HGET h f2"), "$2\r\nv2\r\n");
    assert_eq!(
        c.line("LRANGE l 0 -1"),
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(c.line("SISMEMBER s y"), ":1\r\n");
    assert_eq!(c.line("ZSCORE z two"), "$1\r\n2\r\n");
    let ttl: i64 = c
        .line("TTL later")
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!((990..=1000).contains(&ttl), "TTL after the handoff: {ttl}");
    assert!(
        old.log().contains("keyspace handed to the successor"),
        "{}",
        old.log()
    );
}

#[test]
fn the_append_only_file_goes_on_in_the_successor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let config = config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS).replace(
        "resp: {listen: 127.0.0.1:0}",
        &format!(
            "resp: {{listen: 127.0.0.1:0, settings: {{persistence: {{dir: {}, appendonly: true, save_on_shutdown: false}}}}}}",
            data.display()
        ),
    );
    let socket = handoff_socket(&dir);
    let mut old = Server::start_from_args(
        &config,
        &[],
        &[std::ffi::OsStr::new("--handoff-socket"), socket.as_os_str()],
    );
    let mut c = support::Client::connect(old.resp);
    assert_eq!(c.line("SET before-upgrade 1"), "+OK\r\n");
    assert_eq!(c.line("RPUSH l a b"), ":2\r\n");
    drop(c);
    let out = upgrade(&socket);
    assert!(out.status.success(), "{}", old.log());
    let successor = Successor::from(&out);
    let status = old.process.wait_timeout(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{}", old.log());
    let mut c = support::Client::connect(old.resp);
    assert_eq!(c.line("GET before-upgrade"), "$1\r\n1\r\n");
    assert_eq!(c.line("SET after-upgrade 2"), "+OK\r\n");
    assert_eq!(c.line("RPUSH l c"), ":3\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.line("INFO persistence");
        if info.contains("aof_enabled:1") && info.contains("aof_buffer_length:0") {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(c);
    // The successor dies as a crash would: what comes back is what both servers appended to one file.
    drop(successor);
    std::thread::sleep(Duration::from_millis(200));
    let s = Server::start_from(&config, &[]);
    let mut c = support::Client::connect(s.resp);
    assert_eq!(
        c.line("MGET before-upgrade after-upgrade"),
        "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        c.line("LRANGE l 0 -1"),
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert!(s.log().contains("append-only file replayed"), "{}", s.log());
}
