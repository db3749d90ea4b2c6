//! The workspace's crates stay layered: no file imports, through any path, a file that imports it back
//! (`scripts/import_cycles.py` decides; ARCHITECTURE.md says what each layer may know).

use std::path::Path;
use std::process::Command;

#[test]
fn no_crate_has_an_import_cycle_of_more_than_one_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    pincore_testkit::require!(Command::new("python3")
        .arg("--version")
        .output()
        .map(|_| ())
        .map_err(|e| pincore_testkit::Missing(format!(
            "python3 runs the import-cycle check: {e}"
        ))));
    let out = Command::new("python3")
        .arg(root.join("scripts/import_cycles.py"))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
