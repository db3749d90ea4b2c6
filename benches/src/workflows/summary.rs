//! One load run reduced to what `compare` reports, whichever client made it: pincore-bench's own
//! [`RunReport`] or redis-benchmark's CSV (`redis_benchmark.rs`).

use serde::{Deserialize, Serialize};

use crate::load::latency::Percentiles;
use crate::load::report::RunReport;

/// One run, reduced to what the comparison reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub rate: f64,
    pub failures: u64,
    pub latency_us: Percentiles,
    /// Every request answered in the run, warm-up included (the CPU time below is divided by it).
    #[serde(default)]
    pub all_requests: u64,
    /// The server's CPU time (user + system, all threads, from /proc/PID/stat) over the whole run, in µs per
    /// request of `all_requests`; `null` when the server's process could not be read.
    #[serde(default)]
    pub server_cpu_us_per_request: Option<f64>,
}

impl RunSummary {
    /// A pincore-bench run; the server's CPU time is filled in by whoever measured it.
    pub fn of(report: &RunReport) -> RunSummary {
        RunSummary {
            rate: report.rate,
            failures: report.counters.failures(),
            latency_us: report.latency_us,
            all_requests: report.all_replies,
            server_cpu_us_per_request: None,
        }
    }
}
