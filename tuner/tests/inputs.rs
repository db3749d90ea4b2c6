//! Files the user names that are not what they should be: a device, an oversized (sparse) file, a state file
//! that is a symlink to `/dev/zero`. Each is refused with exit 2 and a message naming the path, quickly and
//! within a memory cap — the old tuner read `/dev/zero` until it had eaten gigabytes.

mod fixture;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use fixture::FixtureHost;
use pincore_testkit::run_bounded;

/// Runs the tuner against `host` with 512 MiB of address space and 10 s; asserts exit 2 and `message`.
fn refused(host: &FixtureHost, args: &[&OsStr], message: &str) {
    let mut all: Vec<&OsStr> = vec![OsStr::new("--root"), host.root().as_os_str()];
    all.extend_from_slice(args);
    let run = run_bounded(
        Path::new(env!("CARGO_BIN_EXE_pincore-tuner")),
        &all,
        512,
        Duration::from_secs(10),
    )
    .expect("run pincore-tuner");
    assert!(!run.timed_out, "still running after 10 s: {run:?}");
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains(message), "{message:?} not in {run:?}");
}

fn sparse(host: &FixtureHost, rel: &str, size: u64) -> std::path::PathBuf {
    let p = host.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::File::create(&p).unwrap().set_len(size).unwrap();
    p
}

#[test]
fn a_profile_that_is_a_device_or_oversized_is_refused_by_name() {
    let host = FixtureHost::new();
    for command in ["plan", "show", "apply", "verify"] {
        refused(
            &host,
            &[OsStr::new(command), OsStr::new("/dev/zero")],
            "/dev/zero: not a regular file (a character device); give the path of a YAML profile",
        );
    }
    let big = sparse(&host, "big.yaml", 1 << 40);
    refused(
        &host,
        &[OsStr::new("plan"), big.as_os_str()],
        "big.yaml: 1099511627776 bytes is over the limit of 16777216 bytes (16 MiB); give the path of a YAML profile of at most 16 MiB",
    );
    // A user profile found by name in the profile directory goes through the same check.
    host.symlink("etc/pincore/profiles/zero.yaml", "/dev/zero");
    refused(
        &host,
        &[OsStr::new("plan"), OsStr::new("zero")],
        "not a regular file",
    );
}

#[test]
fn an_include_that_is_a_device_is_refused() {
    let host = FixtureHost::new();
    let p = host.profile("edge", "include: [zero]\n");
    host.symlink("etc/pincore/profiles/zero.yaml", "/dev/zero");
    refused(
        &host,
        &[OsStr::new("plan"), p.as_os_str()],
        "zero.yaml: not a regular file",
    );
}

#[test]
fn a_tuned_conf_that_is_a_device_or_oversized_is_refused() {
    let host = FixtureHost::new();
    refused(
        &host,
        &[OsStr::new("import-tuned"), OsStr::new("/dev/zero")],
        "/dev/zero: not a regular file (a character device); give the path of a tuned.conf file",
    );
    let big = sparse(&host, "tuned/big/tuned.conf", 1 << 40);
    refused(
        &host,
        &[OsStr::new("import-tuned"), big.as_os_str()],
        "over the limit",
    );
}

#[test]
fn a_state_file_that_is_a_device_or_oversized_is_refused() {
    let host = FixtureHost::new();
    host.symlink("var/lib/pincore-tuner/last-apply.json", "/dev/zero");
    refused(
        &host,
        &[OsStr::new("rollback")],
        "last-apply.json is a symbolic link",
    );
    std::fs::remove_file(host.path("var/lib/pincore-tuner/last-apply.json")).unwrap();
    sparse(&host, "var/lib/pincore-tuner/last-apply.json", 1 << 40);
    refused(
        &host,
        &[OsStr::new("apply"), OsStr::new("base")],
        "larger than 16777216 bytes",
    );
}

#[test]
fn a_profile_nested_100_000_deep_is_refused_at_once() {
    let host = FixtureHost::new();
    let p = host.profile(
        "deep",
        &format!("sysctl: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    refused(
        &host,
        &[OsStr::new("plan"), p.as_os_str()],
        "deep.yaml:1:72: nested more than 64 levels deep",
    );
}

#[test]
fn a_sysctl_in_a_fixture_tree_that_is_a_device_is_refused() {
    let host = FixtureHost::new();
    host.symlink("proc/sys/net/core/somaxconn", "/dev/zero");
    refused(
        &host,
        &[OsStr::new("plan"), OsStr::new("connections")],
        "somaxconn: not a regular file (a character device)",
    );
}
