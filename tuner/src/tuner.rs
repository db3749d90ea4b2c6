//! One entry point per command: each loads what it needs, runs the pure logic against the host, and returns
//! plain data that the binary prints as a table or as JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apply::{self, Applied, ApplyRequest, PlannedFile, PlannedWrite, Rollback};
use crate::error::{Error, Result, UnknownKey};
use crate::host::Host;
use crate::input;
use crate::netns::Namespace;
use crate::nic::NicChange;
use crate::persist::{self, Override, SysctlConfig};
use crate::plan::{self, Action, Change, Observed, Plan};
use crate::profile::{FlatProfile, ProfileLibrary, ProfileSummary, DEFAULT_PROFILE_DIR};
use crate::setting::Setting;
use crate::state::{RestoreScope, StateStore, DEFAULT_STATE_DIR, LEGACY_STATE_DIR};
use crate::sysctl::Key;
use crate::tuned::{import_tuned, TunedImport};

/// Where the tuner looks and writes. Every default is under `root`, so a fixture tree is a whole host.
#[derive(Debug, Clone)]
pub struct Options {
    /// `/` on a live host.
    pub root: PathBuf,
    /// Default: `ROOT/etc/pincore/profiles`.
    pub profile_dir: Option<PathBuf>,
    /// Default: `ROOT/var/lib/pincore-tuner` (never the server's state directory).
    pub state_dir: Option<PathBuf>,
    /// Where `--persist` writes the drop-in. Default: `ROOT/etc/sysctl.d`.
    pub sysctl_dir: Option<PathBuf>,
}

impl Options {
    pub fn live() -> Options {
        Options {
            root: PathBuf::from("/"),
            profile_dir: None,
            state_dir: None,
            sysctl_dir: None,
        }
    }
}

/// The tuner bound to one host (or fixture tree), optionally inside a network namespace.
#[derive(Debug)]
pub struct Tuner {
    profiles: ProfileLibrary,
    pub(crate) host: Host,
    pub(crate) state: StateStore,
    sysctl: SysctlConfig,
    /// Move interrupts in a profile's `nic:` section even though irqbalance runs.
    allow_irqbalance: bool,
    /// Where an earlier pincore-tuner kept this state file by default (only when `--state-dir` is not given).
    legacy_state: Option<PathBuf>,
    /// `pincore-tuner [flags] rollback` that finds this tuner's state again.
    rollback_command: String,
}

/// `verify`'s answer: in sync, or the drift.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub profile: String,
    pub netns: Option<String>,
    pub in_sync: bool,
    pub drift: Vec<Drift>,
    /// NIC settings of the profile's `nic:` devices that no longer hold their placement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nic_drift: Vec<NicChange>,
    /// Keys missing in this kernel or not visible in the namespace: not drift, but said.
    pub skipped: Vec<Change>,
    /// Later sysctl.d files that would undo the profile at boot (host mode only).
    pub overrides: Vec<Override>,
    /// The profile's drop-in, when it has been persisted.
    pub persisted: Option<PathBuf>,
}

/// A key whose live value no longer meets the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub key: Key,
    pub expected: String,
    pub actual: String,
    /// The profile the expected value came from.
    pub profile: String,
}

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub profile: String,
    pub netns: Option<String>,
    pub changed: Vec<Applied>,
    /// Keys that already met the profile.
    pub unchanged: usize,
    pub skipped: Vec<Change>,
    pub persisted: Option<PathBuf>,
    pub overrides: Vec<Override>,
    /// Where the previous values are kept for `rollback` (none when nothing was written).
    pub state_file: Option<PathBuf>,
    /// The command that undoes this apply: `rollback` with the flags that locate the same state.
    pub rollback_command: Option<String>,
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub netns: Option<String>,
    #[serde(flatten)]
    pub rollback: Rollback,
}

impl Tuner {
    /// `namespace`: already entered (see [`Namespace::enter`]); the state file is then the namespace's own.
    pub fn new(options: Options, namespace: Option<Namespace>) -> Tuner {
        let root = options.root;
        let profiles = ProfileLibrary::new(
            options
                .profile_dir
                .unwrap_or_else(|| under(&root, DEFAULT_PROFILE_DIR)),
        );
        let netns = named_namespace(namespace.as_ref());
        let rollback_command = rollback_command(
            &root,
            netns,
            options.state_dir.as_deref(),
            options.sysctl_dir.as_deref(),
        );
        let legacy_state = options.state_dir.is_none().then(|| {
            StateStore::new(&root.join(LEGACY_STATE_DIR), netns)
                .path()
                .to_path_buf()
        });
        let state_dir = options
            .state_dir
            .unwrap_or_else(|| root.join(DEFAULT_STATE_DIR));
        let state = StateStore::new(&state_dir, netns);
        let sysctl = SysctlConfig::under_root(&root, options.sysctl_dir);
        Tuner {
            profiles,
            host: Host::new(&root, namespace),
            state,
            sysctl,
            allow_irqbalance: false,
            legacy_state,
            rollback_command,
        }
    }

    /// Lets `apply` move a profile's NIC interrupts while irqbalance runs (the user has banned them there).
    pub fn allow_irqbalance(mut self, allow: bool) -> Tuner {
        self.allow_irqbalance = allow;
        self
    }

    pub fn library(&self) -> &ProfileLibrary {
        &self.profiles
    }

    fn netns(&self) -> Option<String> {
        self.host.namespace().map(|n| n.name().to_string())
    }

    /// `profiles`: built-in and user profiles.
    pub fn profiles(&self) -> Result<Vec<ProfileSummary>> {
        self.profiles.list()
    }

    /// `show`: the flattened profile.
    pub fn show(&self, profile: &str) -> Result<FlatProfile> {
        self.profiles.flatten(profile)
    }

    /// `plan`: the profile against the live values. Reads only.
    pub fn plan(&self, profile: &str) -> Result<Plan> {
        let flat = self.profiles.flatten(profile)?;
        self.plan_flat(&flat)
    }

    /// Observes every key first (reading can fail), then decides with the pure plan. A key the kernel lacks
    /// fails the whole command before anything is written, unless the profile marks it optional: a typo
    /// must not pass as "0 changed" and a clean `verify`.
    fn plan_flat(&self, flat: &FlatProfile) -> Result<Plan> {
        if !self.host.sysctl().is_present() {
            return Err(Error::NotAProcTree(self.host.root().to_path_buf()));
        }
        let mut observed: HashMap<&Key, Observed> = HashMap::with_capacity(flat.entries.len());
        let mut unknown = Vec::new();
        for e in &flat.entries {
            let seen = self.host.observe(&e.key)?;
            if seen == Observed::Missing && !e.optional {
                unknown.push(UnknownKey {
                    key: e.key.clone(),
                    profile: e.from.clone(),
                    suggestion: self.host.sysctl().suggest(&e.key),
                });
            }
            observed.insert(&e.key, seen);
        }
        if !unknown.is_empty() {
            return Err(Error::UnknownKeys(unknown));
        }
        let mut plan = plan::plan(flat, |key| {
            observed.remove(key).unwrap_or(Observed::Missing)
        });
        plan.nic = self.profile_nic_plans(flat)?;
        Ok(plan)
    }

    /// `verify`: the plan again; anything it would still change is drift.
    pub fn verify(&self, profile: &str) -> Result<Verification> {
        let flat = self.profiles.flatten(profile)?;
        let plan = self.plan_flat(&flat)?;
        let drift: Vec<Drift> = plan
            .pending()
            .map(|c| Drift {
                key: c.key.clone(),
                expected: c.target.to_string(),
                actual: c.current.clone().unwrap_or_default(),
                profile: c.from.clone(),
            })
            .collect();
        let nic_drift: Vec<NicChange> =
            plan.nic.iter().flat_map(|p| p.pending().cloned()).collect();
        let (overrides, persisted) = self.boot_view(&flat)?;
        Ok(Verification {
            profile: flat.name,
            netns: self.netns(),
            in_sync: drift.is_empty() && nic_drift.is_empty(),
            drift,
            nic_drift,
            skipped: skipped(&plan),
            overrides,
            persisted,
        })
    }

    /// What boot would do: later sysctl.d files overriding the profile, and its drop-in if present. Boot
    /// files configure the host, so a namespace has none.
    fn boot_view(&self, flat: &FlatProfile) -> Result<(Vec<Override>, Option<PathBuf>)> {
        if named_namespace(self.host.namespace()).is_some() {
            return Ok((Vec::new(), None));
        }
        let dropin = self.sysctl.dropin_path(&flat.name);
        Ok((
            persist::overrides(&self.sysctl, flat)?,
            dropin.is_file().then_some(dropin),
        ))
    }

    /// `apply`: write what differs (recording the previous values first), optionally persist.
    pub fn apply(&self, profile: &str, persist: bool) -> Result<ApplyReport> {
        if persist && named_namespace(self.host.namespace()).is_some() {
            return Err(Error::Usage(
                "--persist configures the host's boot (sysctl.d), not a network namespace: drop --persist or --netns"
                    .into(),
            ));
        }
        let flat = self.profiles.flatten(profile)?;
        let plan = self.plan_flat(&flat)?;
        self.irqbalance_check(&plan.nic, self.allow_irqbalance)?;
        let nic_writes = plan.nic.iter().flat_map(|p| p.pending()).filter_map(|c| {
            Some(PlannedWrite {
                setting: c.setting.clone(),
                value: c.write.clone()?,
            })
        });
        let writes: Vec<PlannedWrite> = plan
            .pending()
            .filter_map(|c| {
                Some(PlannedWrite {
                    setting: Setting::sysctl(c.key.clone()),
                    value: c.write.clone()?,
                })
            })
            .chain(nic_writes)
            .collect();
        let mut files = Vec::new();
        let dropin = self.sysctl.dropin_path(&flat.name);
        if persist {
            let contents = persist::render_dropin_for(&after_apply(&plan));
            if std::fs::read_to_string(&dropin).ok().as_deref() != Some(contents.as_str()) {
                files.push(PlannedFile {
                    path: dropin.clone(),
                    contents,
                });
            }
        }
        let request = ApplyRequest {
            profile: flat.name.clone(),
            netns: self.netns(),
            writes,
            files,
        };
        let wrote_anything = !(request.writes.is_empty() && request.files.is_empty());
        let changed = apply::apply(&self.host, &self.state, request)?;
        for a in &changed {
            tracing::info!(setting = %a.setting, previous = %a.previous, value = %a.value, "applied");
        }
        let overrides = if persist {
            persist::overrides(&self.sysctl, &flat)?
        } else {
            Vec::new()
        };
        Ok(ApplyReport {
            profile: flat.name,
            netns: self.netns(),
            unchanged: plan.count(Action::Ok),
            changed,
            skipped: skipped(&plan),
            persisted: persist.then_some(dropin),
            overrides,
            state_file: wrote_anything.then(|| self.state.path().to_path_buf()),
            rollback_command: wrote_anything.then(|| self.rollback_command.clone()),
        })
    }

    /// `rollback`: restore what the state file records; nothing to do is not an error.
    pub fn rollback(&self) -> Result<RollbackReport> {
        if let Some(legacy) = &self.legacy_state {
            if self.state.load_raw()?.is_none() && legacy.is_file() {
                return Err(Error::Usage(format!(
                    "{} was written by an earlier pincore-tuner, which kept its state in the server's state directory; \
                     the tuner's state now lives in {}, which only root may write. Check what the file records \
                     (the server's user could have changed it), then move it there: \
                     `mkdir -m 700 -p {dir} && mv {} {dir}/` and run rollback again",
                    legacy.display(),
                    self.state.path().parent().unwrap_or(Path::new("/")).display(),
                    legacy.display(),
                    dir = self.state.path().parent().unwrap_or(Path::new("/")).display(),
                )));
            }
        }
        let scope = RestoreScope {
            in_namespace: self.host.namespace().is_some(),
            dropin_dir: Some(&self.sysctl.dropin_dir),
        };
        Ok(RollbackReport {
            netns: self.netns(),
            rollback: apply::rollback(&self.host, &self.state, scope)?,
        })
    }

    /// `import-tuned`: converts a tuned.conf; the name defaults to its directory's (tuned's layout is
    /// `NAME/tuned.conf`) or the file's stem.
    pub fn import_tuned(&self, file: &Path, name: Option<&str>) -> Result<TunedImport> {
        let text = input::read_text(file, input::Expected::text("a tuned.conf file"))?;
        let name = match name {
            Some(n) => n.to_string(),
            None => tuned_name(file),
        };
        Ok(import_tuned(&text, &name, |inc| {
            self.profiles.load(inc).is_ok()
        }))
    }
}

/// The plan as it will be once applied: what the drop-in should pin.
fn after_apply(plan: &Plan) -> Plan {
    let mut p = plan.clone();
    for c in &mut p.changes {
        if c.action == Action::Change {
            c.current = c.write.clone();
            c.action = Action::Ok;
        }
    }
    p
}

/// The name of a namespace entered with `--netns` (an inherited one keeps the host's files).
fn named_namespace(ns: Option<&Namespace>) -> Option<&str> {
    ns.filter(|n| n.is_named()).map(Namespace::name)
}

fn skipped(plan: &Plan) -> Vec<Change> {
    plan.changes
        .iter()
        .filter(|c| c.action.skipped())
        .cloned()
        .collect()
}

/// `pincore-tuner rollback` with the flags that locate the same host, namespace, state and drop-ins: what an
/// operator must type to undo an apply made with those flags.
fn rollback_command(
    root: &Path,
    netns: Option<&str>,
    state_dir: Option<&Path>,
    sysctl_dir: Option<&Path>,
) -> String {
    let quote = |p: &Path| {
        let s = p.display().to_string();
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
        {
            s
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut cmd = String::from("pincore-tuner");
    if root != Path::new("/") {
        cmd += &format!(" --root {}", quote(root));
    }
    if let Some(name) = netns {
        cmd += &format!(" --netns {name}");
    }
    if let Some(dir) = state_dir {
        cmd += &format!(" --state-dir {}", quote(dir));
    }
    if let Some(dir) = sysctl_dir {
        cmd += &format!(" --sysctl-dir {}", quote(dir));
    }
    cmd + " rollback"
}

fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

fn tuned_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem == "tuned" {
        if let Some(dir) = file.parent().and_then(|p| p.file_name()) {
            return dir.to_string_lossy().into_owned();
        }
    }
    stem
}
