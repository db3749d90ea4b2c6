//! Where a device's queues should be served: `(device, topology, request) → targets`, and targets
//! compared with what the kernel shows → a plan. Pure; the host is read and written elsewhere.
//!
//! The rules follow the kernel's Documentation/networking/scaling.rst: spread queue interrupts over the
//! chosen CPUs, NUMA-local ones first; RPS only when there are fewer receive queues than CPUs (with one
//! queue per CPU it is redundant), steering each queue's packets to the CPUs in the memory domain of the CPU
//! taking its interrupt; RFS with 32768 flow entries split over the queues; XPS mapping each CPU to one
//! transmit queue.

use serde::Serialize;

use super::discovery::{Nic, SkippedVector, Topology};
use crate::cpuset::CpuSet;
use crate::error::{Error, Result};
use crate::setting::{Action, Observed, Setting};
use crate::sysctl::Key;

/// The global RFS table size scaling.rst suggests for a moderately loaded server.
pub const RPS_SOCK_FLOW_ENTRIES: u64 = 32768;

/// What to do for one device: from a profile's `nic:` section or `pincore-tuner nic --dev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicRequest {
    pub device: String,
    /// CPUs that serve the device's queues; default: its NUMA-local CPUs (all online CPUs if unknown).
    pub cpus: Option<CpuSet>,
    /// Steer received packets in software where there are fewer receive queues than CPUs.
    pub rps: bool,
    /// Steer flows to the CPU where their socket is read (needs RPS or accelerated RFS).
    pub rfs: bool,
    /// Map each CPU to one transmit queue.
    pub xps: bool,
}

impl NicRequest {
    /// The defaults: RPS and XPS on, RFS off.
    pub fn new(device: impl Into<String>) -> NicRequest {
        NicRequest {
            device: device.into(),
            cpus: None,
            rps: true,
            rfs: false,
            xps: true,
        }
    }
}

/// How the kernel spells a CPU set in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Spelling {
    /// `0-3,8` (smp_affinity_list).
    List,
    /// Hex mask (rps_cpus, xps_cpus).
    Mask,
}

/// The value a setting should hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Want {
    Cpus { cpus: CpuSet, spelling: Spelling },
    Number(u64),
}

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Want::Cpus { cpus, .. } if cpus.is_empty() => f.write_str("none"),
            Want::Cpus { cpus, .. } => write!(f, "cpus {cpus}"),
            Want::Number(n) => write!(f, "{n}"),
        }
    }
}

/// One setting the placement asks for, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicTarget {
    pub setting: Setting,
    pub want: Want,
    pub why: String,
}

/// The placement for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub device: String,
    pub left_alone: Vec<SkippedVector>,
    /// The CPUs used, in the order queues are dealt to them (NUMA-local first).
    pub cpus: Vec<u32>,
    pub targets: Vec<NicTarget>,
}

/// The CPUs to use, NUMA-local first.
fn choose_cpus(nic: &Nic, topology: &Topology, requested: Option<&CpuSet>) -> Result<Vec<u32>> {
    let local = nic
        .local_cpus
        .as_ref()
        .map(|l| l.intersection(&topology.online))
        .filter(|l| !l.is_empty());
    let chosen = match requested {
        Some(cpus) => {
            let offline = cpus.difference(&topology.online);
            if cpus.is_empty() {
                return Err(Error::Usage(
                    "the CPU list is empty: name the CPUs that should serve the queues".into(),
                ));
            }
            if !offline.is_empty() {
                return Err(Error::Usage(format!(
                    "CPUs {offline} are not online (online: {}): pick CPUs from the online list",
                    topology.online
                )));
            }
            cpus.clone()
        }
        None => local.clone().unwrap_or_else(|| topology.online.clone()),
    };
    if chosen.is_empty() {
        return Err(Error::Usage(
            "no online CPUs listed in sys/devices/system/cpu/online: pass --cpus".into(),
        ));
    }
    let ordered = match &local {
        Some(local) => chosen
            .intersection(local)
            .iter()
            .chain(chosen.difference(local).iter())
            .collect(),
        None => chosen.iter().collect(),
    };
    Ok(ordered)
}

fn queue_setting(device: &str, queue: String, file: &str) -> Setting {
    Setting::Queue {
        device: device.to_string(),
        queue,
        file: file.to_string(),
    }
}

/// Decides every IRQ affinity, RPS, RFS and XPS value for the device.
pub fn place(nic: &Nic, topology: &Topology, request: &NicRequest) -> Result<Placement> {
    let cpus = choose_cpus(nic, topology, request.cpus.as_ref())?;
    let n = cpus.len();
    let cpu_for_queue = |q: u32| cpus[q as usize % n];
    let mut targets = Vec::new();
    let numa = match nic.numa_node {
        Some(node) => format!("NUMA node {node}"),
        None => "NUMA node unknown".to_string(),
    };

    for v in &nic.vectors {
        let cpu = cpu_for_queue(v.queue);
        targets.push(NicTarget {
            setting: Setting::IrqAffinity { irq: v.irq },
            want: Want::Cpus {
                cpus: CpuSet::new([cpu]),
                spelling: Spelling::List,
            },
            why: format!(
                "{} (queue {}) on cpu {cpu}; device: {numa}",
                v.name, v.queue
            ),
        });
    }

    if request.rps && !nic.rx_queues.is_empty() && nic.rx_queues.len() < n {
        let all = CpuSet::new(cpus.iter().copied());
        for &q in &nic.rx_queues {
            let irq_cpu = cpu_for_queue(q);
            let domain = topology
                .node_of(irq_cpu)
                .and_then(|node| topology.nodes.get(&node))
                .map(|node_cpus| all.intersection(node_cpus))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| all.clone());
            targets.push(NicTarget {
                setting: queue_setting(&nic.name, format!("rx-{q}"), "rps_cpus"),
                want: Want::Cpus { cpus: domain, spelling: Spelling::Mask },
                why: format!(
                    "{} receive queue{} for {n} CPUs: spread in software over the CPUs near cpu {irq_cpu}",
                    nic.rx_queues.len(),
                    if nic.rx_queues.len() == 1 { "" } else { "s" }
                ),
            });
        }
    }

    if request.rfs && !nic.rx_queues.is_empty() {
        // A constant key that Key::parse accepts (covered by a unit test).
        if let Ok(key) = Key::parse("net.core.rps_sock_flow_entries") {
            targets.push(NicTarget {
                setting: Setting::sysctl(key),
                want: Want::Number(RPS_SOCK_FLOW_ENTRIES),
                why: "RFS: the global table of flows and the CPU that reads each".into(),
            });
        }
        let per_queue = RPS_SOCK_FLOW_ENTRIES / nic.rx_queues.len() as u64;
        for &q in &nic.rx_queues {
            targets.push(NicTarget {
                setting: queue_setting(&nic.name, format!("rx-{q}"), "rps_flow_cnt"),
                want: Want::Number(per_queue),
                why: format!(
                    "RFS: {RPS_SOCK_FLOW_ENTRIES} flow entries over {} receive queue{}",
                    nic.rx_queues.len(),
                    if nic.rx_queues.len() == 1 { "" } else { "s" }
                ),
            });
        }
    }

    if request.xps && !nic.tx_queues.is_empty() {
        let ntx = nic.tx_queues.len();
        for (t, &q) in nic.tx_queues.iter().enumerate() {
            let mine = CpuSet::new(
                cpus.iter()
                    .enumerate()
                    .filter(|(j, _)| j % ntx == t)
                    .map(|(_, &c)| c),
            );
            let why = if mine.is_empty() {
                format!("more transmit queues ({ntx}) than CPUs ({n}): no CPU picks this queue")
            } else {
                format!("each CPU sends on one queue: cpus {mine} use tx-{q}")
            };
            targets.push(NicTarget {
                setting: queue_setting(&nic.name, format!("tx-{q}"), "xps_cpus"),
                want: Want::Cpus {
                    cpus: mine,
                    spelling: Spelling::Mask,
                },
                why,
            });
        }
    }
    Ok(Placement {
        device: nic.name.clone(),
        left_alone: nic.skipped.clone(),
        cpus,
        targets,
    })
}

/// One setting of a NIC plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicChange {
    #[serde(flatten)]
    pub setting: Setting,
    pub current: Option<String>,
    pub target: String,
    pub action: Action,
    /// What to write when the action is `change`, spelled as the kernel prints it.
    pub write: Option<String>,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A placement compared with the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicPlan {
    pub device: String,
    pub cpus: Vec<u32>,
    pub changes: Vec<NicChange>,
    /// The device's vectors that are not queue vectors (control, async, link), which stay where they are.
    pub left_alone: Vec<SkippedVector>,
}

impl NicPlan {
    pub fn pending(&self) -> impl Iterator<Item = &NicChange> {
        self.changes.iter().filter(|c| c.action == Action::Change)
    }
}

/// Whether the current text already holds the wanted value (CPU sets compare as sets, not as text).
fn satisfied(want: &Want, current: &str) -> bool {
    match want {
        Want::Cpus {
            cpus,
            spelling: Spelling::List,
        } => CpuSet::parse_list(current).is_ok_and(|c| &c == cpus),
        Want::Cpus {
            cpus,
            spelling: Spelling::Mask,
        } => CpuSet::parse_mask(current).is_ok_and(|c| &c == cpus),
        Want::Number(n) => current.trim().parse::<u64>().is_ok_and(|c| c == *n),
    }
}

fn spelled(want: &Want, current: &str) -> String {
    match want {
        Want::Cpus {
            cpus,
            spelling: Spelling::List,
        } => cpus.to_list(),
        Want::Cpus {
            cpus,
            spelling: Spelling::Mask,
        } => cpus.to_mask_like(current),
        Want::Number(n) => n.to_string(),
    }
}

/// Why a setting the placement wants is not there.
fn missing_note(setting: &Setting) -> String {
    match setting {
        // The kernel hides xps_cpus on devices with a single transmit queue: there is nothing to choose.
        Setting::Queue { file, .. } if file == "xps_cpus" => {
            "the kernel offers XPS only on multiqueue devices".into()
        }
        _ => "not present on this kernel or device".into(),
    }
}

/// Compares each target with what `observe` reports for its setting.
pub fn plan(placement: &Placement, mut observe: impl FnMut(&Setting) -> Observed) -> NicPlan {
    let changes = placement
        .targets
        .iter()
        .map(|t| {
            let observed = observe(&t.setting);
            let (current, action, write, note) = match observed {
                Observed::Value(v) if satisfied(&t.want, &v) => (Some(v), Action::Ok, None, None),
                Observed::Value(v) => {
                    let write = spelled(&t.want, &v);
                    (Some(v), Action::Change, Some(write), None)
                }
                Observed::Missing => (None, Action::Missing, None, Some(missing_note(&t.setting))),
                Observed::NotInNamespace(why) => (None, Action::NotInNamespace, None, Some(why)),
                Observed::ReadOnly(v, _) if satisfied(&t.want, &v) => {
                    (Some(v), Action::Ok, None, None)
                }
                Observed::ReadOnly(v, why) => (Some(v), Action::ReadOnly, None, Some(why)),
            };
            NicChange {
                setting: t.setting.clone(),
                current,
                target: t.want.to_string(),
                action,
                write,
                why: t.why.clone(),
                note,
            }
        })
        .collect();
    NicPlan {
        device: placement.device.clone(),
        cpus: placement.cpus.clone(),
        changes,
        left_alone: placement.left_alone.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::discovery::{Vector, VectorKind};
    use super::*;
    use std::collections::BTreeMap;

    fn topology() -> Topology {
        let mut nodes = BTreeMap::new();
        nodes.insert(0, CpuSet::parse_list("0-7").unwrap());
        nodes.insert(1, CpuSet::parse_list("8-15").unwrap());
        Topology {
            online: CpuSet::parse_list("0-15").unwrap(),
            nodes,
        }
    }

    fn nic(queues: u32, numa: Option<u32>, local: Option<&str>) -> Nic {
        Nic {
            name: "eth0".into(),
            driver: None,
            bus_id: None,
            numa_node: numa,
            local_cpus: local.map(|l| CpuSet::parse_list(l).unwrap()),
            rx_queues: (0..queues).collect(),
            tx_queues: (0..queues).collect(),
            vectors: (0..queues)
                .map(|q| Vector {
                    irq: 100 + q,
                    name: format!("eth0-TxRx-{q}"),
                    kind: VectorKind::Combined,
                    queue: q,
                })
                .collect(),
            skipped: vec![],
        }
    }

    fn affinity(p: &Placement) -> Vec<String> {
        p.targets
            .iter()
            .filter(|t| matches!(t.setting, Setting::IrqAffinity { .. }))
            .map(|t| t.want.to_string())
            .collect()
    }

    #[test]
    fn local_cpus_first_then_the_rest() {
        let p = place(
            &nic(4, Some(1), Some("8-15")),
            &topology(),
            &NicRequest {
                cpus: Some(CpuSet::parse_list("6-9").unwrap()),
                ..NicRequest::new("eth0")
            },
        )
        .unwrap();
        assert_eq!(p.cpus, vec![8, 9, 6, 7]);
        assert_eq!(affinity(&p), vec!["cpus 8", "cpus 9", "cpus 6", "cpus 7"]);
    }

    #[test]
    fn default_cpus_are_the_local_ones_and_no_rps_with_a_queue_per_cpu() {
        let p = place(
            &nic(8, Some(1), Some("8-15")),
            &topology(),
            &NicRequest::new("eth0"),
        )
        .unwrap();
        assert_eq!(p.cpus, (8..16).collect::<Vec<_>>());
        assert!(!p
            .targets
            .iter()
            .any(|t| matches!(&t.setting, Setting::Queue { file, .. } if file == "rps_cpus")));
    }

    #[test]
    fn rps_stays_in_the_memory_domain_of_the_interrupt_cpu() {
        let request = NicRequest {
            cpus: Some(CpuSet::parse_list("0-15").unwrap()),
            ..NicRequest::new("eth0")
        };
        let p = place(&nic(2, None, None), &topology(), &request).unwrap();
        let rps: Vec<String> = p
            .targets
            .iter()
            .filter(|t| matches!(&t.setting, Setting::Queue { file, .. } if file == "rps_cpus"))
            .map(|t| t.want.to_string())
            .collect();
        // Queue 0's interrupt is on cpu 0 (node 0), queue 1's on cpu 1 (node 0 as well).
        assert_eq!(rps, vec!["cpus 0-7", "cpus 0-7"]);
    }

    #[test]
    fn xps_maps_each_cpu_to_one_queue() {
        let request = NicRequest {
            cpus: Some(CpuSet::parse_list("0-5").unwrap()),
            ..NicRequest::new("eth0")
        };
        let p = place(&nic(4, None, None), &topology(), &request).unwrap();
        let xps: Vec<String> = p
            .targets
            .iter()
            .filter(|t| matches!(&t.setting, Setting::Queue { file, .. } if file == "xps_cpus"))
            .map(|t| t.want.to_string())
            .collect();
        assert_eq!(xps, vec!["cpus 0,4", "cpus 1,5", "cpus 2", "cpus 3"]);
    }

    #[test]
    fn rfs_splits_the_flow_table_over_the_queues() {
        let request = NicRequest {
            rfs: true,
            rps: false,
            xps: false,
            ..NicRequest::new("eth0")
        };
        let p = place(&nic(4, None, None), &topology(), &request).unwrap();
        let wants: Vec<String> = p
            .targets
            .iter()
            .skip(4)
            .map(|t| format!("{} {}", t.setting, t.want))
            .collect();
        assert_eq!(wants[0], "net.core.rps_sock_flow_entries 32768");
        assert_eq!(wants[1..].len(), 4);
        assert!(wants[1..].iter().all(|w| w.ends_with(" 8192")), "{wants:?}");
    }

    #[test]
    fn offline_or_empty_cpu_lists_are_refused() {
        let n = nic(2, None, None);
        let err = place(
            &n,
            &topology(),
            &NicRequest {
                cpus: Some(CpuSet::parse_list("14-17").unwrap()),
                ..NicRequest::new("eth0")
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("CPUs 16-17 are not online (online: 0-15)"),
            "{err}"
        );
        assert!(place(
            &n,
            &topology(),
            &NicRequest {
                cpus: Some(CpuSet::default()),
                ..NicRequest::new("eth0")
            }
        )
        .is_err());
    }

    #[test]
    fn plans_compare_sets_and_write_in_the_kernels_spelling() {
        let request = NicRequest {
            cpus: Some(CpuSet::parse_list("0-1").unwrap()),
            ..NicRequest::new("eth0")
        };
        let mut n = nic(1, None, None);
        n.vectors.clear();
        let p = place(&n, &topology(), &request).unwrap();
        let plan = plan(&p, |s| match s {
            Setting::Queue { file, .. } if file == "rps_cpus" => Observed::Value("0000".into()),
            _ => Observed::Value("00000000,00000003".into()),
        });
        let rows: Vec<(Action, Option<&str>)> = plan
            .changes
            .iter()
            .map(|c| (c.action, c.write.as_deref()))
            .collect();
        assert_eq!(
            rows,
            vec![(Action::Change, Some("0003")), (Action::Ok, None)]
        );
    }
}
