//! The state file: what `apply` changed and the values before, so `rollback` can restore them without a
//! daemon.
//!
//! It is written before the first change of an apply. A later apply merges into it and keeps the earliest
//! previous value of each setting, so `rollback` always returns to how the host was before pincore touched
//! it, however many profiles were applied since. In `--netns` mode each namespace has its own file, so a
//! namespace run never clobbers the host's record.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::atomic::{remove_if_present, write_atomically, Durability};
use crate::error::{Error, Result};
use crate::host::Setting;
use crate::input;

/// Where state lives unless `--state-dir` says otherwise (under `--root`).
pub const DEFAULT_STATE_DIR: &str = "var/lib/pincore";

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

    /// Takes the state directory's lock (creating the directory), so two applies or rollbacks never
    /// interleave their reads and writes. Held until the returned value is dropped.
    pub fn lock(&self) -> Result<StateLock> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
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
        let record: StateRecord = serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        if record.version != STATE_VERSION {
            return Err(Error::State {
                path: self.path.clone(),
                message: format!(
                    "version {} is not {STATE_VERSION}, written by another pincore-tuner",
                    record.version
                ),
            });
        }
        Ok(Some(record))
    }

    /// The file's bytes, to put back exactly if an apply fails.
    pub fn load_raw(&self) -> Result<Option<Vec<u8>>> {
        let expected = input::Expected::text("a pincore-tuner state file (or no file at all)");
        match input::read(&self.path, expected) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
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
