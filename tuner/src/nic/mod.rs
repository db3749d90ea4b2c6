//! NIC affinity: which CPUs take a device's interrupts and run its receive and transmit work.
//!
//! [`discovery`] reads the device (queues, queue vectors, NUMA locality) and the host's CPUs;
//! [`placement`] decides, purely, the IRQ affinity, RPS, RFS and XPS values and compares them with the
//! kernel; the plan is applied through the same recorded, read-back, restore-on-failure path as sysctls
//! ([`crate::apply`]), with its own state file so `nic rollback` and `rollback` undo one thing each.

mod commands;
pub mod discovery;
pub mod placement;

use std::path::Path;

use crate::error::{Error, Result};

pub use crate::cpuset::CpuSet;
pub use commands::{change_table, NicApplyReport, NicRollbackReport, NicVerification};
pub use discovery::{device_names, discover, interrupt_counts, InterruptCounts, Nic, Topology};
pub use placement::{place, plan, NicChange, NicPlan, NicRequest, Placement};

/// Where one queue's interrupt is delivered now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueAffinity {
    pub vector: discovery::Vector,
    /// The CPUs in `/proc/irq/N/smp_affinity_list`; `None` when the kernel does not show it.
    pub cpus: Option<CpuSet>,
}

/// The CPUs that take each of `device`'s queue interrupts now, in queue order: what a thread-per-core
/// server aligns its shards with (or avoids).
pub fn queue_affinity(root: &Path, device: &str) -> Result<Vec<QueueAffinity>> {
    let nic = discover(root, device)?;
    nic.vectors
        .into_iter()
        .map(|vector| {
            let path = root.join(format!("proc/irq/{}/smp_affinity_list", vector.irq));
            let what = "an IRQ's smp_affinity_list (a regular file under ROOT/proc/irq)";
            let cpus = match crate::sysctl::read_value(&path, what)? {
                Some(text) => Some(CpuSet::parse_list(&text).map_err(|why| Error::Parse {
                    path: path.clone(),
                    line: 1,
                    why,
                })?),
                None => None,
            };
            Ok(QueueAffinity { vector, cpus })
        })
        .collect()
}

/// Process ids of running `irqbalance` daemons, from `ROOT/proc/PID/comm`.
pub fn irqbalance_pids(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(root.join("proc")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == "irqbalance").then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// How to keep irqbalance from undoing a placement, in words an operator can paste.
pub fn irqbalance_advice(irqs: &[u32], cpus: &CpuSet) -> String {
    let banirq: Vec<String> = irqs.iter().map(|i| format!("--banirq={i}")).collect();
    format!(
        "irqbalance rebalances every 10 s and would move these interrupts back. Either stop it \
         (systemctl disable --now irqbalance), or make it leave them alone and rerun with --allow-irqbalance: \
         in /etc/default/irqbalance set IRQBALANCE_ARGS=\"{}\" (the IRQs placed here) and \
         IRQBALANCE_BANNED_CPULIST={cpus} (keeps other interrupts off these CPUs; irqbalance before 1.8 takes \
         IRQBALANCE_BANNED_CPUS={} instead), then restart irqbalance",
        banirq.join(" "),
        cpus.to_mask_like("0")
    )
}

/// Gives this process the sysfs of the network namespace it has entered, as `ip netns exec` does.
///
/// A sysfs mount shows the network devices of the namespace that mounted it, so after `setns` alone
/// `/sys/class/net` still lists the host's devices, and a write there would tune the host's NIC. This
/// moves the process into a private mount namespace (nothing outside sees it) and mounts a fresh sysfs on
/// `/sys`. Call it single-threaded, after entering the network namespace.
pub fn use_namespace_sysfs(netns: &str) -> Result<()> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    let fail = |what: &str, e: nix::errno::Errno| Error::Netns {
        name: netns.to_string(),
        message: format!("{what}: {e} (run as root)"),
    };
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| fail("unshare(CLONE_NEWNS)", e))?;
    // Keep mount events from flowing back to the host's mount namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| fail("making / a slave mount", e))?;
    match umount2("/sys", MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(fail("unmounting /sys", e)),
    }
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| fail("mounting the namespace's sysfs", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_affinity_reads_the_current_cpus_of_queue_vectors_only() {
        let root = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nic/host"
        ));
        let now = queue_affinity(root, "eth0").unwrap();
        let irqs: Vec<u32> = now.iter().map(|q| q.vector.irq).collect();
        assert_eq!(irqs, vec![120, 121, 122, 123]);
        assert!(now
            .iter()
            .all(|q| q.cpus.as_ref().map(CpuSet::to_list).as_deref() == Some("0-15")));
    }

    #[test]
    fn irqbalance_is_found_by_comm() {
        let dir = tempfile::tempdir().unwrap();
        for (pid, comm) in [
            ("1", "init\n"),
            ("812", "irqbalance\n"),
            ("900", "irqbalancer\n"),
        ] {
            std::fs::create_dir_all(dir.path().join("proc").join(pid)).unwrap();
            std::fs::write(dir.path().join("proc").join(pid).join("comm"), comm).unwrap();
        }
        assert_eq!(irqbalance_pids(dir.path()), vec![812]);
        assert!(irqbalance_pids(&dir.path().join("nope")).is_empty());
    }

    #[test]
    fn advice_names_irqs_and_cpus() {
        let advice = irqbalance_advice(&[101, 102], &CpuSet::parse_list("8-15").unwrap());
        assert!(
            advice.contains("IRQBALANCE_ARGS=\"--banirq=101 --banirq=102\""),
            "{advice}"
        );
        assert!(
            advice.contains("IRQBALANCE_BANNED_CPULIST=8-15"),
            "{advice}"
        );
        assert!(advice.contains("IRQBALANCE_BANNED_CPUS=ff00"), "{advice}");
    }
}
