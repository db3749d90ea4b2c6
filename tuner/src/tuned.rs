//! `import-tuned`: a tuned profile (`tuned.conf`, INI) converted to a pincore YAML profile.
//!
//! Converted: `[main] summary` and `include`, and every `[sysctl]` line, with tuned's `>` (raise only) and
//! `<` (lower only) prefixes as `at-least`/`at-most`. Everything else (other plugins' sections, variables,
//! conditional functions) is listed as not converted, with the line and the reason, never silently dropped.

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::sysctl::{normalise, Key};

/// The converted profile and what could not be converted.
#[derive(Debug, Clone, Serialize)]
pub struct TunedImport {
    pub name: String,
    /// The pincore profile, ready to save as `NAME.yaml`.
    pub yaml: String,
    /// Number of sysctl entries converted.
    pub converted: usize,
    pub not_converted: Vec<NotConverted>,
}

/// A line of the tuned profile with no pincore equivalent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotConverted {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// Converts tuned.conf `text` to a profile called `name`. `include_exists` says whether a pincore profile of
/// that name can be loaded; tuned includes without one are reported, so the result always loads.
pub fn import_tuned(text: &str, name: &str, include_exists: impl Fn(&str) -> bool) -> TunedImport {
    let mut description = format!("Imported from tuned profile {name}.");
    let mut includes: Vec<String> = Vec::new();
    let mut sysctl = Mapping::new();
    let mut not_converted = Vec::new();
    let mut section = String::new();
    let mut comments: Vec<String> = Vec::new();

    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let mut skip = |reason: String| {
            not_converted.push(NotConverted {
                line: i + 1,
                text: line.to_string(),
                reason,
            })
        };
        if line.is_empty() {
            comments.clear();
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if !comment.is_empty() {
                comments.push(comment.to_string());
            }
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_string();
            comments.clear();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            skip("not a `key=value` line".into());
            continue;
        };
        let (key, value) = (key.trim(), unquote(value.trim()));
        let why = (!comments.is_empty()).then(|| comments.join(" "));
        comments.clear();
        match (section.as_str(), key) {
            ("main", "summary") => {
                description = format!("{value} (imported from tuned profile {name})")
            }
            ("main", "include") => {
                for inc in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if include_exists(inc) {
                        includes.push(inc.to_string());
                    } else {
                        skip(format!(
                            "include `{inc}` is a tuned profile with no pincore profile of that name: import its \
                             tuned.conf too (import-tuned), save it as {inc}.yaml and add `{inc}` to include"
                        ));
                    }
                }
            }
            ("main", _) => skip("tuned daemon option with no pincore equivalent".into()),
            ("sysctl", _) => match sysctl_entry(key, value, name, why) {
                Ok((key, entry)) => {
                    sysctl.insert(Value::String(key.to_string()), entry);
                }
                Err(reason) => skip(reason),
            },
            ("", _) => skip("outside any section".into()),
            (other, _) => skip(format!(
                "[{other}] is a tuned plugin pincore-tuner does not manage (it manages sysctls)"
            )),
        }
    }

    let mut doc = Mapping::new();
    doc.insert("name".into(), name.into());
    doc.insert("description".into(), description.into());
    if !includes.is_empty() {
        doc.insert(
            "include".into(),
            Value::Sequence(includes.into_iter().map(Value::String).collect()),
        );
    }
    let converted = sysctl.len();
    doc.insert("sysctl".into(), Value::Mapping(sysctl));
    // A mapping of strings and integers always serialises.
    let body = serde_yaml::to_string(&doc).expect("YAML of strings serialises");
    let yaml =
        format!("# Converted by pincore-tuner import-tuned from tuned profile {name}.\n{body}");
    TunedImport {
        name: name.to_string(),
        yaml,
        converted,
        not_converted,
    }
}

fn sysctl_entry(
    key: &str,
    value: &str,
    profile: &str,
    why: Option<String>,
) -> Result<(Key, Value), String> {
    let key = Key::parse(key).map_err(|e| e.to_string())?;
    if value.contains("${") || value.contains('$') {
        return Err("uses a tuned variable or function, which pincore profiles do not have".into());
    }
    let (op, value) = match value.chars().next() {
        Some('>') => ("at-least", normalise(&value[1..])),
        Some('<') => ("at-most", normalise(&value[1..])),
        _ => ("exact", normalise(value)),
    };
    if value.is_empty() {
        return Err("empty value".into());
    }
    if op != "exact" && value.split(' ').any(|f| f.parse::<i128>().is_err()) {
        return Err(format!("{op} needs integer fields, got {value:?}"));
    }
    let mut entry = Mapping::new();
    entry.insert(
        "value".into(),
        value
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(value.clone())),
    );
    if op != "exact" {
        entry.insert("op".into(), op.into());
    }
    if let Some(why) = why {
        entry.insert("why".into(), why.into());
    }
    entry.insert("source".into(), format!("tuned profile {profile}").into());
    Ok((key, Value::Mapping(entry)))
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Op, Origin, Profile};

    #[test]
    fn operators_quotes_and_unconvertible_lines() {
        let conf = "[main]\nsummary=S\ninclude=parent\n\n[sysctl]\n# raise it\nnet.core.somaxconn=>2048\n\
                    net.ipv4.tcp_rmem=\"4096 131072 16777216\"\nvm.x=${f:calc}\n[vm]\ntransparent_hugepages=never\n";
        let out = import_tuned(conf, "t", |_| false);
        assert_eq!(out.converted, 2);
        let lines: Vec<usize> = out.not_converted.iter().map(|n| n.line).collect();
        assert_eq!(lines, [3, 9, 11]);
        let p = Profile::from_yaml(&out.yaml, "t", Origin::BuiltIn).unwrap();
        assert!(p.include.is_empty());
        assert_eq!(p.sysctl[0].target.op, Op::AtLeast);
        assert_eq!(p.sysctl[0].target.value, "2048");
        assert_eq!(p.sysctl[0].why.as_deref(), Some("raise it"));
        assert_eq!(p.sysctl[1].target.value, "4096 131072 16777216");
        assert_eq!(p.description, "S (imported from tuned profile t)");
    }

    #[test]
    fn known_includes_are_kept() {
        let out = import_tuned("[main]\ninclude=base\n", "t", |n| n == "base");
        let p = Profile::from_yaml(&out.yaml, "t", Origin::BuiltIn).unwrap();
        assert_eq!(p.include, ["base"]);
        assert!(out.not_converted.is_empty());
    }
}
