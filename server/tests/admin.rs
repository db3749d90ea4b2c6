//! The admin HTTP endpoints through curl, with /metrics checked as Prometheus text.

mod support;

use std::collections::HashMap;

use pincore_testkit::{command, require};
use support::Server;

/// Checks Prometheus text exposition format 0.0.4 line by line: every sample belongs to a family declared by
/// `# TYPE`, labels are well-formed, values are numbers, histograms are cumulative and end in `+Inf` = `_count`.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .expect("TYPE line has a name and a type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "family declared twice: {name}"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .expect("labels in braces");
                for pair in inner.split(',') {
                    let (k, v) = pair.split_once('=').expect("label is k=v");
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert!(
                        v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                        "{line}"
                    );
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| types.get(*base).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample without # TYPE: {line}");
        samples.insert(series.to_string(), value);
    }
    samples
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_traffic() {
    require!(command("curl"), command("redis-cli"));
    let s = Server::start();
    for i in 0..20 {
        s.cli(&["SET", &format!("k{i}"), "v"]);
    }
    s.cli(&["GET", "k1"]);
    s.cli(&["NOSUCHCOMMAND"]);
    let (status, body) = s.curl("/metrics");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&body);
    assert_eq!(samples["pincore_ready"], 1.0);
    assert_eq!(
        samples["pincore_commands_total{command=\"set\",shard=\"total\"}"],
        20.0
    );
    assert_eq!(
        samples["pincore_errors_total{reason=\"unknown_command\",shard=\"total\"}"],
        1.0
    );
    assert!(
        samples["pincore_connections_accepted_total{service=\"resp\",shard=\"total\"}"] >= 22.0
    );
    assert!(samples["pincore_received_bytes_total{service=\"resp\",shard=\"total\"}"] > 0.0);
    // Histogram: buckets are cumulative and +Inf equals _count.
    let mut previous = 0.0;
    for line in body
        .lines()
        .filter(|l| l.starts_with("pincore_command_duration_seconds_bucket{command=\"set\""))
    {
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v >= previous, "{line}");
        previous = v;
    }
    assert_eq!(previous, 20.0);
    assert_eq!(
        samples["pincore_command_duration_seconds_count{command=\"set\"}"],
        20.0
    );
    // Per-shard series add up to the total.
    let per_shard: f64 = samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("pincore_commands_total{command=\"set\",shard=\"")
                && !k.contains("total\"}")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(per_shard, 20.0);
    assert!(samples
        .keys()
        .any(|k| k.starts_with("pincore_executor_tasks_executed_total{shard=\"0\"}")));
}

#[test]
fn health_readiness_and_config_endpoints() {
    require!(command("curl"));
    let s = Server::start();
    assert_eq!(s.curl("/healthz"), (200, "ok\n".to_string()));
    assert_eq!(s.curl("/readyz"), (200, "ready\n".to_string()));
    assert_eq!(s.curl("/nope").0, 404);
    let (status, body) = s.curl("/config");
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_str(&body).expect("/config is JSON");
    assert_eq!(config["services"]["admin"]["listen"], "127.0.0.1:0"); // as configured
    assert_eq!(config["timeouts"]["request_ms"], 300);
    // Keep-alive: two requests on one connection.
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5", "-w", "%{num_connects}\n"])
        .arg(format!("http://{}/healthz", s.admin))
        .arg(format!("http://{}/healthz", s.admin))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n1\nok\n0\n");
}
