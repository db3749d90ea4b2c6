//! The Debian packages (`packaging/build-debs.sh`): built from this workspace, clean under lintian, installed with
//! apt into a throwaway overlay of this machine's root (`packaging/try-install.sh`: a mount and network namespace
//! of its own, so the host changes nothing), checked there — configuration check, conffile, system user, man pages,
//! completions, units, exposure — then purged, leaving nothing behind that names pincore.

use std::path::{Path, PathBuf};
use std::process::Command;

use pincore_testkit::{command, require, root};

const BINARIES: [&str; 6] = [
    "pincore-server",
    "pincore-tuner",
    "pincore-deploy",
    "pincore-bench",
    "pincore-bench-tokio-echo",
    "pincore-top",
];

/// What try-install.sh checks inside the overlay; each must be reported, and reported ok.
const CHECKS: [&str; 18] = [
    "install",
    "check-config",
    "conffile",
    "version",
    "system-user",
    "profile-dir",
    "man-tuner",
    "man-subcommand",
    "man-top",
    "man-renders",
    "bash-completion",
    "zsh-completion",
    "fish-completion",
    "unit-verify",
    "template-verify",
    "unit-enabled",
    "purge",
    "gone",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn packages_pass_lintian_install_work_and_purge_cleanly() {
    require!(
        root(),
        command("cargo-deb"),
        command("lintian"),
        command("unshare"),
        command("apt-get"),
        command("systemd-analyze"),
        command("man"),
    );
    let out = tempfile::tempdir().unwrap();
    // The suite's own debug binaries make the packages when they are all built (a whole-workspace run); the
    // script builds whatever is missing otherwise.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_pincore-deploy"))
        .parent()
        .unwrap();
    let built = BINARIES.iter().all(|b| bin_dir.join(b).is_file());
    let mut build = Command::new(workspace().join("packaging/build-debs.sh"));
    build.args(["--profile", "dev", "--out"]).arg(out.path());
    if built {
        build.arg("--no-build");
    }
    let made = build.output().unwrap();
    assert!(
        made.status.success(),
        "build-debs.sh failed:\n{}",
        text(&made.stderr)
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    for package in ["pincore-server_", "pincore-tuner_", "pincore-tools_"] {
        assert!(
            debs.iter().any(|d| d
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(package)),
            "no {package}*.deb among {debs:?}"
        );
    }

    // Warnings fail too: each one the packages keep is overridden, with the reason, in packaging/*/lintian-overrides.
    let lint = Command::new("lintian")
        .args(["--fail-on", "error,warning"])
        .args(&debs)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "lintian:\n{}{}",
        text(&lint.stdout),
        text(&lint.stderr)
    );

    let tried = Command::new(workspace().join("packaging/try-install.sh"))
        .arg(out.path())
        .output()
        .unwrap();
    let report = text(&tried.stdout);
    assert!(
        tried.status.success(),
        "try-install.sh failed:\n{report}\n{}",
        text(&tried.stderr)
    );
    for check in CHECKS {
        assert!(
            report.lines().any(|l| l == format!("check {check} ok")),
            "check {check} not ok:\n{report}"
        );
    }
    let left: Vec<&str> = report.lines().filter(|l| l.starts_with("left ")).collect();
    assert!(left.is_empty(), "the purge left files behind: {left:?}");
    let exposure: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("exposure "))
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(
        exposure <= 2.0,
        "systemd-analyze security exposure {exposure} > 2.0"
    );
}
