//! Redis parameters for what pincore-server does not have, so that CONFIG GET and SET of them answer as
//! Redis's do (tools, and Redis's own tests, read and write them) while saying plainly that nothing
//! changes:
//!
//! - *kept* ones configure a feature pincore-server lacks (the replication backlog, client eviction): a value
//!   is checked as Redis checks it, then remembered (for the process, not written to the configuration file,
//!   as every CONFIG SET) and reported, and has no effect;
//! - *fixed* ones report what pincore-server does and accept only that value (`maxmemory-samples` is the 5
//!   keys an eviction compares; there is no replica to be, so `replicaof` is empty);
//! - *immutable* ones (`daemonize`: the server runs in the foreground, under systemd) refuse any value, as
//!   Redis refuses its immutable parameters;
//! - *hidden* ones (Redis's `key-load-delay`, a test knob) answer by their exact name only, not to a pattern.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::builtin::resp::integer::memory;

/// What a parameter is here.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Checked by the function (the normalized value, or why not), remembered, and reported.
    Kept {
        default: &'static str,
        check: fn(&[u8]) -> Result<String, String>,
    },
    /// This value only.
    Fixed(&'static str),
    /// Never set: the value Redis reports.
    Immutable(&'static str),
}

/// One parameter: its Redis name, what it is, and whether a pattern finds it.
#[derive(Debug, Clone, Copy)]
pub struct Inert {
    pub name: &'static str,
    pub kind: Kind,
    pub hidden: bool,
}

const fn param(name: &'static str, kind: Kind) -> Inert {
    Inert {
        name,
        kind,
        hidden: false,
    }
}

/// The parameters, in the order CONFIG GET lists them after pincore's own.
pub const INERT: [Inert; 9] = [
    param(
        "repl-backlog-size",
        Kind::Kept {
            default: "1048576",
            check: memory_value,
        },
    ),
    param(
        "maxmemory-clients",
        Kind::Kept {
            default: "0",
            check: memory_or_percent,
        },
    ),
    param("maxmemory-samples", Kind::Fixed("5")),
    param("replicaof", Kind::Fixed("")),
    param("slaveof", Kind::Fixed("")),
    param("daemonize", Kind::Immutable("no")),
    param("appendfilename", Kind::Immutable("appendonly.aof")),
    param("appenddirname", Kind::Immutable("appendonlydir")),
    Inert {
        name: "key-load-delay",
        kind: Kind::Fixed("0"),
        hidden: true,
    },
];

/// The kept values set by CONFIG SET, by name; a name not here has its default.
static KEPT: Mutex<BTreeMap<&'static str, String>> = Mutex::new(BTreeMap::new());

fn kept() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, String>> {
    // Each change is one insert: a panic cannot leave the map half-changed.
    KEPT.lock().unwrap_or_else(PoisonError::into_inner)
}

fn memory_value(text: &[u8]) -> Result<String, String> {
    memory(text)
        .map(|n| n.to_string())
        .ok_or_else(|| "argument must be a memory value".into())
}

/// A memory value, or a percentage of `maxmemory` up to 100 (`10%`).
fn memory_or_percent(text: &[u8]) -> Result<String, String> {
    if let Some(number) = text.strip_suffix(b"%") {
        let percent = std::str::from_utf8(number)
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or("argument must be a memory or percent value")?;
        if percent > 100 {
            return Err("percentage argument must be less or equal to 100".into());
        }
        return Ok(format!("{percent}%"));
    }
    memory(text)
        .map(|n| n.to_string())
        .ok_or_else(|| "argument must be a memory or percent value".into())
}

impl Inert {
    /// The value CONFIG GET reports.
    pub fn value(&self) -> String {
        match self.kind {
            Kind::Kept { default, .. } => kept()
                .get(self.name)
                .cloned()
                .unwrap_or_else(|| default.into()),
            Kind::Fixed(value) | Kind::Immutable(value) => value.into(),
        }
    }

    /// Checks `text` as a new value: what to remember (for a kept parameter), or why it is refused.
    pub fn check(&self, text: &[u8]) -> Result<Option<String>, String> {
        match self.kind {
            Kind::Kept { check, .. } => check(text).map(Some),
            Kind::Fixed(value) if text == value.as_bytes() => Ok(None),
            Kind::Fixed(value) => Err(format!(
                "pincore-server does not have this setting; its behaviour is fixed at {value:?}"
            )),
            Kind::Immutable(_) => Err("can't set immutable config".into()),
        }
    }

    /// Remembers a value [`Inert::check`] accepted.
    pub fn keep(&self, value: String) {
        kept().insert(self.name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_redis_checks_them() {
        let clients = INERT[1];
        assert_eq!(clients.check(b"10%"), Ok(Some("10%".into())));
        assert_eq!(clients.check(b"1mb"), Ok(Some("1048576".into())));
        assert_eq!(
            clients.check(b"200%"),
            Err("percentage argument must be less or equal to 100".into())
        );
        assert!(clients.check(b"lots").is_err());
        let samples = INERT[2];
        assert_eq!(samples.check(b"5"), Ok(None));
        assert!(samples.check(b"10").unwrap_err().contains("fixed"));
        assert_eq!(
            INERT[5].check(b"no"),
            Err("can't set immutable config".into())
        );
    }

    #[test]
    fn a_kept_value_is_reported_until_changed() {
        let backlog = INERT[0];
        let value = backlog.check(b"10000002").unwrap().unwrap();
        backlog.keep(value);
        assert_eq!(backlog.value(), "10000002");
        backlog.keep("1048576".into());
        assert_eq!(backlog.value(), "1048576");
    }
}
