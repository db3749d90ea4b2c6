//! pincore-top: a live terminal view of pincore servers and the host under them.
//!
//! Server data comes only from each server's `/metrics` over HTTP ([`scrape`], [`prom`]), so a remote server
//! works the same; kernel counters come only through pincore-tuner's doctor and NIC libraries ([`host`]),
//! under a root directory, so a fixture tree works the same as `/`. [`interval::Collector`] turns two
//! readings into an [`interval::Interval`] (plain data: rates, percentiles, findings), which the terminal
//! view ([`view`]) draws and `--once --json` prints.

pub mod host;
pub mod interval;
pub mod prom;
pub mod scrape;
pub mod shards;
pub mod view;

pub use interval::{Collector, Interval, Watch};
