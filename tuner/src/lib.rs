//! pincore-tuner: kernel TCP tuning from YAML profiles, as plan → apply → verify → rollback.
//!
//! The library is shared: pincore-server's start-up preflight reads sysctls through [`sysctl`], and
//! pincore-deploy and pincore-bench load profiles with [`ProfileLibrary`] and render the sysctl.d drop-in
//! with [`persist::render_dropin`], so nothing is parsed or read twice.
//!
//! ```no_run
//! use pincore_tuner::{persist, ProfileLibrary};
//! let library = ProfileLibrary::new("/etc/pincore/profiles");
//! let profile = library.flatten("connections")?; // resolves includes, validates
//! let dropin = persist::render_dropin(&profile);
//! # Ok::<(), pincore_tuner::Error>(())
//! ```

pub mod apply;
pub mod atomic;
pub mod cpuset;
pub mod doctor;
pub mod error;
pub mod host;
pub mod input;
pub mod nesting;
pub mod netns;
pub mod nic;
pub mod persist;
pub mod plan;
pub mod preflight;
pub mod profile;
pub mod report;
pub mod setting;
pub mod state;
pub mod sysctl;
mod trust;
pub mod tuned;
pub mod tuner;

pub use error::{Error, Location, Result};
pub use plan::{plan, Change, Plan};
pub use profile::{FlatEntry, FlatProfile, Op, Profile, ProfileLibrary, Target};
pub use setting::{Action, Observed};
pub use tuner::{Options, Tuner};
