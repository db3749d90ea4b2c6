//! The state file: what `apply` changed and the values before, so `rollback` can restore them without a
//! daemon.
//!
//! It is written before the first change of an apply. A later apply merges into it and keeps the earliest
//! previous value of each setting, so `rollback` always returns to how the host was before pincore touched
//! it, however many profiles were applied since. In `--netns` mode each namespace has its own file, so a
//! namespace run never clobbers the host's record.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::atomic::{remove_if_present, write_atomically, Durability};
use crate::error::{Error, Result};
use crate::input::{self, Expected};
use crate::setting::Setting;
use crate::trust;

/// Where state lives unless `--state-dir` says otherwise (under `--root`). Not the server's state directory
/// (`/var/lib/pincore`, owned by the server's user): only root may be able to write the tuner's state.
pub const DEFAULT_STATE_DIR: &str = "var/lib/pincore-tuner";

/// Where pincore-tuner 0.1 kept its state by default, shared with the server's state directory.
pub const LEGACY_STATE_DIR: &str = "var/lib/pincore";

/// Bumped when the file's meaning changes; an unknown version is refused rather than guessed at.
pub const STATE_VERSION: u32 = 1;

/// The record of changes not yet rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecord {
    pub version: u32,
    /// The profile applied last.
    pub profile: String,
    pub netns: Option<String>,
    /// In the order they were written; rollback restores in reverse.
    pub settings: Vec<RecordedSetting>,
    /// Files written (the persisted sysctl.d drop-in) and their content before, if they existed.
    #[serde(default)]
    pub files: Vec<RecordedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSetting {
    #[serde(flatten)]
    pub setting: Setting,
    /// The value before the first apply, exactly as read.
    pub previous: String,
    /// The value the last apply wrote.
    pub applied: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    pub path: PathBuf,
    /// `None`: the file did not exist, so rollback removes it.
    pub previous: Option<String>,
}

impl StateRecord {
    /// Reads a state file's bytes: JSON of this shape and [`STATE_VERSION`], every setting name checked as
    /// it is parsed. The error says what is wrong, for a message naming the file.
    pub fn from_json(bytes: &[u8]) -> Result<StateRecord, String> {
        let record: StateRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.version != STATE_VERSION {
            return Err(format!(
                "version {} is not {STATE_VERSION}, written by another pincore-tuner",
                record.version
            ));
        }
        Ok(record)
    }

    /// This record merged over an earlier one: settings and files the earlier record already had keep their
    /// earlier `previous`, and those only it had stay recorded.
    pub fn merged_over(mut self, earlier: Option<StateRecord>) -> StateRecord {
        let Some(earlier) = earlier else { return self };
        let mut settings = Vec::new();
        for old in earlier.settings {
            match self.settings.iter().position(|s| s.setting == old.setting) {
                Some(i) => {
                    let mut new = self.settings.remove(i);
                    new.previous = old.previous;
                    settings.push(new);
                }
                None => settings.push(old),
            }
        }
        settings.append(&mut self.settings);
        self.settings = settings;
        for old in earlier.files {
            match self.files.iter_mut().find(|f| f.path == old.path) {
                Some(f) => f.previous = old.previous,
                None => self.files.insert(0, old),
            }
        }
        self
    }
}

/// What a rollback may touch: exactly what an apply in the same place could have written.
#[derive(Debug, Clone, Copy)]
pub struct RestoreScope<'a> {
    /// Inside a network namespace (named or inherited) only `net.*` sysctls belong to the namespace.
    pub in_namespace: bool,
    /// The directory `--persist` writes drop-ins to; `None` where the apply writes no files.
    pub dropin_dir: Option<&'a Path>,
}

/// An entry of a state file that rollback will not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub entry: String,
    pub reason: String,
}

impl StateRecord {
    /// This record without the entries no apply in `scope` could have written, and those entries with the
    /// reason. Rollback acts on the first only, so a state file can never make the tuner write a host-global
    /// key from a namespace or a file outside its drop-in directory. Setting names are already checked when
    /// the file is parsed (a sysctl key stays below `/proc/sys`, NIC settings name only queue and IRQ files).
    pub fn without_refused(mut self, scope: RestoreScope) -> (StateRecord, Vec<Refused>) {
        let mut refused = Vec::new();
        self.settings.retain(|r| match &r.setting {
            Setting::Sysctl { key } if scope.in_namespace && !key.as_str().starts_with("net.") => {
                refused.push(Refused {
                    entry: format!("sysctl {key}"),
                    reason: "a host-global key, which a namespace run never writes".into(),
                });
                false
            }
            _ => true,
        });
        self.files.retain(|f| {
            let reason = match scope.dropin_dir {
                None => "this kind of apply writes no files".to_string(),
                Some(dir) if !is_dropin_in(&f.path, dir) => format!(
                    "not a pincore drop-in (60-pincore-NAME.conf) in {}",
                    dir.display()
                ),
                Some(_) => return true,
            };
            refused.push(Refused {
                entry: format!("file {}", f.path.display()),
                reason,
            });
            false
        });
        (self, refused)
    }
}

/// `path` is `dir/60-pincore-NAME.conf`, with no `.` or `..` in it.
fn is_dropin_in(path: &Path, dir: &Path) -> bool {
    let plain = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    plain
        && path.parent() == Some(dir)
        && name
            .strip_prefix("60-pincore-")
            .and_then(|n| n.strip_suffix(".conf"))
            .is_some_and(|profile| !profile.is_empty())
}

/// The exclusive lock on a state directory (released on drop).
#[derive(Debug)]
pub struct StateLock(#[allow(dead_code)] Flock<std::fs::File>);

/// The state file of the host or of one namespace.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    /// `DIR/last-apply.json`, or `DIR/last-apply.netns-NAME.json` for a namespace.
    pub fn new(dir: &Path, netns: Option<&str>) -> StateStore {
        let file = match netns {
            Some(name) => format!("last-apply.netns-{name}.json"),
            None => "last-apply.json".to_string(),
        };
        StateStore {
            path: dir.join(file),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// Takes the state directory's lock (creating the directory), so two applies or rollbacks never
    /// interleave their reads and writes. Held until the returned value is dropped.
    /// The directory is created private to its owner, and refused unless it is trusted (see [`trust`]).
    pub fn lock(&self) -> Result<StateLock> {
        let dir = self.dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("creating directory", dir, e))?;
        trust::check_dir(dir)?;
        let handle = std::fs::File::open(dir).map_err(|e| Error::io("opening", dir, e))?;
        match Flock::lock(handle, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(StateLock(lock)),
            Err((_, Errno::EWOULDBLOCK)) => Err(Error::Busy {
                dir: dir.to_path_buf(),
            }),
            Err((_, e)) => Err(Error::io("locking", dir, e.into())),
        }
    }

    /// The record, or `None` when nothing is applied (or everything was rolled back).
    pub fn load(&self) -> Result<Option<StateRecord>> {
        let Some(bytes) = self.load_raw()? else {
            return Ok(None);
        };
        StateRecord::from_json(&bytes)
            .map(Some)
            .map_err(|message| Error::State {
                path: self.path.clone(),
                message,
            })
    }

    /// The file's bytes, to put back exactly if an apply fails. The file and its directory must be trusted
    /// (see [`trust`]): a state file another user could have written is refused before it is read.
    pub fn load_raw(&self) -> Result<Option<Vec<u8>>> {
        let dir = self.dir();
        if !dir.exists() {
            return Ok(None);
        }
        trust::check_dir(dir)?;
        // O_NOFOLLOW: the file checked is the file read, even if the path were swapped meanwhile.
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                let meta = std::fs::symlink_metadata(&self.path)
                    .map_err(|e| Error::io("inspecting state file", &self.path, e))?;
                trust::check_file(&self.path, &meta)?;
                return Err(Error::io("reading state file", &self.path, e));
            }
            Err(e) => return Err(Error::io("reading state file", &self.path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io("inspecting state file", &self.path, e))?;
        trust::check_file(&self.path, &meta)?;
        let expected = Expected::text("a pincore-tuner state file");
        match input::read_opened(&file, meta.len(), &self.path, expected) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if matches!(e.problem, input::Problem::TooLarge { .. }) => Err(Error::State {
                path: self.path.clone(),
                message: format!(
                    "larger than {} bytes, which no apply writes",
                    expected.limit
                ),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, record: &StateRecord) -> Result<()> {
        // Serialising plain strings and paths cannot fail.
        let mut json = serde_json::to_vec_pretty(record).expect("state record serialises");
        json.push(b'\n');
        write_atomically(&self.path, &json, Durability::Process)
    }

    /// Puts back bytes from [`StateStore::load_raw`] (`None`: there was no file).
    pub fn restore_raw(&self, raw: Option<&[u8]>) -> Result<()> {
        match raw {
            Some(bytes) => write_atomically(&self.path, bytes, Durability::Process),
            None => self.remove(),
        }
    }

    pub fn remove(&self) -> Result<()> {
        remove_if_present(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysctl::Key;

    fn rec(settings: &[(&str, &str, &str)]) -> StateRecord {
        StateRecord {
            version: STATE_VERSION,
            profile: "p".into(),
            netns: None,
            settings: settings
                .iter()
                .map(|(k, prev, applied)| RecordedSetting {
                    setting: Setting::sysctl(Key::parse(k).unwrap()),
                    previous: prev.to_string(),
                    applied: applied.to_string(),
                })
                .collect(),
            files: vec![],
        }
    }

    #[test]
    fn a_later_apply_keeps_the_earliest_previous_values() {
        let earlier = rec(&[("a.b", "1", "2"), ("c.d", "10", "20")]);
        let later = rec(&[("a.b", "2", "3"), ("e.f", "5", "6")]);
        let merged = later.merged_over(Some(earlier));
        let got: Vec<(String, &str, &str)> = merged
            .settings
            .iter()
            .map(|s| {
                (
                    s.setting.to_string(),
                    s.previous.as_str(),
                    s.applied.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.b".to_string(), "1", "3"),
                ("c.d".to_string(), "10", "20"),
                ("e.f".to_string(), "5", "6")
            ]
        );
    }

    #[test]
    fn records_round_trip_and_namespaces_have_their_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let host = StateStore::new(dir.path(), None);
        let ns = StateStore::new(dir.path(), Some("blue"));
        assert_ne!(host.path(), ns.path());
        assert_eq!(host.load().unwrap(), None);
        let r = rec(&[("net.core.somaxconn", "4096", "16384")]);
        host.save(&r).unwrap();
        assert_eq!(host.load().unwrap(), Some(r));
        assert_eq!(ns.load().unwrap(), None);
        host.remove().unwrap();
        host.remove().unwrap();
    }
}
