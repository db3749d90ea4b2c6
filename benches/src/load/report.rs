//! A load run's result: the counters, the percentiles, the human table and the JSON document (one data
//! structure for both).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use pincore_cli::output::Human;
use serde::{Deserialize, Serialize};

use crate::load::latency::{self, Percentiles};
use crate::load::spec::LoadSpec;

/// Counts kept by every client thread over the measured window (warm-up excluded), then summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Replies received (error replies included).
    pub requests: u64,
    /// Replies that were errors (`-ERR`, HTTP 4xx/5xx).
    pub error_replies: u64,
    /// Requests without a reply within `--timeout` (their connection was reopened) or by the end.
    pub timeouts: u64,
    /// Connects that failed or timed out.
    pub connect_errors: u64,
    /// Connections closed by a read/write error, EOF or an unframeable reply.
    pub io_errors: u64,
    /// Requests in flight on a connection that failed.
    pub lost: u64,
    /// Requests sent again on a new connection because the server closed theirs cleanly between replies
    /// before answering them (a drain); not failures. Absent from reports older than this field: 0.
    #[serde(default)]
    pub resent: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.error_replies += other.error_replies;
        self.timeouts += other.timeouts;
        self.connect_errors += other.connect_errors;
        self.io_errors += other.io_errors;
        self.lost += other.lost;
        self.resent += other.resent;
    }

    /// Every failure counted: error replies, timeouts, connect and I/O errors, lost requests.
    pub fn failures(&self) -> u64 {
        self.error_replies + self.timeouts + self.connect_errors + self.io_errors + self.lost
    }
}

/// The result of one `run`: the `--json` document (stable field names, documented in README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub target: String,
    pub protocol: String,
    /// `closed` (fixed requests in flight) or `open` (fixed rate, latency from the intended send time).
    pub mode: String,
    pub connections: usize,
    pub pipeline: usize,
    pub threads: usize,
    /// CPUs the client threads were pinned to (`null`: not pinned).
    pub cpus: Option<Vec<usize>>,
    pub value_size: usize,
    /// Open loop: requests per second asked for (`null` in closed loop).
    pub target_rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Replies per second over the measured window.
    pub rate: f64,
    #[serde(flatten)]
    pub counters: Counters,
    /// Replies received over the whole run, warm-up and the final drain included: what a server's CPU time
    /// over the run is divided by.
    pub all_replies: u64,
    pub latency_us: Percentiles,
}

impl RunReport {
    pub fn new(
        spec: &LoadSpec,
        threads: usize,
        counters: Counters,
        all_replies: u64,
        histogram: &Histogram<u64>,
    ) -> RunReport {
        let duration_s = spec.duration.as_secs_f64();
        RunReport {
            target: spec.target.to_string(),
            protocol: spec.workload.protocol.to_string(),
            mode: if spec.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            connections: spec.connections,
            pipeline: spec.pipeline,
            threads,
            cpus: spec.cpus.clone(),
            value_size: spec.workload.value_size,
            target_rate: spec.rate,
            warmup_s: spec.warmup.as_secs_f64(),
            duration_s,
            rate: counters.requests as f64 / duration_s,
            counters,
            all_replies,
            latency_us: Percentiles::of(histogram),
        }
    }
}

/// The block printed for people.
impl Human for RunReport {
    fn human(&self, _colour: bool) -> String {
        let mut s = String::new();
        let pinned = match &self.cpus {
            Some(c) => format!(
                "pinned to CPUs {}",
                c.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => "not pinned".into(),
        };
        let _ = writeln!(
            s,
            "{} {} loop: {} connections, pipeline {}, {} threads {}, {} B values, {:.1} s after {:.1} s warm-up",
            self.target, self.mode, self.connections, self.pipeline, self.threads, pinned,
            self.value_size, self.duration_s, self.warmup_s
        );
        let rate = match self.target_rate {
            Some(t) => format!("{} req/s (target {})", group(self.rate), group(t)),
            None => format!("{} req/s", group(self.rate)),
        };
        let _ = writeln!(s, "  rate        {rate}");
        let _ = writeln!(s, "  requests    {}", group(self.counters.requests as f64));
        let c = &self.counters;
        let _ = writeln!(
            s,
            "  errors      {} error replies, {} timeouts, {} connect errors, {} I/O errors ({} requests lost)",
            c.error_replies, c.timeouts, c.connect_errors, c.io_errors, c.lost
        );
        let _ = writeln!(
            s,
            "  resent      {} (unanswered when the server closed between replies)",
            c.resent
        );
        let _ = writeln!(
            s,
            "  latency     {:>9} {:>9} {:>9} {:>9} {:>9}",
            "p50", "p90", "p99", "p99.9", "max"
        );
        let p = self.latency_us.points().map(|(_, v)| latency::human(v));
        let _ = writeln!(
            s,
            "              {:>9} {:>9} {:>9} {:>9} {:>9}",
            p[0], p[1], p[2], p[3], p[4]
        );
        s
    }
}

/// `1234567.8` as `1,234,568`.
pub fn group(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The live progress line: elapsed time, requests per second over the last interval, p99 so far.
pub fn progress_line(elapsed_s: f64, rate: f64, p99_us: f64) -> String {
    format!(
        "\r{elapsed_s:>5.1}s  {:>12} req/s  p99 so far {:>9}   ",
        group(rate),
        latency::human(p99_us)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0.0), "0");
        assert_eq!(group(999.4), "999");
        assert_eq!(group(1234567.8), "1,234,568");
    }
}
