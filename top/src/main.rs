//! `pincore-top`: parse arguments, then either the live view or one interval printed (`--once`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pincore_cli::duration::parse_duration;
use pincore_cli::exit;
use pincore_top::{view, Collector, Interval, Watch};

const EXIT_CODES: &str = "\
Keys: s sort (shard, req/s, cpu, p99, conns, rejected), ↑↓ or j/k pick a shard, p or space pause, q quit.

Exit codes:
  0  the view ended with q, or --once read every server
  1  --once: a server or the host could not be read (the JSON says which and why)
  2  invalid command line";

/// Live per-shard rates, latency, connections and rejections of pincore servers (from their admin
/// `/metrics`), with the host's softirq, NIC queue interrupts, TCP counters and the doctor's findings.
#[derive(Parser)]
#[command(name = "pincore-top", version = pincore_cli::dist::VERSION, after_help = EXIT_CODES)]
struct Cli {
    /// Admin addresses (host:port) of the servers to watch.
    #[arg(default_value = "127.0.0.1:9180")]
    servers: Vec<String>,
    /// Time between readings (1s, 500ms, ...).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// Deadline of each scrape's connect and answer.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    /// Where /proc and /sys are: `/`, or a recorded tree.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Do not read the host (only the servers).
    #[arg(long)]
    no_host: bool,
    /// Take two readings one interval apart, print that interval and exit.
    #[arg(long)]
    once: bool,
    /// With --once: print JSON (fields in README, "pincore-top").
    #[arg(long, requires = "once")]
    json: bool,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    pincore_cli::dist::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    let watch = Watch {
        servers: cli.servers.clone(),
        root: (!cli.no_host).then(|| cli.root.clone()),
        timeout: cli.timeout,
    };
    let mut collector = Collector::new(watch);
    if cli.once {
        pincore_cli::logging::init(cli.verbose);
        let interval = collector.once(cli.interval);
        if cli.json {
            print!("{}", pincore_cli::output::json(&interval));
        } else {
            print!("{}", screen_text(&interval));
        }
        let complete = interval.servers.iter().all(|s| s.up) && interval.host_error.is_none();
        return exit::code(if complete { exit::OK } else { exit::FAILURE });
    }
    // The live view owns the terminal: logging would draw over it, so it stays off.
    let (send, receive) = std::sync::mpsc::channel();
    let every = cli.interval;
    std::thread::spawn(move || {
        collector.tick();
        let mut last = std::time::Instant::now();
        loop {
            // Readings start `every` apart; the time a reading takes is not added on top.
            std::thread::sleep(every.saturating_sub(last.elapsed()));
            last = std::time::Instant::now();
            if let Some(interval) = collector.tick() {
                if send.send(interval).is_err() {
                    return;
                }
            }
        }
    });
    match view::run(receive, every) {
        Ok(()) => exit::code(exit::OK),
        Err(e) => {
            eprintln!("pincore-top: the terminal failed: {e}");
            exit::code(exit::FAILURE)
        }
    }
}

/// The view as plain text, 100 columns wide: what `--once` prints without `--json`.
fn screen_text(interval: &Interval) -> String {
    let mut app = view::App::new();
    app.update(interval.clone());
    let height = 12
        + 2 * interval
            .servers
            .iter()
            .map(|s| s.shards.len())
            .sum::<usize>() as u16
        + interval
            .host
            .as_ref()
            .map_or(0, |h| 4 * h.findings.len() + h.cpus.len() + 4) as u16;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, height.min(200)))
            .expect("a test backend never fails");
    let _ = terminal.draw(|f| view::draw(f, &app));
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        // The notes area stretches to the bottom; its blank rows say nothing in a printed copy.
        if !line.trim().is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}
