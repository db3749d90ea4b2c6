//! Starting the real `pincore-server` binary on free loopback ports with a test configuration.
#![allow(dead_code)] // each test file uses a different part of this module

pub mod persist;
pub mod values;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pincore_resp::{encode_command, skip_reply, Limits};
use pincore_testkit::{command, free_port, wait_for_tcp, KillOnDrop, Missing};

pub struct Server {
    pub process: KillOnDrop,
    pub resp: SocketAddr,
    pub echo: SocketAddr,
    pub admin: SocketAddr,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// A configuration on kernel-chosen loopback ports with these `limits:` and `timeouts:` bodies.
pub fn config_text(limits: &str, timeouts: &str) -> String {
    format!(
        "services:\n  resp: {{listen: 127.0.0.1:0}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n\
         limits:\n{limits}\ntimeouts:\n{timeouts}\nlog:\n  level: debug\n"
    )
}

pub const DEFAULT_LIMITS: &str = "  max_connections_per_shard: 200\n";
pub const DEFAULT_TIMEOUTS: &str = "  idle_ms: 10000\n  request_ms: 300\n  drain_ms: 2000\n";

impl Server {
    pub fn start() -> Server {
        Server::start_with(DEFAULT_LIMITS, DEFAULT_TIMEOUTS)
    }

    /// Starts the server with these `limits:` and `timeouts:` bodies and waits until `/readyz` says ready.
    pub fn start_with(limits: &str, timeouts: &str) -> Server {
        Server::start_with_env(limits, timeouts, &[])
    }

    /// As [`Server::start_with`], with extra environment variables for the server process.
    ///
    /// Every service listens on port 0 and the test reads the ports the kernel chose from the server's log:
    /// ports probed free by the test could be taken by a parallel test's server, and SO_REUSEPORT (same user)
    /// would then silently split connections between the two servers.
    pub fn start_with_env(
        limits: &str,
        timeouts: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Server {
        Server::start_from(&config_text(limits, timeouts), env)
    }

    /// Starts the server with this whole configuration text (every service on port 0).
    pub fn start_from(config: &str, env: &[(&str, &std::ffi::OsStr)]) -> Server {
        Server::start_from_args(config, env, &[])
    }

    /// As [`Server::start_from`], with more command-line arguments.
    pub fn start_from_args(
        config: &str,
        env: &[(&str, &std::ffi::OsStr)],
        args: &[&std::ffi::OsStr],
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("server.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let process = KillOnDrop::spawn(
            Command::new(env!("CARGO_BIN_EXE_pincore-server"))
                .arg("--config")
                .arg(&config_path)
                .args(args)
                .env_remove("RUST_LOG")
                .env_remove("NOTIFY_SOCKET")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        )
        .expect("spawn pincore-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        let addrs = loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let found: Vec<Option<SocketAddr>> = ["resp", "echo", "admin"]
                .iter()
                .map(|s| listening(&text, s))
                .collect();
            if let [Some(resp), Some(echo), Some(admin)] = found[..] {
                break (resp, echo, admin);
            }
            assert!(
                Instant::now() < deadline,
                "server did not log its listening addresses:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let server = Server {
            process,
            resp: addrs.0,
            echo: addrs.1,
            admin: addrs.2,
            config_path,
            log_path,
            _dir: dir,
        };
        for addr in [server.resp, server.echo, server.admin] {
            if let Err(e) = wait_for_tcp(addr, Duration::from_secs(10)) {
                panic!("server did not start: {e}\n{}", server.log());
            }
        }
        // What `/readyz` answers, read from the log: the admin port may speak TLS.
        while !server.log().contains("ready: every shard is listening") {
            assert!(Instant::now() < deadline, "never ready\n{}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The address a service the configuration enabled beyond resp, echo and admin listens on.
    pub fn address_of(&self, service: &str) -> SocketAddr {
        listening(&self.log(), service)
            .unwrap_or_else(|| panic!("{service} did not log its address\n{}", self.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Runs `redis-cli -p PORT args...` and returns stdout (fails the test on a non-zero exit).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_output(args, None);
        assert!(
            out.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    pub fn cli_output(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.resp.port().to_string()])
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn redis-cli");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(input)
                .expect("write to redis-cli");
        }
        child.wait_with_output().expect("redis-cli output")
    }

    /// A raw connection to the RESP port with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.resp).expect("connect to resp");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
    }

    /// Sends `request` on a fresh connection and reads until `expected` bytes arrived or the peer closed.
    pub fn round_trip(&self, request: &[u8], expected: usize) -> Vec<u8> {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        read_at_least(&mut stream, expected)
    }

    /// `GET path` on the admin port over a plain socket: (status, body); (0, "") if the request failed.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(self.admin) else {
            return (0, String::new());
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.admin
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return (0, String::new());
        };
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, body.to_string())
    }

    /// `GET path` with curl (what an operator would run): (status, body).
    pub fn curl(&self, path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-m", "5", "-w", "\n%{http_code}"])
            .arg(format!("http://{}{path}", self.admin))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// The value of one Prometheus sample, e.g. `pincore_keys{shard="0"}`.
    pub fn metric(&self, series: &str) -> f64 {
        // A scrape cut short (the read timed out on a machine busy with other tests) is taken again, a few
        // times, before the series is said to be missing.
        let mut body = String::new();
        for _ in 0..3 {
            body = self.http_get("/metrics").1;
            if let Some(value) = sample(&body, series) {
                return value;
            }
        }
        panic!("{series} not in /metrics ({} bytes read)", body.len())
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.0.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    /// A healthy fresh client: PING answers PONG.
    pub fn assert_healthy(&self) {
        let reply = self.round_trip(b"PING\r\n", 7);
        assert_eq!(reply, b"+PONG\r\n", "server unhealthy\n{}", self.log());
    }
}

/// One connection speaking raw RESP.
pub struct Client(TcpStream, Vec<u8>);

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        Client(stream, Vec::new())
    }

    /// The connection's socket (to write raw bytes or watch it close).
    pub fn stream(&self) -> &TcpStream {
        &self.0
    }

    /// Sends one command written as space-separated words and returns its reply as text.
    pub fn line(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        String::from_utf8_lossy(&self.call(&args)).into_owned()
    }

    /// Sends one command and returns its whole reply, raw.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.call_n(args, 1)
    }

    /// Sends one command and returns the next `replies` replies (pushes included), raw.
    pub fn call_n(&mut self, args: &[&[u8]], replies: usize) -> Vec<u8> {
        let mut request = Vec::new();
        encode_command(&mut request, args);
        self.0.write_all(&request).expect("send");
        self.receive(replies, args)
    }

    /// Reads the next `replies` replies (`after` names the command, in failure messages).
    pub fn receive(&mut self, replies: usize, after: &[&[u8]]) -> Vec<u8> {
        let limits = Limits {
            max_bulk_len: 1 << 30,
            max_array_len: 1 << 20,
            max_inline_len: 1 << 16,
        };
        let mut taken = Vec::new();
        for _ in 0..replies {
            loop {
                if let Some((len, _)) = skip_reply(&self.1, &limits).expect("a valid reply") {
                    taken.extend(self.1.drain(..len));
                    break;
                }
                let mut buf = [0u8; 65536];
                let n = self.0.read(&mut buf).unwrap_or_else(|e| {
                    panic!(
                        "no reply after {after:?}: {e}; so far {:?}",
                        String::from_utf8_lossy(&taken)
                    )
                });
                assert!(n > 0, "closed while waiting for the reply to {after:?}");
                self.1.extend_from_slice(&buf[..n]);
            }
        }
        taken
    }
}

/// Reads until at least `n` bytes arrived, the peer closed, or the read timed out.
pub fn read_at_least(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while out.len() < n {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    out
}

/// True when the peer has closed the connection (read returns 0 or a reset) within `within`.
pub fn closed_by_peer(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

/// Finds `series` (name with labels exactly as rendered) in Prometheus text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The address the server logged for `service` (`listening service="resp" addr=127.0.0.1:41011`).
fn listening(log: &str, service: &str) -> Option<SocketAddr> {
    let marker = format!("listening service=\"{service}\" addr=");
    let line = log.lines().find(|l| l.contains(&marker))?;
    let rest = &line[line.find(&marker)? + marker.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// `python3` can import redis-py (the test command installs it).
pub fn redis_py() -> Result<(), Missing> {
    command("python3")?;
    let ok = Command::new("python3")
        .args(["-c", "import redis"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(())
        .ok_or_else(|| Missing("redis-py is not installed (pip install redis)".into()))
}

/// redis-server 7 on a free loopback port, persisting nothing.
pub fn redis_server() -> (Redis, SocketAddr) {
    spawn_redis(&[])
}

/// A redis-server a test started, killed when dropped, and its own directory: a replica writes the RDB file
/// it receives there, and nothing there is loaded by another test's server.
pub struct Redis {
    _process: KillOnDrop,
    _dir: tempfile::TempDir,
}

/// redis-server 7 on a free loopback port, persisting nothing, with `extra` arguments. A free port can be
/// taken by another test's server between choosing it and binding it (tests run side by side): the answer
/// is checked to come from this process (INFO's `process_id`), else it starts again on another port.
pub fn spawn_redis(extra: &[&str]) -> (Redis, SocketAddr) {
    for _ in 0..5 {
        let port = free_port();
        let dir = tempfile::tempdir().expect("a directory for redis-server");
        let mut process = KillOnDrop::spawn(
            Command::new("redis-server")
                .current_dir(dir.path())
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--enable-debug-command", "yes"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("spawn redis-server");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for_tcp(addr, Duration::from_secs(10)).expect("redis-server listening");
        let pid = process.0.id();
        let info = Client::connect(addr).line("INFO server");
        if info.contains(&format!("process_id:{pid}\r\n")) {
            let redis = Redis {
                _process: process,
                _dir: dir,
            };
            return (redis, addr);
        }
        let _ = process.0.kill();
    }
    panic!("redis-server found its port taken five times in a row");
}
