//! Carrying out plans on hosts: plan, apply (canary, then batches), status and rollback.
//!
//! Facts are read from every host in parallel first; if any host cannot be reached the command stops before
//! touching anything. Each host's plan comes from the pure [`plan::decide`], and this module only performs its
//! steps, gates on health, records `deployed.json`, and reverts a failing host when `auto_revert` is set.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::commands::release_dir;
use crate::error::{Error, Result};
use crate::facts::{self, Deployed, Facts, Severity};
use crate::manifest::{Host, Manifest, Rollout, ServiceKind};
use crate::plan::{self, Desired, HostPlan, Step, Undo};
use crate::release::{sha256, Release};
use crate::service;
use crate::steps::{
    back_to_current, health_gate, install_packages, install_tls, record, retune, revert, switch,
    tune, upload, with_server_log, write_record, Target,
};
use crate::transport;

/// Reports progress as it happens: `(host, message)`.
pub type Progress<'a> = &'a (dyn Fn(&str, &str) + Sync);

/// The hosts of one command, connected through one ssh multiplexing directory.
pub struct Fleet {
    pub targets: Vec<Target>,
    /// Where the admin endpoint answers `/healthz`, as seen from each host.
    pub health_url: String,
    // Dropped after `targets` (declaration order), so the ssh masters close before their sockets' directory goes.
    _control_dir: tempfile::TempDir,
}

impl Fleet {
    /// Connects to `hosts` (no network traffic yet: ssh connects on the first command).
    pub fn new(hosts: Vec<Host>, health_url: String) -> Result<Fleet> {
        // Short path: socket paths are limited to about 100 bytes.
        let control_dir = tempfile::Builder::new()
            .prefix("pcd")
            .tempdir_in("/tmp")
            .map_err(|e| Error::io("/tmp", e))?;
        let targets = hosts
            .into_iter()
            .map(|host| Target {
                transport: transport::connect(&host, control_dir.path()),
                service: service::for_host(&host),
                host,
            })
            .collect();
        Ok(Fleet {
            targets,
            health_url,
            _control_dir: control_dir,
        })
    }

    /// Reads facts from every host in parallel; any unreachable host makes the whole call fail.
    pub fn facts(&self) -> Result<Vec<Facts>> {
        let results: Vec<Result<Facts>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .targets
                .iter()
                .map(|t| {
                    s.spawn(|| facts::gather(&t.host, &*t.transport, &*t.service, &self.health_url))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::step("?", "read facts", "thread panicked")))
                })
                .collect()
        });
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(f) => out.push(f),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(out),
            // One error is returned as it is (its type tells unreachable from failed); several are joined.
            1 => Err(errors.remove(0)),
            n => {
                let detail: String = errors.iter().map(|e| format!("\n  {e}")).collect();
                let names: Vec<&str> = errors
                    .iter()
                    .filter_map(|e| match e {
                        Error::Unreachable { host, .. } | Error::Step { host, .. } => {
                            Some(host.as_str())
                        }
                        _ => None,
                    })
                    .collect();
                let hosts = format!("{} ({n} hosts)", names.join(", "));
                Err(
                    if errors
                        .iter()
                        .any(|e| matches!(e, Error::Unreachable { .. }))
                    {
                        Error::Unreachable {
                            host: hosts,
                            detail,
                        }
                    } else {
                        Error::Step {
                            host: hosts,
                            step: "read facts".into(),
                            detail,
                        }
                    },
                )
            }
        }
    }

    /// What each host should run.
    pub fn desired(&self, release: &Release) -> Vec<Desired> {
        self.targets
            .iter()
            .map(|t| Desired {
                release: release.id.clone(),
                definition_sha256: t.service.definition().map(|d| sha256(d.as_bytes())),
                listeners: release.listeners(),
                packages: release
                    .packages
                    .iter()
                    .flat_map(|p| p.both())
                    .map(|d| (d.package.clone(), d.version.clone()))
                    .collect(),
                package_restarts: release.packages.is_some()
                    && t.host.service == ServiceKind::Systemd,
                tls: t
                    .host
                    .tls
                    .iter()
                    .flat_map(|tls| tls.files())
                    .map(|(name, pem)| {
                        (
                            name.to_string(),
                            format!("{} 600", sha256(pem.text.as_bytes())),
                        )
                    })
                    .collect(),
            })
            .collect()
    }

    /// The plan for every host (reads only).
    pub fn plan(&self, release: &Release) -> Result<Vec<(HostPlan, Facts)>> {
        let facts = self.facts()?;
        Ok(self
            .targets
            .iter()
            .zip(self.desired(release))
            .zip(facts)
            .map(|((t, want), f)| (plan::decide(&t.host.name, &want, &f), f))
            .collect())
    }

    /// Every host's preflight for `release`, judged once from the facts in `plans` (what [`Fleet::plan`]
    /// returned).
    pub fn preflight(&self, release: &Release, plans: &[(HostPlan, Facts)]) -> Preflight {
        Preflight {
            hosts: self
                .targets
                .iter()
                .zip(plans)
                .map(|(t, (_, f))| {
                    let findings = facts::preflight(&t.host, f)
                        .into_iter()
                        .chain(
                            release
                                .packages
                                .iter()
                                .flat_map(|p| facts::package_preflight(p, f)),
                        )
                        .map(|p| (p.severity, format!("{}; fix: {}", p.what, p.fix)))
                        .collect();
                    (t.host.name.clone(), findings)
                })
                .collect(),
        }
    }
}

/// Every host's preflight findings, in manifest order, each worded `what; fix: how`: what `plan` prints,
/// `apply` refuses on (fatal) or passes on as progress (warning), and `status` counts as drift (fatal only).
#[derive(Debug, Clone)]
pub struct Preflight {
    hosts: Vec<(String, Vec<(Severity, String)>)>,
}

impl Preflight {
    /// Every finding with its host's name.
    pub fn findings(&self) -> impl Iterator<Item = (&str, Severity, &str)> {
        self.hosts.iter().flat_map(|(host, findings)| {
            findings
                .iter()
                .map(move |(severity, line)| (host.as_str(), *severity, line.as_str()))
        })
    }

    /// The fatal findings of the `i`th host: why the server cannot run there.
    pub fn fatal(&self, i: usize) -> impl Iterator<Item = &str> {
        self.hosts[i]
            .1
            .iter()
            .filter(|(severity, _)| *severity == Severity::Fatal)
            .map(|(_, line)| line.as_str())
    }

    /// Whether no host has a fatal finding.
    pub fn passed(&self) -> bool {
        (0..self.hosts.len()).all(|i| self.fatal(i).next().is_none())
    }

    /// An error naming every fatal finding, if there is one: nothing may be changed then.
    pub fn check(&self) -> Result<()> {
        let problems: String = self
            .findings()
            .filter(|(_, severity, _)| *severity == Severity::Fatal)
            .map(|(host, _, line)| format!("\n  host {host}: {line}"))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Preflight { problems })
        }
    }
}

/// How one host's part of a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Already as desired: nothing done, nothing restarted.
    Unchanged,
    /// Changed and healthy.
    Done,
    /// Failed and put back as it was.
    Reverted,
    /// Failed and left as the failure left it (auto_revert off, or the revert failed too).
    Failed,
    /// Not attempted: the rollout stopped first.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Done => "done",
            Outcome::Reverted => "failed, reverted",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    fn failed(self) -> bool {
        matches!(self, Outcome::Reverted | Outcome::Failed)
    }
}

/// One host's line in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub outcome: Outcome,
    pub steps: Vec<Step>,
    /// The error, for failed hosts.
    pub error: Option<String>,
    pub seconds: f64,
}

/// The result of apply or rollback.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub hosts: Vec<HostReport>,
    /// True when the rollout stopped because failures exceeded `max_fail`.
    pub stopped: bool,
}

impl Summary {
    pub fn failed(&self) -> usize {
        self.hosts.iter().filter(|h| h.outcome.failed()).count()
    }
}

/// Runs `work` over the targets, canary first, then batches of `max_parallel` in parallel, stopping once
/// failures exceed `max_fail`. Hosts `work` is not run on are reported as unchanged or skipped, with their
/// `(from, to)` releases.
fn in_batches(
    fleet: &Fleet,
    rollout: &Rollout,
    needs_work: &[bool],
    releases: &[(Option<String>, Option<String>)],
    work: &(dyn Fn(usize) -> HostReport + Sync),
) -> Summary {
    let pending: Vec<usize> = (0..fleet.targets.len())
        .filter(|i| needs_work[*i])
        .collect();
    let mut reports: Vec<Option<HostReport>> = vec![None; fleet.targets.len()];
    let mut failures = 0;
    let mut stopped = false;
    for batch in plan::batches(pending.len(), rollout.canary, rollout.max_parallel) {
        if stopped {
            break;
        }
        let done: Vec<HostReport> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&k| {
                    let i = pending[k];
                    s.spawn(move || work(i))
                })
                .collect();
            handles
                .into_iter()
                .zip(&batch)
                .map(|(h, &k)| h.join().unwrap_or_else(|_| panicked(fleet, pending[k])))
                .collect()
        });
        for (k, report) in batch.iter().zip(done) {
            failures += usize::from(report.outcome.failed());
            reports[pending[*k]] = Some(report);
        }
        stopped = plan::should_stop(failures, rollout.max_fail);
    }
    let hosts = reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| HostReport {
                host: fleet.targets[i].host.name.clone(),
                from: releases[i].0.clone(),
                to: releases[i].1.clone(),
                outcome: if needs_work[i] {
                    Outcome::Skipped
                } else {
                    Outcome::Unchanged
                },
                steps: Vec::new(),
                error: None,
                seconds: 0.0,
            })
        })
        .collect();
    Summary { hosts, stopped }
}

fn panicked(fleet: &Fleet, i: usize) -> HostReport {
    HostReport {
        host: fleet.targets[i].host.name.clone(),
        from: None,
        to: None,
        outcome: Outcome::Failed,
        steps: Vec::new(),
        error: Some("internal error: the host's worker panicked".into()),
        seconds: 0.0,
    }
}

/// Applies `release` to every host that needs it: canary first, then batches; see the module docs.
pub fn apply(
    fleet: &Fleet,
    release: &Release,
    rollout: &Rollout,
    progress: Progress,
) -> Result<Summary> {
    let plans = fleet.plan(release)?;
    let preflight = fleet.preflight(release, &plans);
    for (host, severity, line) in preflight.findings() {
        if severity == Severity::Warning {
            progress(host, &format!("preflight warning: {line}"));
        }
    }
    preflight.check()?;
    let needs: Vec<bool> = plans.iter().map(|(p, _)| !p.in_sync()).collect();
    for (p, _) in plans.iter().filter(|(p, _)| p.in_sync()) {
        progress(&p.host, "unchanged");
    }
    let work = |i: usize| {
        let (plan, facts) = &plans[i];
        let target = &fleet.targets[i];
        let started = Instant::now();
        let result = apply_host(
            target,
            release,
            plan,
            facts,
            rollout,
            &fleet.health_url,
            progress,
        );
        let (outcome, error) = match result {
            Ok(()) => (Outcome::Done, None),
            Err((e, reverted)) => (
                if reverted {
                    Outcome::Reverted
                } else {
                    Outcome::Failed
                },
                Some(e.to_string()),
            ),
        };
        progress(&plan.host, outcome.as_str());
        HostReport {
            host: plan.host.clone(),
            from: plan.from.clone(),
            to: Some(plan.to.clone()),
            outcome,
            steps: plan.steps.clone(),
            error,
            seconds: started.elapsed().as_secs_f64(),
        }
    };
    let releases: Vec<_> = plans
        .iter()
        .map(|(p, _)| (p.from.clone(), Some(p.to.clone())))
        .collect();
    Ok(in_batches(fleet, rollout, &needs, &releases, &work))
}

/// Applies one host's plan; on failure returns the error and whether the host was reverted.
fn apply_host(
    target: &Target,
    release: &Release,
    plan: &HostPlan,
    facts: &Facts,
    rollout: &Rollout,
    health_url: &str,
    progress: Progress,
) -> std::result::Result<(), (Error, bool)> {
    let t = &*target.transport;
    let host = &target.host;
    let dir = release_dir(host, &release.id);
    let mut switched = false;
    let run = |switched: &mut bool| -> Result<()> {
        for step in &plan.steps {
            progress(&host.name, step.as_str());
            match step {
                Step::InstallTls => install_tls(t, host, &*target.service)?,
                Step::Reload => {
                    target.service.reload(t)?;
                    progress(&host.name, "health gate");
                    health_gate(t, &*target.service, health_url, rollout)
                        .map_err(|e| with_server_log(e, target))?;
                }
                Step::Upload => upload(t, host, release)?,
                Step::Switch => {
                    switch(t, host, &release.id)?;
                    *switched = true;
                }
                Step::InstallService => target.service.install(t)?,
                Step::InstallPackages => install_packages(t, &dir)?,
                Step::Tune => tune(t, host, &dir)?,
                Step::Restart | Step::Upgrade => {
                    if *step == Step::Upgrade {
                        target.service.upgrade(t)?;
                    } else {
                        target.service.restart(t)?;
                    }
                    progress(&host.name, "health gate");
                    health_gate(t, &*target.service, health_url, rollout)
                        .map_err(|e| with_server_log(e, target))?;
                }
            }
        }
        let previous = match &plan.from {
            Some(from) if *from != release.id => Some(from.clone()),
            _ => facts.deployed.as_ref().and_then(|d| d.previous.clone()),
        };
        record(t, host, release, previous)
    };
    match run(&mut switched) {
        Ok(()) => Ok(()),
        Err(e) if !switched && !plan.steps.contains(&Step::Tune) => Err((e, false)),
        Err(e) if !rollout.auto_revert => Err((e, false)),
        Err(e) => {
            progress(&host.name, &format!("{e}; reverting"));
            let back = plan
                .from
                .as_deref()
                .filter(|f| *f != release.id && facts.releases.iter().any(|r| r == f));
            let names: Vec<String> = (release.packages.iter())
                .flat_map(|p| p.both())
                .map(|d| d.package.clone())
                .collect();
            let packages = plan::packages_back(&names, plan, back, facts);
            match revert(target, back, &packages, &dir, health_url, rollout) {
                Ok(()) => Err((e, true)),
                Err(revert_error) => Err((
                    Error::step(&host.name, "revert", format!("{revert_error} (after: {e})")),
                    false,
                )),
            }
        }
    }
}

/// Every host back to its previous release and that release's tuning, as [`plan::rollback`] decides from its
/// facts; hosts without one fail with a message and are not touched.
pub fn rollback(fleet: &Fleet, rollout: &Rollout, progress: Progress) -> Result<Summary> {
    let facts = fleet.facts()?;
    let needs = vec![true; fleet.targets.len()];
    let releases: Vec<_> = facts
        .iter()
        .map(|f| {
            let d = f.deployed.as_ref();
            (
                d.map(|d| d.release.clone()),
                d.and_then(|d| d.previous.clone()),
            )
        })
        .collect();
    let work = |i: usize| {
        let target = &fleet.targets[i];
        let started = Instant::now();
        let result = plan::rollback(&facts[i])
            .map_err(|why| Error::step(&target.host.name, "rollback", why))
            .and_then(|undo| roll_back(target, &undo, &fleet.health_url, rollout, progress));
        let (outcome, error) = match result {
            Ok(()) => (Outcome::Done, None),
            Err(e) => (Outcome::Failed, Some(e.to_string())),
        };
        progress(&target.host.name, outcome.as_str());
        HostReport {
            host: target.host.name.clone(),
            from: releases[i].0.clone(),
            to: releases[i].1.clone(),
            outcome,
            steps: Vec::new(),
            error,
            seconds: started.elapsed().as_secs_f64(),
        }
    };
    Ok(in_batches(fleet, rollout, &needs, &releases, &work))
}

/// Carries out one host's rollback plan.
fn roll_back(
    target: &Target,
    undo: &[Undo],
    health_url: &str,
    rollout: &Rollout,
    progress: Progress,
) -> Result<()> {
    let (t, host) = (&*target.transport, &target.host);
    for step in undo {
        match step {
            Undo::Switch(id) => {
                progress(&host.name, &format!("switch to {id}"));
                switch(t, host, id)?;
            }
            Undo::Reinstall(id) => {
                progress(&host.name, &format!("reinstall the packages of {id}"));
                install_packages(t, &release_dir(host, id))?;
            }
            Undo::Retune(id) => {
                progress(&host.name, "tune");
                retune(t, host, &release_dir(host, id))?;
            }
            Undo::Restart => {
                progress(&host.name, "upgrade in place back, else restart");
                back_to_current(target)?;
                progress(&host.name, "health gate");
                health_gate(t, &*target.service, health_url, rollout)?;
            }
            Undo::Record {
                release,
                previous,
                profile,
                hashes,
            } => write_record(
                t,
                host,
                &Deployed {
                    release: release.clone(),
                    previous: Some(previous.clone()),
                    hashes: hashes.clone(),
                    profile: profile.clone(),
                    deployed_at: SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                    // Unknown for the release rolled back to: its next successor restarts.
                    listeners: None,
                },
            )?,
        }
    }
    Ok(())
}

/// One host's line in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub release: Option<String>,
    /// Whether the host runs the manifest's release.
    pub current: bool,
    pub running: bool,
    pub healthy: bool,
    pub tuning: crate::facts::Tuned,
    /// What differs from the manifest, in words (empty: in sync).
    pub drift: Vec<String>,
}

/// Per host: release, health, tuning verify result and drift from the manifest.
pub fn status(fleet: &Fleet, release: &Release) -> Result<Vec<HostStatus>> {
    let plans = fleet.plan(release)?;
    let preflight = fleet.preflight(release, &plans);
    Ok(plans
        .into_iter()
        .enumerate()
        .map(|(i, (p, f))| HostStatus {
            // A host the server cannot run on is drift; a warning (io_uring limited to a group) is not.
            drift: p
                .reasons
                .iter()
                .cloned()
                .chain(preflight.fatal(i).map(str::to_string))
                .collect(),
            host: p.host.clone(),
            release: f.current.clone(),
            current: f.current.as_deref() == Some(release.id.as_str()),
            running: f.running,
            healthy: f.healthy,
            tuning: f.tuning,
        })
        .collect())
}

/// Loads the manifest's release and connects to its hosts (`only` selects some by name).
pub fn prepare(
    manifest: &Manifest,
    only: &[String],
    health_url: String,
) -> Result<(Release, Fleet)> {
    let release = Release::read(manifest)?;
    let fleet = Fleet::new(manifest.select(only)?, health_url)?;
    Ok((release, fleet))
}
