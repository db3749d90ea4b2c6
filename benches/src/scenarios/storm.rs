//! The connection storm: thousands of simultaneous connects against one listener whose accept loop starts
//! late, the case where `net.core.somaxconn` (the cap on every listen backlog) and
//! `net.ipv4.tcp_max_syn_backlog` decide whether connections wait in the queue or are dropped and retried
//! by SYN retransmission one and three seconds later.
//!
//! The listener is this process's own (`listen(backlog)` on an ephemeral port), not a server's: what is
//! measured is the kernel's accept queue, with an application that is slow to accept. It is opened on
//! loopback, or in another network namespace (`listen_in`, the server's side of a veth path), where that
//! namespace's somaxconn caps it.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use pincore_cli::output::Human;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};

use crate::error::{BenchError, Result};
use crate::host::netns;
use crate::load::latency::{self, Percentiles};
use crate::scenarios::netstat::{self, TcpExt};

/// What storm to raise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StormSpec {
    /// Simultaneous connects (each needs two file descriptors: client and accepted side).
    pub connections: usize,
    /// How long the listener waits, after the last connect was sent, before its first accept().
    pub accept_delay: Duration,
    /// The backlog passed to listen(); the kernel caps it at net.core.somaxconn.
    pub backlog: i32,
    /// A connect not established after this long counts as timed out.
    pub timeout: Duration,
    /// The network namespace the listener is opened in (`None`: this process's own, on 127.0.0.1).
    #[serde(default)]
    pub listen_in: Option<String>,
    /// The address the listener binds (its port is chosen by the kernel).
    #[serde(default = "loopback")]
    pub listen_ip: Ipv4Addr,
}

fn loopback() -> Ipv4Addr {
    Ipv4Addr::LOCALHOST
}

/// The result of one storm (`--json` fields; latencies in microseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormReport {
    pub connections: usize,
    pub accept_delay_ms: f64,
    pub backlog: i32,
    /// net.core.somaxconn and net.ipv4.tcp_max_syn_backlog in the listener's namespace during the storm.
    pub somaxconn: Option<u64>,
    pub tcp_max_syn_backlog: Option<u64>,
    pub connected: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// Connections the listener accepted.
    pub accepted: u64,
    /// Time from connect() to established, per connection that got there.
    pub connect_us: Percentiles,
    /// Time until every connect finished (or timed out).
    pub elapsed_s: f64,
    /// Kernel counters' growth during the storm (ListenOverflows, ListenDrops, SyncookiesSent, ...).
    pub tcpext: BTreeMap<String, u64>,
}

/// Reads an integer sysctl of the current network namespace through pincore-tuner's sysctl layer.
pub fn sysctl_u64(key: &str) -> Option<u64> {
    netstat::sysctl_text(key)?.parse().ok()
}

/// Raises RLIMIT_NOFILE's soft limit to its hard limit and checks `needed` descriptors fit.
pub fn ensure_files(needed: u64, flag: &str) -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| BenchError::io("getrlimit(RLIMIT_NOFILE)", e.into()))?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            .map_err(|e| BenchError::io("raising RLIMIT_NOFILE to its hard limit", e.into()))?;
    }
    if needed > hard {
        return Err(BenchError::invalid(
            flag,
            format!("needs about {needed} file descriptors but RLIMIT_NOFILE allows {hard}: use fewer connections or raise the limit (ulimit -Hn)"),
        ));
    }
    Ok(())
}

/// Raises the storm and waits for every connect to finish, fail or time out.
pub fn run(spec: &StormSpec, stop: &AtomicBool) -> Result<StormReport> {
    if spec.connections == 0 {
        return Err(BenchError::invalid("--connections", "must be at least 1"));
    }
    ensure_files(2 * spec.connections as u64 + 64, "--connections")?;
    // The listener, its namespace's caps and counters are read where the listener is.
    let listen_side = || -> Result<(Socket, Caps, TcpExt)> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)
            .and_then(|s| {
                s.set_reuse_address(true)?;
                s.bind(&SocketAddr::from((spec.listen_ip, 0)).into())?;
                s.listen(spec.backlog)?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .map_err(|e| {
                BenchError::io(
                    format!("opening the storm's listener on {}", spec.listen_ip),
                    e,
                )
            })?;
        Ok((socket, Caps::read(), TcpExt::read()))
    };
    let (listener, caps, before) = match &spec.listen_in {
        Some(ns) => netns::within(ns, listen_side)??,
        None => listen_side()?,
    };
    let target = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| BenchError::failed("storm listener", "has no IPv4 address"))?;
    let started = Instant::now();
    // When the last connect was sent: the listener's delay counts from there, so a client that is slow to
    // send thousands of SYNs (a busy machine) still meets a listener that is not accepting yet.
    let sent = OnceLock::new();

    let (outcome, accepted) = std::thread::scope(|scope| {
        let acceptor = scope.spawn(|| accept_late(&listener, spec, &sent, stop));
        let outcome = connect_all(target, spec, &sent, stop);
        // Set on every path, so the acceptor never waits for a storm that ended early.
        sent.get_or_init(Instant::now);
        let accepted = acceptor.join().unwrap_or(0);
        (outcome, accepted)
    });
    let (histogram, connected, failed, timed_out) = outcome?;
    if stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    Ok(StormReport {
        connections: spec.connections,
        accept_delay_ms: spec.accept_delay.as_secs_f64() * 1e3,
        backlog: spec.backlog,
        somaxconn: caps.somaxconn,
        tcp_max_syn_backlog: caps.tcp_max_syn_backlog,
        connected,
        failed,
        timed_out,
        accepted,
        connect_us: Percentiles::of(&histogram),
        elapsed_s: started.elapsed().as_secs_f64(),
        tcpext: match &spec.listen_in {
            Some(ns) => netns::within(ns, TcpExt::read)?,
            None => TcpExt::read(),
        }
        .since(&before)
        .0,
    })
}

/// The listener namespace's caps on accept queues.
struct Caps {
    somaxconn: Option<u64>,
    tcp_max_syn_backlog: Option<u64>,
}

impl Caps {
    fn read() -> Caps {
        Caps {
            somaxconn: sysctl_u64("net.core.somaxconn"),
            tcp_max_syn_backlog: sysctl_u64("net.ipv4.tcp_max_syn_backlog"),
        }
    }
}

/// Waits until every connect was sent and `accept_delay` more, then accepts everything until every
/// connection is in or the timeout passes. Accepted sockets stay open until the storm ends (closing them
/// would be a second storm).
fn accept_late(
    listener: &Socket,
    spec: &StormSpec,
    sent: &OnceLock<Instant>,
    stop: &AtomicBool,
) -> u64 {
    let sent = loop {
        if let Some(at) = sent.get() {
            break *at;
        }
        if stop.load(Ordering::Relaxed) {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    while sent.elapsed() < spec.accept_delay && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let deadline = spec.accept_delay + spec.timeout;
    let mut held = Vec::with_capacity(spec.connections);
    while held.len() < spec.connections
        && sent.elapsed() < deadline
        && !stop.load(Ordering::Relaxed)
    {
        match listener.accept() {
            Ok((socket, _)) => held.push(socket),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(500))
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    held.len() as u64
}

type ConnectOutcome = (hdrhistogram::Histogram<u64>, u64, u64, u64);

/// Starts every connect at once (non-blocking), then records when each one is established.
fn connect_all(
    target: SocketAddr,
    spec: &StormSpec,
    sent: &OnceLock<Instant>,
    stop: &AtomicBool,
) -> Result<ConnectOutcome> {
    let mut poll = Poll::new().map_err(|e| BenchError::io("creating an epoll instance", e))?;
    let mut events = Events::with_capacity(4096);
    let mut pending: Vec<Option<(TcpStream, Instant)>> = Vec::with_capacity(spec.connections);
    let mut histogram = latency::histogram();
    let (mut connected, mut failed) = (0u64, 0u64);
    let mut established = Vec::with_capacity(spec.connections);
    for i in 0..spec.connections {
        let start = Instant::now();
        match TcpStream::connect(target) {
            // On loopback the handshake usually completes inside connect() when the listener has room.
            Ok(stream) if stream.peer_addr().is_ok() => {
                latency::record(&mut histogram, start.elapsed().as_nanos() as u64);
                connected += 1;
                established.push(stream);
                pending.push(None);
            }
            Ok(mut stream) => {
                poll.registry()
                    .register(&mut stream, Token(i), Interest::WRITABLE)
                    .map_err(|e| BenchError::io("registering a connection with epoll", e))?;
                pending.push(Some((stream, start)));
            }
            Err(e) => {
                tracing::debug!(error = %e, "connect failed");
                failed += 1;
                pending.push(None);
            }
        }
    }
    let mut open = pending.iter().filter(|p| p.is_some()).count();
    let deadline = *sent.get_or_init(Instant::now) + spec.accept_delay + spec.timeout;
    while open > 0 && Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(BenchError::io("epoll_wait", e));
            }
        }
        for event in events.iter() {
            let Some(slot) = pending.get_mut(event.token().0) else {
                continue;
            };
            let Some((stream, start)) = slot.as_ref() else {
                continue;
            };
            let done = match stream.take_error() {
                Ok(Some(_)) | Err(_) => Some(false),
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => Some(true),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
                    Err(_) => Some(false),
                },
            };
            match done {
                Some(true) => {
                    latency::record(&mut histogram, start.elapsed().as_nanos() as u64);
                    connected += 1;
                    if let Some((mut stream, _)) = slot.take() {
                        let _ = poll.registry().deregister(&mut stream);
                        established.push(stream);
                    }
                    open -= 1;
                }
                Some(false) => {
                    failed += 1;
                    *slot = None;
                    open -= 1;
                }
                None => {}
            }
        }
    }
    Ok((histogram, connected, failed, open as u64))
}

/// The block printed for people.
impl Human for StormReport {
    fn human(&self, _colour: bool) -> String {
        let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        let mut s = format!(
            "{} simultaneous connects, listen({}) (somaxconn {}, tcp_max_syn_backlog {}), first accept after {:.0} ms\n",
            self.connections, self.backlog, opt(self.somaxconn), opt(self.tcp_max_syn_backlog), self.accept_delay_ms
        );
        s.push_str(&format!(
            "  connected   {} ({} failed, {} timed out, {} accepted) in {:.2} s\n",
            self.connected, self.failed, self.timed_out, self.accepted, self.elapsed_s
        ));
        s.push_str(&self.connect_us.human_rows("connect"));
        s.push_str(&netstat::counter_lines(&self.tcpext));
        s
    }
}
