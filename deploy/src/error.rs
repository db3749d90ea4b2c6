//! The one error type of pincore-deploy: every message says what failed, on what (file and line, host, path)
//! and what to do next.

use std::path::PathBuf;

/// Everything that can go wrong while validating, planning, applying or rendering a deployment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest (or a file it names) is invalid; nothing has been touched.
    #[error("{file}:{line}:{column}: {message}")]
    Manifest {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// A local file named by the user (the manifest, a release binary) is not a regular file of sane size, or
    /// could not be read.
    #[error(transparent)]
    Input(#[from] pincore_tuner::input::InputError),

    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A host could not be reached at all (ssh exit status 255, or the command could not start).
    #[error("host {host}: unreachable: {detail}\n  check that `ssh` reaches it with the manifest's user, port, identity and options")]
    Unreachable { host: String, detail: String },

    /// A step on a host failed; the message names the step and carries the host's stderr.
    #[error("host {host}: {step} failed: {detail}")]
    Step {
        host: String,
        step: String,
        detail: String,
    },

    /// Preflight found hosts the server cannot run on; nothing has been touched.
    #[error("preflight failed, nothing was changed:{problems}")]
    Preflight { problems: String },

    /// A render target could not be produced.
    #[error("render {format}: {detail}")]
    Render { format: String, detail: String },
}

impl Error {
    /// Shorthand for an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for a failed step on `host`.
    pub fn step(host: &str, step: &str, detail: impl Into<String>) -> Error {
        Error::Step {
            host: host.to_string(),
            step: step.to_string(),
            detail: detail.into(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
