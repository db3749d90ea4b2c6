//! The server configuration: YAML with an embedded default, validated before anything starts.
//!
//! [`Config::from_yaml_for`] is the one way text becomes a [`Config`] for a given set of services; the caller
//! checks those services' own settings sections. [`Config::from_yaml`] (in `crate::builtin`, beside the
//! services it checks) does that for pincore-server's built-in services; `check-config`, start-up, SIGHUP
//! reload and pincore-deploy all come through here, so a file that passes the check is a file the server
//! accepts.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pincore_tuner::cpuset::CpuSet;
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// The embedded default configuration (also the documentation of every key).
pub const DEFAULT_YAML: &str = include_str!("../config/default.yaml");

/// Origin name used in errors about the embedded default.
pub const DEFAULT_ORIGIN: &str = "<embedded default>";

/// The error returned by configuration validation: the crate's one error type, always the
/// [`ServerError::Config`] or [`ServerError::ReadConfig`] variant from here.
pub type ConfigError = ServerError;

/// The whole server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub shards: ShardsConfig,
    pub services: Services,
    pub limits: LimitsConfig,
    pub timeouts: Timeouts,
    pub log: LogConfig,
}

/// Shard placement and per-shard runtime resources (changing these needs a restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardsConfig {
    pub cpus: CpuList,
    pub io_memory_bytes: usize,
    pub mesh_capacity: usize,
    pub sweep_interval_ms: u64,
    /// The network device whose queue interrupts the shards align with or avoid (`None`: ignore NICs).
    pub nic: Option<NicConfig>,
}

/// `shards.nic`: place shards by where a network device's queue interrupts are delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicConfig {
    /// The device name as `ip link` shows it, such as `eth0`.
    pub device: String,
    pub mode: NicMode,
}

/// Whether shards run where the device's queue interrupts are, or where they are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NicMode {
    /// Shards run only on CPUs that take a queue interrupt, so a connection's packets and its shard meet.
    Align,
    /// Shards run only on CPUs that take no queue interrupt (cores dedicated to interrupts).
    Avoid,
}

impl fmt::Display for NicMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NicMode::Align => "align",
            NicMode::Avoid => "avoid",
        })
    }
}

/// The built-in services of `pincore-server`, in the order they are registered.
pub const BUILTIN_SERVICES: [&str; 4] = ["resp", "echo", "admin", "files"];

/// The services, each on its own port (changing a listener needs a restart; `settings` change live).
///
/// The built-ins have fields of their own (with defaults); any other name is a service registered by a
/// program built on [`crate::framework::Server`], and is accepted only by that program's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    pub resp: ServiceConfig,
    pub echo: ServiceConfig,
    pub admin: ServiceConfig,
    /// Static files over HTTP/1.1: off unless its section is given (it needs `settings.root`).
    pub files: ServiceConfig,
    /// Services other than the built-ins, by name.
    pub other: BTreeMap<String, ServiceConfig>,
}

/// One service's listener, and its own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    pub listen: SocketAddr,
    /// listen(2) backlog; the kernel silently caps it at `net.core.somaxconn`.
    #[serde(default = "backlog_default")]
    pub backlog: u32,
    /// The service's own section, read by its `Settings` type (the built-ins take none); changes live on
    /// SIGHUP.
    #[serde(default, skip_serializing_if = "serde_yaml::Value::is_null")]
    pub settings: serde_yaml::Value,
    /// TLS on this listener (`None`: plain TCP). Changes live on SIGHUP, which also re-reads the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// `services.<name>.tls`: the PEM files of a service's certificate, and of the authorities its clients'
/// certificates must chain to when clients must present one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When given, a client must present a certificate issued by one of these authorities (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// A service's section as written: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceDoc {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    backlog: Option<u32>,
    #[serde(default)]
    settings: serde_yaml::Value,
    tls: Option<TlsConfig>,
}

impl ServiceConfig {
    /// The listener alone, without the settings (what needs a restart to change).
    fn listener(&self) -> (bool, SocketAddr, u32) {
        (self.enabled, self.listen, self.backlog)
    }
}

impl Serialize for Services {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let all = self.all();
        let mut map = serializer.serialize_map(Some(all.len()))?;
        for (name, service) in all {
            map.serialize_entry(name, service)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Services {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Services;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of service names to listeners")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Services, A::Error> {
                let mut services = Services::default();
                while let Some(name) = map.next_key::<String>()? {
                    // Each value is read straight from the YAML, so its errors keep their line and column.
                    // A built-in's keys fall back to its own defaults one by one (`echo: {enabled: false}`
                    // needs no address); another service must say where it listens. A built-in's section, once
                    // given, turns it on unless it says `enabled: false` (`files` is off by default).
                    let doc = map.next_value::<ServiceDoc>()?;
                    let base = match name.as_str() {
                        "resp" => Some(services.resp.clone()),
                        "echo" => Some(services.echo.clone()),
                        "admin" => Some(services.admin.clone()),
                        "files" => Some(services.files.clone()),
                        _ => None,
                    };
                    let service = match (base, doc.listen) {
                        (Some(base), listen) => ServiceConfig {
                            enabled: doc.enabled.unwrap_or(true),
                            listen: listen.unwrap_or(base.listen),
                            backlog: doc.backlog.unwrap_or(base.backlog),
                            settings: doc.settings,
                            tls: doc.tls,
                        },
                        (None, Some(listen)) => ServiceConfig {
                            enabled: doc.enabled.unwrap_or_else(enabled_default),
                            listen,
                            backlog: doc.backlog.unwrap_or_else(backlog_default),
                            settings: doc.settings,
                            tls: doc.tls,
                        },
                        (None, None) => {
                            return Err(serde::de::Error::custom(format!(
                                "services.{name}: missing field `listen` (only the built-in services have a default address)"
                            )))
                        }
                    };
                    match name.as_str() {
                        "resp" => services.resp = service,
                        "echo" => services.echo = service,
                        "admin" => services.admin = service,
                        "files" => services.files = service,
                        _ => {
                            if services.other.insert(name.clone(), service).is_some() {
                                return Err(serde::de::Error::custom(format!(
                                    "services.{name} is given twice"
                                )));
                            }
                        }
                    }
                }
                Ok(services)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Limits against hostile clients, enforced per shard (changed live by SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_connections_per_shard: usize,
    pub max_connections_per_ip: usize,
    /// Admin connections from one address per shard; past it that address's longest-idle one is closed.
    pub max_admin_connections_per_ip: usize,
    pub max_bulk_len: usize,
    pub max_array_len: usize,
    pub max_inline_len: usize,
    pub max_request_bytes: usize,
    /// Read buffers of all of a shard's connections together, beyond each one's first 16 KiB: bounds what
    /// many connections sending big partial commands can hold at once.
    pub max_read_buffer_bytes_per_shard: usize,
    /// Largest reply a command may produce (MGET of many big keys); past it the connection is closed.
    pub max_reply_bytes: usize,
    pub max_http_header_bytes: usize,
}

/// Connection timeouts (changed live by SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub idle_ms: u64,
    /// Idle timeout of admin connections: short, since scrapes and probes reconnect cheaply.
    pub admin_idle_ms: u64,
    pub request_ms: u64,
    pub drain_ms: u64,
}

/// Logging: the level changes live on SIGHUP, the format needs a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Which CPUs to run shards on: every allowed CPU, or an explicit list (`"0-3,8"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CpuList {
    All,
    List(Vec<usize>),
}

fn enabled_default() -> bool {
    true
}

fn backlog_default() -> u32 {
    1024
}

impl Default for ShardsConfig {
    fn default() -> Self {
        ShardsConfig {
            cpus: CpuList::All,
            // Small on purpose: 2 shards x (1 MiB + 1 MiB) fits an 8 MiB RLIMIT_MEMLOCK. The services do
            // socket I/O, which does not use registered buffers.
            io_memory_bytes: 1 << 20,
            mesh_capacity: 1024,
            sweep_interval_ms: 100,
            nic: None,
        }
    }
}

impl Default for Services {
    fn default() -> Self {
        let service = |port: u16, backlog: u32| ServiceConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            backlog,
            settings: serde_yaml::Value::Null,
            tls: None,
        };
        Services {
            resp: service(6380, 1024),
            echo: service(7007, 1024),
            admin: service(9180, 128),
            files: ServiceConfig {
                enabled: false,
                ..service(8080, 1024)
            },
            other: BTreeMap::new(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections_per_shard: 4096,
            max_connections_per_ip: 1024,
            max_admin_connections_per_ip: 8,
            max_bulk_len: 8 << 20,
            max_array_len: 65536,
            max_inline_len: 65536,
            max_request_bytes: 16 << 20,
            max_read_buffer_bytes_per_shard: 256 << 20,
            max_reply_bytes: 16 << 20,
            max_http_header_bytes: 8192,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle_ms: 300_000,
            admin_idle_ms: 5_000,
            request_ms: 10_000,
            drain_ms: 5_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Info,
            format: LogFormat::Text,
        }
    }
}

impl Timeouts {
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }
    pub fn admin_idle(&self) -> Duration {
        Duration::from_millis(self.admin_idle_ms)
    }
    pub fn request(&self) -> Duration {
        Duration::from_millis(self.request_ms)
    }
    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl Services {
    /// Every service section with its name, enabled or not: the built-ins first, then the others by name.
    pub fn all(&self) -> Vec<(&str, &ServiceConfig)> {
        let mut all = vec![
            ("resp", &self.resp),
            ("echo", &self.echo),
            ("admin", &self.admin),
            ("files", &self.files),
        ];
        all.extend(self.other.iter().map(|(n, s)| (n.as_str(), s)));
        all
    }

    /// The section of the service called `name`.
    pub fn get(&self, name: &str) -> Option<&ServiceConfig> {
        match name {
            "resp" => Some(&self.resp),
            "echo" => Some(&self.echo),
            "admin" => Some(&self.admin),
            "files" => Some(&self.files),
            _ => self.other.get(name),
        }
    }

    /// The section of the service called `name`, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ServiceConfig> {
        match name {
            "resp" => Some(&mut self.resp),
            "echo" => Some(&mut self.echo),
            "admin" => Some(&mut self.admin),
            "files" => Some(&mut self.files),
            _ => self.other.get_mut(name),
        }
    }
}

impl CpuList {
    /// Parses `all` or a list of CPUs and ranges such as `0-3,8` (pincore-tuner's [`CpuSet`], the one CPU
    /// list grammar every pincore tool reads).
    pub fn parse(text: &str) -> Result<CpuList, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(CpuList::All);
        }
        CpuSet::parse_nonempty(text)
            .map(|set| CpuList::List(set.to_vec()))
            .map_err(|e| format!("{e} (or \"all\" for every CPU the process may use)"))
    }
}

impl TryFrom<String> for CpuList {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        CpuList::parse(&text)
    }
}

impl From<CpuList> for String {
    fn from(list: CpuList) -> String {
        list.to_string()
    }
}

impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuList::All => f.write_str("all"),
            CpuList::List(cpus) => {
                let text: Vec<String> = cpus.iter().map(usize::to_string).collect();
                f.write_str(&text.join(","))
            }
        }
    }
}

impl Config {
    /// Parses and validates configuration text for a server running the services named `services` (see
    /// [`crate::framework::Server`]); their settings sections are checked by the caller, which knows their
    /// types.
    pub fn from_yaml_for(
        text: &str,
        origin: &str,
        services: &[&str],
    ) -> Result<Config, ConfigError> {
        pincore_tuner::nesting::check(text).map_err(|deep| ServerError::Config {
            origin: origin.to_string(),
            line: Some(deep.line),
            column: Some(deep.column),
            message: deep.to_string(),
        })?;
        // An empty file (or one with only comments) means "all defaults".
        let value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| yaml_error(origin, e))?;
        let mut config = if value.is_null() {
            Config::default()
        } else {
            serde_yaml::from_str::<Config>(text).map_err(|e| yaml_error(origin, e))?
        };
        config.validate(text, origin, services)?;
        // A built-in this server does not run keeps its default section but is off, so nothing (preflight,
        // `/config`) takes it for a listener.
        for name in BUILTIN_SERVICES {
            if !services.contains(&name) {
                if let Some(section) = config.services.get_mut(name) {
                    section.enabled = false;
                }
            }
        }
        Ok(config)
    }

    /// The effective configuration as YAML (what `print-config` shows).
    pub fn to_yaml(&self) -> String {
        // Serialising plain structs of numbers, strings and enums cannot fail.
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// The effective configuration as JSON (what `/config` serves).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// What differs between `self` (running) and `new` that only a restart can apply, in words.
    pub fn needs_restart(&self, new: &Config) -> Vec<String> {
        let mut changed = Vec::new();
        let without_nic = |s: &ShardsConfig| ShardsConfig {
            nic: None,
            ..s.clone()
        };
        if without_nic(&self.shards) != without_nic(&new.shards) {
            changed.push("shards".to_string());
        }
        if self.shards.nic != new.shards.nic {
            changed.push("shards.nic".to_string());
        }
        for (name, old) in self.services.all() {
            if new.services.get(name).map(ServiceConfig::listener) != Some(old.listener()) {
                changed.push(format!("services.{name}"));
            }
        }
        if self.log.format != new.log.format {
            changed.push("log.format".to_string());
        }
        changed
    }

    /// `self` with the live-reloadable parts (limits, timeouts, log level, services' settings and TLS) taken
    /// from `new`.
    pub fn with_live_settings_of(&self, new: &Config) -> Config {
        let mut merged = self.clone();
        merged.limits = new.limits.clone();
        merged.timeouts = new.timeouts.clone();
        merged.log.level = new.log.level;
        for (name, service) in new.services.all() {
            if let Some(running) = merged.services.get_mut(name) {
                running.settings = service.settings.clone();
                running.tls = service.tls.clone();
            }
        }
        merged
    }

    fn validate(&self, text: &str, origin: &str, services: &[&str]) -> Result<(), ConfigError> {
        let fail = |path: &str, message: String| Err(config_error(text, origin, path, message));
        let positive = [
            ("shards.io_memory_bytes", self.shards.io_memory_bytes as u64),
            ("shards.mesh_capacity", self.shards.mesh_capacity as u64),
            ("shards.sweep_interval_ms", self.shards.sweep_interval_ms),
            (
                "limits.max_connections_per_shard",
                self.limits.max_connections_per_shard as u64,
            ),
            (
                "limits.max_connections_per_ip",
                self.limits.max_connections_per_ip as u64,
            ),
            (
                "limits.max_admin_connections_per_ip",
                self.limits.max_admin_connections_per_ip as u64,
            ),
            ("limits.max_bulk_len", self.limits.max_bulk_len as u64),
            ("limits.max_array_len", self.limits.max_array_len as u64),
            ("limits.max_inline_len", self.limits.max_inline_len as u64),
            (
                "limits.max_http_header_bytes",
                self.limits.max_http_header_bytes as u64,
            ),
            ("timeouts.idle_ms", self.timeouts.idle_ms),
            ("timeouts.admin_idle_ms", self.timeouts.admin_idle_ms),
            ("timeouts.request_ms", self.timeouts.request_ms),
        ];
        for (path, value) in positive {
            if value == 0 {
                return fail(path, "must be greater than 0".into());
            }
        }
        if let CpuList::List(cpus) = &self.shards.cpus {
            if cpus.is_empty() {
                return fail(
                    "shards.cpus",
                    "names no CPU; use \"all\" or a list such as \"0-3\"".into(),
                );
            }
        }
        if let Some(nic) = &self.shards.nic {
            let name = nic.device.as_str();
            if name.is_empty() || name.contains(['/', ' ']) || name == "." || name == ".." {
                return fail(
                    "shards.nic.device",
                    format!("{name:?} is not a network device name; use one that `ip link` lists, such as eth0"),
                );
            }
        }
        let needed = self.limits.max_bulk_len.max(self.limits.max_inline_len) + 64;
        if self.limits.max_request_bytes < needed {
            return fail(
                "limits.max_request_bytes",
                format!(
                    "{} cannot hold one command with a bulk of limits.max_bulk_len ({}); set it to at least {needed}",
                    self.limits.max_request_bytes, self.limits.max_bulk_len
                ),
            );
        }
        if self.limits.max_read_buffer_bytes_per_shard < self.limits.max_request_bytes {
            return fail(
                "limits.max_read_buffer_bytes_per_shard",
                format!(
                    "{} is less than limits.max_request_bytes ({}): no connection could receive its largest command",
                    self.limits.max_read_buffer_bytes_per_shard, self.limits.max_request_bytes
                ),
            );
        }
        if self.limits.max_reply_bytes < self.limits.max_bulk_len + 64 {
            return fail(
                "limits.max_reply_bytes",
                format!(
                    "{} cannot hold a GET of the largest value (limits.max_bulk_len {})",
                    self.limits.max_reply_bytes, self.limits.max_bulk_len
                ),
            );
        }
        for name in self.services.other.keys() {
            if !services.contains(&name.as_str()) {
                return fail(
                    &format!("services.{name}"),
                    format!("no such service; this server runs {}", services.join(", ")),
                );
            }
        }
        for name in services {
            if self.services.get(name).is_none() {
                return fail(
                    "services",
                    format!("services.{name} is missing; give it at least `listen: ADDRESS:PORT`"),
                );
            }
        }
        let enabled: Vec<_> = self
            .services
            .all()
            .into_iter()
            .filter(|(name, s)| s.enabled && services.contains(name))
            .collect();
        if enabled.is_empty() {
            return fail(
                "services",
                "every service is disabled; enable at least one".into(),
            );
        }
        for (name, service) in &enabled {
            if service.backlog == 0 {
                return fail(
                    &format!("services.{name}.backlog"),
                    "must be greater than 0".into(),
                );
            }
        }
        for (i, (name, service)) in enabled.iter().enumerate() {
            for (other, other_service) in &enabled[i + 1..] {
                let clash = service.listen.port() == other_service.listen.port()
                    && service.listen.port() != 0
                    && (service.listen.ip() == other_service.listen.ip()
                        || service.listen.ip().is_unspecified()
                        || other_service.listen.ip().is_unspecified());
                if clash {
                    return fail(
                        &format!("services.{other}.listen"),
                        format!("{} is also the address of services.{name}; give each service its own port", other_service.listen),
                    );
                }
            }
        }
        Ok(())
    }
}

/// An error about the value at the dotted key `path`, with its line when it can be found in `text`.
pub(crate) fn config_error(text: &str, origin: &str, path: &str, message: String) -> ConfigError {
    let line = locate(text, path);
    ServerError::Config {
        origin: origin.to_string(),
        line,
        column: line.map(|_| 1),
        message: format!("{path}: {message}"),
    }
}

/// A serde_yaml error as `file:line:col: message`, the position said once.
fn yaml_error(origin: &str, e: serde_yaml::Error) -> ConfigError {
    let (at, message) = pincore_cli::position::yaml_error(origin, &e);
    ServerError::Config {
        origin: at.file,
        line: (at.line > 0).then_some(at.line),
        column: (at.column > 0).then_some(at.column),
        message,
    }
}

/// Best-effort 1-based line of a dotted key path (`limits.max_bulk_len`) in YAML text, for error messages
/// about values that parsed but are out of range.
fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = None;
    for key in path.split('.') {
        let prefix = format!("{key}:");
        let at = (from..lines.len()).find(|&i| lines[i].trim_start().starts_with(&prefix))?;
        found = Some(at + 1);
        from = at + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_resp_service_beyond_loopback_is_refused_unless_protected_mode_is_off() {
        let e = Config::from_yaml("services:\n  resp:\n    listen: 0.0.0.0:6380\n", "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t:3:1: services.resp.listen: 0.0.0.0:6380 is reachable"),
            "{e}"
        );
        Config::from_yaml(
            "services: {resp: {listen: 0.0.0.0:6380, settings: {protected_mode: false}}}\n",
            "t",
        )
        .unwrap();
        Config::from_yaml(
            "services: {resp: {listen: 0.0.0.0:6380, enabled: false}}\n",
            "t",
        )
        .unwrap();
    }

    #[test]
    fn max_memory_and_its_eviction_policy_are_resp_settings() {
        let c = Config::from_yaml(
            "services:\n  resp:\n    settings: {max_memory_bytes: 1048576, eviction_policy: allkeys-lru}\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.services.resp.settings["eviction_policy"],
            serde_yaml::Value::from("allkeys-lru")
        );
        let e = Config::from_yaml(
            "services:\n  resp:\n    settings:\n      eviction_policy: lru\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("t:3:1: services.resp.settings:")
                && e.contains("eviction_policy")
                && e.contains("\"lru\" is not an eviction policy; use one of noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl"),
            "{e}"
        );
        let e = Config::from_yaml(
            "services: {resp: {settings: {max_memory_bytes: -1}}}\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("services.resp.settings") && e.contains("expected usize"),
            "{e}"
        );
    }

    #[test]
    fn buffer_limits_must_hold_one_command_and_one_value() {
        let e = Config::from_yaml("limits: {max_read_buffer_bytes_per_shard: 1000}\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.max_read_buffer_bytes_per_shard"), "{e}");
        let e = Config::from_yaml("limits: {max_reply_bytes: 1000}\n", "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.max_reply_bytes") && e.contains("max_bulk_len"),
            "{e}"
        );
    }

    #[test]
    fn every_key_of_a_built_in_service_is_optional() {
        let c = Config::from_yaml(
            "services: {echo: {enabled: false}, admin: {backlog: 64}}\n",
            "t",
        )
        .unwrap();
        assert!(!c.services.echo.enabled);
        assert_eq!(
            c.services.echo.listen,
            Config::default().services.echo.listen
        );
        assert_eq!(c.services.admin.backlog, 64);
        assert_eq!(
            c.services.admin.listen,
            Config::default().services.admin.listen
        );
        // A service that is not built in has no default address.
        let e = Config::from_yaml_for("services: {mine: {enabled: true}}\n", "t", &["mine"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("services.mine: missing field `listen`"), "{e}");
    }

    #[test]
    fn a_mistyped_key_gets_a_did_you_mean() {
        let e = Config::from_yaml("shards:\n  cpu: \"0\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t:2:3: ") && e.ends_with("did you mean `cpus`?"),
            "{e}"
        );
    }

    #[test]
    fn embedded_default_parses_and_matches_code_defaults() {
        let parsed =
            Config::from_yaml(DEFAULT_YAML, DEFAULT_ORIGIN).expect("default config is valid");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn empty_text_means_defaults() {
        assert_eq!(
            Config::from_yaml("# nothing\n", "f").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c = Config::from_yaml("limits:\n  max_bulk_len: 1024\n", "f").unwrap();
        assert_eq!(c.limits.max_bulk_len, 1024);
        assert_eq!(c.timeouts, Timeouts::default());
    }

    #[test]
    fn unknown_key_is_an_error_with_line_and_column() {
        let err = Config::from_yaml("limits:\n  max_bulk_len: 10\n  max_bananas: 3\n", "my.yaml")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("my.yaml:3:"), "{text}");
        assert!(text.contains("max_bananas"), "{text}");
    }

    #[test]
    fn deep_nesting_is_refused_at_once_with_its_line() {
        let text = format!("limits: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let start = std::time::Instant::now();
        let err = Config::from_yaml(&text, "c.yaml").unwrap_err().to_string();
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            err.starts_with("c.yaml:1:72: nested more than 64 levels deep"),
            "{err}"
        );
    }

    #[test]
    fn range_errors_name_the_key_and_line() {
        let err = Config::from_yaml("timeouts:\n  idle_ms: 0\n", "c.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("c.yaml:2:1: timeouts.idle_ms"), "{text}");
    }

    #[test]
    fn clashing_ports_are_rejected() {
        let yaml =
            "services:\n  resp: {listen: 127.0.0.1:5000}\n  echo: {listen: 127.0.0.1:5000}\n";
        let err = Config::from_yaml(yaml, "c").unwrap_err().to_string();
        assert!(err.contains("services.echo.listen"), "{err}");
    }

    #[test]
    fn request_buffer_must_hold_a_max_bulk() {
        let yaml = "limits:\n  max_bulk_len: 1000\n  max_request_bytes: 1000\n";
        let err = Config::from_yaml(yaml, "c").unwrap_err().to_string();
        assert!(err.contains("max_request_bytes"), "{err}");
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(CpuList::parse("all").unwrap(), CpuList::All);
        assert_eq!(
            CpuList::parse("3,0-1,1").unwrap(),
            CpuList::List(vec![0, 1, 3])
        );
        assert!(CpuList::parse("2-1").is_err());
        assert!(CpuList::parse("x").is_err());
        assert_eq!(CpuList::List(vec![0, 2]).to_string(), "0,2");
    }

    #[test]
    fn a_bad_cpu_list_reads_as_in_the_tuner_and_the_bench_and_names_all() {
        for text in ["3-1", "0-x", "9000", ""] {
            let ours = CpuList::parse(text).unwrap_err();
            let tuner = CpuSet::parse_nonempty(text).unwrap_err();
            assert!(
                ours.starts_with(&tuner) && ours.contains("\"all\""),
                "{ours}"
            );
        }
        let e = Config::from_yaml("shards:\n  cpus: 0-x\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.yaml:2:") && e.contains("`x` in CPU list `0-x` is not a CPU number"),
            "{e}"
        );
    }

    #[test]
    fn restart_and_live_changes_are_told_apart() {
        let old = Config::default();
        let mut new = old.clone();
        new.limits.max_bulk_len = 5;
        new.services.resp.listen.set_port(1);
        assert_eq!(old.needs_restart(&new), vec!["services.resp".to_string()]);
        let merged = old.with_live_settings_of(&new);
        assert_eq!(merged.limits.max_bulk_len, 5);
        assert_eq!(merged.services.resp.listen.port(), 6380);
    }

    #[test]
    fn nic_section_parses_validates_and_needs_a_restart() {
        let c = Config::from_yaml("shards:\n  nic: {device: eth0, mode: align}\n", "c").unwrap();
        assert_eq!(
            c.shards.nic,
            Some(NicConfig {
                device: "eth0".into(),
                mode: NicMode::Align
            })
        );
        assert_eq!(Config::from_yaml(&c.to_yaml(), "p").unwrap(), c);
        assert_eq!(
            Config::default().needs_restart(&c),
            vec!["shards.nic".to_string()]
        );
        let err = Config::from_yaml("shards:\n  nic: {device: eth0, mode: sideways}\n", "c")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c:2:") && err.contains("sideways"), "{err}");
        let err = Config::from_yaml(
            "shards:\n  nic:\n    device: \"../x\"\n    mode: avoid\n",
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("c:3:1: shards.nic.device"), "{err}");
    }

    #[test]
    fn other_services_are_accepted_only_by_a_server_that_runs_them() {
        let yaml = "services:\n  counter:\n    listen: 127.0.0.1:7100\n    settings: {step: 2}\n";
        let err = Config::from_yaml(yaml, "c").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "c:2:1: services.counter: no such service; this server runs resp, echo, admin"
            ),
            "{err}"
        );
        let c = Config::from_yaml_for(yaml, "c", &["counter"]).unwrap();
        assert!(
            !c.services.resp.enabled,
            "a built-in this server does not run is off"
        );
        let counter = c.services.get("counter").unwrap();
        assert_eq!(counter.settings["step"], serde_yaml::Value::from(2));
        assert_eq!(
            Config::from_yaml_for(&c.to_yaml(), "p", &["counter"]).unwrap(),
            c
        );
        let err = Config::from_yaml_for("log: {level: info}\n", "c", &["counter"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("services.counter is missing"), "{err}");
    }

    #[test]
    fn builtins_take_no_settings_and_settings_change_live() {
        let yaml = "services:\n  echo:\n    listen: 127.0.0.1:7007\n    settings: {x: 1}\n";
        let err = Config::from_yaml(yaml, "c").unwrap_err().to_string();
        assert!(err.starts_with("c:4:1: services.echo.settings:"), "{err}");
        let old =
            Config::from_yaml_for("services:\n  g: {listen: 127.0.0.1:1}\n", "c", &["g"]).unwrap();
        let new = Config::from_yaml_for(
            "services:\n  g: {listen: 127.0.0.1:1, settings: {a: 1}}\n",
            "c",
            &["g"],
        )
        .unwrap();
        assert!(old.needs_restart(&new).is_empty());
        let merged = old.with_live_settings_of(&new);
        assert_eq!(
            merged.services.get("g").unwrap().settings,
            new.services.get("g").unwrap().settings
        );
    }

    #[test]
    fn tls_changes_live_round_trips_and_refuses_unknown_keys() {
        let old = Config::from_yaml("services:\n  resp: {listen: 127.0.0.1:6380}\n", "c").unwrap();
        let text = "services:\n  resp:\n    listen: 127.0.0.1:6380\n    tls: {cert: /c.pem, key: /k.pem, client_ca: /ca.pem}\n";
        let new = Config::from_yaml(text, "c").unwrap();
        let tls = new.services.resp.tls.clone().unwrap();
        assert_eq!(
            (
                tls.cert.to_str(),
                tls.key.to_str(),
                tls.client_ca.as_deref().and_then(|p| p.to_str())
            ),
            (Some("/c.pem"), Some("/k.pem"), Some("/ca.pem"))
        );
        assert!(old.needs_restart(&new).is_empty());
        assert_eq!(old.with_live_settings_of(&new).services.resp.tls, Some(tls));
        assert_eq!(Config::from_yaml(&new.to_yaml(), "p").unwrap(), new);
        let err = Config::from_yaml(
            "services:\n  resp:\n    tls: {cert: /c.pem, key: /k.pem, ca: /ca.pem}\n",
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `ca`"), "{err}");
        let err = Config::from_yaml("services:\n  resp:\n    tls: {cert: /c.pem}\n", "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `key`"), "{err}");
    }

    #[test]
    fn print_config_round_trips() {
        let c = Config::default();
        assert_eq!(Config::from_yaml(&c.to_yaml(), "p").unwrap(), c);
    }
}
