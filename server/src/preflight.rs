//! Start-up checks of the host against the configuration, each finding with its fix.
//!
//! The decision is pure: [`findings`] maps *(config, shard count, observed host)* to findings. Reading the host
//! ([`Observed::read`]) sits at the edge and goes through pincore-tuner's sysctl layer, so tests run the same
//! logic on made-up observations.

use pincore_tuner::sysctl::{Key, SysctlTree};

use crate::config::Config;

/// What the checks read from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// `kernel.io_uring_disabled` (absent before Linux 6.6).
    pub io_uring_disabled: Option<u32>,
    /// `net.core.somaxconn`.
    pub somaxconn: Option<u32>,
    /// Soft RLIMIT_MEMLOCK in bytes (`None` = unlimited).
    pub memlock: Option<u64>,
    /// Soft RLIMIT_NOFILE (`None` = unlimited).
    pub nofile: Option<u64>,
    /// Effective UID is 0 (root has CAP_IPC_LOCK and is exempt from the memlock limit).
    pub root: bool,
}

/// The judgement shared with pincore-deploy's preflight and the doctor: one rule for every tool.
pub use pincore_tuner::preflight::{Finding, Severity};

const MIB: u64 = 1 << 20;

impl Observed {
    /// Reads sysctls under `root` (`/` on a live host) and this process's resource limits.
    pub fn read(root: &std::path::Path) -> Observed {
        let tree = SysctlTree::new(root);
        let read = |name: &str| -> Option<u32> {
            let key = Key::parse(name).ok()?;
            tree.read(&key).ok().flatten()?.trim().parse().ok()
        };
        let limit = |resource| {
            let (soft, _) = nix::sys::resource::getrlimit(resource).ok()?;
            (soft != nix::sys::resource::RLIM_INFINITY).then_some(soft)
        };
        Observed {
            io_uring_disabled: read("kernel.io_uring_disabled"),
            somaxconn: read("net.core.somaxconn"),
            memlock: limit(nix::sys::resource::Resource::RLIMIT_MEMLOCK),
            nofile: limit(nix::sys::resource::Resource::RLIMIT_NOFILE),
            root: nix::unistd::geteuid().is_root(),
        }
    }
}

/// The findings for running `config` with `shards` shards on a host that looks like `observed`.
pub fn findings(config: &Config, shards: usize, observed: &Observed) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(disabled) = observed.io_uring_disabled {
        out.extend(pincore_tuner::preflight::io_uring(
            &disabled.to_string(),
            observed.root,
        ));
    }
    let needed = shards as u64 * (config.shards.io_memory_bytes as u64 + MIB);
    if let Some(memlock) = observed.memlock {
        if memlock < needed && !observed.root {
            out.push(Finding {
                severity: Severity::Warning,
                what: format!(
                    "RLIMIT_MEMLOCK is {memlock} bytes but {shards} shards x (io_memory_bytes {} + 1 MiB) need {needed}; shards may fail to start or run without registered buffers",
                    config.shards.io_memory_bytes
                ),
                fix: format!("raise the limit (LimitMEMLOCK={needed} in the systemd unit, ulimit -l {}) or lower shards.io_memory_bytes", needed.div_ceil(1024)),
            });
        }
    }
    let listeners = config
        .services
        .all()
        .iter()
        .filter(|(_, s)| s.enabled)
        .count() as u64
        * shards as u64;
    let fds = shards as u64 * config.limits.max_connections_per_shard as u64 + listeners + 64;
    if let Some(nofile) = observed.nofile {
        if nofile < fds {
            out.push(Finding {
                severity: Severity::Warning,
                what: format!(
                    "RLIMIT_NOFILE is {nofile} but {shards} shards x limits.max_connections_per_shard {} (+ listeners and spare) need {fds} descriptors; accepts will fail with EMFILE before the connection limit",
                    config.limits.max_connections_per_shard
                ),
                fix: format!("raise the limit (LimitNOFILE={fds} in the systemd unit, ulimit -n {fds}) or lower limits.max_connections_per_shard"),
            });
        }
    }
    if let Some(somaxconn) = observed.somaxconn {
        for (name, service) in config.services.all() {
            if service.enabled && service.backlog > somaxconn {
                out.push(Finding {
                    severity: Severity::Warning,
                    what: format!(
                        "services.{name}.backlog is {} but net.core.somaxconn is {somaxconn}: the kernel silently truncates the accept queue",
                        service.backlog
                    ),
                    fix: format!(
                        "raise net.core.somaxconn to at least {}{} or lower the backlog",
                        service.backlog,
                        profile_raising("net.core.somaxconn", u64::from(service.backlog))
                    ),
                });
            }
        }
    }
    out
}

/// ` (`pincore-tuner apply P` sets V)` for the built-in profile that raises `key` highest, when that reaches
/// `at_least`; derived from the profiles themselves, so the advice cannot name a profile that does not set it.
fn profile_raising(key: &str, at_least: u64) -> String {
    let Ok(advice) = pincore_tuner::doctor::Advice::from_builtin_profiles() else {
        return String::new();
    };
    match advice.0.get(key) {
        Some(r) if r.value.trim().parse::<u64>().is_ok_and(|v| v >= at_least) => {
            format!(" (`pincore-tuner apply {}` sets {})", r.profile, r.value)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Observed {
        Observed {
            io_uring_disabled: Some(0),
            somaxconn: Some(4096),
            memlock: Some(8 * MIB),
            nofile: Some(1 << 20),
            root: false,
        }
    }

    #[test]
    fn default_config_on_two_cpus_fits_an_8_mib_memlock() {
        assert_eq!(findings(&Config::default(), 2, &healthy()), vec![]);
    }

    #[test]
    fn io_uring_fully_disabled_is_fatal() {
        let observed = Observed {
            io_uring_disabled: Some(2),
            ..healthy()
        };
        let f = findings(&Config::default(), 2, &observed);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Fatal);
        assert!(f[0].fix.contains("io_uring_disabled"));
    }

    #[test]
    fn io_uring_limited_to_a_group_warns_and_runs() {
        let observed = Observed {
            io_uring_disabled: Some(1),
            ..healthy()
        };
        let f = findings(&Config::default(), 2, &observed);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn memlock_too_small_names_the_needed_amount() {
        let f = findings(&Config::default(), 8, &healthy());
        assert_eq!(f.len(), 1);
        assert!(
            f[0].what.contains(&(8 * 2 * MIB).to_string()),
            "{}",
            f[0].what
        );
        let as_root = Observed {
            root: true,
            ..healthy()
        };
        assert!(findings(&Config::default(), 8, &as_root).is_empty());
    }

    #[test]
    fn nofile_and_backlog_are_checked() {
        let observed = Observed {
            nofile: Some(1024),
            somaxconn: Some(128),
            ..healthy()
        };
        let f = findings(&Config::default(), 2, &observed);
        assert!(f.iter().any(|f| f.what.contains("RLIMIT_NOFILE")));
        // resp and echo have backlog 1024 > 128; admin's 128 fits.
        assert_eq!(f.iter().filter(|f| f.what.contains("somaxconn")).count(), 2);
        // The profile named is one that really raises somaxconn that far (`connections`), not `throughput`.
        let fix = &f.iter().find(|f| f.what.contains("somaxconn")).unwrap().fix;
        assert!(
            fix.contains("`pincore-tuner apply connections` sets 16384"),
            "{fix}"
        );
        let flat = pincore_tuner::ProfileLibrary::builtin_only()
            .flatten("connections")
            .unwrap();
        assert!(flat
            .entries
            .iter()
            .any(|e| e.key.as_str() == "net.core.somaxconn" && e.target.value == "16384"));
    }

    #[test]
    fn reads_a_fixture_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/sys/net/core")).unwrap();
        std::fs::write(dir.path().join("proc/sys/net/core/somaxconn"), "512\n").unwrap();
        let observed = Observed::read(dir.path());
        assert_eq!(observed.somaxconn, Some(512));
        assert_eq!(observed.io_uring_disabled, None);
    }
}
