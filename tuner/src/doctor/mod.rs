//! `pincore-tuner doctor`: turns kernel counters into advice.
//!
//! Two [`Sample`]s are taken an interval apart (or read from two recorded trees); [`diagnose`] compares them
//! and returns [`Finding`]s, each with its evidence (counter deltas, not totals since boot), the knob to
//! change, the value to use and the built-in profile that sets it.

pub mod counters;
pub mod limits;
pub mod listeners;
pub mod rules;
pub mod sample;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use listeners::{Listener, ListenerSource};
pub use rules::{diagnose, Advice, Finding, Recommendation, Symptom};
pub use sample::Sample;

/// Where the two samples come from.
#[derive(Debug, Clone)]
pub enum Sampling {
    /// Read `root` twice, `interval` apart. `live` means root is the running kernel's `/` (listeners then
    /// come from netlink, which also shows backlogs).
    Interval {
        root: PathBuf,
        live: bool,
        interval: Duration,
    },
    /// Two recorded trees (such as copies of `/proc` taken a known time apart); nothing is waited for.
    Recorded {
        before: PathBuf,
        after: PathBuf,
        interval: Duration,
    },
}

/// What the doctor found, for people (its [`Human`](crate::report::Human) view) and machines (serde, `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub interval_secs: f64,
    pub healthy: bool,
    pub findings: Vec<Finding>,
    pub listener_source: Option<ListenerSource>,
    pub listeners: Vec<Listener>,
    /// Files and keys that do not exist here (global ones inside a network namespace, or an older kernel).
    pub not_visible: Vec<PathBuf>,
}

/// Entry point of `doctor`: samples, diagnoses and reports.
pub fn examine(sampling: &Sampling, advice: &Advice) -> crate::Result<Report> {
    let (before, after, interval) = match sampling {
        Sampling::Interval {
            root,
            live,
            interval,
        } => {
            let before = Sample::read(root, *live)?;
            std::thread::sleep(*interval);
            (before, Sample::read(root, *live)?, *interval)
        }
        Sampling::Recorded {
            before,
            after,
            interval,
        } => (
            Sample::read(before, false)?,
            Sample::read(after, false)?,
            *interval,
        ),
    };
    let findings = diagnose(&before, &after, interval, advice);
    Ok(Report {
        interval_secs: interval.as_secs_f64(),
        healthy: findings.is_empty(),
        findings,
        listener_source: after.listener_source,
        listeners: after.listeners.unwrap_or_default(),
        not_visible: after.not_visible,
    })
}

/// One sample judged on its own, for a start-up preflight that cannot wait an interval: limits, io_uring,
/// full accept queues and gauges such as TIME-WAIT near its limit (counter deltas need [`examine`]).
pub fn check_once(root: &Path, advice: &Advice) -> crate::Result<Report> {
    let sample = Sample::read(root, is_live_root(root))?;
    let findings = diagnose(&sample, &sample, Duration::ZERO, advice);
    Ok(Report {
        interval_secs: 0.0,
        healthy: findings.is_empty(),
        findings,
        listener_source: sample.listener_source,
        listeners: sample.listeners.unwrap_or_default(),
        not_visible: sample.not_visible,
    })
}

impl crate::report::Human for Report {
    /// The report as people read it: one block per finding, then what could not be seen.
    fn human(&self, _colour: bool) -> String {
        let mut out = String::new();
        let source = match self.listener_source {
            Some(ListenerSource::Netlink) => "listeners from sock_diag netlink",
            Some(ListenerSource::ProcNetTcp) => {
                "listeners from /proc/net/tcp (no backlogs visible)"
            }
            None => "listeners not visible",
        };
        let full = self.listeners.iter().filter(|l| l.is_full()).count();
        if self.healthy {
            let _ = writeln!(out, "healthy: no findings over {:.1}s", self.interval_secs);
        } else {
            let n = self.findings.len();
            let _ = writeln!(
                out,
                "{n} finding{} over {:.1}s",
                if n == 1 { "" } else { "s" },
                self.interval_secs
            );
        }
        let _ = writeln!(
            out,
            "{} listening sockets, {full} with a full accept queue ({source})",
            self.listeners.len()
        );
        for f in &self.findings {
            let _ = writeln!(out, "\n{:?}: {}", f.symptom, f.summary);
            for (i, e) in f.evidence.iter().enumerate() {
                let _ = writeln!(out, "  {:<9} {e}", if i == 0 { "evidence" } else { "" });
            }
            let current = f.current.as_deref().unwrap_or("not visible");
            let profile = f
                .profile
                .as_ref()
                .map(|p| format!("; `pincore-tuner apply {p}` sets it"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<9} {} = {} (now {current}{profile})",
                "set", f.knob, f.value
            );
            if let Some(note) = &f.note {
                let _ = writeln!(out, "  {:<9} {note}", "also");
            }
        }
        if !self.not_visible.is_empty() {
            let paths: Vec<String> = self
                .not_visible
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let _ = writeln!(out, "\nnot visible here: {}", paths.join(", "));
        }
        out
    }
}

/// Whether `root` is the running kernel's own root (netlink and setns then make sense).
pub fn is_live_root(root: &Path) -> bool {
    root == Path::new("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_sample_sees_limits_but_no_deltas() {
        let root = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/doctor/host"
        ));
        let report = check_once(root, &Advice::default()).unwrap();
        assert!(report.healthy, "{:?}", report.findings);
        assert_eq!(report.listeners.len(), 2);
    }
}
