//! Shard placement by a network device's queue interrupts (`shards.nic`), and the start-up findings about it.
//!
//! The decision is pure: [`shard_cpus`] maps *(allowed CPUs, `shards.cpus`, queue → CPU map, mode)* to the
//! shard CPUs, and [`findings`] maps the same observations to advice. Reading the device sits at the edge
//! ([`NicObserved::read`]) and goes through pincore-tuner's NIC library with a root directory, so tests run it
//! on fixture trees.

use std::path::Path;

use pincore_tuner::nic::{
    device_names, irqbalance_advice, irqbalance_pids, queue_affinity, CpuSet, QueueAffinity,
};

use crate::config::{CpuList, NicConfig, NicMode};
use crate::error::ServerError;
use crate::placement;
use crate::preflight::{Finding, Severity};

/// What start-up reads about the device named by `shards.nic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicObserved {
    pub device: String,
    /// Each queue vector and the CPUs it is delivered to now, in queue order.
    pub queues: Vec<QueueAffinity>,
    /// Process ids of running irqbalance daemons.
    pub irqbalance: Vec<u32>,
}

impl NicObserved {
    /// Reads `device`'s queue interrupts and irqbalance under `root` (`/` on a live host).
    pub fn read(root: &Path, device: &str) -> Result<NicObserved, ServerError> {
        let queues = queue_affinity(root, device).map_err(|e| ServerError::NicDevice {
            device: device.to_string(),
            message: e.to_string(),
            existing: device_names(root).join(","),
        })?;
        Ok(NicObserved {
            device: device.to_string(),
            queues,
            irqbalance: irqbalance_pids(root),
        })
    }
}

/// The CPUs that take at least one of the queue interrupts (vectors whose affinity is unknown count for none).
pub fn irq_cpus(queues: &[QueueAffinity]) -> CpuSet {
    CpuSet::new(
        queues
            .iter()
            .flat_map(|q| q.cpus.iter().flat_map(CpuSet::iter)),
    )
}

/// The shard CPUs for `nic`: `requested` within `allowed` (as without a NIC), then kept (`align`) or dropped
/// (`avoid`) where `queues` deliver interrupts; one shard per CPU, ascending. An empty result is an error
/// naming the device, the interrupt CPUs and the allowed CPUs.
pub fn shard_cpus(
    allowed: &[usize],
    requested: &CpuList,
    queues: &[QueueAffinity],
    nic: &NicConfig,
) -> Result<Vec<usize>, ServerError> {
    let base = placement::shard_cpus(allowed, requested)?;
    let irq = irq_cpus(queues);
    let takes_irq = |cpu: usize| u32::try_from(cpu).is_ok_and(|c| irq.contains(c));
    let cpus: Vec<usize> = base
        .iter()
        .copied()
        .filter(|&cpu| takes_irq(cpu) == (nic.mode == NicMode::Align))
        .collect();
    if !cpus.is_empty() {
        return Ok(cpus);
    }
    let base_list = CpuList::List(base).to_string();
    let fix = match nic.mode {
        NicMode::Align => format!(
            "move the queue interrupts onto shard CPUs (pincore-tuner nic apply --dev {} --cpus {base_list}), widen shards.cpus or the affinity mask, or use mode avoid",
            nic.device
        ),
        NicMode::Avoid => format!(
            "move the queue interrupts off some of these CPUs (pincore-tuner nic apply --dev {} --cpus LIST), widen shards.cpus or the affinity mask, or use mode align",
            nic.device
        ),
    };
    Err(ServerError::NicNoCpus {
        device: nic.device.clone(),
        mode: nic.mode.to_string(),
        irq_cpus: if irq.is_empty() {
            "none known".into()
        } else {
            irq.to_list()
        },
        allowed: base_list,
        fix,
    })
}

/// The findings for running shards on `shards` with the device as `observed`, in `mode`.
pub fn findings(observed: &NicObserved, mode: NicMode, shards: &[usize]) -> Vec<Finding> {
    let device = &observed.device;
    let shard_set = CpuSet::new(shards.iter().filter_map(|&c| u32::try_from(c).ok()));
    let mut out = Vec::new();
    let misplaced: Vec<String> = observed
        .queues
        .iter()
        .filter_map(|q| {
            let cpus = q.cpus.as_ref()?;
            let wrong = match mode {
                NicMode::Align => cpus.difference(&shard_set),
                NicMode::Avoid => cpus.intersection(&shard_set),
            };
            (!wrong.is_empty()).then(|| {
                format!(
                    "queue {} (IRQ {} {}) on CPUs [{}]",
                    q.vector.queue,
                    q.vector.irq,
                    q.vector.name,
                    wrong.to_list()
                )
            })
        })
        .collect();
    if !misplaced.is_empty() {
        let (what, fix) = match mode {
            NicMode::Align => (
                format!(
                    "{device} delivers queue interrupts to CPUs with no shard: {}; those connections' packets and their shard meet on different CPUs",
                    misplaced.join(", ")
                ),
                format!(
                    "pin the queues to the shard CPUs: pincore-tuner nic apply --dev {device} --cpus {shard_set}"
                ),
            ),
            NicMode::Avoid => (
                format!(
                    "{device} delivers queue interrupts to shard CPUs: {}; interrupts and softirq work steal time from those shards",
                    misplaced.join(", ")
                ),
                format!(
                    "move the queues to CPUs without shards: pincore-tuner nic apply --dev {device} --cpus LIST (CPUs outside {shard_set})"
                ),
            ),
        };
        out.push(Finding {
            severity: Severity::Warning,
            what,
            fix,
        });
    }
    let unknown: Vec<String> = observed
        .queues
        .iter()
        .filter(|q| q.cpus.is_none())
        .map(|q| q.vector.irq.to_string())
        .collect();
    if !unknown.is_empty() {
        out.push(Finding {
            severity: Severity::Warning,
            what: format!(
                "the kernel does not show where {device}'s IRQs {} are delivered; shard placement ignored them",
                unknown.join(",")
            ),
            fix: "check /proc/irq/N/smp_affinity_list (run as root), or set shards.cpus by hand".into(),
        });
    }
    if !observed.irqbalance.is_empty() {
        let irqs: Vec<u32> = observed.queues.iter().map(|q| q.vector.irq).collect();
        let pids: Vec<String> = observed.irqbalance.iter().map(u32::to_string).collect();
        out.push(Finding {
            severity: Severity::Warning,
            what: format!(
                "irqbalance is running (pid {}) and will move {device}'s queue interrupts, undoing shards.nic mode {mode}",
                pids.join(",")
            ),
            fix: irqbalance_advice(&irqs, &shard_set),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincore_tuner::nic::discovery::{Vector, VectorKind};

    fn queue(irq: u32, cpus: Option<&str>) -> QueueAffinity {
        QueueAffinity {
            vector: Vector {
                irq,
                name: format!("eth0-TxRx-{}", irq - 100),
                kind: VectorKind::Combined,
                queue: irq - 100,
            },
            cpus: cpus.map(|c| CpuSet::parse_list(c).unwrap()),
        }
    }

    fn nic(mode: NicMode) -> NicConfig {
        NicConfig {
            device: "eth0".into(),
            mode,
        }
    }

    /// Queues 0-3 on CPUs 0, 1, 2 and 3 of an 8-CPU host.
    fn four_queues() -> Vec<QueueAffinity> {
        (0..4)
            .map(|i| queue(100 + i, Some(&i.to_string())))
            .collect()
    }

    const EIGHT: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

    #[test]
    fn align_keeps_the_cpus_that_take_queue_interrupts() {
        let cpus = shard_cpus(&EIGHT, &CpuList::All, &four_queues(), &nic(NicMode::Align));
        assert_eq!(cpus.unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn avoid_keeps_the_cpus_that_take_none() {
        let cpus = shard_cpus(&EIGHT, &CpuList::All, &four_queues(), &nic(NicMode::Avoid));
        assert_eq!(cpus.unwrap(), vec![4, 5, 6, 7]);
    }

    #[test]
    fn both_modes_intersect_with_the_mask_and_the_configured_cpus() {
        let requested = CpuList::List(vec![1, 3, 5, 9]);
        let allowed = [1, 2, 3, 4, 5];
        let queues = four_queues();
        assert_eq!(
            shard_cpus(&allowed, &requested, &queues, &nic(NicMode::Align)).unwrap(),
            vec![1, 3]
        );
        assert_eq!(
            shard_cpus(&allowed, &requested, &queues, &nic(NicMode::Avoid)).unwrap(),
            vec![5]
        );
    }

    #[test]
    fn an_irq_on_several_cpus_counts_for_each_and_unknown_affinity_for_none() {
        let queues = vec![queue(100, Some("2-3")), queue(101, None)];
        assert_eq!(
            shard_cpus(&EIGHT, &CpuList::All, &queues, &nic(NicMode::Align)).unwrap(),
            vec![2, 3]
        );
    }

    #[test]
    fn align_with_no_common_cpu_is_an_error_naming_device_irq_and_allowed_cpus() {
        let err = shard_cpus(&[4, 5], &CpuList::All, &four_queues(), &nic(NicMode::Align))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("eth0") && err.contains("[0-3]") && err.contains("[4,5]"),
            "{err}"
        );
        assert!(err.contains("--cpus 4,5"), "{err}");
    }

    #[test]
    fn avoid_with_every_cpu_taking_interrupts_is_an_error() {
        let err = shard_cpus(&[0, 1], &CpuList::All, &four_queues(), &nic(NicMode::Avoid))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode avoid") && err.contains("[0,1]"), "{err}");
    }

    #[test]
    fn a_device_without_queue_interrupts_cannot_be_aligned_with() {
        let err = shard_cpus(&EIGHT, &CpuList::All, &[], &nic(NicMode::Align))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none known"), "{err}");
        assert_eq!(
            shard_cpus(&EIGHT, &CpuList::All, &[], &nic(NicMode::Avoid)).unwrap(),
            EIGHT.to_vec()
        );
    }

    fn observed(queues: Vec<QueueAffinity>, irqbalance: Vec<u32>) -> NicObserved {
        NicObserved {
            device: "eth0".into(),
            queues,
            irqbalance,
        }
    }

    #[test]
    fn findings_name_queues_outside_the_shards_when_aligning() {
        let seen = observed(vec![queue(100, Some("0")), queue(101, Some("0-5"))], vec![]);
        let f = findings(&seen, NicMode::Align, &[0, 1]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].what.contains("IRQ 101") && f[0].what.contains("[2-5]"),
            "{}",
            f[0].what
        );
        assert!(!f[0].what.contains("IRQ 100"), "{}", f[0].what);
        assert!(f[0].fix.contains("--dev eth0 --cpus 0-1"), "{}", f[0].fix);
        assert!(findings(&seen, NicMode::Align, &[0, 1, 2, 3, 4, 5]).is_empty());
    }

    #[test]
    fn findings_name_queues_on_shard_cpus_when_avoiding() {
        let seen = observed(vec![queue(100, Some("0")), queue(101, Some("6"))], vec![]);
        let f = findings(&seen, NicMode::Avoid, &[4, 5, 6, 7]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].what.contains("IRQ 101") && !f[0].what.contains("IRQ 100"));
        assert!(findings(&seen, NicMode::Avoid, &[2, 3]).is_empty());
    }

    #[test]
    fn irqbalance_and_unknown_affinity_are_reported_with_their_fix() {
        let seen = observed(vec![queue(100, Some("0")), queue(101, None)], vec![812]);
        let f = findings(&seen, NicMode::Align, &[0]);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].what.contains("101"));
        assert!(f[1].what.contains("812"));
        assert!(
            f[1].fix.contains("--banirq=100 --banirq=101")
                && f[1].fix.contains("IRQBALANCE_BANNED_CPULIST=0"),
            "{}",
            f[1].fix
        );
    }

    fn fixture_root() -> &'static Path {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tuner/tests/fixtures/nic/host"
        ))
    }

    #[test]
    fn reads_a_fixture_host_through_the_tuner_library() {
        // eth0 in the fixture: an ixgbe with four -TxRx- queue vectors (IRQs 120-123), all on CPUs 0-15.
        let seen = NicObserved::read(fixture_root(), "eth0").unwrap();
        let irqs: Vec<u32> = seen.queues.iter().map(|q| q.vector.irq).collect();
        assert_eq!(irqs, vec![120, 121, 122, 123]);
        let allowed: Vec<usize> = (0..20).collect();
        assert_eq!(
            shard_cpus(&allowed, &CpuList::All, &seen.queues, &nic(NicMode::Align)).unwrap(),
            (0..16).collect::<Vec<_>>()
        );
        assert_eq!(
            shard_cpus(&allowed, &CpuList::All, &seen.queues, &nic(NicMode::Avoid)).unwrap(),
            vec![16, 17, 18, 19]
        );
    }

    #[test]
    fn a_missing_device_is_named_with_the_devices_that_exist() {
        let err = NicObserved::read(fixture_root(), "eth9")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"eth9\"") && err.contains("[enp59s0f0np0,enp59s0f1np1,ens3,eth0]"),
            "{err}"
        );
    }
}
