//! Parsers for the kernel's network counter files: `/proc/net/netstat`, `/proc/net/snmp`,
//! `/proc/net/sockstat` and `/proc/net/softnet_stat`, and the per-CPU time lines of `/proc/stat` (how much
//! of each CPU the receive softirq takes).
//!
//! The parsers take text and return plain data, so the same code reads a live host, a namespace or a recorded
//! snapshot. A line that does not parse is an error naming the file and line: silently skipping it could hide
//! the very counter a finding depends on.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::Error;

/// Named counters grouped by section (`TcpExt`, `Tcp`, `Udp`, `TCP`, ...), as in netstat, snmp and sockstat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters(BTreeMap<String, BTreeMap<String, i64>>);

impl Counters {
    /// The value of `section.name`, if the kernel reports it.
    pub fn get(&self, section: &str, name: &str) -> Option<i64> {
        self.0.get(section)?.get(name).copied()
    }

    /// Every counter of `section`, by name (nothing when the kernel has no such section).
    pub fn section(&self, section: &str) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.0
            .get(section)
            .into_iter()
            .flat_map(|names| names.iter().map(|(n, v)| (n.as_str(), *v)))
    }

    /// How much `section.name` grew from `before` to `self`; `None` when either side lacks it.
    /// A counter that went backwards (wrapped, or the namespace was recreated) counts as no growth.
    pub fn delta(&self, before: &Counters, section: &str, name: &str) -> Option<u64> {
        let after = self.get(section, name)?;
        let before = before.get(section, name)?;
        Some(after.saturating_sub(before).max(0) as u64)
    }

    fn insert(&mut self, section: &str, name: &str, value: i64) {
        self.0
            .entry(section.to_string())
            .or_default()
            .insert(name.to_string(), value);
    }

    /// Parses the two-line format of `/proc/net/netstat` and `/proc/net/snmp`: a header line
    /// `Section: Name1 Name2 ...` followed by a value line `Section: 1 2 ...`.
    pub fn parse_paired(text: &str, path: &Path) -> Result<Counters, Error> {
        let mut counters = Counters::default();
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        while let Some((header_no, header)) = lines.next() {
            let bad = |line: usize, why: String| Error::Parse {
                path: path.to_path_buf(),
                line: line + 1,
                why,
            };
            let (section, names) = header
                .split_once(':')
                .ok_or_else(|| bad(header_no, "expected `Section: names...`".into()))?;
            let (value_no, values) = lines.next().ok_or_else(|| {
                bad(
                    header_no,
                    format!("header for {section} has no value line after it"),
                )
            })?;
            let (value_section, values) = values
                .split_once(':')
                .ok_or_else(|| bad(value_no, "expected `Section: values...`".into()))?;
            if value_section != section {
                return Err(bad(
                    value_no,
                    format!("value line is for {value_section}, header was for {section}"),
                ));
            }
            let names: Vec<&str> = names.split_whitespace().collect();
            let values: Vec<&str> = values.split_whitespace().collect();
            if names.len() != values.len() {
                return Err(bad(
                    value_no,
                    format!(
                        "{section} has {} names but {} values",
                        names.len(),
                        values.len()
                    ),
                ));
            }
            for (name, value) in names.iter().zip(values) {
                let value = value.parse::<i64>().map_err(|_| {
                    bad(
                        value_no,
                        format!("{section}.{name} = {value:?} is not a number"),
                    )
                })?;
                counters.insert(section, name, value);
            }
        }
        Ok(counters)
    }

    /// Parses `/proc/net/sockstat`: one line per section, `Section: name value name value ...`.
    pub fn parse_sockstat(text: &str, path: &Path) -> Result<Counters, Error> {
        let mut counters = Counters::default();
        for (no, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |why: String| Error::Parse {
                path: path.to_path_buf(),
                line: no + 1,
                why,
            };
            let (section, rest) = line
                .split_once(':')
                .ok_or_else(|| bad("expected `Section: name value ...`".into()))?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() % 2 == 1 {
                return Err(bad(format!(
                    "{section} has an odd number of words (expected name value pairs)"
                )));
            }
            for pair in words.chunks(2) {
                let value = pair[1].parse::<i64>().map_err(|_| {
                    bad(format!(
                        "{section}.{} = {:?} is not a number",
                        pair[0], pair[1]
                    ))
                })?;
                counters.insert(section, pair[0], value);
            }
        }
        Ok(counters)
    }
}

/// One CPU's row of `/proc/net/softnet_stat` (all columns are hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SoftnetRow {
    pub cpu: u32,
    /// Packets processed by the CPU's backlog.
    pub processed: u64,
    /// Packets dropped because the CPU's input queue (`netdev_max_backlog`) was full.
    pub dropped: u64,
    /// Times the NET_RX softirq ran out of budget (`netdev_budget`, `netdev_budget_usecs`) with work left.
    pub time_squeeze: u64,
}

/// Parses `/proc/net/softnet_stat`. Kernels since 5.10 print the CPU number in column 13; older ones list
/// online CPUs in order, so the row index stands in for it there.
pub fn parse_softnet(text: &str, path: &Path) -> Result<Vec<SoftnetRow>, Error> {
    let mut rows = Vec::new();
    for (no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: String| Error::Parse {
            path: path.to_path_buf(),
            line: no + 1,
            why,
        };
        let columns = line
            .split_whitespace()
            .map(|c| {
                u64::from_str_radix(c, 16)
                    .map_err(|_| bad(format!("column {c:?} is not hexadecimal")))
            })
            .collect::<Result<Vec<u64>, _>>()?;
        if columns.len() < 3 {
            return Err(bad(format!(
                "expected at least 3 columns, found {}",
                columns.len()
            )));
        }
        let cpu = columns.get(12).map_or(rows.len() as u64, |&c| c);
        rows.push(SoftnetRow {
            cpu: cpu as u32,
            processed: columns[0],
            dropped: columns[1],
            time_squeeze: columns[2],
        });
    }
    Ok(rows)
}

/// One CPU's line of `/proc/stat`, in clock ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuTimes {
    pub cpu: u32,
    /// Every column added up (user, nice, system, idle, iowait, irq, softirq, steal).
    pub total: u64,
    pub idle: u64,
    pub irq: u64,
    pub softirq: u64,
}

impl CpuTimes {
    /// The share of the CPU's time between `before` and `self` spent in (busy, hardirq, softirq), 0..1.
    pub fn shares_since(&self, before: &CpuTimes) -> (f64, f64, f64) {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return (0.0, 0.0, 0.0);
        }
        let share = |now: u64, then: u64| now.saturating_sub(then) as f64 / total as f64;
        (
            1.0 - share(self.idle, before.idle),
            share(self.irq, before.irq),
            share(self.softirq, before.softirq),
        )
    }
}

/// Parses the `cpuN ...` lines of `/proc/stat` (the aggregate `cpu` line and every other line are skipped).
/// Idle counts iowait too; guest time is already inside user and nice, so it is not added again.
pub fn parse_cpu_stat(text: &str, path: &Path) -> Result<Vec<CpuTimes>, Error> {
    let mut cpus = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let Some(cpu) = words
            .next()
            .and_then(|w| w.strip_prefix("cpu"))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let bad = |why: String| Error::Parse {
            path: path.to_path_buf(),
            line: no + 1,
            why,
        };
        let cpu = cpu
            .parse::<u32>()
            .map_err(|_| bad(format!("`cpu{cpu}` is not a CPU number")))?;
        let columns = words
            .take(8)
            .map(|w| {
                w.parse::<u64>()
                    .map_err(|_| bad(format!("column {w:?} is not a number")))
            })
            .collect::<Result<Vec<u64>, _>>()?;
        if columns.len() < 7 {
            return Err(bad(format!(
                "{} time columns, expected at least 7",
                columns.len()
            )));
        }
        cpus.push(CpuTimes {
            cpu,
            total: columns.iter().sum(),
            idle: columns[3] + columns[4],
            irq: columns[5],
            softirq: columns[6],
        });
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETSTAT: &str = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                           TcpExt: 0 12 13\n\
                           IpExt: InNoRoutes InOctets\n\
                           IpExt: 0 123456789012\n";

    #[test]
    fn paired_sections_parse_by_name() {
        let c = Counters::parse_paired(NETSTAT, Path::new("netstat")).unwrap();
        assert_eq!(c.get("TcpExt", "ListenOverflows"), Some(12));
        assert_eq!(c.get("TcpExt", "ListenDrops"), Some(13));
        assert_eq!(c.get("IpExt", "InOctets"), Some(123456789012));
        assert_eq!(c.get("TcpExt", "Nope"), None);
    }

    #[test]
    fn snmp_negative_values_parse() {
        let c = Counters::parse_paired("Tcp: RtoAlgorithm MaxConn\nTcp: 1 -1\n", Path::new("snmp"))
            .unwrap();
        assert_eq!(c.get("Tcp", "MaxConn"), Some(-1));
    }

    #[test]
    fn deltas_never_go_negative() {
        let before =
            Counters::parse_paired("TcpExt: A B\nTcpExt: 10 50\n", Path::new("a")).unwrap();
        let after = Counters::parse_paired("TcpExt: A B\nTcpExt: 15 3\n", Path::new("b")).unwrap();
        assert_eq!(after.delta(&before, "TcpExt", "A"), Some(5));
        assert_eq!(after.delta(&before, "TcpExt", "B"), Some(0));
        assert_eq!(after.delta(&before, "TcpExt", "C"), None);
    }

    #[test]
    fn mismatched_lines_name_file_and_line() {
        let err = Counters::parse_paired("TcpExt: A B\nTcpExt: 1\n", Path::new("/x/netstat"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/x/netstat")
                && msg.contains("line 2")
                && msg.contains("2 names but 1 values"),
            "{msg}"
        );
        let err = Counters::parse_paired("TcpExt: A\nIpExt: 1\n", Path::new("n")).unwrap_err();
        assert!(err.to_string().contains("header was for TcpExt"), "{err}");
    }

    #[test]
    fn sockstat_pairs() {
        let text =
            "sockets: used 290\nTCP: inuse 5 orphan 0 tw 7 alloc 9 mem 2\nFRAG: inuse 0 memory 0\n";
        let c = Counters::parse_sockstat(text, Path::new("sockstat")).unwrap();
        assert_eq!(c.get("sockets", "used"), Some(290));
        assert_eq!(c.get("TCP", "tw"), Some(7));
        assert!(Counters::parse_sockstat("TCP: inuse\n", Path::new("s")).is_err());
    }

    #[test]
    fn softnet_columns_are_hex_and_cpu_comes_from_column_13() {
        let text = "0000001a 00000002 000000ff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000000 00000000\n";
        let rows = parse_softnet(text, Path::new("softnet_stat")).unwrap();
        assert_eq!(
            rows,
            vec![SoftnetRow {
                cpu: 3,
                processed: 26,
                dropped: 2,
                time_squeeze: 255
            }]
        );
        let old = parse_softnet(
            "00000001 00000000 00000000\n00000002 00000000 00000000\n",
            Path::new("s"),
        )
        .unwrap();
        assert_eq!(old[1].cpu, 1);
        assert!(parse_softnet("zz 00 00\n", Path::new("s")).is_err());
    }

    #[test]
    fn cpu_stat_lines_give_softirq_shares() {
        let path = Path::new("/proc/stat");
        let before = "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 10 0 10 80 0 0 0 0 0 0\nintr 5 1\n";
        let after = "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 20 0 20 120 0 5 15 0 0 0\n";
        let (b, a) = (
            parse_cpu_stat(before, path).unwrap(),
            parse_cpu_stat(after, path).unwrap(),
        );
        assert_eq!(a.len(), 1);
        let (busy, irq, softirq) = a[0].shares_since(&b[0]);
        // 80 ticks passed, 40 of them idle, 5 in hardirq and 15 in softirq.
        assert!((busy - 0.5).abs() < 1e-9, "{busy}");
        assert!((irq - 0.0625).abs() < 1e-9 && (softirq - 0.1875).abs() < 1e-9);
        assert!(parse_cpu_stat("cpu0 1 2 x\n", path).is_err());
    }
}
