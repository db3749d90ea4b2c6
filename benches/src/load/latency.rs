//! Latency histograms (HdrHistogram, nanoseconds, 3 significant digits) and the percentiles reported.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Longest latency a histogram holds: one minute; longer values are recorded as one minute.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A histogram of latencies in nanoseconds, 1 ns to one minute, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy new_with_bounds's preconditions (low >= 1, high >= 2 * low,
    // sigfig <= 5), so it cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

/// Records `ns`, clamped into the histogram's range (a value is never dropped).
pub fn record(histogram: &mut Histogram<u64>, ns: u64) {
    histogram.saturating_record(ns.clamp(1, MAX_LATENCY_NS));
}

/// The latency summary every report carries, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Percentiles {
    /// Percentiles of `histogram` (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles {
            p50_us: us(histogram.value_at_quantile(0.50)),
            p90_us: us(histogram.value_at_quantile(0.90)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
            mean_us: histogram.mean() / 1000.0,
        }
    }

    /// The five reported points in order, for tables and charts.
    /// Two lines for a report block: `label` and the points' names, then their values in human units, each
    /// in a column of 9 (the label column is 12 wide, indented by 2).
    pub fn human_rows(&self, label: &str) -> String {
        let points = self.points();
        let mut names = format!("  {label:<12}");
        let mut values = format!("  {:<12}", "");
        for (name, us) in points {
            names.push_str(&format!("{name:>9} "));
            values.push_str(&format!("{:>9} ", human(us)));
        }
        format!("{}\n{}\n", names.trim_end(), values.trim_end())
    }

    pub fn points(&self) -> [(&'static str, f64); 5] {
        [
            ("p50", self.p50_us),
            ("p90", self.p90_us),
            ("p99", self.p99_us),
            ("p99.9", self.p999_us),
            ("max", self.max_us),
        ]
    }
}

/// A latency in microseconds written for people: `87µs`, `1.25ms`, `3.07s`.
pub fn human(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram();
        for ns in 1..=1000u64 {
            record(&mut h, ns * 1000);
        }
        let p = Percentiles::of(&h);
        assert!((p.p50_us - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99_us - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max_us - 1000.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= MAX_LATENCY_NS - MAX_LATENCY_NS / 1000);
        assert_eq!(Percentiles::of(&histogram()), Percentiles::default());
    }

    #[test]
    fn human_units() {
        assert_eq!(human(87.2), "87µs");
        assert_eq!(human(1250.0), "1.25ms");
        assert_eq!(human(3_070_000.0), "3.07s");
    }
}
