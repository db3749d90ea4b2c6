//! The tuned benchmark's scenarios: what each one sets up on the veth path, what it runs, and the metrics it
//! turns its child's report into. Each is named after what it shows.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::host::delay_line::LineCounters;
use crate::host::path::{DelayBy, Shaping, SERVER_ADDR};
use crate::load::latency::Percentiles;
use crate::load::report::RunReport;
use crate::load::spec::LoadSpec;
use crate::load::workload::{Protocol, Workload};
use crate::scenarios::bulk::{BulkReport, BulkSpec};
use crate::scenarios::churn::{ChurnReport, ChurnSpec};
use crate::scenarios::storm::{StormReport, StormSpec};

/// A scenario of `pincore-bench tuned` (`--scenario NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioName {
    /// Short connections from the client until its local ports run out (EADDRNOTAVAIL).
    PortExhaustion,
    /// Thousands of simultaneous connects to a listener that accepts late (somaxconn).
    ConnectionStorm,
    /// Bulk transfer over a path with delay: buffers against the bandwidth-delay product (needs netem).
    BulkLongFatPath,
    /// Bulk transfer through a rate-limited bottleneck (tbf), one stream and several.
    BulkRateLimited,
    /// RESP requests at a fixed rate through a deep bottleneck queue shared with a bulk download.
    LatencyBehindBulk,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 5] = [
        ScenarioName::PortExhaustion,
        ScenarioName::ConnectionStorm,
        ScenarioName::BulkLongFatPath,
        ScenarioName::BulkRateLimited,
        ScenarioName::LatencyBehindBulk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::PortExhaustion => "port-exhaustion",
            ScenarioName::ConnectionStorm => "connection-storm",
            ScenarioName::BulkLongFatPath => "bulk-long-fat-path",
            ScenarioName::BulkRateLimited => "bulk-rate-limited",
            ScenarioName::LatencyBehindBulk => "latency-behind-bulk",
        }
    }

    /// Whether the scenario talks to pincore-server (echo or RESP) in the server's namespace.
    pub fn needs_server(self) -> bool {
        matches!(
            self,
            ScenarioName::PortExhaustion | ScenarioName::LatencyBehindBulk
        )
    }
}

/// Every scenario's settings, from `--quick`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub quick: bool,
    /// The client's `ip_local_port_range` before any profile; `None` keeps the namespace's default.
    pub churn_port_range: Option<(u16, u16)>,
    pub churn_threads: usize,
    pub churn_duration_s: f64,
    pub storm_connections: usize,
    pub storm_accept_delay_ms: u64,
    pub storm_backlog: i32,
    pub storm_timeout_s: u64,
    pub bulk_streams: usize,
    pub bulk_warmup_s: f64,
    pub bulk_duration_s: f64,
    pub bulk_rate: Shaping,
    pub long_fat_path: Shaping,
    pub bottleneck: Shaping,
    pub latency_rate: f64,
    pub latency_connections: usize,
    pub latency_warmup_s: f64,
    pub latency_duration_s: f64,
}

impl Settings {
    pub fn new(quick: bool) -> Settings {
        Settings {
            quick,
            // The default range has 28,232 ports and TIME_WAIT lasts 60 s; a quick run shrinks the range in
            // the client's namespace (a namespaced sysctl) so it runs out within a second.
            churn_port_range: quick.then_some((61000, 61099)),
            churn_threads: 4,
            // TIME_WAIT holds each port for 60 s: the full run must open more than the range holds in
            // well under a minute (at about 1,000 connections/s on a busy two-CPU machine, 45 s).
            churn_duration_s: if quick { 1.5 } else { 45.0 },
            // Above the default somaxconn (4096), within RLIMIT_NOFILE (two descriptors per connection).
            storm_connections: if quick { 5000 } else { 7000 },
            storm_accept_delay_ms: 500,
            storm_backlog: 65535,
            storm_timeout_s: if quick { 4 } else { 8 },
            bulk_streams: 4,
            bulk_warmup_s: if quick { 0.5 } else { 1.0 },
            bulk_duration_s: if quick { 1.5 } else { 5.0 },
            bulk_rate: Shaping::Rate {
                mbit: 1000,
                queue_bytes: 1_000_000,
            },
            long_fat_path: Shaping::Delay {
                rtt_ms: 50,
                mbit: 1000,
                queue_bytes: 6_250_000,
            },
            // 1 MB waiting at 20 Mbit/s is 400 ms of queue: a bloated buffer a bulk flow can fill.
            bottleneck: Shaping::Rate {
                mbit: 20,
                queue_bytes: 1_000_000,
            },
            latency_rate: 200.0,
            latency_connections: 8,
            latency_warmup_s: 1.0,
            latency_duration_s: if quick { 3.0 } else { 10.0 },
        }
    }

    /// How the server's side of the path is shaped for `scenario`.
    pub fn shaping(&self, scenario: ScenarioName) -> Shaping {
        match scenario {
            ScenarioName::PortExhaustion | ScenarioName::ConnectionStorm => Shaping::Unshaped,
            ScenarioName::BulkLongFatPath => self.long_fat_path,
            ScenarioName::BulkRateLimited => self.bulk_rate,
            ScenarioName::LatencyBehindBulk => self.bottleneck,
        }
    }

    /// Sysctls written in both namespaces before any profile, each with the values to try in order, so
    /// that "defaults" means the kernel's own defaults (Documentation/networking/ip-sysctl.rst) whatever
    /// the host set: a new namespace copies tcp_rmem, tcp_wmem and the congestion control from the host's.
    /// A namespace may only pick a congestion control the host lists in tcp_allowed_congestion_control:
    /// cubic, the kernel's default, else reno, the other loss-based one every kernel has.
    pub fn baseline(
        &self,
        scenario: ScenarioName,
    ) -> &'static [(&'static str, &'static [&'static str])] {
        const BUFFERS_AND_CC: &[(&str, &[&str])] = &[
            ("net/ipv4/tcp_rmem", &["4096 131072 6291456"]),
            ("net/ipv4/tcp_wmem", &["4096 16384 4194304"]),
            ("net/ipv4/tcp_congestion_control", &["cubic", "reno"]),
        ];
        match scenario {
            ScenarioName::BulkLongFatPath
            | ScenarioName::BulkRateLimited
            | ScenarioName::LatencyBehindBulk => BUFFERS_AND_CC,
            ScenarioName::PortExhaustion | ScenarioName::ConnectionStorm => &[],
        }
    }

    /// What the scenario does, in one sentence for the printed report.
    pub fn describe(&self, scenario: ScenarioName) -> String {
        let shaping = self.shaping(scenario).describe();
        match scenario {
            ScenarioName::PortExhaustion => format!(
                "{} threads each connect, echo 16 B and close against pincore-server's echo service for {:.1} s \
                 ({shaping}){}",
                self.churn_threads,
                self.churn_duration_s,
                match self.churn_port_range {
                    Some((lo, hi)) => format!(", client port range {lo}-{hi} before the profile"),
                    None => String::new(),
                }
            ),
            ScenarioName::ConnectionStorm => format!(
                "{} simultaneous connects to a listener with listen({}) that starts accepting {} ms after the last connect was sent ({shaping})",
                self.storm_connections, self.storm_backlog, self.storm_accept_delay_ms
            ),
            ScenarioName::BulkLongFatPath | ScenarioName::BulkRateLimited => format!(
                "bulk download, 1 stream then {} streams, {:.1} s each after {:.1} s warm-up ({shaping})",
                self.bulk_streams, self.bulk_duration_s, self.bulk_warmup_s
            ),
            ScenarioName::LatencyBehindBulk => format!(
                "RESP GET/SET at {} requests/s open loop over {} connections for {:.1} s, while one bulk download \
                 shares the bottleneck ({shaping})",
                self.latency_rate, self.latency_connections, self.latency_duration_s
            ),
        }
    }

    pub fn storm(&self, server_ns: &str) -> StormSpec {
        StormSpec {
            connections: self.storm_connections,
            accept_delay: Duration::from_millis(self.storm_accept_delay_ms),
            backlog: self.storm_backlog,
            timeout: Duration::from_secs(self.storm_timeout_s),
            listen_in: Some(server_ns.to_string()),
            listen_ip: SERVER_ADDR,
        }
    }

    pub fn churn(&self, echo: SocketAddr) -> ChurnSpec {
        ChurnSpec {
            target: echo,
            threads: self.churn_threads,
            duration: Duration::from_secs_f64(self.churn_duration_s),
            timeout: Duration::from_secs(2),
        }
    }

    /// A bulk download of `streams` streams, `duration` counted after the warm-up (the latency scenario's
    /// background flow asks for one that outlasts its requests).
    pub fn bulk(&self, server_ns: &str, streams: usize, duration: Duration) -> BulkSpec {
        BulkSpec {
            streams,
            duration,
            warmup: Duration::from_secs_f64(self.bulk_warmup_s),
            listen_in: Some(server_ns.to_string()),
            listen_ip: SERVER_ADDR,
        }
    }

    pub fn bulk_duration(&self) -> Duration {
        Duration::from_secs_f64(self.bulk_duration_s)
    }

    /// The open-loop RESP run behind the bottleneck.
    pub fn latency(&self, resp: SocketAddr) -> LoadSpec {
        LoadSpec {
            target: resp,
            workload: Workload {
                protocol: Protocol::Resp,
                value_size: 64,
                keys: 1000,
                set_ratio: 0.5,
                path: "/healthz".into(),
            },
            connections: self.latency_connections,
            pipeline: 1,
            rate: Some(self.latency_rate),
            threads: 1,
            cpus: None,
            warmup: Duration::from_secs_f64(self.latency_warmup_s),
            duration: Duration::from_secs_f64(self.latency_duration_s),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Better {
    Lower,
    Higher,
    /// A setting or a count that is neither good nor bad (TIME_WAIT sockets).
    Neither,
}

/// How a metric's value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    Count,
    Micros,
    Mbit,
}

/// One measured number of a scenario pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: Unit,
    pub better: Better,
    /// The number the scenario's verdict is about.
    #[serde(default)]
    pub headline: bool,
    /// Failures: any before and none after is a fix, whatever else moved.
    #[serde(default)]
    pub failures: bool,
}

fn metric(name: &str, value: f64, unit: Unit, better: Better) -> Metric {
    Metric {
        name: name.into(),
        value,
        unit,
        better,
        headline: false,
        failures: false,
    }
}

fn headline(mut m: Metric) -> Metric {
    m.headline = true;
    m
}

fn failures(mut m: Metric) -> Metric {
    m.failures = true;
    m
}

/// One pass of a scenario (defaults or a profile): its numbers, its latency percentiles for the chart, and
/// the child's own report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub metrics: Vec<Metric>,
    /// The settings that decide the outcome, as read in the namespaces (`somaxconn`, `tcp_rmem`, ...).
    pub settings: Vec<(String, String)>,
    pub latency: Option<Percentiles>,
    pub raw: serde_json::Value,
}

/// Rows of [`Measured::settings`] that observe the run rather than read a setting a profile could change.
const ERRORS: &str = "errors";
const DELAYED_BY: &str = "path delayed by";
const LINE_COUNTERS: &str = "delay line frames / dropped at its queue / not read in time";

impl Measured {
    /// The settings a profile could have changed, without the rows that observe the run.
    pub fn tunables(&self) -> impl Iterator<Item = &(String, String)> {
        self.settings
            .iter()
            .filter(|(k, _)| ![ERRORS, DELAYED_BY, LINE_COUNTERS].contains(&k.as_str()))
    }

    /// Records what delayed the path (and what the delay line forwarded and dropped) with the settings.
    pub fn note_delay(&mut self, by: DelayBy, line: Option<LineCounters>) {
        self.settings
            .push((DELAYED_BY.into(), by.describe().into()));
        if let Some(c) = line {
            self.settings.push((
                LINE_COUNTERS.into(),
                format!("{} / {} / {}", c.frames, c.queue_drops, c.socket_drops),
            ));
            if let serde_json::Value::Object(raw) = &mut self.raw {
                raw.insert("delay_line".into(), self::raw(&c));
            }
        }
        if let serde_json::Value::Object(raw) = &mut self.raw {
            raw.insert("delay_by".into(), self::raw(&by));
        }
    }
}

fn raw(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

pub fn from_churn(r: &ChurnReport, port_range: Option<String>) -> Measured {
    let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
    Measured {
        metrics: vec![
            failures(metric(
                "failed connections",
                r.failures() as f64,
                Unit::Count,
                Better::Lower,
            )),
            headline(metric("connections/s", r.rate, Unit::Count, Better::Higher)),
            metric(
                "p99 (connect+echo+close)",
                r.latency_us.p99_us,
                Unit::Micros,
                Better::Lower,
            ),
            metric(
                "TIME_WAIT added",
                match (r.time_wait_before, r.time_wait) {
                    (Some(b), Some(a)) => a.saturating_sub(b) as f64,
                    _ => f64::NAN,
                },
                Unit::Count,
                Better::Neither,
            ),
        ],
        settings: vec![
            (
                "client ip_local_port_range".into(),
                port_range.unwrap_or_else(|| "?".into()),
            ),
            (
                ERRORS.into(),
                if errors.is_empty() {
                    "none".into()
                } else {
                    errors.join(", ")
                },
            ),
        ],
        latency: Some(r.latency_us),
        raw: raw(r),
    }
}

pub fn from_storm(r: &StormReport) -> Measured {
    let opt = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    let tcpext = |key: &str| r.tcpext.get(key).copied().unwrap_or(0) as f64;
    Measured {
        metrics: vec![
            failures(metric(
                "failed + timed out",
                (r.failed + r.timed_out) as f64,
                Unit::Count,
                Better::Lower,
            )),
            metric("connected", r.connected as f64, Unit::Count, Better::Higher),
            metric(
                "connect p50",
                r.connect_us.p50_us,
                Unit::Micros,
                Better::Lower,
            ),
            headline(metric(
                "connect p99",
                r.connect_us.p99_us,
                Unit::Micros,
                Better::Lower,
            )),
            metric(
                "connect max",
                r.connect_us.max_us,
                Unit::Micros,
                Better::Lower,
            ),
            metric(
                "ListenOverflows",
                tcpext("ListenOverflows"),
                Unit::Count,
                Better::Lower,
            ),
            metric(
                "ListenDrops",
                tcpext("ListenDrops"),
                Unit::Count,
                Better::Lower,
            ),
        ],
        settings: vec![(
            "server somaxconn / tcp_max_syn_backlog".into(),
            format!("{} / {}", opt(r.somaxconn), opt(r.tcp_max_syn_backlog)),
        )],
        latency: Some(r.connect_us),
        raw: raw(r),
    }
}

/// The bulk sender's smoothed round trip: the path's delay plus the queue the flow keeps filled.
fn round_trip(name: &str, bulk: &BulkReport) -> Metric {
    metric(
        name,
        bulk.sender_rtt_ms.map_or(f64::NAN, |ms| ms * 1000.0),
        Unit::Micros,
        Better::Lower,
    )
}

pub fn from_bulk(one: &BulkReport, many: &BulkReport) -> Measured {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    Measured {
        metrics: vec![
            headline(metric(
                "1 stream Mbit/s",
                one.mbit_s,
                Unit::Mbit,
                Better::Higher,
            )),
            metric(
                &format!("{} streams Mbit/s", many.streams),
                many.mbit_s,
                Unit::Mbit,
                Better::Higher,
            ),
            metric(
                &format!("slowest of {} Mbit/s", many.streams),
                many.slowest_mbit_s,
                Unit::Mbit,
                Better::Higher,
            ),
            round_trip("1 stream round trip", one),
        ],
        settings: vec![
            ("receiver tcp_rmem".into(), opt(&one.receiver_tcp_rmem)),
            ("sender tcp_wmem".into(), opt(&one.sender_tcp_wmem)),
            (
                "sender congestion control".into(),
                opt(&one.sender_congestion_control),
            ),
        ],
        latency: None,
        raw: serde_json::json!({ "one_stream": raw(one), "streams": raw(many) }),
    }
}

pub fn from_latency(load: &RunReport, bulk: &BulkReport) -> Measured {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    Measured {
        metrics: vec![
            failures(metric(
                "failed requests",
                load.counters.failures() as f64,
                Unit::Count,
                Better::Lower,
            )),
            metric("p50", load.latency_us.p50_us, Unit::Micros, Better::Lower),
            headline(metric(
                "p99",
                load.latency_us.p99_us,
                Unit::Micros,
                Better::Lower,
            )),
            metric(
                "p99.9",
                load.latency_us.p999_us,
                Unit::Micros,
                Better::Lower,
            ),
            metric(
                "requests/s achieved",
                load.rate,
                Unit::Count,
                Better::Higher,
            ),
            metric(
                "bulk download Mbit/s",
                bulk.mbit_s,
                Unit::Mbit,
                Better::Higher,
            ),
            round_trip("bulk download round trip", bulk),
        ],
        settings: vec![(
            "sender congestion control".into(),
            opt(&bulk.sender_congestion_control),
        )],
        latency: Some(load.latency_us),
        raw: serde_json::json!({ "requests": raw(load), "bulk": raw(bulk) }),
    }
}
