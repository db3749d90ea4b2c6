//! The Grafana dashboard and the Prometheus alert rules in `monitoring/` query only series pincore-server
//! really exports (compared with a real scrape), promtool accepts the rules and the scrape, and pincore-top
//! reads only exported series too.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pincore_testkit::{command, require};
use support::Server;

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../monitoring")
        .join(file)
}

/// The metric names a PromQL expression reads: identifiers outside label matchers, ranges and strings, not
/// followed by `(` (functions), not grouping labels (`by (..)`, `on (..)`, ...) and not keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut cleaned = String::new();
    let mut depth = 0;
    let mut quoted = false;
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            _ if quoted || depth > 0 => {}
            _ => cleaned.push(c),
        }
    }
    let words: Vec<(usize, &str)> = cleaned
        .match_indices(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .fold((Vec::new(), 0), |(mut words, start), (i, sep)| {
            if i > start {
                words.push((start, &cleaned[start..i]));
            }
            (words, i + sep.len())
        })
        .0;
    let grouping = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Binary operators, and aggregations, which may be followed by `by (..)` before their parenthesis.
    let keywords = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let mut names = BTreeSet::new();
    let mut in_grouping = false;
    for (start, word) in words {
        let rest = cleaned[start + word.len()..].trim_start();
        if grouping.contains(&word) {
            in_grouping = true;
            continue;
        }
        if in_grouping {
            in_grouping = !rest.starts_with(')');
            continue;
        }
        if rest.starts_with('(')
            || keywords.contains(&word)
            || word.starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        names.insert(word.to_string());
    }
    names
}

fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(monitoring("pincore-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    exprs
}

fn rule_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(monitoring("pincore-alerts.yaml")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn promql_metric_names_are_read_as_prometheus_reads_them() {
    let names = metric_names(
        r#"sum by (group) (rate(a_total{x="y",shard!="total"}[$__rate_interval]) * on (command) group_left (group) max by (command, group) (b_info)) > 0.01"#,
    );
    assert_eq!(names, BTreeSet::from(["a_total".into(), "b_info".into()]));
}

#[test]
fn dashboard_and_rules_query_only_exported_series() {
    let server = support::server_binary!();
    require!(command("redis-cli"));
    let s = Server::start(&server, &[], "");
    // One command, so every per-command family has samples.
    let _ = Command::new("redis-cli")
        .args(["-p", &s.resp.port().to_string(), "SET", "k", "v"])
        .output();
    let scrape =
        pincore_top::scrape::fetch_metrics(&s.admin.to_string(), std::time::Duration::from_secs(5))
            .expect("scrape");
    let exported: BTreeSet<String> = pincore_top::prom::Scrape::parse(&scrape)
        .unwrap()
        .names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let exprs: Vec<String> = dashboard_exprs().into_iter().chain(rule_exprs()).collect();
    assert!(exprs.len() >= 10, "dashboard and rules read: {exprs:?}");
    let mut missing = Vec::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            if !name.starts_with("node_") && !exported.contains(&name) {
                missing.push(format!("{name} (in {expr})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "series not exported by pincore-server: {missing:#?}"
    );
    for name in pincore_top::shards::SERIES {
        assert!(
            exported.contains(*name),
            "pincore-top reads {name}, which is not exported"
        );
    }
}

#[test]
fn promtool_accepts_the_rules_and_a_real_scrape() {
    let server = support::server_binary!();
    require!(command("promtool"));
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(monitoring("pincore-alerts.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start(&server, &[], "");
    let scrape =
        pincore_top::scrape::fetch_metrics(&s.admin.to_string(), std::time::Duration::from_secs(5))
            .expect("scrape");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
