//! The one judgement of whether pincore-server can run on a host, from what is known about that host. The
//! server's start-up preflight, pincore-deploy's preflight (fed the facts it gathered over ssh) and the
//! doctor's one-sample checks all ask here, so the three cannot disagree about a host again.
//!
//! Pure: callers read the host their own way (a local `/proc`, a script over ssh, a recorded tree) and pass
//! the values in.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The server cannot run as configured: start-up stops, a deploy refuses the host.
    Fatal,
    /// The server runs, but not as configured or not as fast: reported, nothing refused.
    Warning,
}

/// One problem found, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
    pub fix: String,
}

/// `kernel.io_uring_disabled`, as the text the kernel shows (`0`, `1` or `2`; whitespace ignored), judged
/// for a server running as root (`root`) or as a service user.
///
/// 0 is fine. 1 limits io_uring to root and the members of `kernel.io_uring_group`: the server still runs
/// (root is exempt; a service user may be in the group), so it is a warning unless `root`. 2 switches
/// io_uring off for everyone: fatal. Any other text is not a value this kernel rule knows: fatal, naming it.
pub fn io_uring(disabled: &str, root: bool) -> Option<Finding> {
    let text = disabled.trim();
    let fix_zero = "set kernel.io_uring_disabled to 0 (sysctl -w kernel.io_uring_disabled=0, or a pincore-tuner profile)";
    match text {
        "0" => None,
        "1" if root => None,
        "1" => Some(Finding {
            severity: Severity::Warning,
            what: "io_uring is limited to root and kernel.io_uring_group (kernel.io_uring_disabled = 1)".into(),
            fix: "run as a member of the group in kernel.io_uring_group, or set kernel.io_uring_disabled to 0".into(),
        }),
        "2" => Some(Finding {
            severity: Severity::Fatal,
            what: "io_uring is disabled for every process (kernel.io_uring_disabled = 2)".into(),
            fix: fix_zero.into(),
        }),
        other => Some(Finding {
            severity: Severity::Fatal,
            what: format!("kernel.io_uring_disabled reads `{other}`, not 0, 1 or 2"),
            fix: fix_zero.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_runs_one_warns_two_refuses() {
        assert_eq!(io_uring("0\n", false), None);
        let one = io_uring("1", false).unwrap();
        assert_eq!(one.severity, Severity::Warning);
        assert!(one.fix.contains("kernel.io_uring_group"), "{}", one.fix);
        assert_eq!(
            io_uring("1", true),
            None,
            "root is exempt from the group rule"
        );
        assert_eq!(io_uring(" 2\n", true).unwrap().severity, Severity::Fatal);
    }

    #[test]
    fn an_unknown_value_is_refused_and_named() {
        let f = io_uring("banana", false).unwrap();
        assert_eq!(f.severity, Severity::Fatal);
        assert!(f.what.contains("`banana`"), "{}", f.what);
    }
}
