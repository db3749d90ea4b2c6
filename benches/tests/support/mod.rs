//! What the end-to-end tests of `compare` and `tuned` share.

use std::path::{Path, PathBuf};

use pincore_testkit::Missing;

/// A binary of the same build (`target/<profile>/NAME`), as pincore-bench itself finds it.
pub fn sibling(name: &str) -> Result<PathBuf, Missing> {
    pincore_testkit::sibling(env!("CARGO_BIN_EXE_pincore-bench"), name)
}

/// Processes whose working directory is `dir` or below it (pincore-bench starts every server there).
pub fn processes_in(dir: &Path) -> Vec<String> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let proc_dir = entry.path();
        // The servers run in the output directory or the work directory inside it.
        if std::fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir)) {
            let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}
