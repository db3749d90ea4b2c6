//! `pincore-bench tuned --quick` end to end as root: before/after in a throwaway namespace, the profile
//! applied in between and rolled back, and no namespace or process left behind.

mod support;

use std::process::Command;

use pincore_testkit::{netns, require};

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tuned_quick_measures_before_and_after_and_cleans_up() {
    require!(
        netns(),
        support::sibling("pincore-server"),
        support::sibling("pincore-tuner")
    );
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
        .args(["tuned", "--quick", "--profile", "connections", "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let namespace = format!("pincore-bench-{}", child.id());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("before") && stdout.contains("ListenOverflows"),
        "{stdout}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tuned.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["namespaces"],
        serde_json::json!([format!("{namespace}-before"), format!("{namespace}-after")])
    );
    assert_eq!(json["rolled_back"], true);
    // The profile reached the namespace: the storm ran with the default caps before and the profile's after.
    assert_eq!(
        json["before"]["storm"]["somaxconn"], 4096,
        "{:#}",
        json["before"]["storm"]
    );
    assert_eq!(
        json["after"]["storm"]["somaxconn"], 16384,
        "{:#}",
        json["after"]["storm"]
    );
    assert_eq!(json["after"]["storm"]["tcp_max_syn_backlog"], 16384);
    for phase in ["before", "after"] {
        let m = &json[phase];
        assert!(m["storm"]["connected"].as_u64().unwrap() > 0, "{m:#}");
        assert!(m["churn"]["connections"].as_u64().unwrap() > 0, "{m:#}");
        assert!(m["steady"]["requests"].as_u64().unwrap() > 0, "{m:#}");
        assert_eq!(m["steady"]["error_replies"], 0, "{m:#}");
    }
    assert!(std::fs::read_to_string(dir.path().join("tuned.svg"))
        .unwrap()
        .starts_with("<svg"));
    // What the profile bought is said, per row and per scenario, in the table and the JSON.
    let verdicts: Vec<&str> = json["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    for (verdict, scenario) in verdicts.iter().zip(["storm:", "churn:", "steady RESP:"]) {
        assert!(
            verdict.starts_with(scenario) && stdout.contains(verdict),
            "{verdict}\n{stdout}"
        );
    }
    let p99 = json["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "connect p99")
        .unwrap();
    assert!(!p99["change"].as_str().unwrap().is_empty(), "{p99}");
    assert!(stdout.contains("change"), "{stdout}");
    // Only the results stay in the output directory.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["tuned.json", "tuned.svg"]);
    assert!(
        !namespaces().contains(&namespace),
        "namespace {namespace} left behind"
    );
    assert_eq!(
        support::processes_in(dir.path()),
        Vec::<String>::new(),
        "processes left running"
    );
}

#[test]
fn interrupted_tuned_removes_its_namespace_and_server() {
    require!(
        netns(),
        support::sibling("pincore-server"),
        support::sibling("pincore-tuner")
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = pincore_testkit::KillOnDrop::spawn(
        Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
            .args(["tuned", "--quick", "--out"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    let namespace = format!("pincore-bench-{}", child.0.id());
    // Wait until the namespace exists and the server runs in it, then press Ctrl-C (SIGINT).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let started = |dir: &std::path::Path| {
        namespaces().contains(&namespace) && !support::processes_in(dir).is_empty()
    };
    while !started(dir.path()) {
        assert!(
            std::time::Instant::now() < deadline,
            "tuned never started its server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.signal(libc::SIGINT);
    let status = child
        .wait_timeout(std::time::Duration::from_secs(20))
        .expect("tuned did not stop on SIGINT");
    assert_eq!(status.code(), Some(130));
    assert!(
        !namespaces().contains(&namespace),
        "namespace {namespace} left behind"
    );
    assert_eq!(
        support::processes_in(dir.path()),
        Vec::<String>::new(),
        "processes left running"
    );
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
