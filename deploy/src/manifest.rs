//! The deployment manifest: hosts and groups, the release (paths of the built binaries), the server config, the
//! tuning profile and the rollout block.
//!
//! Loading checks everything that can be checked without touching a host, and every error names the manifest's
//! file, line and column: syntax and type errors come from the YAML parser, and the checks made after parsing
//! (names, CPU lists, rollout numbers, the profile and the server config) point at the key they are about.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pincore_tuner::input::{self, Expected};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

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
    /// Settings only the Kubernetes render uses (image, namespace, resources).
    pub kubernetes: Option<Kubernetes>,
    /// Groups in manifest order, each with its hosts' names.
    pub groups: Vec<Group>,
    /// Hosts in manifest order (group by group).
    pub hosts: Vec<Host>,
}

/// The built binaries that make up a release (local paths, resolved against the manifest's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub server: PathBuf,
    pub tuner: PathBuf,
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
}

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
    fn over(&self, base: &HostSettings) -> HostSettings {
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
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    release: RawRelease,
    server: RawServer,
    tuning: RawTuning,
    #[serde(default)]
    rollout: RawRollout,
    #[serde(default)]
    defaults: HostSettings,
    groups: Ordered<RawGroup>,
    kubernetes: Option<Kubernetes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    server: PathBuf,
    tuner: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    config: Option<serde_yaml::Value>,
    config_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTuning {
    profile: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    canary: Option<usize>,
    max_parallel: Option<usize>,
    max_fail: Option<usize>,
    healthy_deadline: Option<String>,
    min_healthy_time: Option<String>,
    auto_revert: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    vars: HostSettings,
    hosts: Ordered<HostSettings>,
}

/// A YAML mapping read in document order (serde maps would sort or lose it); duplicate keys are an error.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names")
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                // A set beside the list: checking the list itself made 60 000 hosts take seconds.
                let mut seen: HashSet<String> = HashSet::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("`{key}` appears twice")));
                    }
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_any(OrderedVisitor(PhantomData))
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path` (and the profile or server config files it names).
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = input::read_text(path, Expected::text("a YAML deploy manifest"))?;
        Manifest::from_yaml(&text, path)
    }

    /// Parses and validates manifest `text`; `path` names it in errors and anchors relative paths.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Manifest> {
        let file = path.display().to_string();
        pincore_tuner::nesting::check(text).map_err(|deep| Error::Manifest {
            file: file.clone(),
            line: deep.line,
            column: deep.column,
            message: deep.to_string(),
        })?;
        let raw: RawManifest = serde_yaml::from_str(text).map_err(|e| {
            let (at, message) = pincore_cli::position::yaml_error(&file, &e);
            Error::Manifest {
                file: at.file,
                line: at.line.max(1),
                column: at.column.max(1),
                message,
            }
        })?;
        let locator = Locator::new(text, file);
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let release = Release {
            server: resolve(&raw.release.server),
            tuner: resolve(&raw.release.tuner),
        };

        let server = match (raw.server.config, raw.server.config_file) {
            (Some(value), None) => ServerConfig {
                // Serialising a Value parsed from YAML cannot fail (no non-string map keys survive parsing).
                text: serde_yaml::to_string(&value).unwrap_or_default(),
                origin: format!("{} (server.config)", path.display()),
            },
            (None, Some(file)) => {
                let p = resolve(&file);
                let expected = Expected::text("a YAML pincore-server configuration");
                let text = input::read_text(&p, expected)
                    .map_err(|e| locator.error(&["server", "config_file"], e.to_string()))?;
                ServerConfig {
                    text,
                    origin: p.display().to_string(),
                }
            }
            _ => {
                return Err(locator.error(
                    &["server"],
                    "give exactly one of `config` (inline YAML) or `config_file` (a path)",
                ))
            }
        };

        let tuning = if raw.tuning.profile.contains('/') || raw.tuning.profile.ends_with(".yaml") {
            let p = resolve(Path::new(&raw.tuning.profile));
            let text = input::read_text(&p, Expected::text("a YAML profile"))
                .map_err(|e| locator.error(&["tuning", "profile"], e.to_string()))?;
            Tuning::File { path: p, text }
        } else if raw.tuning.profile.trim().is_empty() {
            return Err(locator.error(
                &["tuning", "profile"],
                "the profile is empty: give a built-in name or a file",
            ));
        } else {
            Tuning::Builtin(raw.tuning.profile)
        };

        let rollout = rollout(raw.rollout, &locator)?;

        let mut groups = Vec::new();
        let mut hosts: Vec<Host> = Vec::new();
        let mut seen = BTreeSet::new();
        // (address, ssh port) → the host that has it: two hosts are one machine when both match.
        let mut addresses: HashMap<(String, Option<u16>), String> = HashMap::new();
        for (group_name, group) in raw.groups.0 {
            let mut names = Vec::new();
            for (name, settings) in group.hosts.0 {
                let at = ["groups", group_name.as_str(), "hosts", name.as_str()];
                if !seen.insert(name.clone()) {
                    return Err(locator.error(
                        &at,
                        format!("host `{name}` is listed twice: host names must be unique"),
                    ));
                }
                let merged = settings.over(&group.vars.over(&raw.defaults));
                let h = host(name.clone(), group_name.clone(), merged, &locator, &at)?;
                let address_at = [&at[..], &["address"]].concat();
                if h.address.trim().is_empty() {
                    return Err(locator.error(
                        &address_at,
                        "the address is empty: give the name or IP address ssh connects to, or leave it out to use the host's name",
                    ));
                }
                let id = (h.address.clone(), h.ssh.port);
                if let Some(first) = addresses.get(&id) {
                    return Err(locator.error(
                        &address_at,
                        format!(
                            "host `{name}` has the same address `{}`{} as host `{first}`: each host is deployed on its own, so two names for one machine would race; remove one or fix the address",
                            h.address,
                            h.ssh.port.map(|p| format!(" and ssh port {p}")).unwrap_or_default(),
                        ),
                    ));
                }
                addresses.insert(id, name.clone());
                hosts.push(h);
                names.push(name);
            }
            groups.push(Group {
                name: group_name,
                vars: group.vars,
                hosts: names,
            });
        }
        if hosts.is_empty() {
            return Err(locator.error(
                &["groups"],
                "no hosts: add at least one host under groups.NAME.hosts",
            ));
        }
        if rollout.canary > hosts.len() {
            return Err(locator.error(
                &["rollout", "canary"],
                format!(
                    "canary is {} but the manifest has {} host(s)",
                    rollout.canary,
                    hosts.len()
                ),
            ));
        }

        let server_config = crate::checks::server_config(&server, &locator)?;
        let profile = crate::checks::profile(&tuning, &locator)?;
        let manifest = Manifest {
            path: path.to_path_buf(),
            release,
            server,
            server_config,
            tuning,
            profile,
            rollout,
            kubernetes: raw.kubernetes,
            groups,
            hosts,
        };
        Ok(manifest)
    }

    /// Where `/healthz` answers on each host.
    pub fn health_url(&self) -> String {
        crate::rollout::health_url(self.server_config.services.admin.listen)
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

fn rollout(raw: RawRollout, locator: &Locator) -> Result<Rollout> {
    let d = Rollout::default();
    let duration = |text: Option<String>, key: &str, default: Duration| -> Result<Duration> {
        match text {
            None => Ok(default),
            Some(t) => parse_duration(&t).map_err(|e| locator.error(&["rollout", key], e)),
        }
    };
    let rollout = Rollout {
        canary: raw.canary.unwrap_or(d.canary),
        max_parallel: raw.max_parallel.unwrap_or(d.max_parallel),
        max_fail: raw.max_fail.unwrap_or(d.max_fail),
        healthy_deadline: duration(raw.healthy_deadline, "healthy_deadline", d.healthy_deadline)?,
        min_healthy_time: duration(raw.min_healthy_time, "min_healthy_time", d.min_healthy_time)?,
        auto_revert: raw.auto_revert.unwrap_or(d.auto_revert),
    };
    if rollout.max_parallel == 0 {
        return Err(locator.error(
            &["rollout", "max_parallel"],
            "max_parallel must be at least 1",
        ));
    }
    if rollout.min_healthy_time >= rollout.healthy_deadline {
        return Err(locator.error(
            &["rollout", "min_healthy_time"],
            "min_healthy_time must be shorter than healthy_deadline (a host must be able to pass the gate)",
        ));
    }
    Ok(rollout)
}

fn host(
    name: String,
    group: String,
    s: HostSettings,
    locator: &Locator,
    at: &[&str],
) -> Result<Host> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(locator.error(
            at,
            format!("host name `{name}`: use letters, digits, `-`, `_` and `.` only"),
        ));
    }
    let paths = Paths {
        install: s.paths.install.unwrap_or_else(|| Paths::default().install),
        state: s.paths.state.unwrap_or_else(|| Paths::default().state),
        tuner: s.paths.tuner.unwrap_or_else(|| Paths::default().tuner),
        sysctl: s.paths.sysctl.unwrap_or_else(|| Paths::default().sysctl),
    };
    for (key, p) in [
        ("install", &paths.install),
        ("state", &paths.state),
        ("tuner", &paths.tuner),
        ("sysctl", &paths.sysctl),
    ] {
        if let Err(why) = check_host_path(p) {
            let mut here = at.to_vec();
            here.extend(["paths", key]);
            return Err(locator.error(&here, format!("paths.{key} `{p}` {why}")));
        }
    }
    let inside = |dir: &str, parent: &str| {
        std::path::Path::new(dir).starts_with(std::path::Path::new(parent))
    };
    if inside(&paths.tuner, &paths.state) {
        let mut here = at.to_vec();
        here.extend(["paths", "tuner"]);
        return Err(locator.error(
            &here,
            format!(
                "paths.tuner `{}` is inside paths.state `{}`, which the service user owns: the tuner's state decides what root writes on rollback, so it needs a directory only root can write (default /var/lib/pincore-tuner)",
                paths.tuner, paths.state
            ),
        ));
    }
    if let Some(cpus) = &s.cpus {
        if !matches!(
            pincore_server::config::CpuList::parse(cpus),
            Ok(pincore_server::config::CpuList::List(_))
        ) {
            let mut here = at.to_vec();
            here.push("cpus");
            return Err(locator.error(
                &here,
                format!("cpus `{cpus}` is not a CPU list: write e.g. `2-7` or `0,2,4`"),
            ));
        }
    }
    Ok(Host {
        address: s.address.unwrap_or_else(|| name.clone()),
        name,
        group,
        transport: s.transport.unwrap_or(TransportKind::Ssh),
        ssh: s.ssh,
        service: s.service.unwrap_or(ServiceKind::Systemd),
        paths,
        cpus: s.cpus,
        nic: s.nic,
    })
}

/// Directories a deploy must never take over: it creates, writes into and (state) `chown`s its paths.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/lib",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/run",
    "/var/tmp",
];

/// Why a host path cannot be one of a host's `paths`, if it cannot: it must be absolute, free of `..` and
/// of quotes, and not a system directory itself (`paths.state: /` once led to `chown pincore: /`).
fn check_host_path(p: &str) -> std::result::Result<(), String> {
    if !p.starts_with('/') || p.contains(['\'', '\n']) {
        return Err("must be an absolute path without quotes".into());
    }
    if p.split('/').any(|part| part == "..") {
        return Err("must not contain `..`: write the directory it means".into());
    }
    let normal: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let normal = format!("/{}", normal.join("/"));
    if SYSTEM_DIRS.contains(&normal.as_str()) {
        return Err(format!(
            "is a system directory ({normal}): a deploy creates, writes and chowns its paths, so give a directory of pincore's own, e.g. {normal}/pincore"
        ).replace("//pincore", "/pincore"));
    }
    Ok(())
}

pub use pincore_cli::duration::{format_duration, parse_duration};

mod duration_text {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }
}

/// Finds where a key path sits in the manifest text, so checks made after parsing can name a line and column.
pub struct Locator {
    file: String,
    root: Option<marked_yaml::Node>,
}

impl Locator {
    fn new(text: &str, file: String) -> Locator {
        Locator {
            file,
            root: marked_yaml::parse_yaml(0, text).ok(),
        }
    }

    /// An error about the value at `path` (or the deepest part of it that exists).
    pub fn error(&self, path: &[&str], message: impl Into<String>) -> Error {
        let (line, column) = self.position(path);
        Error::Manifest {
            file: self.file.clone(),
            line,
            column,
            message: format!("{}: {}", path.join("."), message.into()),
        }
    }

    fn position(&self, path: &[&str]) -> (usize, usize) {
        let Some(mut node) = self.root.as_ref() else {
            return (1, 1);
        };
        let mut mark = node.span().start().map(|m| (m.line(), m.column()));
        for key in path {
            let Some(map) = node.as_mapping() else { break };
            // Point at the key itself: that is where a reader looks for it.
            let Some((k, v)) = map.iter().find(|(k, _)| k.as_str() == *key) else {
                break;
            };
            mark = k.span().start().map(|m| (m.line(), m.column())).or(mark);
            node = v;
        }
        mark.unwrap_or((1, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
release:
  server: bin/pincore-server
  tuner: bin/pincore-tuner
server:
  config:
    services:
      admin:
        listen: 127.0.0.1:9180
tuning:
  profile: connections
rollout:
  canary: 1
  max_parallel: 2
  healthy_deadline: 10s
  min_healthy_time: 500ms
defaults:
  ssh:
    user: deploy
groups:
  web:
    vars:
      service: supervisor
      ssh:
        port: 2222
    hosts:
      web1:
        address: 10.0.0.1
        cpus: 2-3
      web2:
        ssh:
          user: root
  edge:
    hosts:
      edge1: {}
";

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::from_yaml(text, Path::new("/srv/m.yaml"))
    }

    #[test]
    fn merges_defaults_group_vars_and_host_settings_in_order() {
        let m = parse(GOOD).unwrap();
        let names: Vec<_> = m.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web1", "web2", "edge1"]);
        let web1 = &m.hosts[0];
        assert_eq!(web1.address, "10.0.0.1");
        assert_eq!(web1.ssh.user.as_deref(), Some("deploy"));
        assert_eq!(web1.ssh.port, Some(2222));
        assert_eq!(web1.service, ServiceKind::Supervisor);
        assert_eq!(m.hosts[1].ssh.user.as_deref(), Some("root"));
        assert_eq!(m.hosts[2].service, ServiceKind::Systemd);
        assert_eq!(m.hosts[2].address, "edge1");
        assert_eq!(m.hosts[2].paths, Paths::default());
        assert_eq!(m.release.server, Path::new("/srv/bin/pincore-server"));
        assert_eq!(m.rollout.min_healthy_time, Duration::from_millis(500));
        assert_eq!(m.tuning, Tuning::Builtin("connections".into()));
        assert!(m.server.text.contains("listen"));
        assert_eq!(m.health_url(), "http://127.0.0.1:9180/healthz");
        assert_eq!(m.profile.name, "connections");
    }

    fn error_of(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(Error::Manifest {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a manifest error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_key_names_its_line() {
        let bad = GOOD.replace("        cpus: 2-3", "        cpu: 2-3");
        let (line, _, message) = error_of(&bad);
        assert_eq!(line, 28, "{message}");
        assert!(message.contains("unknown field `cpu`"), "{message}");
    }

    #[test]
    fn bad_cpu_list_points_at_the_key() {
        let bad = GOOD.replace("cpus: 2-3", "cpus: 3-2");
        let (line, column, message) = error_of(&bad);
        assert_eq!((line, column), (28, 9), "{message}");
        assert!(message.contains("groups.web.hosts.web1.cpus"), "{message}");
    }

    #[test]
    fn duplicate_host_across_groups_is_rejected() {
        let bad = GOOD.replace("edge1: {}", "web1: {}");
        let (line, _, message) = error_of(&bad);
        assert_eq!(line, 34, "{message}");
        assert!(message.contains("listed twice"), "{message}");
    }

    #[test]
    fn the_tuner_state_cannot_live_where_the_service_user_writes() {
        let bad = GOOD.replace(
            "        cpus: 2-3",
            "        cpus: 2-3\n        paths: {state: /var/lib/pincore, tuner: /var/lib/pincore/tuner}",
        );
        let (line, _, message) = error_of(&bad);
        assert_eq!(line, 29, "{message}");
        assert!(
            message.contains("paths.tuner") && message.contains("only root can write"),
            "{message}"
        );
        let m = parse(GOOD).unwrap();
        assert_eq!(m.hosts[0].paths.tuner, "/var/lib/pincore-tuner");
    }

    #[test]
    fn rollout_numbers_are_checked() {
        let (line, _, message) = error_of(&GOOD.replace("canary: 1", "canary: 4"));
        assert_eq!(line, 12);
        assert!(message.contains("3 host(s)"), "{message}");
        let (line, _, message) = error_of(&GOOD.replace("500ms", "5 parsecs"));
        assert_eq!(line, 15);
        assert!(message.contains("not a duration"), "{message}");
        let (_, _, message) = error_of(&GOOD.replace("500ms", "10s"));
        assert!(
            message.contains("shorter than healthy_deadline"),
            "{message}"
        );
    }

    #[test]
    fn server_config_needs_exactly_one_source() {
        let bad = GOOD.replace(
            "server:\n  config:",
            "server:\n  config_file: x.yaml\n  config:",
        );
        let (line, _, message) = error_of(&bad);
        assert_eq!(line, 4);
        assert!(message.contains("exactly one"), "{message}");
    }

    #[test]
    fn bad_profile_and_bad_server_config_are_caught_before_any_host() {
        let (line, _, message) =
            error_of(&GOOD.replace("profile: connections", "profile: no-such-profile"));
        assert_eq!(line, 10, "{message}");
        assert!(
            message.contains("no-such-profile") && message.contains("built-in profiles"),
            "{message}"
        );
        let (line, _, message) =
            error_of(&GOOD.replace("listen: 127.0.0.1:9180", "listen: nowhere"));
        assert_eq!(line, 5, "{message}");
        assert!(message.contains("invalid server config"), "{message}");
        let off = GOOD.replace(
            "listen: 127.0.0.1:9180",
            "listen: 127.0.0.1:9180\n        enabled: false",
        );
        let (_, _, message) = error_of(&off);
        assert!(message.contains("/healthz"), "{message}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let (line, _, _) = error_of("release:\n  server: [a\n");
        assert!(line >= 2);
    }

    fn many_hosts(n: usize) -> String {
        let mut text = GOOD.split("groups:").next().unwrap().to_string();
        text.push_str("groups:\n  g:\n    hosts:\n");
        for i in 0..n {
            text.push_str(&format!(
                "      h{i}: {{address: 10.{}.{}.{}}}\n",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ));
        }
        text
    }

    #[test]
    fn validation_time_grows_linearly_with_the_hosts() {
        let time = |n: usize| {
            let text = many_hosts(n);
            let start = std::time::Instant::now();
            assert_eq!(parse(&text).unwrap().hosts.len(), n);
            start.elapsed().as_secs_f64()
        };
        time(1000); // warm up
                    // The fastest of a few runs each, so a busy machine does not decide the ratio.
        let small = (0..3).map(|_| time(10_000)).fold(f64::MAX, f64::min);
        let large = (0..2).map(|_| time(40_000)).fold(f64::MAX, f64::min);
        // Linear is 4x; the pairwise duplicate check made it 16x.
        assert!(
            large / small < 8.0,
            "10 000 hosts {small:.2}s, 40 000 hosts {large:.2}s"
        );
    }

    #[test]
    fn duplicate_and_empty_addresses_name_their_line() {
        // web1 is 10.0.0.1 on the web group's ssh port 2222.
        let same = "edge1: {address: 10.0.0.1, ssh: {port: 2222}}";
        let (line, column, message) = error_of(&GOOD.replace("edge1: {}", same));
        assert_eq!((line, column), (34, 15), "{message}");
        assert!(
            message.contains(
                "host `edge1` has the same address `10.0.0.1` and ssh port 2222 as host `web1`"
            ),
            "{message}"
        );
        // A host without an address is reached by its name: another host's address may not be that name.
        let (line, _, message) =
            error_of(&GOOD.replace("edge1: {}", "edge1: {address: web2, ssh: {port: 2222}}"));
        assert_eq!(line, 34, "{message}");
        assert!(message.contains("as host `web2`"), "{message}");
        // The same address on another ssh port is another machine (containers, namespaces).
        parse(&GOOD.replace("edge1: {}", "edge1: {address: 10.0.0.1, ssh: {port: 2200}}")).unwrap();
        let (line, _, message) = error_of(&GOOD.replace("edge1: {}", "edge1: {address: ''}"));
        assert_eq!(line, 34, "{message}");
        assert!(message.contains("the address is empty"), "{message}");
    }

    #[test]
    fn system_directories_and_relative_paths_are_refused_as_host_paths() {
        for (path, why) in [
            ("/", "is a system directory (/)"),
            ("/etc", "is a system directory (/etc)"),
            ("/etc/", "is a system directory (/etc)"),
            ("//usr/./", "is a system directory (/usr)"),
            ("/bin", "system directory"),
            ("/var", "system directory"),
            ("/var/lib", "is a system directory (/var/lib): a deploy creates, writes and chowns its paths, so give a directory of pincore's own, e.g. /var/lib/pincore"),
            ("var/lib/pincore", "must be an absolute path"),
            ("/var/lib/pincore/../..", "must not contain `..`"),
        ] {
            for key in ["install", "state", "tuner", "sysctl"] {
                let bad = GOOD.replace(
                    "        cpus: 2-3",
                    &format!("        cpus: 2-3\n        paths: {{{key}: '{path}'}}"),
                );
                let bad = bad.replace("'/'", "/").replace(&format!("'{path}'"), path);
                let (line, _, message) = error_of(&bad);
                assert_eq!(line, 29, "{message}");
                assert!(
                    message.contains(&format!("groups.web.hosts.web1.paths.{key}")) && message.contains(why),
                    "{path}: {message}"
                );
            }
        }
        parse(&GOOD.replace("        cpus: 2-3", "        cpus: 2-3\n        paths: {state: /var/lib/pincore-b, install: /opt/pincore-b, sysctl: /etc/sysctl.d}")).unwrap();
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = GOOD.replace(
            "  profile: connections",
            &format!(
                "  profile: connections\n  x: {}{}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        );
        let start = std::time::Instant::now();
        let (line, _, message) = error_of(&deep);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(line, 11, "{message}");
        assert!(message.contains("nested more than 64 levels"), "{message}");
    }

    #[test]
    fn durations_use_the_grammar_of_every_pincore_tool() {
        let m = parse(&GOOD.replace("500ms", "1.5s")).unwrap();
        assert_eq!(m.rollout.min_healthy_time, Duration::from_millis(1500));
        let m = parse(&GOOD.replace("500ms", "3")).unwrap();
        assert_eq!(m.rollout.min_healthy_time, Duration::from_secs(3));
        let (_, _, message) = error_of(&GOOD.replace("500ms", "1h"));
        assert!(message.contains("unknown unit `h`"), "{message}");
    }
}
