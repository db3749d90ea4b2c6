//! `pincore-top --once --json` against a real, loaded pincore-server: the fields README documents, rates
//! from real traffic, an unreachable server reported rather than crashing, and a `--root` fixture tree.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use pincore_testkit::{command, free_port, require};
use serde_json::Value;
use support::{load, once_json, top, Server};

/// The field names README's "`--once --json`" list documents, by object: `interval`, `server`, `shard`,
/// `host`, `cpu`, `queue`.
fn documented_fields() -> Vec<(String, BTreeSet<String>)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let start = readme
        .find("<!-- pincore-top json fields -->")
        .expect("README marks the --once --json field list");
    let end = start
        + readme[start..]
            .find("<!-- end -->")
            .expect("the list's end marker");
    readme[start..end]
        .lines()
        .filter_map(|l| {
            let (object, fields) = l.strip_prefix("- **")?.split_once("**: ")?;
            let fields = fields
                .split(", ")
                .filter_map(|f| f.split('`').nth(1).map(str::to_string))
                .collect();
            Some((object.to_string(), fields))
        })
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn once_json_shows_a_loaded_server_with_the_documented_fields() {
    let server = support::server_binary!();
    require!(command("redis-benchmark"), command("timeout"));
    let s = Server::start(&server, &[], "");
    let _load = load(s.resp, 2_000_000);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = top(
        &[
            "--once",
            "--json",
            "--timeout",
            "5s",
            "--interval",
            "1s",
            &s.admin.to_string(),
        ],
        20,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let server_view = &v["servers"][0];
    assert_eq!(server_view["up"], true, "{v}");
    let shards = server_view["shards"].as_array().unwrap();
    assert!(!shards.is_empty());
    let rate: f64 = shards
        .iter()
        .map(|s| s["requests_per_sec"].as_f64().unwrap())
        .sum();
    assert!(rate > 100.0, "requests under load: {rate}");
    assert!(
        shards.iter().any(|s| s["p99_ms"].as_f64().is_some()),
        "a percentile from this interval's buckets"
    );
    let strings: f64 = shards
        .iter()
        .filter_map(|s| s["requests_per_sec_by_family"]["string"].as_f64())
        .sum();
    assert!(strings > 0.0, "GET and SET count as the string family");
    // The fields are exactly what README lists.
    let host = &v["host"];
    for (object, fields) in documented_fields() {
        let actual = match object.as_str() {
            "interval" => keys(&v),
            "server" => keys(server_view),
            "shard" => keys(&shards[0]),
            "host" => keys(host),
            "cpu" => keys(&host["cpus"][0]),
            // Loopback and veth have no queue vectors: the fixture test sees queues.
            "queue" if host["queues"][0].is_object() => keys(&host["queues"][0]),
            "queue" => continue,
            other => panic!("README lists fields of an unknown object {other}"),
        };
        assert_eq!(actual, fields, "README's fields of {object}");
    }
    assert!(
        host["cpus"].as_array().is_some_and(|c| !c.is_empty()),
        "per-CPU rows from /proc/stat: {host}"
    );
    assert!(
        host["cpus"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["has_shard"] == true),
        "a loopback server's shard CPUs are marked"
    );
}

#[test]
fn an_unreachable_server_is_reported_not_a_crash() {
    require!(command("timeout"));
    let address = format!("127.0.0.1:{}", free_port());
    let (code, v) = once_json(&["--no-host", &address]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["servers"][0]["up"], false);
    assert!(
        v["servers"][0]["error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{v}"
    );
    assert_eq!(v["host"], Value::Null);
}

#[test]
fn a_fixture_root_is_read_through_the_tuner_libraries() {
    require!(command("timeout"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tuner/tests/fixtures/nic/host");
    let address = format!("127.0.0.1:{}", free_port());
    let (_, v) = once_json(&["--root", root.to_str().unwrap(), &address]);
    assert_eq!(v["host_error"], Value::Null, "{v}");
    let queues = v["host"]["queues"].as_array().expect("queues");
    assert!(!queues.is_empty(), "the fixture's NIC queue vectors: {v}");
    assert!(
        queues.iter().all(|q| q["per_sec"] == 0.0),
        "a tree read twice has no deltas"
    );
    let documented = documented_fields();
    let (_, queue_fields) = documented
        .iter()
        .find(|(o, _)| o == "queue")
        .expect("queue fields");
    assert_eq!(&keys(&queues[0]), queue_fields, "README's fields of queue");
    // And a tree that is not a /proc tree is an error to show.
    let (code, v) = once_json(&["--root", "/nonexistent", &address]);
    assert_eq!(code, Some(1));
    assert!(v["host_error"].as_str().is_some(), "{v}");
}
