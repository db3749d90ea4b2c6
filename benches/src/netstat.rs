//! TCP counters from `/proc/net/netstat` (TcpExt) of the calling process's network namespace: the kernel's
//! own account of what the defaults cost (ListenOverflows, ListenDrops, SYN cookies, TIME_WAIT overflow).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The TcpExt counters a benchmark reports, as deltas over a scenario.
pub const REPORTED: [&str; 5] = [
    "ListenOverflows",
    "ListenDrops",
    "SyncookiesSent",
    "TCPReqQFullDrop",
    "TCPTimeWaitOverflow",
];

/// Counter name → value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpExt(pub BTreeMap<String, u64>);

impl TcpExt {
    /// Reads the current namespace's counters (empty when /proc/net/netstat cannot be read).
    pub fn read() -> TcpExt {
        std::fs::read_to_string("/proc/net/netstat")
            .map(|t| TcpExt::parse(&t))
            .unwrap_or_default()
    }

    /// Parses the header/value line pairs of /proc/net/netstat, keeping the TcpExt ones.
    pub fn parse(text: &str) -> TcpExt {
        let lines: Vec<&str> = text.lines().collect();
        let mut map = BTreeMap::new();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (Some(names), Some(values)) = (
                names.strip_prefix("TcpExt:"),
                values.strip_prefix("TcpExt:"),
            ) else {
                continue;
            };
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse() {
                    map.insert(n.to_string(), v);
                }
            }
        }
        TcpExt(map)
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
