//! Which CPUs the shards run on: the process affinity mask intersected with the configured list.
//!
//! glommio's `CpuSet::online()` reads `/sys/devices/system/cpu/online` and ignores the affinity mask, so under
//! `taskset`, a cgroup cpuset or Kubernetes' static CPU manager it could pin a shard to a CPU the process may
//! not use. The mask (`sched_getaffinity`, read by pincore-tuner's `CpuSet::allowed`) is the upper bound.

use glommio::{CpuSet, PoolPlacement};

use crate::config::CpuList;
use crate::error::ServerError;

/// The CPUs this process may run on, ascending (pincore-tuner's [`pincore_tuner::cpuset::CpuSet::allowed`]).
pub fn allowed_cpus() -> Result<Vec<usize>, ServerError> {
    pincore_tuner::cpuset::CpuSet::allowed()
        .map(|set| set.to_vec())
        .map_err(|e| ServerError::Affinity(e.to_string()))
}

/// The shard CPUs: `requested` intersected with `allowed`, one shard per CPU, ascending.
pub fn shard_cpus(allowed: &[usize], requested: &CpuList) -> Result<Vec<usize>, ServerError> {
    let cpus: Vec<usize> = match requested {
        CpuList::All => allowed.to_vec(),
        CpuList::List(list) => list
            .iter()
            .copied()
            .filter(|cpu| allowed.contains(cpu))
            .collect(),
    };
    if cpus.is_empty() {
        return Err(ServerError::NoCpus {
            allowed: CpuList::List(allowed.to_vec()).to_string(),
            requested: requested.to_string(),
        });
    }
    Ok(cpus)
}

/// A glommio placement pinning shard `i` to `cpus[i]` exactly.
pub fn pool_placement(cpus: &[usize]) -> Result<PoolPlacement, ServerError> {
    let online = CpuSet::online()
        .map_err(|e| ServerError::Executor(format!("cannot read the CPU topology: {e}")))?;
    let sets: Vec<CpuSet> = cpus
        .iter()
        .map(|&cpu| online.clone().filter(|l| l.cpu == cpu))
        .collect();
    if let Some(pos) = sets.iter().position(CpuSet::is_empty) {
        return Err(ServerError::NoCpus {
            allowed: "online CPUs".into(),
            requested: cpus[pos].to_string(),
        });
    }
    Ok(PoolPlacement::Custom(sets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_list_is_intersected_with_the_mask() {
        assert_eq!(
            shard_cpus(&[0, 1, 2], &CpuList::List(vec![1, 2, 7])).unwrap(),
            vec![1, 2]
        );
        assert_eq!(shard_cpus(&[0, 3], &CpuList::All).unwrap(), vec![0, 3]);
    }

    #[test]
    fn disjoint_request_is_an_error_naming_both_sets() {
        let err = shard_cpus(&[0, 1], &CpuList::List(vec![5]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[0,1]") && err.contains("[5]"), "{err}");
    }

    #[test]
    fn this_process_has_an_allowed_cpu() {
        assert!(!allowed_cpus().unwrap().is_empty());
    }
}
