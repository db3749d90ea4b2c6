//! The exit codes every pincore binary keeps to, so a script can tell "it ran and found something" from "it
//! could not run" from "you asked for something invalid" without knowing which tool it called. Each binary
//! says in its `--help` (and README) what the codes mean for its own commands.

use std::process::ExitCode;

/// Done; for checks (verify, status, doctor): nothing to report.
pub const OK: u8 = 0;
/// A runtime failure, or a check that found something (drift, findings, a failed host).
pub const FAILURE: u8 = 1;
/// Bad input: the command line, a configuration, a profile or a manifest is invalid, or a file it names
/// cannot be read. Nothing was changed.
pub const USAGE: u8 = 2;
/// Partial or refused: work stopped part way and could not be fully undone, or a host refused or could not
/// be reached before anything started.
pub const PARTIAL: u8 = 3;
/// Stopped by SIGINT or SIGTERM after cleaning up (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// The process exit code for one of the codes above.
pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}

#[cfg(test)]
mod tests {
    // clap exits with 2 on a bad command line: USAGE must agree.
    #[test]
    fn usage_is_what_clap_uses() {
        assert_eq!(super::USAGE as i32, 2);
        assert_ne!(super::FAILURE, super::USAGE);
        assert_ne!(super::USAGE, super::PARTIAL);
    }
}
