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

pub mod chart;
pub mod churn;
pub mod compare;
pub mod connection;
pub mod cpus;
pub mod cputime;
pub mod duration;
pub mod echo_server;
pub mod error;
pub mod generator;
pub mod interrupt;
pub mod latency;
pub mod launch;
pub mod machine;
pub mod netns;
pub mod netstat;
pub mod progress;
pub mod report;
pub mod storm;
pub mod timer;
pub mod tuned;
pub mod workload;

pub use error::{BenchError, Result};
