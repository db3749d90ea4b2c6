//! The `nic` commands on a [`Tuner`]: plan, apply, verify and roll back one device's placement.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::discovery::{discover, Nic, Topology};
use super::placement::{self, place, NicChange, NicPlan, NicRequest};
use super::{irqbalance_advice, irqbalance_pids};
use crate::apply::{self, Applied, ApplyRequest, PlannedWrite, Rollback};
use crate::cpuset::CpuSet;
use crate::error::{Error, Result};
use crate::host::SettingStore;
use crate::plan::{Action, Observed};
use crate::setting::Setting;
use crate::state::{RestoreScope, StateStore};
use crate::tuner::Tuner;
use pincore_cli::output::Human;

/// What `nic apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct NicApplyReport {
    pub device: String,
    pub netns: Option<String>,
    pub cpus: Vec<u32>,
    pub changed: Vec<Applied>,
    pub unchanged: usize,
    pub skipped: Vec<NicChange>,
    /// Where the previous values are kept for `nic rollback` (none when nothing was written).
    pub state_file: Option<PathBuf>,
    /// irqbalance daemons running while the IRQs were placed (only with `--allow-irqbalance`).
    pub irqbalance: Vec<u32>,
}

/// `nic verify`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct NicVerification {
    pub device: String,
    pub netns: Option<String>,
    pub in_sync: bool,
    pub drift: Vec<NicChange>,
    pub skipped: Vec<NicChange>,
}

/// What `nic rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct NicRollbackReport {
    pub netns: Option<String>,
    #[serde(flatten)]
    pub rollback: Rollback,
}

impl Tuner {
    fn netns_name(&self) -> Option<String> {
        self.host.namespace().map(|n| n.name().to_string())
    }

    /// NIC settings keep their own state file beside the sysctl one, so each rollback undoes one thing.
    fn nic_state(&self) -> StateStore {
        let dir = self
            .state
            .path()
            .parent()
            .map(|d| d.join("nic"))
            .unwrap_or_else(|| PathBuf::from("nic"));
        StateStore::new(&dir, self.host.namespace().map(|n| n.name()))
    }

    /// The device as discovered and where its queues should go.
    pub fn nic_discover(&self, request: &NicRequest) -> Result<(Nic, placement::Placement)> {
        let root = self.host.root();
        let nic = discover(root, &request.device)?;
        let placement = place(&nic, &Topology::read(root)?, request)?;
        Ok((nic, placement))
    }

    fn nic_plan_of(&self, placement: &placement::Placement) -> Result<NicPlan> {
        let mut observed = Vec::with_capacity(placement.targets.len());
        for t in &placement.targets {
            observed.push(match &t.setting {
                Setting::Sysctl { key } => self.host.observe(key)?,
                other => match self.host.read(other)? {
                    Some(v) => Observed::Value(v),
                    None => Observed::Missing,
                },
            });
        }
        let mut observed = observed.into_iter();
        Ok(placement::plan(placement, |_| {
            observed.next().unwrap_or(Observed::Missing)
        }))
    }

    /// The running irqbalance daemons when `plans` move interrupts; an error saying how to ban the IRQs and
    /// CPUs unless `allow`.
    pub(crate) fn irqbalance_check(&self, plans: &[NicPlan], allow: bool) -> Result<Vec<u32>> {
        let irqs: Vec<u32> = plans
            .iter()
            .flat_map(NicPlan::pending)
            .filter_map(|c| match c.setting {
                Setting::IrqAffinity { irq } => Some(irq),
                _ => None,
            })
            .collect();
        if irqs.is_empty() {
            return Ok(Vec::new());
        }
        let pids = irqbalance_pids(self.host.root());
        if !pids.is_empty() && !allow {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            let cpus = CpuSet::new(plans.iter().flat_map(|p| p.cpus.iter().copied()));
            return Err(Error::Irqbalance {
                pids: pids.join(", "),
                advice: irqbalance_advice(&irqs, &cpus),
            });
        }
        Ok(pids)
    }

    /// The plans of a profile's `nic:` devices.
    pub(crate) fn profile_nic_plans(
        &self,
        flat: &crate::profile::FlatProfile,
    ) -> Result<Vec<NicPlan>> {
        flat.nic.iter().map(|n| self.nic_plan(&n.request)).collect()
    }

    /// `nic plan`: what `nic apply` would write. Reads only.
    pub fn nic_plan(&self, request: &NicRequest) -> Result<NicPlan> {
        let (_, placement) = self.nic_discover(request)?;
        self.nic_plan_of(&placement)
    }

    /// `nic apply`: records the previous values, writes what differs, reads each back; restores on failure.
    /// Refuses to move interrupts while irqbalance runs unless `allow_irqbalance`.
    pub fn nic_apply(
        &self,
        request: &NicRequest,
        allow_irqbalance: bool,
    ) -> Result<NicApplyReport> {
        let (_, placement) = self.nic_discover(request)?;
        let plan = self.nic_plan_of(&placement)?;
        let pids = self.irqbalance_check(std::slice::from_ref(&plan), allow_irqbalance)?;
        let writes: Vec<PlannedWrite> = plan
            .pending()
            .filter_map(|c| {
                Some(PlannedWrite {
                    setting: c.setting.clone(),
                    value: c.write.clone()?,
                })
            })
            .collect();
        let state = self.nic_state();
        let wrote = !writes.is_empty();
        let request = ApplyRequest {
            profile: format!("nic:{}", plan.device),
            netns: self.netns_name(),
            writes,
            files: Vec::new(),
        };
        let changed = apply::apply(&self.host, &state, request)?;
        for a in &changed {
            tracing::info!(setting = %a.setting, previous = %a.previous, value = %a.value, "applied");
        }
        Ok(NicApplyReport {
            device: plan.device.clone(),
            netns: self.netns_name(),
            cpus: plan.cpus.clone(),
            unchanged: plan
                .changes
                .iter()
                .filter(|c| c.action == Action::Ok)
                .count(),
            changed,
            skipped: skipped(&plan),
            state_file: wrote.then(|| state.path().to_path_buf()),
            irqbalance: pids,
        })
    }

    /// `nic verify`: the plan again; anything it would still write is drift.
    pub fn nic_verify(&self, request: &NicRequest) -> Result<NicVerification> {
        let plan = self.nic_plan(request)?;
        let drift: Vec<NicChange> = plan.pending().cloned().collect();
        Ok(NicVerification {
            device: plan.device.clone(),
            netns: self.netns_name(),
            in_sync: drift.is_empty(),
            drift,
            skipped: skipped(&plan),
        })
    }

    /// `nic rollback`: restores what `nic apply` recorded. Harmless to repeat.
    pub fn nic_rollback(&self) -> Result<NicRollbackReport> {
        Ok(NicRollbackReport {
            netns: self.netns_name(),
            rollback: apply::rollback(
                &self.host,
                &self.nic_state(),
                RestoreScope {
                    in_namespace: self.host.namespace().is_some(),
                    dropin_dir: None,
                },
            )?,
        })
    }
}

fn skipped(plan: &NicPlan) -> Vec<NicChange> {
    plan.changes
        .iter()
        .filter(|c| c.action.skipped())
        .cloned()
        .collect()
}

/// Rows padded to the widest cell of each column (the first row is the header).
fn table(rows: &[Vec<String>]) -> String {
    let mut t = pincore_cli::table::Table::headless();
    for row in rows {
        t.plain_row(row.iter().cloned());
    }
    t.render(false)
}

/// NIC settings as a table: setting, current, target, action, why.
pub fn change_table(changes: &[NicChange]) -> String {
    let mut rows = vec![["SETTING", "CURRENT", "TARGET", "ACTION", "WHY"]
        .map(String::from)
        .to_vec()];
    for c in changes {
        rows.push(vec![
            c.setting.to_string(),
            c.current.clone().unwrap_or_else(|| "-".into()),
            // Masks are written in hex: show the hex beside the list it stands for.
            match &c.write {
                Some(w) if c.target.strip_prefix("cpus ") != Some(w.as_str()) && &c.target != w => {
                    format!("{} ({w})", c.target)
                }
                _ => c.target.clone(),
            },
            c.action.as_str().to_string(),
            c.note.clone().unwrap_or_else(|| c.why.clone()),
        ]);
    }
    table(&rows)
}

fn cpus(list: &[u32]) -> String {
    CpuSet::new(list.iter().copied()).to_list()
}

impl Human for NicPlan {
    fn human(&self, _colour: bool) -> String {
        let pending = self.pending().count();
        let mut out = format!(
            "{}: queues served by cpus {} (NUMA-local first); {pending} to change\n\n{}",
            self.device,
            cpus(&self.cpus),
            change_table(&self.changes)
        );
        for v in &self.left_alone {
            let name = v.name.as_deref().unwrap_or("unnamed");
            let _ = writeln!(out, "left alone: irq {} {name} ({})", v.irq, v.reason);
        }
        out
    }
}

impl Human for NicApplyReport {
    fn human(&self, _colour: bool) -> String {
        let mut out = format!(
            "{}: {} changed, {} already right, {} skipped (cpus {})\n",
            self.device,
            self.changed.len(),
            self.unchanged,
            self.skipped.len(),
            cpus(&self.cpus)
        );
        if !self.changed.is_empty() {
            let mut rows = vec![["SETTING", "PREVIOUS", "NOW"].map(String::from).to_vec()];
            rows.extend(
                self.changed
                    .iter()
                    .map(|a| vec![a.setting.to_string(), a.previous.clone(), a.value.clone()]),
            );
            out.push('\n');
            out.push_str(&table(&rows));
        }
        if let Some(state) = &self.state_file {
            let _ = writeln!(
                out,
                "\nprevious values kept in {} (undo with `pincore-tuner nic rollback`)",
                state.display()
            );
        }
        if !self.irqbalance.is_empty() {
            let _ = writeln!(
                out,
                "warning: irqbalance is running and may move these interrupts back"
            );
        }
        out
    }
}

impl Human for NicVerification {
    fn human(&self, _colour: bool) -> String {
        if self.in_sync {
            return format!(
                "{}: in sync ({} skipped)\n",
                self.device,
                self.skipped.len()
            );
        }
        format!(
            "{}: {} settings drifted\n\n{}",
            self.device,
            self.drift.len(),
            change_table(&self.drift)
        )
    }
}

impl Human for NicRollbackReport {
    fn human(&self, _colour: bool) -> String {
        if self.rollback.restored.is_empty() {
            return "nothing to roll back\n".into();
        }
        let mut rows = vec![["SETTING", "FROM", "RESTORED"].map(String::from).to_vec()];
        rows.extend(
            self.rollback
                .restored
                .iter()
                .map(|a| vec![a.setting.to_string(), a.previous.clone(), a.value.clone()]),
        );
        format!(
            "restored {} settings\n\n{}",
            self.rollback.restored.len(),
            table(&rows)
        )
    }
}
