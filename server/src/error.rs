//! The one error type of pincore-server.

use std::net::SocketAddr;

/// Everything that can stop the server from starting or a configuration from being accepted.
///
/// Every message names what failed and on what (file, line, column, key, address) and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration text is not valid: YAML syntax, an unknown key, a wrong type or a value out of range.
    #[error("{origin}{}: {message}", location(*.line, *.column))]
    Config {
        /// Where the text came from: a file path, or `<embedded default>`.
        origin: String,
        /// 1-based line of the offending text, when known.
        line: Option<usize>,
        /// 1-based column of the offending text, when known.
        column: Option<usize>,
        message: String,
    },
    /// The configuration file could not be read: missing, not a regular file, too large, not UTF-8.
    #[error("cannot read config file {0}")]
    ReadConfig(#[from] pincore_tuner::input::InputError),
    /// A service's TLS files cannot be used: missing, unreadable, not PEM, or a key that is not the
    /// certificate's.
    #[error("services.{service}.tls.{key}: {message}")]
    Tls {
        service: String,
        /// `cert`, `key` or `client_ca`.
        key: &'static str,
        /// Starts with the file's path.
        message: String,
    },
    /// No CPU is left to run a shard on.
    #[error("no CPU to run a shard on: the process may use CPUs [{allowed}] and the configuration asks for [{requested}]; pick CPUs from the allowed set (`taskset -p $$` shows it)")]
    NoCpus { allowed: String, requested: String },
    /// The device named by `shards.nic.device` cannot be read.
    #[error("shards.nic.device {device:?}: {message}; devices on this host: [{existing}]; fix shards.nic.device or remove shards.nic")]
    NicDevice {
        device: String,
        message: String,
        existing: String,
    },
    /// `shards.nic` leaves no CPU to run a shard on.
    #[error("no CPU to run a shard on with shards.nic mode {mode} for {device}: its queue interrupts go to CPUs [{irq_cpus}], the shards may use CPUs [{allowed}]; {fix}")]
    NicNoCpus {
        device: String,
        mode: String,
        irq_cpus: String,
        allowed: String,
        fix: String,
    },
    /// Reading the process's CPU affinity mask failed.
    #[error("cannot read the process CPU affinity mask: {0}")]
    Affinity(String),
    /// A listening socket could not be created.
    #[error("cannot listen on {addr} for the {service} service: {source} (is another process using the port? change services.{service}.listen)")]
    Listen {
        service: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A start-up check found a condition the server cannot run under.
    #[error("preflight: {what}; fix: {fix}")]
    Preflight { what: String, fix: String },
    /// The glommio executors could not be started or failed.
    #[error("shard executor failed: {0} (see the preflight findings logged above)")]
    Executor(String),
    /// Persistence of the RESP keyspace: an unusable snapshot directory, a snapshot that cannot be loaded,
    /// or the snapshot at shutdown failed (the message names the path and what to do).
    #[error("{0}")]
    Persistence(String),
    /// The logging subscriber could not be installed.
    #[error("cannot set up logging: {0}")]
    Logging(String),
    /// Taking over the listeners of a running server (`--upgrade-from`) failed or was refused.
    #[error("handoff from {0}; the running server keeps serving")]
    Handoff(String),
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}
