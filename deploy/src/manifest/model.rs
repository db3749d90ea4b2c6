//! The typed manifest the rest of pincore-deploy works with: hosts with their settings merged, the release, the
//! server config and tuning profile as their own libraries parsed them, and the rollout block. Plain data: it
//! knows nothing of how it was read (`raw`, `validate`) or of what is done with it (`rollout`, `render`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A validated manifest, with every host's settings merged (host over group `vars` over `defaults`).
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from (used in messages and to resolve relative paths).
    pub path: PathBuf,
    pub release: Release,
    pub server: ServerConfig,
    /// The server config as pincore-server parsed it.
    pub server_config: pincore_server::config::Config,
    pub tuning: Tuning,
    /// The profile as pincore-tuner flattened it.
    pub profile: pincore_tuner::FlatProfile,
    pub rollout: Rollout,
    /// TLS on the server's services (`server.tls`), with each host's files in [`Host::tls`].
    pub tls: Option<Tls>,
    /// Settings only the Kubernetes render uses (image, namespace, resources).
    pub kubernetes: Option<Kubernetes>,
    /// Groups in manifest order, each with its hosts' names.
    pub groups: Vec<Group>,
    /// Hosts in manifest order (group by group).
    pub hosts: Vec<Host>,
}

/// The files that make up a release (local paths, resolved against the manifest's directory): the built
/// binaries (`release: {server, tuner}`), or Debian packages of them (`release: {deb, tuner_deb}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The pincore-server binary, or with `packages` the pincore-server `.deb`.
    pub server: PathBuf,
    /// The pincore-tuner binary, or with `packages` the pincore-tuner `.deb`.
    pub tuner: PathBuf,
    /// Set for a release of Debian packages: what each package says it is.
    pub packages: Option<Packages>,
}

/// The two Debian packages of a `deb` release, as `dpkg-deb --field` read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packages {
    pub server: DebInfo,
    pub tuner: DebInfo,
}

impl Packages {
    /// Both packages, server first.
    pub fn both(&self) -> [&DebInfo; 2] {
        [&self.server, &self.tuner]
    }

    /// The architecture a host must have (`None`: both are `all`).
    pub fn architecture(&self) -> Option<&str> {
        self.both()
            .into_iter()
            .map(|d| d.architecture.as_str())
            .find(|a| *a != "all")
    }
}

/// A Debian package's name, version and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebInfo {
    pub package: String,
    pub version: String,
    pub architecture: String,
}

/// The server's configuration file, as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The YAML text installed on every host.
    pub text: String,
    /// Where it came from, for messages: the config file, or `MANIFEST (server.config)`.
    pub origin: String,
}

/// The tuning profile: a built-in name of pincore-tuner or a profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tuning {
    Builtin(String),
    File { path: PathBuf, text: String },
}

impl Tuning {
    /// The argument `pincore-tuner apply` takes on the host: the built-in name, or the installed file's name.
    pub fn argument(&self) -> &str {
        match self {
            Tuning::Builtin(name) => name,
            Tuning::File { .. } => "profile.yaml",
        }
    }
}

/// How a rollout proceeds (names after Nomad's `update` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollout {
    /// Hosts deployed first, alone, before any batch.
    pub canary: usize,
    /// Hosts deployed at once in each batch after the canary.
    pub max_parallel: usize,
    /// Failed hosts tolerated; the rollout stops when failures exceed it.
    pub max_fail: usize,
    /// How long a restarted server has to become healthy.
    #[serde(with = "duration_text")]
    pub healthy_deadline: Duration,
    /// How long it must stay healthy to count as healthy.
    #[serde(with = "duration_text")]
    pub min_healthy_time: Duration,
    /// Revert a failing host to its previous release and tuning.
    pub auto_revert: bool,
}

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout {
            canary: 1,
            max_parallel: 1,
            max_fail: 0,
            healthy_deadline: Duration::from_secs(30),
            min_healthy_time: Duration::from_secs(2),
            auto_revert: true,
        }
    }
}

/// What `render --format kubernetes` needs beyond the hosts: the container image and the pod's resources.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// An image with `pincore-server` and `pincore-tuner` on its PATH.
    pub image: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Whole CPUs per pod (requests = limits, so the static CPU manager pins them exclusively).
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    /// Memory per pod (requests = limits), e.g. `1Gi`.
    #[serde(default = "default_memory")]
    pub memory: String,
}

fn default_namespace() -> String {
    "pincore".into()
}

fn default_cpus() -> u32 {
    2
}

fn default_memory() -> String {
    "1Gi".into()
}

/// A group of hosts and the settings they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub vars: HostSettings,
    pub hosts: Vec<String>,
}

/// How commands reach a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// The system OpenSSH client.
    Ssh,
    /// The machine the deploy runs on.
    Local,
}

/// What keeps the server running on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// A systemd unit (`pincore-server.service`).
    Systemd,
    /// A plain supervisor with a pidfile, for hosts without systemd.
    Supervisor,
}

/// One host with its merged settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub group: String,
    /// Name or address that ssh connects to (defaults to the host's name).
    pub address: String,
    pub transport: TransportKind,
    pub ssh: SshSettings,
    pub service: ServiceKind,
    pub paths: Paths,
    /// CPUs the server is pinned to (`CPUAffinity=`), e.g. `2-7` or `0,2,4`.
    pub cpus: Option<String>,
    /// The NIC the server serves on.
    pub nic: Option<String>,
    /// The host's certificate, key and client authorities, when the manifest turns TLS on (`server.tls`).
    pub tls: Option<HostTls>,
}

/// `server.tls`: which services serve TLS, and where every host keeps its files. The server config is the
/// same on every host, so the directory and whether clients must present a certificate are the manifest's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// The services whose config gets a `tls:` section pointing at the installed files.
    pub services: Vec<String>,
    /// The directory on each host (default `/etc/pincore-tls`).
    pub dir: String,
    /// Whether clients must present a certificate (every host gives `tls.client_ca`).
    pub client_ca: bool,
    /// `validate` warns when a certificate expires within this many days.
    pub expiry_warning_days: u32,
    /// Certificates that expire within `expiry_warning_days`, in words (`validate` and `plan` print them).
    pub warnings: Vec<String>,
}

/// One PEM file of a host's TLS: where it came from on this machine, and its text.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem {
    pub path: PathBuf,
    pub text: String,
}

impl std::fmt::Debug for Pem {
    // A private key's text is never printed, not even in a test's failure message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({}, {} bytes)", self.path.display(), self.text.len())
    }
}

/// A host's TLS files, read and checked (PEM, key matches, not expired) when the manifest is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTls {
    /// The directory they are installed in on the host (`server.tls.dir`).
    pub dir: String,
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
}

impl HostTls {
    /// File name on the host → content, in installation order.
    pub fn files(&self) -> Vec<(&'static str, &Pem)> {
        let mut files = vec![(TLS_CERT, &self.cert), (TLS_KEY, &self.key)];
        if let Some(ca) = &self.client_ca {
            files.push((TLS_CLIENT_CA, ca));
        }
        files
    }
}

/// The names of the TLS files in `server.tls.dir` on a host, as the rendered server config names them.
pub const TLS_CERT: &str = "cert.pem";
pub const TLS_KEY: &str = "key.pem";
pub const TLS_CLIENT_CA: &str = "client_ca.pem";

/// Where a deploy writes on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paths {
    /// Releases and the `current` symlink.
    pub install: String,
    /// `deployed.json`, the supervisor's pidfile and log; owned by the service user.
    pub state: String,
    /// The tuner's state (what `rollback` restores). Root's alone: the tuner refuses a state directory the
    /// service user could write, since its records decide what root writes on rollback.
    pub tuner: String,
    /// Where the profile's persisted drop-in goes.
    pub sysctl: String,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            install: "/opt/pincore".into(),
            state: "/var/lib/pincore".into(),
            tuner: "/var/lib/pincore-tuner".into(),
            sysctl: "/etc/sysctl.d".into(),
        }
    }
}

/// ssh options of a host; anything unset comes from the user's ssh config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<PathBuf>,
    /// `ProxyCommand` (bastion hosts, network namespaces).
    pub proxy_command: Option<String>,
    /// Further `-o` options, e.g. `UserKnownHostsFile=/path`.
    #[serde(default)]
    pub options: Vec<String>,
}

/// Settings as written in `defaults`, a group's `vars` or a host: all optional, merged field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    pub address: Option<String>,
    pub transport: Option<TransportKind>,
    #[serde(default)]
    pub ssh: SshSettings,
    pub service: Option<ServiceKind>,
    #[serde(default)]
    pub paths: PathSettings,
    pub cpus: Option<String>,
    pub nic: Option<String>,
    #[serde(default)]
    pub tls: TlsSettings,
}

/// A host's TLS files as written (local paths, relative to the manifest): all optional, merged field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, leaf first (PEM).
    pub cert: Option<PathBuf>,
    /// The leaf certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// The authorities client certificates must chain to (PEM); clients must then present one.
    pub client_ca: Option<PathBuf>,
}

impl TlsSettings {
    /// Whether no TLS file is named.
    pub fn is_empty(&self) -> bool {
        self.cert.is_none() && self.key.is_none() && self.client_ca.is_none()
    }
}

/// Optional path settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathSettings {
    pub install: Option<String>,
    pub state: Option<String>,
    pub tuner: Option<String>,
    pub sysctl: Option<String>,
}

impl HostSettings {
    /// `self` with every unset field taken from `base`.
    pub(crate) fn over(&self, base: &HostSettings) -> HostSettings {
        let ssh = SshSettings {
            user: self.ssh.user.clone().or_else(|| base.ssh.user.clone()),
            port: self.ssh.port.or(base.ssh.port),
            identity: self
                .ssh
                .identity
                .clone()
                .or_else(|| base.ssh.identity.clone()),
            proxy_command: self
                .ssh
                .proxy_command
                .clone()
                .or_else(|| base.ssh.proxy_command.clone()),
            options: base
                .ssh
                .options
                .iter()
                .chain(&self.ssh.options)
                .cloned()
                .collect(),
        };
        HostSettings {
            address: self.address.clone().or_else(|| base.address.clone()),
            transport: self.transport.or(base.transport),
            ssh,
            service: self.service.or(base.service),
            paths: PathSettings {
                install: self
                    .paths
                    .install
                    .clone()
                    .or_else(|| base.paths.install.clone()),
                state: self
                    .paths
                    .state
                    .clone()
                    .or_else(|| base.paths.state.clone()),
                tuner: self
                    .paths
                    .tuner
                    .clone()
                    .or_else(|| base.paths.tuner.clone()),
                sysctl: self
                    .paths
                    .sysctl
                    .clone()
                    .or_else(|| base.paths.sysctl.clone()),
            },
            cpus: self.cpus.clone().or_else(|| base.cpus.clone()),
            nic: self.nic.clone().or_else(|| base.nic.clone()),
            tls: TlsSettings {
                cert: self.tls.cert.clone().or_else(|| base.tls.cert.clone()),
                key: self.tls.key.clone().or_else(|| base.tls.key.clone()),
                client_ca: self
                    .tls
                    .client_ca
                    .clone()
                    .or_else(|| base.tls.client_ca.clone()),
            },
        }
    }
}

impl Manifest {
    /// Where `/healthz` answers on each host.
    pub fn health_url(&self) -> String {
        health_url(self.server_config.services.admin.listen)
    }

    /// The hosts whose names are in `only` (all when empty); unknown names are an error.
    pub fn select(&self, only: &[String]) -> Result<Vec<Host>> {
        let names: HashSet<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        let wanted: HashSet<&str> = only.iter().map(String::as_str).collect();
        for name in only {
            if !names.contains(name.as_str()) {
                return Err(Error::Manifest {
                    file: self.path.display().to_string(),
                    line: 1,
                    column: 1,
                    message: format!("no host named `{name}` in the manifest"),
                });
            }
        }
        Ok(self
            .hosts
            .iter()
            .filter(|h| only.is_empty() || wanted.contains(h.name.as_str()))
            .cloned()
            .collect())
    }
}

/// The URL of the server's `/healthz` as seen on the host, from the admin listener's address.
pub fn health_url(admin: std::net::SocketAddr) -> String {
    let ip = match admin.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    format!("http://{ip}:{}/healthz", admin.port())
}

mod duration_text {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&pincore_cli::duration::format_duration(*d))
    }
}
