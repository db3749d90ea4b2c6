//! `import-tuned` on tuned's own network-latency and network-throughput profiles (tests/fixtures/tuned, as
//! published by tuned): the result is a profile `show` accepts.

mod fixture;

use fixture::FixtureHost;

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/tuned/{name}/tuned.conf",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn network_latency_converts_and_loads() {
    let host = FixtureHost::new();
    let out = host.path("etc/pincore/profiles/network-latency.yaml");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let run = host
        .run(&[
            "import-tuned",
            &fixture("network-latency"),
            "-o",
            out.to_str().unwrap(),
        ])
        .expect(0);
    // What has no pincore equivalent is listed with its line, not dropped silently.
    assert!(
        run.stderr.contains("line 7: include=latency-performance"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 10: transparent_hugepages=never") && run.stderr.contains("[vm]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 23: cmdline_network_latency")
            && run.stderr.contains("[bootloader]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("8 sysctl entries converted"),
        "{}",
        run.stderr
    );

    let json = host
        .run(&["show", "network-latency", "--json"])
        .expect(0)
        .json();
    let entries = json["entries"].as_array().unwrap();
    let value = |k: &str| {
        entries
            .iter()
            .find(|e| e["key"] == k)
            .map(|e| e["target"]["value"].clone())
    };
    assert_eq!(value("net.core.busy_read"), Some("50".into()));
    assert_eq!(value("net.core.busy_poll"), Some("50".into()));
    assert_eq!(value("net.ipv4.tcp_fastopen"), Some("3".into()));
    assert_eq!(value("kernel.numa_balancing"), Some("0".into()));
    assert_eq!(value("kernel.hung_task_timeout_secs"), Some("600".into()));
    assert_eq!(value("vm.stat_interval"), Some("10".into()));
    assert!(entries
        .iter()
        .all(|e| e["source"] == "tuned profile network-latency"));
    assert!(json["description"]
        .as_str()
        .unwrap()
        .contains("low latency network performance"));
}

#[test]
fn network_throughput_converts_and_keeps_includes_that_exist() {
    let host = FixtureHost::new();
    // With a pincore profile named like tuned's parent, the include is kept.
    host.profile(
        "throughput-performance",
        "description: stand-in\nsysctl:\n  net.core.somaxconn: {value: 2048, op: at-least}\n  net.ipv4.tcp_rmem: 1 2 3\n",
    );
    let run = host
        .run(&["import-tuned", &fixture("network-throughput"), "--json"])
        .expect(0);
    let import = run.json();
    assert_eq!(import["name"], "network-throughput");
    assert_eq!(import["converted"], 2);
    assert_eq!(import["not_converted"], serde_json::json!([]));
    host.profile("network-throughput", import["yaml"].as_str().unwrap());

    let json = host
        .run(&["show", "network-throughput", "--json"])
        .expect(0)
        .json();
    assert_eq!(
        json["chain"],
        serde_json::json!(["throughput-performance", "network-throughput"])
    );
    let entry = |k: &str| {
        json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        entry("net.core.somaxconn")["from"],
        "throughput-performance"
    );
    // The quoted value is unquoted, and the child's value wins over the parent's.
    assert_eq!(
        entry("net.ipv4.tcp_rmem")["target"],
        serde_json::json!({"value": "4096 131072 16777216", "op": "exact"})
    );
    assert_eq!(entry("net.ipv4.tcp_rmem")["from"], "network-throughput");
    assert_eq!(
        entry("net.ipv4.tcp_wmem")["target"]["value"],
        "4096 16384 16777216"
    );
    assert!(entry("net.ipv4.tcp_rmem")["why"]
        .as_str()
        .unwrap()
        .contains("Increase kernel buffer size maximums"));

    // And the converted profile plans on a host.
    let plan = host
        .run(&["plan", "network-throughput", "--json"])
        .expect(0)
        .json();
    let rmem = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "net.ipv4.tcp_rmem")
        .cloned()
        .unwrap();
    assert_eq!(rmem["action"], "change");
}

#[test]
fn without_a_pincore_parent_the_include_is_listed_and_the_profile_still_loads() {
    let host = FixtureHost::new();
    let out = host.path("etc/pincore/profiles/network-throughput.yaml");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let run = host
        .run(&[
            "import-tuned",
            &fixture("network-throughput"),
            "-o",
            out.to_str().unwrap(),
        ])
        .expect(0);
    assert!(
        run.stderr
            .contains("line 7: include=throughput-performance"),
        "{}",
        run.stderr
    );
    let json = host
        .run(&["show", "network-throughput", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["chain"], serde_json::json!(["network-throughput"]));
}

#[test]
fn a_missing_tuned_file_is_an_error_naming_it() {
    let host = FixtureHost::new();
    let run = host
        .run(&["import-tuned", "/nonexistent/tuned.conf"])
        .expect(2);
    assert!(
        run.stderr.contains("/nonexistent/tuned.conf"),
        "{}",
        run.stderr
    );
}
