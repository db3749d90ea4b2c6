//! The runs `tuned` starts as child processes where the server is (`ip netns exec NS pincore-bench child`).
//! The parent builds the spec and passes it as JSON in one environment variable, so the child runs exactly
//! that spec: no command line is written out only to be parsed back, and a new spec field cannot be
//! forgotten on the way.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::load::progress;
use crate::load::spec::LoadSpec;
use crate::scenarios::bulk::{self, BulkSpec};
use crate::scenarios::churn::{self, ChurnSpec};
use crate::scenarios::storm::{self, StormSpec};
use crate::workflows::launch;

/// The environment variable that carries a child's spec.
pub const SPEC_ENV: &str = "PINCORE_BENCH_CHILD_SPEC";

/// The hidden subcommand that runs a spec from [`SPEC_ENV`].
pub const SUBCOMMAND: &str = "child";

/// One run in a child process; what it prints on stdout is the parent's to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "run", rename_all = "kebab-case")]
pub enum ChildRun {
    /// A connection storm; prints its `StormReport` as JSON.
    Storm(StormSpec),
    /// Connection churn; prints its `ChurnReport` as JSON.
    Churn(ChurnSpec),
    /// Bulk transfer; prints its `BulkReport` as JSON.
    Bulk(BulkSpec),
    /// A load run without progress line; prints its `RunReport` as JSON.
    Load(LoadSpec),
    /// Waits for pincore-server's `/readyz`; prints nothing.
    WaitReady {
        admin: SocketAddr,
        timeout: Duration,
    },
}

impl ChildRun {
    /// The command that runs this spec with executable `me`, inside `netns` if given.
    pub fn command(&self, netns: Option<&str>, me: &Path) -> Result<Command> {
        let json = serde_json::to_string(self)
            .map_err(|e| BenchError::failed("child run spec", e.to_string()))?;
        let mut c = launch::command_in(netns, me);
        c.arg(SUBCOMMAND).env(SPEC_ENV, json);
        Ok(c)
    }

    /// The spec this process was started with.
    pub fn from_env() -> Result<ChildRun> {
        let text = std::env::var(SPEC_ENV).map_err(|_| {
            BenchError::invalid(
                SPEC_ENV,
                format!("is not set: `pincore-bench {SUBCOMMAND}` runs only as a child of `pincore-bench tuned`"),
            )
        })?;
        Self::parse(&text)
    }

    /// Reads a spec from its JSON form.
    pub fn parse(text: &str) -> Result<ChildRun> {
        serde_json::from_str(text).map_err(|e| BenchError::invalid(SPEC_ENV, e.to_string()))
    }

    /// Runs the spec and returns what the child prints.
    pub fn run(&self, stop: &AtomicBool) -> Result<String> {
        match self {
            ChildRun::Storm(spec) => to_json(&storm::run(spec, stop)?),
            ChildRun::Churn(spec) => to_json(&churn::run(spec, stop)?),
            ChildRun::Bulk(spec) => to_json(&bulk::run(spec, stop)?),
            ChildRun::Load(spec) => to_json(&progress::run_with_progress(spec, stop, false)?),
            ChildRun::WaitReady { admin, timeout } => {
                launch::wait_ready(*admin, *timeout, stop).map(|()| String::new())
            }
        }
    }
}

fn to_json(value: &impl Serialize) -> Result<String> {
    Ok(pincore_cli::output::json(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_the_trip_through_json() {
        let run = ChildRun::Churn(ChurnSpec {
            target: "127.0.0.1:7000".parse().unwrap(),
            threads: 3,
            duration: Duration::from_millis(1500),
            timeout: Duration::from_secs(2),
        });
        let cmd = run
            .command(Some("pincore-test"), Path::new("/bin/pincore-bench"))
            .unwrap();
        let (_, json) = cmd.get_envs().find(|(k, _)| *k == SPEC_ENV).unwrap();
        match ChildRun::parse(json.unwrap().to_str().unwrap()).unwrap() {
            ChildRun::Churn(back) => {
                assert_eq!(back.target.port(), 7000);
                assert_eq!(back.threads, 3);
                assert_eq!(back.duration, Duration::from_millis(1500));
            }
            other => panic!("came back as {other:?}"),
        }
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "netns",
                "exec",
                "pincore-test",
                "/bin/pincore-bench",
                SUBCOMMAND
            ]
        );
    }

    #[test]
    fn a_bad_spec_names_the_variable() {
        let e = ChildRun::parse(r#"{"run":"nope"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains(SPEC_ENV), "{e}");
    }
}
