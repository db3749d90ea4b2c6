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
    Group, Host, HostSettings, Manifest, Paths, Release, Rollout, ServerConfig, ServiceKind,
    TransportKind, Tuning,
};
use crate::manifest::raw::{RawManifest, RawRollout};

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
    let profile = crate::checks::profile(&tuning, locator)?;
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
