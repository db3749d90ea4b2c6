//! pincore-tuner: kernel TCP tuning from YAML profiles, as plan → apply → verify → rollback.
//!
//! The library is shared: pincore-server's start-up preflight reads sysctls through [`sysctl`], and
//! pincore-deploy and pincore-bench load profiles with [`profile::ProfileLibrary`] and render the sysctl.d
//! drop-in with [`persist::render_dropin`], so nothing is parsed or read twice.

pub mod doctor;
pub mod error;
pub mod plan;
pub mod profile;
pub mod sysctl;

pub use error::{Error, Location, Result};
pub use plan::{plan, Action, Change, Observed, Plan};
pub use profile::{FlatEntry, FlatProfile, Op, Profile, ProfileLibrary, Target};
