//! Profiles: the model a profile file describes, and its flattened form after inheritance.
//!
//! A profile file looks like this:
//!
//! ```yaml
//! name: connections
//! description: Many concurrent, short-lived connections.
//! include: [base]
//! sysctl:
//!   net.ipv4.tcp_fin_timeout: 30                      # plain value: op exact
//!   net.core.somaxconn: {value: 16384, op: at-least, why: "...", source: "..."}
//!   net.ipv4.tcp_migrate_req: {value: 1, optional: true}  # skipped, not an error, where the kernel lacks it
//! ```
//!
//! [`ProfileLibrary`] (`library.rs`) finds profiles and resolves includes depth first, the including profile
//! winning per key; `yaml.rs` reads the file format. Everything outside this module works on the
//! [`FlatProfile`], where each entry remembers the profile it came from.

mod library;
mod yaml;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Location, Result};
use crate::nic::NicRequest;
use crate::sysctl::Key;

pub use library::ProfileLibrary;

/// Where the profiles a user writes live unless `--profile-dir` says otherwise.
pub const DEFAULT_PROFILE_DIR: &str = "/etc/pincore/profiles";

/// How a target compares with the live value. Multi-field values compare field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// The live value must equal the target (whitespace-normalised).
    #[default]
    Exact,
    /// Raise-only: a live value already at or above the target is left alone (tuned's `>`).
    AtLeast,
    /// Lower-only: a live value already at or below the target is left alone (tuned's `<`).
    AtMost,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Exact => "exact",
            Op::AtLeast => "at-least",
            Op::AtMost => "at-most",
        }
    }
}

/// What a profile asks of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Whitespace-normalised.
    pub value: String,
    pub op: Op,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.op {
            Op::Exact => write!(f, "{}", self.value),
            Op::AtLeast => write!(f, ">= {}", self.value),
            Op::AtMost => write!(f, "<= {}", self.value),
        }
    }
}

/// One `sysctl:` entry of one profile file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub key: Key,
    pub target: Target,
    pub why: Option<String>,
    pub source: Option<String>,
    /// A key only some kernels have: skipped where missing. Otherwise a key the kernel lacks is a typo.
    pub optional: bool,
}

/// Where a profile was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

impl Origin {
    fn describe(&self, name: &str) -> String {
        match self {
            Origin::BuiltIn => format!("built-in:{name}"),
            Origin::File(p) => p.display().to_string(),
        }
    }
}

/// One profile as written, before its includes are resolved.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub include: Vec<String>,
    pub sysctl: Vec<Entry>,
    /// `nic:` entries: which CPUs serve each device's queues.
    pub nic: Vec<NicRequest>,
    pub origin: Origin,
    /// The YAML text, kept to point at the line of an include entry in errors.
    text: String,
}

/// A profile after inheritance: every key once, the including profile having won.
#[derive(Debug, Clone, Serialize)]
pub struct FlatProfile {
    pub name: String,
    pub description: String,
    /// The profiles merged, included ones first, this one last.
    pub chain: Vec<String>,
    pub entries: Vec<FlatEntry>,
    /// NIC placements, one per device, the including profile having won.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nic: Vec<FlatNic>,
}

/// One device of a flattened profile's `nic:` section and the profile that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlatNic {
    #[serde(flatten)]
    pub request: NicRequest,
    pub from: String,
}

/// One key of a flattened profile and the profile that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlatEntry {
    pub key: Key,
    pub target: Target,
    pub why: Option<String>,
    pub source: Option<String>,
    /// Skipped, not refused, where the kernel lacks the key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The profile this value came from.
    pub from: String,
}

/// A line of `pincore-tuner profiles`.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSummary {
    pub name: String,
    /// `built-in`, or the file it was read from.
    pub origin: String,
    pub description: String,
    /// Why a user profile could not be read; it is still listed so the mistake is visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Profile {
    /// Parses one profile from YAML text; `default_name` is used when the text has no `name:`.
    pub fn from_yaml(text: &str, default_name: &str, origin: Origin) -> Result<Profile> {
        yaml::parse(text, default_name, origin)
    }

    /// The line and column of `name` in this profile's `include:` list (0 when it cannot be found).
    fn include_location(&self, name: &str) -> Location {
        let file = self.origin.describe(&self.name);
        let mut after_include = false;
        for (i, line) in self.text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or("");
            if code.trim_start().starts_with("include:") {
                after_include = true;
            }
            if !after_include {
                continue;
            }
            let mut from = 0;
            while let Some(pos) = code[from..].find(name) {
                let start = from + pos;
                let end = start + name.len();
                let bounded = |c: Option<char>| !matches!(c, Some(c) if c.is_alphanumeric() || "-_.".contains(c));
                if bounded(code[..start].chars().next_back()) && bounded(code[end..].chars().next())
                {
                    return Location {
                        file,
                        line: i + 1,
                        column: start + 1,
                    };
                }
                from = end;
            }
        }
        Location {
            file,
            line: 0,
            column: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_location_points_at_the_entry() {
        let p = Profile::from_yaml(
            "name: x\ninclude:\n  - base\n  - nope\n",
            "x",
            Origin::BuiltIn,
        )
        .unwrap();
        let l = p.include_location("nope");
        assert_eq!((l.line, l.column), (4, 5));
        let l = p.include_location("base");
        assert_eq!((l.line, l.column), (3, 5));
    }
}
