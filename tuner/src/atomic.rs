//! Replacing a file atomically: a reader (or a crash) sees the old content or the new, never a mix.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// How long a write must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Across a power loss: synced to disk (the sysctl.d drop-in, read at boot).
    Reboot,
    /// Across a crash of this process only. The state file describes sysctls, which a reboot resets anyway,
    /// so syncing it to disk would only cost time (milliseconds per apply).
    Process,
}

/// Writes `contents` to a temporary file beside `path` and renames it over `path`, syncing to disk first
/// when `durability` asks for it.
pub fn write_atomically(path: &Path, contents: &[u8], durability: Durability) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // The mode is explicit: whatever the umask, no other user may write what root will act on later.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            if durability == Durability::Reboot {
                f.sync_all()?;
            }
            Ok(())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("writing", path, e));
    }
    // The rename is durable once the directory is synced; failing to sync it does not undo the write.
    if durability == Durability::Reboot {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Removes `path`; a file that is already gone is fine.
pub(crate) fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("removing", path, e)),
        _ => Ok(()),
    }
}
