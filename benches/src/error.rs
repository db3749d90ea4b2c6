//! The crate's one error type: what failed, on what, and what to do next.

use std::io;
use std::path::PathBuf;

/// Everything pincore-bench can fail on.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A command-line value or setting that cannot work (exit code 2: nothing ran).
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    /// Something went wrong while running that is not the user's input: a thread panicked, a report
    /// could not be written, the kernel answered something unexpected.
    #[error("{what}: {message}")]
    Failed { what: String, message: String },
    /// An I/O failure on a named thing (a socket, a file, a child process).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A sibling binary (pincore-server, pincore-tuner, the tokio echo baseline) is not where it should be.
    #[error(
        "`{name}` not found at {}: build it with `cargo build --release --bin {name}` (the binaries of one \
         build sit side by side) or pass {flag} PATH",
        path.display()
    )]
    MissingBinary {
        name: String,
        path: PathBuf,
        flag: String,
    },
    /// A child process (a server, the tuner, `ip`, a scenario run inside the namespace) failed.
    #[error("{program} failed: {message}")]
    Process { program: String, message: String },
    /// A server did not become ready in time.
    #[error("{what} did not become ready within {seconds:.1} s: {message}")]
    NotReady {
        what: String,
        seconds: f64,
        message: String,
    },
    /// Every connect of a load run failed: nothing was measured.
    #[error("no connection to {target} succeeded ({attempts} attempts): {error}; is the server listening there?")]
    Unreachable {
        target: String,
        attempts: u64,
        error: String,
    },
    /// Ctrl-C or SIGTERM: the run stopped early and cleaned up.
    #[error("interrupted (Ctrl-C or SIGTERM); everything started was stopped and removed")]
    Interrupted,
    /// Writing the SVG chart failed.
    #[error("chart {}: {message}", path.display())]
    Chart { path: PathBuf, message: String },
}

impl BenchError {
    /// An [`BenchError::Io`] naming `what` failed.
    pub fn io(what: impl Into<String>, source: io::Error) -> BenchError {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }

    /// A [`BenchError::Failed`] run step.
    pub fn failed(what: impl Into<String>, message: impl Into<String>) -> BenchError {
        BenchError::Failed {
            what: what.into(),
            message: message.into(),
        }
    }

    /// An [`BenchError::Invalid`] setting.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> BenchError {
        BenchError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Result with [`BenchError`].
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
