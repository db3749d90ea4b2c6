//! `pincore-bench-tokio-echo`: the tokio echo server `pincore-bench compare` measures pincore-server against.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// A plain tokio multi-threaded echo server (the baseline in `pincore-bench compare`).
///
/// Exit codes: 0 never (it serves until killed), 1 when it cannot start (the error says why), 2 bad arguments.
#[derive(Parser)]
#[command(name = "pincore-bench-tokio-echo", version = pincore_cli::dist::VERSION)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7008")]
    listen: SocketAddr,
    /// Runtime worker threads (0: one per CPU, tokio's default).
    #[arg(long, default_value_t = 0)]
    workers: usize,
}

fn main() -> ExitCode {
    pincore_cli::dist::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    match pincore_bench::workflows::echo_server::serve(cli.listen, cli.workers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pincore-bench-tokio-echo: {e}");
            ExitCode::from(1)
        }
    }
}
