//! What is on a host now, read in one round trip and without changing anything: the recorded deployment, the
//! releases present (with the profile each records), the `current` symlink, the service, health, the tuner's
//! verify result and the installed service definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use pincore_tuner::preflight::{Finding, Severity};

use crate::commands;
use crate::error::Result;
use crate::manifest::{Host, Packages};
use crate::release::Hashes;
use crate::service::Service;
use crate::transport::Transport;

/// The per-host record of what was deployed: `STATE/deployed.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The release `current` points at.
    pub release: String,
    /// The release before it (what `rollback` returns to).
    pub previous: Option<String>,
    pub hashes: Hashes,
    /// The tuner's profile argument (a built-in name, or the installed profile file).
    pub profile: String,
    /// Seconds since the epoch.
    pub deployed_at: u64,
    /// [`crate::release::Release::listeners`] of the release (absent in records written before upgrades
    /// in place: the next release then restarts the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<String>,
}

/// The result of `pincore-tuner verify` for the current release's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tuned {
    /// Exit 0: the kernel matches the profile.
    Match,
    /// Exit 1: some keys drifted.
    Drift,
    /// Exit 2 or anything else: the tuner could not tell.
    Error,
    /// No release installed yet.
    Unknown,
}

impl Tuned {
    pub fn as_str(self) -> &'static str {
        match self {
            Tuned::Match => "verified",
            Tuned::Drift => "drift",
            Tuned::Error => "error",
            Tuned::Unknown => "-",
        }
    }
}

/// Everything read from one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub deployed: Option<Deployed>,
    /// Complete releases present under `INSTALL/releases`.
    pub releases: Vec<String>,
    /// The release `current` points at, if any.
    pub current: Option<String>,
    pub running: bool,
    pub pid: Option<u32>,
    pub healthy: bool,
    pub tuning: Tuned,
    /// SHA-256 of the installed service definition (systemd unit), if any.
    pub definition_sha256: Option<String>,
    /// The host's online CPUs, as the kernel lists them (`0-7`).
    pub online_cpus: Option<String>,
    /// Whether the manifest's NIC exists on the host (`None`: the manifest names none).
    pub nic_present: Option<bool>,
    /// `kernel.io_uring_disabled` (absent before Linux 6.6).
    pub io_uring_disabled: Option<String>,
    /// Release id → the tuner's profile argument recorded in it (`profile.arg`), for the complete releases.
    pub profiles: BTreeMap<String, String>,
    /// The host's dpkg architecture (`None`: no dpkg there).
    pub architecture: Option<String>,
    /// Installed pincore packages: name → version.
    pub packages: BTreeMap<String, String>,
    /// The complete releases made of Debian packages.
    pub packaged: Vec<String>,
    /// Installed TLS file name → `SHA256 MODE` (octal), for the files in the manifest's `server.tls.dir`.
    pub tls: BTreeMap<String, String>,
}

/// Reads the facts of `host` in one script.
pub fn gather(
    host: &Host,
    t: &dyn Transport,
    service: &dyn Service,
    health_url: &str,
) -> Result<Facts> {
    let scripts = commands::ServiceScripts {
        running: service.running_script(),
        pid: service.pid_script(),
        definition_path: service.definition_path(),
    };
    let out = t.check(
        "read facts",
        &commands::read_facts(host, &scripts, health_url),
        b"",
    )?;
    Ok(parse(&out))
}

/// Parses the gather script's sectioned output (pure, so it is unit tested).
pub fn parse(out: &str) -> Facts {
    let mut section = "";
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix('@') {
            section = name;
            sections.push((section, Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            if !section.is_empty() {
                lines.push(line);
            }
        }
    }
    let get = |name: &str| -> Vec<&str> {
        sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.iter().copied().filter(|l| !l.trim().is_empty()).collect())
            .unwrap_or_default()
    };
    let first = |name: &str| get(name).first().map(|s| s.trim().to_string());
    Facts {
        // A missing or unreadable record means "nothing deployed by us": the plan then installs afresh.
        deployed: serde_json::from_str(&get("deployed").join("\n")).ok(),
        releases: get("releases")
            .iter()
            .map(|s| s.trim().to_string())
            .collect(),
        current: first("current"),
        running: first("running").as_deref() == Some("yes"),
        pid: first("pid").and_then(|p| p.parse().ok()),
        healthy: first("health").as_deref() == Some("yes"),
        tuning: match first("verify").as_deref() {
            None => Tuned::Unknown,
            Some("0") => Tuned::Match,
            Some("1") => Tuned::Drift,
            Some(_) => Tuned::Error,
        },
        definition_sha256: first("definition"),
        online_cpus: first("online"),
        nic_present: first("nic").map(|v| v == "yes"),
        io_uring_disabled: first("io_uring"),
        profiles: get("profiles")
            .iter()
            .filter_map(|l| l.trim().split_once(' '))
            .map(|(id, argument)| (id.to_string(), argument.trim().to_string()))
            .collect(),
        architecture: first("arch"),
        // `ii NAME VERSION`: installed and configured; anything else (removed, half-installed) is not.
        packages: get("packages")
            .iter()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some("ii")).then_some(())?;
                Some((parts.next()?.to_string(), parts.next()?.to_string()))
            })
            .collect(),
        packaged: get("packaged")
            .iter()
            .map(|s| s.trim().to_string())
            .collect(),
        tls: get("tls")
            .iter()
            .filter_map(|l| l.trim().split_once(' '))
            .map(|(name, state)| (name.to_string(), state.trim().to_string()))
            .collect(),
    }
}

/// What would stop a release of Debian packages from installing on this host: no dpkg, or packages built for
/// another architecture.
pub fn package_preflight(packages: &Packages, facts: &Facts) -> Vec<Finding> {
    let fatal = |what: String, fix: &str| Finding {
        severity: Severity::Fatal,
        what,
        fix: fix.into(),
    };
    match (&facts.architecture, packages.architecture()) {
        (None, _) => vec![fatal(
            "no dpkg on the host, and the release is Debian packages (release.deb)".into(),
            "deploy binaries to it (release: {server, tuner}) or use a Debian host",
        )],
        (Some(host), Some(built)) if host != built => vec![fatal(
            format!("the packages are built for {built} but the host is {host}"),
            "build the packages for the host's architecture",
        )],
        _ => Vec::new(),
    }
}

/// What would stop the server from running on this host (fatal) or make it run not as configured (warning),
/// found before anything is changed: pinned CPUs that are not online, a NIC that does not exist, and
/// pincore-tuner's judgement of io_uring — the same one the server makes at start-up — for the service user,
/// who is not root.
pub fn preflight(host: &Host, facts: &Facts) -> Vec<Finding> {
    use pincore_server::config::CpuList;
    let mut findings = Vec::new();
    if let (Some(wanted), Some(online)) = (&host.cpus, &facts.online_cpus) {
        if let (Ok(CpuList::List(wanted)), Ok(CpuList::List(online))) =
            (CpuList::parse(wanted), CpuList::parse(online))
        {
            let missing: Vec<String> = wanted
                .iter()
                .filter(|c| !online.contains(c))
                .map(|c| c.to_string())
                .collect();
            if !missing.is_empty() {
                findings.push(Finding {
                    severity: Severity::Fatal,
                    what: format!(
                        "cpus {} includes CPU(s) {} that are not online (online: {})",
                        host.cpus.as_deref().unwrap_or_default(),
                        missing.join(","),
                        facts.online_cpus.as_deref().unwrap_or_default()
                    ),
                    fix: "fix the host's `cpus`".into(),
                });
            }
        }
    }
    if facts.nic_present == Some(false) {
        findings.push(Finding {
            severity: Severity::Fatal,
            what: format!(
                "NIC {} does not exist on the host",
                host.nic.as_deref().unwrap_or_default()
            ),
            fix: "fix the host's `nic`".into(),
        });
    }
    if let Some(disabled) = &facts.io_uring_disabled {
        findings.extend(pincore_tuner::preflight::io_uring(disabled, false));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_section() {
        let out = "@deployed
{\"release\":\"aaaa\",\"previous\":null,\"hashes\":{\"server\":\"s\",\"tuner\":\"t\",\"config\":\"c\",\"profile\":\"p\"},
 \"profile\":\"connections\",\"deployed_at\":5}

@releases
aaaa
bbbb
@current
aaaa
@running
yes
@pid
4242
@health
no
@verify
1
@definition
@end
";
        let f = parse(out);
        assert_eq!(
            f.deployed.as_ref().map(|d| d.release.as_str()),
            Some("aaaa")
        );
        assert_eq!(f.releases, ["aaaa", "bbbb"]);
        assert_eq!(f.current.as_deref(), Some("aaaa"));
        assert!(f.running && !f.healthy);
        assert_eq!(f.pid, Some(4242));
        assert_eq!(f.tuning, Tuned::Drift);
        assert_eq!(f.definition_sha256, None);
    }

    #[test]
    fn preflight_finds_offline_cpus_a_missing_nic_and_disabled_io_uring() {
        let mut f = parse("@online\n0-3\n@nic\nno\n@io_uring\n2\n@end\n");
        let mut host = crate::unit::tests::host(Some("2-5"));
        host.nic = Some("eth9".into());
        let found = preflight(&host, &f);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|p| p.severity == Severity::Fatal));
        assert!(
            found[0]
                .what
                .contains("CPU(s) 4,5 that are not online (online: 0-3)"),
            "{found:?}"
        );
        assert!(found[1].what.contains("NIC eth9"));
        assert!(found[2].what.contains("kernel.io_uring_disabled = 2"));
        f.nic_present = Some(true);
        f.io_uring_disabled = Some("0".into());
        host.cpus = Some("1-3".into());
        assert!(preflight(&host, &f).is_empty());
    }

    #[test]
    fn preflight_accepts_io_uring_limited_to_a_group_as_the_server_does() {
        let host = crate::unit::tests::host(None);
        let one = preflight(&host, &parse("@io_uring\n1\n@end\n"));
        assert_eq!(one.len(), 1, "{one:?}");
        assert_eq!(one[0].severity, Severity::Warning);
        let two = preflight(&host, &parse("@io_uring\n2\n@end\n"));
        assert_eq!(two[0].severity, Severity::Fatal);
    }

    #[test]
    fn each_release_names_the_profile_it_records() {
        let f = parse(
            "@profiles\naaaa connections\nbbbb /opt/pincore/releases/bbbb/profile.yaml\n@end\n",
        );
        assert_eq!(
            f.profiles.into_iter().collect::<Vec<_>>(),
            [
                ("aaaa".to_string(), "connections".to_string()),
                (
                    "bbbb".to_string(),
                    "/opt/pincore/releases/bbbb/profile.yaml".to_string()
                )
            ]
        );
    }

    #[test]
    fn a_fresh_host_has_no_facts() {
        let f = parse("@deployed\n\n@releases\n@current\n@running\nno\n@pid\n@health\nno\n@verify\n@definition\n@end\n");
        assert_eq!(f.deployed, None);
        assert!(f.releases.is_empty() && !f.running && f.pid.is_none());
        assert_eq!(f.tuning, Tuned::Unknown);
    }

    #[test]
    fn installed_packages_and_packaged_releases_are_read() {
        let f = parse(
            "@arch\namd64\n@packages\nii  pincore-server 1.0-1\nrc  pincore-tuner 0.9-1\n@packaged\naaaa\n@end\n",
        );
        assert_eq!(f.architecture.as_deref(), Some("amd64"));
        assert_eq!(
            f.packages.into_iter().collect::<Vec<_>>(),
            [("pincore-server".to_string(), "1.0-1".to_string())],
            "a removed package (rc) is not installed"
        );
        assert_eq!(f.packaged, ["aaaa"]);
    }

    #[test]
    fn packages_for_another_architecture_or_a_host_without_dpkg_are_fatal() {
        let deb = |arch: &str| crate::manifest::DebInfo {
            package: "p".into(),
            version: "1".into(),
            architecture: arch.into(),
        };
        let packages = Packages {
            server: deb("arm64"),
            tuner: deb("all"),
        };
        let found = package_preflight(&packages, &parse("@arch\namd64\n@end\n"));
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .what
                .contains("built for arm64 but the host is amd64"),
            "{found:?}"
        );
        assert!(package_preflight(&packages, &parse("@arch\narm64\n@end\n")).is_empty());
        let found = package_preflight(&packages, &parse("@arch\n@end\n"));
        assert!(found[0].what.contains("no dpkg on the host"), "{found:?}");
    }
}
