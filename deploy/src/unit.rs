//! The hardened systemd unit for pincore-server.
//!
//! `Type=notify` (the server sends `READY=1` once every shard listens; `NotifyAccess=all` because after an
//! upgrade in place the successor, started by the old main process, sends `MAINPID=` and `READY=1` itself),
//! the handoff socket in the state directory, reload by SIGHUP (Debian 12's systemd 252
//! has no `notify-reload`), memlock and file limits for io_uring and many connections, the host's CPUs as
//! `CPUAffinity=`, and sandboxing that keeps io_uring and pinning working: `@system-service` includes io_uring,
//! sched_setaffinity and mlock, while `~@resources` would break pinning and is left out.

use crate::manifest::Host;

/// The unit's file name.
pub const UNIT_NAME: &str = "pincore-server.service";

/// The system user the server runs as: static (not `DynamicUser=`) so an overlapping restart binds the same
/// SO_REUSEPORT ports under the same UID.
pub const SERVICE_USER: &str = "pincore";

/// Where the unit finds the server, its configuration and its state, and the comment that heads it.
pub struct Layout {
    pub header: String,
    pub binary: String,
    pub config: String,
    pub state: String,
    pub cpus: Option<String>,
    /// The directory of the TLS files the server reads (`server.tls.dir`), when the manifest turns TLS on.
    pub tls_dir: Option<String>,
}

impl Layout {
    /// A host pincore-deploy installs releases on: `current` links the running release's directory.
    pub fn for_host(host: &Host) -> Layout {
        let install = &host.paths.install;
        Layout {
            header: format!(
                "Rendered by pincore-deploy for host {}. Edit the manifest, not this file.",
                host.name
            ),
            binary: format!("{install}/current/pincore-server"),
            config: format!("{install}/current/server.yaml"),
            state: host.paths.state.clone(),
            cpus: host.cpus.clone(),
            tls_dir: host.tls.as_ref().map(|t| t.dir.clone()),
        }
    }

    /// The pincore-server Debian package's unit (`packaging/server/pincore-server.service`, checked by a test).
    pub fn packaged() -> Layout {
        Layout {
            header: "Installed by the pincore-server package. Change it with `systemctl edit pincore-server`."
                .to_owned(),
            binary: "/usr/bin/pincore-server".to_owned(),
            config: "/etc/pincore/server.yaml".to_owned(),
            state: "/var/lib/pincore".to_owned(),
            cpus: None,
            tls_dir: None,
        }
    }
}

/// Renders the unit for `host` (its install and state paths, its CPUs).
pub fn render(host: &Host) -> String {
    render_layout(&Layout::for_host(host))
}

/// Renders the unit for any layout.
pub fn render_layout(layout: &Layout) -> String {
    let Layout {
        header,
        binary,
        config,
        state,
        cpus,
        tls_dir,
    } = layout;
    // Read-only and readable under ProtectSystem=strict anyway; named so the unit says what the server reads
    // there. `-`: a missing directory is check-config's to report, with the file's path.
    let tls = tls_dir
        .as_deref()
        .map(|d| format!("ReadOnlyPaths=-{d}\n"))
        .unwrap_or_default();
    let affinity = cpus
        .as_deref()
        .map(|c| format!("CPUAffinity={}\n", c.replace(',', " ")))
        .unwrap_or_default();
    format!(
        "\
# {header}
[Unit]
Description=pincore-server (thread-per-core TCP server)
Documentation=man:pincore-server(1) https://github.com/pincore/pincore
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=all
User={user}
Group={user}
ExecStartPre={binary} check-config {config}
ExecStart={binary} --config {config} --handoff-socket {state}/handoff.sock
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=1s
TimeoutStartSec=30s
TimeoutStopSec=30s
{affinity}LimitNOFILE=1048576
LimitMEMLOCK=infinity
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths={state}
{tls}PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
PrivateMounts=yes
RemoveIPC=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
UMask=0077

[Install]
WantedBy=multi-user.target
",
        user = SERVICE_USER,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::manifest::{Paths, ServiceKind, SshSettings, TransportKind};

    pub(crate) fn host(cpus: Option<&str>) -> Host {
        Host {
            name: "web1".into(),
            group: "web".into(),
            address: "web1".into(),
            transport: TransportKind::Ssh,
            ssh: SshSettings::default(),
            service: ServiceKind::Systemd,
            paths: Paths::default(),
            cpus: cpus.map(str::to_string),
            nic: None,
            tls: None,
        }
    }

    #[test]
    fn unit_uses_the_hosts_paths_and_cpus() {
        let unit = render(&host(Some("2-5,8")));
        assert!(unit.contains("ExecStart=/opt/pincore/current/pincore-server --config /opt/pincore/current/server.yaml"));
        assert!(unit.contains("CPUAffinity=2-5 8\n"));
        assert!(unit.contains("Type=notify\n"));
        assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID\n"));
        assert!(!render(&host(None)).contains("CPUAffinity"));
        assert!(!render(&host(None)).contains("ReadOnlyPaths"));
        let mut tls = host(None);
        tls.tls = Some(crate::manifest::HostTls {
            dir: "/etc/pincore-tls".into(),
            cert: pem("c"),
            key: pem("k"),
            client_ca: None,
        });
        assert!(render(&tls)
            .contains("ReadWritePaths=/var/lib/pincore\nReadOnlyPaths=-/etc/pincore-tls\n"));
    }

    fn pem(text: &str) -> crate::manifest::Pem {
        crate::manifest::Pem {
            path: "/x".into(),
            text: text.into(),
        }
    }

    /// The package ships a file, not this function's output: the file must be what the function renders now.
    /// `PINCORE_UPDATE_PACKAGING=1 cargo test -p pincore-deploy packaged_unit` rewrites it.
    #[test]
    fn packaged_unit_is_the_rendered_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/server/pincore-server.service");
        let rendered = render_layout(&Layout::packaged());
        if std::env::var_os("PINCORE_UPDATE_PACKAGING").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            shipped == rendered,
            "{} differs from the unit pincore-deploy renders; rerun with PINCORE_UPDATE_PACKAGING=1",
            path.display()
        );
        assert!(rendered
            .contains("ExecStart=/usr/bin/pincore-server --config /etc/pincore/server.yaml --handoff-socket /var/lib/pincore/handoff.sock\n"));
    }
}
