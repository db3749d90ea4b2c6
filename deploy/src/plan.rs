//! The pure decisions of a rollout: *(desired, observed) → steps* per host, *observed → steps* back to the
//! previous release, and how hosts are split into a canary and batches. Nothing here touches a host, so every
//! rule is unit tested.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::{Facts, Tuned};
use crate::release::Hashes;

/// What a host should run after the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The release id (content hash of binaries, config and profile).
    pub release: String,
    /// SHA-256 of the service definition the host should have (systemd unit), if its manager has one.
    pub definition_sha256: Option<String>,
    /// What the release's listening sockets depend on (`Release::listeners`).
    pub listeners: Option<String>,
    /// For a release of Debian packages: each package's name and version (empty for binaries).
    pub packages: Vec<(String, String)>,
    /// Installing the packages restarts the server (the package's own unit restarts on upgrade under
    /// systemd), so there is no upgrade in place.
    pub package_restarts: bool,
    /// The TLS files the host should have: name → `SHA256 MODE`, as [`Facts::tls`] reads them (empty: none).
    pub tls: BTreeMap<String, String>,
}

/// One thing done to a host, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Install the host's TLS files (mode 0600, the service user's); first, since the release's config check
    /// on the host reads them.
    InstallTls,
    /// Upload the release into `releases/ID/` and check its config there with `pincore-server check-config`.
    Upload,
    /// Point `current` at the release.
    Switch,
    /// Install or update the service definition.
    InstallService,
    /// `dpkg -i` the release's Debian packages (a deb release only).
    InstallPackages,
    /// `pincore-tuner apply --persist` with the release's profile.
    Tune,
    /// Restart the server, then gate on `/healthz`.
    Restart,
    /// Upgrade in place: the running server hands its listeners to the new release's server (no connection
    /// refused, the old one drains), then gate on `/healthz`.
    Upgrade,
    /// SIGHUP: the running server re-reads its TLS files (a renewed certificate) without a restart, then gate
    /// on `/healthz`.
    Reload,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::InstallTls => "install-tls",
            Step::Reload => "reload",
            Step::Upload => "upload",
            Step::Switch => "switch",
            Step::InstallService => "install-service",
            Step::InstallPackages => "install-packages",
            Step::Tune => "tune",
            Step::Restart => "restart",
            Step::Upgrade => "upgrade",
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
    let tls_changed: Vec<&str> = desired
        .tls
        .iter()
        .filter(|(name, state)| observed.tls.get(*name) != Some(*state))
        .map(|(name, _)| name.as_str())
        .collect();
    if !tls_changed.is_empty() {
        reasons.push(format!("TLS files to install: {}", tls_changed.join(", ")));
        steps.push(Step::InstallTls);
    }

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
        if !desired.packages.is_empty() {
            reasons.push(format!("packages {}", package_versions(desired, observed)));
            steps.push(Step::InstallPackages);
        }
        steps.push(Step::Tune);
        match restart_needed(desired, observed, definition_changed) {
            None => {
                reasons.push(
                    "listeners unchanged: upgrade in place (the running server hands them over)"
                        .into(),
                );
                steps.push(Step::Upgrade);
            }
            Some(why) => {
                if from.is_some() {
                    reasons.push(format!("restart: {why}"));
                }
                steps.push(Step::Restart);
            }
        }
    } else {
        if definition_changed {
            reasons.push("service definition changed".into());
            steps.push(Step::InstallService);
        }
        let packages_drifted = desired
            .packages
            .iter()
            .any(|(name, version)| observed.packages.get(name) != Some(version));
        if packages_drifted {
            reasons.push(format!(
                "packages not as released: {}",
                package_versions(desired, observed)
            ));
            steps.push(Step::InstallPackages);
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
        if definition_changed || packages_drifted || !observed.running || !observed.healthy {
            steps.push(Step::Restart);
        } else if !tls_changed.is_empty() {
            reasons.push("reload (SIGHUP) for the new TLS files: no restart".into());
            steps.push(Step::Reload);
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

/// Why a release switch must restart the server instead of upgrading it in place, or `None` when the
/// running server can hand its listeners to the new release's.
fn restart_needed(desired: &Desired, observed: &Facts, definition_changed: bool) -> Option<String> {
    let recorded = observed
        .deployed
        .as_ref()
        .and_then(|d| d.listeners.as_ref());
    if !observed.running {
        Some("the server is not running".into())
    } else if !observed.healthy {
        Some("the server is unhealthy".into())
    } else if definition_changed {
        Some("the service definition changes".into())
    } else if desired.package_restarts {
        Some(
            "installing the package restarts pincore-server.service (its unit restarts on upgrade)"
                .into(),
        )
    } else if recorded.is_none() {
        Some("no listeners are recorded for the running release (deployed before upgrades in place, or rolled back to)".into())
    } else if recorded != desired.listeners.as_ref() {
        Some(
            "the listeners change (a listen address, the enabled services or the shard set)".into(),
        )
    } else {
        None
    }
}

/// What a revert does with the Debian packages a failed release installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackagesBack {
    /// Nothing: the release installed none, or the host goes back to a release of binaries (the packages stay,
    /// unused).
    Keep,
    /// Reinstall the previous release's packages.
    Reinstall,
    /// Remove these: the failed release installed them on a host that had no previous release nor them.
    Remove(Vec<String>),
}

/// How a host's packages go back when a release of `packages` (names) fails on it after `plan`'s steps began:
/// to the packages of the release it goes back to (`back`), or, with none, to the packages it had (`observed`).
pub fn packages_back(
    packages: &[String],
    plan: &HostPlan,
    back: Option<&str>,
    observed: &Facts,
) -> PackagesBack {
    match back {
        Some(b) if observed.packaged.iter().any(|r| r == b) => PackagesBack::Reinstall,
        None if plan.steps.contains(&Step::InstallPackages) => PackagesBack::Remove(
            packages
                .iter()
                .filter(|name| !observed.packages.contains_key(*name))
                .cloned()
                .collect(),
        ),
        _ => PackagesBack::Keep,
    }
}

/// Each package's installed version → the release's, e.g. `pincore-server 0.1.0-1 → 0.1.0-2, pincore-tuner
/// 0.1.0-1 (installed)`.
fn package_versions(desired: &Desired, observed: &Facts) -> String {
    let each: Vec<String> = desired
        .packages
        .iter()
        .map(|(name, version)| match observed.packages.get(name) {
            None => format!("{name} (not installed) → {version}"),
            Some(old) if old == version => format!("{name} {version} (installed)"),
            Some(old) => format!("{name} {old} → {version}"),
        })
        .collect();
    each.join(", ")
}

/// One thing done to put a host back on its previous release, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Undo {
    /// Point `current` at the release.
    Switch(String),
    /// Reinstall the release's Debian packages (a release of packages only).
    Reinstall(String),
    /// `pincore-tuner rollback` (back to the values before pincore's first apply), then the release's profile.
    Retune(String),
    /// Upgrade in place back to the release (a handoff), or restart when the running server cannot hand
    /// over to it; then gate on `/healthz`.
    Restart,
    /// Record `release` in `deployed.json`, with the release rolled back from as its previous one.
    Record {
        release: String,
        previous: String,
        /// The profile argument the release recorded (`profile.arg`).
        profile: String,
        /// The hashes of the release rolled back to are not kept on the host; its id names it exactly, so
        /// the record keeps the ones it had.
        hashes: Hashes,
    },
}

/// Decides how a host goes back from the release `observed` records to the one before it, or says in words
/// why it cannot (nothing is touched then).
pub fn rollback(observed: &Facts) -> Result<Vec<Undo>, String> {
    let deployed = observed.deployed.as_ref();
    let Some((deployed, previous)) = deployed.and_then(|d| Some((d, d.previous.clone()?))) else {
        return Err(
            "no previous release recorded in deployed.json (nothing to roll back to)".into(),
        );
    };
    if !observed.releases.contains(&previous) {
        return Err(format!(
            "previous release {previous} is no longer on the host"
        ));
    }
    let Some(profile) = observed.profiles.get(&previous) else {
        return Err(format!(
            "previous release {previous} has no readable profile.arg: its tuning is unknown, so it is not switched to"
        ));
    };
    let mut undo = vec![Undo::Switch(previous.clone())];
    if observed.packaged.contains(&previous) {
        undo.push(Undo::Reinstall(previous.clone()));
    }
    undo.extend([
        Undo::Retune(previous.clone()),
        Undo::Restart,
        Undo::Record {
            release: previous,
            previous: deployed.release.clone(),
            profile: profile.clone(),
            hashes: deployed.hashes.clone(),
        },
    ]);
    Ok(undo)
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
                listeners: Some("resp=127.0.0.1:6380".into()),
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
            profiles: Default::default(),
            architecture: None,
            packages: Default::default(),
            packaged: Vec::new(),
            tls: Default::default(),
        }
    }

    fn desired(release: &str) -> Desired {
        Desired {
            release: release.into(),
            definition_sha256: None,
            listeners: None,
            packages: Vec::new(),
            package_restarts: false,
            tls: Default::default(),
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
    fn a_release_with_the_same_listeners_upgrades_in_place_and_anything_else_restarts() {
        let mut want = desired("r2");
        want.listeners = Some("resp=127.0.0.1:6380".into());
        let running = facts(Some("r1"), true, true, Tuned::Match);
        let p = decide("h", &want, &running);
        assert_eq!(
            p.steps,
            [Step::Upload, Step::Switch, Step::Tune, Step::Upgrade]
        );
        assert!(p.reasons[1].contains("upgrade in place"), "{:?}", p.reasons);

        let mut moved = want.clone();
        moved.listeners = Some("resp=127.0.0.1:6381".into());
        let p = decide("h", &moved, &running);
        assert_eq!(p.steps.last(), Some(&Step::Restart));
        assert!(
            p.reasons[1].contains("the listeners change"),
            "{:?}",
            p.reasons
        );

        let mut unit = want.clone();
        unit.definition_sha256 = Some("new".into());
        let p = decide("h", &unit, &running);
        assert_eq!(p.steps.last(), Some(&Step::Restart));
        assert!(
            p.reasons[1].contains("service definition"),
            "{:?}",
            p.reasons
        );

        let p = decide("h", &want, &facts(Some("r1"), false, false, Tuned::Match));
        assert_eq!(p.steps.last(), Some(&Step::Restart));
        assert!(p.reasons[1].contains("not running"), "{:?}", p.reasons);

        let mut old_record = running.clone();
        old_record.deployed.as_mut().unwrap().listeners = None;
        let p = decide("h", &want, &old_record);
        assert_eq!(p.steps.last(), Some(&Step::Restart));
        assert!(
            p.reasons[1].contains("no listeners are recorded"),
            "{:?}",
            p.reasons
        );
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
            listeners: None,
            packages: Vec::new(),
            package_restarts: false,
            tls: Default::default(),
        };
        let p = decide("h", &want, &facts(Some("r1"), true, true, Tuned::Match));
        assert_eq!(p.steps, [Step::InstallService, Step::Restart]);
    }

    #[test]
    fn new_tls_files_are_installed_first_and_reloaded_into_a_running_server() {
        let mut want = desired("r1");
        want.tls = BTreeMap::from([
            ("cert.pem".to_string(), "c1 600".to_string()),
            ("key.pem".to_string(), "k1 600".to_string()),
        ]);
        let mut f = facts(Some("r1"), true, true, Tuned::Match);
        f.tls = want.tls.clone();
        assert!(decide("h", &want, &f).in_sync());

        f.tls.insert("cert.pem".into(), "c0 600".into());
        let p = decide("h", &want, &f);
        assert_eq!(p.steps, [Step::InstallTls, Step::Reload]);
        assert_eq!(p.reasons[0], "TLS files to install: cert.pem");
        assert!(p.reasons[1].contains("no restart"), "{:?}", p.reasons);

        // A file with the right content but the wrong mode is installed again.
        f.tls = want.tls.clone();
        f.tls.insert("key.pem".into(), "k1 644".into());
        assert_eq!(
            decide("h", &want, &f).steps,
            [Step::InstallTls, Step::Reload]
        );

        // A stopped server reads them when it starts; a new release's server when it starts or takes over.
        let mut stopped = facts(Some("r1"), false, false, Tuned::Match);
        stopped.tls.clear();
        assert_eq!(
            decide("h", &want, &stopped).steps,
            [Step::InstallTls, Step::Restart]
        );
        let fresh = decide("h", &want, &facts(None, false, false, Tuned::Unknown));
        assert_eq!(
            fresh.steps,
            [
                Step::InstallTls,
                Step::Upload,
                Step::Switch,
                Step::Tune,
                Step::Restart
            ]
        );
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

    /// A host that was deployed twice: `current` recorded over `previous`, both on the host.
    fn deployed_twice(current: &str, previous: &str) -> Facts {
        let mut f = facts(Some(current), true, true, Tuned::Match);
        if let Some(d) = f.deployed.as_mut() {
            d.previous = Some(previous.into());
        }
        f.releases.push(previous.into());
        for r in [current, previous] {
            f.profiles.insert(r.into(), format!("profile-of-{r}"));
        }
        f
    }

    #[test]
    fn rollback_switches_retunes_restarts_and_records_the_previous_release() {
        let f = deployed_twice("r2", "r1");
        let hashes = f.deployed.as_ref().unwrap().hashes.clone();
        assert_eq!(
            rollback(&f).unwrap(),
            [
                Undo::Switch("r1".into()),
                Undo::Retune("r1".into()),
                Undo::Restart,
                Undo::Record {
                    release: "r1".into(),
                    previous: "r2".into(),
                    profile: "profile-of-r1".into(),
                    hashes,
                },
            ]
        );
    }

    #[test]
    fn rollback_restarts_a_stopped_server_too() {
        let mut f = deployed_twice("r2", "r1");
        f.running = false;
        f.healthy = false;
        assert!(rollback(&f).unwrap().contains(&Undo::Restart));
    }

    #[test]
    fn nothing_to_roll_back_to_is_refused_before_any_step() {
        let fresh = facts(None, false, false, Tuned::Unknown);
        assert_eq!(
            rollback(&fresh).unwrap_err(),
            "no previous release recorded in deployed.json (nothing to roll back to)"
        );
        let once = facts(Some("r1"), true, true, Tuned::Match);
        assert!(rollback(&once).unwrap_err().contains("no previous release"));
    }

    #[test]
    fn a_previous_release_gone_from_the_host_or_without_its_profile_is_refused() {
        let mut gone = deployed_twice("r2", "r1");
        gone.releases.retain(|r| r != "r1");
        assert_eq!(
            rollback(&gone).unwrap_err(),
            "previous release r1 is no longer on the host"
        );
        let mut unknown = deployed_twice("r2", "r1");
        unknown.profiles.remove("r1");
        assert!(
            rollback(&unknown)
                .unwrap_err()
                .contains("r1 has no readable profile.arg"),
            "{unknown:?}"
        );
    }

    fn deb(release: &str, version: &str, restarts: bool) -> Desired {
        let mut d = desired(release);
        d.listeners = Some("resp=127.0.0.1:6380".into());
        d.packages = vec![
            ("pincore-server".into(), version.into()),
            ("pincore-tuner".into(), "1.0-1".into()),
        ];
        d.package_restarts = restarts;
        d
    }

    #[test]
    fn a_deb_release_installs_its_packages_and_says_from_which_versions() {
        let mut running = facts(Some("r1"), true, true, Tuned::Match);
        running
            .packages
            .insert("pincore-server".into(), "1.0-1".into());
        running
            .packages
            .insert("pincore-tuner".into(), "1.0-1".into());
        let p = decide("h", &deb("r2", "1.1-1", false), &running);
        assert_eq!(
            p.steps,
            [
                Step::Upload,
                Step::Switch,
                Step::InstallPackages,
                Step::Tune,
                Step::Upgrade
            ]
        );
        assert!(
            p.reasons.contains(
                &"packages pincore-server 1.0-1 → 1.1-1, pincore-tuner 1.0-1 (installed)"
                    .to_string()
            ),
            "{:?}",
            p.reasons
        );
        // Under systemd the package restarts its own unit when it is installed: named, and no handoff.
        let p = decide("h", &deb("r2", "1.1-1", true), &running);
        assert_eq!(p.steps.last(), Some(&Step::Restart));
        assert!(
            p.reasons
                .iter()
                .any(|r| r.contains("installing the package restarts")),
            "{:?}",
            p.reasons
        );
        let fresh = decide(
            "h",
            &deb("r1", "1.0-1", false),
            &facts(None, false, false, Tuned::Unknown),
        );
        assert!(
            fresh.reasons[1].starts_with("packages pincore-server (not installed) → 1.0-1"),
            "{:?}",
            fresh.reasons
        );
    }

    #[test]
    fn a_package_changed_under_the_current_release_is_reinstalled() {
        let mut f = facts(Some("r1"), true, true, Tuned::Match);
        f.packages.insert("pincore-server".into(), "9.9-1".into());
        f.packages.insert("pincore-tuner".into(), "1.0-1".into());
        let p = decide("h", &deb("r1", "1.0-1", false), &f);
        assert_eq!(p.steps, [Step::InstallPackages, Step::Restart]);
        assert!(
            p.reasons[0].contains("pincore-server 9.9-1 → 1.0-1"),
            "{:?}",
            p.reasons
        );
        f.packages.insert("pincore-server".into(), "1.0-1".into());
        assert!(decide("h", &deb("r1", "1.0-1", false), &f).in_sync());
    }

    #[test]
    fn rollback_to_a_release_of_packages_reinstalls_them_before_tuning() {
        let mut f = deployed_twice("r2", "r1");
        assert!(!rollback(&f)
            .unwrap()
            .contains(&Undo::Reinstall("r1".into())));
        f.packaged.push("r1".into());
        let undo = rollback(&f).unwrap();
        assert_eq!(
            &undo[..3],
            [
                Undo::Switch("r1".into()),
                Undo::Reinstall("r1".into()),
                Undo::Retune("r1".into())
            ]
        );
    }

    #[test]
    fn a_failed_release_of_packages_goes_back_to_the_packages_the_host_had() {
        let want = deb("r2", "1.1-1", false);
        let names: Vec<String> = want.packages.iter().map(|(n, _)| n.clone()).collect();
        let mut f = deployed_twice("r1", "r0");
        let p = decide("h", &want, &f);
        // Back to a release of binaries: the packages stay (unused), nothing to reinstall.
        assert_eq!(
            packages_back(&names, &p, Some("r1"), &f),
            PackagesBack::Keep
        );
        f.packaged.push("r1".into());
        assert_eq!(
            packages_back(&names, &p, Some("r1"), &f),
            PackagesBack::Reinstall
        );
        // A first release: only what it installed is removed, not a package the operator had installed.
        let mut fresh = facts(None, false, false, Tuned::Unknown);
        fresh
            .packages
            .insert("pincore-tuner".into(), "0.9-1".into());
        let p = decide("h", &want, &fresh);
        assert_eq!(
            packages_back(&names, &p, None, &fresh),
            PackagesBack::Remove(vec!["pincore-server".into()])
        );
        let binaries = desired("r2");
        let p = decide("h", &binaries, &fresh);
        assert_eq!(packages_back(&[], &p, None, &fresh), PackagesBack::Keep);
    }
}
