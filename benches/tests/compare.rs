//! `pincore-bench compare --quick` end to end: every server starts, every matchup runs, the JSON and SVG
//! are written, and no server is left running.

mod support;

use std::process::Command;

use pincore_testkit::{command, require};

#[test]
fn compare_quick_runs_every_matchup_and_leaves_nothing_behind() {
    require!(
        command("redis-server"),
        command("redis-benchmark"),
        support::sibling("pincore-server"),
        support::sibling("pincore-bench-tokio-echo")
    );
    let cwd = tempfile::tempdir().unwrap();
    // A relative --out, as the default is: the servers run in it, so it must be resolved first.
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
        .args([
            "compare",
            "--quick",
            "--duration",
            "400ms",
            "--connections",
            "8",
            "--out",
            "results",
        ])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let dir = cwd.path().join("results");
    let dir = dir.as_path();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ratio"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("compare.json")).unwrap()).unwrap();
    let matchups = json["matchups"].as_array().unwrap();
    let names: Vec<&str> = matchups
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for m in matchups {
        let contenders = m["contenders"].as_array().unwrap();
        assert_eq!(contenders.len(), 2, "{m:#}");
        for c in contenders {
            assert!(c["median_rate"].as_f64().unwrap() > 0.0, "{c:#}");
            // A stalled machine may time out a request now and then; more than that is a broken server.
            let requests = c["median_rate"].as_f64().unwrap() * 0.4;
            assert!(
                c["failures"].as_f64().unwrap() <= requests / 1000.0,
                "{c:#}"
            );
            assert_eq!(c["runs"].as_array().unwrap().len(), 1);
            // Every matchup drives a server this command started, so its CPU time was read.
            assert!(
                c["server_cpu_us_per_request"].as_f64().unwrap() >= 0.0,
                "{c:#}"
            );
        }
        assert!(m["rate_ratio"].as_f64().unwrap() > 0.0);
    }
    let who: Vec<&str> = matchups
        .iter()
        .flat_map(|m| {
            m["contenders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
        })
        .collect();
    for name in [
        "pincore-server",
        "redis-server",
        "tokio echo",
        "pincore-bench",
        "redis-benchmark",
    ] {
        assert!(who.contains(&name), "{name} missing from {who:?}");
    }
    let svg = std::fs::read_to_string(dir.join("compare.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("redis-server"));
    assert_eq!(
        support::processes_in(dir),
        Vec::<String>::new(),
        "servers left running"
    );
}

#[test]
fn only_runs_the_chosen_matchups() {
    require!(
        support::sibling("pincore-server"),
        support::sibling("pincore-bench-tokio-echo")
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
        .args([
            "compare",
            "--quick",
            "--only",
            "echo",
            "--duration",
            "300ms",
            "--connections",
            "4",
            "--json",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let matchups = json["matchups"].as_array().unwrap();
    assert_eq!(matchups.len(), 1, "{json:#}");
    assert_eq!(matchups[0]["name"], "echo 64 B, pipeline 1");
    for c in matchups[0]["contenders"].as_array().unwrap() {
        assert!(c["server_cpu_us_per_request"].is_f64(), "{c:#}");
    }
}

#[test]
fn a_missing_server_binary_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pincore-bench"))
        .args([
            "compare",
            "--quick",
            "--server-bin",
            "/nonexistent/pincore-server",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/pincore-server") && stderr.contains("cargo build --release"),
        "{stderr}"
    );
}
