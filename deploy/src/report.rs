//! Output for people (aligned tables) built from the same values that `--json` prints for machines.

use crate::plan::HostPlan;
use crate::rollout::{HostStatus, Summary};

/// Aligns `rows` under `headers` in columns two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = pincore_cli::table::Table::new(headers);
    for row in rows {
        t.plain_row(row.iter().cloned());
    }
    t.render(false)
}

fn short(release: &Option<String>) -> String {
    release.clone().unwrap_or_else(|| "-".into())
}

/// `plan`: one line per host with the steps and why.
pub fn plan(plans: &[HostPlan]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|p| {
            let steps: Vec<&str> = p.steps.iter().map(|s| s.as_str()).collect();
            vec![
                p.host.clone(),
                short(&p.from),
                p.to.clone(),
                if p.in_sync() {
                    "in sync".into()
                } else {
                    steps.join(", ")
                },
                p.reasons.join("; "),
            ]
        })
        .collect();
    table(&["HOST", "FROM", "TO", "STEPS", "WHY"], &rows)
}

/// The summary at the end of `apply` and `rollback`.
pub fn summary(summary: &Summary) -> String {
    let rows: Vec<Vec<String>> = summary
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.host.clone(),
                short(&h.from),
                short(&h.to),
                h.outcome.as_str().to_string(),
                format!("{:.1}s", h.seconds),
                h.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(&["HOST", "FROM", "TO", "RESULT", "TIME", "ERROR"], &rows);
    if summary.stopped {
        out.push_str(
            "rollout stopped: failures exceeded rollout.max_fail; skipped hosts were not touched\n",
        );
    }
    out
}

/// `status`: release, health, tuning and drift per host.
pub fn status(hosts: &[HostStatus]) -> String {
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            vec![
                h.host.clone(),
                short(&h.release)
                    + if h.current || h.release.is_none() {
                        ""
                    } else {
                        " (not the manifest's)"
                    },
                if !h.running {
                    "stopped".into()
                } else if h.healthy {
                    "healthy".into()
                } else {
                    "unhealthy".into()
                },
                h.tuning.as_str().to_string(),
                if h.drift.is_empty() {
                    "in sync".into()
                } else {
                    h.drift.join("; ")
                },
            ]
        })
        .collect();
    table(&["HOST", "RELEASE", "SERVER", "TUNING", "DRIFT"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let t = table(
            &["A", "LONG"],
            &[vec!["xyz".into(), "1".into()], vec!["q".into(), "".into()]],
        );
        assert_eq!(t, "A    LONG\nxyz  1\nq\n");
    }
}
