//! `tuned`: the one-command tuned benchmark. Every scenario runs twice over a real network path — a client
//! namespace and a server namespace joined by a veth pair, shaped by `tc` where the scenario needs a
//! bottleneck (`host::path`) — first with the namespaces' defaults, then on a fresh path after
//! `pincore-tuner --netns NS apply PROFILE` in both namespaces. Servers start after the change (a listen
//! backlog is capped by somaxconn when listen() is called); the profile is rolled back and the namespaces
//! deleted after each pass — also on failure and Ctrl-C, by the guards' drops.
//!
//! The client runs inside the client namespace: this executable re-runs itself under `ip netns exec` for each
//! run, handing it the run's spec as JSON (`child.rs`), and reads the JSON report it prints. Listeners the
//! client process owns (storm, bulk sender) are opened in the server namespace (`host::netns::within`).

pub mod report;
pub mod scenario;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::error::{BenchError, Result};
use crate::host::netns;
use crate::host::path::{VethPath, SERVER_ADDR};
use crate::load::report::RunReport;
use crate::scenarios::bulk::BulkReport;
use crate::scenarios::churn::ChurnReport;
use crate::scenarios::netstat::sysctl_text;
use crate::scenarios::storm::StormReport;
use crate::workflows::child::ChildRun;
use crate::workflows::launch::{self, ServerProcess};
use crate::workflows::machine::Machine;

pub use report::TunedReport;
use report::{write_outputs, ScenarioResult};
use scenario::{Measured, ScenarioName, Settings};

/// What to run.
#[derive(Debug, Clone)]
pub struct TunedSpec {
    /// The pincore-tuner profile applied for the second pass: a built-in name or a file.
    pub profile: String,
    /// Scenarios to run, in this order (all when empty).
    pub scenarios: Vec<ScenarioName>,
    /// Short scenarios (a few seconds each) for CI and a first look.
    pub quick: bool,
    pub server_bin: Option<PathBuf>,
    pub tuner_bin: Option<PathBuf>,
    /// Where tuned.json and tuned.svg go (the servers' configs and logs stay in its `.tuned-work/` only when a
    /// run fails).
    pub out_dir: PathBuf,
}

/// Binaries and directories every pass uses.
struct Context<'a> {
    settings: Settings,
    server_bin: PathBuf,
    tuner_bin: PathBuf,
    me: PathBuf,
    /// Scratch files of child runs and the servers' configs and logs.
    work: PathBuf,
    state_dir: PathBuf,
    /// Names every namespace of this run: `pincore-bench-PID`.
    base: String,
    stop: &'a AtomicBool,
}

/// pincore-server's ports inside the server's namespace (fresh for every pass, so every port is free).
const RESP_PORT: u16 = 6380;
const ECHO_PORT: u16 = 7007;
const ADMIN_PORT: u16 = 9180;

/// Runs the benchmark and writes `tuned.json` and `tuned.svg` into `out_dir`.
pub fn run(spec: &TunedSpec, stop: &AtomicBool) -> Result<TunedReport> {
    let spec = &launch::with_absolute_out_dir(spec.clone(), |s| &mut s.out_dir)?;
    let server_bin =
        launch::sibling_binary("pincore-server", spec.server_bin.as_deref(), "--server-bin")?;
    let tuner_bin =
        launch::sibling_binary("pincore-tuner", spec.tuner_bin.as_deref(), "--tuner-bin")?;
    // The profile is checked before anything is measured: a typo must not cost a whole pass.
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
    if !netns::is_root() {
        return Err(BenchError::failed(
            "pincore-bench tuned",
            format!(
                "needs root: it builds two network namespaces joined by a veth pair, shapes the path with tc and \
                 tunes each side with pincore-tuner. `pincore-tuner plan {}` shows what the profile would change \
                 on this host",
                spec.profile
            ),
        ));
    }
    // Configs, logs and the tuner's state live in a work directory that a finished run removes, so the
    // output directory ends with only the results; after a failure it stays, for its logs.
    let work = spec.out_dir.join(".tuned-work");
    std::fs::create_dir_all(&work)
        .map_err(|e| BenchError::io(format!("creating {}", work.display()), e))?;
    let cx = Context {
        settings: Settings::new(spec.quick),
        server_bin,
        tuner_bin,
        me: std::env::current_exe()
            .map_err(|e| BenchError::io("locating the pincore-bench executable", e))?,
        state_dir: work.join("tuner-state"),
        work: work.clone(),
        base: format!("pincore-bench-{}", std::process::id()),
        stop,
    };
    let names = if spec.scenarios.is_empty() {
        ScenarioName::ALL.to_vec()
    } else {
        spec.scenarios.clone()
    };
    let mut results = Vec::new();
    let mut tuner_output = String::new();
    for name in names {
        let description = cx.settings.describe(name);
        let before = match pass(&cx, name, None)? {
            Ok((measured, _)) => measured,
            Err(reason) => {
                results.push(ScenarioResult::not_run(name, description, reason));
                continue;
            }
        };
        let (after, applied) = pass(&cx, name, Some(&spec.profile))?.map_err(|reason| {
            BenchError::failed(format!("{} with the profile", name.as_str()), reason)
        })?;
        if tuner_output.is_empty() {
            tuner_output = applied;
        }
        results.push(ScenarioResult::measured(name, description, before, after));
    }
    let report = TunedReport {
        machine: Machine::detect(),
        profile: spec.profile.clone(),
        quick: spec.quick,
        settings: cx.settings.clone(),
        scenarios: results,
        tuner_output,
        rolled_back: true,
    };
    write_outputs(&report, &spec.out_dir)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(report)
}

/// A profile applied by pincore-tuner in some namespaces; rolled back on drop when [`Applied::rollback`] was
/// not called (an error or Ctrl-C on the way).
struct Applied<'a> {
    cx: &'a Context<'a>,
    namespaces: Vec<String>,
}

impl<'a> Applied<'a> {
    /// Applies `profile` in each namespace; what is already applied is rolled back if a later one fails.
    fn apply(
        cx: &'a Context<'a>,
        profile: &str,
        namespaces: [&str; 2],
    ) -> Result<(Applied<'a>, String)> {
        let mut applied = Applied {
            cx,
            namespaces: Vec::new(),
        };
        let mut printed = String::new();
        for ns in namespaces {
            let out = tuner(cx, ns, &["apply", profile], cx.stop)?;
            applied.namespaces.push(ns.to_string());
            printed.push_str(&format!("--netns {ns}:\n{out}"));
        }
        Ok((applied, printed))
    }

    fn rollback(mut self) -> Result<()> {
        let namespaces = std::mem::take(&mut self.namespaces);
        for ns in namespaces {
            // Rolled back even after Ctrl-C: it takes milliseconds.
            tuner(self.cx, &ns, &["rollback"], &AtomicBool::new(false))?;
        }
        Ok(())
    }
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        for ns in std::mem::take(&mut self.namespaces) {
            if let Err(e) = tuner(self.cx, &ns, &["rollback"], &AtomicBool::new(false)) {
                eprintln!("pincore-bench: rolling back the profile in {ns} failed: {e}");
            }
        }
    }
}

fn tuner(cx: &Context, ns: &str, action: &[&str], stop: &AtomicBool) -> Result<String> {
    let mut c = Command::new(&cx.tuner_bin);
    c.args(["--netns", ns, "--state-dir"])
        .arg(&cx.state_dir)
        .args(action);
    launch::run_to_end(
        &format!("pincore-tuner --netns {ns} {}", action.join(" ")),
        c,
        &cx.work,
        stop,
    )
}

/// One pass of one scenario on a fresh path: `Ok(Err(reason))` when this kernel cannot run it.
fn pass(
    cx: &Context,
    name: ScenarioName,
    profile: Option<&str>,
) -> Result<std::result::Result<(Measured, String), String>> {
    let label = if profile.is_some() {
        "profile"
    } else {
        "defaults"
    };
    let base = format!("{}-{}", cx.base, short(name, label));
    let path = match VethPath::build(&base, &cx.settings.shaping(name))? {
        Ok(path) => path,
        Err(why) => return Ok(Err(why.0)),
    };
    for (key, values) in cx.settings.baseline(name) {
        for ns in [path.client(), path.server()] {
            write_first_accepted(ns, key, values)?;
        }
    }
    if let (ScenarioName::PortExhaustion, Some((lo, hi))) = (name, cx.settings.churn_port_range) {
        write_sysctl(
            path.client(),
            "net/ipv4/ip_local_port_range",
            &format!("{lo} {hi}"),
        )?;
    }
    let (applied, printed) = match profile {
        Some(p) => {
            let (a, printed) = Applied::apply(cx, p, [path.client(), path.server()])?;
            (Some(a), printed)
        }
        None => (None, String::new()),
    };
    let measured = {
        let _server = match name.needs_server() {
            true => Some(start_server(cx, path.server(), label)?),
            false => None,
        };
        let mut measured = measure(cx, name, &path)?;
        if let Some(by) = path.delay_by() {
            measured.note_delay(by, path.line_counters());
        }
        measured
    };
    if let Some(a) = applied {
        a.rollback()?;
    }
    let _ = std::fs::remove_dir_all(&cx.state_dir);
    if cx.stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    Ok(Ok((measured, printed)))
}

/// A namespace name part: `port-exhaustion` → `pe-defaults`.
fn short(name: ScenarioName, label: &str) -> String {
    let initials: String = name
        .as_str()
        .split('-')
        .filter_map(|w| w.chars().next())
        .collect();
    format!("{initials}-{label}")
}

/// Writes `/proc/sys/KEY` inside namespace `ns` (a namespaced key: the host's value does not change).
fn write_sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    let file = Path::new("/proc/sys").join(key);
    netns::within(ns, || std::fs::write(&file, value))?
        .map_err(|e| BenchError::io(format!("writing {} in {ns}", file.display()), e))
}

/// Writes the first of `values` the kernel accepts for `key` in `ns`.
fn write_first_accepted(ns: &str, key: &str, values: &[&str]) -> Result<()> {
    let mut last = None;
    for value in values {
        match write_sysctl(ns, key, value) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    last.map_or(Ok(()), Err)
}

/// Starts pincore-server in the server's namespace and waits for its `/readyz`.
fn start_server(cx: &Context, ns: &str, label: &str) -> Result<ServerProcess> {
    let at = |port| SocketAddr::from((SERVER_ADDR, port));
    let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT));
    let config = cx.work.join(format!("tuned-pincore-server-{label}.yaml"));
    std::fs::write(
        &config,
        launch::pincore_server_config(at(RESP_PORT), at(ECHO_PORT), admin, 65535),
    )
    .map_err(|e| BenchError::io(format!("writing {}", config.display()), e))?;
    let mut c = launch::command_in(Some(ns), &cx.server_bin);
    c.arg("--config").arg(&config);
    let mut server = ServerProcess::spawn(
        "pincore-server",
        c,
        &cx.work.join(format!("tuned-pincore-server-{label}.log")),
    )?;
    let probe = ChildRun::WaitReady {
        admin,
        timeout: Duration::from_secs(15),
    }
    .command(Some(ns), &cx.me)?;
    launch::run_to_end(
        "waiting for pincore-server's /readyz",
        probe,
        &cx.work,
        cx.stop,
    )
    .map_err(|e| match server.check_alive() {
        Err(dead) => dead,
        Ok(()) => e,
    })?;
    Ok(server)
}

/// Runs `run` in the client's namespace and reads the report it prints; `scratch` keeps concurrent runs'
/// output apart.
fn child<T: DeserializeOwned>(
    cx: &Context,
    path: &VethPath,
    what: &str,
    run: ChildRun,
    scratch: &Path,
) -> Result<T> {
    let text = launch::run_to_end(
        what,
        run.command(Some(path.client()), &cx.me)?,
        scratch,
        cx.stop,
    )?;
    serde_json::from_str(&text).map_err(|_| BenchError::Process {
        program: what.to_string(),
        message: format!("printed JSON that does not parse: {text}"),
    })
}

fn measure(cx: &Context, name: ScenarioName, path: &VethPath) -> Result<Measured> {
    let s = &cx.settings;
    let server = path.server();
    Ok(match name {
        ScenarioName::PortExhaustion => {
            let report: ChurnReport = child(
                cx,
                path,
                "churn",
                ChildRun::Churn(s.churn(SocketAddr::from((SERVER_ADDR, ECHO_PORT)))),
                &cx.work,
            )?;
            let range = netns::within(path.client(), || {
                sysctl_text("net.ipv4.ip_local_port_range")
            })?;
            scenario::from_churn(&report, range)
        }
        ScenarioName::ConnectionStorm => {
            let report: StormReport = child(
                cx,
                path,
                "storm",
                ChildRun::Storm(s.storm(server)),
                &cx.work,
            )?;
            scenario::from_storm(&report)
        }
        ScenarioName::BulkLongFatPath | ScenarioName::BulkRateLimited => {
            let one: BulkReport = child(
                cx,
                path,
                "bulk, one stream",
                ChildRun::Bulk(s.bulk(server, 1, s.bulk_duration())),
                &cx.work,
            )?;
            let many: BulkReport = child(
                cx,
                path,
                "bulk, several streams",
                ChildRun::Bulk(s.bulk(server, s.bulk_streams, s.bulk_duration())),
                &cx.work,
            )?;
            scenario::from_bulk(&one, &many)
        }
        ScenarioName::LatencyBehindBulk => {
            let load = s.latency(SocketAddr::from((SERVER_ADDR, RESP_PORT)));
            // The download starts first and outlasts the requests; its warm-up fills the queue.
            let bulk_spec = s.bulk(
                server,
                1,
                load.warmup + load.duration + Duration::from_secs(1),
            );
            let bulk_scratch = cx.work.join("bulk");
            std::fs::create_dir_all(&bulk_scratch)
                .map_err(|e| BenchError::io(format!("creating {}", bulk_scratch.display()), e))?;
            let (requests, bulk) = std::thread::scope(|scope| {
                let bulk = scope.spawn(|| {
                    child::<BulkReport>(
                        cx,
                        path,
                        "bulk download",
                        ChildRun::Bulk(bulk_spec),
                        &bulk_scratch,
                    )
                });
                std::thread::sleep(Duration::from_secs_f64(s.bulk_warmup_s));
                let requests =
                    child::<RunReport>(cx, path, "RESP requests", ChildRun::Load(load), &cx.work);
                let bulk = bulk.join().unwrap_or_else(|_| {
                    Err(BenchError::failed("bulk download", "its thread panicked"))
                });
                (requests, bulk)
            });
            scenario::from_latency(&requests?, &bulk?)
        }
    })
}
