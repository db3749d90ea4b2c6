//! A real network path for the tuned benchmark: two throwaway network namespaces, the client's and the
//! server's, joined by a veth pair, the server's side shaped by `tc` when a scenario needs a bottleneck.
//! A path with delay uses `netem` where the kernel has it; without it the two namespaces are joined through
//! a third, middle one, where a user-space delay line (`host::delay_line`) forwards between two veth pairs.
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
use crate::host::delay_line::{DelayLine, LineCounters, LineSpec};
use crate::host::netns::Namespace;

/// The client's address on the path.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The server's address on the path.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

const CLIENT_DEV: &str = "pcb-client";
const SERVER_DEV: &str = "pcb-server";
/// The middle namespace's ends of the two pairs of a delayed path.
const MIDDLE_CLIENT_DEV: &str = "pcb-mid-c";
const MIDDLE_SERVER_DEV: &str = "pcb-mid-s";

/// How the path is shaped: a rate on the server-to-client direction (the one bulk downloads and replies
/// take), and for a long fat path a delay both ways.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "qdisc", rename_all = "kebab-case")]
pub enum Shaping {
    /// The veth's own queue only: as fast as the CPUs move packets.
    Unshaped,
    /// A token bucket (`tbf`): `mbit` per second, `queue_bytes` waiting before drops (the bottleneck's buffer).
    Rate { mbit: u32, queue_bytes: u32 },
    /// A long fat path: `rtt_ms` of round trip (half each way) behind a bottleneck of `mbit` per second
    /// that holds `queue_bytes` waiting. `netem` where the kernel has it, else the user-space delay line.
    Delay {
        rtt_ms: u32,
        mbit: u32,
        queue_bytes: u32,
    },
}

impl Shaping {
    /// For reports: `tbf 20 Mbit/s, 1000000 B queue`.
    pub fn describe(&self) -> String {
        match self {
            Shaping::Unshaped => "unshaped veth".into(),
            Shaping::Rate { mbit, queue_bytes } => {
                format!("tbf {mbit} Mbit/s, {queue_bytes} B queue")
            }
            Shaping::Delay {
                rtt_ms,
                mbit,
                queue_bytes,
            } => format!("{rtt_ms} ms round trip, {mbit} Mbit/s, {queue_bytes} B queue"),
        }
    }
}

/// What puts the delay on a delayed path (reports say which one ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayBy {
    Netem,
    /// This kernel has no netem: the user-space delay line in a middle namespace.
    DelayLine,
}

impl DelayBy {
    pub fn describe(self) -> &'static str {
        match self {
            DelayBy::Netem => "netem",
            DelayBy::DelayLine => {
                "pincore-bench's user-space delay line (this kernel has no netem)"
            }
        }
    }
}

/// Why a scenario cannot run on this kernel (`not run: this kernel has no netem`).
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

/// Two namespaces and the veth pair between them, or two pairs through a middle namespace with the delay
/// line; every namespace is deleted on drop.
pub struct VethPath {
    /// Dropped first (fields drop in order): its threads stop and its sockets close before the namespaces go.
    line: Option<DelayLine>,
    middle: Option<Namespace>,
    client: Namespace,
    server: Namespace,
    delay_by: Option<DelayBy>,
}

impl VethPath {
    /// The path `shaping` asks for: a direct pair shaped by `tc`, or for a delay on a kernel without netem
    /// the path through the delay line. `Ok(Err(_))` when this kernel cannot shape it at all.
    pub fn build(
        base: &str,
        shaping: &Shaping,
    ) -> Result<std::result::Result<VethPath, Unsupported>> {
        let mut path = VethPath::create(base)?;
        match path.shape(shaping) {
            Ok(()) => {
                if let Shaping::Delay { .. } = shaping {
                    path.delay_by = Some(DelayBy::Netem);
                }
                Ok(Ok(path))
            }
            Err(Shaped::Missing(why)) => match *shaping {
                Shaping::Delay {
                    rtt_ms,
                    mbit,
                    queue_bytes,
                } => {
                    drop(path);
                    let spec = LineSpec {
                        one_way: std::time::Duration::from_micros(u64::from(rtt_ms) * 500),
                        bits_per_s: Some(f64::from(mbit) * 1e6),
                        queue_bytes: u64::from(queue_bytes),
                    };
                    Ok(Ok(VethPath::create_delayed(base, spec)?))
                }
                _ => Ok(Err(why)),
            },
            Err(Shaped::Failed(e)) => Err(e),
        }
    }

    /// Creates `BASE-c` (client, CLIENT_ADDR) and `BASE-s` (server, SERVER_ADDR) joined by a veth pair.
    pub fn create(base: &str) -> Result<VethPath> {
        // Both namespaces are guarded before the pair is made: a failure below deletes them again.
        let path = VethPath {
            line: None,
            middle: None,
            client: Namespace::create(&format!("{base}-c"))?,
            server: Namespace::create(&format!("{base}-s"))?,
            delay_by: None,
        };
        let (c, s) = (path.client.name(), path.server.name());
        veth_pair((c, CLIENT_DEV), (s, SERVER_DEV))?;
        path.address_ends()?;
        Ok(path)
    }

    /// Creates `BASE-c` and `BASE-s` as [`VethPath::create`] does, each joined by its own veth pair to
    /// `BASE-m`, where the delay line forwards between the two pairs. The middle has no addresses: to the
    /// client and the server it is a wire, and ARP crosses it like everything else.
    pub fn create_delayed(base: &str, spec: LineSpec) -> Result<VethPath> {
        let mut path = VethPath {
            line: None,
            middle: Some(Namespace::create(&format!("{base}-m"))?),
            client: Namespace::create(&format!("{base}-c"))?,
            server: Namespace::create(&format!("{base}-s"))?,
            delay_by: Some(DelayBy::DelayLine),
        };
        let m = path.middle.as_ref().map_or("", |m| m.name()).to_string();
        veth_pair((path.client.name(), CLIENT_DEV), (&m, MIDDLE_CLIENT_DEV))?;
        veth_pair((path.server.name(), SERVER_DEV), (&m, MIDDLE_SERVER_DEV))?;
        for dev in [MIDDLE_CLIENT_DEV, MIDDLE_SERVER_DEV] {
            ip(&["-n", &m, "link", "set", dev, "up"])?;
        }
        path.address_ends()?;
        path.line = Some(DelayLine::start(
            &m,
            [MIDDLE_CLIENT_DEV, MIDDLE_SERVER_DEV],
            spec,
        )?);
        Ok(path)
    }

    /// Gives the client's and the server's device their address and brings them up.
    fn address_ends(&self) -> Result<()> {
        let (c, s) = (self.client.name(), self.server.name());
        for (ns, dev, addr) in [(c, CLIENT_DEV, CLIENT_ADDR), (s, SERVER_DEV, SERVER_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// What delays this path, if anything does.
    pub fn delay_by(&self) -> Option<DelayBy> {
        self.delay_by
    }

    /// What the delay line forwarded and dropped so far (`None` without one).
    pub fn line_counters(&self) -> Option<LineCounters> {
        self.line.as_ref().map(DelayLine::counters)
    }

    pub fn client(&self) -> &str {
        self.client.name()
    }

    pub fn server(&self) -> &str {
        self.server.name()
    }

    /// Puts `shaping` on the server's side of the veth (a delay on both sides, half each).
    /// `Err(Shaped::Missing)` when this kernel lacks the qdisc the shaping needs.
    fn shape(&self, shaping: &Shaping) -> std::result::Result<(), Shaped> {
        let qdisc = |ns: &str, dev: &str, kind: &str, args: Vec<String>| {
            let mut all: Vec<String> = ["-n", ns, "qdisc", "replace", "dev", dev, "root"]
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
        let server = (self.server.name(), SERVER_DEV);
        match *shaping {
            Shaping::Unshaped => Ok(()),
            Shaping::Rate { mbit, queue_bytes } => qdisc(
                server.0,
                server.1,
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
            Shaping::Delay {
                rtt_ms,
                mbit,
                queue_bytes,
            } => {
                let one_way = format!("{}us", u64::from(rtt_ms) * 500);
                // netem's limit counts packets: the queue in full-sized segments.
                let limit = (queue_bytes / 1500).max(100).to_string();
                qdisc(
                    self.client.name(),
                    CLIENT_DEV,
                    "netem",
                    vec!["delay".into(), one_way.clone()],
                )?;
                qdisc(
                    server.0,
                    server.1,
                    "netem",
                    vec![
                        "delay".into(),
                        one_way,
                        "rate".into(),
                        format!("{mbit}mbit"),
                        "limit".into(),
                        limit,
                    ],
                )
            }
        }
    }
}

/// A veth pair with one end in each namespace.
fn veth_pair(a: (&str, &str), b: (&str, &str)) -> Result<()> {
    ip(&[
        "-n", a.0, "link", "add", a.1, "type", "veth", "peer", "name", b.1, "netns", b.0,
    ])
}

/// Why [`VethPath::shape`] failed.
#[derive(Debug)]
enum Shaped {
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
            Shaping::Delay {
                rtt_ms: 50,
                mbit: 100,
                queue_bytes: 625_000
            }
            .describe(),
            "50 ms round trip, 100 Mbit/s, 625000 B queue"
        );
    }
}
