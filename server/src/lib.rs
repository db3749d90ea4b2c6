//! pincore-server: a thread-per-core TCP server framework on glommio (io_uring), and the server built on it
//! with a Redis-protocol key-value store, a byte echo service and an HTTP admin endpoint with Prometheus
//! metrics.
//!
//! One shard runs pinned on each allowed CPU, with its own SO_REUSEPORT listener per service. Write a
//! service against [`framework`] (the API boundary) and register it with a [`framework::Server`]; the
//! built-in services in [`builtin`] are written the same way. See ARCHITECTURE.md for the code map.
//!
//! Other crates use [`config::Config::from_yaml`] to validate a configuration without starting anything.

pub mod builtin;
pub mod config;
mod control;
pub mod error;
pub mod framework;
pub mod handoff;
mod linger;
pub mod listener;
pub mod logging;
pub mod mesh;
pub mod metrics;
pub mod nic;
pub mod placement;
pub mod preflight;
pub mod shard;
pub mod tls;

pub use builtin::{serve, serve_from, Start};
pub use config::{Config, ConfigError};
pub use error::ServerError;
pub use framework::{Options, Server};
