//! The pure decisions of a rollout: *(desired, observed) → steps* per host, and how hosts are split into a
//! canary and batches. Nothing here touches a host, so every rule is unit tested.

use serde::Serialize;

use crate::facts::{Facts, Tuned};

/// What a host should run after the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The release id (content hash of binaries, config and profile).
    pub release: String,
    /// SHA-256 of the service definition the host should have (systemd unit), if its manager has one.
    pub definition_sha256: Option<String>,
}

/// One thing done to a host, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Upload the release into `releases/ID/` and check its config there with `pincore-server check-config`.
    Upload,
    /// Point `current` at the release.
    Switch,
    /// Install or update the service definition.
    InstallService,
    /// `pincore-tuner apply --persist` with the release's profile.
    Tune,
    /// Restart the server, then gate on `/healthz`.
    Restart,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Upload => "upload",
            Step::Switch => "switch",
            Step::InstallService => "install-service",
            Step::Tune => "tune",
            Step::Restart => "restart",
        }
    }
}

/// What would change on one host, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    pub host: String,
    /// The release the host runs now.
    pub from: Option<String>,
    pub to: String,
    pub steps: Vec<Step>,
    /// Why each step is needed, in words.
    pub reasons: Vec<String>,
}

impl HostPlan {
    /// Nothing to do: the host already runs the desired release, healthy and tuned.
    pub fn in_sync(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Decides what `host` needs to get from `observed` to `desired`.
pub fn decide(host: &str, desired: &Desired, observed: &Facts) -> HostPlan {
    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    let recorded = observed.deployed.as_ref().map(|d| d.release.as_str());
    let from = observed
        .current
        .clone()
        .or_else(|| recorded.map(str::to_string));
    let definition_changed = desired.definition_sha256.is_some()
        && desired.definition_sha256 != observed.definition_sha256;

    if recorded != Some(desired.release.as_str())
        || observed.current.as_deref() != Some(desired.release.as_str())
    {
        match &from {
            None => reasons.push("first deployment".to_string()),
            Some(old) => reasons.push(format!("release {old} → {}", desired.release)),
        }
        if !observed.releases.contains(&desired.release) {
            steps.push(Step::Upload);
        }
        steps.push(Step::Switch);
        if definition_changed {
            steps.push(Step::InstallService);
        }
        steps.extend([Step::Tune, Step::Restart]);
    } else {
        if definition_changed {
            reasons.push("service definition changed".into());
            steps.push(Step::InstallService);
        }
        if observed.tuning != Tuned::Match {
            reasons.push(format!("tuning {}", observed.tuning.as_str()));
            steps.push(Step::Tune);
        }
        if !observed.running {
            reasons.push("server not running".into());
        } else if !observed.healthy {
            reasons.push("server unhealthy".into());
        }
        if definition_changed || !observed.running || !observed.healthy {
            steps.push(Step::Restart);
        }
    }
    HostPlan {
        host: host.to_string(),
        from,
        to: desired.release.clone(),
        steps,
        reasons,
    }
}

/// Splits `hosts` host indices into the canary batch and then batches of `max_parallel`.
pub fn batches(hosts: usize, canary: usize, max_parallel: usize) -> Vec<Vec<usize>> {
    let canary = canary.min(hosts);
    let mut out = Vec::new();
    if canary > 0 {
        out.push((0..canary).collect());
    }
    let rest: Vec<usize> = (canary..hosts).collect();
    out.extend(rest.chunks(max_parallel.max(1)).map(<[usize]>::to_vec));
    out
}

/// The rollout stops once failures exceed `max_fail` (Ansible's rule: the limit must be exceeded).
pub fn should_stop(failures: usize, max_fail: usize) -> bool {
    failures > max_fail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Deployed;
    use crate::release::Hashes;

    fn facts(release: Option<&str>, running: bool, healthy: bool, tuning: Tuned) -> Facts {
        Facts {
            deployed: release.map(|r| Deployed {
                release: r.into(),
                previous: None,
                hashes: Hashes {
                    server: "s".into(),
                    tuner: "t".into(),
                    config: "c".into(),
                    profile: "p".into(),
                },
                profile: "connections".into(),
                deployed_at: 0,
            }),
            releases: release.iter().map(|r| r.to_string()).collect(),
            current: release.map(str::to_string),
            running,
            pid: None,
            healthy,
            tuning,
            definition_sha256: None,
            online_cpus: None,
            nic_present: None,
            io_uring_disabled: None,
        }
    }

    fn desired(release: &str) -> Desired {
        Desired {
            release: release.into(),
            definition_sha256: None,
        }
    }

    #[test]
    fn fresh_host_gets_everything() {
        let p = decide(
            "h",
            &desired("new"),
            &facts(None, false, false, Tuned::Unknown),
        );
        assert_eq!(
            p.steps,
            [Step::Upload, Step::Switch, Step::Tune, Step::Restart]
        );
        assert_eq!(p.reasons, ["first deployment"]);
        assert_eq!(p.from, None);
    }

    #[test]
    fn unchanged_healthy_tuned_host_is_in_sync() {
        let p = decide(
            "h",
            &desired("r1"),
            &facts(Some("r1"), true, true, Tuned::Match),
        );
        assert!(p.in_sync(), "{p:?}");
    }

    #[test]
    fn new_release_that_is_already_uploaded_is_not_uploaded_again() {
        let mut f = facts(Some("r1"), true, true, Tuned::Match);
        f.releases.push("r2".into());
        let p = decide("h", &desired("r2"), &f);
        assert_eq!(p.steps, [Step::Switch, Step::Tune, Step::Restart]);
        assert_eq!(p.from.as_deref(), Some("r1"));
    }

    #[test]
    fn drift_only_retunes_and_a_dead_server_only_restarts() {
        let p = decide(
            "h",
            &desired("r1"),
            &facts(Some("r1"), true, true, Tuned::Drift),
        );
        assert_eq!(p.steps, [Step::Tune]);
        let p = decide(
            "h",
            &desired("r1"),
            &facts(Some("r1"), false, false, Tuned::Match),
        );
        assert_eq!(p.steps, [Step::Restart]);
        assert_eq!(p.reasons, ["server not running"]);
    }

    #[test]
    fn a_changed_unit_is_installed_and_restarts() {
        let want = Desired {
            release: "r1".into(),
            definition_sha256: Some("new".into()),
        };
        let p = decide("h", &want, &facts(Some("r1"), true, true, Tuned::Match));
        assert_eq!(p.steps, [Step::InstallService, Step::Restart]);
    }

    #[test]
    fn batches_start_with_the_canary() {
        assert_eq!(batches(5, 1, 2), vec![vec![0], vec![1, 2], vec![3, 4]]);
        assert_eq!(batches(3, 0, 3), vec![vec![0, 1, 2]]);
        assert_eq!(batches(2, 5, 1), vec![vec![0, 1]]);
        assert!(batches(0, 1, 1).is_empty());
    }

    #[test]
    fn stop_only_when_failures_exceed_the_limit() {
        assert!(!should_stop(0, 0));
        assert!(should_stop(1, 0));
        assert!(!should_stop(1, 1));
    }
}
