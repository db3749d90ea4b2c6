//! pincore-tuner's command line: parse, dispatch to the library, map outcomes to exit codes.
//!
//! Exit codes: 0 success / healthy, 1 findings or drift, 2 error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pincore_tuner::doctor::{self, Advice, Sampling};

#[derive(Parser)]
#[command(
    name = "pincore-tuner",
    version,
    about = "Kernel TCP tuning you can plan, apply, verify and roll back."
)]
#[command(after_help = "Exit codes: 0 success or healthy, 1 findings or drift, 2 error.")]
struct Cli {
    /// Prefix for /proc, /sys, /etc and /var/lib (a fixture tree in tests).
    #[arg(long, global = true, default_value = "/")]
    root: PathBuf,
    /// Act inside the network namespace /run/netns/NAME.
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,
    /// More logging (also RUST_LOG).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sample kernel counters twice and turn what grew into advice (exit 0 healthy, 1 findings, 2 error).
    Doctor(DoctorArgs),
}

#[derive(Args)]
struct DoctorArgs {
    /// Time between the two samples (5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = doctor::parse_interval)]
    interval: std::time::Duration,
    /// Read the second sample from this recorded tree instead of re-reading --root after the interval
    /// (the interval then only labels the deltas).
    #[arg(long, value_name = "DIR")]
    after: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("pincore-tuner: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Some(name) = &cli.netns {
        enter_netns(name)?;
    }
    match cli.command {
        Command::Doctor(args) => {
            let sampling = match args.after {
                Some(after) => Sampling::Recorded {
                    before: cli.root.clone(),
                    after,
                    interval: args.interval,
                },
                None => Sampling::Interval {
                    live: doctor::is_live_root(&cli.root),
                    root: cli.root.clone(),
                    interval: args.interval,
                },
            };
            let report = {
                let advice = Advice::from_builtin_profiles().map_err(|e| e.to_string())?;
                doctor::examine(&sampling, &advice).map_err(|e| e.to_string())?
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report.render());
            }
            Ok(if report.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn enter_netns(name: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from("/run/netns").join(name);
    let file = std::fs::File::open(&path).map_err(|e| {
        format!(
            "network namespace `{name}`: opening {}: {e} (does `ip netns list` show it?)",
            path.display()
        )
    })?;
    // SAFETY: setns(2) on a descriptor we hold open; the process is still single-threaded here.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "network namespace `{name}`: setns: {} (run as root)",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
