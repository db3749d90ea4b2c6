//! From the manifest as written to the typed model: relative paths resolved against the manifest, files it
//! names read, host settings merged (host over group `vars` over `defaults`) and every rule checked that can be
//! checked without a host — names, addresses, host paths, CPU lists, rollout numbers — and, through
//! [`checks`](crate::checks), the profile and the server config. Every error points at its key.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use pincore_cli::duration::parse_duration;
use pincore_tuner::input::{self, Expected};

use crate::error::Result;
use crate::manifest::locate::Locator;
use crate::manifest::model::{
    Group, Host, HostSettings, Manifest, Paths, Release, Rollout, ServerConfig, ServiceKind, Tls,
    TlsSettings, TransportKind, Tuning,
};
use crate::manifest::raw::{RawManifest, RawRollout, RawTls};

/// The manifest `raw` describes, read from `path` (which anchors relative paths); `locator` places errors.
pub(super) fn manifest(raw: RawManifest, path: &Path, locator: &Locator) -> Result<Manifest> {
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    let r = raw.release;
    let (server, tuner, debs) = super::deb::form(r.server, r.tuner, r.deb, r.tuner_deb, locator)?;
    let (server, tuner) = (resolve(&server), resolve(&tuner));
    let packages = if debs {
        Some(super::deb::packages(&server, &tuner, locator)?)
    } else {
        None
    };
    let release = Release {
        server,
        tuner,
        packages,
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

    let rollout = rollout(raw.rollout, locator)?;

    let mut groups = Vec::new();
    let mut hosts: Vec<Host> = Vec::new();
    // Per host: its merged TLS files (resolved) and where each field was written, for errors; `None` for a
    // host without any (most manifests: nothing is allocated for them).
    let mut host_tls: Vec<Option<(TlsSettings, TlsOrigin)>> = Vec::new();
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
            host_tls.push((!merged.tls.is_empty()).then(|| {
                let tls = TlsSettings {
                    cert: merged.tls.cert.as_deref().map(resolve),
                    key: merged.tls.key.as_deref().map(resolve),
                    client_ca: merged.tls.client_ca.as_deref().map(resolve),
                };
                let origin = TlsOrigin::of(&at, &settings, &group.vars, &group_name, &raw.defaults);
                (tls, origin)
            }));
            let h = host(name.clone(), group_name.clone(), merged, locator, &at)?;
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

    let server_config = crate::checks::server_config(&server, locator)?;
    let (server, server_config, tls) = match raw.server.tls {
        None => {
            if let Some((_, origin)) = host_tls.iter().flatten().next() {
                return Err(locator.error(
                    &origin.any(),
                    "TLS files are given but server.tls is not set: add `tls: {services: [resp]}` under `server` to say which services serve TLS",
                ));
            }
            (server, server_config, None)
        }
        Some(raw_tls) => {
            let tls = tls(raw_tls, &host_tls, &mut hosts, locator)?;
            let text = crate::tls::config_with_tls(
                &server.text,
                &server_config,
                &tls.services,
                &tls.dir,
                tls.client_ca,
            )
            .map_err(|e| locator.error(&["server", "tls", "services"], e))?;
            let server = ServerConfig { text, ..server };
            let server_config = crate::checks::server_config(&server, locator)?;
            (server, server_config, Some(tls))
        }
    };
    let profile = crate::checks::profile(&tuning, locator)?;
    let manifest = Manifest {
        path: path.to_path_buf(),
        release,
        server,
        server_config,
        tuning,
        profile,
        rollout,
        tls,
        kubernetes: raw.kubernetes,
        groups,
        hosts,
    };
    Ok(manifest)
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
        tls: None,
    })
}

/// Where each of a host's TLS fields was written (host, group `vars` or `defaults`), as key paths.
struct TlsOrigin {
    cert: Option<Vec<String>>,
    key: Option<Vec<String>>,
    client_ca: Option<Vec<String>>,
}

impl TlsOrigin {
    fn of(
        at: &[&str],
        host: &HostSettings,
        vars: &HostSettings,
        group: &str,
        defaults: &HostSettings,
    ) -> TlsOrigin {
        let layers: [(&TlsSettings, Vec<String>); 3] = [
            (&host.tls, at.iter().map(|s| s.to_string()).collect()),
            (
                &vars.tls,
                ["groups", group, "vars"].map(String::from).to_vec(),
            ),
            (&defaults.tls, vec!["defaults".to_string()]),
        ];
        let find = |field: &str, set: fn(&TlsSettings) -> bool| {
            layers.iter().find(|(t, _)| set(t)).map(|(_, base)| {
                let mut path = base.clone();
                path.extend(["tls".to_string(), field.to_string()]);
                path
            })
        };
        TlsOrigin {
            cert: find("cert", |t| t.cert.is_some()),
            key: find("key", |t| t.key.is_some()),
            client_ca: find("client_ca", |t| t.client_ca.is_some()),
        }
    }

    /// The key path of `field` (`cert`, `key`, `client_ca`), or the host's (`host`) when no layer sets it.
    fn field<'a>(&'a self, field: &str, host: &[&'a str]) -> Vec<&'a str> {
        let path = match field {
            "cert" => &self.cert,
            "key" => &self.key,
            _ => &self.client_ca,
        };
        match path {
            Some(path) => path.iter().map(String::as_str).collect(),
            None => host.to_vec(),
        }
    }

    /// The key path of the first TLS field set (there is one: an origin is only made for such a host).
    fn any(&self) -> Vec<&str> {
        let path = self
            .cert
            .iter()
            .chain(&self.key)
            .chain(&self.client_ca)
            .next();
        path.into_iter().flatten().map(String::as_str).collect()
    }
}

/// `server.tls` checked, and each host's files read and checked into `hosts[i].tls` (files shared by many
/// hosts are checked once).
fn tls(
    raw: RawTls,
    settings: &[Option<(TlsSettings, TlsOrigin)>],
    hosts: &mut [Host],
    locator: &Locator,
) -> Result<Tls> {
    let dir = raw
        .dir
        .unwrap_or_else(|| crate::tls::DEFAULT_DIR.to_string());
    if let Err(why) = check_host_path(&dir).and_then(|()| crate::tls::check_dir(&dir)) {
        return Err(locator.error(
            &["server", "tls", "dir"],
            format!("server.tls.dir `{dir}` {why}"),
        ));
    }
    if raw.services.is_empty() {
        return Err(locator.error(
            &["server", "tls", "services"],
            "no services: list the services that serve TLS, e.g. [resp]",
        ));
    }
    let warning_days = raw
        .expiry_warning_days
        .unwrap_or(crate::tls::DEFAULT_EXPIRY_WARNING_DAYS);
    let client_ca = settings
        .iter()
        .flatten()
        .any(|(t, _)| t.client_ca.is_some());
    let mut checked: HashMap<TlsSettings, Result<crate::tls::Checked, crate::tls::Problem>> =
        HashMap::new();
    let mut warnings = Vec::new();
    let none = TlsSettings::default();
    for (entry, host) in settings.iter().zip(hosts.iter_mut()) {
        let at = ["groups", host.group.as_str(), "hosts", host.name.as_str()];
        let origin = entry.as_ref().map(|(_, o)| o);
        let files = entry.as_ref().map_or(&none, |(t, _)| t);
        let place = |field: &str| origin.map_or(at.to_vec(), |o| o.field(field, &at));
        if client_ca && files.client_ca.is_none() {
            return Err(locator.error(
                &at,
                format!(
                    "host `{}` has no tls.client_ca while other hosts have one: the server config is the same on every host, so give client_ca to every host or to none",
                    host.name
                ),
            ));
        }
        let result = checked
            .entry(files.clone())
            .or_insert_with(|| crate::tls::check_files(files, &dir, warning_days));
        match result {
            Ok(c) => {
                if let Some(w) = &c.warning {
                    if !warnings.contains(w) {
                        warnings.push(w.clone());
                    }
                }
                host.tls = Some(c.tls.clone());
            }
            Err(p) => {
                return Err(locator.error(
                    &place(p.field),
                    format!("host `{}`: {}", host.name, p.message),
                ))
            }
        }
    }
    Ok(Tls {
        services: raw.services,
        dir,
        client_ca,
        expiry_warning_days: warning_days,
        warnings,
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
