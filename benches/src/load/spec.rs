//! What a load run is asked to do: target, requests, concurrency, pacing and timing, checked before it starts.
//! The generator runs it, the report carries it, and the workflows hand it to child runs as JSON.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::load::workload::Workload;

/// What to run: target, requests, concurrency, pacing and timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSpec {
    pub target: SocketAddr,
    pub workload: Workload,
    pub connections: usize,
    /// Closed loop: requests in flight per connection.
    pub pipeline: usize,
    /// Open loop: total requests per second over all connections; `None` for closed loop.
    pub rate: Option<f64>,
    pub threads: usize,
    /// CPUs the client threads are pinned to, round-robin; `None` leaves them to the scheduler.
    pub cpus: Option<Vec<usize>>,
    pub warmup: Duration,
    pub duration: Duration,
    /// A request without a reply for this long is a timeout (its connection is closed and reopened).
    pub timeout: Duration,
}

impl LoadSpec {
    /// Checks every setting, naming the flag that is wrong.
    pub fn validate(&self) -> Result<()> {
        self.workload
            .validate()
            .map_err(|m| BenchError::invalid("workload", m))?;
        let bad = |flag: &str, m: &str| Err(BenchError::invalid(flag, m));
        if self.connections == 0 {
            return bad("--connections", "must be at least 1");
        }
        if self.pipeline == 0 {
            return bad("--pipeline", "must be at least 1");
        }
        if self.threads == 0 {
            return bad("--threads", "must be at least 1");
        }
        if self.duration.is_zero() {
            return bad("--duration", "must be longer than zero");
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return bad("--rate", "must be a positive number of requests per second");
            }
        }
        if matches!(&self.cpus, Some(c) if c.is_empty()) {
            return bad("--cpus", "names no CPU");
        }
        Ok(())
    }
}
