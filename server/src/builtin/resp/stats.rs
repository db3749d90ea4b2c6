//! What INFO's stats section counts from: every shard's counters as they are, less what they were at the
//! last CONFIG RESETSTAT. The counters themselves only grow (they are Prometheus counters too); RESETSTAT
//! records a baseline, shared by every shard, so INFO starts from zero again as Redis's does.

use std::collections::HashMap;
use std::sync::Mutex;

/// The totals at the last CONFIG RESETSTAT, by INFO field name.
#[derive(Default)]
pub struct Baseline(Mutex<HashMap<String, u64>>);

impl Baseline {
    /// Records `totals` (INFO field, total now) as the new zero.
    pub fn reset(&self, totals: &[(String, u64)]) {
        let mut baseline = self.0.lock().unwrap_or_else(|p| p.into_inner());
        baseline.clear();
        baseline.extend(totals.iter().cloned());
    }

    /// `total` of `field` counted since the last reset.
    pub fn since_reset(&self, field: &str, total: u64) -> u64 {
        let baseline = self.0.lock().unwrap_or_else(|p| p.into_inner());
        total.saturating_sub(baseline.get(field).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::Baseline;

    #[test]
    fn a_reset_starts_counting_from_zero() {
        let b = Baseline::default();
        assert_eq!(b.since_reset("total_commands_processed", 10), 10);
        b.reset(&[("total_commands_processed".to_string(), 10)]);
        assert_eq!(b.since_reset("total_commands_processed", 15), 5);
        assert_eq!(b.since_reset("expired_keys", 3), 3);
    }
}
