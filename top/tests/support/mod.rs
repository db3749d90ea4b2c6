//! A real pincore-server on free loopback ports, load against it, and pincore-top run as a user runs it.
#![allow(dead_code)] // each test file uses a different part of this module

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pincore_testkit::{free_port, wait_for_tcp, KillOnDrop, Missing};

/// A binary of the same build (`target/<profile>/NAME`).
pub fn sibling(name: &str) -> Result<PathBuf, Missing> {
    pincore_testkit::sibling(env!("CARGO_BIN_EXE_pincore-top"), name)
}

/// The pincore-server binary of this build; without it the test returns through `require!` (a skip, or a
/// failure in CI).
macro_rules! server_binary {
    () => {
        match support::sibling("pincore-server") {
            Ok(path) => path,
            Err(missing) => {
                pincore_testkit::require!(Err::<(), _>(missing));
                return;
            }
        }
    };
}
pub(crate) use server_binary;

pub struct Server {
    pub process: KillOnDrop,
    pub resp: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// The server's configuration text on these ports (echo off), with extra top-level YAML appended.
pub fn config(resp: u16, admin: u16, extra: &str) -> String {
    format!(
        "services:\n  resp: {{listen: 127.0.0.1:{resp}}}\n  echo: {{enabled: false, listen: 127.0.0.1:0}}\n  \
         admin: {{listen: 127.0.0.1:{admin}}}\n{extra}"
    )
}

impl Server {
    /// Starts `pincore-server` on free ports, optionally through `wrap` (such as `ip netns exec NS`).
    pub fn start(server: &Path, wrap: &[&str], extra: &str) -> Server {
        let (resp, admin) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.yaml");
        std::fs::write(&path, config(resp, admin, extra)).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut command = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(server);
                c
            }
            None => Command::new(server),
        };
        let process = KillOnDrop::spawn(
            command
                .arg("--config")
                .arg(&path)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        )
        .expect("spawn pincore-server");
        let s = Server {
            process,
            resp: SocketAddr::from(([127, 0, 0, 1], resp)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin)),
            dir,
        };
        if wrap.is_empty() {
            wait_for_tcp(s.admin, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("server did not start: {e}\n{}", s.log()));
        }
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

/// `pincore-top --once --json --interval 100ms ARGS`: its exit code and the JSON it printed.
pub fn once_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["--once", "--json", "--interval", "100ms"];
    all.extend_from_slice(args);
    let out = top(&all, 20);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

/// Runs `pincore-top ARGS` to completion (bounded by `timeout` seconds through coreutils' timeout).
pub fn top(args: &[&str], timeout_secs: u32) -> Output {
    Command::new("timeout")
        .arg(timeout_secs.to_string())
        .arg(env!("CARGO_BIN_EXE_pincore-top"))
        .args(args)
        .output()
        .expect("run pincore-top")
}

/// redis-benchmark against `resp`, bounded in requests and by `timeout`, in the background.
pub fn load(resp: SocketAddr, requests: u32) -> KillOnDrop {
    KillOnDrop::spawn(
        Command::new("timeout")
            .args([
                "30",
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-q",
                "-c",
                "4",
                "-P",
                "4",
            ])
            .args([
                "-p",
                &resp.port().to_string(),
                "-n",
                &requests.to_string(),
                "-t",
                "get,set",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("spawn redis-benchmark")
}
