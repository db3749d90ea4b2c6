//! pincore-bench: a load generator that does not hide stalls, a side-by-side comparison with the servers a
//! user would otherwise run, and the one-command tuned benchmark (before/after a tuning profile, inside a
//! throwaway network namespace).
//!
//! - [`load::generator::run`] drives a target with a [`load::spec::LoadSpec`]: closed loop (connections ×
//!   pipeline requests in flight) or open loop (`rate` requests/s, latency measured from each request's
//!   intended send time, so a stall shows in the percentiles instead of slowing the client down).
//! - [`workflows::compare::run`] starts pincore-server and its peers on loopback and alternates identical runs.
//! - [`workflows::tuned::run`] runs port exhaustion, a connection storm, bulk transfer and latency behind a
//!   bottleneck with the defaults and after `pincore-tuner apply`, over a veth path between two network
//!   namespaces it creates and always deletes.

pub mod error;
pub mod host;
pub mod load;
pub mod scenarios;
pub mod workflows;

pub use error::{BenchError, Result};
