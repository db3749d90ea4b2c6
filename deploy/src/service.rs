//! What keeps pincore-server running on a host: systemd, or a plain pidfile supervisor for hosts without it.
//!
//! The rollout only ever says install, restart, stop and "is it running"; each implementation turns those into
//! shell scripts run through the host's [`Transport`].

use crate::error::Result;
use crate::manifest::{Host, ServiceKind};
use crate::transport::{quote, Transport};
use crate::unit;

/// The service manager of one host.
pub trait Service: Send + Sync {
    /// The service definition this host should have (the unit file), if the manager has one.
    fn definition(&self) -> Option<String>;

    /// Where the definition is installed on the host.
    fn definition_path(&self) -> Option<String>;

    /// Installs or updates the service definition and whatever it needs (the service user).
    fn install(&self, t: &dyn Transport) -> Result<()>;

    /// The script that (re)starts the server from `current` (also rendered into Ansible playbooks).
    fn restart_script(&self) -> String;

    /// The script that stops the server; harmless when it is not running.
    fn stop_script(&self) -> String;

    /// (Re)starts the server from `current`.
    fn restart(&self, t: &dyn Transport) -> Result<()> {
        t.check("restart the server", &self.restart_script(), b"")
            .map(drop)
    }

    /// Stops the server; harmless when it is not running.
    fn stop(&self, t: &dyn Transport) -> Result<()> {
        t.check("stop the server", &self.stop_script(), b"")
            .map(drop)
    }

    /// A script that exits 0 when the server is running.
    fn running_script(&self) -> String;

    /// A script that prints the server's pid (empty when not running).
    fn pid_script(&self) -> String;

    /// A script that exits 0 only when the server has stopped for good (not while it is starting or being
    /// restarted by the manager).
    fn dead_script(&self) -> String;

    /// A script that prints the last lines the server logged (shown when a host fails its health gate).
    fn log_script(&self) -> String;
}

/// The service manager a host's settings ask for.
pub fn for_host(host: &Host) -> Box<dyn Service> {
    match host.service {
        ServiceKind::Systemd => Box::new(Systemd { host: host.clone() }),
        ServiceKind::Supervisor => Box::new(Supervisor { host: host.clone() }),
    }
}

/// systemd with the hardened unit from [`unit::render`].
pub struct Systemd {
    host: Host,
}

impl Service for Systemd {
    fn definition(&self) -> Option<String> {
        Some(unit::render(&self.host))
    }

    fn definition_path(&self) -> Option<String> {
        Some(format!("/etc/systemd/system/{}", unit::UNIT_NAME))
    }

    fn install(&self, t: &dyn Transport) -> Result<()> {
        let user = unit::SERVICE_USER;
        t.check(
            "create the service user",
            &format!("id -u {user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {user}"),
            b"",
        )?;
        let path = self.definition_path().unwrap_or_default();
        t.upload(
            self.definition().unwrap_or_default().as_bytes(),
            &path,
            0o644,
        )?;
        t.check(
            "install the unit",
            &format!(
                "mkdir -p {state} && chown {user}: {state} && systemctl daemon-reload && systemctl enable --quiet {}",
                unit::UNIT_NAME,
                state = quote(&self.host.paths.state),
            ),
            b"",
        )
        .map(drop)
    }

    fn restart_script(&self) -> String {
        format!("systemctl restart {}", unit::UNIT_NAME)
    }

    fn stop_script(&self) -> String {
        format!("systemctl stop {}", unit::UNIT_NAME)
    }

    fn running_script(&self) -> String {
        format!("systemctl is-active --quiet {}", unit::UNIT_NAME)
    }

    fn pid_script(&self) -> String {
        format!(
            "systemctl show --value -p MainPID {} | grep -v '^0$' || true",
            unit::UNIT_NAME
        )
    }

    fn dead_script(&self) -> String {
        // `failed`: systemd gave up (Restart= attempts exhausted); `activating` and `active` are not dead.
        format!("systemctl is-failed --quiet {}", unit::UNIT_NAME)
    }

    fn log_script(&self) -> String {
        format!(
            "journalctl --no-pager -q -n 3 -u {} 2>/dev/null || true",
            unit::UNIT_NAME
        )
    }
}

/// A plain supervisor: the server runs detached in its own session, its pid in `STATE/server.pid` and its output
/// in `STATE/server.log`. For hosts without systemd as PID 1 (containers, test hosts).
pub struct Supervisor {
    host: Host,
}

impl Supervisor {
    fn pidfile(&self) -> String {
        quote(&format!("{}/server.pid", self.host.paths.state))
    }

    /// A shell function: is process $1 alive? (A killed process whose parent is gone stays a zombie until init
    /// reaps it, and `kill -0` still succeeds on a zombie.)
    const ALIVE: &'static str =
        "alive() { kill -0 \"$1\" 2>/dev/null && ! grep -q '^State:.*Z' /proc/\"$1\"/status 2>/dev/null; }";

    fn stop_now(&self) -> String {
        // TERM, then up to 10 s for the drain, then KILL: bounded, and leaves no pidfile behind.
        format!(
            "{alive}
pidfile={pidfile}
if [ -f \"$pidfile\" ]; then
  pid=$(cat \"$pidfile\")
  if [ -n \"$pid\" ] && alive \"$pid\"; then
    kill -TERM \"$pid\"
    i=0
    while alive \"$pid\" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    kill -KILL \"$pid\" 2>/dev/null || true
  fi
  rm -f \"$pidfile\"
fi",
            alive = Self::ALIVE,
            pidfile = self.pidfile()
        )
    }
}

impl Service for Supervisor {
    fn definition(&self) -> Option<String> {
        None
    }

    fn definition_path(&self) -> Option<String> {
        None
    }

    fn install(&self, t: &dyn Transport) -> Result<()> {
        t.check(
            "prepare the state directory",
            &format!("mkdir -p {}", quote(&self.host.paths.state)),
            b"",
        )
        .map(drop)
    }

    fn restart_script(&self) -> String {
        let current = quote(&format!("{}/current", self.host.paths.install));
        let log = quote(&format!("{}/server.log", self.host.paths.state));
        let pin = self
            .host
            .cpus
            .as_deref()
            .map(|c| format!("taskset -c {} ", quote(c)))
            .unwrap_or_default();
        // `trap '' HUP`: run over a pty (Ansible's ssh uses `-tt`), closing the session sends SIGHUP to this
        // shell's process group, which the server is still in until `setsid` has run; an ignored SIGHUP survives
        // exec, and the server installs its own (reload) handler once it is up.
        format!(
            "set -e
trap '' HUP
{stop}
mkdir -p {state}
{current}/pincore-server check-config {current}/server.yaml >/dev/null
setsid {pin}{current}/pincore-server --config {current}/server.yaml >>{log} 2>&1 </dev/null &
echo $! > {pidfile}",
            stop = self.stop_now(),
            state = quote(&self.host.paths.state),
            pidfile = self.pidfile(),
        )
    }

    fn stop_script(&self) -> String {
        self.stop_now()
    }

    fn running_script(&self) -> String {
        format!(
            "{}\npid=$(cat {} 2>/dev/null) && [ -n \"$pid\" ] && alive \"$pid\"",
            Self::ALIVE,
            self.pidfile()
        )
    }

    fn pid_script(&self) -> String {
        format!("{} && echo \"$pid\" || true", self.running_script())
    }

    fn dead_script(&self) -> String {
        // Nothing restarts a supervised server: once its process is gone it stays gone.
        format!("! ({})", self.running_script())
    }

    fn log_script(&self) -> String {
        format!(
            "tail -n 3 {} 2>/dev/null || true",
            quote(&format!("{}/server.log", self.host.paths.state))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Paths, SshSettings, TransportKind};
    use crate::transport::Local;

    #[test]
    fn supervisor_starts_stops_and_reports_a_process() {
        let dir = tempfile::tempdir().unwrap();
        let install = dir.path().join("opt");
        let current = install.join("current");
        std::fs::create_dir_all(&current).unwrap();
        // A stand-in server: accepts check-config, otherwise sleeps (bounded) like a long-running process.
        std::fs::write(
            current.join("pincore-server"),
            "#!/bin/sh\n[ \"$1\" = check-config ] && exit 0\nexec sleep 30\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            current.join("pincore-server"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let host = Host {
            name: "h".into(),
            group: "g".into(),
            address: "h".into(),
            transport: TransportKind::Local,
            ssh: SshSettings::default(),
            service: ServiceKind::Supervisor,
            paths: Paths {
                install: install.display().to_string(),
                state: dir.path().join("state").display().to_string(),
                tuner: dir.path().join("tuner").display().to_string(),
                sysctl: dir.path().join("sysctl.d").display().to_string(),
            },
            cpus: None,
            nic: None,
        };
        let t = Local::new("h");
        let s = for_host(&host);
        s.install(&t).unwrap();
        assert!(!t.run(&s.running_script(), b"").unwrap().success());
        s.restart(&t).unwrap();
        assert!(t.run(&s.running_script(), b"").unwrap().success());
        let pid1 = t.run(&s.pid_script(), b"").unwrap().stdout;
        s.restart(&t).unwrap();
        let pid2 = t.run(&s.pid_script(), b"").unwrap().stdout;
        assert_ne!(pid1.trim(), pid2.trim(), "restart replaces the process");
        assert!(!pid2.trim().is_empty());
        s.stop(&t).unwrap();
        assert!(!t.run(&s.running_script(), b"").unwrap().success());
        assert_eq!(t.run(&s.pid_script(), b"").unwrap().stdout, "");
    }
}
