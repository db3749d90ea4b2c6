//! The command line: check-config, print-config, exit codes.

use std::process::Command;

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pincore-server"))
}

#[test]
fn check_config_accepts_a_valid_file_and_rejects_unknown_keys_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "limits:\n  max_bulk_len: 1024\n").unwrap();
    let out = server().arg("check-config").arg(&good).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "limits:\n  max_bulk_len: 1024\n  max_bananas: 3\n").unwrap();
    let out = server().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", bad.display()))
            && stderr.contains("max_bananas")
            && !stderr.contains("at line"),
        "{stderr}"
    );

    let out = server()
        .arg("check-config")
        .arg(dir.path().join("missing.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}

/// Runs the server with 512 MiB of address space for at most 10 s; asserts exit 2 and `message`.
fn refused(args: &[&std::ffi::OsStr], message: &str) {
    let run = pincore_testkit::run_bounded(
        std::path::Path::new(env!("CARGO_BIN_EXE_pincore-server")),
        args,
        512,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert!(!run.timed_out, "still running after 10 s: {run:?}");
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains(message), "{message:?} not in {run:?}");
}

#[test]
fn a_config_that_is_a_device_or_oversized_is_refused_quickly_with_exit_2() {
    use std::ffi::OsStr;
    // The old server read /dev/zero to 2.5 GB in two seconds.
    let zero = "pincore-server: cannot read config file /dev/zero: not a regular file (a character device); give the path of a YAML configuration file";
    refused(&[OsStr::new("check-config"), OsStr::new("/dev/zero")], zero);
    refused(&[OsStr::new("--config"), OsStr::new("/dev/zero")], zero);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    refused(
        &[OsStr::new("check-config"), big.as_os_str()],
        "1099511627776 bytes is over the limit of 16777216 bytes (16 MiB); give the path of a YAML configuration file (see `pincore-server print-config`) of at most 16 MiB",
    );
    refused(
        &[OsStr::new("check-config"), dir.path().as_os_str()],
        "(a directory)",
    );
}

#[test]
fn print_config_shows_the_effective_configuration() {
    let out = server().arg("print-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("listen: 127.0.0.1:6380") && text.contains("max_bulk_len: 8388608"),
        "{text}"
    );
    let out = server()
        .args(["--cpus", "0", "print-config", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["shards"]["cpus"], "0");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        server().arg("--bogus").output().unwrap().status.code(),
        Some(2)
    );
    let out = server()
        .args(["--cpus", "x"])
        .arg("print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_nic_device_stops_start_up_with_exit_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nic.yaml");
    std::fs::write(
        &config,
        "shards:\n  nic: {device: pincore-nonexistent0, mode: align}\nservices:\n  resp: {listen: 127.0.0.1:0}\n  echo: {listen: 127.0.0.1:0}\n  admin: {listen: 127.0.0.1:0}\n",
    )
    .unwrap();
    let out = server().arg("check-config").arg(&config).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server()
        .arg("--config")
        .arg(&config)
        .arg("print-config")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("device: pincore-nonexistent0") && printed.contains("mode: align"),
        "{printed}"
    );

    // Placement fails before any socket or shard exists, so the process exits on its own.
    let out = server().arg("--config").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("shards.nic.device \"pincore-nonexistent0\""),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("pincore-nonexistent0\"").count(),
        1,
        "a start-up error is said once: {stderr}"
    );
    let existing = stderr
        .split_once("devices on this host: [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list.split(',').collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(existing.contains(&"lo"), "{stderr}");
}

#[test]
fn with_json_logs_a_start_up_error_is_one_json_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nic.yaml");
    std::fs::write(
        &config,
        "log: {format: json}\nshards:\n  nic: {device: pincore-nonexistent0, mode: align}\nservices:\n  resp: {listen: 127.0.0.1:0}\n  echo: {listen: 127.0.0.1:0}\n  admin: {listen: 127.0.0.1:0}\n",
    )
    .unwrap();
    let out = server().arg("--config").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mentions: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("pincore-nonexistent0"))
        .collect();
    assert_eq!(mentions.len(), 1, "{stderr}");
    let record: serde_json::Value = serde_json::from_str(mentions[0]).expect("a JSON log record");
    assert_eq!(record["level"], "ERROR", "{record}");
}
