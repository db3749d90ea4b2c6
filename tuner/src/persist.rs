//! Persisting a profile as a sysctl.d drop-in, and finding the files that would override it at boot.
//!
//! Boot-time order (systemd-sysctl, `sysctl --system`): `*.conf` files from `/etc/sysctl.d`, `/run/sysctl.d`,
//! `/usr/local/lib/sysctl.d`, `/usr/lib/sysctl.d`, `/lib/sysctl.d` are sorted by file name across the
//! directories (a name in an earlier directory masks the same name in a later one), the last file wins per
//! key, and `/etc/sysctl.conf` is read last. Debian ships `/etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf`,
//! so a key in sysctl.conf overrides a `60-*.conf` drop-in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::input;
use crate::plan::{satisfies, Action, Plan};
use crate::profile::{FlatProfile, Op, Target};
use crate::sysctl::Key;

/// The drop-in's file name for a profile: read after the distribution's defaults (10-50), before
/// `99-sysctl.conf`.
pub fn dropin_name(profile: &str) -> String {
    format!("60-pincore-{profile}.conf")
}

/// The drop-in for a profile's targets, as pincore-deploy renders it for hosts it cannot look at.
pub fn render_dropin(profile: &FlatProfile) -> String {
    let lines = profile
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.target.clone(), e.target.value.clone()));
    render(&profile.name, lines)
}

/// The drop-in after an apply: keys at their applied values (a raise-only key already above its target keeps
/// the higher live value, so boot does not lower it); keys this kernel or namespace lacks are left out.
pub fn render_dropin_for(plan: &Plan) -> String {
    let lines = plan.changes.iter().filter_map(|c| {
        let value = match c.action {
            Action::Change => c.write.clone()?,
            Action::Ok => c.current.clone()?,
            Action::Missing | Action::NotInNamespace | Action::ReadOnly => return None,
        };
        Some((c.key.clone(), c.target.clone(), value))
    });
    render(&plan.profile, lines)
}

fn render(profile: &str, lines: impl Iterator<Item = (Key, Target, String)>) -> String {
    let mut out = format!(
        "# Written by pincore-tuner from profile `{profile}`; `pincore-tuner rollback` removes it.\n\
         # Edit the profile and run `pincore-tuner apply {profile} --persist` instead of editing this file.\n"
    );
    for (key, target, value) in lines {
        if target.op != Op::Exact {
            out.push_str(&format!("# {key}: profile asks {target}\n"));
        }
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// The sysctl configuration directories under a root.
#[derive(Debug, Clone)]
pub struct SysctlConfig {
    /// Where the drop-in goes (`/etc/sysctl.d`, or `--sysctl-dir`).
    pub dropin_dir: PathBuf,
    /// The other directories, in masking order.
    pub other_dirs: Vec<PathBuf>,
    /// Read after every drop-in.
    pub sysctl_conf: PathBuf,
}

impl SysctlConfig {
    pub fn under_root(root: &Path, dropin_dir: Option<PathBuf>) -> SysctlConfig {
        SysctlConfig {
            dropin_dir: dropin_dir.unwrap_or_else(|| root.join("etc/sysctl.d")),
            other_dirs: [
                "run/sysctl.d",
                "usr/local/lib/sysctl.d",
                "usr/lib/sysctl.d",
                "lib/sysctl.d",
            ]
            .iter()
            .map(|d| root.join(d))
            .collect(),
            sysctl_conf: root.join("etc/sysctl.conf"),
        }
    }

    pub fn dropin_path(&self, profile: &str) -> PathBuf {
        self.dropin_dir.join(dropin_name(profile))
    }

    /// The files read after the drop-in of `profile`, in boot order.
    fn files_after(&self, profile: &str) -> Result<Vec<PathBuf>> {
        let ours = dropin_name(profile);
        let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
        for dir in std::iter::once(&self.dropin_dir).chain(&self.other_dirs) {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("listing", dir, e)),
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".conf") {
                    by_name.entry(name).or_insert_with(|| entry.path());
                }
            }
        }
        let mut files: Vec<PathBuf> = by_name
            .into_iter()
            .filter(|(n, _)| *n > ours)
            .map(|(_, p)| p)
            .collect();
        files.push(self.sysctl_conf.clone());
        Ok(files)
    }
}

/// A later file that sets one of the profile's keys to a value that does not meet the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub key: Key,
    pub file: PathBuf,
    pub line: usize,
    pub value: String,
    pub target: Target,
}

/// Keys of `profile` that a file read after its drop-in sets to a value not meeting the target. The last
/// such file per key is the one that wins at boot; each file is reported once even when reached twice
/// (Debian's `99-sysctl.conf` symlink and `/etc/sysctl.conf` itself).
pub fn overrides(config: &SysctlConfig, profile: &FlatProfile) -> Result<Vec<Override>> {
    let targets: BTreeMap<&Key, &Target> = profile
        .entries
        .iter()
        .map(|e| (&e.key, &e.target))
        .collect();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut found: Vec<Override> = Vec::new();
    for file in config.files_after(&profile.name)? {
        let canonical = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if seen.contains(&canonical) {
            continue;
        }
        seen.push(canonical);
        let text = match input::read_text(&file, input::Expected::text("a sysctl.d file")) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        for (line, key, value) in assignments(&text) {
            if let Some(target) = targets.get(&key) {
                if !satisfies(target, &value) {
                    found.retain(|o| o.key != key);
                    found.push(Override {
                        key,
                        file: file.clone(),
                        line,
                        value,
                        target: (*target).clone(),
                    });
                }
            }
        }
    }
    Ok(found)
}

/// `key = value` lines of a sysctl.d file (a leading `-` only marks "ignore errors"; globs are skipped).
fn assignments(text: &str) -> impl Iterator<Item = (usize, Key, String)> + '_ {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            return None;
        }
        let (key, value) = line.split_once('=')?;
        let key = key.trim().trim_start_matches('-');
        if key.contains('*') {
            return None;
        }
        Some((
            i + 1,
            Key::parse(key).ok()?,
            crate::sysctl::normalise(value),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_skip_comments_and_strip_the_ignore_marker() {
        let got: Vec<(usize, String, String)> = assignments(
            "# c\n; c\n\nnet.core.somaxconn=1024\n-net.ipv4.tcp_rmem = 1  2 3\nnet.*.x = 1\n",
        )
        .map(|(l, k, v)| (l, k.to_string(), v))
        .collect();
        assert_eq!(
            got,
            [
                (4, "net.core.somaxconn".into(), "1024".into()),
                (5, "net.ipv4.tcp_rmem".into(), "1 2 3".into())
            ]
        );
    }
}
