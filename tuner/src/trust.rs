//! Whose files the tuner acts on.
//!
//! `apply` and `rollback` run as root and write whatever the state file tells them to restore, so the state
//! file is as powerful as root itself. The tuner therefore trusts a state file or directory only when no
//! other user could have written it — the rule sshd's `StrictModes` applies to `authorized_keys`: the file
//! and the directory holding it are owned by root (or by the user running the tuner, who gains nothing) and
//! are not writable by group or others, and every directory above them is owned by root (or that user) and
//! is either not writable by group or others or sticky (`/tmp`: nobody else can rename an entry there).
//! The server's own state directory belongs to the server's user, so the tuner's state must live elsewhere.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Bits that let group or others change a file or a directory's entries.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Refuses `dir` (an existing directory) unless it and every directory above it are trusted.
pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    let canonical = dir
        .canonicalize()
        .map_err(|e| Error::io("resolving state directory", dir, e))?;
    let meta = std::fs::metadata(&canonical)
        .map_err(|e| Error::io("inspecting state directory", &canonical, e))?;
    if !meta.is_dir() {
        return Err(untrusted(&canonical, "is not a directory".into()));
    }
    judge(&canonical, &meta, false)?;
    for ancestor in canonical.ancestors().skip(1) {
        let meta = std::fs::metadata(ancestor)
            .map_err(|e| Error::io("inspecting directory", ancestor, e))?;
        judge(ancestor, &meta, true)?;
    }
    Ok(())
}

/// Refuses the file at `path` unless it is a regular file (not a symlink) that only a trusted user could
/// have written. Its directory is checked by [`check_dir`].
pub(crate) fn check_file(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(untrusted(path, "is a symbolic link".into()));
    }
    if !meta.is_file() {
        return Err(untrusted(path, "is not a regular file".into()));
    }
    judge(path, meta, false)
}

/// The ownership and mode rule for one path.
fn judge(path: &Path, meta: &std::fs::Metadata, ancestor: bool) -> Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    let uid = meta.uid();
    if uid != 0 && uid != me {
        let whose = if me == 0 {
            "root".to_string()
        } else {
            format!("root or uid {me}")
        };
        return Err(untrusted(
            path,
            format!("is owned by uid {uid}, not by {whose}"),
        ));
    }
    let mode = meta.permissions().mode();
    let sticky_dir = ancestor && meta.is_dir() && mode & STICKY != 0;
    if mode & GROUP_OR_OTHER_WRITE != 0 && !sticky_dir {
        return Err(untrusted(
            path,
            format!("is writable by group or others (mode {:o})", mode & 0o7777),
        ));
    }
    Ok(())
}

fn untrusted(path: &Path, reason: String) -> Error {
    Error::Untrusted {
        path: PathBuf::from(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_private_directory_and_file_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("last-apply.json");
        std::fs::write(&file, "{}").unwrap();
        chmod(&file, 0o644);
        check_dir(dir.path()).unwrap();
        check_file(&file, &std::fs::symlink_metadata(&file).unwrap()).unwrap();
    }

    #[test]
    fn group_or_world_writable_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        chmod(&state, 0o777);
        let err = check_dir(&state).unwrap_err().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
        chmod(&state, 0o755);
        let file = state.join("last-apply.json");
        std::fs::write(&file, "{}").unwrap();
        chmod(&file, 0o666);
        let err = check_file(&file, &std::fs::symlink_metadata(&file).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mode 666") && err.contains("chown root"),
            "{err}"
        );
    }

    #[test]
    fn a_writable_parent_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("shared");
        let state = parent.join("state");
        std::fs::create_dir_all(&state).unwrap();
        chmod(&parent, 0o777);
        let err = check_dir(&state).unwrap_err().to_string();
        assert!(err.contains("shared"), "{err}");
        chmod(&parent, 0o1777);
        check_dir(&state).unwrap();
    }

    #[test]
    fn a_symlinked_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.json");
        std::fs::write(&target, "{}").unwrap();
        let link = dir.path().join("last-apply.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = check_file(&link, &std::fs::symlink_metadata(&link).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_file_of_another_user_is_refused() {
        pincore_testkit::require!(pincore_testkit::root());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("last-apply.json");
        std::fs::write(&file, "{}").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let err = check_file(&file, &std::fs::symlink_metadata(&file).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("owned by uid 65534"), "{err}");
    }
}
