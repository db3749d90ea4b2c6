//! The edge between the pure plan and the machine: settings read and written under a root directory,
//! optionally from inside a network namespace.
//!
//! [`SettingStore`] is the narrow interface apply, rollback and the state file work through. A [`Setting`]
//! is a sysctl, an IRQ's affinity or a queue's RPS/XPS file; another kernel setting that is a file holding a
//! value joins by adding a variant in `setting.rs` and an arm in [`Host`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::netns::Namespace;
// `host::Setting` stays a public path (the fuzz targets and callers outside the crate use it).
use crate::setting::Observed;
pub use crate::setting::Setting;
use crate::sysctl::{self, Key, SysctlTree};

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

    /// The sysctls under this host's root.
    pub fn sysctl(&self) -> &SysctlTree {
        &self.sysctl
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
            return Ok(match self.sysctl.mode(key) {
                Some(mode) if mode & 0o222 == 0 => {
                    Observed::ReadOnly(value, self.read_only_note(mode))
                }
                _ => Observed::Value(value),
            });
        }
        let Some(ns) = &self.namespace else {
            return Ok(Observed::Missing);
        };
        Ok(match ns.outside(|| self.sysctl.exists(key))? {
            Some(true) => {
                Observed::NotInNamespace("global key: not visible in this network namespace".into())
            }
            Some(false) => Observed::Missing,
            None => Observed::NotInNamespace(
                "not visible in this network namespace (a global key, or one this kernel lacks)"
                    .into(),
            ),
        })
    }
}

impl Host {
    /// Why a key whose file has no write bit is left alone. The mode bits decide, not `access(W_OK)`: root
    /// passes that check on a fixture tree's 0444 file, while the kernel refuses root on a 0444 /proc/sys file.
    fn read_only_note(&self, mode: u32) -> String {
        if self.namespace.is_some() {
            format!("read-only in this network namespace (mode {mode:04o}): the kernel lets only the host's initial namespace change it")
        } else {
            format!("read-only here (mode {mode:04o}): the kernel does not let this key be changed")
        }
    }

    /// The file behind a NIC setting. Names come from the state file too, so each part is checked: a
    /// setting must never address a file outside the queue and IRQ directories.
    fn nic_path(&self, setting: &Setting) -> Result<PathBuf> {
        let bad = |reason: &str| Error::Unwritable {
            setting: setting.to_string(),
            reason: reason.to_string(),
        };
        match setting {
            Setting::Sysctl { key } => Ok(self.sysctl.path(key)),
            Setting::IrqAffinity { irq } => Ok(self
                .root
                .join("proc/irq")
                .join(irq.to_string())
                .join("smp_affinity_list")),
            Setting::Queue {
                device,
                queue,
                file,
            } => {
                if device.is_empty() || device.contains('/') || device == "." || device == ".." {
                    return Err(bad("not a network device name"));
                }
                let numbered = |prefix: &str| {
                    queue
                        .strip_prefix(prefix)
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                };
                if !(numbered("rx-") || numbered("tx-")) {
                    return Err(bad("not a queue name (rx-N or tx-N)"));
                }
                if !["rps_cpus", "rps_flow_cnt", "xps_cpus"].contains(&file.as_str()) {
                    return Err(bad("not a queue setting pincore manages"));
                }
                Ok(self
                    .root
                    .join("sys/class/net")
                    .join(device)
                    .join("queues")
                    .join(queue)
                    .join(file))
            }
        }
    }
}

/// Turns a failed write of a NIC setting into words an operator can act on.
fn nic_write_error(setting: &Setting, path: &Path, e: std::io::Error) -> Error {
    let reason = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => format!("permission denied writing {}: run as root", path.display()),
        Some(libc::EINVAL) => "the kernel rejected this value (EINVAL)".to_string(),
        Some(libc::EIO) if matches!(setting, Setting::IrqAffinity { .. }) => {
            "the kernel refused to move this interrupt (EIO: a managed or per-CPU interrupt cannot be moved)".to_string()
        }
        Some(libc::ENOENT) => format!("{} does not exist", path.display()),
        _ => format!("writing {}: {e}", path.display()),
    };
    Error::Unwritable {
        setting: setting.to_string(),
        reason,
    }
}

impl SettingStore for Host {
    fn read(&self, setting: &Setting) -> Result<Option<String>> {
        match setting {
            Setting::Sysctl { key } => Ok(self.sysctl.read_raw(key)?),
            _ => {
                let path = self.nic_path(setting)?;
                let what =
                    "a NIC setting file (a regular file under ROOT/proc/irq or ROOT/sys/class/net)";
                Ok(sysctl::read_value(&path, what)?.map(|s| s.trim_end_matches('\n').to_string()))
            }
        }
    }

    fn write(&self, setting: &Setting, value: &str) -> Result<()> {
        match setting {
            Setting::Sysctl { key } => self.sysctl.write(key, value).map_err(Error::from),
            _ => {
                let path = self.nic_path(setting)?;
                sysctl::write_value(&path, value).map_err(|e| nic_write_error(setting, &path, e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_whose_file_has_no_write_bit_is_read_only_even_for_root() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("proc/sys/net/core");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, mode) in [("rmem_max", 0o444), ("somaxconn", 0o644)] {
            std::fs::write(dir.join(name), "212992\n").unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(mode))
                .unwrap();
        }
        let host = Host::new(root.path(), None);
        // Root could write the fixture file (access(W_OK) says yes): the mode bits decide, as the kernel
        // does for /proc/sys.
        match host
            .observe(&Key::parse("net.core.rmem_max").unwrap())
            .unwrap()
        {
            Observed::ReadOnly(value, why) => {
                assert_eq!(value, "212992");
                assert!(why.contains("read-only here (mode 0444)"), "{why}");
            }
            other => panic!("expected read-only, got {other:?}"),
        }
        assert_eq!(
            host.observe(&Key::parse("net.core.somaxconn").unwrap())
                .unwrap(),
            Observed::Value("212992".into())
        );
    }
}
