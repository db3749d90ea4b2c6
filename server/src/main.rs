//! `pincore-server`: parse arguments, dispatch to the library, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pincore_cli::exit;
use pincore_server::config::{
    Config, CpuList, LogFormat, BUILTIN_SERVICES, DEFAULT_ORIGIN, DEFAULT_YAML,
};
use pincore_server::{handoff, logging, serve_from, Options, ServerError, Start};

const EXIT_CODES: &str = "\
Exit codes:
  0  served and shut down cleanly (SIGTERM/SIGINT), or the configuration is valid
  1  the server could not start (an unusable snapshot or snapshot directory included) or stopped on an
     error, the snapshot at shutdown included (the error says what and how to fix it)
  2  invalid command line or configuration (file:line:col and the problem), or the configuration file
     cannot be read: missing, not a regular file (a device, a directory, a FIFO) or over 16 MiB; with
     check-config also a TLS file (services.<name>.tls) that is missing, not PEM or not the key's certificate

Signals: SIGHUP reloads the --config file (limits, timeouts, log level, services' settings, TLS
certificates); SIGTERM/SIGINT drain and exit;
SIGUSR2 (with --handoff-socket) starts a successor with this command line and hands it the listeners.

Upgrades in place: a server started with --handoff-socket PATH hands its listening sockets to a successor
started with --upgrade-from PATH (or to the one it starts itself on `upgrade --handoff-socket PATH`), which
refuses them if its configuration differs in shards or addresses; the old one keeps serving until the
successor is ready, then drains and hands over services' state. `upgrade` exits 0 when the successor serves,
1 when the handoff was rolled back (the reason is printed; the old server still serves).";

/// Thread-per-core glommio server: Redis-protocol key-value store, echo, HTTP admin and Prometheus metrics.
///
/// With no arguments it serves the embedded default configuration on 127.0.0.1
/// (RESP 6380, echo 7007, admin 9180).
#[derive(Parser)]
#[command(name = "pincore-server", version = pincore_cli::dist::VERSION, after_help = EXIT_CODES)]
struct Cli {
    /// YAML configuration file (default: the embedded configuration; see `print-config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// CPUs to run shards on, e.g. `0-3,8` (replaces shards.cpus; always within the affinity mask).
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
    /// Start with an empty keyspace instead of loading the snapshot (or, with appendonly, the append-only
    /// file) in services.resp.settings.persistence.dir, for one reported unusable; the next save (or
    /// rewrite) replaces it.
    #[arg(long)]
    start_empty: bool,
    /// Unix socket where a successor can take this server's listeners (upgrade in place).
    #[arg(long, value_name = "PATH")]
    handoff_socket: Option<PathBuf>,
    /// Take the listeners of the server running with this --handoff-socket instead of binding them; it
    /// drains and exits once this one is ready.
    #[arg(long, value_name = "PATH")]
    upgrade_from: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Mode>,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve (the default).
    Serve,
    /// Validate a configuration file: exit 0 if valid, 2 with the error's file:line:col if it is not valid
    /// or cannot be read.
    CheckConfig { file: PathBuf },
    /// Ask the server running with this --handoff-socket to start its successor (its own command line, so
    /// the binary and configuration now at those paths) and hand over; prints the outcome.
    Upgrade {
        #[arg(long, value_name = "PATH")]
        handoff_socket: PathBuf,
    },
    /// Print the effective configuration (the --config file, or the embedded default, with every default filled in).
    PrintConfig {
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    keep_large_values_out_of_the_heap();
    pincore_cli::dist::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, message }) => {
            if !message.is_empty() {
                eprintln!("pincore-server: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Values of 128 KiB and more get pages of their own, returned to the kernel when the value is freed or
/// overwritten. glibc's default raises this threshold each time such a block is freed, after which large values
/// land in the heap and their memory stays with the process: overwriting 300 values of 1 MiB with 1 byte left
/// 265 MiB of RSS (README, "Memory"). Fixing it also fixes the heap's trim threshold at 128 KiB, and the heaps
/// of the shard threads then shrink (one `madvise` each time) whenever that much is free at their top: about
/// one per 35 requests under redis-benchmark. The trim threshold goes up to 32 MiB instead; FLUSHALL returns
/// bulk frees itself (`malloc_trim`).
fn keep_large_values_out_of_the_heap() {
    // SAFETY: mallopt only sets tuning parameters of the allocator; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

/// An error and the exit code it maps to.
struct Failure {
    code: u8,
    /// Empty when the error was already reported (as a JSON log record).
    message: String,
}

impl Failure {
    fn silent(code: u8) -> Failure {
        Failure {
            code,
            message: String::new(),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            code: exit::FAILURE,
            message,
        }
    }
}

impl From<ServerError> for Failure {
    fn from(e: ServerError) -> Failure {
        let code = match e {
            // A configuration that cannot be read or is not valid: bad input, as in every pincore tool.
            ServerError::ReadConfig(_) | ServerError::Config { .. } | ServerError::Tls { .. } => {
                exit::USAGE
            }
            _ => exit::FAILURE,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn load(path: &Option<PathBuf>) -> Result<Config, Failure> {
    match path {
        Some(path) => Ok(Config::from_file(path)?),
        None => Ok(Config::from_yaml(DEFAULT_YAML, DEFAULT_ORIGIN)?),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let cpus_override = cli
        .cpus
        .as_deref()
        .map(CpuList::parse)
        .transpose()
        .map_err(|e| Failure {
            code: exit::USAGE,
            message: format!("--cpus: {e}"),
        })?;
    match cli.command.unwrap_or(Mode::Serve) {
        Mode::CheckConfig { file } => {
            let config = Config::from_file(&file)?;
            // The certificates and keys named by `tls:` sections must exist and match here, as at start.
            pincore_server::tls::load_all(&config, &BUILTIN_SERVICES)?;
            println!("{}: valid", file.display());
            Ok(())
        }
        Mode::PrintConfig { json } => {
            let mut config = load(&cli.config)?;
            if let Some(cpus) = cpus_override {
                config.shards.cpus = cpus;
            }
            print!(
                "{}",
                if json {
                    config.to_json() + "\n"
                } else {
                    config.to_yaml()
                }
            );
            Ok(())
        }
        Mode::Upgrade { handoff_socket } => match handoff::request_upgrade(&handoff_socket) {
            Ok(pid) => {
                println!("upgraded: the successor (pid {pid}) serves");
                Ok(())
            }
            Err(reason) => Err(Failure::from(format!(
                "upgrade rolled back, the running server keeps serving: {reason}"
            ))),
        },
        Mode::Serve => {
            let config = match load(&cli.config) {
                Ok(config) => config,
                Err(failure) => {
                    if let Some(path) = &cli.upgrade_from {
                        handoff::refuse(path, &failure.message);
                    }
                    return Err(failure);
                }
            };
            let log = logging::init(&config.log).map_err(|e| e.to_string())?;
            let json_log = config.log.format == LogFormat::Json;
            let options = Options {
                config,
                config_path: cli.config,
                cpus_override,
                handoff_socket: cli.handoff_socket,
                upgrade_from: cli.upgrade_from,
            };
            let start = if cli.start_empty {
                Start::Empty
            } else {
                Start::Snapshot
            };
            serve_from(options, log, start).map_err(|e| {
                // Said once: as a structured record where logs are JSON (what collects them expects),
                // otherwise as the plain line main prints.
                if json_log {
                    tracing::error!(error = %e, "pincore-server stopped");
                    Failure::silent(1)
                } else {
                    Failure::from(e.to_string())
                }
            })
        }
    }
}
