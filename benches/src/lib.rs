//! pincore-bench: a load generator that does not hide stalls, a side-by-side comparison with the servers a
//! user would otherwise run, and the one-command tuned benchmark (before/after a tuning profile, inside a
//! throwaway network namespace).
//!
//! - [`generator::run`] drives a target with a [`generator::LoadSpec`]: closed loop (connections ×
//!   pipeline requests in flight) or open loop (`rate` requests/s, latency measured from each request's
//!   intended send time, so a stall shows in the percentiles instead of slowing the client down).
//! - [`compare::run`] starts pincore-server and its peers on loopback and alternates identical runs.
//! - [`tuned::run`] measures a connection storm, connection churn and a steady RESP run before and after
//!   `pincore-tuner apply`, inside a network namespace it creates and always deletes.

/// The load engine: client threads with their own epoll loops, connections, request framing per protocol,
/// latency histograms, and the one report behind the table and `--json`.
pub mod load {
    pub mod connection;
    pub mod generator;
    pub mod latency;
    pub mod progress;
    pub mod report;
    pub mod timer;
    pub mod workload;
}

/// The connection scenarios the tuned benchmark measures (storm, churn), with the kernel counters they report.
pub mod scenarios {
    pub mod churn;
    pub mod netstat;
    pub mod storm;
}

/// The workflows built on the engine: `compare` (pincore-server beside its peers) and `tuned` (before and
/// after a profile), with the server launcher, CPU-time accounting, charts and the machine description.
pub mod workflows {
    pub mod chart;
    pub mod compare;
    pub mod cputime;
    pub mod echo_server;
    pub mod launch;
    pub mod machine;
    pub mod tuned;
}

/// What a run needs from the machine it runs on: CPUs to pin to, a throwaway namespace, Ctrl-C as a flag.
pub mod host {
    pub mod cpus;
    pub mod interrupt;
    pub mod netns;
}

pub mod duration;
pub mod error;

pub use host::{cpus, interrupt, netns};
pub use load::{connection, generator, latency, progress, report, timer, workload};
pub use scenarios::{churn, netstat, storm};
pub use workflows::{chart, compare, cputime, echo_server, launch, machine, tuned};

pub use error::{BenchError, Result};
