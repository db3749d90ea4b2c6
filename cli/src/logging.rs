//! Logging set-up for the command-line tools: `tracing` to stderr at warn, `-v` info, `-vv` debug, and
//! `RUST_LOG` (an `EnvFilter` directive) over both.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The level `-v` repeated `verbose` times asks for.
pub fn level(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    }
}

/// `RUST_LOG` when set and valid, else `default` (a level or directive). The flag says whether `RUST_LOG`
/// decided, so a caller with its own level setting (the server's config) knows not to override it.
pub fn filter(default: &str) -> Result<(EnvFilter, bool), String> {
    match std::env::var_os("RUST_LOG") {
        Some(_) => EnvFilter::try_from_default_env()
            .map(|f| (f, true))
            .map_err(|e| format!("RUST_LOG: {e}")),
        None => Ok((EnvFilter::new(default), false)),
    }
}

/// Installs the global subscriber for a tool run with `-v` repeated `verbose` times: stderr (stdout is
/// for tables and JSON), colour only on a terminal. An invalid `RUST_LOG` is reported and the `-v` level used.
pub fn init(verbose: u8) {
    let filter = filter(level(verbose)).unwrap_or_else(|e| {
        eprintln!("warning: {e}; logging at {}", level(verbose));
        (EnvFilter::new(level(verbose)), false)
    });
    // A subscriber already installed (a test harness) keeps its place.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter.0)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_shows_more() {
        assert_eq!(level(0), "warn");
        assert_eq!(level(1), "info");
        assert_eq!(level(2), "debug");
        assert_eq!(level(9), "debug");
    }
}
