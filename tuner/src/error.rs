//! The crate's one error type: every message says what failed, on what, and what to do next.

use std::path::PathBuf;

use crate::sysctl::SysctlError;

/// Everything the tuner can fail on. Profile errors carry file, line and column when the YAML parser knows them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sysctl(#[from] SysctlError),

    /// A file named by the user that is not a regular file of sane size, or could not be read.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),

    /// A profile that does not parse or does not make sense (unknown field, wrong type, unknown op, bad key).
    #[error("{location}: {message}")]
    Profile { location: Location, message: String },

    #[error("{location}: include `{name}` not found: no built-in profile, no {name}.yaml in {searched}; check the name or add the file")]
    MissingInclude {
        location: Location,
        name: String,
        searched: String,
    },

    /// Profile keys this kernel does not have and that are not marked `optional: true`: typos, almost always.
    #[error("{}", unknown_keys(.0))]
    UnknownKeys(Vec<UnknownKey>),

    /// `--root` names a directory without `proc/sys`: every key would read as missing.
    #[error("{root} is not a /proc tree: there is no {root}/proc/sys. --root takes a directory laid out like `/` (with proc/sys/...), such as a fixture tree", root = .0.display())]
    NotAProcTree(PathBuf),

    #[error("{location}: include cycle {cycle}: remove one of these includes")]
    IncludeCycle { location: Location, cycle: String },

    #[error("profile `{name}` not found{suggestion}: it is not built in{}; `pincore-tuner profiles` lists what exists", match searched { Some(dir) => format!(" and there is no {name}.yaml in {dir}"), None => String::new() })]
    ProfileNotFound {
        name: String,
        /// The profile directory looked in, when there is one.
        searched: Option<String>,
        /// `" — did you mean `X`?"` or empty.
        suggestion: String,
    },

    #[error("{what} {path}: {source}{}", io_hint(source))]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("state file {path} is unreadable ({message}); inspect it, then remove it if the values it records no longer matter")]
    State { path: PathBuf, message: String },

    /// A state file or directory another user could have written: acting on it as root would let that user
    /// choose what root writes.
    #[error("{path} {reason}: pincore-tuner acts on its state as root and trusts it only when no other user could have written it. Check what it records, then make it root's own (`chown root:root {} && chmod go-w {}`), or keep the tuner's state in a directory only root can write (--state-dir; never the server's state directory)", path.display(), path.display())]
    Untrusted { path: PathBuf, reason: String },

    /// A state file naming settings or files that no apply of this tuner could have written.
    #[error("rollback refused {count} entr{} of state file {state} that no apply of pincore-tuner could have written ({refused}){}. Check the file (was it edited by hand, or tampered with?), then remove it", if *count == 1 { "y" } else { "ies" }, restored_note(*restored))]
    RollbackRefused {
        count: usize,
        refused: String,
        restored: usize,
        state: PathBuf,
    },

    #[error("{setting}: cannot apply: {reason}")]
    Unwritable { setting: String, reason: String },

    /// A write failed or read back wrong; everything this run changed was restored.
    #[error("apply failed at {setting} = {value:?}: {reason}. Every value this run changed was restored; nothing is left half-applied")]
    ApplyFailed {
        setting: String,
        value: String,
        reason: String,
    },

    /// A write failed and restoring the earlier values failed too: the state file is kept for `rollback`.
    #[error("apply failed at {setting} = {value:?}: {reason}. Restoring also failed ({restore_errors}); the previous values are kept in {state}: fix the cause, then run `pincore-tuner rollback`")]
    ApplyFailedUnrestored {
        setting: String,
        value: String,
        reason: String,
        restore_errors: String,
        state: PathBuf,
    },

    #[error("rollback incomplete: {failures}. The state file {state} is kept: fix the cause and run `pincore-tuner rollback` again")]
    RollbackIncomplete { failures: String, state: PathBuf },

    #[error("another pincore-tuner apply or rollback is running with state directory {dir}: wait for it to finish, then run this again")]
    Busy { dir: PathBuf },

    #[error("network namespace `{name}`: {message}")]
    Netns { name: String, message: String },

    #[error("{0}")]
    Usage(String),

    /// irqbalance would undo an IRQ placement; the message says how to ban the IRQs and CPUs.
    #[error("irqbalance is running (pid {pids}): {advice}")]
    Irqbalance { pids: String, advice: String },

    /// A kernel file (counters, limits, sockets) that does not read as the kernel writes it.
    #[error("{path}, line {line}: {why}")]
    Parse {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

impl Error {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// True when the failure left the host in a state that needs `rollback` (exit code 3 in the binary).
    pub fn needs_rollback(&self) -> bool {
        matches!(
            self,
            Error::ApplyFailedUnrestored { .. }
                | Error::RollbackIncomplete { .. }
                | Error::RollbackRefused { .. }
        )
    }
}

/// One profile key the kernel lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    pub key: crate::sysctl::Key,
    /// The profile that sets it.
    pub profile: String,
    /// An existing key it was probably meant to be.
    pub suggestion: Option<crate::sysctl::Key>,
}

fn unknown_keys(keys: &[UnknownKey]) -> String {
    let lines: Vec<String> = keys
        .iter()
        .map(|k| {
            let hint = match &k.suggestion {
                Some(s) => format!(" — did you mean `{s}`?"),
                None => String::new(),
            };
            format!(
                "`{}` (profile {}): no such sysctl on this kernel{hint}",
                k.key, k.profile
            )
        })
        .collect();
    format!(
        "{}. Nothing was changed. Fix the name, or mark a key that exists only on some kernels `{{value: ..., optional: true}}`",
        lines.join("; ")
    )
}

fn restored_note(restored: usize) -> String {
    match restored {
        0 => String::new(),
        n => format!("; the {n} other settings it records were restored"),
    }
}

/// What to do about an I/O error the user can fix.
fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "; run as root, or point --state-dir / --sysctl-dir at a directory you can write"
        }
        std::io::ErrorKind::NotFound => "; check the path",
        _ => "",
    }
}

/// Where in a profile file an error is (`file:line:col`; `built-in:NAME` for an embedded profile).
pub use pincore_cli::position::Position as Location;

pub type Result<T, E = Error> = std::result::Result<T, E>;
