//! What keeps pincore-server running on a host: systemd, or a plain pidfile supervisor for hosts without it.
//!
//! The rollout only ever says install, restart, stop and "is it running"; each implementation answers with the
//! scripts [`commands`](crate::commands) builds for its manager, run through the host's [`Transport`].

use crate::commands::{supervisor, systemd};
use crate::error::Result;
use crate::manifest::{Host, ServiceKind};
use crate::transport::Transport;
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

    /// The script that upgrades the running server in place: it hands its listeners to a server started
    /// from `current` (README "Upgrades in place"); on failure the running one keeps serving and the script
    /// fails with the reason.
    fn upgrade_script(&self) -> String;

    /// Upgrades the running server in place to the release `current` points at.
    fn upgrade(&self, t: &dyn Transport) -> Result<()> {
        t.check("upgrade the server in place", &self.upgrade_script(), b"")
            .map(drop)
    }

    /// The script that makes the running server re-read its config and TLS files (SIGHUP), keeping its
    /// connections.
    fn reload_script(&self) -> String;

    /// Makes the running server re-read its config and TLS files, without a restart.
    fn reload(&self, t: &dyn Transport) -> Result<()> {
        t.check("reload the server (SIGHUP)", &self.reload_script(), b"")
            .map(drop)
    }

    /// Who owns the TLS files (the service user), or `None` for the user the deploy connects as.
    fn tls_owner(&self) -> Option<&'static str>;

    /// The script that creates the TLS directory `dir`, private to [`Service::tls_owner`].
    fn tls_dir_script(&self, dir: &str) -> String;

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
        Some(systemd::unit_path())
    }

    fn install(&self, t: &dyn Transport) -> Result<()> {
        t.check("create the service user", &systemd::create_user(), b"")?;
        t.upload(
            self.definition().unwrap_or_default().as_bytes(),
            &systemd::unit_path(),
            0o644,
        )?;
        t.check("install the unit", &systemd::enable(&self.host), b"")
            .map(drop)
    }

    fn restart_script(&self) -> String {
        systemd::restart()
    }

    fn upgrade_script(&self) -> String {
        systemd::upgrade(&self.host)
    }

    fn reload_script(&self) -> String {
        systemd::reload()
    }

    fn tls_owner(&self) -> Option<&'static str> {
        Some(unit::SERVICE_USER)
    }

    fn tls_dir_script(&self, dir: &str) -> String {
        systemd::make_tls_dir(dir)
    }

    fn stop_script(&self) -> String {
        systemd::stop()
    }

    fn running_script(&self) -> String {
        systemd::running()
    }

    fn pid_script(&self) -> String {
        systemd::pid()
    }

    fn dead_script(&self) -> String {
        systemd::dead()
    }

    fn log_script(&self) -> String {
        systemd::log()
    }
}

/// A plain supervisor: the server runs detached in its own session, its pid in `STATE/server.pid` and its output
/// in `STATE/server.log`. For hosts without systemd as PID 1 (containers, test hosts).
pub struct Supervisor {
    host: Host,
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
            &supervisor::install(&self.host),
            b"",
        )
        .map(drop)
    }

    fn restart_script(&self) -> String {
        supervisor::restart(&self.host)
    }

    fn upgrade_script(&self) -> String {
        supervisor::upgrade(&self.host)
    }

    fn reload_script(&self) -> String {
        supervisor::reload(&self.host)
    }

    /// The supervised server runs as the user the deploy connects as, who then owns the files.
    fn tls_owner(&self) -> Option<&'static str> {
        None
    }

    fn tls_dir_script(&self, dir: &str) -> String {
        crate::commands::make_tls_dir(dir, None)
    }

    fn stop_script(&self) -> String {
        supervisor::stop(&self.host)
    }

    fn running_script(&self) -> String {
        supervisor::running(&self.host)
    }

    fn pid_script(&self) -> String {
        supervisor::pid(&self.host)
    }

    fn dead_script(&self) -> String {
        supervisor::dead(&self.host)
    }

    fn log_script(&self) -> String {
        supervisor::log(&self.host)
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
            tls: None,
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
