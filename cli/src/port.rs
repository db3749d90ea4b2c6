//! Loopback ports for servers a tool or a test starts itself.
//!
//! "Bind port 0, read it, close it" hands out a port from the kernel's ephemeral range
//! (`net.ipv4.ip_local_port_range`), the same range every outgoing connection takes its local port from. On a
//! busy machine — a load generator opening thousands of connections next door — that port is soon someone's
//! local port again, and the server started on it fails with `Address already in use`. The ports here come
//! from outside that range, picked at random and checked free, so only another picker could take one, and two
//! pickers rarely pick the same.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the kernel takes outgoing connections' local ports from, when it says.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some((low, high)),
        _ => None,
    }
}

/// The ports candidates are drawn from: the larger gap outside the ephemeral range, above 10000 (below it
/// live the well-known and registered services a host may run).
fn candidates(ephemeral: (u16, u16)) -> (u16, u16) {
    let (low, high) = ephemeral;
    let below = (10_000u16, low.saturating_sub(1));
    let above = (high.saturating_add(1).max(10_000), u16::MAX);
    let width = |(a, b): (u16, u16)| b.saturating_sub(a);
    if width(below) >= width(above) {
        below
    } else {
        above
    }
}

/// A loopback TCP port that was free a moment ago and is not one the kernel hands to outgoing connections.
/// Falls back to a kernel-chosen port when no candidate is free after a bounded number of tries.
pub fn free_loopback_port() -> std::io::Result<u16> {
    let (first, last) = candidates(ephemeral_range().unwrap_or((32768, 60999)));
    if last > first {
        let mut state = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ (u64::from(std::process::id()) << 32)
            | 1;
        for _ in 0..64 {
            // xorshift64: enough to spread concurrent pickers, no dependency.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let port = first + (state % u64::from(last - first + 1)) as u16;
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_avoid_the_ephemeral_range() {
        assert_eq!(candidates((32768, 60999)), (10_000, 32767));
        let (a, b) = candidates((1024, 65535));
        assert!(b <= a, "no room outside 1024-65535, got {a}-{b}");
        assert_eq!(candidates((10000, 20000)), (20001, 65535));
    }

    #[test]
    fn a_picked_port_is_free_and_outside_the_range() {
        let port = free_loopback_port().unwrap();
        if let Some((low, high)) = ephemeral_range() {
            if low > 11_000 {
                assert!(!(low..=high).contains(&port), "{port} in {low}-{high}");
            }
        }
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the picked port binds");
    }
}
