//! TCP counters from `/proc/net/netstat` (TcpExt) and `/proc/net/sockstat` of the calling process's network
//! namespace: the kernel's own account of what the defaults cost (ListenOverflows, ListenDrops, SYN cookies,
//! TIME_WAIT overflow). The files are parsed by pincore-tuner's doctor parsers; this module only picks what a
//! benchmark reports.

use std::collections::BTreeMap;
use std::path::Path;

use pincore_tuner::doctor::counters::Counters;
use serde::{Deserialize, Serialize};

/// The TcpExt counters a benchmark reports, as deltas over a scenario.
pub const REPORTED: [&str; 5] = [
    "ListenOverflows",
    "ListenDrops",
    "SyncookiesSent",
    "TCPReqQFullDrop",
    "TCPTimeWaitOverflow",
];

const NETSTAT: &str = "/proc/net/netstat";
const SOCKSTAT: &str = "/proc/net/sockstat";

/// TIME_WAIT sockets in this network namespace (`TCP: ... tw N` in /proc/net/sockstat).
pub fn time_wait_sockets() -> Option<u64> {
    let text = std::fs::read_to_string(SOCKSTAT).ok()?;
    let counters = Counters::parse_sockstat(&text, Path::new(SOCKSTAT)).ok()?;
    u64::try_from(counters.get("TCP", "tw")?).ok()
}

/// A sysctl of the calling thread's network namespace through pincore-tuner's sysctl layer, its fields
/// separated by single spaces (`4096 131072 6291456`).
pub fn sysctl_text(key: &str) -> Option<String> {
    let key = pincore_tuner::sysctl::Key::parse(key).ok()?;
    let value = pincore_tuner::sysctl::SysctlTree::new("/")
        .read(&key)
        .ok()??;
    Some(value.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Counter name → value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpExt(pub BTreeMap<String, u64>);

impl TcpExt {
    /// Reads the current namespace's counters (empty when /proc/net/netstat cannot be read or parsed).
    pub fn read() -> TcpExt {
        std::fs::read_to_string(NETSTAT)
            .map(|t| TcpExt::parse(&t))
            .unwrap_or_default()
    }

    /// The TcpExt section of /proc/net/netstat text (empty when it does not parse).
    pub fn parse(text: &str) -> TcpExt {
        let Ok(counters) = Counters::parse_paired(text, Path::new(NETSTAT)) else {
            return TcpExt::default();
        };
        TcpExt(
            counters
                .section("TcpExt")
                .map(|(name, value)| (name.to_string(), value.max(0) as u64))
                .collect(),
        )
    }

    /// The reported counters' growth from `before` to `self`.
    pub fn since(&self, before: &TcpExt) -> TcpExt {
        TcpExt(
            REPORTED
                .iter()
                .map(|&k| {
                    let now = self.0.get(k).copied().unwrap_or(0);
                    let was = before.0.get(k).copied().unwrap_or(0);
                    (k.to_string(), now.saturating_sub(was))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }
}

/// One line per TcpExt counter that moved, for a report block.
pub fn counter_lines(counters: &std::collections::BTreeMap<String, u64>) -> String {
    counters
        .iter()
        .map(|(k, v)| format!("  {k:<20} {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcpext_pairs_and_deltas() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 10 12\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let a = TcpExt::parse(text);
        assert_eq!(a.get("ListenOverflows"), 10);
        let b = TcpExt::parse(&text.replace("1 10 12", "1 25 30"));
        let d = b.since(&a);
        assert_eq!(d.get("ListenOverflows"), 15);
        assert_eq!(d.get("ListenDrops"), 18);
        assert_eq!(d.get("SyncookiesSent"), 0);
        assert_eq!(d.get("TCPTimeWaitOverflow"), 0);
    }
}
