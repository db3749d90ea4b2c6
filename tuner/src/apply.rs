//! Applying a plan and rolling it back, through a [`SettingStore`].
//!
//! The order is what makes it safe: read every previous value, write the state file, then write only what
//! differs and read each write back. If a write fails or reads back wrong, every setting this run changed is
//! restored (newest first) and the state file is put back as it was, so the host is exactly as before.

use std::path::PathBuf;

use serde::Serialize;

use crate::atomic::{remove_if_present, write_atomically, Durability};
use crate::error::{Error, Result};
use crate::host::SettingStore;
use crate::input;
use crate::setting::Setting;
use crate::state::{
    RecordedFile, RecordedSetting, RestoreScope, StateRecord, StateStore, STATE_VERSION,
};
use crate::sysctl::normalise;

/// One write the plan asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    pub setting: Setting,
    pub value: String,
}

/// A file the apply writes as a whole (the persisted sysctl.d drop-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// Everything one apply does.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub profile: String,
    pub netns: Option<String>,
    pub writes: Vec<PlannedWrite>,
    pub files: Vec<PlannedFile>,
}

/// A setting this run changed (for rollback: `previous` is what apply had written, `value` what was
/// restored). Values are whitespace-normalised for display; the state file keeps them exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    #[serde(flatten)]
    pub setting: Setting,
    pub previous: String,
    pub value: String,
}

/// Carries out `request`; on failure nothing it changed stays changed (or the error says it could not
/// restore, and the state file is kept for `rollback`).
pub fn apply(
    store: &dyn SettingStore,
    state: &StateStore,
    request: ApplyRequest,
) -> Result<Vec<Applied>> {
    if request.writes.is_empty() && request.files.is_empty() {
        return Ok(Vec::new());
    }
    // Directories the state file and drop-ins need that do not exist yet are removed again on failure.
    let mut created_dirs = missing_dirs(state.path());
    for f in &request.files {
        created_dirs.extend(missing_dirs(&f.path));
    }
    let result = state
        .lock()
        .and_then(|_lock| apply_locked(store, state, request));
    if result.is_err() {
        remove_empty(&created_dirs);
    }
    result
}

/// [`apply`] while holding the state directory's lock, so the previous values it records are current.
fn apply_locked(
    store: &dyn SettingStore,
    state: &StateStore,
    request: ApplyRequest,
) -> Result<Vec<Applied>> {
    let mut recorded = Vec::new();
    for w in &request.writes {
        let previous = store.read(&w.setting)?.ok_or_else(|| Error::Unwritable {
            setting: w.setting.to_string(),
            reason: "it does not exist (it disappeared after planning?)".into(),
        })?;
        recorded.push(RecordedSetting {
            setting: w.setting.clone(),
            previous,
            applied: w.value.clone(),
        });
    }
    let mut files = Vec::new();
    for f in &request.files {
        let expected = input::Expected::text("a sysctl.d drop-in (or no file at all)");
        let previous = match input::read_text(&f.path, expected) {
            Ok(s) => Some(s),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        files.push(RecordedFile {
            path: f.path.clone(),
            previous,
        });
    }

    let earlier_raw = state.load_raw()?;
    let earlier = state.load()?;
    let record = StateRecord {
        version: STATE_VERSION,
        profile: request.profile.clone(),
        netns: request.netns.clone(),
        settings: recorded.clone(),
        files: files.clone(),
    }
    .merged_over(earlier);
    state.save(&record)?;
    let undo = Undo {
        store,
        state,
        earlier_raw,
    };

    let mut done: Vec<&RecordedSetting> = Vec::new();
    for r in &recorded {
        tracing::debug!(setting = %r.setting, value = %r.applied, "writing");
        let outcome = store
            .write(&r.setting, &r.applied)
            .and_then(|()| read_back(store, r));
        if let Err(e) = outcome {
            // A write that read back wrong did change the value: restore it too.
            let changed_it = !matches!(e, Error::Sysctl(_));
            if changed_it {
                done.push(r);
            }
            return Err(undo.fail(&done, &[], &r.setting.to_string(), &r.applied, e));
        }
        done.push(r);
    }
    let mut written: Vec<&RecordedFile> = Vec::new();
    for (f, r) in request.files.iter().zip(&files) {
        if let Err(e) = write_atomically(&f.path, f.contents.as_bytes(), Durability::Reboot) {
            let what = f.path.display().to_string();
            return Err(undo.fail(&done, &written, &what, "(file contents)", e));
        }
        written.push(r);
    }
    Ok(recorded
        .into_iter()
        .map(|r| Applied {
            setting: r.setting,
            previous: normalise(&r.previous),
            value: normalise(&r.applied),
        })
        .collect())
}

/// The ancestors of `path` that do not exist, deepest first.
fn missing_dirs(path: &std::path::Path) -> Vec<PathBuf> {
    path.ancestors()
        .skip(1)
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(PathBuf::from)
        .collect()
}

/// Removes directories this run created, if they are empty again (deepest first).
fn remove_empty(dirs: &[PathBuf]) {
    let mut dirs = dirs.to_vec();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

/// The kernel may accept a write and keep another value (clamping, a read-only fixture): compare.
fn read_back(store: &dyn SettingStore, r: &RecordedSetting) -> Result<()> {
    let now = store.read(&r.setting)?.unwrap_or_default();
    if normalise(&now) == normalise(&r.applied) {
        Ok(())
    } else {
        Err(Error::Unwritable {
            setting: r.setting.to_string(),
            reason: format!(
                "the write was accepted but it reads back {:?}",
                normalise(&now)
            ),
        })
    }
}

/// How to put the host back as it was before this run.
struct Undo<'a> {
    store: &'a dyn SettingStore,
    state: &'a StateStore,
    /// The state file's bytes before this run (`None`: there was none).
    earlier_raw: Option<Vec<u8>>,
}

impl Undo<'_> {
    /// Restores `done` and `written` (newest first), then the state file, and says what failed.
    fn fail(
        &self,
        done: &[&RecordedSetting],
        written: &[&RecordedFile],
        failed_on: &str,
        value: &str,
        cause: Error,
    ) -> Error {
        let reason = match cause {
            Error::Sysctl(e) => e.to_string(),
            Error::Unwritable { reason, .. } => reason,
            other => other.to_string(),
        };
        tracing::debug!(%failed_on, %reason, "apply failed; restoring this run's changes");
        let mut failures = restore_settings(self.store, done.iter().copied());
        failures.extend(restore_files(written.iter().copied()));
        if !failures.is_empty() {
            return Error::ApplyFailedUnrestored {
                setting: failed_on.into(),
                value: value.into(),
                reason,
                restore_errors: failures.join("; "),
                state: self.state.path().to_path_buf(),
            };
        }
        if let Err(e) = self.state.restore_raw(self.earlier_raw.as_deref()) {
            tracing::warn!("could not restore the state file: {e}");
        }
        Error::ApplyFailed {
            setting: failed_on.into(),
            value: value.into(),
            reason,
        }
    }
}

/// Writes back each `previous` (newest first) where the live value differs; returns what failed.
fn restore_settings<'a>(
    store: &dyn SettingStore,
    settings: impl DoubleEndedIterator<Item = &'a RecordedSetting>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for r in settings.rev() {
        let current = store.read(&r.setting);
        if matches!(&current, Ok(Some(v)) if v == &r.previous) {
            continue;
        }
        if let Err(e) = store.write(&r.setting, &r.previous) {
            failures.push(format!("{} back to {:?}: {e}", r.setting, r.previous));
        }
    }
    failures
}

fn restore_files<'a>(files: impl DoubleEndedIterator<Item = &'a RecordedFile>) -> Vec<String> {
    files
        .rev()
        .filter_map(|f| {
            let result = match &f.previous {
                Some(text) => write_atomically(&f.path, text.as_bytes(), Durability::Reboot),
                None => remove_if_present(&f.path),
            };
            result.err().map(|e| e.to_string())
        })
        .collect()
}

/// What a rollback did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rollback {
    /// `None` when there was nothing to roll back.
    pub profile: Option<String>,
    pub restored: Vec<Applied>,
    /// Files removed or put back as they were.
    pub files: Vec<PathBuf>,
}

/// Restores everything the state file records and removes it. With no state file it does nothing, so
/// running it twice is harmless.
///
/// Only what an apply in `scope` could have written is restored; anything else the file names is refused
/// (and reported, with the state file kept), so a state file can never steer the tuner beyond its own writes.
pub fn rollback(
    store: &dyn SettingStore,
    state: &StateStore,
    scope: RestoreScope,
) -> Result<Rollback> {
    if state.load_raw()?.is_none() {
        return Ok(Rollback::default());
    }
    let _lock = state.lock()?;
    // Loaded again under the lock: a concurrent rollback may have finished meanwhile.
    let Some(record) = state.load()? else {
        return Ok(Rollback::default());
    };
    let (record, refused) = record.without_refused(scope);
    let mut failures = restore_settings(store, record.settings.iter());
    failures.extend(restore_files(record.files.iter()));
    let refused_text = || {
        refused
            .iter()
            .map(|r| format!("{}: {}", r.entry, r.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !failures.is_empty() {
        if !refused.is_empty() {
            failures.push(format!("refused {}", refused_text()));
        }
        return Err(Error::RollbackIncomplete {
            failures: failures.join("; "),
            state: state.path().to_path_buf(),
        });
    }
    if !refused.is_empty() {
        for r in &refused {
            tracing::warn!(entry = %r.entry, reason = %r.reason, "refused to restore");
        }
        return Err(Error::RollbackRefused {
            count: refused.len(),
            refused: refused_text(),
            restored: record.settings.len() + record.files.len(),
            state: state.path().to_path_buf(),
        });
    }
    state.remove()?;
    Ok(Rollback {
        profile: Some(record.profile),
        restored: record
            .settings
            .into_iter()
            .map(|r| Applied {
                setting: r.setting,
                previous: normalise(&r.applied),
                value: normalise(&r.previous),
            })
            .collect(),
        files: record.files.into_iter().map(|f| f.path).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysctl::Key;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// Settings in memory; writing `fail_on` fails like a kernel rejecting the value.
    #[derive(Default)]
    struct Memory {
        values: RefCell<BTreeMap<String, String>>,
        fail_on: Option<String>,
    }

    impl SettingStore for Memory {
        fn read(&self, s: &Setting) -> Result<Option<String>> {
            Ok(self.values.borrow().get(&s.to_string()).cloned())
        }
        fn write(&self, s: &Setting, value: &str) -> Result<()> {
            if self.fail_on.as_deref() == Some(&s.to_string()) {
                let Setting::Sysctl { key } = s else {
                    unreachable!("these tests only plan sysctls")
                };
                return Err(crate::sysctl::SysctlError::Rejected {
                    key: key.clone(),
                    value: value.into(),
                }
                .into());
            }
            self.values.borrow_mut().insert(s.to_string(), value.into());
            Ok(())
        }
    }

    const HOST: RestoreScope = RestoreScope {
        in_namespace: false,
        dropin_dir: None,
    };

    fn write(k: &str, v: &str) -> PlannedWrite {
        PlannedWrite {
            setting: Setting::sysctl(Key::parse(k).unwrap()),
            value: v.into(),
        }
    }

    fn memory(fail_on: Option<&str>) -> Memory {
        let m = Memory {
            fail_on: fail_on.map(String::from),
            ..Memory::default()
        };
        for (k, v) in [("a.one", "1"), ("a.two", "2"), ("a.three", "3")] {
            m.values.borrow_mut().insert(k.into(), v.into());
        }
        m
    }

    fn request(writes: Vec<PlannedWrite>) -> ApplyRequest {
        ApplyRequest {
            profile: "p".into(),
            netns: None,
            writes,
            files: vec![],
        }
    }

    #[test]
    fn a_failed_write_restores_earlier_writes_and_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::new(dir.path(), None);
        let m = memory(Some("a.three"));
        let before = m.values.borrow().clone();
        let err = apply(
            &m,
            &state,
            request(vec![
                write("a.one", "10"),
                write("a.two", "20"),
                write("a.three", "30"),
            ]),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::ApplyFailed { ref setting, .. } if setting == "a.three"),
            "{err}"
        );
        assert_eq!(*m.values.borrow(), before);
        assert!(!state.path().exists());
    }

    #[test]
    fn rollback_restores_the_first_previous_values_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::new(dir.path(), None);
        let m = memory(None);
        let before = m.values.borrow().clone();
        apply(&m, &state, request(vec![write("a.one", "10")])).unwrap();
        apply(
            &m,
            &state,
            request(vec![write("a.one", "100"), write("a.two", "20")]),
        )
        .unwrap();
        assert_eq!(m.values.borrow()["a.one"], "100");
        let r = rollback(&m, &state, HOST).unwrap();
        assert_eq!(r.restored.len(), 2);
        assert_eq!(*m.values.borrow(), before);
        let again = rollback(&m, &state, HOST).unwrap();
        assert!(again.profile.is_none() && again.restored.is_empty());
    }
}
