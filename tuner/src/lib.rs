//! pincore-tuner: kernel TCP tuning from YAML profiles, as plan → apply → verify → rollback.
//!
//! The library is shared: pincore-server's start-up preflight reads sysctls through [`sysctl`], and
//! pincore-deploy parses profiles with it, so nothing is parsed or read twice.

pub mod doctor;
pub mod sysctl;
