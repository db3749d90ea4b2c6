//! Logging through `tracing`, text or JSON, with a level that SIGHUP can change on every shard.

use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Registry;

use crate::config::{LogConfig, LogFormat, LogLevel};
use crate::error::ServerError;

/// Changes the log level of the running process (one filter shared by every shard's thread).
#[derive(Clone)]
pub struct LogLevelHandle {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    /// `RUST_LOG` was set at start-up: it wins over the configured level, also across reloads.
    env_override: bool,
}

fn filter_for(level: LogLevel) -> EnvFilter {
    EnvFilter::new(level.as_str())
}

/// Installs the global subscriber: `config.level` (or `RUST_LOG` when set), in `config.format`, on stderr.
pub fn init(config: &LogConfig) -> Result<LogLevelHandle, ServerError> {
    let (filter, env_override) =
        pincore_cli::logging::filter(config.level.as_str()).map_err(ServerError::Logging)?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let installed = match config.format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
    };
    installed.map_err(|e| ServerError::Logging(e.to_string()))?;
    Ok(LogLevelHandle {
        handle: Some(handle),
        env_override,
    })
}

impl LogLevelHandle {
    /// A handle that changes nothing (library use without a subscriber of ours).
    pub fn detached() -> LogLevelHandle {
        LogLevelHandle {
            handle: None,
            env_override: false,
        }
    }

    /// Applies `level` unless `RUST_LOG` overrides the configured level.
    pub fn set(&self, level: LogLevel) {
        if self.env_override {
            tracing::info!(
                level = level.as_str(),
                "RUST_LOG is set and overrides log.level; level unchanged"
            );
            return;
        }
        if let Some(handle) = &self.handle {
            if let Err(e) = handle.reload(filter_for(level)) {
                tracing::warn!(error = %e, "could not change the log level");
            }
        }
    }
}
