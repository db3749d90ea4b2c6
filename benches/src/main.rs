//! `pincore-bench`: parse arguments, dispatch to one library function per command, map the outcome to an
//! exit code.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pincore_bench::host::{cpus, interrupt};
use pincore_bench::load::progress;
use pincore_bench::load::spec::LoadSpec;
use pincore_bench::load::workload::{Protocol, Workload};
use pincore_bench::scenarios::churn::{self, ChurnSpec};
use pincore_bench::scenarios::storm::{self, StormSpec};
use pincore_bench::workflows::child::ChildRun;
use pincore_bench::workflows::compare::{self, CompareSpec, MatchupKind};
use pincore_bench::workflows::tuned::{self, TunedSpec};
use pincore_bench::BenchError;
use pincore_cli::duration::parse_duration;
use pincore_cli::exit;
use pincore_cli::output::{colour_on_stdout, render};

const EXIT_CODES: &str = "\
Exit codes:
  0  the benchmark ran (its figures may still show errors: read them)
  1  it could not run: a server or namespace failed, a binary is missing (the error says which)
  2  invalid command line or settings (a flag, a target, a CPU list): nothing ran
  130 interrupted by Ctrl-C or SIGTERM (servers, namespaces and tuning were removed first)";

/// Load generator (closed and open loop, HdrHistogram), side-by-side peer comparison, and the tuned
/// benchmark (each scenario with the defaults and with a pincore-tuner profile, over a veth path).
#[derive(Parser)]
#[command(name = "pincore-bench", version = pincore_cli::dist::VERSION, after_help = EXIT_CODES)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Drive one target with a closed-loop (--connections x --pipeline) or open-loop (--rate) load.
    Run(RunArgs),
    /// Start pincore-server, redis-server and a tokio echo server on loopback and drive each with the
    /// same client settings in alternating runs; prints medians and ratios, writes compare.json/.svg.
    Compare(CompareArgs),
    /// The tuned benchmark: each scenario with the defaults and with a pincore-tuner profile, between two
    /// throwaway network namespaces joined by a shaped veth pair (root); writes tuned.json/.svg.
    Tuned(TunedArgs),
    /// A connection storm: N simultaneous connects to a listener of this process that accepts late.
    Storm(StormArgs),
    /// Connection churn: connect, one echo round trip, close, as fast as possible, against an echo server.
    Churn(ChurnArgs),
    /// Run the spec in PINCORE_BENCH_CHILD_SPEC (how `tuned` starts its scenarios inside the namespace).
    #[command(hide = true)]
    Child,
}

#[derive(Args)]
struct CompareArgs {
    /// A few seconds in all (one round of 1 s runs): for CI and a first look.
    #[arg(long)]
    quick: bool,
    /// Runs per server in each matchup, alternating [default: 5, or 1 with --quick].
    #[arg(long)]
    rounds: Option<usize>,
    /// Measured time per run [default: 5s, or 1s with --quick].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Connections per run.
    #[arg(short, long, default_value_t = 50)]
    connections: usize,
    /// Client threads [default: one per allowed CPU].
    #[arg(short, long)]
    threads: Option<usize>,
    #[command(flatten)]
    bins: Binaries,
    /// Directory for compare.json, compare.svg and the servers' configs and logs.
    #[arg(long, default_value = "target/pincore-bench")]
    out: PathBuf,
    /// Print compare.json to stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only these matchups (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "MATCHUP")]
    only: Vec<MatchupKind>,
}

#[derive(Args)]
struct Binaries {
    /// pincore-server executable [default: next to this one].
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// pincore-tuner executable [default: next to this one].
    #[arg(long, value_name = "PATH")]
    tuner_bin: Option<PathBuf>,
    /// The tokio echo baseline [default: pincore-bench-tokio-echo next to this one].
    #[arg(long, value_name = "PATH")]
    echo_bin: Option<PathBuf>,
}

#[derive(Args)]
struct TunedArgs {
    /// pincore-tuner profile to apply for the second pass: a built-in name or a profile file.
    #[arg(long, default_value = "connections")]
    profile: String,
    /// Run only this scenario (repeat for several) [default: all].
    #[arg(long, value_enum, value_name = "NAME")]
    scenario: Vec<tuned::scenario::ScenarioName>,
    /// A few seconds per scenario: for CI and a first look.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    bins: Binaries,
    /// Directory for tuned.json, tuned.svg and the server's configs and logs.
    #[arg(long, default_value = "target/pincore-bench")]
    out: PathBuf,
    /// Print tuned.json to stdout instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StormArgs {
    /// Simultaneous connects (two file descriptors each must fit RLIMIT_NOFILE).
    #[arg(short, long, default_value_t = 6000)]
    connections: usize,
    /// Time before the listener's first accept().
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    accept_delay: Duration,
    /// listen() backlog (the kernel caps it at net.core.somaxconn).
    #[arg(long, default_value_t = 65535)]
    backlog: i32,
    /// A connect not established this long after the first accept counts as timed out.
    #[arg(long, default_value = "8s", value_parser = parse_duration)]
    timeout: Duration,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ChurnArgs {
    /// Echo server, HOST:PORT.
    #[arg(long)]
    target: String,
    /// Client threads, one connection at a time each.
    #[arg(short, long, default_value_t = 4)]
    threads: usize,
    #[arg(short, long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Connect and round-trip timeout.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    /// Server to load, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    target: String,
    #[command(flatten)]
    load: LoadArgs,
    /// Print the result as JSON (fields documented in README) instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress line even on a terminal.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct LoadArgs {
    #[arg(long, value_enum, default_value_t = Protocol::Resp)]
    protocol: Protocol,
    /// Connections, dealt evenly to the client threads.
    #[arg(short, long, default_value_t = 50)]
    connections: usize,
    /// Closed loop: requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1)]
    pipeline: usize,
    /// Open loop: total requests per second (latency then counts from each request's intended send time).
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// Measured time, e.g. 10s or 500ms.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Time run before measuring (its requests are not counted).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// A request unanswered this long is a timeout (its connection is reopened).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Client threads [default: one per allowed CPU, at most one per connection].
    #[arg(short, long)]
    threads: Option<usize>,
    /// CPUs to pin client threads to, e.g. 0-3,8 [default: the process's allowed CPUs, round-robin].
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
    /// Leave client threads unpinned.
    #[arg(long, conflicts_with = "cpus")]
    no_pin: bool,
    /// RESP SET value size and echo payload size, in bytes.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// RESP: number of distinct keys (key:0 .. key:N-1).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// RESP: fraction of requests that are SET (the rest GET).
    #[arg(long, default_value_t = 0.5)]
    set_ratio: f64,
    /// HTTP: request path.
    #[arg(long, default_value = "/healthz")]
    path: String,
}

impl LoadArgs {
    fn spec(&self, target: SocketAddr) -> Result<LoadSpec, BenchError> {
        let cpus = if self.no_pin {
            None
        } else {
            Some(match &self.cpus {
                Some(list) => cpus::parse_cpu_list(list)?,
                None => cpus::allowed_cpus(),
            })
        };
        let threads = self
            .threads
            .unwrap_or_else(|| cpus.as_ref().map_or(cpus::allowed_cpus().len(), Vec::len));
        Ok(LoadSpec {
            target,
            workload: Workload {
                protocol: self.protocol,
                value_size: self.value_size,
                keys: self.keys,
                set_ratio: self.set_ratio,
                path: self.path.clone(),
            },
            connections: self.connections,
            pipeline: self.pipeline,
            rate: self.rate,
            threads,
            cpus,
            warmup: self.warmup,
            duration: self.duration,
            timeout: self.timeout,
        })
    }
}

fn main() -> ExitCode {
    pincore_cli::dist::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    pincore_cli::logging::init(cli.verbose);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pincore-bench: {e}");
            exit::code(match e {
                BenchError::Interrupted => exit::INTERRUPTED,
                BenchError::Invalid { .. } => exit::USAGE,
                _ => exit::FAILURE,
            })
        }
    }
}

/// Prints a workflow's report and, for people, where its JSON and chart were written.
fn print_with_files<R: serde::Serialize + pincore_cli::output::Human>(
    report: &R,
    json: bool,
    out_dir: &std::path::Path,
    name: &str,
) {
    print!("{}", render(report, json, colour_on_stdout()));
    if !json {
        eprintln!(
            "wrote {0}/{name}.json and {0}/{name}.svg",
            out_dir.display()
        );
    }
}

fn resolve(target: &str) -> Result<SocketAddr, BenchError> {
    target
        .to_socket_addrs()
        .map_err(|e| {
            BenchError::invalid(
                format!("--target {target}"),
                format!("{e} (write HOST:PORT)"),
            )
        })?
        .next()
        .ok_or_else(|| BenchError::invalid(format!("--target {target}"), "resolves to no address"))
}

fn dispatch(mode: Mode) -> Result<(), BenchError> {
    let stop = interrupt::stop_flag()?;
    match mode {
        Mode::Run(args) => {
            let spec = args.load.spec(resolve(&args.target)?)?;
            let show = !args.quiet && std::io::stderr().is_terminal();
            let report = progress::run_with_progress(&spec, &stop, show)?;
            print!("{}", render(&report, args.json, colour_on_stdout()));
            Ok(())
        }
        Mode::Compare(args) => {
            let cpus = cpus::allowed_cpus();
            let spec = CompareSpec {
                rounds: args.rounds.unwrap_or(if args.quick { 1 } else { 5 }),
                duration: args.duration.unwrap_or(Duration::from_secs(if args.quick {
                    1
                } else {
                    5
                })),
                warmup: Duration::from_millis(if args.quick { 300 } else { 1000 }),
                connections: args.connections,
                threads: args.threads.unwrap_or(cpus.len()),
                cpus: Some(cpus),
                server_bin: args.bins.server_bin,
                echo_bin: args.bins.echo_bin,
                out_dir: args.out,
                only: if args.only.is_empty() {
                    MatchupKind::ALL.to_vec()
                } else {
                    args.only
                },
            };
            let report = compare::run(&spec, &stop)?;
            print_with_files(&report, args.json, &spec.out_dir, "compare");
            Ok(())
        }
        Mode::Tuned(args) => {
            let spec = TunedSpec {
                profile: args.profile,
                scenarios: args.scenario,
                quick: args.quick,
                server_bin: args.bins.server_bin,
                tuner_bin: args.bins.tuner_bin,
                out_dir: args.out,
            };
            let report = tuned::run(&spec, &stop)?;
            print_with_files(&report, args.json, &spec.out_dir, "tuned");
            Ok(())
        }
        Mode::Storm(args) => {
            let spec = StormSpec {
                connections: args.connections,
                accept_delay: args.accept_delay,
                backlog: args.backlog,
                timeout: args.timeout,
                listen_in: None,
                listen_ip: std::net::Ipv4Addr::LOCALHOST,
            };
            let report = storm::run(&spec, &stop)?;
            print!("{}", render(&report, args.json, colour_on_stdout()));
            Ok(())
        }
        Mode::Churn(args) => {
            let spec = ChurnSpec {
                target: resolve(&args.target)?,
                threads: args.threads,
                duration: args.duration,
                timeout: args.timeout,
            };
            let report = churn::run(&spec, &stop)?;
            print!("{}", render(&report, args.json, colour_on_stdout()));
            Ok(())
        }
        Mode::Child => {
            print!("{}", ChildRun::from_env()?.run(&stop)?);
            Ok(())
        }
    }
}
