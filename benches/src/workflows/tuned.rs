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

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::host::cpus;
use crate::host::netns::{self, Namespace};
use crate::load::generator::LoadSpec;
use crate::load::latency;
use crate::load::report::{group, RunReport};
use crate::load::workload::{Protocol, Workload};
use crate::scenarios::churn::ChurnReport;
use crate::scenarios::churn::ChurnSpec;
use crate::scenarios::storm::StormReport;
use crate::scenarios::storm::StormSpec;
use crate::workflows::chart::{self, Series};
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
    /// Where tuned.json, tuned.svg, the server config and logs go.
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
}

/// Runs the whole benchmark and writes `tuned.json` and `tuned.svg` into `out_dir`.
pub fn run(spec: &TunedSpec, stop: &AtomicBool) -> Result<TunedReport> {
    let spec = &launch::with_absolute_out_dir(spec.clone(), |s| &mut s.out_dir)?;
    let server_bin =
        launch::sibling_binary("pincore-server", spec.server_bin.as_deref(), "--server-bin")?;
    let tuner_bin =
        launch::sibling_binary("pincore-tuner", spec.tuner_bin.as_deref(), "--tuner-bin")?;
    let me = std::env::current_exe()
        .map_err(|e| BenchError::io("locating the pincore-bench executable", e))?;
    let scenarios = Scenarios::new(spec.quick);
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
    write_outputs(&report, &spec.out_dir)?;
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
    })
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
    })
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
struct Row {
    scenario: &'static str,
    metric: &'static str,
    before: String,
    after: String,
}

fn rows(b: &Measurement, a: Option<&Measurement>) -> Vec<Row> {
    let both = |f: &dyn Fn(&Measurement) -> String| (f(b), a.map(f).unwrap_or_else(|| "-".into()));
    let mut rows = Vec::new();
    let mut push = |scenario, metric, (before, after): (String, String)| {
        rows.push(Row {
            scenario,
            metric,
            before,
            after,
        })
    };
    let opt = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    push(
        "storm",
        "somaxconn / syn backlog",
        both(&|m| {
            format!(
                "{} / {}",
                opt(m.storm.somaxconn),
                opt(m.storm.tcp_max_syn_backlog)
            )
        }),
    );
    push(
        "storm",
        "connected",
        both(&|m| format!("{} of {}", m.storm.connected, m.storm.connections)),
    );
    push(
        "storm",
        "failed + timed out",
        both(&|m| (m.storm.failed + m.storm.timed_out).to_string()),
    );
    push(
        "storm",
        "connect p50",
        both(&|m| latency::human(m.storm.connect_us.p50_us)),
    );
    push(
        "storm",
        "connect p99",
        both(&|m| latency::human(m.storm.connect_us.p99_us)),
    );
    push(
        "storm",
        "connect max",
        both(&|m| latency::human(m.storm.connect_us.max_us)),
    );
    push(
        "storm",
        "ListenOverflows",
        both(&|m| {
            m.storm
                .tcpext
                .get("ListenOverflows")
                .copied()
                .unwrap_or(0)
                .to_string()
        }),
    );
    push(
        "storm",
        "ListenDrops",
        both(&|m| {
            m.storm
                .tcpext
                .get("ListenDrops")
                .copied()
                .unwrap_or(0)
                .to_string()
        }),
    );
    push("churn", "connections/s", both(&|m| group(m.churn.rate)));
    push(
        "churn",
        "failed connections",
        both(&|m| m.churn.failures().to_string()),
    );
    push(
        "churn",
        "p99 (connect+echo+close)",
        both(&|m| latency::human(m.churn.latency_us.p99_us)),
    );
    push(
        "churn",
        "TIME_WAIT added",
        both(&|m| match (m.churn.time_wait_before, m.churn.time_wait) {
            (Some(b), Some(a)) => a.saturating_sub(b).to_string(),
            _ => "?".into(),
        }),
    );
    push("steady RESP", "requests/s", both(&|m| group(m.steady.rate)));
    push(
        "steady RESP",
        "failures",
        both(&|m| m.steady.counters.failures().to_string()),
    );
    push(
        "steady RESP",
        "p50",
        both(&|m| latency::human(m.steady.latency_us.p50_us)),
    );
    push(
        "steady RESP",
        "p99",
        both(&|m| latency::human(m.steady.latency_us.p99_us)),
    );
    rows
}

/// The before/after table printed for people.
pub fn human(report: &TunedReport) -> String {
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
    out.push_str(&format!(
        "{:<12} {:<26} {:>16} {:>16}\n",
        "scenario", "metric", "before", "after"
    ));
    for row in rows(&report.before, report.after.as_ref()) {
        out.push_str(&format!(
            "{:<12} {:<26} {:>16} {:>16}\n",
            row.scenario, row.metric, row.before, row.after
        ));
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
    let mut series = Vec::new();
    for (label, m) in [
        ("before", Some(&report.before)),
        ("after", report.after.as_ref()),
    ] {
        let Some(m) = m else { continue };
        series.push(Series {
            label: format!("storm connect, {label}"),
            latency: m.storm.connect_us,
        });
        series.push(Series {
            label: format!("churn, {label}"),
            latency: m.churn.latency_us,
        });
        series.push(Series {
            label: format!("steady RESP, {label}"),
            latency: m.steady.latency_us,
        });
    }
    chart::percentiles_svg(
        &dir.join("tuned.svg"),
        &format!(
            "pincore-bench tuned: latency before/after profile `{}`",
            report.profile
        ),
        &series,
    )
}

/// Waits until an HTTP `GET /readyz` on `admin` answers 200 (used inside the namespace).
pub fn wait_ready(admin: SocketAddr, timeout: Duration, stop: &AtomicBool) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let last = match launch::http_status(admin, "/readyz") {
            Ok(200) => return Ok(()),
            Ok(code) => format!("/readyz answered {code}"),
            Err(e) => e,
        };
        if stop.load(Ordering::Relaxed) {
            return Err(BenchError::Interrupted);
        }
        if started.elapsed() >= timeout {
            return Err(BenchError::NotReady {
                what: format!("pincore-server (admin {admin})"),
                seconds: timeout.as_secs_f64(),
                message: last,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
