//! Test "hosts" for deploy tests: each is a real sshd inside its own network namespace (own loopback, own
//! per-namespace sysctls) and its own mount namespace, where /etc/sysctl.d, /opt, /var/lib and /run are overlays
//! whose writes land in the test's temp dir and /root is an empty tmpfs. ssh reaches each host through a
//! ProxyCommand into its namespace, exactly as users reach hosts behind a bastion. Nothing outside the temp dir
//! and the namespaces is written, and dropping a host kills every process in its namespace and deletes it.
//! [`Lab::with_packages`] makes hosts where dpkg may run: /etc, /usr, /var/log and /var/cache are overlays too.

#![allow(dead_code)] // Each test binary uses its own part of the harness.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod pki;

use pincore_testkit::{run_checked, KillOnDrop, Missing, NetNs};

pub const DEPLOY: &str = env!("CARGO_BIN_EXE_pincore-deploy");

/// Runs `pincore-deploy ARGS MANIFEST` as a user would, and echoes what it printed.
pub fn deploy(args: &[&str], manifest: &Path) -> Output {
    // stderr goes to a file beside the manifest as it happens, so a slow step can be watched live.
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = manifest.with_file_name(format!("deploy-{n}.log"));
    let mut out = Command::new(DEPLOY)
        .args(args)
        .arg(manifest)
        .env(
            "RUST_LOG",
            std::env::var("PINCORE_DEPLOY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stderr(std::fs::File::create(&log).expect("create log"))
        .output()
        .expect("run pincore-deploy");
    out.stderr = std::fs::read(&log).unwrap_or_default();
    eprintln!(
        "$ pincore-deploy {} {}\n{}{}",
        args.join(" "),
        manifest.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What the harness needs from the machine (checked with `pincore_testkit::require!`).
pub fn prerequisites() -> Result<(), Missing> {
    pincore_testkit::netns()?;
    for tool in [
        "sshd",
        "ssh",
        "ssh-keygen",
        "socat",
        "unshare",
        "curl",
        "taskset",
        "sha256sum",
    ] {
        pincore_testkit::command(tool)?;
    }
    Ok(())
}

/// The built binaries a release is made of, found next to the test binary (`target/<profile>/`): cargo builds
/// them there for `cargo nextest run --workspace`.
pub fn release_binaries() -> Result<(PathBuf, PathBuf), Missing> {
    let exe = std::env::current_exe().map_err(|e| Missing(format!("current_exe: {e}")))?;
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let server = dir.join("pincore-server");
    let tuner = dir.join("pincore-tuner");
    for b in [&server, &tuner] {
        if !b.is_file() {
            return Err(Missing(format!(
                "{} is not built: run the suite with `cargo nextest run --workspace` (or `cargo build -p pincore-server -p pincore-tuner` first)",
                b.display()
            )));
        }
    }
    Ok((server, tuner))
}

/// A directory with the client key and known_hosts, and the hosts made in it.
pub struct Lab {
    pub hosts: Vec<TestHost>,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// Makes `count` hosts named `h1`, `h2`, … in parallel.
    pub fn new(count: usize) -> io::Result<Lab> {
        Lab::make(count, Overlays::Deploy)
    }

    /// As [`Lab::new`], with hosts where dpkg may install packages: /usr, /etc, /var/log and /var/cache are
    /// overlays too, and systemd's runtime directory is hidden (maintainer scripts find no systemd to talk to).
    pub fn with_packages(count: usize) -> io::Result<Lab> {
        Lab::make(count, Overlays::Packages)
    }

    fn make(count: usize, overlays: Overlays) -> io::Result<Lab> {
        let dir = tempfile::Builder::new().prefix("pcdlab").tempdir()?;
        keygen(&dir.path().join("client_key"))?;
        let names: Vec<String> = (1..=count).map(|i| format!("h{i}")).collect();
        let hosts: Vec<io::Result<TestHost>> = std::thread::scope(|s| {
            let handles: Vec<_> = names
                .iter()
                .map(|n| s.spawn(|| TestHost::new(n, dir.path(), overlays)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("panicked")))
                })
                .collect()
        });
        let hosts = hosts.into_iter().collect::<io::Result<Vec<_>>>()?;
        let known: String = hosts
            .iter()
            .map(|h| {
                format!(
                    "{} {}",
                    h.name,
                    std::fs::read_to_string(h.dir.join("host_key.pub")).unwrap_or_default()
                )
            })
            .collect();
        std::fs::write(dir.path().join("known_hosts"), known)?;
        Ok(Lab { hosts, dir })
    }

    /// Copies of the release binaries without debug info (a fifth of the size of a debug build), so uploads to
    /// three hosts stay quick; the originals when `strip` is not there.
    pub fn release(&self, server: &Path, tuner: &Path) -> (PathBuf, PathBuf) {
        let strip = |from: &Path| {
            let to = self.dir.path().join(from.file_name().unwrap_or_default());
            let ok = Command::new("strip")
                .arg("--strip-debug")
                .arg("-o")
                .arg(&to)
                .arg(from)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                to
            } else {
                from.to_path_buf()
            }
        };
        (strip(server), strip(tuner))
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The manifest's `defaults.ssh` block and one `NAME: {ssh: {proxy_command: ...}}` line per host, indented
    /// for `groups.NAME.hosts`.
    pub fn ssh_defaults(&self) -> String {
        format!(
            "  service: supervisor\n  ssh:\n    user: root\n    identity: {}\n    options:\n      - UserKnownHostsFile={}\n",
            self.client_key().display(),
            self.known_hosts().display()
        )
    }

    /// A manifest for the lab's hosts: `release` is the `release:` block's lines; the RESP service listens on
    /// `resp_port` (the admin endpoint on 127.0.0.1:9180), the server logs at `log_level`, batches after the
    /// canary have `max_parallel` hosts, and `extra_hosts` adds lines under the hosts.
    pub fn manifest_text(
        &self,
        release: &str,
        log_level: &str,
        resp_port: u16,
        max_parallel: usize,
        extra_hosts: &str,
    ) -> String {
        format!(
            "release:
{release}server:
  config:
    shards:
      cpus: \"0\"
      io_memory_bytes: 65536
    services:
      resp:
        listen: 127.0.0.1:{resp_port}
      echo:
        enabled: false
        listen: 127.0.0.1:7007
      admin:
        listen: 127.0.0.1:9180
    log:
      level: {log_level}
tuning:
  profile: connections
rollout:
  canary: 1
  max_parallel: {max_parallel}
  max_fail: 0
  healthy_deadline: 20s
  min_healthy_time: 300ms
  auto_revert: true
defaults:
  nic: lo
{defaults}groups:
  edge:
    hosts:
{hosts}{extra_hosts}",
            defaults = self.ssh_defaults(),
            hosts = self.host_lines("      "),
        )
    }

    pub fn host_lines(&self, indent: &str) -> String {
        self.hosts
            .iter()
            .map(|h| {
                format!(
                    "{indent}{}:\n{indent}  ssh:\n{indent}    proxy_command: {}\n",
                    h.name,
                    h.proxy_command()
                )
            })
            .collect()
    }
}

/// Which of the machine's directories a test host overlays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overlays {
    /// What a deploy writes: /etc/sysctl.d, /opt, /var/lib, /run.
    Deploy,
    /// And what dpkg writes: all of /etc (with sysctl.d in it), /usr, /var/log, /var/cache.
    Packages,
}

impl Overlays {
    /// `(path, name)`: each overlaid directory and the name of its upper dir under `ovl/`. Never one inside
    /// another (the kernel stacks overlays only two deep, and the machine's root may be one).
    fn dirs(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Overlays::Deploy => &[
                ("etc/sysctl.d", "sysctl"),
                ("opt", "opt"),
                ("var/lib", "varlib"),
                ("run", "run"),
            ],
            Overlays::Packages => &[
                ("etc", "etc"),
                ("usr", "usr"),
                ("opt", "opt"),
                ("var/lib", "varlib"),
                ("var/log", "varlog"),
                ("var/cache", "varcache"),
                ("run", "run"),
            ],
        }
    }
}

/// One test host.
pub struct TestHost {
    pub name: String,
    pub ns: NetNs,
    /// The host's temp dir: keys, sshd config, and the overlays' upper dirs under `ovl/`.
    pub dir: PathBuf,
    overlays: Overlays,
    sshd: Option<KillOnDrop>,
}

fn keygen(path: &Path) -> io::Result<()> {
    run_checked(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "pincore-test", "-f"])
            .arg(path),
    )
    .map(drop)
}

impl TestHost {
    fn new(name: &str, lab: &Path, overlays: Overlays) -> io::Result<TestHost> {
        let dir = lab.join(name);
        std::fs::create_dir_all(&dir)?;
        keygen(&dir.join("host_key"))?;
        std::fs::copy(lab.join("client_key.pub"), dir.join("authorized_keys"))?;
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nPort 22\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin yes\nMaxSessions 20\nMaxStartups 100\n\
                 LogLevel ERROR\nSubsystem sftp internal-sftp\n"
            ),
        )?;
        // Overlays keep the machine's files visible inside the host and send every write to ovl/*/up.
        let pairs: Vec<String> = overlays
            .dirs()
            .iter()
            .map(|(path, name)| format!("{path}:{name}"))
            .collect();
        // Package hosts: no systemd to talk to, and no man-db index rebuilt on every install (as in minimal
        // images; it took most of each dpkg run).
        let hide_systemd = if overlays == Overlays::Packages {
            "[ -d /run/systemd ] && mount -t tmpfs tmpfs /run/systemd\nrm -f /var/lib/man-db/auto-update\n"
        } else {
            ""
        };
        std::fs::write(
            dir.join("start.sh"),
            format!(
                "set -e
for pair in {pairs}; do
  path=${{pair%%:*}}; name=${{pair#*:}}
  mkdir -p {d}/ovl/$name/up {d}/ovl/$name/work
  mount -t overlay overlay -o lowerdir=/$path,upperdir={d}/ovl/$name/up,workdir={d}/ovl/$name/work /$path
done
mkdir -p /run/sshd
{hide_systemd}# A home of its own: root's dotfiles on this machine (shell init) are not the host's, and writes stay inside.
mount -t tmpfs -o mode=0700 tmpfs /root
exec /usr/sbin/sshd -D -e -f {d}/sshd_config
",
                pairs = pairs.join(" ")
            ),
        )?;
        let ns = NetNs::new(name)?;
        let log = std::fs::File::create(dir.join("sshd.log"))?;
        let sshd = KillOnDrop::spawn(
            ns.command("unshare")
                .args(["--mount", "--propagation", "private", "sh"])
                .arg(dir.join("start.sh"))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log),
        )?;
        let mut host = TestHost {
            name: name.to_string(),
            ns,
            dir,
            overlays,
            sshd: Some(sshd),
        };
        host.wait_ready()?;
        Ok(host)
    }

    /// Waits (bounded) until sshd listens inside the namespace.
    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let probe = self
                .ns
                .command("socat")
                .args(["-u", "OPEN:/dev/null", "TCP:127.0.0.1:22"])
                .output()?;
            if probe.status.success() {
                return Ok(());
            }
            if let Some(Some(status)) = self.sshd.as_mut().map(|s| s.0.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "sshd for {} exited with {status}: {log}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::other(format!(
            "sshd for {} did not listen within 10 s",
            self.name
        )))
    }

    /// The ProxyCommand that reaches this host's sshd.
    pub fn proxy_command(&self) -> String {
        format!("ip netns exec {} socat - TCP:127.0.0.1:22", self.ns.name())
    }

    /// Where a path inside the host was written, in its overlay's upper dir (`None`: not overlaid).
    pub fn written(&self, path: &str) -> Option<PathBuf> {
        self.overlays.dirs().iter().find_map(|(prefix, name)| {
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| {
                self.dir
                    .join("ovl")
                    .join(name)
                    .join("up")
                    .join(rest.trim_start_matches('/'))
            })
        })
    }

    /// A file written inside the host, read from its overlay (e.g. `var/lib/pincore/deployed.json`).
    pub fn file(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.written(path)?).ok()
    }

    /// Whether anything was written under a path inside the host.
    pub fn exists(&self, path: &str) -> bool {
        self.written(path).is_some_and(|p| p.exists())
    }

    /// `GET url` from inside the host's network namespace; true on a 2xx answer.
    pub fn http_ok(&self, url: &str) -> bool {
        self.ns
            .command("curl")
            .args(["-fsS", "-o", "/dev/null", "--max-time", "2", url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs a program inside the host's network namespace (not its mount namespace).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.ns.command(program)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // The servers the deploy started run detached inside the namespace: kill everything in it.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", self.ns.name()])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill(2) on a pid listed as a member of our own test namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        drop(self.sshd.take());
        // NetNs deletes the namespace when `ns` drops right after this.
    }
}
