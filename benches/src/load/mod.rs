//! The load engine: client threads with their own epoll loops, connections, request framing per protocol,
//! latency histograms, and the one report behind the table and `--json`.

pub mod connection;
pub mod generator;
pub mod latency;
pub mod progress;
pub mod report;
pub mod spec;
pub mod timer;
pub mod workload;
