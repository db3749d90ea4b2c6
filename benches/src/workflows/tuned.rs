//! `tuned`: the one-command tuned benchmark. It measures a connection storm, connection churn and a steady
//! RESP run against pincore-server in a fresh network namespace with the kernel's defaults, then in a
//! second fresh namespace after `pincore-tuner --netns NS apply PROFILE` (the server starts after the
//! change: a listen backlog is capped by somaxconn when listen() is called), rolls the profile back and
//! deletes both namespaces — also on failure and Ctrl-C. Two namespaces keep the first pass's TIME_WAIT
//! sockets out of the second.
//!
//! The client runs inside the namespace: this executable re-runs itself under `ip netns exec` for each
//! scenario, handing it the scenario's spec as JSON (`child.rs`), and reads the JSON report it prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pincore_cli::output::Human;
use pincore_cli::table::Table;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::host::cpus;
use crate::host::netns::{self, Namespace};
use crate::load::latency;
use crate::load::report::{group, RunReport};
use crate::load::spec::LoadSpec;
use crate::load::workload::{Protocol, Workload};
use crate::scenarios::churn::ChurnReport;
use crate::scenarios::churn::ChurnSpec;
use crate::scenarios::storm::StormReport;
use crate::scenarios::storm::StormSpec;
use crate::workflows::chart;
use crate::workflows::child::ChildRun;
use crate::workflows::launch::{self, ServerProcess};
use crate::workflows::machine::Machine;

/// What to run.
#[derive(Debug, Clone)]
pub struct TunedSpec {
    /// The pincore-tuner profile applied between the two measurements.
    pub profile: String,
    /// Short scenarios (about a second each) for CI and a first look.
    pub quick: bool,
    pub server_bin: Option<PathBuf>,
    pub tuner_bin: Option<PathBuf>,
    /// Where tuned.json and tuned.svg go (the servers' configs and logs stay in its `.tuned-work/` only when a
    /// run fails).
    pub out_dir: PathBuf,
}

/// The scenario settings, from `quick`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenarios {
    pub storm_connections: usize,
    pub storm_accept_delay_ms: u64,
    pub storm_backlog: i32,
    pub storm_timeout_s: u64,
    pub churn_threads: usize,
    pub churn_duration_s: f64,
    pub steady_connections: usize,
    pub steady_duration_s: f64,
    pub steady_warmup_s: f64,
}

impl Scenarios {
    pub fn new(quick: bool) -> Scenarios {
        Scenarios {
            // Above the default somaxconn (4096), within RLIMIT_NOFILE (two descriptors per connection).
            storm_connections: if quick { 5000 } else { 7000 },
            storm_accept_delay_ms: 500,
            storm_backlog: 65535,
            storm_timeout_s: if quick { 4 } else { 8 },
            churn_threads: 4,
            churn_duration_s: if quick { 1.0 } else { 5.0 },
            steady_connections: 50,
            steady_duration_s: if quick { 1.0 } else { 5.0 },
            steady_warmup_s: if quick { 0.3 } else { 1.0 },
        }
    }

    /// The storm as the child runs it.
    pub fn storm(&self) -> StormSpec {
        StormSpec {
            connections: self.storm_connections,
            accept_delay: Duration::from_millis(self.storm_accept_delay_ms),
            backlog: self.storm_backlog,
            timeout: Duration::from_secs(self.storm_timeout_s),
        }
    }

    /// Churn against the server's echo service, as the child runs it.
    pub fn churn(&self, echo: SocketAddr) -> ChurnSpec {
        ChurnSpec {
            target: echo,
            threads: self.churn_threads,
            duration: Duration::from_secs_f64(self.churn_duration_s),
            timeout: Duration::from_secs(2),
        }
    }

    /// The steady RESP run (closed loop, unpipelined, client threads pinned to the allowed CPUs).
    pub fn steady(&self, resp: SocketAddr) -> LoadSpec {
        let cpus = cpus::allowed_cpus();
        LoadSpec {
            target: resp,
            workload: Workload {
                protocol: Protocol::Resp,
                value_size: 64,
                keys: 100_000,
                set_ratio: 0.5,
                path: "/healthz".into(),
            },
            connections: self.steady_connections,
            pipeline: 1,
            rate: None,
            threads: cpus.len(),
            cpus: Some(cpus),
            warmup: Duration::from_secs_f64(self.steady_warmup_s),
            duration: Duration::from_secs_f64(self.steady_duration_s),
            timeout: Duration::from_secs(2),
        }
    }
}

/// One pass over the three scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub storm: StormReport,
    pub churn: ChurnReport,
    pub steady: RunReport,
}

/// The `tuned.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedReport {
    pub machine: Machine,
    pub profile: String,
    pub quick: bool,
    /// The namespaces of the two passes, before and after (empty without root: on the host's loopback).
    pub namespaces: Vec<String>,
    pub scenarios: Scenarios,
    /// With the namespace's default sysctls (or the host's, without root).
    pub before: Measurement,
    /// After `pincore-tuner apply` (`null` without root).
    pub after: Option<Measurement>,
    /// What pincore-tuner printed for apply (with root) or plan (without).
    pub tuner_output: String,
    pub rolled_back: bool,
    /// The printed table: each metric before, after and the change.
    #[serde(default)]
    pub comparison: Vec<ComparisonRow>,
    /// One sentence per scenario on what the profile bought (empty without an after pass).
    #[serde(default)]
    pub verdicts: Vec<String>,
}

impl TunedReport {
    /// Fills in the comparison and verdicts from the two passes.
    fn judged(mut self) -> TunedReport {
        self.comparison = comparison(&self.before, self.after.as_ref());
        self.verdicts = match &self.after {
            Some(after) => verdicts(&self.before, after),
            None => Vec::new(),
        };
        self
    }
}

/// Runs the whole benchmark and writes `tuned.json` and `tuned.svg` into `out_dir`.
pub fn run(spec: &TunedSpec, stop: &AtomicBool) -> Result<TunedReport> {
    let spec = &launch::with_absolute_out_dir(spec.clone(), |s| &mut s.out_dir)?;
    // Server configs, logs and the tuner's state live in a work directory that a finished run removes, so
    // the output directory ends with only the results; after a failure it stays, for its logs.
    let results_dir = spec.out_dir.clone();
    let work = results_dir.join(".tuned-work");
    std::fs::create_dir_all(&work)
        .map_err(|e| BenchError::io(format!("creating {}", work.display()), e))?;
    let spec = &TunedSpec {
        out_dir: work.clone(),
        ..spec.clone()
    };
    let server_bin =
        launch::sibling_binary("pincore-server", spec.server_bin.as_deref(), "--server-bin")?;
    let tuner_bin =
        launch::sibling_binary("pincore-tuner", spec.tuner_bin.as_deref(), "--tuner-bin")?;
    let me = std::env::current_exe()
        .map_err(|e| BenchError::io("locating the pincore-bench executable", e))?;
    let scenarios = Scenarios::new(spec.quick);
    // The profile is checked before the first measurement: a typo must not cost a whole "before" pass.
    let mut show = Command::new(&tuner_bin);
    show.args(["show", &spec.profile]);
    launch::run_to_end("pincore-tuner show", show, &spec.out_dir, stop).map_err(|e| match e {
        BenchError::Process { message, .. } => {
            // "exit status: 2: error: profile `x` not found ..." → the tuner's own sentence.
            let reason = message
                .split_once("error: ")
                .map_or(message.as_str(), |(_, r)| r);
            BenchError::invalid("--profile", reason.trim())
        }
        other => other,
    })?;
    let report = if netns::is_root() {
        in_namespace(spec, &scenarios, &server_bin, &tuner_bin, &me, stop)?
    } else {
        eprintln!(
            "pincore-bench tuned: not root, so no network namespace and no tuning: measuring the baseline on \
             this host's loopback and showing what `pincore-tuner plan {}` would change. Run as root for the \
             before/after comparison.",
            spec.profile
        );
        on_loopback(spec, &scenarios, &server_bin, &tuner_bin, &me, stop)?
    };
    write_outputs(&report, &results_dir)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(report)
}

fn in_namespace(
    spec: &TunedSpec,
    scenarios: &Scenarios,
    server_bin: &Path,
    tuner_bin: &Path,
    me: &Path,
    stop: &AtomicBool,
) -> Result<TunedReport> {
    // Each pass gets a fresh namespace, so the second does not start with the first one's TIME_WAIT
    // sockets: the two differ only by the profile.
    let base = format!("pincore-bench-{}", std::process::id());
    let state_dir = spec.out_dir.join("tuner-state");
    let _ = std::fs::remove_dir_all(&state_dir);
    let ports = Ports::fixed();

    let before_ns = Namespace::create(&format!("{base}-before"))?;
    let before = {
        let _server = start_server(
            spec,
            server_bin,
            Some(before_ns.name()),
            &ports,
            me,
            "before",
            stop,
        )?;
        measure(
            scenarios,
            Some(before_ns.name()),
            &ports,
            me,
            &spec.out_dir,
            stop,
        )?
    };
    let before_name = before_ns.name().to_string();
    drop(before_ns);

    let ns = Namespace::create(&format!("{base}-after"))?;
    let name = ns.name().to_string();
    let tuner = |action: &[&str], stop: &AtomicBool| {
        let mut c = Command::new(tuner_bin);
        c.args(["--netns", &name, "--state-dir"])
            .arg(&state_dir)
            .args(action);
        launch::run_to_end(
            &format!("pincore-tuner {}", action.join(" ")),
            c,
            &spec.out_dir,
            stop,
        )
    };
    let tuner_output = tuner(&["apply", &spec.profile], stop)?;
    // From here on the profile is applied: roll it back whatever happens next.
    let after = (|| {
        // listen() caps its backlog at somaxconn when it is called: the server must start after the change.
        let _server = start_server(spec, server_bin, Some(&name), &ports, me, "after", stop)?;
        measure(scenarios, Some(&name), &ports, me, &spec.out_dir, stop)
    })();
    // Rolled back even after Ctrl-C (it takes milliseconds); the namespace is deleted right after anyway.
    let rollback = tuner(&["rollback"], &AtomicBool::new(false));
    if stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    let after = after?;
    rollback?;
    // Rolled back: the state directory holds nothing worth keeping (after a failed rollback it stays).
    let _ = std::fs::remove_dir_all(&state_dir);
    drop(ns);
    Ok(TunedReport {
        machine: Machine::detect(),
        profile: spec.profile.clone(),
        quick: spec.quick,
        namespaces: vec![before_name, name],
        scenarios: scenarios.clone(),
        before,
        after: Some(after),
        tuner_output,
        rolled_back: true,
        comparison: Vec::new(),
        verdicts: Vec::new(),
    }
    .judged())
}

fn on_loopback(
    spec: &TunedSpec,
    scenarios: &Scenarios,
    server_bin: &Path,
    tuner_bin: &Path,
    me: &Path,
    stop: &AtomicBool,
) -> Result<TunedReport> {
    let ports = Ports::free()?;
    let before = {
        let _server = start_server(spec, server_bin, None, &ports, me, "loopback", stop)?;
        measure(scenarios, None, &ports, me, &spec.out_dir, stop)?
    };
    let mut plan = Command::new(tuner_bin);
    plan.args(["plan", &spec.profile]);
    let tuner_output = launch::run_to_end("pincore-tuner plan", plan, &spec.out_dir, stop)?;
    Ok(TunedReport {
        machine: Machine::detect(),
        profile: spec.profile.clone(),
        quick: spec.quick,
        namespaces: Vec::new(),
        scenarios: scenarios.clone(),
        before,
        after: None,
        tuner_output,
        rolled_back: false,
        comparison: Vec::new(),
        verdicts: Vec::new(),
    }
    .judged())
}

/// The server's service addresses.
struct Ports {
    resp: SocketAddr,
    echo: SocketAddr,
    admin: SocketAddr,
}

impl Ports {
    /// The defaults: a fresh namespace has every port free.
    fn fixed() -> Ports {
        Ports {
            resp: SocketAddr::from(([127, 0, 0, 1], 6380)),
            echo: SocketAddr::from(([127, 0, 0, 1], 7007)),
            admin: SocketAddr::from(([127, 0, 0, 1], 9180)),
        }
    }

    fn free() -> Result<Ports> {
        let at = |p| SocketAddr::from(([127, 0, 0, 1], p));
        Ok(Ports {
            resp: at(launch::free_port()?),
            echo: at(launch::free_port()?),
            admin: at(launch::free_port()?),
        })
    }
}

/// Starts pincore-server (inside `netns` if given) and waits for its `/readyz`.
fn start_server(
    spec: &TunedSpec,
    server_bin: &Path,
    netns: Option<&str>,
    ports: &Ports,
    me: &Path,
    label: &str,
    stop: &AtomicBool,
) -> Result<ServerProcess> {
    let config = spec
        .out_dir
        .join(format!("tuned-pincore-server-{label}.yaml"));
    std::fs::write(
        &config,
        launch::pincore_server_config(ports.resp, ports.echo, ports.admin, 65535),
    )
    .map_err(|e| BenchError::io(format!("writing {}", config.display()), e))?;
    let mut c = launch::command_in(netns, server_bin);
    c.arg("--config").arg(&config);
    let mut server = ServerProcess::spawn(
        "pincore-server",
        c,
        &spec
            .out_dir
            .join(format!("tuned-pincore-server-{label}.log")),
    )?;
    // The readiness probe runs where the server is: inside the namespace.
    let probe = ChildRun::WaitReady {
        admin: ports.admin,
        timeout: Duration::from_secs(15),
    }
    .command(netns, me)?;
    launch::run_to_end(
        "waiting for pincore-server's /readyz",
        probe,
        &spec.out_dir,
        stop,
    )
    .map_err(|e| match server.check_alive() {
        Err(dead) => dead,
        Ok(()) => e,
    })?;
    Ok(server)
}

/// Runs the three scenarios, each as a child process inside the namespace, and reads their JSON.
fn measure(
    s: &Scenarios,
    netns: Option<&str>,
    ports: &Ports,
    me: &Path,
    scratch: &Path,
    stop: &AtomicBool,
) -> Result<Measurement> {
    let json = |what: &str, run: ChildRun| -> Result<String> {
        launch::run_to_end(what, run.command(netns, me)?, scratch, stop)
    };
    let parse = |what: &str, text: String| BenchError::Process {
        program: what.to_string(),
        message: format!("printed JSON that does not parse: {text}"),
    };
    let storm_text = json("storm", ChildRun::Storm(s.storm()))?;
    let storm: StormReport =
        serde_json::from_str(&storm_text).map_err(|_| parse("storm", storm_text))?;
    let churn_text = json("churn", ChildRun::Churn(s.churn(ports.echo)))?;
    let churn: ChurnReport =
        serde_json::from_str(&churn_text).map_err(|_| parse("churn", churn_text))?;
    let steady_text = json("steady RESP run", ChildRun::Load(s.steady(ports.resp)))?;
    let steady: RunReport =
        serde_json::from_str(&steady_text).map_err(|_| parse("run", steady_text))?;
    Ok(Measurement {
        storm,
        churn,
        steady,
    })
}

/// One row of the before/after table.
/// One row of the before/after table: the shown values, and the numbers behind them for the change column.
struct Row {
    scenario: &'static str,
    metric: &'static str,
    before: String,
    after: String,
    /// The compared numbers (`None` for rows that are settings or counts of something else).
    values: Option<(f64, Option<f64>)>,
    better: Better,
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
    /// A setting or a count that is neither good nor bad (somaxconn, TIME_WAIT sockets).
    Neither,
}

impl Row {
    /// "÷28,500 better", "+12% worse", "same", or empty when there is nothing to compare.
    fn change(&self) -> String {
        let Some((b, Some(a))) = self.values else {
            return String::new();
        };
        let shown = change_text(b, a);
        if shown == "same" || self.better == Better::Neither {
            return shown;
        }
        // Below 5% is inside this benchmark's run-to-run noise: shown, not judged.
        let beyond_noise = (a - b).abs() > 0.05 * b.abs().max(a.abs());
        let improved = match self.better {
            Better::Lower => a < b,
            _ => a > b,
        };
        match (beyond_noise, improved) {
            (false, _) => shown,
            (true, true) => format!("{shown} better"),
            (true, false) => format!("{shown} worse"),
        }
    }
}

/// How `after` compares with `before`: a factor when it moved more than twofold, a percentage otherwise.
fn change_text(b: f64, a: f64) -> String {
    if a == b {
        return "same".into();
    }
    if b == 0.0 {
        return format!("0 → {}", group(a));
    }
    if a == 0.0 {
        return format!("{} → 0", group(b));
    }
    let ratio = a / b;
    if ratio >= 2.0 {
        format!("×{}", factor(ratio))
    } else if ratio <= 0.5 {
        format!("÷{}", factor(1.0 / ratio))
    } else {
        format!("{:+.0}%", (ratio - 1.0) * 100.0)
    }
}

fn factor(x: f64) -> String {
    if x >= 100.0 {
        group(x)
    } else {
        format!("{x:.1}")
    }
}

fn rows(b: &Measurement, a: Option<&Measurement>) -> Vec<Row> {
    let mut rows = Vec::new();
    // A row whose value is a number: shown with `show`, compared by value.
    let mut number = |scenario,
                      metric,
                      better,
                      value: &dyn Fn(&Measurement) -> f64,
                      show: &dyn Fn(f64) -> String| {
        let (vb, va) = (value(b), a.map(value));
        rows.push(Row {
            scenario,
            metric,
            before: show(vb),
            after: va.map_or_else(|| "-".into(), show),
            values: Some((vb, va)),
            better,
        })
    };
    let count = |v: f64| group(v);
    let time = |v: f64| latency::human(v);
    let tcpext = |m: &Measurement, key: &str| m.storm.tcpext.get(key).copied().unwrap_or(0) as f64;
    number(
        "storm",
        "connected",
        Better::Higher,
        &|m| m.storm.connected as f64,
        &|v| format!("{} of {}", group(v), group(b.storm.connections as f64)),
    );
    number(
        "storm",
        "failed + timed out",
        Better::Lower,
        &|m| (m.storm.failed + m.storm.timed_out) as f64,
        &count,
    );
    number(
        "storm",
        "connect p50",
        Better::Lower,
        &|m| m.storm.connect_us.p50_us,
        &time,
    );
    number(
        "storm",
        "connect p99",
        Better::Lower,
        &|m| m.storm.connect_us.p99_us,
        &time,
    );
    number(
        "storm",
        "connect max",
        Better::Lower,
        &|m| m.storm.connect_us.max_us,
        &time,
    );
    number(
        "storm",
        "ListenOverflows",
        Better::Lower,
        &|m| tcpext(m, "ListenOverflows"),
        &count,
    );
    number(
        "storm",
        "ListenDrops",
        Better::Lower,
        &|m| tcpext(m, "ListenDrops"),
        &count,
    );
    number(
        "churn",
        "connections/s",
        Better::Higher,
        &|m| m.churn.rate,
        &count,
    );
    number(
        "churn",
        "failed connections",
        Better::Lower,
        &|m| m.churn.failures() as f64,
        &count,
    );
    number(
        "churn",
        "p99 (connect+echo+close)",
        Better::Lower,
        &|m| m.churn.latency_us.p99_us,
        &time,
    );
    number(
        "churn",
        "TIME_WAIT added",
        Better::Neither,
        &|m| match (m.churn.time_wait_before, m.churn.time_wait) {
            (Some(b), Some(a)) => a.saturating_sub(b) as f64,
            _ => f64::NAN,
        },
        &|v| if v.is_nan() { "?".into() } else { group(v) },
    );
    number(
        "steady RESP",
        "requests/s",
        Better::Higher,
        &|m| m.steady.rate,
        &count,
    );
    number(
        "steady RESP",
        "failures",
        Better::Lower,
        &|m| m.steady.counters.failures() as f64,
        &count,
    );
    number(
        "steady RESP",
        "p50",
        Better::Lower,
        &|m| m.steady.latency_us.p50_us,
        &time,
    );
    number(
        "steady RESP",
        "p99",
        Better::Lower,
        &|m| m.steady.latency_us.p99_us,
        &time,
    );
    // The settings the storm ran with come first: they are what the profile changed.
    let opt = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    let caps = |m: &Measurement| {
        format!(
            "{} / {}",
            opt(m.storm.somaxconn),
            opt(m.storm.tcp_max_syn_backlog)
        )
    };
    rows.insert(
        0,
        Row {
            scenario: "storm",
            metric: "somaxconn / syn backlog",
            before: caps(b),
            after: a.map_or_else(|| "-".into(), caps),
            values: None,
            better: Better::Neither,
        },
    );
    rows
}

/// One row of `tuned.json`'s `comparison`: the table as printed, change column included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub scenario: String,
    pub metric: String,
    pub before: String,
    /// `-` without an after pass.
    pub after: String,
    /// Empty without an after pass or for settings.
    pub change: String,
}

/// The table as data, for `tuned.json`.
pub fn comparison(b: &Measurement, a: Option<&Measurement>) -> Vec<ComparisonRow> {
    rows(b, a)
        .into_iter()
        .map(|r| ComparisonRow {
            scenario: r.scenario.into(),
            metric: r.metric.into(),
            change: r.change(),
            before: r.before,
            after: r.after,
        })
        .collect()
}

/// One sentence per scenario saying what the profile bought, from the numbers of the two passes.
pub fn verdicts(b: &Measurement, a: &Measurement) -> Vec<String> {
    let drops = |m: &Measurement| m.storm.tcpext.get("ListenDrops").copied().unwrap_or(0);
    let failed = |m: &Measurement| m.storm.failed + m.storm.timed_out;
    let (p99b, p99a) = (b.storm.connect_us.p99_us, a.storm.connect_us.p99_us);
    let storm_numbers = format!(
        "connect p99 {} → {}, SYN drops {} → {}",
        latency::human(p99b),
        latency::human(p99a),
        drops(b),
        drops(a)
    );
    let storm = if (drops(b) > 0 || failed(b) > 0) && drops(a) == 0 && failed(a) == 0 {
        format!("storm: {storm_numbers} — the profile fixes this")
    } else if p99a * 2.0 <= p99b || (drops(a) < drops(b) && failed(a) <= failed(b)) {
        format!("storm: {storm_numbers} — the profile helps, but the queue still overflows")
    } else if drops(a) > drops(b) || failed(a) > failed(b) || p99a > 2.0 * p99b {
        format!("storm: {storm_numbers} — worse with the profile")
    } else {
        format!("storm: {storm_numbers} — no real change: the defaults already held this storm")
    };

    let pct = |before: f64, after: f64| {
        if before > 0.0 {
            (after / before - 1.0) * 100.0
        } else {
            0.0
        }
    };
    let churn_change = pct(b.churn.rate, a.churn.rate);
    let churn = if a.churn.failures() < b.churn.failures() {
        format!(
            "churn: failed connections {} → {} — the profile fixes running out of ports",
            b.churn.failures(),
            a.churn.failures()
        )
    } else if churn_change.abs() < 5.0 {
        format!(
            "churn: {} → {} connections/s ({churn_change:+.0} %) — within noise",
            group(b.churn.rate),
            group(a.churn.rate)
        )
    } else if churn_change < 0.0 {
        format!(
            "churn: {:.0} % slower — expected on loopback, which reuses TIME_WAIT ports already; the wider port range \
             only lets more TIME_WAIT sockets pile up (README, \"Tuned benchmark\"). It is for hosts connecting out to other hosts",
            -churn_change
        )
    } else {
        format!("churn: {churn_change:.0} % faster with the profile")
    };

    let steady_change = pct(b.steady.rate, a.steady.rate);
    let steady = if steady_change.abs() < 10.0 {
        format!(
            "steady RESP: {} → {} requests/s ({steady_change:+.0} %) — unchanged beyond noise: the profile does not target a steady load",
            group(b.steady.rate),
            group(a.steady.rate)
        )
    } else {
        format!(
            "steady RESP: {steady_change:+.0} % requests/s — more than this machine's usual noise, though the profile does not target a \
             steady load; run again before reading anything into it"
        )
    };
    vec![storm, churn, steady]
}

/// The before/after table printed for people.
impl Human for TunedReport {
    fn human(&self, colour: bool) -> String {
        human(self, colour)
    }
}

fn human(report: &TunedReport, colour: bool) -> String {
    let s = &report.scenarios;
    let mut out = format!("Machine: {}\n", report.machine.describe());
    match report.namespaces.as_slice() {
        [before, after] => out.push_str(&format!(
            "Two fresh network namespaces: {before} with the defaults, {after} with profile `{}` applied by \
             pincore-tuner (then rolled back).\n",
            report.profile
        )),
        _ => out.push_str("Not root: baseline on the host's loopback only (no namespace, no tuning).\n"),
    }
    out.push_str(&format!(
        "storm: {} simultaneous connects to the benchmark's own listener, listen({}), first accept after {} ms.\n\
         churn: {} threads, each connect + 16 B echo + close, for {:.1} s against pincore-server's echo service.\n\
         steady RESP: {} connections, pipeline 1, GET/SET 50/50, {:.1} s after {:.1} s warm-up.\n\n",
        s.storm_connections, s.storm_backlog, s.storm_accept_delay_ms, s.churn_threads, s.churn_duration_s,
        s.steady_connections, s.steady_duration_s, s.steady_warmup_s
    ));
    let with_after = report.after.is_some();
    let headers: &[&str] = if with_after {
        &["scenario", "metric", "before", "after", "change"]
    } else {
        &["scenario", "metric", "before"]
    };
    let mut table = Table::new(headers).align_right(&[2, 3]);
    for row in comparison(&report.before, report.after.as_ref()) {
        let mut cells = vec![row.scenario.to_string(), row.metric.to_string(), row.before];
        if with_after {
            cells.extend([row.after, row.change]);
        }
        table.plain_row(cells);
    }
    out.push_str(&table.render(colour));
    if let Some(after) = &report.after {
        out.push('\n');
        for verdict in verdicts(&report.before, after) {
            out.push_str(&verdict);
            out.push('\n');
        }
    }
    if report.after.is_none() {
        out.push_str(&format!(
            "\n`pincore-tuner plan {}` on this host:\n{}",
            report.profile, report.tuner_output
        ));
    }
    out
}

fn write_outputs(report: &TunedReport, dir: &Path) -> Result<()> {
    let json = dir.join("tuned.json");
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| BenchError::failed("tuned.json", e.to_string()))?;
    std::fs::write(&json, text)
        .map_err(|e| BenchError::io(format!("writing {}", json.display()), e))?;
    let panel = |title: &str, of: fn(&Measurement) -> latency::Percentiles| chart::Panel {
        title: title.to_string(),
        before: of(&report.before),
        after: report.after.as_ref().map(of),
    };
    let panels = [
        panel("storm: connect time", |m| m.storm.connect_us),
        panel("churn: connect + echo + close", |m| m.churn.latency_us),
        panel("steady RESP: request latency", |m| m.steady.latency_us),
    ];
    let title = match report.after {
        Some(_) => format!(
            "pincore-bench tuned: before and after profile `{}`",
            report.profile
        ),
        None => {
            "pincore-bench tuned: baseline only (not root, so no namespace and no profile applied)"
                .to_string()
        }
    };
    chart::before_after_svg(&dir.join("tuned.svg"), &title, &panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `tuned --quick` result: storm fixed by the profile, churn and steady within noise.
    fn sample() -> TunedReport {
        serde_json::from_str(include_str!("../../tests/fixtures/tuned-quick.json")).unwrap()
    }

    #[test]
    fn the_change_column_uses_factors_for_big_moves_and_judges_beyond_noise() {
        assert_eq!(change_text(1_030_000.0, 35.0), "÷29,429");
        assert_eq!(change_text(10.0, 35.0), "×3.5");
        assert_eq!(change_text(100.0, 92.0), "-8%");
        assert_eq!(change_text(903.0, 0.0), "903 → 0");
        assert_eq!(change_text(0.0, 0.0), "same");
        let row = |b: f64, a: f64, better| Row {
            scenario: "s",
            metric: "m",
            before: String::new(),
            after: String::new(),
            values: Some((b, Some(a))),
            better,
        };
        assert_eq!(row(100.0, 80.0, Better::Lower).change(), "-20% better");
        assert_eq!(row(100.0, 80.0, Better::Higher).change(), "-20% worse");
        assert_eq!(
            row(100.0, 103.0, Better::Higher).change(),
            "+3%",
            "inside noise: not judged"
        );
        assert_eq!(row(100.0, 50.0, Better::Neither).change(), "÷2.0");
    }

    #[test]
    fn verdicts_say_what_the_profile_bought_per_scenario() {
        let r = sample();
        let after = r.after.clone().unwrap();
        let v = verdicts(&r.before, &after);
        assert!(
            v[0].starts_with("storm: connect p99 1.03s → 35µs, SYN drops 903 → 0"),
            "{}",
            v[0]
        );
        assert!(v[0].ends_with("the profile fixes this"), "{}", v[0]);
        assert!(v[1].contains("within noise"), "{}", v[1]);
        assert!(v[2].contains("unchanged beyond noise"), "{}", v[2]);

        // A slower churn is explained, not just reported.
        let mut slower = after.clone();
        slower.churn.rate = r.before.churn.rate * 0.9;
        let v = verdicts(&r.before, &slower);
        assert!(
            v[1].starts_with("churn: 10 % slower — expected on loopback"),
            "{}",
            v[1]
        );

        // A storm that still drops SYNs after the profile is not called fixed.
        let mut still = after.clone();
        still.storm.tcpext.insert("ListenDrops".into(), 100);
        let v = verdicts(&r.before, &still);
        assert!(
            v[0].contains("helps, but the queue still overflows"),
            "{}",
            v[0]
        );

        // The same numbers before and after: no change.
        let v = verdicts(&r.before, &r.before);
        assert!(
            v[0].contains("worse") || v[0].contains("no real change"),
            "{}",
            v[0]
        );
    }

    #[test]
    fn without_an_after_pass_the_table_has_no_change_column_or_verdicts() {
        let mut r = sample();
        r.after = None;
        r.namespaces.clear();
        r.tuner_output.clear();
        let r = r.judged();
        assert!(r.verdicts.is_empty());
        let table = r.human(false);
        assert!(
            !table.contains("change") && !table.contains("fixes"),
            "{table}"
        );
        assert!(r.comparison.iter().all(|row| row.change.is_empty()));
    }
}
