//! `pincore-deploy`: parse arguments, call one library function per command, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pincore_deploy::manifest::Manifest;

/// Roll pincore-server and its kernel tuning out to hosts over ssh, or render the manifest for other engines.
///
/// Exit codes: 0 success; 1 a host failed or the rollout stopped; 2 the manifest or the command line is invalid
/// (nothing was touched).
#[derive(Parser)]
#[command(name = "pincore-deploy", version)]
struct Cli {
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the manifest, its profile and its server config without touching any host.
    Validate { manifest: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| {
        match cli.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
        .to_string()
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Validate { manifest } => match Manifest::load(&manifest) {
            Ok(m) => {
                println!(
                    "{}: valid ({} host(s) in {} group(s))",
                    manifest.display(),
                    m.hosts.len(),
                    m.groups.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
