//! Profiles as a user meets them: listing, the flattened view, and every kind of bad profile reported with
//! file, line and column.

mod fixture;

use fixture::FixtureHost;

#[test]
fn profiles_lists_builtins_and_user_profiles_with_json() {
    let host = FixtureHost::new();
    host.profile(
        "edge",
        "description: Edge proxies.\ninclude: [connections]\n",
    );
    host.profile("broken", "sysctl: [1, 2]\n");
    let run = host.run(&["profiles"]).expect(0);
    for name in [
        "base",
        "throughput",
        "latency",
        "connections",
        "edge",
        "broken",
    ] {
        assert!(run.stdout.contains(name), "{name} missing:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("Edge proxies."));
    assert!(
        run.stdout.contains("invalid:"),
        "a broken user profile is listed as invalid:\n{}",
        run.stdout
    );

    let json = host.run(&["profiles", "--json"]).expect(0).json();
    let list = json.as_array().unwrap();
    let edge = list.iter().find(|p| p["name"] == "edge").unwrap();
    assert_eq!(edge["description"], "Edge proxies.");
    assert!(edge["origin"].as_str().unwrap().ends_with("edge.yaml"));
    assert_eq!(
        list.iter().find(|p| p["name"] == "throughput").unwrap()["origin"],
        "built-in"
    );
}

#[test]
fn show_flattens_with_the_profile_each_key_came_from() {
    let host = FixtureHost::new();
    host.profile(
        "edge",
        "include: [connections]\nsysctl:\n  net.ipv4.tcp_fin_timeout: {value: 10, op: at-most, why: short}\n",
    );
    let json = host.run(&["show", "edge", "--json"]).expect(0).json();
    assert_eq!(
        json["chain"],
        serde_json::json!(["base", "connections", "edge"])
    );
    let entry = |key: &str| {
        json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry("net.ipv4.tcp_fin_timeout")["from"], "edge");
    assert_eq!(
        entry("net.ipv4.tcp_fin_timeout")["target"],
        serde_json::json!({"value": "10", "op": "at-most"})
    );
    assert_eq!(entry("net.core.somaxconn")["from"], "connections");
    assert_eq!(entry("kernel.io_uring_disabled")["from"], "base");

    let table = host.run(&["show", "edge"]).expect(0).stdout;
    assert!(table.contains("base → connections → edge"), "{table}");
    assert!(table
        .lines()
        .any(|l| l.starts_with("net.ipv4.tcp_fin_timeout")
            && l.contains("<= 10")
            && l.contains("edge")));
}

#[test]
fn a_profile_given_by_path_includes_profiles_beside_it() {
    let host = FixtureHost::new();
    host.write(
        "elsewhere/parent.yaml",
        "sysctl:\n  net.core.somaxconn: 8192\n",
    );
    host.write("elsewhere/child.yaml", "include: [parent, base]\n");
    let path = host.path("elsewhere/child.yaml");
    let json = host
        .run(&["show", path.to_str().unwrap(), "--json"])
        .expect(0)
        .json();
    assert_eq!(json["name"], "child");
    let somaxconn = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "net.core.somaxconn")
        .unwrap();
    // base is merged after parent, so base's entry wins over parent's for the same key.
    assert_eq!(somaxconn["from"], "base");
}

/// Runs `show bad` on a profile and returns stderr, asserting exit code 2.
fn show_error(yaml: &str) -> (FixtureHost, String) {
    let host = FixtureHost::new();
    host.profile("bad", yaml);
    let run = host.run(&["show", "bad"]).expect(2);
    (host, run.stderr)
}

#[test]
fn unknown_field_is_reported_with_file_line_and_column() {
    let (host, err) =
        show_error("name: bad\nsysctl:\n  net.core.somaxconn:\n    value: 1\n    wy: typo\n");
    let file = host.path("etc/pincore/profiles/bad.yaml");
    assert!(err.contains(&format!("{}:5:5", file.display())), "{err}");
    assert!(err.contains("unknown field `wy`"), "{err}");

    let (_, err) = show_error("name: bad\ndescriptoin: x\n");
    assert!(
        err.contains("bad.yaml:2:1") && err.contains("unknown field `descriptoin`"),
        "{err}"
    );
}

#[test]
fn wrong_type_is_reported_with_its_location() {
    let (_, err) = show_error("name: bad\ninclude: base\n");
    assert!(err.contains("bad.yaml:2:10"), "{err}");
    assert!(err.contains("include"), "{err}");

    let (_, err) = show_error("sysctl:\n  net.core.somaxconn: [1, 2]\n");
    assert!(err.contains("bad.yaml:2:23"), "{err}");
    assert!(err.contains("integer or string"), "{err}");
}

#[test]
fn unknown_op_is_reported_with_the_allowed_ones() {
    let (_, err) = show_error("sysctl:\n  net.core.somaxconn: {value: 1, op: more}\n");
    assert!(err.contains("bad.yaml:2:"), "{err}");
    assert!(
        err.contains("unknown variant `more`") && err.contains("at-least"),
        "{err}"
    );
}

#[test]
fn bad_key_and_duplicate_key_are_reported() {
    let (_, err) = show_error("sysctl:\n  net core somaxconn: 1\n");
    assert!(
        err.contains("bad.yaml:2:3") && err.contains("not a valid sysctl name"),
        "{err}"
    );
    let (_, err) = show_error("sysctl:\n  net.core.somaxconn: 1\n  net/core/somaxconn: 2\n");
    assert!(
        err.contains("bad.yaml:") && err.contains("set twice"),
        "{err}"
    );
}

#[test]
fn include_cycle_names_the_cycle_and_where_it_closes() {
    let host = FixtureHost::new();
    host.profile("a", "include: [b]\n");
    host.profile("b", "description: b\ninclude:\n  - base\n  - a\n");
    let err = host.run(&["show", "a"]).expect(2).stderr;
    assert!(err.contains("include cycle a → b → a"), "{err}");
    assert!(err.contains("b.yaml:4:5"), "{err}");
}

#[test]
fn missing_include_points_at_the_include_entry() {
    let (_, err) = show_error("name: bad\ninclude:\n  - base\n  - nosuch\n");
    assert!(err.contains("bad.yaml:4:5"), "{err}");
    assert!(err.contains("include `nosuch` not found"), "{err}");
}

#[test]
fn unknown_profile_says_how_to_list_them() {
    let host = FixtureHost::new();
    let err = host.run(&["plan", "nosuch"]).expect(2).stderr;
    assert!(
        err.contains("profile `nosuch` not found") && err.contains("pincore-tuner profiles"),
        "{err}"
    );
    let json = host.run(&["plan", "nosuch", "--json"]).expect(2).json();
    assert_eq!(json["exit_code"], 2);
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("profile `nosuch` not found"));
}

#[test]
fn plan_throughput_on_the_live_host_reads_only_and_succeeds() {
    // The README's first command, against the real /proc/sys (reading needs no root).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
        .args([
            "plan",
            "throughput",
            "--json",
            "--state-dir",
            "/nonexistent-pincore-state",
        ])
        .output()
        .unwrap();
    let run = fixture::Run::of(out).expect(0);
    let json = run.json();
    assert_eq!(json["profile"], "throughput");
    let changes = json["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["key"] == "net.ipv4.tcp_rmem"));
    for c in changes {
        assert!(
            ["change", "ok", "missing"].contains(&c["action"].as_str().unwrap()),
            "{c}"
        );
    }
    assert!(!std::path::Path::new("/nonexistent-pincore-state").exists());
}
