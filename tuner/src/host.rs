//! The edge between the pure plan and the machine: settings read and written under a root directory,
//! optionally from inside a network namespace.
//!
//! [`SettingStore`] is the narrow interface apply, rollback and the state file work through. A [`Setting`]
//! is a sysctl today; other kernel settings that are files holding a value (`/proc/irq/N/smp_affinity_list`,
//! `/sys/class/net/DEV/queues/rx-N/rps_cpus`) join by adding a variant here and an arm in [`Host`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::netns::Namespace;
use crate::plan::Observed;
use crate::sysctl::{Key, SysctlTree};

/// Something the tuner changes, records and restores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Setting {
    Sysctl { key: Key },
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
        }
    }
}

/// Reads and writes settings. Values are the raw text (without the trailing newline), so a restore writes
/// back exactly what was there.
pub trait SettingStore {
    /// `Ok(None)` when the setting does not exist here.
    fn read(&self, setting: &Setting) -> Result<Option<String>>;
    fn write(&self, setting: &Setting, value: &str) -> Result<()>;
}

/// The machine under `root` (`/` live, a fixture tree in tests), seen from the namespace the process is in.
#[derive(Debug)]
pub struct Host {
    root: PathBuf,
    sysctl: SysctlTree,
    namespace: Option<Namespace>,
}

impl Host {
    pub fn new(root: impl AsRef<Path>, namespace: Option<Namespace>) -> Host {
        Host {
            root: root.as_ref().to_path_buf(),
            sysctl: SysctlTree::new(root),
            namespace,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn namespace(&self) -> Option<&Namespace> {
        self.namespace.as_ref()
    }

    /// What the kernel shows for `key`. Inside a network namespace only `net.*` keys that exist there belong
    /// to it: other keys are host-global (writing them would change the host), and `net.*` keys missing in
    /// the namespace but present outside are global ones the kernel hides.
    pub fn observe(&self, key: &Key) -> Result<Observed> {
        if self.namespace.is_some() && !key.as_str().starts_with("net.") {
            return Ok(Observed::NotInNamespace(
                "host-global key: not changed from inside a network namespace".into(),
            ));
        }
        if let Some(value) = self.sysctl.read(key)? {
            return Ok(Observed::Value(value));
        }
        match &self.namespace {
            Some(ns) if ns.outside(|| self.sysctl.exists(key))? => Ok(Observed::NotInNamespace(
                "global key: not visible in this network namespace".into(),
            )),
            _ => Ok(Observed::Missing),
        }
    }
}

impl SettingStore for Host {
    fn read(&self, setting: &Setting) -> Result<Option<String>> {
        match setting {
            Setting::Sysctl { key } => Ok(self.sysctl.read_raw(key)?),
        }
    }

    fn write(&self, setting: &Setting, value: &str) -> Result<()> {
        match setting {
            Setting::Sysctl { key } => self.sysctl.write(key, value).map_err(Error::from),
        }
    }
}
