//! The real kernel, inside a network namespace each test creates and deletes: apply `connections` with
//! `--netns`, check with procps' sysctl through `ip netns exec`, drift behind the tuner's back, rollback.
//! The host's own values are read before and after to prove they were not touched.

mod fixture;

use std::process::Command;

use fixture::Run;
use pincore_testkit::{command, netns, require, NetNs};

/// The `net.*` keys of `connections` that are per namespace on current kernels.
const NAMESPACED: &[(&str, &str)] = &[
    ("net.core.somaxconn", "16384"),
    ("net.ipv4.tcp_max_syn_backlog", "16384"),
    ("net.ipv4.tcp_max_tw_buckets", "262144"),
    ("net.ipv4.ip_local_port_range", "1024 65535"),
    ("net.ipv4.tcp_tw_reuse", "1"),
    ("net.ipv4.tcp_fin_timeout", "30"),
];

/// Host-global keys in `connections`, which must not change.
const GLOBAL: &[&str] = &[
    "fs/file-max",
    "fs/nr_open",
    "net/core/netdev_max_backlog",
    "kernel/io_uring_disabled",
];

fn tuner(ns: &NetNs, state: &tempfile::TempDir, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
        .args(["--netns", ns.name(), "--state-dir"])
        .arg(state.path())
        .args(["--sysctl-dir"])
        .arg(state.path().join("sysctl.d"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run pincore-tuner");
    Run::of(out)
}

fn host_values() -> Vec<(String, String)> {
    GLOBAL
        .iter()
        .chain(
            [
                "net/core/somaxconn",
                "net/ipv4/tcp_fin_timeout",
                "net/ipv4/ip_local_port_range",
            ]
            .iter(),
        )
        .map(|k| {
            (
                k.to_string(),
                std::fs::read_to_string(format!("/proc/sys/{k}")).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn apply_connections_in_a_namespace_then_drift_then_rollback() {
    require!(netns(), command("sysctl"));
    let ns = NetNs::new("tuner").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    let host_before = host_values();
    let original: Vec<String> = NAMESPACED
        .iter()
        .map(|(k, _)| ns.sysctl(k).unwrap())
        .collect();

    let plan = tuner(&ns, &state, &["plan", "connections", "--json"])
        .expect(0)
        .json();
    let action = |k: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k)
            .map(|c| c["action"].clone())
            .unwrap()
    };
    assert_eq!(
        action("net.core.netdev_max_backlog"),
        "not-visible-in-namespace"
    );
    assert_eq!(action("fs.file-max"), "not-visible-in-namespace");

    let applied = tuner(&ns, &state, &["apply", "connections", "--json"])
        .expect(0)
        .json();
    assert_eq!(applied["netns"], ns.name());
    for (key, want) in NAMESPACED {
        let got = ns.sysctl(key).unwrap();
        // Raise-only keys may already be higher than the target inside the namespace.
        let ok = got == *want
            || (got.parse::<u64>().ok() >= want.parse::<u64>().ok() && !want.contains(' '));
        assert!(ok, "{key}: {got} inside the namespace, want {want}");
    }
    assert_eq!(
        host_values(),
        host_before,
        "a namespace apply changed the host"
    );
    let state_file = state
        .path()
        .join(format!("last-apply.netns-{}.json", ns.name()));
    assert!(state_file.is_file(), "the namespace has its own state file");
    assert!(!state.path().join("last-apply.json").exists());

    tuner(&ns, &state, &["verify", "connections"]).expect(0);
    ns.set_sysctl("net.ipv4.tcp_fin_timeout", "60").unwrap();
    let drift = tuner(&ns, &state, &["verify", "connections"]).expect(1);
    let line = drift
        .stdout
        .lines()
        .find(|l| l.starts_with("net.ipv4.tcp_fin_timeout"))
        .expect(&drift.stdout);
    assert!(
        line.contains("<= 30") && line.contains("60") && line.contains("connections"),
        "{line}"
    );

    tuner(&ns, &state, &["rollback"]).expect(0);
    let restored: Vec<String> = NAMESPACED
        .iter()
        .map(|(k, _)| ns.sysctl(k).unwrap())
        .collect();
    assert_eq!(restored, original);
    assert!(!state_file.exists());
    let again = tuner(&ns, &state, &["rollback"]).expect(0);
    assert!(
        again.stdout.contains("nothing to roll back"),
        "{}",
        again.stdout
    );
    assert_eq!(host_values(), host_before);
}

#[test]
fn persist_is_refused_in_a_namespace_and_an_unknown_namespace_is_named() {
    require!(netns());
    let ns = NetNs::new("persist").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    let before = ns.sysctl("net.core.somaxconn").unwrap();
    let run = tuner(&ns, &state, &["apply", "connections", "--persist"]).expect(2);
    assert!(run.stderr.contains("--persist"), "{}", run.stderr);
    assert_eq!(ns.sysctl("net.core.somaxconn").unwrap(), before);

    let out = Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
        .args(["--netns", "pincore-no-such-ns", "plan", "connections"])
        .output()
        .unwrap();
    let run = Run::of(out).expect(2);
    assert!(
        run.stderr.contains("pincore-no-such-ns") && run.stderr.contains("ip netns list"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_value_the_kernel_rejects_undoes_the_writes_before_it() {
    require!(netns(), command("sysctl"));
    let ns = NetNs::new("reject").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    let profiles = state.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    // The low end above the high end: the kernel answers EINVAL.
    std::fs::write(
        profiles.join("bad-range.yaml"),
        "sysctl:\n  net.core.somaxconn: 8192\n  net.ipv4.tcp_fin_timeout: 11\n  net.ipv4.ip_local_port_range: 60000 1000\n",
    )
    .unwrap();
    let keys = [
        "net.core.somaxconn",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.ip_local_port_range",
    ];
    let before: Vec<String> = keys.iter().map(|k| ns.sysctl(k).unwrap()).collect();
    let run = tuner(
        &ns,
        &state,
        &[
            "--profile-dir",
            profiles.to_str().unwrap(),
            "apply",
            "bad-range",
        ],
    )
    .expect(2);
    for word in [
        "net.ipv4.ip_local_port_range",
        "60000 1000",
        "the kernel rejected",
    ] {
        assert!(run.stderr.contains(word), "{word} missing: {}", run.stderr);
    }
    let after: Vec<String> = keys.iter().map(|k| ns.sysctl(k).unwrap()).collect();
    assert_eq!(after, before);
    assert!(!state
        .path()
        .join(format!("last-apply.netns-{}.json", ns.name()))
        .exists());
}

#[test]
fn started_inside_a_namespace_it_never_writes_host_global_keys() {
    // As pincore-deploy runs it on a host reached through an sshd inside a namespace: no --netns.
    require!(netns(), command("sysctl"));
    let ns = NetNs::new("inherited").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    let host_before = host_values();
    let sysctl_dir = state.path().join("sysctl.d");
    let run = |args: &[&str]| {
        let out = ns
            .command(env!("CARGO_BIN_EXE_pincore-tuner"))
            .arg("--state-dir")
            .arg(state.path())
            .arg("--sysctl-dir")
            .arg(&sysctl_dir)
            .args(args)
            .output()
            .expect("run pincore-tuner in the namespace");
        Run::of(out)
    };
    let plan = run(&["plan", "connections", "--json"]).expect(0).json();
    for c in plan["changes"].as_array().unwrap() {
        let key = c["key"].as_str().unwrap();
        if !key.starts_with("net.") {
            assert_eq!(c["action"], "not-visible-in-namespace", "{c}");
        }
    }
    run(&["apply", "connections", "--persist"]).expect(0);
    assert_eq!(ns.sysctl("net.core.somaxconn").unwrap(), "16384");
    let dropin = std::fs::read_to_string(sysctl_dir.join("60-pincore-connections.conf")).unwrap();
    assert!(dropin.contains("net.core.somaxconn = 16384"), "{dropin}");
    assert!(
        !dropin
            .lines()
            .any(|l| l.starts_with("fs.") || l.starts_with("kernel.")),
        "{dropin}"
    );
    assert!(state.path().join("last-apply.json").is_file());
    run(&["verify", "connections"]).expect(0);
    run(&["rollback"]).expect(0);
    assert!(!sysctl_dir.join("60-pincore-connections.conf").exists());
    assert_eq!(host_values(), host_before);
}

#[test]
fn throughput_in_a_namespace_skips_the_keys_the_kernel_makes_read_only_there() {
    require!(netns(), command("sysctl"));
    let ns = NetNs::new("tuner-ro").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    let rmem_before = ns.sysctl("net.core.rmem_max").unwrap();
    let plan = tuner(&ns, &state, &["plan", "throughput", "--json"])
        .expect(0)
        .json();
    let action = |k: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k)
            .map(|c| c["action"].clone())
            .unwrap()
    };
    // Inside a non-initial namespace this kernel shows both as mode 0444 and refuses writes even by root.
    assert_eq!(action("net.core.rmem_max"), "read-only-here", "{plan}");
    assert_eq!(action("net.core.wmem_max"), "read-only-here", "{plan}");

    let applied = tuner(&ns, &state, &["apply", "throughput"]).expect(0);
    assert!(
        applied
            .stdout
            .contains("skipped net.core.rmem_max: read-only in this network namespace"),
        "{}",
        applied.stdout
    );
    assert_eq!(ns.sysctl("net.core.rmem_max").unwrap(), rmem_before);
    // Every key planned as a change was written.
    let planned: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "change")
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["write"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        planned
            .iter()
            .any(|(k, _)| k == "net.ipv4.tcp_notsent_lowat"),
        "{planned:?}"
    );
    for (key, value) in &planned {
        assert_eq!(&ns.sysctl(key).unwrap(), value, "{key}");
    }
    tuner(&ns, &state, &["verify", "throughput"]).expect(0);
    tuner(&ns, &state, &["rollback"]).expect(0);
}

#[test]
fn a_namespace_rollback_refuses_host_global_keys_in_its_state_file() {
    require!(netns());
    let ns = NetNs::new("refuse").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    // Recorded "previous" is the host's current value, so even a tuner that wrongly obeyed would write
    // nothing new to the host: the test proves the refusal without risking the machine.
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let somaxconn = ns.sysctl("net.core.somaxconn").unwrap();
    ns.set_sysctl("net.core.somaxconn", "8191").unwrap();
    let record = serde_json::json!({
        "version": 1, "profile": "connections", "netns": ns.name(),
        "settings": [
            {"kind": "sysctl", "key": "kernel.core_pattern", "previous": core_pattern.trim_end(), "applied": "x"},
            {"kind": "sysctl", "key": "net.core.somaxconn", "previous": somaxconn, "applied": "8191"}
        ],
        "files": []
    });
    let file = state
        .path()
        .join(format!("last-apply.netns-{}.json", ns.name()));
    std::fs::write(&file, record.to_string()).unwrap();
    let run = tuner(&ns, &state, &["rollback"]).expect(3);
    assert!(
        run.stderr
            .contains("sysctl kernel.core_pattern: a host-global key"),
        "{}",
        run.stderr
    );
    // The namespace's own key was restored; the state file is kept for inspection.
    assert_eq!(ns.sysctl("net.core.somaxconn").unwrap(), somaxconn);
    assert!(file.exists());
}

#[test]
fn the_rollback_hint_after_a_namespace_apply_carries_the_flags_that_find_its_state() {
    require!(netns());
    let ns = NetNs::new("hint").expect("create namespace");
    let state = tempfile::tempdir().unwrap();
    let run = tuner(&ns, &state, &["apply", "connections"]).expect(0);
    let hint = run
        .stdout
        .lines()
        .find(|l| l.starts_with("previous values kept in"))
        .unwrap_or_else(|| panic!("no rollback hint: {}", run.stdout))
        .to_string();
    let command = hint
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no command in {hint}"));
    assert!(
        command.contains(&format!("--netns {}", ns.name()))
            && command.contains(&format!("--state-dir {}", state.path().display()))
            && command.ends_with(" rollback"),
        "{hint}"
    );
    // The command as printed really finds the state: run it.
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
        .args(&args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let rolled = Run::of(out).expect(0);
    assert!(
        !rolled.stdout.contains("nothing to roll back"),
        "{}",
        rolled.stdout
    );
    assert!(!state
        .path()
        .join(format!("last-apply.netns-{}.json", ns.name()))
        .exists());
}

/// The one throwaway-namespace helper (used by the test kit and pincore-bench): loopback up, deleted on
/// drop and by `delete`, and a name that cannot be a namespace refused before `ip` runs.
#[test]
fn owned_namespaces_come_up_with_loopback_and_go_on_drop_and_delete() {
    use pincore_tuner::netns::OwnedNamespace;
    require!(netns());
    let name = format!("pct{}-owned", std::process::id());
    let path = std::path::Path::new("/run/netns").join(&name);
    let ns = OwnedNamespace::create(&name).unwrap();
    assert!(path.exists());
    let lo = Command::new("ip")
        .args(["-n", &name, "-o", "link", "show", "lo"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&lo.stdout).contains("UP"), "{lo:?}");
    drop(ns);
    assert!(!path.exists(), "drop deletes the namespace");

    let ns = OwnedNamespace::create(&name).unwrap();
    ns.delete().unwrap();
    assert!(!path.exists(), "delete deletes the namespace");

    let e = OwnedNamespace::create("../x").unwrap_err().to_string();
    assert!(e.contains("not a namespace name"), "{e}");
    let e = OwnedNamespace::create(&"n".repeat(300))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ip netns add"),
        "a failure carries ip's words: {e}"
    );
}
