//! plan → apply → verify → rollback on fixture trees under `--root`, as a user runs them.

mod fixture;

use fixture::FixtureHost;

const SEMANTICS: &str = "\
name: semantics
description: at-least, at-most and exact, single and multi-field.
sysctl:
  net.core.somaxconn: {value: 1024, op: at-least, why: already higher}
  net.ipv4.tcp_max_syn_backlog: {value: 8192, op: at-least}
  net.ipv4.tcp_fin_timeout: {value: 30, op: at-most}
  net.ipv4.tcp_rmem: {value: 4096 87380 16777216, op: at-least}
  net.ipv4.ip_local_port_range: 1024 65535
  net.ipv4.tcp_congestion_control: {value: bbr, optional: true}
";

#[test]
fn plan_reports_each_action_and_writes_nothing() {
    let host = FixtureHost::new();
    host.profile("semantics", SEMANTICS);
    let before = host.snapshot();
    let json = host.run(&["plan", "semantics", "--json"]).expect(0).json();
    assert_eq!(host.snapshot(), before, "plan must not write");
    let by_key = |k: &str| {
        json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_key("net.core.somaxconn")["action"], "ok");
    assert_eq!(by_key("net.ipv4.tcp_max_syn_backlog")["action"], "change");
    assert_eq!(by_key("net.ipv4.tcp_fin_timeout")["write"], "30");
    // Field by field: the middle field is already above target and stays; the max is raised.
    assert_eq!(
        by_key("net.ipv4.tcp_rmem")["current"],
        "4096 131072 6291456"
    );
    assert_eq!(by_key("net.ipv4.tcp_rmem")["write"], "4096 131072 16777216");
    assert_eq!(by_key("net.ipv4.ip_local_port_range")["action"], "change");
    assert_eq!(
        by_key("net.ipv4.tcp_congestion_control")["action"],
        "missing"
    );
    assert_eq!(by_key("net.core.somaxconn")["why"], "already higher");

    let table = host.run(&["plan", "semantics"]).expect(0).stdout;
    assert!(
        table.contains("3 to change") || table.contains("4 to change"),
        "{table}"
    );
    assert!(table.contains("Nothing was written."));
}

#[test]
fn apply_writes_only_what_differs_then_verify_and_rollback() {
    let host = FixtureHost::new();
    host.profile("semantics", SEMANTICS);
    let before = host.snapshot();

    let run = host.run(&["apply", "semantics", "--json"]).expect(0);
    let report = run.json();
    let changed: Vec<&str> = report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        [
            "net.ipv4.tcp_max_syn_backlog",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_rmem",
            "net.ipv4.ip_local_port_range"
        ]
    );
    assert_eq!(report["unchanged"], 1);
    assert_eq!(
        host.sysctl("net.core.somaxconn"),
        "4096",
        "at-least never lowers"
    );
    assert_eq!(host.sysctl("net.ipv4.tcp_max_syn_backlog"), "8192");
    assert_eq!(host.sysctl("net.ipv4.tcp_fin_timeout"), "30");
    assert_eq!(host.sysctl("net.ipv4.tcp_rmem"), "4096 131072 16777216");
    assert_eq!(host.sysctl("net.ipv4.ip_local_port_range"), "1024 65535");

    // The state file holds the raw previous values.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(host.path("var/lib/pincore-tuner/last-apply.json")).unwrap(),
    )
    .unwrap();
    let rmem = state["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "net.ipv4.tcp_rmem")
        .unwrap();
    assert_eq!(rmem["kind"], "sysctl");
    assert_eq!(rmem["previous"], "4096\t131072\t6291456");

    host.run(&["verify", "semantics"]).expect(0);
    // A second apply has nothing to do.
    let again = host.run(&["apply", "semantics", "--json"]).expect(0).json();
    assert_eq!(again["changed"].as_array().unwrap().len(), 0);

    let rb = host.run(&["rollback"]).expect(0);
    assert!(rb.stdout.contains("4 value(s) restored"), "{}", rb.stdout);
    // Only the (now empty) state directory remains.
    let without_state = |mut s: std::collections::BTreeMap<std::path::PathBuf, String>| {
        s.retain(|p, _| !p.starts_with("var"));
        s
    };
    assert_eq!(
        without_state(host.snapshot()),
        before,
        "rollback restores every value exactly"
    );
    assert!(!host.path("var/lib/pincore-tuner/last-apply.json").exists());
    let twice = host.run(&["rollback"]).expect(0);
    assert!(
        twice.stdout.contains("nothing to roll back"),
        "{}",
        twice.stdout
    );
    assert_eq!(without_state(host.snapshot()), before);
}

#[test]
fn verify_detects_drift_and_names_key_expected_actual_profile() {
    let host = FixtureHost::new();
    host.profile(
        "child",
        "include: [connections]\nsysctl:\n  net.ipv4.tcp_fin_timeout: {value: 20, op: at-most}\n",
    );
    host.run(&["apply", "child"]).expect(0);
    host.run(&["verify", "child"]).expect(0);

    host.set_sysctl("net.core.somaxconn", "128");
    host.set_sysctl("net.ipv4.tcp_fin_timeout", "25");
    let run = host.run(&["verify", "child"]).expect(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("net.core.somaxconn"))
        .expect(&run.stdout);
    for word in [">= 16384", "128", "connections"] {
        assert!(line.contains(word), "{word} missing in {line:?}");
    }
    assert!(run.stdout.contains("2 key(s) drifted"), "{}", run.stdout);

    let json = host.run(&["verify", "child", "--json"]).expect(1).json();
    assert_eq!(json["in_sync"], false);
    let drift = json["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 2);
    assert_eq!(
        drift[1],
        serde_json::json!({"key": "net.ipv4.tcp_fin_timeout", "expected": "<= 20", "actual": "25", "profile": "child"})
    );

    // Within bounds is not drift: at-most 20 is met by 15.
    host.set_sysctl("net.core.somaxconn", "32768");
    host.set_sysctl("net.ipv4.tcp_fin_timeout", "15");
    host.run(&["verify", "child"]).expect(0);
}

#[test]
fn a_write_failing_half_way_leaves_the_tree_exactly_as_it_was() {
    let host = FixtureHost::new();
    // An earlier apply, so there is a state file that must come back byte for byte.
    host.profile("first", "sysctl:\n  net.core.busy_poll: 50\n");
    host.run(&["apply", "first"]).expect(0);
    // A key whose write the kernel rejects: the tuner's own /proc/self/oom_score_adj (writable, so planned as
    // a change; "pincore" is EINVAL, and nothing outside the tuner process could change).
    host.symlink("proc/sys/kernel/ostype", "/proc/self/oom_score_adj");
    host.profile(
        "failing",
        "sysctl:\n  net.core.somaxconn: 8192\n  net.ipv4.tcp_rmem: 4096 87380 16777216\n  kernel.ostype: pincore\n  net.ipv4.tcp_fin_timeout: 10\n",
    );
    let before = host.snapshot();
    let run = host.run(&["apply", "failing"]).expect(2);
    assert_eq!(
        host.snapshot(),
        before,
        "the failed apply left changes behind:\n{}",
        run.stderr
    );
    for word in [
        "kernel.ostype",
        "\"pincore\"",
        "the kernel rejected",
        "restored",
    ] {
        assert!(run.stderr.contains(word), "{word} missing: {}", run.stderr);
    }
}

#[test]
fn a_read_only_key_is_reported_and_skipped_while_the_rest_applies() {
    use std::os::unix::fs::PermissionsExt;
    let host = FixtureHost::new();
    // As inside a non-initial network namespace, where the kernel shows rmem_max and wmem_max as 0444. Root
    // could still write this fixture file: the mode bits are what the tuner goes by.
    let rmem = host.path("proc/sys/net/core/rmem_max");
    std::fs::set_permissions(&rmem, std::fs::Permissions::from_mode(0o444)).unwrap();
    let json = host.run(&["plan", "throughput", "--json"]).expect(0).json();
    let by_key = |k: &str| {
        json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k)
            .cloned()
            .unwrap()
    };
    let rmem_plan = by_key("net.core.rmem_max");
    assert_eq!(rmem_plan["action"], "read-only-here", "{rmem_plan}");
    assert_eq!(rmem_plan["current"], "212992");
    assert!(
        rmem_plan["note"].as_str().unwrap().contains("mode 0444"),
        "{rmem_plan}"
    );
    assert_eq!(by_key("net.core.wmem_max")["action"], "change");
    let table = host.run(&["plan", "throughput"]).expect(0).stdout;
    assert!(table.contains("1 read-only here"), "{table}");

    let applied = host.run(&["apply", "throughput"]).expect(0);
    assert_eq!(host.sysctl("net.core.rmem_max"), "212992", "left alone");
    assert_eq!(host.sysctl("net.core.wmem_max"), "16777216");
    assert!(
        applied
            .stdout
            .contains("skipped net.core.rmem_max: read-only here"),
        "{}",
        applied.stdout
    );
    // Not drift: nothing this host lets the tuner change differs.
    host.run(&["verify", "throughput"]).expect(0);
}

#[test]
fn a_write_that_reads_back_wrong_is_undone() {
    let host = FixtureHost::new();
    // The tuner's own /proc/self/comm keeps the first 15 bytes of a write: like a kernel silently keeping
    // another value (and nothing outside the tuner process changes).
    host.symlink("proc/sys/net/core/busy_read", "/proc/self/comm");
    host.profile(
        "clamped",
        "sysctl:\n  net.core.somaxconn: 8192\n  net.core.busy_read: abcdefghijklmnopqrstuvwxyz\n",
    );
    let before = host.snapshot();
    let run = host.run(&["apply", "clamped"]).expect(2);
    assert_eq!(host.snapshot(), before);
    assert!(
        run.stderr.contains("net.core.busy_read") && run.stderr.contains("reads back"),
        "{}",
        run.stderr
    );
}

#[test]
fn rollback_after_two_applies_returns_to_the_original_values() {
    let host = FixtureHost::new();
    let before = host.snapshot();
    host.run(&["apply", "connections"]).expect(0);
    host.run(&["apply", "throughput"]).expect(0);
    assert_eq!(host.sysctl("net.ipv4.tcp_fin_timeout"), "30");
    assert_eq!(host.sysctl("net.core.rmem_max"), "16777216");
    let json = host.run(&["rollback", "--json"]).expect(0).json();
    assert_eq!(json["profile"], "throughput");
    // The state dir is left behind but empty; every sysctl is back.
    let mut after = host.snapshot();
    after.retain(|p, _| !p.starts_with("var"));
    assert_eq!(after, before);
}

#[test]
fn persist_writes_the_dropin_and_warns_about_later_overrides() {
    let host = FixtureHost::new();
    // Debian's layout: 99-sysctl.conf -> ../sysctl.conf, read after the drop-in.
    host.write(
        "etc/sysctl.conf",
        "# local\nnet.core.somaxconn = 1024\nnet.ipv4.tcp_tw_reuse=1\n",
    );
    host.symlink("etc/sysctl.d/99-sysctl.conf", "../sysctl.conf");
    host.write(
        "usr/lib/sysctl.d/50-default.conf",
        "net.core.somaxconn = 128\n",
    );
    host.write(
        "usr/lib/sysctl.d/70-vendor.conf",
        "-net.ipv4.tcp_fin_timeout = 60\n",
    );
    // The same name in /etc masks the vendor file.
    host.write(
        "etc/sysctl.d/70-vendor.conf",
        "net.ipv4.tcp_fin_timeout = 20\n",
    );

    let run = host.run(&["apply", "connections", "--persist"]).expect(0);
    let dropin = host.path("etc/sysctl.d/60-pincore-connections.conf");
    let text = std::fs::read_to_string(&dropin).unwrap();
    assert!(text.contains("net.core.somaxconn = 16384\n"), "{text}");
    assert!(
        text.contains("net.ipv4.ip_local_port_range = 1024 65535\n"),
        "{text}"
    );
    // A raise-only key already above its target is pinned at the live value, not lowered at boot.
    assert!(
        text.contains("fs.file-max = 9223372036854775807\n"),
        "{text}"
    );
    let warnings: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stdout);
    assert!(
        warnings[0].contains("99-sysctl.conf:2")
            && warnings[0].contains("net.core.somaxconn = 1024"),
        "{}",
        warnings[0]
    );

    let verify = host
        .run(&["verify", "connections", "--json"])
        .expect(0)
        .json();
    assert_eq!(verify["overrides"].as_array().unwrap().len(), 1);
    assert_eq!(verify["overrides"][0]["key"], "net.core.somaxconn");
    assert!(verify["persisted"]
        .as_str()
        .unwrap()
        .ends_with("60-pincore-connections.conf"));

    host.run(&["rollback"]).expect(0);
    assert!(!dropin.exists(), "rollback removes the drop-in it wrote");
    assert_eq!(host.sysctl("net.core.somaxconn"), "4096");
}

#[test]
fn sysctl_dir_and_state_dir_keep_writes_where_they_are_pointed() {
    let host = FixtureHost::new();
    // The latency profile sets the congestion control, which the stock fixture leaves out (see SEMANTICS).
    host.write("proc/sys/net/ipv4/tcp_congestion_control", "cubic\n");
    let elsewhere = tempfile::tempdir().unwrap();
    let (sysctl_dir, state_dir) = (
        elsewhere.path().join("sysctl.d"),
        elsewhere.path().join("state"),
    );
    host.run(&[
        "apply",
        "latency",
        "--persist",
        "--sysctl-dir",
        sysctl_dir.to_str().unwrap(),
        "--state-dir",
        state_dir.to_str().unwrap(),
    ])
    .expect(0);
    assert!(sysctl_dir.join("60-pincore-latency.conf").is_file());
    assert!(state_dir.join("last-apply.json").is_file());
    assert!(!host.path("etc/sysctl.d").exists() && !host.path("var/lib").exists());
}

#[test]
fn an_apply_while_another_holds_the_state_directory_changes_nothing() {
    use std::os::fd::AsRawFd;
    let host = FixtureHost::new();
    let dir = host.path("var/lib/pincore-tuner");
    std::fs::create_dir_all(&dir).unwrap();
    let held = std::fs::File::open(&dir).unwrap();
    // SAFETY: flock(2) on a descriptor this test owns; released when `held` is dropped.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let before = host.snapshot();
    let run = host.run(&["apply", "connections"]).expect(2);
    assert!(
        run.stderr
            .contains("another pincore-tuner apply or rollback is running"),
        "{}",
        run.stderr
    );
    assert_eq!(host.snapshot(), before);
    drop(held);
    host.run(&["apply", "connections"]).expect(0);
}
