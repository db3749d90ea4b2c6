//! Output for people (aligned tables, colour only on a terminal) and for machines (`--json`), both from the
//! same data the commands return.

use std::fmt::Write as _;

use serde::Serialize;

use crate::apply::Applied;
use crate::persist::Override;
use crate::plan::{Action, Change, Plan};
use crate::profile::{FlatProfile, ProfileSummary};
use crate::tuned::TunedImport;
use crate::tuner::{ApplyReport, RollbackReport, Verification};

pub use pincore_cli::output::{render, Human};
use pincore_cli::table::{plain, Style, Table};

fn action_cell(a: Action) -> (String, Style) {
    let style = match a {
        Action::Change => Style::Yellow,
        Action::Ok => Style::Green,
        Action::Missing | Action::NotInNamespace | Action::ReadOnly => Style::Dim,
    };
    (a.as_str().to_string(), style)
}

fn or_dash(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

/// The list `profiles` prints.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ProfileList(pub Vec<ProfileSummary>);

impl Human for ProfileList {
    fn human(&self, colour: bool) -> String {
        let mut t = Table::new(&["PROFILE", "FROM", "DESCRIPTION"]);
        for p in &self.0 {
            let description = match &p.error {
                Some(e) => (format!("invalid: {e}"), Style::Red),
                None => plain(p.description.clone()),
            };
            t.row(vec![
                plain(p.name.clone()),
                plain(p.origin.clone()),
                description,
            ]);
        }
        t.render(colour)
    }
}

impl Human for FlatProfile {
    fn human(&self, colour: bool) -> String {
        let mut out = format!(
            "{}: {}\nincludes, in merge order: {}\n\n",
            self.name,
            self.description,
            self.chain.join(" → ")
        );
        let mut t = Table::new(&["KEY", "TARGET", "FROM", "WHY", "SOURCE"]);
        for e in &self.entries {
            t.row(vec![
                plain(e.key.to_string()),
                plain(e.target.to_string()),
                plain(e.from.clone()),
                plain(or_dash(e.why.as_deref())),
                plain(or_dash(e.source.as_deref())),
            ]);
        }
        out.push_str(&t.render(colour));
        out
    }
}

impl Human for Plan {
    fn human(&self, colour: bool) -> String {
        let mut t = Table::new(&["KEY", "CURRENT", "TARGET", "ACTION", "WHY"]);
        for c in &self.changes {
            let action = match (&c.write, c.action) {
                (Some(w), Action::Change) if *w != c.target.value => {
                    (format!("change → {w}"), Style::Yellow)
                }
                _ => action_cell(c.action),
            };
            let why = c.note.clone().or_else(|| c.why.clone());
            t.row(vec![
                plain(c.key.to_string()),
                plain(or_dash(c.current.as_deref())),
                plain(c.target.to_string()),
                action,
                plain(or_dash(why.as_deref())),
            ]);
        }
        let mut out = t.render(colour);
        let _ = writeln!(
            out,
            "\nprofile {}: {} to change, {} ok, {} missing, {} not visible in this namespace{}. Nothing was written.",
            self.profile,
            self.count(Action::Change),
            self.count(Action::Ok),
            self.count(Action::Missing),
            self.count(Action::NotInNamespace),
            match self.count(Action::ReadOnly) {
                0 => String::new(),
                n => format!(", {n} read-only here"),
            }
        );
        for nic in &self.nic {
            out.push('\n');
            out.push_str(&nic.human(colour));
        }
        out
    }
}

fn skipped_lines(out: &mut String, skipped: &[Change]) {
    for c in skipped {
        let _ = writeln!(
            out,
            "skipped {}: {}",
            c.key,
            c.note.as_deref().unwrap_or(c.action.as_str())
        );
    }
}

fn override_lines(out: &mut String, overrides: &[Override]) {
    for o in overrides {
        let _ = writeln!(
            out,
            "warning: {}:{} sets {} = {} (profile wants {}) and is read later at boot, so it wins: \
             remove it there or raise it in the profile",
            o.file.display(),
            o.line,
            o.key,
            o.value,
            o.target
        );
    }
}

impl Human for Verification {
    fn human(&self, colour: bool) -> String {
        let mut out = String::new();
        let scope = self
            .netns
            .as_ref()
            .map(|n| format!(" in network namespace {n}"))
            .unwrap_or_default();
        if self.in_sync {
            let _ = writeln!(
                out,
                "{}: the live kernel{scope} matches the profile.",
                self.profile
            );
        } else {
            let mut t = Table::new(&["KEY", "EXPECTED", "ACTUAL", "PROFILE"]);
            for d in &self.drift {
                t.row(vec![
                    plain(d.key.to_string()),
                    plain(d.expected.clone()),
                    (d.actual.clone(), Style::Red),
                    plain(d.profile.clone()),
                ]);
            }
            if !self.drift.is_empty() {
                out.push_str(&t.render(colour));
            }
            if !self.nic_drift.is_empty() {
                out.push_str(&crate::nic::change_table(&self.nic_drift));
            }
            let nic = match self.nic_drift.len() {
                0 => String::new(),
                n => format!(" and {n} NIC setting(s)"),
            };
            let _ = writeln!(
                out,
                "\n{}: {} key(s){nic} drifted{scope}.",
                self.profile,
                self.drift.len()
            );
        }
        skipped_lines(&mut out, &self.skipped);
        override_lines(&mut out, &self.overrides);
        if self.netns.is_none() && self.persisted.is_none() {
            let _ = writeln!(out, "note: not persisted; these values are lost at reboot (apply --persist keeps them).");
        }
        out
    }
}

fn applied_table(rows: &[Applied], headers: [&str; 3], colour: bool) -> String {
    let mut t = Table::new(&headers);
    for a in rows {
        t.row(vec![
            plain(a.setting.to_string()),
            plain(a.previous.clone()),
            (a.value.clone(), Style::Green),
        ]);
    }
    t.render(colour)
}

impl Human for ApplyReport {
    fn human(&self, colour: bool) -> String {
        let mut out = String::new();
        if !self.changed.is_empty() {
            out.push_str(&applied_table(&self.changed, ["KEY", "WAS", "NOW"], colour));
            out.push('\n');
        }
        let scope = self
            .netns
            .as_ref()
            .map(|n| format!(" in network namespace {n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}: {} changed (each write read back), {} already ok{scope}.",
            self.profile,
            self.changed.len(),
            self.unchanged
        );
        skipped_lines(&mut out, &self.skipped);
        if let Some(p) = &self.persisted {
            let _ = writeln!(out, "persisted to {}", p.display());
        }
        override_lines(&mut out, &self.overrides);
        if let Some(s) = &self.state_file {
            let command = self
                .rollback_command
                .as_deref()
                .unwrap_or("pincore-tuner rollback");
            let _ = writeln!(
                out,
                "previous values kept in {}; `{command}` restores them.",
                s.display()
            );
        }
        out
    }
}

impl Human for RollbackReport {
    fn human(&self, colour: bool) -> String {
        let r = &self.rollback;
        let Some(profile) = &r.profile else {
            return "nothing to roll back: no apply is recorded.\n".into();
        };
        let mut out = String::new();
        if !r.restored.is_empty() {
            out.push_str(&applied_table(
                &r.restored,
                ["KEY", "APPLIED", "RESTORED"],
                colour,
            ));
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "rolled back {profile}: {} value(s) restored.",
            r.restored.len()
        );
        for f in &r.files {
            let _ = writeln!(out, "restored or removed {}", f.display());
        }
        out
    }
}

impl Human for TunedImport {
    /// The YAML itself; what was not converted goes to stderr (see the binary).
    fn human(&self, _colour: bool) -> String {
        self.yaml.clone()
    }
}

/// The lines of a tuned profile that were not converted, for stderr.
pub fn not_converted(import: &TunedImport) -> String {
    let mut out = String::new();
    for n in &import.not_converted {
        let _ = writeln!(
            out,
            "not converted: line {}: {}: {}",
            n.line, n.text, n.reason
        );
    }
    let _ = writeln!(
        out,
        "{}: {} sysctl entries converted, {} lines not converted.",
        import.name,
        import.converted,
        import.not_converted.len()
    );
    out
}
