//! The machine a benchmark ran on, reported with every figure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    pub kernel: String,
    pub memory_gib: u64,
}

impl Machine {
    /// Reads /proc (fields it cannot read are "unknown" or 0).
    pub fn detect() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| (kib + (1 << 19)) >> 20);
        Machine {
            cpu_model,
            cpus: crate::host::cpus::allowed_cpus().len(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            memory_gib,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), {} GiB, Linux {}",
            self.cpus, self.cpu_model, self.memory_gib, self.kernel
        )
    }
}
