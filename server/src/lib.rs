//! pincore-server: a thread-per-core server on glommio (io_uring) with a Redis-protocol key-value store, a
//! byte echo service and an HTTP admin endpoint with Prometheus metrics.
//!
//! One shard runs pinned on each allowed CPU, with its own SO_REUSEPORT listener per service. Each shard serves
//! its own connections from one keyspace split into independently locked parts, so no request crosses to
//! another thread; glommio's channel mesh carries control and metrics only. See ARCHITECTURE.md for the code map.
//!
//! Other crates use [`config::Config::from_yaml`] to validate a configuration without starting anything.

pub mod command;
pub mod config;
mod control;
pub mod error;
pub mod keyspace;
pub mod kv;
pub mod listener;
pub mod logging;
pub mod mesh;
pub mod metrics;
pub mod nic;
pub mod placement;
pub mod preflight;
mod server;
mod service;
pub mod shard;
pub mod store;

pub use config::{Config, ConfigError};
pub use error::ServerError;
pub use server::{serve, Options};
