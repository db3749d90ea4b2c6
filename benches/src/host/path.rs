//! A real network path for the tuned benchmark: two throwaway network namespaces, the client's and the
//! server's, joined by a veth pair, the server's side shaped by `tc` when a scenario needs a bottleneck.
//!
//! Over loopback inside one namespace the kernel shortcuts what tuning is for (TIME_WAIT reuse is on for
//! loopback only, and there is no queue to fill); over veth between namespaces each side has its own sysctls,
//! its own ports and TIME_WAIT sockets, and traffic crosses a device with a real qdisc. Everything lives
//! inside the two namespaces: deleting them (on drop — success, failure and Ctrl-C alike) removes the veth
//! pair and its qdiscs too, and nothing on the host changes.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::host::netns::Namespace;

/// The client's address on the path.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The server's address on the path.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

const CLIENT_DEV: &str = "pcb-client";
const SERVER_DEV: &str = "pcb-server";

/// How the server-to-client direction is shaped: the direction bulk downloads and replies take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "qdisc", rename_all = "kebab-case")]
pub enum Shaping {
    /// The veth's own queue only: as fast as the CPUs move packets.
    Unshaped,
    /// A token bucket (`tbf`): `mbit` per second, `queue_bytes` waiting before drops (the bottleneck's buffer).
    Rate { mbit: u32, queue_bytes: u32 },
    /// One-way delay (`netem`) on top of a rate: a long fat path.
    Delay { ms: u32, mbit: u32 },
}

impl Shaping {
    /// For reports: `tbf 20 Mbit/s, 1000000 B queue`.
    pub fn describe(&self) -> String {
        match self {
            Shaping::Unshaped => "unshaped veth".into(),
            Shaping::Rate { mbit, queue_bytes } => {
                format!("tbf {mbit} Mbit/s, {queue_bytes} B queue")
            }
            Shaping::Delay { ms, mbit } => format!("netem {ms} ms one way, {mbit} Mbit/s"),
        }
    }
}

/// Why a scenario cannot run on this kernel (`not run: this kernel has no netem`).
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

/// Two namespaces and the veth pair between them; both namespaces are deleted on drop.
pub struct VethPath {
    client: Namespace,
    server: Namespace,
}

impl VethPath {
    /// Creates `BASE-c` (client, CLIENT_ADDR) and `BASE-s` (server, SERVER_ADDR) joined by a veth pair.
    pub fn create(base: &str) -> Result<VethPath> {
        // Both namespaces are guarded before the pair is made: a failure below deletes them again.
        let path = VethPath {
            client: Namespace::create(&format!("{base}-c"))?,
            server: Namespace::create(&format!("{base}-s"))?,
        };
        let (c, s) = (path.client.name(), path.server.name());
        ip(&[
            "-n", c, "link", "add", CLIENT_DEV, "type", "veth", "peer", "name", SERVER_DEV,
            "netns", s,
        ])?;
        for (ns, dev, addr) in [(c, CLIENT_DEV, CLIENT_ADDR), (s, SERVER_DEV, SERVER_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(path)
    }

    pub fn client(&self) -> &str {
        self.client.name()
    }

    pub fn server(&self) -> &str {
        self.server.name()
    }

    /// Puts `shaping` on the server's side of the veth. `Err(Ok(Unsupported))` when this kernel lacks the
    /// qdisc the shaping needs; `Err(Err(_))` for any other failure.
    pub fn shape(&self, shaping: &Shaping) -> std::result::Result<(), Shaped> {
        let s = self.server.name();
        let qdisc = |kind: &str, args: Vec<String>| -> std::result::Result<(), Shaped> {
            let mut all: Vec<String> = ["-n", s, "qdisc", "replace", "dev", SERVER_DEV, "root"]
                .map(String::from)
                .to_vec();
            all.push(kind.to_string());
            all.extend(args);
            match tc(&all) {
                Ok(()) => Ok(()),
                Err(message) if message.contains("qdisc kind is unknown") => Err(Shaped::Missing(
                    Unsupported(format!("this kernel has no {kind}")),
                )),
                Err(message) => Err(Shaped::Failed(BenchError::failed(
                    format!("shaping the path with {kind}"),
                    message,
                ))),
            }
        };
        match *shaping {
            Shaping::Unshaped => Ok(()),
            Shaping::Rate { mbit, queue_bytes } => qdisc(
                "tbf",
                vec![
                    "rate".into(),
                    format!("{mbit}mbit"),
                    // Packets larger than the burst are cut into MTU-sized ones by tbf, so the veth's 64 KB GSO
                    // packets do not cross the bottleneck as single blocks (a real link serialises segments).
                    // The bucket holds a millisecond of the rate, at least 16 KB, so a timer that fires late
                    // on a busy machine does not cap the rate.
                    "burst".into(),
                    format!("{}kb", (mbit * 1000 / 8 / 1024).max(16)),
                    "limit".into(),
                    queue_bytes.to_string(),
                ],
            ),
            Shaping::Delay { ms, mbit } => qdisc(
                "netem",
                vec![
                    "delay".into(),
                    format!("{ms}ms"),
                    "rate".into(),
                    format!("{mbit}mbit"),
                    "limit".into(),
                    "100000".into(),
                ],
            ),
        }
    }
}

/// Why [`VethPath::shape`] failed.
#[derive(Debug)]
pub enum Shaped {
    /// The kernel lacks the qdisc: the scenario is reported as not run.
    Missing(Unsupported),
    Failed(BenchError),
}

fn ip(args: &[&str]) -> Result<()> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run("ip", &args).map_err(|m| BenchError::failed("building the veth path", m))
}

fn tc(args: &[String]) -> std::result::Result<(), String> {
    run("tc", args)
}

/// Runs `program args`, returning its stderr as the error.
fn run(program: &str, args: &[String]) -> std::result::Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{program}` (install iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_reads_as_its_qdisc() {
        assert_eq!(
            Shaping::Rate {
                mbit: 20,
                queue_bytes: 1_000_000
            }
            .describe(),
            "tbf 20 Mbit/s, 1000000 B queue"
        );
        assert_eq!(
            Shaping::Delay { ms: 25, mbit: 100 }.describe(),
            "netem 25 ms one way, 100 Mbit/s"
        );
    }
}
