//! The tuned benchmark's report: per scenario the two passes (defaults, profile), the table of what moved,
//! and one verdict saying what the profile bought there, by how much, or that it changed nothing or made
//! things worse. The same data is printed for people, written as `tuned.json` and drawn as `tuned.svg`.

use std::path::Path;

use pincore_cli::output::Human;
use pincore_cli::table::Table;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::load::latency;
use crate::load::report::group;
use crate::workflows::chart;
use crate::workflows::machine::Machine;
use crate::workflows::tuned::scenario::{Better, Measured, Metric, ScenarioName, Settings, Unit};

/// Changes smaller than this share of the larger value are this machine's noise: not called better or worse
/// in the table.
const TABLE_NOISE: f64 = 0.05;
/// A verdict needs more: one paired run on a shared machine.
const VERDICT_NOISE: f64 = 0.20;

/// The `tuned.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedReport {
    pub machine: Machine,
    pub profile: String,
    pub quick: bool,
    pub settings: Settings,
    pub scenarios: Vec<ScenarioResult>,
    /// What `pincore-tuner apply` printed for the client's and the server's namespace (first scenario).
    pub tuner_output: String,
    /// Every apply was rolled back before its namespaces were deleted.
    pub rolled_back: bool,
}

/// One scenario: both passes, the table rows and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: ScenarioName,
    pub description: String,
    /// Why the scenario did not run on this machine (`this kernel has no netem`); the passes are then empty.
    pub not_run: Option<String>,
    pub before: Option<Measured>,
    pub after: Option<Measured>,
    pub comparison: Vec<ComparisonRow>,
    pub verdict: String,
}

impl ScenarioResult {
    pub fn measured(
        name: ScenarioName,
        description: String,
        before: Measured,
        after: Measured,
    ) -> Self {
        ScenarioResult {
            comparison: comparison(&before, &after),
            verdict: verdict(name, &before, &after),
            name,
            description,
            not_run: None,
            before: Some(before),
            after: Some(after),
        }
    }

    pub fn not_run(name: ScenarioName, description: String, reason: String) -> Self {
        ScenarioResult {
            verdict: format!("{}: not run: {reason}", name.as_str()),
            name,
            description,
            not_run: Some(reason),
            before: None,
            after: None,
            comparison: Vec::new(),
        }
    }
}

/// One row of a scenario's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub metric: String,
    pub before: String,
    pub after: String,
    /// `÷28,500 better`, `+12% worse`, `same`; empty for settings.
    pub change: String,
}

fn show(m: &Metric) -> String {
    show_value(m.unit, m.value)
}

fn show_value(unit: Unit, v: f64) -> String {
    if v.is_nan() {
        return "?".into();
    }
    match unit {
        Unit::Count => group(v),
        Unit::Micros => latency::human(v),
        Unit::Mbit => format!("{v:.1}"),
    }
}

/// The settings first (what the profile changed), then every metric with its change.
pub fn comparison(b: &Measured, a: &Measured) -> Vec<ComparisonRow> {
    let mut rows: Vec<ComparisonRow> = b
        .settings
        .iter()
        .map(|(name, before)| ComparisonRow {
            metric: name.clone(),
            before: before.clone(),
            after: a
                .settings
                .iter()
                .find(|(n, _)| n == name)
                .map_or("?".into(), |(_, v)| v.clone()),
            change: String::new(),
        })
        .collect();
    for mb in &b.metrics {
        let Some(ma) = a.metrics.iter().find(|m| m.name == mb.name) else {
            continue;
        };
        rows.push(ComparisonRow {
            metric: mb.name.clone(),
            before: show(mb),
            after: show(ma),
            change: change(mb.value, ma.value, mb.better),
        });
    }
    rows
}

/// "÷28,500 better", "+12% worse", "same": judged only beyond [`TABLE_NOISE`].
pub fn change(b: f64, a: f64, better: Better) -> String {
    let shown = change_text(b, a);
    if shown == "same" || better == Better::Neither || b.is_nan() || a.is_nan() {
        return shown;
    }
    match judge(b, a, better, TABLE_NOISE) {
        Judged::Same => shown,
        Judged::Better => format!("{shown} better"),
        Judged::Worse => format!("{shown} worse"),
    }
}

#[derive(Debug, PartialEq)]
enum Judged {
    Better,
    Worse,
    Same,
}

fn judge(b: f64, a: f64, better: Better, noise: f64) -> Judged {
    if better == Better::Neither || (a - b).abs() <= noise * b.abs().max(a.abs()) {
        return Judged::Same;
    }
    let improved = match better {
        Better::Lower => a < b,
        _ => a > b,
    };
    if improved {
        Judged::Better
    } else {
        Judged::Worse
    }
}

/// How `after` compares with `before`: a factor when it moved more than twofold, a percentage otherwise.
pub fn change_text(b: f64, a: f64) -> String {
    if a == b {
        return "same".into();
    }
    if b.is_nan() || a.is_nan() {
        return String::new();
    }
    if b == 0.0 {
        return format!("0 → {}", group(a));
    }
    if a == 0.0 {
        return format!("{} → 0", group(b));
    }
    let ratio = a / b;
    if ratio >= 2.0 {
        format!("×{}", factor(ratio))
    } else if ratio <= 0.5 {
        format!("÷{}", factor(1.0 / ratio))
    } else {
        format!("{:+.0}%", (ratio - 1.0) * 100.0)
    }
}

fn factor(x: f64) -> String {
    if x >= 100.0 {
        group(x)
    } else {
        format!("{x:.1}")
    }
}

/// One sentence: what the profile bought in this scenario, by how much, or that it changed nothing or harmed.
pub fn verdict(name: ScenarioName, b: &Measured, a: &Measured) -> String {
    let find =
        |m: &Measured, pick: fn(&Metric) -> bool| m.metrics.iter().find(|x| pick(x)).cloned();
    let failed = |m: &Measured| find(m, |x| x.failures).map_or(0.0, |x| x.value);
    let (fb, fa) = (failed(b), failed(a));
    let Some(hb) = find(b, |x| x.headline) else {
        return format!("{}: nothing to compare", name.as_str());
    };
    let ha = a
        .metrics
        .iter()
        .find(|x| x.name == hb.name)
        .cloned()
        .unwrap_or_else(|| hb.clone());
    let numbers = format!(
        "{} {} → {} ({})",
        hb.name,
        show(&hb),
        show(&ha),
        change_text(hb.value, ha.value)
    );
    // What failed, when the scenario says (churn: `4368 AddrNotAvailable`).
    let kinds = |m: &Measured| {
        m.settings
            .iter()
            .find(|(k, v)| k == "errors" && v != "none")
            .map_or(String::new(), |(_, v)| format!(" ({v})"))
    };
    let failures = format!(
        "failures {}{} → {}{}",
        group(fb),
        kinds(b),
        group(fa),
        kinds(a)
    );
    let scenario = name.as_str();
    if fb > 0.0 && fa == 0.0 {
        return format!("{scenario}: {failures}, {numbers} — the profile fixes this");
    }
    if fa > fb {
        return format!("{scenario}: {failures}, {numbers} — worse with the profile");
    }
    let judged = match judge(hb.value, ha.value, hb.better, VERDICT_NOISE) {
        Judged::Better if fa < fb => {
            format!("{scenario}: {failures}, {numbers} — the profile helps, but failures remain")
        }
        Judged::Better => format!("{scenario}: {numbers} — the profile helps"),
        Judged::Worse => format!("{scenario}: {numbers} — worse with the profile"),
        Judged::Same => format!(
            "{scenario}: {numbers} — no change beyond noise ({:.0} %): {}",
            VERDICT_NOISE * 100.0,
            why_unchanged(name, b, a)
        ),
    };
    // Other numbers that moved beyond noise are named too, whichever way they moved.
    let others: Vec<String> = b
        .metrics
        .iter()
        .filter(|m| !m.headline && !m.failures)
        .filter_map(|mb| {
            let ma = a.metrics.iter().find(|m| m.name == mb.name)?;
            let word = match judge(mb.value, ma.value, mb.better, VERDICT_NOISE) {
                Judged::Same => return None,
                Judged::Better => "better",
                Judged::Worse => "worse",
            };
            Some(format!("{} {} → {} ({word})", mb.name, show(mb), show(ma)))
        })
        .collect();
    if others.is_empty() {
        judged
    } else {
        format!("{judged}; also {}", others.join(", "))
    }
}

/// What an unchanged scenario means: a profile that left this scenario's settings alone, or the physics of
/// why the ones it changed did not matter here.
fn why_unchanged(name: ScenarioName, b: &Measured, a: &Measured) -> String {
    if b.tunables().next().is_some() && b.tunables().eq(a.tunables()) {
        let keys: Vec<&str> = b.tunables().map(|(k, _)| k.as_str()).collect();
        return format!(
            "the profile changes none of the settings this scenario depends on ({})",
            keys.join(", ")
        );
    }
    match name {
        ScenarioName::PortExhaustion => "the client did not run out of ports with the defaults either",
        ScenarioName::ConnectionStorm => "the defaults' accept queues held this storm",
        ScenarioName::BulkLongFatPath | ScenarioName::BulkRateLimited => {
            "the path's bandwidth-delay product fits the buffers either way, so larger maxima have nothing to fill"
        }
        ScenarioName::LatencyBehindBulk => {
            "the requests still wait behind what the bulk flow keeps queued at the bottleneck"
        }
    }
    .to_string()
}

/// The report printed for people.
impl Human for TunedReport {
    fn human(&self, colour: bool) -> String {
        let mut out = format!("Machine: {}\n", self.machine.describe());
        out.push_str(&format!(
            "Client and server in two network namespaces joined by a veth pair, fresh for every pass; defaults, \
             then profile `{}` applied to both sides by pincore-tuner (then rolled back).{}\n\n",
            self.profile,
            if self.quick { " Quick run." } else { "" }
        ));
        let mut table = Table::new(&["scenario", "metric", "defaults", "profile", "change"])
            .align_right(&[2, 3]);
        for s in &self.scenarios {
            if let Some(reason) = &s.not_run {
                table.plain_row(vec![
                    s.name.as_str().to_string(),
                    format!("not run: {reason}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for row in &s.comparison {
                table.plain_row(vec![
                    s.name.as_str().to_string(),
                    row.metric.clone(),
                    row.before.clone(),
                    row.after.clone(),
                    row.change.clone(),
                ]);
            }
        }
        for s in &self.scenarios {
            out.push_str(&format!("{}: {}.\n", s.name.as_str(), s.description));
        }
        out.push('\n');
        out.push_str(&table.render(colour));
        out.push('\n');
        for s in &self.scenarios {
            out.push_str(&s.verdict);
            out.push('\n');
        }
        out
    }
}

/// Writes `tuned.json` and `tuned.svg` (one panel per scenario with latencies) into `dir`.
pub fn write_outputs(report: &TunedReport, dir: &Path) -> Result<()> {
    let json = dir.join("tuned.json");
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| BenchError::failed("tuned.json", e.to_string()))?;
    std::fs::write(&json, text)
        .map_err(|e| BenchError::io(format!("writing {}", json.display()), e))?;
    let panels: Vec<chart::Panel> = report
        .scenarios
        .iter()
        .filter_map(|s| {
            let before = s.before.as_ref()?.latency?;
            Some(chart::Panel {
                title: s.name.as_str().to_string(),
                before,
                after: s.after.as_ref().and_then(|a| a.latency),
            })
        })
        .collect();
    let title = format!(
        "pincore-bench tuned: defaults and profile `{}` over a veth path",
        report.profile
    );
    chart::before_after_svg(&dir.join("tuned.svg"), &title, &panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(failed: f64, p99: f64) -> Measured {
        Measured {
            metrics: vec![
                Metric {
                    name: "failed".into(),
                    value: failed,
                    unit: Unit::Count,
                    better: Better::Lower,
                    headline: false,
                    failures: true,
                },
                Metric {
                    name: "p99".into(),
                    value: p99,
                    unit: Unit::Micros,
                    better: Better::Lower,
                    headline: true,
                    failures: false,
                },
            ],
            settings: vec![("somaxconn".into(), "4096".into())],
            latency: None,
            raw: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_change_column_uses_factors_for_big_moves_and_judges_beyond_noise() {
        assert_eq!(change_text(1_030_000.0, 35.0), "÷29,429");
        assert_eq!(change_text(10.0, 35.0), "×3.5");
        assert_eq!(change_text(100.0, 92.0), "-8%");
        assert_eq!(change_text(903.0, 0.0), "903 → 0");
        assert_eq!(change_text(0.0, 0.0), "same");
        assert_eq!(change(100.0, 80.0, Better::Lower), "-20% better");
        assert_eq!(change(100.0, 80.0, Better::Higher), "-20% worse");
        assert_eq!(
            change(100.0, 103.0, Better::Higher),
            "+3%",
            "inside noise: not judged"
        );
        assert_eq!(change(100.0, 50.0, Better::Neither), "÷2.0");
    }

    #[test]
    fn verdicts_name_fixes_wins_harm_and_nothing() {
        let v = |b, a| verdict(ScenarioName::ConnectionStorm, &b, &a);
        let fixed = v(measured(903.0, 1_030_000.0), measured(0.0, 35.0));
        assert!(
            fixed.starts_with("connection-storm: failures 903 → 0, p99 1.03s → 35µs (÷29,429)"),
            "{fixed}"
        );
        assert!(fixed.ends_with("the profile fixes this"), "{fixed}");
        let helps = v(measured(0.0, 1000.0), measured(0.0, 100.0));
        assert!(helps.ends_with("the profile helps"), "{helps}");
        let worse = v(measured(0.0, 100.0), measured(0.0, 1000.0));
        assert!(worse.ends_with("worse with the profile"), "{worse}");
        let more_failures = v(measured(0.0, 100.0), measured(5.0, 10.0));
        assert!(more_failures.contains("failures 0 → 5"), "{more_failures}");
        assert!(
            more_failures.ends_with("worse with the profile"),
            "{more_failures}"
        );
        let mut raised = measured(0.0, 110.0);
        raised.settings[0].1 = "16384".into();
        let same = v(measured(0.0, 100.0), raised);
        assert!(
            same.contains("no change beyond noise (20 %): the defaults' accept queues"),
            "{same}"
        );
        assert!(!same.contains("also"), "{same}");
        // A profile that left the scenario's settings alone is said to, whatever the physics.
        let untouched = v(measured(0.0, 100.0), measured(0.0, 110.0));
        assert!(
            untouched.ends_with(
                "no change beyond noise (20 %): the profile changes none of the settings this scenario \
                 depends on (somaxconn)"
            ),
            "{untouched}"
        );

        // A headline that held still does not hide another number that moved.
        let mut p50_moved = measured(0.0, 110.0);
        p50_moved.metrics.push(Metric {
            name: "p50".into(),
            value: 10.0,
            unit: Unit::Micros,
            better: Better::Lower,
            headline: false,
            failures: false,
        });
        let mut p50_before = measured(0.0, 100.0);
        p50_before.metrics.push(Metric {
            value: 70.0,
            ..p50_moved.metrics[2].clone()
        });
        let v = v(p50_before, p50_moved);
        assert!(
            v.contains("no change beyond noise") && v.ends_with("; also p50 70µs → 10µs (better)"),
            "{v}"
        );
    }

    #[test]
    fn the_table_shows_settings_before_metrics() {
        let mut after = measured(0.0, 35.0);
        after.settings[0].1 = "16384".into();
        let rows = comparison(&measured(903.0, 1_030_000.0), &after);
        assert_eq!(rows[0].metric, "somaxconn");
        assert_eq!(
            (rows[0].before.as_str(), rows[0].after.as_str()),
            ("4096", "16384")
        );
        assert_eq!(rows[0].change, "");
        assert_eq!(rows[1].change, "903 → 0 better");
        assert_eq!(rows[2].change, "÷29,429 better");
    }
}
