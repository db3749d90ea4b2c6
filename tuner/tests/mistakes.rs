//! Mistakes a user makes that must not pass silently: a mistyped sysctl key, a mistyped profile name, a
//! `--root` that is not a host tree. Each fails before anything is written, and says what was probably meant.

mod fixture;

use fixture::FixtureHost;

#[test]
fn a_mistyped_key_fails_every_command_with_the_key_it_probably_meant_and_writes_nothing() {
    let host = FixtureHost::new();
    host.profile(
        "typo",
        "sysctl:\n  net.core.somaxcon: 65535\n  net.ipv4.tcp_fin_timeout: 30\n",
    );
    let before = host.snapshot();
    for command in ["plan", "apply", "verify"] {
        let run = host.run(&[command, "typo"]).expect(2);
        assert!(
            run.stderr
                .contains("`net.core.somaxcon` (profile typo): no such sysctl on this kernel")
                && run.stderr.contains("did you mean `net.core.somaxconn`?"),
            "{command}: {}",
            run.stderr
        );
        assert_eq!(
            run.stderr.matches("no such sysctl").count(),
            1,
            "printed once: {}",
            run.stderr
        );
    }
    assert_eq!(host.snapshot(), before, "a refused profile writes nothing");
    assert_eq!(host.sysctl("net.ipv4.tcp_fin_timeout"), "60");

    // A typo in a directory component is found too; a name nothing resembles gets no guess.
    host.profile(
        "typo2",
        "sysctl:\n  net.ipv4.tpc_rmem: 1\n  net.nothing.like_this: 1\n",
    );
    let run = host.run(&["plan", "typo2"]).expect(2);
    assert!(
        run.stderr.contains("did you mean `net.ipv4.tcp_rmem`?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`net.nothing.like_this` (profile typo2): no such sysctl on this kernel;")
            || run.stderr.contains(
                "`net.nothing.like_this` (profile typo2): no such sysctl on this kernel."
            ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_key_marked_optional_is_skipped_where_the_kernel_lacks_it() {
    let host = FixtureHost::new();
    host.profile(
        "newer",
        "sysctl:\n  net.ipv4.tcp_fin_timeout: 30\n  net.ipv4.tcp_shiny_new_thing: {value: 1, optional: true}\n",
    );
    let json = host.run(&["apply", "newer", "--json"]).expect(0).json();
    assert_eq!(json["skipped"][0]["key"], "net.ipv4.tcp_shiny_new_thing");
    assert_eq!(json["skipped"][0]["action"], "missing");
    assert_eq!(host.sysctl("net.ipv4.tcp_fin_timeout"), "30");
    host.run(&["verify", "newer"]).expect(0);
}

#[test]
fn a_mistyped_profile_name_gets_a_suggestion() {
    let host = FixtureHost::new();
    let run = host.run(&["plan", "conections"]).expect(2);
    assert!(
        run.stderr
            .contains("profile `conections` not found — did you mean `connections`?"),
        "{}",
        run.stderr
    );
    // A user profile's name is a candidate too.
    host.profile("edge-hosts", "sysctl: {}\n");
    let run = host.run(&["show", "edge-host"]).expect(2);
    assert!(
        run.stderr.contains("did you mean `edge-hosts`?"),
        "{}",
        run.stderr
    );
    let run = host.run(&["show", "storage"]).expect(2);
    assert!(!run.stderr.contains("did you mean"), "{}", run.stderr);
}

#[test]
fn a_mistyped_subcommand_gets_a_suggestion_and_changes_nothing() {
    let host = FixtureHost::new();
    let before = host.snapshot();
    let run = host.run(&["aply", "connections"]).expect(2);
    assert!(
        run.stderr.contains("unrecognized subcommand 'aply'")
            && run.stderr.contains("a similar subcommand exists: 'apply'"),
        "{}",
        run.stderr
    );
    assert_eq!(host.snapshot(), before);
}

#[test]
fn a_root_without_proc_sys_is_named_as_not_a_proc_tree() {
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
        .arg("--root")
        .arg(empty.path())
        .args(["plan", "throughput"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{} is not a /proc tree", empty.path().display())),
        "{stderr}"
    );
    assert!(!stderr.contains("no such sysctl"), "{stderr}");
}
