//! One server's shards over one interval, from two scrapes of its `/metrics` (pure): rates are counter deltas
//! over the interval, percentiles come from the deltas of each shard's latency histogram buckets (this
//! interval's requests only, not since start).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::prom::Scrape;

/// The series read, as pincore-server exports them (a test compares this list with a real scrape).
pub const SERIES: &[&str] = &[
    "pincore_shard_info",
    "pincore_executor_busy_seconds_total",
    "pincore_commands_total",
    "pincore_command_group_info",
    "pincore_shard_command_duration_seconds_bucket",
    "pincore_connections_open",
    "pincore_connections_accepted_total",
    "pincore_connections_rejected_total",
    "pincore_received_bytes_total",
    "pincore_sent_bytes_total",
    "pincore_mesh_messages_sent_total",
    "pincore_service_stalls_total",
];

/// One shard over the interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShardRow {
    pub shard: u32,
    /// The CPU it is pinned to.
    pub cpu: Option<u32>,
    /// Share of the interval its executor was busy (running tasks or polling for I/O), 0..1.
    pub cpu_busy: f64,
    /// RESP commands per second, all families.
    pub requests_per_sec: f64,
    /// Commands per second by family (Redis's COMMAND DOCS group: string, hash, list, ...).
    pub requests_per_sec_by_family: BTreeMap<String, f64>,
    /// Median and 99th percentile command latency over the interval, in milliseconds (None: no commands).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Connections open now, all services.
    pub connections_open: u64,
    pub accepted_per_sec: f64,
    /// Connections closed at accept per second, by reason (max_connections, per_ip, ...).
    pub rejected_per_sec: BTreeMap<String, f64>,
    pub bytes_in_per_sec: f64,
    pub bytes_out_per_sec: f64,
    /// Requests sent to other shards over the channel mesh, per second.
    pub mesh_messages_per_sec: f64,
    /// Stalls (a poll holding the shard past 100 ms) during the interval.
    pub stalls: u64,
}

impl ShardRow {
    /// Connections rejected per second, all reasons.
    pub fn rejected_total(&self) -> f64 {
        self.rejected_per_sec.values().sum()
    }
}

/// Builds every shard's row from the scrapes `before` and `after`, `seconds` apart.
pub fn shard_rows(before: &Scrape, after: &Scrape, seconds: f64) -> Vec<ShardRow> {
    let seconds = seconds.max(1e-3);
    let mut rows: BTreeMap<u32, ShardRow> = BTreeMap::new();
    for s in after.series("pincore_shard_info") {
        if let Ok(shard) = s.label("shard").parse::<u32>() {
            let row = rows.entry(shard).or_default();
            row.shard = shard;
            row.cpu = s.label("cpu").parse().ok();
        }
    }
    let groups: BTreeMap<&str, &str> = after
        .series("pincore_command_group_info")
        .map(|s| (s.label("command"), s.label("group")))
        .collect();
    // Per-shard counter deltas of `name`, each with the labels that distinguish it.
    let deltas = |name: &'static str| {
        let old: BTreeMap<_, f64> = before
            .series(name)
            .map(|s| (s.labels.clone(), s.value))
            .collect();
        after
            .series(name)
            .filter_map(move |s| {
                let shard = s.label("shard").parse::<u32>().ok()?;
                // A counter that went down means the server restarted: count from zero.
                let then = old.get(&s.labels).copied().unwrap_or(0.0);
                let delta = if s.value >= then {
                    s.value - then
                } else {
                    s.value
                };
                Some((shard, s, delta))
            })
            .collect::<Vec<_>>()
    };
    for (shard, _, d) in deltas("pincore_executor_busy_seconds_total") {
        rows.entry(shard).or_default().cpu_busy = (d / seconds).min(1.0);
    }
    for (shard, s, d) in deltas("pincore_commands_total") {
        let row = rows.entry(shard).or_default();
        row.requests_per_sec += d / seconds;
        let group = groups.get(s.label("command")).copied().unwrap_or("other");
        *row.requests_per_sec_by_family
            .entry(group.to_string())
            .or_default() += d / seconds;
    }
    for s in after.series("pincore_connections_open") {
        if let Ok(shard) = s.label("shard").parse::<u32>() {
            rows.entry(shard).or_default().connections_open += s.value as u64;
        }
    }
    for (shard, _, d) in deltas("pincore_connections_accepted_total") {
        rows.entry(shard).or_default().accepted_per_sec += d / seconds;
    }
    for (shard, s, d) in deltas("pincore_connections_rejected_total") {
        *rows
            .entry(shard)
            .or_default()
            .rejected_per_sec
            .entry(s.label("reason").to_string())
            .or_default() += d / seconds;
    }
    for (shard, _, d) in deltas("pincore_received_bytes_total") {
        rows.entry(shard).or_default().bytes_in_per_sec += d / seconds;
    }
    for (shard, _, d) in deltas("pincore_sent_bytes_total") {
        rows.entry(shard).or_default().bytes_out_per_sec += d / seconds;
    }
    for (shard, _, d) in deltas("pincore_mesh_messages_sent_total") {
        rows.entry(shard).or_default().mesh_messages_per_sec += d / seconds;
    }
    for (shard, _, d) in deltas("pincore_service_stalls_total") {
        rows.entry(shard).or_default().stalls += d as u64;
    }
    let mut buckets: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    for (shard, s, d) in deltas("pincore_shard_command_duration_seconds_bucket") {
        let le = match s.label("le") {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or(f64::INFINITY),
        };
        buckets.entry(shard).or_default().push((le, d));
    }
    for (shard, mut b) in buckets {
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        let row = rows.entry(shard).or_default();
        row.p50_ms = quantile(&b, 0.5).map(|s| s * 1e3);
        row.p99_ms = quantile(&b, 0.99).map(|s| s * 1e3);
    }
    rows.into_iter()
        .map(|(shard, mut row)| {
            row.shard = shard;
            row
        })
        .collect()
}

/// The `q` quantile of cumulative buckets `(upper bound, count)` sorted by bound, interpolated linearly
/// inside the bucket it falls in, as Prometheus's `histogram_quantile` does (a quantile in the `+Inf`
/// bucket is the highest finite bound). None when the buckets counted nothing.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            let fraction = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (bound - lower) * fraction);
        }
        (lower, below) = (bound, count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let b = [(0.001, 50.0), (0.01, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&b, 0.5), Some(0.001));
        let p75 = quantile(&b, 0.75).unwrap();
        assert!((p75 - 0.0055).abs() < 1e-12, "{p75}");
        assert_eq!(quantile(&[(0.001, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
        assert_eq!(
            quantile(&[(0.001, 0.0), (f64::INFINITY, 4.0)], 0.5),
            Some(0.001)
        );
    }

    #[test]
    fn rates_are_deltas_over_the_interval_by_shard_and_family() {
        let before = Scrape::parse(
            "pincore_shard_info{shard=\"0\",cpu=\"3\"} 1\n\
             pincore_commands_total{command=\"get\",shard=\"0\"} 100\n\
             pincore_commands_total{command=\"get\",shard=\"total\"} 100\n\
             pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"0.001\"} 10\n\
             pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"0.01\"} 10\n\
             pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"+Inf\"} 10\n\
             pincore_connections_rejected_total{service=\"resp\",reason=\"per_ip\",shard=\"0\"} 1\n",
        )
        .unwrap();
        let after = Scrape::parse(
            "pincore_shard_info{shard=\"0\",cpu=\"3\"} 1\n\
             pincore_command_group_info{command=\"get\",group=\"string\",shard=\"0\"} 1\n\
             pincore_commands_total{command=\"get\",shard=\"0\"} 300\n\
             pincore_commands_total{command=\"ping\",shard=\"0\"} 20\n\
             pincore_commands_total{command=\"get\",shard=\"total\"} 300\n\
             pincore_executor_busy_seconds_total{shard=\"0\"} 1.0\n\
             pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"0.001\"} 10\n\
             pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"0.01\"} 210\n\
             pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"+Inf\"} 210\n\
             pincore_connections_rejected_total{service=\"resp\",reason=\"per_ip\",shard=\"0\"} 5\n\
             pincore_connections_open{service=\"resp\",shard=\"0\"} 7\n",
        )
        .unwrap();
        let rows = shard_rows(&before, &after, 2.0);
        assert_eq!(rows.len(), 1, "the total pseudo-shard is not a shard");
        let r = &rows[0];
        assert_eq!((r.shard, r.cpu), (0, Some(3)));
        assert_eq!(r.requests_per_sec, 110.0);
        assert_eq!(r.requests_per_sec_by_family["string"], 100.0);
        assert_eq!(r.requests_per_sec_by_family["other"], 10.0);
        assert_eq!(r.cpu_busy, 0.5);
        assert_eq!(r.rejected_per_sec["per_ip"], 2.0);
        assert_eq!(r.connections_open, 7);
        // 200 commands this interval, all between 1 and 10 ms: the median is mid-bucket.
        assert!((r.p50_ms.unwrap() - 5.5).abs() < 1e-9, "{:?}", r.p50_ms);
    }
}
