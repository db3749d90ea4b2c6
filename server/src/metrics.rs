//! Shard-local metrics and their Prometheus text rendering.
//!
//! Each shard counts in plain `Cell`s that only its own thread touches: no atomics and no locks on the request
//! path. A scrape asks every shard for a [`ShardSnapshot`] over the cross-shard channels and renders the merged
//! snapshots here, so the cost of monitoring is paid at scrape time, not per request.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::command::Command;
use crate::listener::Service;

/// Upper bounds (seconds) of the command latency histogram buckets; `+Inf` is implied.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 1.0,
];
const BUCKETS: usize = LATENCY_BUCKETS.len() + 1;

/// Error reasons counted by the services, pre-registered so that every series exists from the start.
pub const ERROR_REASONS: [&str; 12] = [
    "bulk_too_long",
    "array_too_long",
    "inline_too_long",
    "malformed",
    "request_too_large",
    "request_timeout",
    "idle_timeout",
    "unknown_command",
    "wrong_arity",
    "shard_unavailable",
    "http_bad_request",
    "http_header_too_large",
];

/// Why a connection was refused at accept time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `limits.max_connections_per_shard` reached.
    MaxConnections,
    /// `limits.max_connections_per_ip` reached for the peer's address.
    PerIp,
    /// The server is draining for shutdown.
    Draining,
}

impl Rejection {
    pub const ALL: [Rejection; 3] = [
        Rejection::MaxConnections,
        Rejection::PerIp,
        Rejection::Draining,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::MaxConnections => "max_connections",
            Rejection::PerIp => "per_ip",
            Rejection::Draining => "draining",
        }
    }
}

#[derive(Default)]
struct ServiceCounters {
    open: Cell<u64>,
    accepted: Cell<u64>,
    rejected: [Cell<u64>; 3],
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
}

#[derive(Default)]
struct CommandCounters {
    calls: Cell<u64>,
    buckets: [Cell<u64>; BUCKETS],
    sum_nanos: Cell<u64>,
}

/// One shard's counters. Only the owning shard's thread reads or writes them.
#[derive(Default)]
pub struct ShardMetrics {
    services: [ServiceCounters; 3],
    commands: [CommandCounters; Command::COUNT],
    errors: RefCell<BTreeMap<&'static str, u64>>,
    executor: RefCell<ExecutorSnapshot>,
}

fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get().wrapping_add(by));
}

impl ShardMetrics {
    pub fn accepted(&self, service: Service) {
        let s = &self.services[service.index()];
        bump(&s.accepted, 1);
        bump(&s.open, 1);
    }

    pub fn closed(&self, service: Service) {
        let s = &self.services[service.index()];
        s.open.set(s.open.get().saturating_sub(1));
    }

    pub fn rejected(&self, service: Service, why: Rejection) {
        bump(&self.services[service.index()].rejected[why as usize], 1);
    }

    pub fn bytes_in(&self, service: Service, n: usize) {
        bump(&self.services[service.index()].bytes_in, n as u64);
    }

    pub fn bytes_out(&self, service: Service, n: usize) {
        bump(&self.services[service.index()].bytes_out, n as u64);
    }

    /// Connections currently open on this shard, all services together.
    pub fn open_connections(&self) -> u64 {
        self.services.iter().map(|s| s.open.get()).sum()
    }

    pub fn open_connections_of(&self, service: Service) -> u64 {
        self.services[service.index()].open.get()
    }

    /// Counts one error by reason (a stable snake_case label).
    pub fn error(&self, reason: &'static str) {
        *self.errors.borrow_mut().entry(reason).or_insert(0) += 1;
    }

    /// Records one command and how long it took from parse to reply.
    pub fn command(&self, command: Command, took: Duration) {
        let c = &self.commands[command.index()];
        bump(&c.calls, 1);
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS - 1);
        bump(&c.buckets[bucket], 1);
        bump(&c.sum_nanos, took.as_nanos().min(u64::MAX as u128) as u64);
    }

    /// Total commands served by this shard.
    pub fn total_commands(&self) -> u64 {
        self.commands.iter().map(|c| c.calls.get()).sum()
    }

    /// Adds glommio's executor statistics since the last call (glommio hands out deltas) to the running totals.
    pub fn absorb_executor_stats(&self, queue_names: &[(usize, &'static str)]) {
        let ex = glommio::executor();
        let delta = ex.executor_stats();
        let mut totals = self.executor.borrow_mut();
        totals.runtime_secs += delta.executor_runtime().as_secs_f64();
        totals.total_runtime_secs += delta.total_runtime().as_secs_f64();
        totals.scheduler_runs += delta.scheduler_runs();
        totals.tasks_executed += delta.tasks_executed();
        for stats in ex.all_task_queue_stats(Vec::new()) {
            let index = stats.index().index();
            let name = queue_names
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, n)| *n)
                .unwrap_or("other");
            let entry = match totals.queues.iter_mut().find(|q| q.0 == name) {
                Some(entry) => entry,
                None => {
                    totals.queues.push((name, 0.0, 0));
                    // Just pushed, so the vector is not empty.
                    totals.queues.last_mut().expect("just pushed")
                }
            };
            entry.1 += stats.runtime().as_secs_f64();
            entry.2 += stats.queue_selected();
        }
    }

    /// A plain-data copy of every counter, to send to the shard that renders a scrape.
    pub fn snapshot(&self, shard: usize, cpu: usize, keys: u64, expiring: u64) -> ShardSnapshot {
        ShardSnapshot {
            shard,
            cpu,
            keys,
            expiring,
            services: Service::ALL.map(|service| {
                let s = &self.services[service.index()];
                ServiceSnapshot {
                    open: s.open.get(),
                    accepted: s.accepted.get(),
                    rejected: [
                        s.rejected[0].get(),
                        s.rejected[1].get(),
                        s.rejected[2].get(),
                    ],
                    bytes_in: s.bytes_in.get(),
                    bytes_out: s.bytes_out.get(),
                }
            }),
            commands: Command::ALL.map(|command| {
                let c = &self.commands[command.index()];
                CommandSnapshot {
                    calls: c.calls.get(),
                    buckets: std::array::from_fn(|i| c.buckets[i].get()),
                    sum_nanos: c.sum_nanos.get(),
                }
            }),
            errors: {
                let counted = self.errors.borrow();
                let mut errors: Vec<(&'static str, u64)> = ERROR_REASONS
                    .iter()
                    .map(|r| (*r, counted.get(r).copied().unwrap_or(0)))
                    .collect();
                errors.extend(
                    counted
                        .iter()
                        .filter(|(k, _)| !ERROR_REASONS.contains(k))
                        .map(|(k, v)| (*k, *v)),
                );
                errors
            },
            executor: self.executor.borrow().clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServiceSnapshot {
    pub open: u64,
    pub accepted: u64,
    pub rejected: [u64; 3],
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CommandSnapshot {
    pub calls: u64,
    pub buckets: [u64; BUCKETS],
    pub sum_nanos: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ExecutorSnapshot {
    pub runtime_secs: f64,
    pub total_runtime_secs: f64,
    pub scheduler_runs: u64,
    pub tasks_executed: u64,
    /// (queue name, runtime seconds, times selected)
    pub queues: Vec<(&'static str, f64, u64)>,
}

/// Everything one shard reports to a scrape.
#[derive(Debug, Clone)]
pub struct ShardSnapshot {
    pub shard: usize,
    pub cpu: usize,
    pub keys: u64,
    pub expiring: u64,
    pub services: [ServiceSnapshot; 3],
    pub commands: [CommandSnapshot; Command::COUNT],
    pub errors: Vec<(&'static str, u64)>,
    pub executor: ExecutorSnapshot,
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Renders merged snapshots as Prometheus text exposition format 0.0.4.
///
/// Per-shard series carry `shard="N"`; connection, byte, command and error families also carry the sum over
/// all shards as `shard="total"` (exclude it when summing: `sum(x{shard!="total"})`).
pub fn render(snapshots: &[ShardSnapshot], ready: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let mut f = Family { out: &mut out };
    let shard_labels: Vec<String> = snapshots.iter().map(|s| s.shard.to_string()).collect();

    f.header(
        "pincore_ready",
        "gauge",
        "1 when every shard is listening and the server is not draining.",
    );
    f.sample("pincore_ready", &[], u8::from(ready));
    f.header(
        "pincore_shard_info",
        "gauge",
        "One series per shard with the CPU it is pinned to.",
    );
    for s in snapshots {
        f.sample(
            "pincore_shard_info",
            &[("shard", &s.shard.to_string()), ("cpu", &s.cpu.to_string())],
            1,
        );
    }

    type Pick = fn(&ServiceSnapshot) -> u64;
    let service_families: [(&str, &str, &str, Pick); 4] = [
        (
            "pincore_connections_open",
            "gauge",
            "Connections currently open.",
            |s| s.open,
        ),
        (
            "pincore_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |s| s.accepted,
        ),
        (
            "pincore_received_bytes_total",
            "counter",
            "Bytes read from clients.",
            |s| s.bytes_in,
        ),
        (
            "pincore_sent_bytes_total",
            "counter",
            "Bytes written to clients.",
            |s| s.bytes_out,
        ),
    ];
    for (name, kind, help, pick) in service_families {
        f.header(name, kind, help);
        for service in Service::ALL {
            let mut total = 0;
            for (s, label) in snapshots.iter().zip(&shard_labels) {
                let v = pick(&s.services[service.index()]);
                total += v;
                f.sample(name, &[("service", service.name()), ("shard", label)], v);
            }
            f.sample(
                name,
                &[("service", service.name()), ("shard", "total")],
                total,
            );
        }
    }

    let name = "pincore_connections_rejected_total";
    f.header(
        name,
        "counter",
        "Connections closed at accept time, by reason.",
    );
    for service in Service::ALL {
        for why in Rejection::ALL {
            let mut total = 0;
            for (s, label) in snapshots.iter().zip(&shard_labels) {
                let v = s.services[service.index()].rejected[why as usize];
                total += v;
                f.sample(
                    name,
                    &[
                        ("service", service.name()),
                        ("reason", why.as_str()),
                        ("shard", label),
                    ],
                    v,
                );
            }
            f.sample(
                name,
                &[
                    ("service", service.name()),
                    ("reason", why.as_str()),
                    ("shard", "total"),
                ],
                total,
            );
        }
    }

    let name = "pincore_commands_total";
    f.header(name, "counter", "RESP commands served, by command.");
    for command in Command::ALL {
        let mut total = 0;
        for (s, label) in snapshots.iter().zip(&shard_labels) {
            let v = s.commands[command.index()].calls;
            total += v;
            f.sample(name, &[("command", command.name()), ("shard", label)], v);
        }
        f.sample(
            name,
            &[("command", command.name()), ("shard", "total")],
            total,
        );
    }

    let name = "pincore_errors_total";
    f.header(
        name,
        "counter",
        "Errors by reason: protocol violations, limits, timeouts, command errors.",
    );
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for (s, label) in snapshots.iter().zip(&shard_labels) {
        for (reason, v) in &s.errors {
            *reasons.entry(reason).or_insert(0) += v;
            f.sample(name, &[("reason", reason), ("shard", label)], v);
        }
    }
    for (reason, v) in &reasons {
        f.sample(name, &[("reason", reason), ("shard", "total")], v);
    }

    let name = "pincore_command_duration_seconds";
    f.header(
        name,
        "histogram",
        "Time from parsing a command to its reply being ready, all shards.",
    );
    for command in Command::ALL {
        let mut buckets = [0u64; BUCKETS];
        let mut sum_nanos = 0u64;
        for s in snapshots {
            let c = &s.commands[command.index()];
            for (b, v) in buckets.iter_mut().zip(c.buckets) {
                *b += v;
            }
            sum_nanos = sum_nanos.wrapping_add(c.sum_nanos);
        }
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += buckets[i];
            f.sample(
                &format!("{name}_bucket"),
                &[("command", command.name()), ("le", &le.to_string())],
                cumulative,
            );
        }
        cumulative += buckets[BUCKETS - 1];
        f.sample(
            &format!("{name}_bucket"),
            &[("command", command.name()), ("le", "+Inf")],
            cumulative,
        );
        f.sample(
            &format!("{name}_sum"),
            &[("command", command.name())],
            sum_nanos as f64 / 1e9,
        );
        f.sample(
            &format!("{name}_count"),
            &[("command", command.name())],
            cumulative,
        );
    }

    f.header(
        "pincore_keys",
        "gauge",
        "Keys stored, by the shard that sweeps their keyspace parts.",
    );
    for (s, label) in snapshots.iter().zip(&shard_labels) {
        f.sample("pincore_keys", &[("shard", label)], s.keys);
    }
    f.header(
        "pincore_keys_expiring",
        "gauge",
        "Keys with a time to live, by the shard that sweeps their keyspace parts.",
    );
    for (s, label) in snapshots.iter().zip(&shard_labels) {
        f.sample("pincore_keys_expiring", &[("shard", label)], s.expiring);
    }

    type PickEx = fn(&ExecutorSnapshot) -> f64;
    let executor_families: [(&str, &str, PickEx); 4] = [
        (
            "pincore_executor_runtime_seconds_total",
            "Time the glommio executor spent running tasks.",
            |e| e.runtime_secs,
        ),
        (
            "pincore_executor_busy_seconds_total",
            "Executor runtime plus time polling for I/O.",
            |e| e.total_runtime_secs,
        ),
        (
            "pincore_executor_scheduler_runs_total",
            "Times the glommio scheduler selected a task queue.",
            |e| e.scheduler_runs as f64,
        ),
        (
            "pincore_executor_tasks_executed_total",
            "Tasks the glommio executor ran.",
            |e| e.tasks_executed as f64,
        ),
    ];
    for (name, help, pick) in executor_families {
        f.header(name, "counter", help);
        for (s, label) in snapshots.iter().zip(&shard_labels) {
            f.sample(name, &[("shard", label)], pick(&s.executor));
        }
    }
    f.header(
        "pincore_task_queue_runtime_seconds_total",
        "counter",
        "Runtime of each glommio task queue.",
    );
    for (s, label) in snapshots.iter().zip(&shard_labels) {
        for (queue, runtime, _) in &s.executor.queues {
            f.sample(
                "pincore_task_queue_runtime_seconds_total",
                &[("shard", label), ("queue", queue)],
                runtime,
            );
        }
    }
    f.header(
        "pincore_task_queue_selected_total",
        "counter",
        "Times each glommio task queue was selected to run.",
    );
    for (s, label) in snapshots.iter().zip(&shard_labels) {
        for (queue, _, selected) in &s.executor.queues {
            f.sample(
                "pincore_task_queue_selected_total",
                &[("shard", label), ("queue", queue)],
                selected,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_totals_add_up() {
        let m = ShardMetrics::default();
        m.accepted(Service::Resp);
        m.command(Command::Get, Duration::from_micros(5));
        m.command(Command::Get, Duration::from_millis(2));
        m.command(Command::Get, Duration::from_secs(3));
        m.error("malformed");
        let a = m.snapshot(0, 0, 10, 1);
        let b = m.snapshot(1, 1, 5, 0);
        let text = render(&[a, b], true);
        assert!(
            text.contains("pincore_connections_open{service=\"resp\",shard=\"total\"} 2"),
            "{text}"
        );
        assert!(text
            .contains("pincore_command_duration_seconds_bucket{command=\"get\",le=\"0.00001\"} 2"));
        assert!(text
            .contains("pincore_command_duration_seconds_bucket{command=\"get\",le=\"0.0025\"} 4"));
        assert!(
            text.contains("pincore_command_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 6")
        );
        assert!(text.contains("pincore_command_duration_seconds_count{command=\"get\"} 6"));
        assert!(text.contains("pincore_errors_total{reason=\"malformed\",shard=\"total\"} 2"));
        assert!(text.contains("pincore_keys{shard=\"1\"} 5"));
    }
}
