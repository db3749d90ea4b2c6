//! pincore-tuner: parse arguments, enter the network namespace if asked, run one command, map the outcome
//! to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pincore_cli::duration::parse_duration;
use pincore_cli::exit;
use pincore_tuner::doctor::{self, Advice, Sampling};
use pincore_tuner::netns::Namespace;
use pincore_tuner::nic::{self, CpuSet, NicRequest};
use pincore_tuner::report::{self, Human, ProfileList};
use pincore_tuner::{Error, Options, Tuner};

const EXIT_CODES: &str = "Exit codes:
  0  success (verify, nic verify: the live kernel matches; doctor: healthy)
  1  verify or nic verify found drift; doctor has findings
  2  error: bad profile or arguments, unreadable file,
     or an apply that failed and was fully restored
  3  an apply or rollback failed and could not restore everything:
     the state file is kept; fix the cause and run rollback (or nic rollback)";

/// Plan, apply, verify, roll back and persist kernel TCP tuning (sysctls) from YAML profiles.
#[derive(Parser)]
#[command(name = "pincore-tuner", version = pincore_cli::dist::VERSION, after_help = EXIT_CODES)]
struct Cli {
    /// Prefix for /proc, /sys, /etc and /var/lib (a fixture tree instead of the live host).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Act inside the network namespace /run/netns/NAME (as `ip netns` names it).
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,
    /// Directory of user profiles (NAME.yaml) [default: ROOT/etc/pincore/profiles].
    #[arg(long, global = true, value_name = "DIR")]
    profile_dir: Option<PathBuf>,
    /// Where apply records previous values for rollback; it must be writable by root only
    /// [default: ROOT/var/lib/pincore-tuner].
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Where --persist writes its drop-in [default: ROOT/etc/sysctl.d].
    #[arg(long, global = true, value_name = "DIR")]
    sysctl_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List built-in and user profiles.
    Profiles,
    /// Show a profile flattened after inheritance, each key with the profile it came from.
    Show { profile: String },
    /// What applying a profile would change on this host. Reads only.
    Plan { profile: String },
    /// Record the previous values, then write what differs and read it back; restore on any failure.
    Apply {
        profile: String,
        /// Also write ROOT/etc/sysctl.d/60-pincore-PROFILE.conf so the values survive a reboot.
        #[arg(long)]
        persist: bool,
        /// Move the profile's NIC interrupts even though irqbalance is running (after banning them there).
        #[arg(long)]
        allow_irqbalance: bool,
    },
    /// Exit 0 if the live kernel matches the profile, 1 on drift (listing each key), 2 on error.
    Verify { profile: String },
    /// Sample kernel counters twice and turn what grew into advice: exit 0 healthy, 1 findings, 2 error.
    Doctor {
        /// Time between the two samples (5s, 500ms, 1m).
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        interval: Duration,
        /// Read the second sample from this recorded tree instead of re-reading --root after the interval
        /// (the interval then only labels the deltas).
        #[arg(long, value_name = "DIR")]
        after: Option<PathBuf>,
    },
    /// Restore the values recorded by apply and remove the persisted drop-in. Harmless to repeat.
    Rollback,
    /// Place one network device's interrupts and RPS/RFS/XPS on chosen CPUs (plan, apply, verify, rollback).
    Nic {
        #[command(subcommand)]
        action: NicAction,
    },
    /// Convert a tuned profile (tuned.conf) to a pincore YAML profile, listing what it could not convert.
    ImportTuned {
        file: PathBuf,
        /// Profile name [default: the tuned profile's directory name].
        #[arg(long)]
        name: Option<String>,
        /// Write the YAML here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum NicAction {
    /// What apply would write for the device. Reads only.
    Plan(NicArgs),
    /// Record the previous values, write what differs and read it back; restore on any failure.
    Apply {
        #[command(flatten)]
        nic: NicArgs,
        /// Move interrupts even though irqbalance is running (after banning them in irqbalance).
        #[arg(long)]
        allow_irqbalance: bool,
    },
    /// Exit 0 if the device matches the placement, 1 on drift, 2 on error.
    Verify(NicArgs),
    /// Restore the values recorded by `nic apply`. Harmless to repeat.
    Rollback,
}

#[derive(clap::Args)]
struct NicArgs {
    /// The network device, as `ip link` names it.
    #[arg(long, value_name = "DEV")]
    dev: String,
    /// CPUs that serve the queues, such as 8-15 or 0,2,4 [default: the device's NUMA-local CPUs].
    #[arg(long, value_name = "LIST")]
    cpus: Option<CpuSet>,
    /// Leave RPS (software receive steering) alone.
    #[arg(long)]
    no_rps: bool,
    /// Also set RFS (net.core.rps_sock_flow_entries and each queue's rps_flow_cnt).
    #[arg(long)]
    rfs: bool,
    /// Leave XPS (transmit queue selection) alone.
    #[arg(long)]
    no_xps: bool,
}

impl NicArgs {
    fn request(&self) -> NicRequest {
        NicRequest {
            device: self.dev.clone(),
            cpus: self.cpus.clone(),
            rps: !self.no_rps,
            rfs: self.rfs,
            xps: !self.no_xps,
        }
    }
}

fn main() -> ExitCode {
    pincore_cli::dist::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    // setns moves only the calling thread, so it happens before anything could start a thread.
    let touches_kernel = matches!(
        cli.command,
        Command::Plan { .. }
            | Command::Apply { .. }
            | Command::Verify { .. }
            | Command::Rollback
            | Command::Doctor { .. }
            | Command::Nic { .. }
    );
    let namespace = match (&cli.netns, touches_kernel) {
        (Some(name), true) => match Namespace::enter(name) {
            Ok(ns) => Some(ns),
            Err(e) => return fail(&e),
        },
        // A fixture tree under --root is not the kernel of the namespace the process happens to run in.
        (None, true) if cli.root == std::path::Path::new("/") => Namespace::inherited(),
        _ => None,
    };
    // After setns, /sys still shows the host's devices: give the process the namespace's own sysfs (NIC
    // settings, from `nic` or a profile's `nic:` section, live there). A namespace the process started in
    // (`ip netns exec`, a container) already has its own sysfs mounted.
    if let (Some(name), Some(_)) = (&cli.netns, &namespace) {
        if cli.root == std::path::Path::new("/") && !matches!(cli.command, Command::Doctor { .. }) {
            if let Err(e) = nic::use_namespace_sysfs(name) {
                return fail(&e);
            }
        }
    }
    pincore_cli::logging::init(cli.verbose);
    let options = Options {
        root: cli.root.clone(),
        profile_dir: cli.profile_dir.clone(),
        state_dir: cli.state_dir.clone(),
        sysctl_dir: cli.sysctl_dir.clone(),
    };
    let allow_irqbalance = matches!(
        cli.command,
        Command::Apply {
            allow_irqbalance: true,
            ..
        }
    );
    let tuner = Tuner::new(options, namespace).allow_irqbalance(allow_irqbalance);
    match run(&cli, &tuner) {
        Ok(code) => code,
        Err(e) => {
            if cli.json {
                // Machines reading stdout get the error too, in the same stable shape.
                println!(
                    "{}",
                    serde_json::json!({ "error": e.to_string(), "exit_code": exit_code(&e) })
                );
            }
            fail(&e)
        }
    }
}

/// One library call per command; returns the exit code for outcomes that are not errors.
fn run(cli: &Cli, tuner: &Tuner) -> Result<ExitCode, Error> {
    let colour = pincore_cli::output::colour_on_stdout();
    let print = |out: &dyn Fn() -> String| print!("{}", out());
    match &cli.command {
        Command::Profiles => {
            let list = ProfileList(tuner.profiles()?);
            print(&|| report::render(&list, cli.json, colour));
        }
        Command::Show { profile } => {
            let flat = tuner.show(profile)?;
            print(&|| report::render(&flat, cli.json, colour));
        }
        Command::Plan { profile } => {
            let plan = tuner.plan(profile)?;
            print(&|| report::render(&plan, cli.json, colour));
        }
        Command::Apply {
            profile, persist, ..
        } => {
            let applied = tuner.apply(profile, *persist)?;
            print(&|| report::render(&applied, cli.json, colour));
        }
        Command::Verify { profile } => {
            let v = tuner.verify(profile)?;
            print(&|| report::render(&v, cli.json, colour));
            if !v.in_sync {
                return Ok(exit::code(exit::FAILURE));
            }
        }
        Command::Doctor { interval, after } => {
            let sampling = match after {
                Some(after) => Sampling::Recorded {
                    before: cli.root.clone(),
                    after: after.clone(),
                    interval: *interval,
                },
                None => Sampling::Interval {
                    live: doctor::is_live_root(&cli.root),
                    root: cli.root.clone(),
                    interval: *interval,
                },
            };
            let report = doctor::examine(&sampling, &Advice::from_builtin_profiles()?)?;
            print(&|| report::render(&report, cli.json, colour));
            if !report.healthy {
                return Ok(exit::code(exit::FAILURE));
            }
        }
        Command::Nic { action } => match action {
            NicAction::Plan(args) => {
                let plan = tuner.nic_plan(&args.request())?;
                print(&|| report::render(&plan, cli.json, colour));
            }
            NicAction::Apply {
                nic,
                allow_irqbalance,
            } => {
                let applied = tuner.nic_apply(&nic.request(), *allow_irqbalance)?;
                print(&|| report::render(&applied, cli.json, colour));
            }
            NicAction::Verify(args) => {
                let v = tuner.nic_verify(&args.request())?;
                print(&|| report::render(&v, cli.json, colour));
                if !v.in_sync {
                    return Ok(exit::code(exit::FAILURE));
                }
            }
            NicAction::Rollback => {
                let r = tuner.nic_rollback()?;
                print(&|| report::render(&r, cli.json, colour));
            }
        },
        Command::Rollback => {
            let r = tuner.rollback()?;
            print(&|| report::render(&r, cli.json, colour));
        }
        Command::ImportTuned { file, name, output } => {
            let import = tuner.import_tuned(file, name.as_deref())?;
            match output {
                Some(path) => std::fs::write(path, &import.yaml).map_err(|e| Error::Io {
                    what: "writing",
                    path: path.clone(),
                    source: e,
                })?,
                None if cli.json => print(&|| report::render(&import, true, colour)),
                None => print(&|| import.human(colour)),
            }
            eprint!("{}", report::not_converted(&import));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(exit_code(e))
}

fn exit_code(e: &Error) -> u8 {
    if e.needs_rollback() {
        exit::PARTIAL
    } else {
        exit::USAGE
    }
}
