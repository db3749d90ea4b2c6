//! The workflows built on the engine: `compare` (pincore-server beside its peers) and `tuned` (before and
//! after a profile), with the server launcher, CPU-time accounting, charts and the machine description.

pub mod chart;
pub mod child;
pub mod compare;
pub mod cputime;
pub mod echo_server;
pub mod launch;
pub mod machine;
pub mod redis_benchmark;
pub mod summary;
pub mod tuned;
