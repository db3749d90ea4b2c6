//! Test support shared by pincore's integration tests.
//!
//! Tests that need root, a network namespace, sshd or a client such as `redis-cli` check for it with
//! [`require!`]: on a developer's machine without it the test prints why it did not run and passes; in CI
//! (`CI=true`) a missing prerequisite fails the test, so the suite can never go green by skipping.
//!
//! Nothing here touches the host's global kernel settings: sysctl writes happen inside a [`NetNs`] that the
//! test creates and that is deleted when it is dropped.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A prerequisite that is not met, with the reason in words a developer can act on.
#[derive(Debug)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Another binary of the same build as `binary` (a test's `env!("CARGO_BIN_EXE_...")`): `NAME` in the same
/// `target/<profile>/` directory, or why it is missing.
pub fn sibling(binary: &str, name: &str) -> Result<PathBuf, Missing> {
    let path = PathBuf::from(binary).with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Missing(format!(
            "{} is not built (cargo nextest run --workspace builds it)",
            path.display()
        )))
    }
}

/// True when running under CI, where a missing prerequisite is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (locally) or fails (in CI) the calling test when any check returns `Err(Missing)`.
///
/// ```ignore
/// require!(pincore_testkit::root(), pincore_testkit::command("redis-cli"));
/// ```
#[macro_export]
macro_rules! require {
    ($($check:expr),+ $(,)?) => {
        $(
            if let Err(missing) = $check {
                if $crate::in_ci() {
                    panic!("prerequisite missing in CI: {missing}");
                }
                $crate::record_skip(&missing);
                return;
            }
        )+
    };
}

/// Says why the calling test did not run, on stderr and, when `PINCORE_SKIP_LOG` names a directory (the test
/// command sets it), in a file there: nextest has no runtime skip and counts such a test as passed, so the test
/// command collects these files into a summary of what did not run and why.
pub fn record_skip(missing: &Missing) {
    eprintln!("skipped: {missing} (the test command in README.md installs what the suite needs)");
    let Some(dir) = std::env::var_os("PINCORE_SKIP_LOG") else {
        return;
    };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| {
            n.rsplit_once('-')
                .map(|(name, _hash)| name.to_string())
                .unwrap_or(n)
        })
        .unwrap_or_default();
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = format!("{binary} {test}\t{missing}\n");
    let file = PathBuf::from(dir).join(format!("{}.skip", std::process::id()));
    // One small append per skipped test; a failure to record must not fail the test itself.
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| io::Write::write_all(&mut f, line.as_bytes()));
}

/// The test runs as root (needed for network namespaces and sysctl writes inside them).
pub fn root() -> Result<(), Missing> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        Err(Missing("this test needs root (network namespaces)".into()))
    }
}

/// `name` is an executable on PATH (or an absolute path that exists).
pub fn command(name: &str) -> Result<(), Missing> {
    find_command(name)
        .map(|_| ())
        .ok_or_else(|| Missing(format!("`{name}` is not installed")))
}

/// The full path of `name` on PATH, if it is there.
pub fn find_command(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Root, `ip` and the ability to create a network namespace.
pub fn netns() -> Result<(), Missing> {
    root()?;
    command("ip")?;
    // Creating one proves the kernel and the sandbox allow it.
    NetNs::new("probe")
        .map(drop)
        .map_err(|e| Missing(format!("cannot create a network namespace: {e}")))
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace made for one test, with loopback up; deleted on drop.
///
/// Its name is unique per process and call, so tests can run in parallel.
pub struct NetNs {
    /// pincore-tuner's throwaway namespace: `ip netns add`, loopback up, `ip netns delete` on drop.
    inner: pincore_tuner::netns::OwnedNamespace,
}

impl NetNs {
    /// Creates `pincore-t<pid>-<n>-<label>` and brings its loopback up.
    pub fn new(label: &str) -> io::Result<NetNs> {
        let name = format!(
            "pct{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            label
        );
        let inner =
            pincore_tuner::netns::OwnedNamespace::create(&name).map_err(io::Error::other)?;
        Ok(NetNs { inner })
    }

    /// The namespace's name, as `ip netns` and `pincore-tuner --netns` take it.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.name()]).arg(program);
        c
    }

    /// Reads a sysctl inside the namespace with procps' `sysctl -n`, whitespace-normalised.
    pub fn sysctl(&self, key: &str) -> io::Result<String> {
        let out = run_checked(self.command("sysctl").args(["-n", key]))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// Writes a sysctl inside the namespace with procps' `sysctl -w` (to simulate drift behind a tool's back).
    pub fn set_sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        run_checked(
            self.command("sysctl")
                .args(["-q", "-w", &format!("{key}={value}")]),
        )
        .map(drop)
    }
}

/// Runs a command to completion and turns a non-zero exit into an error carrying its stderr.
pub fn run_checked(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{:?} exited with {}: {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A loopback port that was free a moment ago, outside the range outgoing connections take their local ports
/// from, so the many clients of tests running alongside cannot take it first (see [`pincore_cli::port`]).
pub fn free_port() -> u16 {
    // Binding on 127.0.0.1 only fails if the machine has no loopback, which no test here can survive anyway.
    pincore_cli::port::free_loopback_port().expect("bind a loopback port")
}

/// Waits until `addr` accepts a TCP connection, up to `timeout`.
pub fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{addr} not accepting after {timeout:?}: {e}"),
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// A child process that is killed and reaped when dropped, so a failing test leaves nothing behind.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    pub fn spawn(cmd: &mut Command) -> io::Result<KillOnDrop> {
        cmd.spawn().map(KillOnDrop)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the child.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe { libc::kill(self.0.id() as i32, signal) };
    }

    /// Waits for the child to exit, up to `timeout`; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a [`run_bounded`] command ended.
#[derive(Debug)]
pub struct BoundedRun {
    /// The exit code; `None` when killed (by the timeout, or by a signal such as an allocation abort).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// True when it was still running at the timeout and was killed.
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// Runs `program args` with its address space capped at `memory_mib` MiB (`ulimit -v` via `sh -c`) and kills
/// it after `timeout`: to show that a tool refuses a hostile input (`/dev/zero`, a sparse 1 TiB file) quickly
/// and without reading it into memory.
pub fn run_bounded(
    program: &std::path::Path,
    args: &[&std::ffi::OsStr],
    memory_mib: u64,
    timeout: Duration,
) -> io::Result<BoundedRun> {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {}; exec \"$@\"", memory_mib * 1024))
        .arg("sh")
        .arg(program)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                // Bounded: a runaway child's output is cut at 1 MiB, and the pipe closes when it is killed.
                let _ = io::Read::read_to_string(&mut io::Read::take(&mut p, 1 << 20), &mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    );
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(BoundedRun {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// An empty Debian package `name` of `version` for `arch` (control file only), built with `dpkg-deb` in `dir`:
/// what a test needs to exercise code that reads packages, without building pincore's.
pub fn control_only_deb(dir: &Path, name: &str, version: &str, arch: &str) -> io::Result<PathBuf> {
    let tree = dir.join(format!("{name}_{version}_{arch}"));
    std::fs::create_dir_all(tree.join("DEBIAN"))?;
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: pincore tests <tests@pincore.dev>\nDescription: test package\n"
        ),
    )?;
    let deb = dir.join(format!("{name}_{version}_{arch}.deb"));
    run_checked(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-b"])
            .arg(&tree)
            .arg(&deb),
    )?;
    Ok(deb)
}
