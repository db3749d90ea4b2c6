//! `pincore-deploy`: parse arguments, call one library function per command, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pincore_cli::exit;
use pincore_deploy::facts::Severity;
use pincore_deploy::manifest::Manifest;
use pincore_deploy::{render, report, rollout, Error};

const EXIT_CODES: &str = "\
Exit codes:
  0  done (status: every host in sync and healthy)
  1  a host failed, preflight failed, the rollout stopped, or (status) a host drifted or is unhealthy
  2  the manifest, a file it names or the command line is invalid: nothing was touched
  3  a host could not be reached: nothing was touched";

/// Roll pincore-server and its kernel tuning out to hosts over ssh, or render the manifest for other engines.
#[derive(Parser)]
#[command(name = "pincore-deploy", version = pincore_cli::dist::VERSION, after_help = EXIT_CODES)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the manifest, its profile, its server config, its TLS files (PEM, key matches the certificate,
    /// not expired; a warning when one expires soon) and that the release binaries (once built) are regular
    /// files, without touching any host.
    Validate { manifest: PathBuf },
    /// Read every host (in parallel, read-only) and show what apply would change; exit 1 if preflight finds a
    /// host the server cannot run on (CPUs not online, missing NIC, io_uring disabled).
    Plan {
        manifest: PathBuf,
        /// Only these hosts (repeatable).
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
    },
    /// Roll the release out: canary, then batches; revert failing hosts; stop past rollout.max_fail.
    Apply {
        manifest: PathBuf,
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
    },
    /// Per host: release, health, tuning verify result and drift from the manifest.
    Status {
        manifest: PathBuf,
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
    },
    /// Every host back to its previous release and tuning.
    Rollback {
        manifest: PathBuf,
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
    },
    /// Write the manifest for another engine: Ansible inventory + playbook, Kubernetes objects, or the systemd
    /// unit and sysctl drop-in alone.
    Render {
        manifest: PathBuf,
        #[arg(long, value_enum)]
        format: render::Format,
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    pincore_cli::dist::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    pincore_cli::logging::init(cli.verbose);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                Error::Unreachable { .. } => exit::code(exit::PARTIAL),
                Error::Manifest { .. }
                | Error::Input(_)
                | Error::Io { .. }
                | Error::Render { .. } => exit::code(exit::USAGE),
                Error::Step { .. } | Error::Preflight { .. } => exit::code(exit::FAILURE),
            }
        }
    }
}

fn print_json(value: &impl serde::Serialize) {
    print!("{}", pincore_cli::output::json(value));
}

/// Progress lines on stderr, so stdout stays the table (or JSON).
fn progress(host: &str, message: &str) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let t = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64();
    eprintln!("{t:6.1}s [{host}] {message}");
}

fn run(cli: &Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Command::Validate { manifest } => {
            let m = load(manifest)?;
            for path in pincore_deploy::release::check_paths(&m)? {
                eprintln!(
                    "note: {} does not exist yet: build it before plan or apply",
                    path.display()
                );
            }
            let parts =
                |path: &std::path::Path, deb: Option<&pincore_deploy::manifest::DebInfo>| match deb
                {
                    Some(d) => format!(
                        "{} ({} {} {})",
                        path.display(),
                        d.package,
                        d.version,
                        d.architecture
                    ),
                    None => path.display().to_string(),
                };
            let packages = m.release.packages.as_ref();
            println!(
                "{}: valid: {} host(s) in {} group(s), profile {}, release from {} and {}",
                manifest.display(),
                m.hosts.len(),
                m.groups.len(),
                m.profile.name,
                parts(&m.release.server, packages.map(|p| &p.server)),
                parts(&m.release.tuner, packages.map(|p| &p.tuner)),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { manifest, hosts } => {
            let m = load(manifest)?;
            let (release, fleet) = rollout::prepare(&m, hosts, m.health_url())?;
            let planned = fleet.plan(&release)?;
            let preflight = fleet.preflight(&release, &planned);
            for (host, severity, line) in preflight.findings() {
                let kind = match severity {
                    Severity::Fatal => "preflight",
                    Severity::Warning => "preflight warning",
                };
                eprintln!("host {host}: {kind}: {line}");
            }
            let ok = preflight.passed();
            let plans: Vec<_> = planned.into_iter().map(|(p, _)| p).collect();
            if cli.json {
                print_json(&plans);
            } else {
                print!("{}", report::plan(&plans));
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                exit::code(exit::FAILURE)
            })
        }
        Command::Apply { manifest, hosts } => {
            let m = load(manifest)?;
            let (release, fleet) = rollout::prepare(&m, hosts, m.health_url())?;
            eprintln!("release {} to {} host(s)", release.id, fleet.targets.len());
            let summary = rollout::apply(&fleet, &release, &m.rollout, &progress)?;
            finish(cli, &summary)
        }
        Command::Rollback { manifest, hosts } => {
            let m = load(manifest)?;
            let (_, fleet) = rollout::prepare(&m, hosts, m.health_url())?;
            let summary = rollout::rollback(&fleet, &m.rollout, &progress)?;
            finish(cli, &summary)
        }
        Command::Render {
            manifest,
            format,
            out,
        } => {
            let m = load(manifest)?;
            for path in render::render(&m, *format, out)? {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { manifest, hosts } => {
            let m = load(manifest)?;
            let (release, fleet) = rollout::prepare(&m, hosts, m.health_url())?;
            let status = rollout::status(&fleet, &release)?;
            if cli.json {
                print_json(&status);
            } else {
                print!("{}", report::status(&status));
            }
            let ok = status.iter().all(|h| h.drift.is_empty() && h.healthy);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                exit::code(exit::FAILURE)
            })
        }
    }
}

/// Loads the manifest, and says on stderr which certificates expire soon (`server.tls.expiry_warning_days`).
fn load(path: &std::path::Path) -> Result<Manifest, Error> {
    let m = Manifest::load(path)?;
    for warning in m.tls.iter().flat_map(|t| &t.warnings) {
        eprintln!("warning: {warning}");
    }
    Ok(m)
}

fn finish(cli: &Cli, summary: &rollout::Summary) -> Result<ExitCode, Error> {
    if cli.json {
        print_json(summary);
    } else {
        print!("{}", report::summary(summary));
    }
    Ok(if summary.failed() > 0 || summary.stopped {
        exit::code(exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}
