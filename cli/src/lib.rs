//! pincore-cli: what every pincore binary shares, so the four tools read the same words the same way and
//! answer in the same shape.
//!
//! - [`dist`]: `--version` with the build's commit; man pages and shell completions for packages.
//! - [`duration`]: the one grammar for durations (`1.5s`, `250ms`, `2m`, `100us`), on command lines and in
//!   files alike.
//! - [`logging`]: `-v`/`-vv` and `RUST_LOG` to stderr.
//! - [`table`] and [`output`]: aligned tables for people, `--json` for machines, from the same value.
//! - [`exit`]: the exit-code conventions.
//! - [`position`]: `file:line:col: message` for errors in YAML files, with a did-you-mean for unknown keys.
//! - [`port`]: loopback ports for servers a tool starts, outside the kernel's ephemeral range.
//! - [`suggest`]: "did you mean" for mistyped names (profiles, sysctl keys, configuration keys).
//!
//! This crate is a leaf: it knows nothing of profiles, manifests, servers or load runs, and depends on no
//! other pincore crate.

pub mod dist;
pub mod duration;
pub mod exit;
pub mod logging;
pub mod output;
pub mod port;
pub mod position;
pub mod suggest;
pub mod table;
