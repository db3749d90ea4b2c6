//! Starting the servers a benchmark measures (pincore-server, redis-server, the tokio echo baseline) and
//! stopping them on every path: sibling binaries, config files, readiness, and a process guard.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

/// The path of a binary built alongside this one (`target/<profile>/NAME`), or `explicit` when given.
///
/// `flag` is the option that overrides it, named in the error when the file is missing.
pub fn sibling_binary(name: &str, explicit: Option<&Path>, flag: &str) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| BenchError::io("locating the pincore-bench executable", e))?;
            let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
            // Test binaries live one level down, in target/<profile>/deps.
            let dir = if dir.ends_with("deps") {
                dir.parent().map(Path::to_path_buf).unwrap_or(dir)
            } else {
                dir
            };
            dir.join(name)
        }
    };
    if path.is_file() {
        return Ok(path);
    }
    if explicit.is_none() {
        build_sibling(name, &path);
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(BenchError::MissingBinary {
        name: name.to_string(),
        path,
        flag: flag.to_string(),
    })
}

/// Under `cargo run` (which sets `CARGO` for the program it runs), builds a missing sibling binary with the
/// same cargo and profile, so `cargo run --release --bin pincore-bench -- tuned` works from a fresh clone.
fn build_sibling(name: &str, path: &Path) {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    if std::env::var_os("CARGO_MANIFEST_DIR").is_none() {
        return;
    }
    let package = match name {
        "pincore-bench-tokio-echo" => "pincore-bench",
        other => other,
    };
    let profile = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|p| p.to_str())
        .unwrap_or("debug");
    let mut command = Command::new(cargo);
    command.args(["build", "--package", package, "--bin", name]);
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    eprintln!("pincore-bench: {name} is not built yet; building it: {command:?}");
    match command.stdin(Stdio::null()).status() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("pincore-bench: building {name} failed ({status})"),
        Err(e) => eprintln!("pincore-bench: could not run cargo to build {name}: {e}"),
    }
}

/// A command that runs `program` inside network namespace `netns` (via `ip netns exec`), or directly.
pub fn command_in(netns: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// pincore-server's configuration for a benchmark: the three services on the given addresses, warnings only.
/// A RESP address other than loopback is on a network only the benchmark reaches (the server's side of its
/// veth path), so protected mode, which refuses such an address without users, is turned off there.
pub fn pincore_server_config(
    resp: SocketAddr,
    echo: SocketAddr,
    admin: SocketAddr,
    backlog: u32,
) -> String {
    let private_path = if resp.ip().is_loopback() {
        ""
    } else {
        "    settings:\n      protected_mode: false\n"
    };
    format!(
        "# Written by pincore-bench for one benchmark run.\n\
         services:\n  resp:\n    listen: {resp}\n    backlog: {backlog}\n{private_path}  echo:\n    listen: {echo}\n    \
         backlog: {backlog}\n  admin:\n    listen: {admin}\n\
         limits:\n  max_connections_per_shard: 16384\n  max_connections_per_ip: 16384\n\
         log:\n  level: warn\n"
    )
}

/// A server process, stopped (SIGTERM, then SIGKILL) and reaped when dropped.
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Spawns `command` with stdout and stderr going to `log`, in the log's directory (so a look at
    /// `/proc/*/cwd` finds anything a run left behind).
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<ServerProcess> {
        if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
            command.current_dir(dir);
        }
        let out = File::create(log)
            .map_err(|e| BenchError::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| BenchError::io(format!("opening {}", log.display()), e))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {name} ({command:?})"), e))?;
        tracing::info!(name, pid = child.id(), "started");
        Ok(ServerProcess {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process ID (for reading its CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the end of the server's log if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(BenchError::Process {
                program: self.name.clone(),
                message: format!(
                    "exited with {status}; its log ends with:\n{}",
                    self.log_tail()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut text));
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until `ready` returns true, polling every 50 ms, failing if the process exits or time runs out.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> std::result::Result<bool, String>,
    ) -> Result<()> {
        let started = Instant::now();
        let mut last = String::from("no answer yet");
        loop {
            self.check_alive()?;
            match ready() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = e,
            }
            if started.elapsed() >= timeout {
                return Err(BenchError::NotReady {
                    what: self.name.clone(),
                    seconds: timeout.as_secs_f64(),
                    message: format!("{last}; its log ends with:\n{}", self.log_tail()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on a child we spawned and have not reaped yet.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
        tracing::info!(name = %self.name, "stopped");
    }
}

/// One HTTP/1.1 GET on a fresh connection: the status code.
pub fn http_status(addr: SocketAddr, path: &str) -> std::result::Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: pincore-bench\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write to {addr}: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{addr}{path}: not an HTTP response: {line:?}"))
}

/// True when `addr` answers a RESP `PING` with `+PONG`.
pub fn resp_pong(addr: SocketAddr) -> std::result::Result<bool, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    stream
        .write_all(b"*1\r\n$4\r\nPING\r\n")
        .map_err(|e| format!("write to {addr}: {e}"))?;
    let mut reply = [0u8; 7];
    stream
        .read_exact(&mut reply)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    Ok(&reply == b"+PONG\r\n")
}

/// True when `addr` accepts a TCP connection.
pub fn accepts(addr: SocketAddr) -> std::result::Result<bool, String> {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map(|_| true)
        .map_err(|e| format!("connect {addr}: {e}"))
}

/// A loopback port free a moment ago, outside the range outgoing connections take ports from (see
/// [`pincore_cli::port`]).
pub fn free_port() -> Result<u16> {
    pincore_cli::port::free_loopback_port()
        .map_err(|e| BenchError::io("finding a free loopback port", e))
}

/// Runs `command` to completion and returns its stdout; kills it and returns [`BenchError::Interrupted`]
/// when `stop` is set meanwhile. Its output goes through files in `scratch` (no pipe can fill up), removed
/// once read, so only results stay in an output directory.
pub fn run_to_end(
    what: &str,
    mut command: Command,
    scratch: &Path,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<String> {
    let out_path = scratch.join("child.stdout");
    let err_path = scratch.join("child.stderr");
    let open = |p: &Path| {
        File::create(p).map_err(|e| BenchError::io(format!("creating {}", p.display()), e))
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(open(&out_path)?)
        .stderr(open(&err_path)?)
        .spawn()
        .map_err(|e| BenchError::io(format!("starting {what} ({command:?})"), e))?;
    let status = loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&out_path);
            let _ = std::fs::remove_file(&err_path);
            return Err(BenchError::Interrupted);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(BenchError::io(format!("waiting for {what}"), e)),
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    if status.success() {
        Ok(stdout)
    } else {
        Err(BenchError::Process {
            program: what.to_string(),
            message: format!(
                "{status}: {}{}",
                stderr.trim(),
                if stderr.trim().is_empty() {
                    stdout.trim()
                } else {
                    ""
                }
            ),
        })
    }
}

/// Creates the output directory `field` of `spec` and makes it absolute: servers run with it as their working
/// directory, so a relative path would no longer point at it.
pub fn with_absolute_out_dir<T>(mut spec: T, field: impl Fn(&mut T) -> &mut PathBuf) -> Result<T> {
    let dir = field(&mut spec);
    std::fs::create_dir_all(&*dir)
        .map_err(|e| BenchError::io(format!("creating {}", dir.display()), e))?;
    *dir = dir
        .canonicalize()
        .map_err(|e| BenchError::io(format!("resolving {}", dir.display()), e))?;
    Ok(spec)
}

/// Waits until an HTTP `GET /readyz` on `admin` answers 200 (used inside the namespace).
pub fn wait_ready(admin: SocketAddr, timeout: Duration, stop: &AtomicBool) -> Result<()> {
    let started = Instant::now();
    loop {
        let last = match http_status(admin, "/readyz") {
            Ok(200) => return Ok(()),
            Ok(code) => format!("/readyz answered {code}"),
            Err(e) => e,
        };
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(BenchError::Interrupted);
        }
        if started.elapsed() >= timeout {
            return Err(BenchError::NotReady {
                what: format!("pincore-server (admin {admin})"),
                seconds: timeout.as_secs_f64(),
                message: last,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
