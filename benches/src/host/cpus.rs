//! Which CPUs client threads are pinned to: a list written like `0-3,8`, or the process's affinity mask,
//! both read by pincore-tuner's `CpuSet` as the server and the tuner read them.

use pincore_tuner::cpuset::CpuSet;

use crate::error::{BenchError, Result};

/// Parses `0-3,8` into `[0, 1, 2, 3, 8]` (ascending, each CPU once).
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>> {
    CpuSet::parse_nonempty(text)
        .map(|set| set.to_vec())
        .map_err(|m| BenchError::invalid(format!("--cpus {text}"), m))
}

/// The CPUs this process may run on (its affinity mask), in order; every CPU the machine has when the mask
/// cannot be read.
pub fn allowed_cpus() -> Vec<usize> {
    CpuSet::allowed()
        .map(|set| set.to_vec())
        .unwrap_or_else(|_| {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_cpu_list("0-3,8").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x")
            .unwrap_err()
            .to_string()
            .contains("--cpus x"));
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn a_bad_list_reads_as_in_the_server_and_the_tuner() {
        for text in ["3-1", "0-x", "9000", ""] {
            let ours = parse_cpu_list(text).unwrap_err().to_string();
            let tuner = CpuSet::parse_nonempty(text).unwrap_err();
            assert!(ours.contains(&tuner), "{ours} / {tuner}");
        }
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }
}
