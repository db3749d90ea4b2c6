//! The vocabulary the pure plans and the edge share: a [`Setting`] the tuner can change, what the kernel
//! shows for it ([`Observed`]) and what a plan does with it ([`Action`]).
//!
//! It sits below both: `plan.rs` and `nic/placement.rs` decide from `Observed` values without knowing how
//! they were read, and `host.rs` produces them without knowing how they are judged.

use serde::{Deserialize, Serialize};

use crate::sysctl::Key;

/// Something the tuner changes, records and restores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Setting {
    Sysctl {
        key: Key,
    },
    /// `/proc/irq/IRQ/smp_affinity_list`: the CPUs that take an interrupt.
    IrqAffinity {
        irq: u32,
    },
    /// `/sys/class/net/DEVICE/queues/QUEUE/FILE`: a queue's RPS, RFS or XPS setting.
    Queue {
        device: String,
        queue: String,
        file: String,
    },
}

impl Setting {
    pub fn sysctl(key: Key) -> Setting {
        Setting::Sysctl { key }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Sysctl { key } => write!(f, "{key}"),
            Setting::IrqAffinity { irq } => write!(f, "irq/{irq}/smp_affinity_list"),
            Setting::Queue {
                device,
                queue,
                file,
            } => write!(f, "{device}/{queue}/{file}"),
        }
    }
}

/// What the kernel shows for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The current value, whitespace-normalised.
    Value(String),
    /// This kernel has no such key (too old, module not loaded).
    Missing,
    /// The key exists on the host but not in this network namespace, or it is host-global and so not this
    /// namespace's to change. The string says which.
    NotInNamespace(String),
    /// The key exists and has this value, but this process may not change it here (its file has no write
    /// bit: e.g. `net.core.rmem_max` inside a non-initial network namespace). The second string says why.
    ReadOnly(String, String),
}

/// What applying the plan does with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The live value does not satisfy the target: write [`Change::write`].
    Change,
    /// Already satisfied.
    Ok,
    /// The kernel does not have the key; skipped.
    Missing,
    /// Not visible (or not per-namespace) in the network namespace being tuned; skipped.
    #[serde(rename = "not-visible-in-namespace")]
    NotInNamespace,
    /// Differs from the target but cannot be written here (read-only in this namespace or tree); skipped.
    #[serde(rename = "read-only-here")]
    ReadOnly,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Change => "change",
            Action::Ok => "ok",
            Action::Missing => "missing",
            Action::NotInNamespace => "not-visible-in-namespace",
            Action::ReadOnly => "read-only-here",
        }
    }

    /// True for the actions that leave a key alone because it is not this run's to write.
    pub fn skipped(self) -> bool {
        matches!(
            self,
            Action::Missing | Action::NotInNamespace | Action::ReadOnly
        )
    }
}
