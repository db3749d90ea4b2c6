//! A test that skips for a missing prerequisite must be visible: it records why, the test command's summary
//! lists it, and in CI it fails instead.

use std::path::Path;
use std::process::Command;

/// Runs this test binary again for [`skips_when_asked`] alone, with `env` set.
fn run_child(env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "skips_when_asked", "--nocapture"])
        .env("PINCORE_TESTKIT_SELFTEST", "1")
        .env_remove("CI")
        .env_remove("PINCORE_SKIP_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Skips with a made-up missing prerequisite when the test above runs it; passes trivially otherwise.
#[test]
fn skips_when_asked() {
    if std::env::var_os("PINCORE_TESTKIT_SELFTEST").is_none() {
        return;
    }
    pincore_testkit::require!(Err::<(), _>(pincore_testkit::Missing(
        "the frobnicator is not installed".into()
    )));
    panic!("require! should have returned");
}

#[test]
fn a_skipped_test_is_recorded_and_summarised_and_fails_in_ci() {
    let log = tempfile_dir();
    let out = run_child(&[("PINCORE_SKIP_LOG", log.to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: String = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        records.contains("skips_when_asked\tthe frobnicator is not installed"),
        "{records:?}"
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/skip-summary.sh");
    let summary = Command::new("bash")
        .arg(&script)
        .arg(&log)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&summary.stdout);
    assert!(summary.contains("did not run: 1 tests"), "{summary}");
    assert!(
        summary.contains("the frobnicator is not installed (1):")
            && summary.contains("skips_when_asked"),
        "{summary}"
    );

    // Nothing recorded: the summary says nothing.
    let empty = tempfile_dir();
    let quiet = Command::new("bash")
        .arg(&script)
        .arg(&empty)
        .output()
        .unwrap();
    assert!(quiet.status.success() && quiet.stdout.is_empty());

    // In CI the same test fails, naming the prerequisite.
    let ci = run_child(&[("CI", "true")]);
    assert!(!ci.status.success());
    assert!(
        String::from_utf8_lossy(&ci.stdout).contains("prerequisite missing in CI: the frobnicator")
            || String::from_utf8_lossy(&ci.stderr)
                .contains("prerequisite missing in CI: the frobnicator")
    );
    let _ = std::fs::remove_dir_all(log);
    let _ = std::fs::remove_dir_all(empty);
}

/// A fresh directory under the system temp dir (testkit has no dependencies to spare).
fn tempfile_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pincore-skips-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
