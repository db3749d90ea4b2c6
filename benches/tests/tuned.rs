//! `pincore-bench tuned --quick` end to end as root: every scenario with the defaults and with a profile over a
//! veth path between two throwaway namespaces, the profile applied and rolled back, and no namespace, veth,
//! qdisc or process left behind — also after Ctrl-C.

mod support;

use std::path::Path;
use std::process::Command;

use pincore_testkit::{netns, require};

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `pincore-bench tuned --quick ARGS --out DIR --json` and returns the process's id, its output and
/// tuned.json.
fn tuned_quick(args: &[&str], dir: &Path) -> (u32, std::process::Output, serde_json::Value) {
    let child = Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
        .args(["tuned", "--quick"])
        .args(args)
        .arg("--out")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tuned.json")).unwrap()).unwrap();
    (pid, out, json)
}

/// Nothing of run `pid` is left: no namespace, no veth on the host, no process, only the results.
fn assert_cleaned_up(pid: u32, dir: &Path) {
    let prefix = format!("pincore-bench-{pid}-");
    assert!(
        !namespaces().contains(&prefix),
        "namespaces left behind: {}",
        namespaces()
    );
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("pcb-"),
        "a veth of the path is on the host"
    );
    assert_eq!(
        support::processes_in(dir),
        Vec::<String>::new(),
        "processes left running"
    );
}

fn scenario<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name} in {json:#}"))
}

/// A metric's number in one pass.
fn metric(s: &serde_json::Value, pass: &str, name: &str) -> f64 {
    s[pass]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {s:#}"))["value"]
        .as_f64()
        .unwrap()
}

/// The one-stream bulk sender's smoothed round trip in one pass, in ms.
fn round_trip_ms(s: &serde_json::Value, pass: &str) -> f64 {
    s[pass]["raw"]["one_stream"]["sender_rtt_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no round trip in {s:#}"))
}

#[test]
fn tuned_quick_runs_every_scenario_over_veth_and_cleans_up() {
    require!(
        netns(),
        support::sibling("pincore-server"),
        support::sibling("pincore-tuner")
    );
    let dir = tempfile::tempdir().unwrap();
    let (pid, out, json) = tuned_quick(&["--profile", "connections"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(json["rolled_back"], true);
    let names: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "port-exhaustion",
            "connection-storm",
            "bulk-long-fat-path",
            "bulk-rate-limited",
            "latency-behind-bulk"
        ]
    );

    // Churn across veth with a 100-port range runs out of local ports with the defaults; the profile's
    // range and tcp_tw_reuse=1 (set in the client's namespace by the tuner) do not.
    let churn = scenario(&json, "port-exhaustion");
    assert!(
        metric(churn, "before", "failed connections") > 0.0,
        "{churn:#}"
    );
    assert!(
        churn["before"]["raw"]["errors"]["AddrNotAvailable"]
            .as_u64()
            .unwrap()
            > 0,
        "{churn:#}"
    );
    assert_eq!(
        metric(churn, "after", "failed connections"),
        0.0,
        "{churn:#}"
    );
    assert!(metric(churn, "after", "connections/s") > 0.0);
    let range = |pass: &str| churn[pass]["settings"][0][1].as_str().unwrap().to_string();
    assert_eq!(
        (range("before"), range("after")),
        ("61000 61099".into(), "1024 65535".into())
    );
    assert!(
        churn["verdict"]
            .as_str()
            .unwrap()
            .ends_with("the profile fixes this"),
        "{churn:#}"
    );

    // The storm's listener is in the server's namespace, capped by that namespace's somaxconn.
    let storm = scenario(&json, "connection-storm");
    assert_eq!(storm["before"]["raw"]["somaxconn"], 4096, "{storm:#}");
    assert_eq!(storm["after"]["raw"]["somaxconn"], 16384, "{storm:#}");
    assert_eq!(metric(storm, "after", "ListenOverflows"), 0.0, "{storm:#}");
    for pass in ["before", "after"] {
        assert_eq!(metric(storm, pass, "connected"), 5000.0, "{storm:#}");
    }

    // The long fat path runs on every kernel: delayed by netem where it exists, else by the delay line,
    // and the round trip the sender measured is at least the path's 50 ms.
    let lfp = scenario(&json, "bulk-long-fat-path");
    assert!(lfp["not_run"].is_null(), "{lfp:#}");
    assert!(stdout.contains("path delayed by"), "{stdout}");
    for pass in ["before", "after"] {
        assert!(metric(lfp, pass, "1 stream Mbit/s") > 1.0, "{lfp:#}");
        assert!(
            ["netem", "delay-line"].contains(&lfp[pass]["raw"]["delay_by"].as_str().unwrap()),
            "{lfp:#}"
        );
        assert!(round_trip_ms(lfp, pass) >= 45.0, "{lfp:#}");
    }

    // Bulk through a 1 Gbit/s bottleneck cannot beat the bottleneck.
    let bulk = scenario(&json, "bulk-rate-limited");
    for pass in ["before", "after"] {
        let mbit = metric(bulk, pass, "1 stream Mbit/s");
        assert!(mbit > 1.0 && mbit < 1100.0, "{bulk:#}");
    }
    assert_eq!(
        bulk["before"]["raw"]["one_stream"]["receiver_tcp_rmem"],
        "4096 131072 6291456"
    );

    // Requests behind the bulk flow: all answered, at the asked rate, with the percentiles reported.
    let latency = scenario(&json, "latency-behind-bulk");
    for pass in ["before", "after"] {
        assert_eq!(metric(latency, pass, "failed requests"), 0.0, "{latency:#}");
        assert!(metric(latency, pass, "p50") <= metric(latency, pass, "p99"));
        assert!(metric(latency, pass, "p99") <= metric(latency, pass, "p99.9"));
        assert!(
            metric(latency, pass, "bulk download Mbit/s") > 1.0,
            "{latency:#}"
        );
    }

    // Each scenario's verdict is in the table printed for people and in the JSON.
    for name in names {
        let verdict = scenario(&json, name)["verdict"].as_str().unwrap();
        assert!(
            verdict.starts_with(&format!("{name}: ")) && stdout.contains(verdict),
            "{verdict}\n{stdout}"
        );
    }
    assert!(std::fs::read_to_string(dir.path().join("tuned.svg"))
        .unwrap()
        .starts_with("<svg"));
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["tuned.json", "tuned.svg"]);
    assert_cleaned_up(pid, dir.path());
}

#[test]
fn a_tiny_receive_buffer_slows_a_long_fat_path() {
    require!(netns(), support::sibling("pincore-tuner"));
    let dir = tempfile::tempdir().unwrap();
    // A user's own profile file: a receive buffer of one page, against the kernel's 6 MiB maximum.
    let profile = dir.path().join("tiny-rmem.yaml");
    std::fs::write(
        &profile,
        "name: tiny-rmem\ndescription: A receive window of one page.\nsysctl:\n  net.ipv4.tcp_rmem:\n    \
         value: 4096 4096 4096\n    why: test\n    source: test\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let (pid, _, json) = tuned_quick(
        &[
            "--profile",
            profile.to_str().unwrap(),
            "--scenario",
            "bulk-long-fat-path",
        ],
        &out_dir,
    );
    assert_eq!(json["scenarios"].as_array().unwrap().len(), 1);
    let bulk = scenario(&json, "bulk-long-fat-path");
    assert_eq!(
        bulk["before"]["raw"]["one_stream"]["receiver_tcp_rmem"],
        "4096 131072 6291456"
    );
    assert_eq!(
        bulk["after"]["raw"]["one_stream"]["receiver_tcp_rmem"],
        "4096 4096 4096"
    );
    let (before, after) = (
        metric(bulk, "before", "1 stream Mbit/s"),
        metric(bulk, "after", "1 stream Mbit/s"),
    );
    // At most one page in flight per 50 ms round trip bounds one stream at 0.66 Mbit/s; a 6 MiB maximum
    // lets the window grow to megabytes. Both sides of that gap have a wide margin on a loaded machine.
    assert!(round_trip_ms(bulk, "after") >= 45.0, "{bulk:#}");
    assert!(after < 2.0, "{before} → {after}: {bulk:#}");
    assert!(before > 10.0 * after, "{before} → {after}: {bulk:#}");
    let verdict = bulk["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("worse with the profile"),
        "{before} → {after}: {verdict}"
    );
    assert_cleaned_up(pid, &out_dir);
}

/// Starts `tuned --quick --scenario SCENARIO`, sends SIGINT once `ready` holds for its run (given the
/// process id and the output directory) and checks that it stops with 130 and leaves nothing behind.
fn interrupt_when(scenario: &str, ready: impl Fn(u32, &Path) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = pincore_testkit::KillOnDrop::spawn(
        Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
            .args(["tuned", "--quick", "--scenario", scenario, "--out"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    let pid = child.0.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    while !ready(pid, dir.path()) {
        assert!(
            std::time::Instant::now() < deadline,
            "tuned never reached the point to interrupt"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.signal(libc::SIGINT);
    let status = child
        .wait_timeout(std::time::Duration::from_secs(20))
        .expect("tuned did not stop on SIGINT");
    assert_eq!(status.code(), Some(130));
    assert_cleaned_up(pid, dir.path());
}

#[test]
fn interrupted_with_the_profile_applied_removes_everything() {
    require!(
        netns(),
        support::sibling("pincore-server"),
        support::sibling("pincore-tuner")
    );
    // The second pass: its namespaces exist, the profile is applied and the server runs. Then Ctrl-C (SIGINT).
    interrupt_when("port-exhaustion", |pid, dir| {
        namespaces().contains(&format!("pincore-bench-{pid}-pe-profile-c"))
            && support::processes_in(dir)
                .iter()
                .any(|p| p.contains("pincore-server"))
    });
}

/// The processes `pid` started that still run (any thread's children).
fn children_of(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[test]
fn interrupted_on_the_delayed_path_removes_everything() {
    require!(netns(), support::sibling("pincore-tuner"));
    // Mid-transfer over the long fat path: the bulk child runs in the client's namespace and, without
    // netem, the delay line's threads forward in the middle one. Then Ctrl-C (SIGINT).
    let bulk_children = std::cell::RefCell::new(Vec::new());
    interrupt_when("bulk-long-fat-path", |pid, _| {
        if !namespaces().contains(&format!("pincore-bench-{pid}-blfp-defaults-c")) {
            return false;
        }
        // `pincore-bench child` (the bulk run; `ip netns exec` before it execs) has started.
        let children: Vec<u32> = children_of(pid)
            .into_iter()
            .filter(|child| {
                std::fs::read(format!("/proc/{child}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"child"))
            })
            .collect();
        if children.is_empty() {
            return false;
        }
        *bulk_children.borrow_mut() = children;
        // Let the transfer get going: a quick pass is 2 s.
        std::thread::sleep(std::time::Duration::from_millis(500));
        true
    });
    for child in bulk_children.into_inner() {
        assert!(
            !Path::new(&format!("/proc/{child}")).exists(),
            "the bulk child {child} still runs"
        );
    }
}

#[test]
fn a_mistyped_profile_fails_before_anything_is_measured() {
    require!(support::sibling("pincore-tuner"));
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
        .args(["tuned", "--quick", "--profile", "conections", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A profile that does not exist is bad input, like any other invalid argument: exit 2.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--profile: profile `conections` not found — did you mean `connections`?"),
        "{stderr}"
    );
    // No namespace, no server, no "before" pass: it fails in the time it takes to run pincore-tuner show.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!dir.path().join("tuned.json").exists());
}
