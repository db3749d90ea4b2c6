//! The plan: what a flattened profile asks, against what the kernel shows, as a list of actions.
//!
//! Pure: no I/O. The caller observes each key (see [`crate::host`]) and hands the observations in, so the
//! same logic decides on a live host, inside a namespace and on a fixture tree. `verify` is this comparison
//! run again: a key whose action is still [`Action::Change`] has drifted.

use serde::Serialize;

use crate::nic::NicPlan;
use crate::profile::{FlatProfile, Op, Target};
pub use crate::setting::{Action, Observed};
use crate::sysctl::Key;

/// One key of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub key: Key,
    /// The live value; `None` when the key is missing or not visible.
    pub current: Option<String>,
    pub target: Target,
    pub action: Action,
    /// The value to write when the action is `change`: the target, or for at-least/at-most the field-wise
    /// max/min of live and target, so a field already beyond the target is not pulled back.
    pub write: Option<String>,
    /// The profile the target came from.
    pub from: String,
    pub why: Option<String>,
    /// Why a key was skipped (for missing and not-visible keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A profile compared with the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub profile: String,
    pub changes: Vec<Change>,
    /// The profile's `nic:` devices, each compared with the kernel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nic: Vec<NicPlan>,
}

impl Plan {
    /// The keys that need a write (on `verify`: the drift).
    pub fn pending(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action == Action::Change)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Compares `profile` with what `observe` reports for each of its keys.
pub fn plan(profile: &FlatProfile, mut observe: impl FnMut(&Key) -> Observed) -> Plan {
    let changes = profile
        .entries
        .iter()
        .map(|entry| {
            let (current, action, write, note) = match observe(&entry.key) {
                Observed::Value(v) if satisfies(&entry.target, &v) => {
                    (Some(v), Action::Ok, None, None)
                }
                Observed::Value(v) => {
                    let w = value_to_write(&entry.target, &v);
                    (Some(v), Action::Change, Some(w), None)
                }
                Observed::Missing => (
                    None,
                    Action::Missing,
                    None,
                    Some("this kernel has no such key".into()),
                ),
                Observed::NotInNamespace(why) => (None, Action::NotInNamespace, None, Some(why)),
                Observed::ReadOnly(v, _) if satisfies(&entry.target, &v) => {
                    (Some(v), Action::Ok, None, None)
                }
                Observed::ReadOnly(v, why) => (Some(v), Action::ReadOnly, None, Some(why)),
            };
            Change {
                key: entry.key.clone(),
                current,
                target: entry.target.clone(),
                action,
                write,
                from: entry.from.clone(),
                why: entry.why.clone(),
                note,
            }
        })
        .collect();
    Plan {
        profile: profile.name.clone(),
        changes,
        nic: Vec::new(),
    }
}

/// Whether `current` meets `target`. Multi-field values compare field by field; at-least/at-most need the
/// same number of integer fields, otherwise only an exact match satisfies.
pub fn satisfies(target: &Target, current: &str) -> bool {
    let current = crate::sysctl::normalise(current);
    if current == target.value {
        return true;
    }
    match (target.op, numeric_fields(&target.value, &current)) {
        (Op::Exact, Some(pairs)) => pairs.iter().all(|(t, c)| c == t),
        (Op::AtLeast, Some(pairs)) => pairs.iter().all(|(t, c)| c >= t),
        (Op::AtMost, Some(pairs)) => pairs.iter().all(|(t, c)| c <= t),
        (_, None) => false,
    }
}

/// The value that satisfies `target` while moving `current` as little as the op allows.
pub fn value_to_write(target: &Target, current: &str) -> String {
    let current = crate::sysctl::normalise(current);
    let pick: fn(i128, i128) -> i128 = match target.op {
        Op::Exact => return target.value.clone(),
        Op::AtLeast => i128::max,
        Op::AtMost => i128::min,
    };
    match numeric_fields(&target.value, &current) {
        Some(pairs) => pairs
            .iter()
            .map(|&(t, c)| pick(t, c).to_string())
            .collect::<Vec<_>>()
            .join(" "),
        None => target.value.clone(),
    }
}

/// `(target, current)` per field when both are the same number of integers.
fn numeric_fields(target: &str, current: &str) -> Option<Vec<(i128, i128)>> {
    let t: Vec<&str> = target.split_whitespace().collect();
    let c: Vec<&str> = current.split_whitespace().collect();
    if t.len() != c.len() {
        return None;
    }
    t.iter()
        .zip(&c)
        .map(|(t, c)| Some((t.parse().ok()?, c.parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::FlatEntry;

    fn target(value: &str, op: Op) -> Target {
        Target {
            value: value.into(),
            op,
        }
    }

    #[test]
    fn at_least_and_at_most_compare_field_by_field() {
        let t = target("4096 131072 16777216", Op::AtLeast);
        assert!(satisfies(&t, "4096\t131072\t16777216"));
        assert!(satisfies(&t, "4096 262144 33554432"));
        assert!(!satisfies(&t, "4096 131072 6291456"));
        assert!(
            !satisfies(&t, "1 2"),
            "a different field count never satisfies a numeric op"
        );
        assert_eq!(
            value_to_write(&t, "8192 87380 6291456"),
            "8192 131072 16777216"
        );

        let t = target("30", Op::AtMost);
        assert!(satisfies(&t, "15"));
        assert!(!satisfies(&t, "60"));
        assert_eq!(value_to_write(&t, "60"), "30");
    }

    #[test]
    fn exact_compares_normalised_text_and_numbers() {
        assert!(satisfies(&target("1024 65535", Op::Exact), "1024\t65535"));
        assert!(!satisfies(&target("1024 65535", Op::Exact), "32768 60999"));
        assert!(satisfies(&target("fq", Op::Exact), "fq"));
        assert!(!satisfies(&target("fq", Op::Exact), "fq_codel"));
        assert_eq!(
            value_to_write(&target("1024 65535", Op::Exact), "32768 60999"),
            "1024 65535"
        );
    }

    #[test]
    fn big_unsigned_values_compare_numerically() {
        let t = target("131072", Op::AtMost);
        assert!(!satisfies(&t, "4294967295"));
        assert!(satisfies(
            &target("2097152", Op::AtLeast),
            "9223372036854775807"
        ));
    }

    #[test]
    fn plan_assigns_one_action_per_key() {
        let entry = |k: &str, v: &str, op| FlatEntry {
            key: Key::parse(k).unwrap(),
            target: target(v, op),
            why: None,
            source: None,
            optional: false,
            from: "p".into(),
        };
        let profile = FlatProfile {
            name: "p".into(),
            description: String::new(),
            chain: vec!["p".into()],
            nic: Vec::new(),
            entries: vec![
                entry("a.change", "10", Op::AtLeast),
                entry("a.ok", "10", Op::AtLeast),
                entry("a.missing", "1", Op::Exact),
                entry("a.hidden", "1", Op::Exact),
                entry("a.locked", "10", Op::AtLeast),
                entry("a.locked_ok", "10", Op::AtLeast),
            ],
        };
        let p = plan(&profile, |k| match k.as_str() {
            "a.change" => Observed::Value("5".into()),
            "a.ok" => Observed::Value("20".into()),
            "a.missing" => Observed::Missing,
            "a.locked" => Observed::ReadOnly("5".into(), "read-only".into()),
            "a.locked_ok" => Observed::ReadOnly("20".into(), "read-only".into()),
            _ => Observed::NotInNamespace("global".into()),
        });
        let actions: Vec<Action> = p.changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [
                Action::Change,
                Action::Ok,
                Action::Missing,
                Action::NotInNamespace,
                Action::ReadOnly,
                Action::Ok
            ]
        );
        // A read-only key that differs is skipped, not pending: apply leaves it and verify is not drift.
        let locked = &p.changes[4];
        assert_eq!(
            (locked.current.as_deref(), locked.write.as_deref()),
            (Some("5"), None)
        );
        assert_eq!(locked.note.as_deref(), Some("read-only"));
        assert_eq!(p.pending().count(), 1);
        assert_eq!(p.changes[0].write.as_deref(), Some("10"));
        assert_eq!(p.changes[1].write, None);
        assert_eq!(p.pending().count(), 1);
    }
}
