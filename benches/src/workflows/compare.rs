//! `compare`: pincore-server and the servers a user would otherwise run, driven by the same client with
//! the same settings in alternating runs (A B A B ...) on loopback, reported as medians, spread and ratios.
//!
//! Matchups: RESP against redis-server (unpipelined and pipelined), echo against a plain tokio echo server,
//! and a check of the client itself: pincore-bench against redis-benchmark on the same redis-server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pincore_cli::output::Human;
use pincore_cli::table::Table;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::load::generator;
use crate::load::latency::{self, Percentiles};
use crate::load::report::{group, RunReport};
use crate::load::spec::LoadSpec;
use crate::load::workload::{Protocol, Workload};
use crate::workflows::chart::{self, Series};
use crate::workflows::cputime::{self, CpuTimes};
use crate::workflows::launch::{self, ServerProcess};
use crate::workflows::machine::Machine;
use crate::workflows::redis_benchmark;
use crate::workflows::summary::RunSummary;

/// How to compare.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// Runs per contender in each matchup (alternating).
    pub rounds: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    pub server_bin: Option<PathBuf>,
    pub echo_bin: Option<PathBuf>,
    /// Where compare.json, compare.svg, the server configs and logs go.
    pub out_dir: PathBuf,
    /// The matchups to run (all of them by default).
    pub only: Vec<MatchupKind>,
}

/// The matchups `compare` knows, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatchupKind {
    /// RESP GET/SET against redis-server, pipeline 1 and 16.
    Resp,
    /// echo against the tokio echo baseline.
    Echo,
    /// pincore-bench against redis-benchmark, both driving the same redis-server.
    Client,
}

impl MatchupKind {
    pub const ALL: [MatchupKind; 3] = [MatchupKind::Resp, MatchupKind::Echo, MatchupKind::Client];
}

/// One side of a matchup, over all its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contender {
    pub name: String,
    pub runs: Vec<RunSummary>,
    pub median_rate: f64,
    pub min_rate: f64,
    pub max_rate: f64,
    /// Median of each percentile over the runs.
    pub latency_us: Percentiles,
    pub failures: u64,
    /// Median over the runs that have one of [`RunSummary::server_cpu_us_per_request`].
    pub server_cpu_us_per_request: Option<f64>,
}

/// Two contenders under identical load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matchup {
    pub name: String,
    /// The load, in words (connections, pipeline, payload, mix).
    pub load: String,
    pub contenders: Vec<Contender>,
    /// First contender's median rate over the second's (above 1: the first is faster).
    pub rate_ratio: f64,
    /// First contender's median p99 over the second's (below 1: the first has the shorter tail).
    pub p99_ratio: f64,
    /// First contender's median server CPU per request over the second's (below 1: the first's server
    /// spends less CPU per request); `null` when either is unknown.
    pub cpu_ratio: Option<f64>,
}

/// The `compare.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub machine: Machine,
    pub rounds: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub client_threads: usize,
    pub client_cpus: Option<Vec<usize>>,
    pub matchups: Vec<Matchup>,
    /// Matchups that could not run, and why.
    pub skipped: Vec<String>,
}

/// Starts the servers, runs every matchup, writes `compare.json` and `compare.svg` into `out_dir`.
pub fn run(spec: &CompareSpec, stop: &AtomicBool) -> Result<CompareReport> {
    if spec.rounds == 0 {
        return Err(BenchError::invalid("--rounds", "must be at least 1"));
    }
    let spec = &launch::with_absolute_out_dir(spec.clone(), |s| &mut s.out_dir)?;
    let server_bin =
        launch::sibling_binary("pincore-server", spec.server_bin.as_deref(), "--server-bin")?;
    let echo_bin = launch::sibling_binary(
        "pincore-bench-tokio-echo",
        spec.echo_bin.as_deref(),
        "--echo-bin",
    )?;
    let redis_server = find("redis-server");
    let redis_benchmark = find("redis-benchmark");

    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let (resp, echo, admin) = (
        loopback(launch::free_port()?),
        loopback(launch::free_port()?),
        loopback(launch::free_port()?),
    );
    let config = spec.out_dir.join("compare-pincore-server.yaml");
    std::fs::write(
        &config,
        launch::pincore_server_config(resp, echo, admin, 4096),
    )
    .map_err(|e| BenchError::io(format!("writing {}", config.display()), e))?;
    let mut pincore = ServerProcess::spawn(
        "pincore-server",
        {
            let mut c = Command::new(&server_bin);
            c.arg("--config").arg(&config);
            c
        },
        &spec.out_dir.join("compare-pincore-server.log"),
    )?;
    pincore.wait_until(Duration::from_secs(15), || {
        launch::http_status(admin, "/readyz").map(|s| s == 200)
    })?;

    let tokio_addr = loopback(launch::free_port()?);
    let mut tokio_echo = ServerProcess::spawn(
        "tokio echo",
        {
            let mut c = Command::new(&echo_bin);
            c.arg("--listen").arg(tokio_addr.to_string());
            c
        },
        &spec.out_dir.join("compare-tokio-echo.log"),
    )?;
    tokio_echo.wait_until(Duration::from_secs(10), || launch::accepts(tokio_addr))?;

    let mut skipped = Vec::new();
    let redis = match &redis_server {
        Some(bin) => {
            let addr = loopback(launch::free_port()?);
            let mut c = Command::new(bin);
            c.args([
                "--bind",
                "127.0.0.1",
                "--port",
                &addr.port().to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--logfile",
                "",
            ]);
            let mut p = ServerProcess::spawn(
                "redis-server",
                c,
                &spec.out_dir.join("compare-redis-server.log"),
            )?;
            p.wait_until(Duration::from_secs(10), || launch::resp_pong(addr))?;
            Some((p, addr))
        }
        None => {
            skipped.push("RESP against redis-server: redis-server is not installed (apt install redis-server)".into());
            None
        }
    };

    let load = |protocol, pipeline, set_ratio| LoadSpec {
        target: resp,
        workload: Workload {
            protocol,
            value_size: 64,
            keys: 100_000,
            set_ratio,
            path: "/".into(),
        },
        connections: spec.connections,
        pipeline,
        rate: None,
        threads: spec.threads,
        cpus: spec.cpus.clone(),
        warmup: spec.warmup,
        duration: spec.duration,
        timeout: Duration::from_secs(2),
    };
    let wanted = |kind| spec.only.contains(&kind);
    let redis_pid = redis.as_ref().map(|(p, _)| p.pid());
    let mut matchups = Vec::new();
    if let Some((_, redis_addr)) = redis.as_ref().filter(|_| wanted(MatchupKind::Resp)) {
        for pipeline in [1, 16] {
            let base = load(Protocol::Resp, pipeline, 0.5);
            let name = format!("RESP GET/SET 50/50, pipeline {pipeline}");
            let words = describe(&base);
            matchups.push(alternate(
                &name,
                &words,
                spec.rounds,
                stop,
                &mut [
                    ("pincore-server", &mut |_| {
                        run_load(
                            &LoadSpec {
                                target: resp,
                                ..base.clone()
                            },
                            stop,
                            &mut pincore,
                        )
                    }),
                    ("redis-server", &mut |_| {
                        run_load(
                            &LoadSpec {
                                target: *redis_addr,
                                ..base.clone()
                            },
                            stop,
                            &mut Pid(redis_pid),
                        )
                    }),
                ],
            )?);
        }
    }
    let base = load(Protocol::Echo, 1, 0.0);
    if wanted(MatchupKind::Echo) {
        matchups.push(alternate(
            "echo 64 B, pipeline 1",
            &describe(&base),
            spec.rounds,
            stop,
            &mut [
                ("pincore-server", &mut |_| {
                    run_load(
                        &LoadSpec {
                            target: echo,
                            ..base.clone()
                        },
                        stop,
                        &mut pincore,
                    )
                }),
                ("tokio echo", &mut |_| {
                    run_load(
                        &LoadSpec {
                            target: tokio_addr,
                            ..base.clone()
                        },
                        stop,
                        &mut tokio_echo,
                    )
                }),
            ],
        )?);
    }
    match (&redis, &redis_benchmark) {
        _ if !wanted(MatchupKind::Client) => {}
        (Some((_, redis_addr)), Some(rb)) => {
            let base = LoadSpec {
                target: *redis_addr,
                ..load(Protocol::Resp, 16, 1.0)
            };
            // redis-benchmark sends a fixed count: as many as pincore-bench answered in its run just before.
            let last_rate = std::cell::Cell::new(100_000.0);
            let ours = &mut |_: usize| {
                let r = run_load(&base, stop, &mut Pid(redis_pid))?;
                last_rate.set(r.rate);
                Ok(r)
            };
            let theirs = &mut |_: usize| {
                with_server_cpu(redis_pid, || {
                    redis_benchmark::run(
                        rb,
                        &base,
                        (last_rate.get() * base.duration.as_secs_f64()) as u64,
                    )
                })
            };
            let mut m = alternate(
                "client: SET, pipeline 16, against redis-server",
                &describe(&base),
                spec.rounds,
                stop,
                &mut [("pincore-bench", ours), ("redis-benchmark", theirs)],
            )?;
            m.load.push_str(&format!(
                "; redis-benchmark gets the same -c, -P, -d, -r and --threads {}",
                spec.threads
            ));
            matchups.push(m);
        }
        _ => skipped.push(
            "client check against redis-benchmark: redis-server or redis-tools is not installed"
                .into(),
        ),
    }
    drop(redis);
    drop(tokio_echo);
    drop(pincore);

    let report = CompareReport {
        machine: Machine::detect(),
        rounds: spec.rounds,
        duration_s: spec.duration.as_secs_f64(),
        warmup_s: spec.warmup.as_secs_f64(),
        client_threads: spec.threads,
        client_cpus: spec.cpus.clone(),
        matchups,
        skipped,
    };
    write_outputs(&report, &spec.out_dir)?;
    Ok(report)
}

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn describe(spec: &LoadSpec) -> String {
    format!(
        "closed loop, {} connections, pipeline {}, {} B values, {} client threads",
        spec.connections, spec.pipeline, spec.workload.value_size, spec.threads
    )
}

/// One load run against a server that must still be alive afterwards, with the server's CPU per request.
fn run_load<S: ServerCheck>(
    spec: &LoadSpec,
    stop: &AtomicBool,
    server: &mut S,
) -> Result<RunSummary> {
    let summary = with_server_cpu(server.pid(), || {
        let report: RunReport = generator::run(spec, stop, None)?;
        Ok(RunSummary::of(&report))
    })?;
    server.check()?;
    Ok(summary)
}

/// Runs `run` and fills in the CPU time process `pid` used meanwhile, per request of the run.
///
/// The span is the whole run (connects, warm-up, drain), so it is divided by every request of the run, not
/// only the measured window's.
fn with_server_cpu(
    pid: Option<u32>,
    run: impl FnOnce() -> Result<RunSummary>,
) -> Result<RunSummary> {
    let before = pid.and_then(CpuTimes::of);
    let mut summary = run()?;
    let after = pid.and_then(CpuTimes::of);
    if let (Some(before), Some(after)) = (before, after) {
        summary.server_cpu_us_per_request = cputime::us_per_request(
            before,
            after,
            cputime::ticks_per_second(),
            summary.all_requests,
        );
    }
    Ok(summary)
}

/// A server that may have died during a run, and whose CPU time is read around it.
trait ServerCheck {
    fn check(&mut self) -> Result<()>;
    fn pid(&self) -> Option<u32>;
}

impl ServerCheck for ServerProcess {
    fn check(&mut self) -> Result<()> {
        self.check_alive()
    }
    fn pid(&self) -> Option<u32> {
        Some(ServerProcess::pid(self))
    }
}

/// A server whose process guard is held elsewhere (redis-server, shared by several matchups): only its CPU
/// time is read.
struct Pid(Option<u32>);

impl ServerCheck for Pid {
    fn check(&mut self) -> Result<()> {
        Ok(())
    }
    fn pid(&self) -> Option<u32> {
        self.0
    }
}

type Runner<'a> = (&'a str, &'a mut dyn FnMut(usize) -> Result<RunSummary>);

/// Runs the contenders in turn, `rounds` times (A B A B ...), and summarises each.
fn alternate(
    name: &str,
    load: &str,
    rounds: usize,
    stop: &AtomicBool,
    runners: &mut [Runner<'_>],
) -> Result<Matchup> {
    let mut runs: Vec<Vec<RunSummary>> = vec![Vec::new(); runners.len()];
    for round in 0..rounds {
        for (i, (contender, run)) in runners.iter_mut().enumerate() {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(BenchError::Interrupted);
            }
            tracing::info!(matchup = name, contender = *contender, round, "run");
            runs[i].push(run(round)?);
        }
    }
    let contenders: Vec<Contender> = runners
        .iter()
        .zip(runs)
        .map(|((name, _), runs)| summarise(name, runs))
        .collect();
    let ratio = |f: fn(&Contender) -> f64| {
        let (a, b) = (f(&contenders[0]), f(&contenders[1]));
        if b > 0.0 {
            a / b
        } else {
            0.0
        }
    };
    let cpu_ratio = match (
        contenders[0].server_cpu_us_per_request,
        contenders[1].server_cpu_us_per_request,
    ) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    Ok(Matchup {
        name: name.to_string(),
        load: load.to_string(),
        rate_ratio: ratio(|c| c.median_rate),
        p99_ratio: ratio(|c| c.latency_us.p99_us),
        cpu_ratio,
        contenders,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn summarise(name: &str, runs: Vec<RunSummary>) -> Contender {
    let rates: Vec<f64> = runs.iter().map(|r| r.rate).collect();
    let point =
        |f: fn(&Percentiles) -> f64| median(runs.iter().map(|r| f(&r.latency_us)).collect());
    Contender {
        name: name.to_string(),
        median_rate: median(rates.clone()),
        min_rate: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_rate: rates.iter().copied().fold(0.0, f64::max),
        latency_us: Percentiles {
            p50_us: point(|p| p.p50_us),
            p90_us: point(|p| p.p90_us),
            p99_us: point(|p| p.p99_us),
            p999_us: point(|p| p.p999_us),
            max_us: point(|p| p.max_us),
            mean_us: point(|p| p.mean_us),
        },
        failures: runs.iter().map(|r| r.failures).sum(),
        server_cpu_us_per_request: {
            let cpu: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.server_cpu_us_per_request)
                .collect();
            (!cpu.is_empty()).then(|| median(cpu))
        },
        runs,
    }
}

/// The table printed for people.
impl Human for CompareReport {
    fn human(&self, colour: bool) -> String {
        human(self, colour)
    }
}

fn human(report: &CompareReport, colour: bool) -> String {
    let mut s = format!(
        "Machine: {}. {} alternating runs of {:.1} s each (after {:.1} s warm-up); client threads {}.\n\n",
        report.machine.describe(), report.rounds, report.duration_s, report.warmup_s, report.client_threads
    );
    let mut table = Table::new(&[
        "matchup",
        "server/client",
        "median/s",
        "min – max",
        "p50",
        "p99",
        "p99.9",
        "cpu µs/req",
        "failures",
        "ratio",
        "cpu ratio",
    ])
    .align_right(&[2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for m in &report.matchups {
        for (i, c) in m.contenders.iter().enumerate() {
            let (ratio, cpu_ratio) = match (i, m.cpu_ratio) {
                (0, Some(cpu)) => (format!("{:.2}×", m.rate_ratio), format!("{cpu:.2}×")),
                (0, None) => (format!("{:.2}×", m.rate_ratio), "-".into()),
                _ => (String::new(), String::new()),
            };
            table.plain_row([
                if i == 0 {
                    m.name.clone()
                } else {
                    String::new()
                },
                c.name.clone(),
                group(c.median_rate),
                format!("{} – {}", group(c.min_rate), group(c.max_rate)),
                latency::human(c.latency_us.p50_us),
                latency::human(c.latency_us.p99_us),
                if c.latency_us.p999_us > 0.0 {
                    latency::human(c.latency_us.p999_us)
                } else {
                    "-".into()
                },
                c.server_cpu_us_per_request
                    .map_or("-".into(), |us| format!("{us:.2}")),
                c.failures.to_string(),
                ratio,
                cpu_ratio,
            ]);
        }
    }
    s.push_str(&table.render(colour));
    s.push_str(
        "\nratio: the first line's median rate over the second's (above 1: the first is faster).\n\
         cpu µs/req: the server's CPU time (user + system, all threads, /proc/PID/stat) over each whole run, \
         warm-up included, divided by every request of the run; median over the runs. On a shared machine it \
         is steadier than the rate. cpu ratio: the first line's over the second's (below 1: the first's \
         server spends less).\n",
    );
    for skip in &report.skipped {
        s.push_str(&format!("skipped: {skip}\n"));
    }
    s
}

fn write_outputs(report: &CompareReport, dir: &Path) -> Result<()> {
    let json = dir.join("compare.json");
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| BenchError::failed("compare.json", e.to_string()))?;
    std::fs::write(&json, text)
        .map_err(|e| BenchError::io(format!("writing {}", json.display()), e))?;
    let series: Vec<Series> = report
        .matchups
        .iter()
        .flat_map(|m| {
            m.contenders.iter().map(move |c| Series {
                label: format!("{}: {}", m.name, c.name),
                latency: c.latency_us,
            })
        })
        .collect();
    chart::percentiles_svg(
        &dir.join("compare.svg"),
        "pincore-bench compare: latency percentiles (medians)",
        &series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_take_medians_and_spread() {
        let run = |rate: f64, p99: f64| RunSummary {
            rate,
            failures: 1,
            latency_us: Percentiles {
                p99_us: p99,
                ..Percentiles::default()
            },
            all_requests: 100,
            server_cpu_us_per_request: (rate > 10.0).then_some(rate / 10.0),
        };
        let c = summarise("x", vec![run(10.0, 5.0), run(30.0, 1.0), run(20.0, 3.0)]);
        assert_eq!((c.median_rate, c.min_rate, c.max_rate), (20.0, 10.0, 30.0));
        assert_eq!(c.latency_us.p99_us, 3.0);
        assert_eq!(c.failures, 3);
        // Only the runs that have a CPU figure count for its median.
        assert_eq!(c.server_cpu_us_per_request, Some(2.5));
        assert_eq!(median(vec![1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
