//! A server's CPU time from `/proc/PID/stat`, and what it costs per request.
//!
//! On a machine whose CPUs the client shares with the server, requests/s mostly says how the CPUs were split;
//! the server's own CPU time per request is much steadier (see `shared/notes/benchmarking.md`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};

/// User and system CPU time of a process, summed over all its threads, in clock ticks (`getconf CLK_TCK`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTimes {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
}

impl CpuTimes {
    /// Reads `/proc/PID/stat` under `proc_root` (`/proc` on the live host).
    pub fn read(proc_root: &Path, pid: u32) -> Result<CpuTimes> {
        let path = proc_root.join(pid.to_string()).join("stat");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BenchError::io(format!("reading {}", path.display()), e))?;
        parse_stat(&text).ok_or_else(|| {
            BenchError::failed(
                path.display().to_string(),
                format!("no utime/stime fields in {text:?}"),
            )
        })
    }

    /// The process's CPU time now, or `None` when it cannot be read (the run then reports no CPU figure).
    pub fn of(pid: u32) -> Option<CpuTimes> {
        CpuTimes::read(Path::new("/proc"), pid)
            .map_err(|e| tracing::warn!("server CPU time: {e}"))
            .ok()
    }
}

/// utime and stime (fields 14 and 15) of a `/proc/PID/stat` line.
///
/// Field 2, the command name in parentheses, may itself contain spaces and parentheses, so fields are counted
/// from after the *last* `)`: the state (field 3) comes first there, utime is the 12th field after it.
pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    Some(CpuTimes {
        utime_ticks: fields.next()?.parse().ok()?,
        stime_ticks: fields.next()?.parse().ok()?,
    })
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the C library.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Microseconds of server CPU per request between two snapshots; `None` without requests or when the
/// counters went backwards (another process behind the same PID).
pub fn us_per_request(
    before: CpuTimes,
    after: CpuTimes,
    ticks_per_second: u64,
    requests: u64,
) -> Option<f64> {
    let used = (after.utime_ticks + after.stime_ticks)
        .checked_sub(before.utime_ticks + before.stime_ticks)?;
    if requests == 0 || ticks_per_second == 0 {
        return None;
    }
    Some(used as f64 * 1e6 / ticks_per_second as f64 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // comm "my (odd) srv) x": spaces and parentheses, as a process may name itself.
        let line = "4242 (my (odd) srv) x) S 1 4242 4242 0 -1 4194560 869 0 1 0 29 95 0 0 20 0 5 0 282755 \
                    285351936 1721 18446744073709551615\n";
        assert_eq!(
            parse_stat(line),
            Some(CpuTimes {
                utime_ticks: 29,
                stime_ticks: 95
            })
        );
        let plain = "1 (pincore-server) R 0 1 1 0 -1 0 0 0 0 0 7 3 0 0";
        assert_eq!(
            parse_stat(plain).map(|t| (t.utime_ticks, t.stime_ticks)),
            Some((7, 3))
        );
        assert_eq!(parse_stat("1 (cut short) R 0 1"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
        assert_eq!(parse_stat("1 (x) R 0 1 1 0 -1 0 0 0 0 0 seven 3"), None);
    }

    #[test]
    fn cpu_per_request_divides_the_ticks_used_by_the_requests() {
        let t = |u, s| CpuTimes {
            utime_ticks: u,
            stime_ticks: s,
        };
        // 30 ticks of 10 ms = 300 ms over 100,000 requests: 3 µs each.
        let us = us_per_request(t(100, 50), t(110, 70), 100, 100_000).unwrap();
        assert!((us - 3.0).abs() < 1e-9, "{us}");
        assert_eq!(us_per_request(t(1, 1), t(1, 1), 100, 10), Some(0.0));
        assert_eq!(us_per_request(t(1, 1), t(2, 2), 100, 0), None);
        assert_eq!(us_per_request(t(5, 5), t(1, 1), 100, 10), None);
    }

    #[test]
    fn reads_a_fixture_and_the_live_process() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("77")).unwrap();
        std::fs::write(
            dir.path().join("77/stat"),
            "77 (a b) S 1 77 77 0 -1 0 0 0 0 0 12 34 0 0 20 0 1 0 1 1 1\n",
        )
        .unwrap();
        let t = CpuTimes::read(dir.path(), 77).unwrap();
        assert_eq!((t.utime_ticks, t.stime_ticks), (12, 34));
        let err = CpuTimes::read(dir.path(), 78).unwrap_err().to_string();
        assert!(err.contains("78/stat"), "{err}");
        assert!(CpuTimes::of(std::process::id()).is_some());
        assert!(ticks_per_second() > 0);
    }
}
