//! The framework: write a TCP service, register it with a [`Server`], and the engine runs it on one pinned
//! shard per CPU with everything `pincore-server` has — SO_REUSEPORT listeners with a configurable backlog,
//! admission limits per shard and per address, preflight checks, sd_notify, live reload on SIGHUP, drain on
//! SIGTERM, metrics at `/metrics` (with the admin service), panic containment and stall detection.
//!
//! This module is the API boundary: the built-in services (`crate::builtin`) use nothing else, as a user's
//! service would. A service implements [`Service`]; each shard builds one instance of it and calls
//! [`Service::serve`] for every accepted [`Connection`]. Through its [`Context`] it reads its own typed
//! [`Settings`] (`services.<name>.settings`), sends jobs to other shards ([`Context::on_shard`],
//! [`Context::on_owner`], [`Context::on_every_shard`]), uses the blocking pool and registers metrics.
//! See `server/examples/` for one idea per page.

mod accept;
mod buffer;
pub(crate) mod catalog;
mod deadline;
mod erased;
mod server;
pub(crate) mod service;
pub(crate) mod settings;
pub(crate) mod stall;
mod stream;

pub use buffer::InputBuffer;
pub use catalog::AdmissionClass;
pub use deadline::ReadDeadline;
pub use server::{Options, Server};
pub use service::{
    read_within, write_within, Connection, Context, ReadError, Service, Unavailable,
};
pub use settings::Settings;
pub use stream::Stream;

pub use crate::config::Config;
pub use crate::control::Refused;
pub use crate::metrics::{Counter, Histogram, ServiceSnapshot, ShardSnapshot};
