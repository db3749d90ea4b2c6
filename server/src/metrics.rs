//! Shard-local metrics and their Prometheus text rendering.
//!
//! Each shard counts in plain `Cell`s that only its own thread touches: no atomics and no locks on the request
//! path. A scrape asks every shard for a [`ShardSnapshot`] over the cross-shard channels and renders the merged
//! snapshots here, so the cost of monitoring is paid at scrape time, not per request.
//!
//! The framework counts what every service has (connections, bytes, rejections, connection durations, panics,
//! stalls, errors); a service registers its own series ([`Counter`], [`Histogram`], gauges read at scrape
//! time) through its [`crate::framework::Context`], and they are rendered next to the framework's.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::rc::Rc;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets; `+Inf` is implied.
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

fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get().wrapping_add(by));
}

/// A counter a service registered; cloning it gives another handle on the same series.
#[derive(Clone, Default)]
pub struct Counter(Rc<Cell<u64>>);

impl Counter {
    pub fn inc(&self) {
        bump(&self.0, 1);
    }
    pub fn add(&self, n: u64) {
        bump(&self.0, n);
    }
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

#[derive(Default)]
struct HistogramCells {
    buckets: [Cell<u64>; BUCKETS],
    sum_nanos: Cell<u64>,
}

/// A latency histogram a service registered (buckets [`LATENCY_BUCKETS`]), merged over shards at a scrape.
#[derive(Clone, Default)]
pub struct Histogram(Rc<HistogramCells>);

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS - 1);
        bump(&self.0.buckets[bucket], 1);
        bump(
            &self.0.sum_nanos,
            took.as_nanos().min(u64::MAX as u128) as u64,
        );
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.0.buckets[i].get()),
            sum_nanos: self.0.sum_nanos.get(),
        }
    }
}

enum Source {
    Counter(Counter),
    Histogram(Histogram),
    Gauge(Box<dyn Fn() -> u64>),
}

struct Registered {
    name: String,
    help: String,
    labels: Vec<(String, String)>,
    source: Source,
}

#[derive(Default)]
struct ServiceCounters {
    open: Cell<u64>,
    accepted: Cell<u64>,
    rejected: [Cell<u64>; 3],
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    panics: Cell<u64>,
    stalls: Cell<u64>,
    durations: Histogram,
}

/// One shard's counters. Only the owning shard's thread reads or writes them.
pub struct ShardMetrics {
    names: Vec<&'static str>,
    services: Vec<ServiceCounters>,
    errors: RefCell<BTreeMap<&'static str, u64>>,
    executor: RefCell<ExecutorSnapshot>,
    registered: RefCell<Vec<Registered>>,
}

impl ShardMetrics {
    /// Counters for the services named, by their index.
    pub fn new(services: &[&'static str]) -> ShardMetrics {
        ShardMetrics {
            names: services.to_vec(),
            services: services
                .iter()
                .map(|_| ServiceCounters::default())
                .collect(),
            errors: RefCell::default(),
            executor: RefCell::default(),
            registered: RefCell::default(),
        }
    }

    pub fn accepted(&self, service: usize) {
        let s = &self.services[service];
        bump(&s.accepted, 1);
        bump(&s.open, 1);
    }

    /// A connection of `service` closed after `lasted`.
    pub fn closed(&self, service: usize, lasted: Duration) {
        let s = &self.services[service];
        s.open.set(s.open.get().saturating_sub(1));
        s.durations.observe(lasted);
    }

    pub fn rejected(&self, service: usize, why: Rejection) {
        bump(&self.services[service].rejected[why as usize], 1);
    }

    pub fn bytes_in(&self, service: usize, n: usize) {
        bump(&self.services[service].bytes_in, n as u64);
    }

    pub fn bytes_out(&self, service: usize, n: usize) {
        bump(&self.services[service].bytes_out, n as u64);
    }

    /// A connection handler of `service` panicked (its connection was closed).
    pub fn panicked(&self, service: usize) {
        bump(&self.services[service].panics, 1);
    }

    /// A poll of `service` held the shard's CPU past the stall threshold.
    pub fn stalled(&self, service: usize) {
        bump(&self.services[service].stalls, 1);
    }

    /// Connections currently open on this shard, all services together.
    pub fn open_connections(&self) -> u64 {
        self.services.iter().map(|s| s.open.get()).sum()
    }

    pub fn open_connections_of(&self, service: usize) -> u64 {
        self.services[service].open.get()
    }

    /// Counts one error by reason (a stable snake_case label).
    pub fn error(&self, reason: &'static str) {
        *self.errors.borrow_mut().entry(reason).or_insert(0) += 1;
    }

    /// Registers a counter series. Series of one name share its help text and differ by labels.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        let counter = Counter::default();
        self.register(name, help, labels, Source::Counter(counter.clone()));
        counter
    }

    /// Registers a histogram series (merged over shards when rendered).
    pub fn histogram(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Histogram {
        let histogram = Histogram::default();
        self.register(name, help, labels, Source::Histogram(histogram.clone()));
        histogram
    }

    /// Registers a gauge read by calling `read` at each scrape (rendered per shard).
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        read: impl Fn() -> u64 + 'static,
    ) {
        self.register(name, help, labels, Source::Gauge(Box::new(read)));
    }

    fn register(&self, name: &str, help: &str, labels: &[(&str, &str)], source: Source) {
        self.registered.borrow_mut().push(Registered {
            name: name.to_string(),
            help: help.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source,
        });
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
    pub fn snapshot(&self, shard: usize, cpu: usize) -> ShardSnapshot {
        ShardSnapshot {
            shard,
            cpu,
            services: self
                .names
                .iter()
                .zip(&self.services)
                .map(|(name, s)| ServiceSnapshot {
                    name,
                    open: s.open.get(),
                    accepted: s.accepted.get(),
                    rejected: std::array::from_fn(|i| s.rejected[i].get()),
                    bytes_in: s.bytes_in.get(),
                    bytes_out: s.bytes_out.get(),
                    panics: s.panics.get(),
                    stalls: s.stalls.get(),
                    durations: s.durations.snapshot(),
                })
                .collect(),
            series: self
                .registered
                .borrow()
                .iter()
                .map(|r| SeriesSnapshot {
                    name: r.name.clone(),
                    help: r.help.clone(),
                    labels: r.labels.clone(),
                    value: match &r.source {
                        Source::Counter(c) => SeriesValue::Counter(c.get()),
                        Source::Histogram(h) => SeriesValue::Histogram(h.snapshot()),
                        Source::Gauge(read) => SeriesValue::Gauge(read()),
                    },
                })
                .collect(),
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
pub struct HistogramSnapshot {
    pub buckets: [u64; BUCKETS],
    pub sum_nanos: u64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
    fn add(&mut self, other: &HistogramSnapshot) {
        for (b, v) in self.buckets.iter_mut().zip(other.buckets) {
            *b += v;
        }
        self.sum_nanos = self.sum_nanos.wrapping_add(other.sum_nanos);
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServiceSnapshot {
    pub name: &'static str,
    pub open: u64,
    pub accepted: u64,
    pub rejected: [u64; 3],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub panics: u64,
    pub stalls: u64,
    pub durations: HistogramSnapshot,
}

/// One registered series' value at a scrape.
#[derive(Debug, Clone)]
pub enum SeriesValue {
    Counter(u64),
    Histogram(HistogramSnapshot),
    Gauge(u64),
}

#[derive(Debug, Clone)]
pub struct SeriesSnapshot {
    pub name: String,
    pub help: String,
    pub labels: Vec<(String, String)>,
    pub value: SeriesValue,
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
    /// The framework's counters of each service, in registration order.
    pub services: Vec<ServiceSnapshot>,
    /// What the services registered themselves.
    pub series: Vec<SeriesSnapshot>,
    pub errors: Vec<(&'static str, u64)>,
    pub executor: ExecutorSnapshot,
}

impl ShardSnapshot {
    /// The framework's counters of the service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSnapshot> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The sum of the counter (or gauge) series called `name`, over all its labels.
    pub fn sum_of(&self, name: &str) -> u64 {
        self.series
            .iter()
            .filter(|s| s.name == name)
            .map(|s| match &s.value {
                SeriesValue::Counter(v) | SeriesValue::Gauge(v) => *v,
                SeriesValue::Histogram(h) => h.count(),
            })
            .sum()
    }
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
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        let les: Vec<String> = LATENCY_BUCKETS.iter().map(f64::to_string).collect();
        for (i, le) in les.iter().enumerate() {
            cumulative += h.buckets[i];
            let mut with_le = labels.to_vec();
            with_le.push(("le", le));
            self.sample(&bucket, &with_le, cumulative);
        }
        cumulative += h.buckets[BUCKETS - 1];
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, cumulative);
        self.sample(&format!("{name}_sum"), labels, h.sum_nanos as f64 / 1e9);
        self.sample(&format!("{name}_count"), labels, cumulative);
    }
}

/// Renders merged snapshots as Prometheus text exposition format 0.0.4.
///
/// Per-shard series carry `shard="N"`; connection, byte, counter and error families also carry the sum over
/// all shards as `shard="total"` (exclude it when summing: `sum(x{shard!="total"})`). Histograms are merged
/// over shards.
pub fn render(snapshots: &[ShardSnapshot], ready: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let mut f = Family { out: &mut out };
    let shard_labels: Vec<String> = snapshots.iter().map(|s| s.shard.to_string()).collect();
    let services: Vec<&'static str> = snapshots
        .first()
        .map(|s| s.services.iter().map(|s| s.name).collect())
        .unwrap_or_default();

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
    let service_families: [(&str, &str, &str, Pick); 6] = [
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
        (
            "pincore_service_panics_total",
            "counter",
            "Connection handlers that panicked; each one's connection was closed, the shard kept serving.",
            |s| s.panics,
        ),
        (
            "pincore_service_stalls_total",
            "counter",
            "Times a service held its shard's CPU past the stall detector's threshold without yielding.",
            |s| s.stalls,
        ),
    ];
    for (name, kind, help, pick) in service_families {
        f.header(name, kind, help);
        for (i, service) in services.iter().enumerate() {
            let mut total = 0;
            for (s, label) in snapshots.iter().zip(&shard_labels) {
                let v = s.services.get(i).map_or(0, pick);
                total += v;
                f.sample(name, &[("service", service), ("shard", label)], v);
            }
            f.sample(name, &[("service", service), ("shard", "total")], total);
        }
    }

    let name = "pincore_connections_rejected_total";
    f.header(
        name,
        "counter",
        "Connections closed at accept time, by reason.",
    );
    for (i, service) in services.iter().enumerate() {
        for why in Rejection::ALL {
            let mut total = 0;
            for (s, label) in snapshots.iter().zip(&shard_labels) {
                let v = s.services.get(i).map_or(0, |s| s.rejected[why as usize]);
                total += v;
                f.sample(
                    name,
                    &[
                        ("service", service),
                        ("reason", why.as_str()),
                        ("shard", label),
                    ],
                    v,
                );
            }
            f.sample(
                name,
                &[
                    ("service", service),
                    ("reason", why.as_str()),
                    ("shard", "total"),
                ],
                total,
            );
        }
    }

    let name = "pincore_connection_duration_seconds";
    f.header(
        name,
        "histogram",
        "How long connections stayed open, by service, all shards.",
    );
    for (i, service) in services.iter().enumerate() {
        let mut merged = HistogramSnapshot::default();
        for s in snapshots {
            if let Some(s) = s.services.get(i) {
                merged.add(&s.durations);
            }
        }
        f.histogram(name, &[("service", service)], &merged);
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

    render_registered(&mut f, snapshots, &shard_labels);

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

/// The services' own series, family by family in the order they were first registered: counters per shard
/// and in total, histograms merged over shards, gauges per shard.
fn render_registered(f: &mut Family<'_>, snapshots: &[ShardSnapshot], shard_labels: &[String]) {
    let mut families: Vec<(&str, &str, &SeriesValue)> = Vec::new();
    let mut label_sets: Vec<(&str, &[(String, String)])> = Vec::new();
    for s in snapshots {
        for series in &s.series {
            if !families.iter().any(|(n, _, _)| *n == series.name) {
                families.push((&series.name, &series.help, &series.value));
            }
            if !label_sets
                .iter()
                .any(|(n, l)| *n == series.name && *l == series.labels.as_slice())
            {
                label_sets.push((&series.name, &series.labels));
            }
        }
    }
    for (name, help, kind) in families {
        let kind_name = match kind {
            SeriesValue::Counter(_) => "counter",
            SeriesValue::Histogram(_) => "histogram",
            SeriesValue::Gauge(_) => "gauge",
        };
        f.header(name, kind_name, help);
        for (_, labels) in label_sets.iter().filter(|(n, _)| *n == name) {
            let find = |s: &'_ ShardSnapshot| -> Option<SeriesValue> {
                s.series
                    .iter()
                    .find(|x| x.name == name && x.labels.as_slice() == *labels)
                    .map(|x| x.value.clone())
            };
            let base: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            match kind {
                SeriesValue::Histogram(_) => {
                    let mut merged = HistogramSnapshot::default();
                    for s in snapshots {
                        if let Some(SeriesValue::Histogram(h)) = find(s) {
                            merged.add(&h);
                        }
                    }
                    f.histogram(name, &base, &merged);
                }
                SeriesValue::Counter(_) | SeriesValue::Gauge(_) => {
                    let mut total = 0;
                    for (s, label) in snapshots.iter().zip(shard_labels) {
                        let v = match find(s) {
                            Some(SeriesValue::Counter(v) | SeriesValue::Gauge(v)) => v,
                            // A gauge only some shards registered (such as one kept by shard 0 alone)
                            // has no value on the others.
                            None if matches!(kind, SeriesValue::Gauge(_)) => continue,
                            _ => 0,
                        };
                        total += v;
                        let mut with_shard = base.clone();
                        with_shard.push(("shard", label));
                        f.sample(name, &with_shard, v);
                    }
                    if matches!(kind, SeriesValue::Counter(_)) {
                        let mut with_total = base.clone();
                        with_total.push(("shard", "total"));
                        f.sample(name, &with_total, total);
                    }
                }
            }
        }
        if matches!(kind, SeriesValue::Histogram(_)) {
            render_per_shard(f, name, help, snapshots, shard_labels);
        }
    }
}

/// The companion of a registered histogram `pincore_X`: `pincore_shard_X{shard}`, each shard's series merged
/// over their other labels (a shard's latency over every command), so a shard's percentiles can be read
/// without rendering every label set per shard. Built when scraped; nothing more is counted.
fn render_per_shard(
    f: &mut Family<'_>,
    name: &str,
    help: &str,
    snapshots: &[ShardSnapshot],
    shard_labels: &[String],
) {
    let companion = match name.strip_prefix("pincore_") {
        Some(rest) => format!("pincore_shard_{rest}"),
        None => format!("shard_{name}"),
    };
    let help = format!("{help} Per shard, over all label values.");
    f.header(&companion, "histogram", &help);
    for (s, label) in snapshots.iter().zip(shard_labels) {
        let mut merged = HistogramSnapshot::default();
        for series in s.series.iter().filter(|x| x.name == name) {
            if let SeriesValue::Histogram(h) = &series.value {
                merged.add(h);
            }
        }
        f.histogram(&companion, &[("shard", label)], &merged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_totals_add_up() {
        let shard = |keys: u64| {
            let m = ShardMetrics::new(&["resp", "echo"]);
            m.accepted(0);
            let calls = m.counter("pincore_commands_total", "c", &[("command", "get")]);
            let took = m.histogram(
                "pincore_command_duration_seconds",
                "d",
                &[("command", "get")],
            );
            for d in [
                Duration::from_micros(5),
                Duration::from_millis(2),
                Duration::from_secs(3),
            ] {
                calls.inc();
                took.observe(d);
            }
            m.gauge("pincore_keys", "k", &[], move || keys);
            m.error("malformed");
            m
        };
        let a = shard(10).snapshot(0, 0);
        let b = shard(5).snapshot(1, 1);
        let text = render(&[a, b], true);
        assert!(
            text.contains("pincore_connections_open{service=\"resp\",shard=\"total\"} 2"),
            "{text}"
        );
        assert!(text.contains("pincore_connections_open{service=\"echo\",shard=\"0\"} 0"));
        assert!(text
            .contains("pincore_command_duration_seconds_bucket{command=\"get\",le=\"0.00001\"} 2"));
        assert!(text
            .contains("pincore_command_duration_seconds_bucket{command=\"get\",le=\"0.0025\"} 4"));
        assert!(
            text.contains("pincore_command_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 6")
        );
        assert!(text.contains("pincore_command_duration_seconds_count{command=\"get\"} 6"));
        assert!(text.contains("pincore_shard_command_duration_seconds_count{shard=\"1\"} 3"));
        assert!(text.contains(
            "pincore_shard_command_duration_seconds_bucket{shard=\"0\",le=\"0.00001\"} 1"
        ));
        assert!(text.contains("pincore_commands_total{command=\"get\",shard=\"1\"} 3"));
        assert!(text.contains("pincore_commands_total{command=\"get\",shard=\"total\"} 6"));
        assert!(text.contains("pincore_errors_total{reason=\"malformed\",shard=\"total\"} 2"));
        assert!(text.contains("pincore_keys{shard=\"1\"} 5"));
        assert_eq!(text.matches("# TYPE pincore_keys gauge").count(), 1);
    }
}
