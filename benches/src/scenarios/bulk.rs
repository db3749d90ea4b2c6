//! Bulk transfer: one or several TCP streams carrying as much data as the path takes, from a sender in the
//! server's namespace to a receiver in this one. What limits it is the path (its rate, its delay) or the
//! sockets' buffers (`net.ipv4.tcp_rmem`/`tcp_wmem` maxima against the bandwidth-delay product), and on a
//! shaped path the sender's congestion control decides how full the bottleneck's queue is kept.
//!
//! Both ends are this process's: the listener is opened in the server's namespace (`listen_in`), so the
//! sending sockets take that namespace's sysctls (buffers, congestion control), the receiving ones this
//! namespace's.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pincore_cli::output::Human;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::host::netns;
use crate::scenarios::netstat::sysctl_text;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkSpec {
    /// Parallel streams.
    pub streams: usize,
    /// Transfer time counted, after `warmup` (slow start) which is not.
    pub duration: Duration,
    pub warmup: Duration,
    /// The network namespace the sender listens in (`None`: this one).
    pub listen_in: Option<String>,
    pub listen_ip: Ipv4Addr,
}

/// The result of one bulk run (`--json` fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkReport {
    pub streams: usize,
    pub duration_s: f64,
    /// Bytes received after the warm-up, over all streams.
    pub bytes: u64,
    /// All streams together, in Mbit/s.
    pub mbit_s: f64,
    /// The slowest stream, in Mbit/s.
    pub slowest_mbit_s: f64,
    /// The receiver's `tcp_rmem` and the sender's `tcp_wmem` and congestion control, as read in their
    /// namespaces.
    pub receiver_tcp_rmem: Option<String>,
    pub sender_tcp_wmem: Option<String>,
    pub sender_congestion_control: Option<String>,
    /// The senders' smoothed round-trip time at the end (TCP_INFO), the mean over streams, in ms: the
    /// path's delay plus what waits in its queues.
    #[serde(default)]
    pub sender_rtt_ms: Option<f64>,
}

/// Runs `spec.streams` streams for warm-up plus duration and measures what arrives after the warm-up.
pub fn run(spec: &BulkSpec, stop: &AtomicBool) -> Result<BulkReport> {
    if spec.streams == 0 {
        return Err(BenchError::invalid("--streams", "must be at least 1"));
    }
    let open = || -> Result<(TcpListener, Option<String>, Option<String>)> {
        let listener = TcpListener::bind(SocketAddr::from((spec.listen_ip, 0))).map_err(|e| {
            BenchError::io(format!("opening the bulk sender on {}", spec.listen_ip), e)
        })?;
        Ok((
            listener,
            sysctl_text("net.ipv4.tcp_wmem"),
            sysctl_text("net.ipv4.tcp_congestion_control"),
        ))
    };
    let (listener, wmem, cc) = match &spec.listen_in {
        Some(ns) => netns::within(ns, open)??,
        None => open()?,
    };
    let target = listener
        .local_addr()
        .map_err(|e| BenchError::io("reading the bulk sender's address", e))?;
    let started = Instant::now();
    let end = spec.warmup + spec.duration;
    let rtts = Mutex::new(Vec::new());
    let counted: Vec<io::Result<u64>> = std::thread::scope(|scope| {
        let (listener, rtts) = (&listener, &rtts);
        let sender =
            scope.spawn(move || send_all(listener, spec.streams, started, end, stop, rtts));
        let receivers: Vec<_> = (0..spec.streams)
            .map(|_| scope.spawn(move || receive(target, started, spec.warmup, end, stop)))
            .collect();
        let counted = receivers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(io::Error::other("receiver panicked")))
            })
            .collect();
        let _ = sender.join();
        counted
    });
    if stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    let mut per_stream = Vec::with_capacity(counted.len());
    for c in counted {
        per_stream.push(c.map_err(|e| BenchError::io(format!("receiving from {target}"), e))?);
    }
    let seconds = spec.duration.as_secs_f64();
    let mbit = |bytes: u64| bytes as f64 * 8.0 / seconds / 1e6;
    let bytes: u64 = per_stream.iter().sum();
    Ok(BulkReport {
        streams: spec.streams,
        duration_s: seconds,
        bytes,
        mbit_s: mbit(bytes),
        slowest_mbit_s: mbit(per_stream.iter().copied().min().unwrap_or(0)),
        receiver_tcp_rmem: sysctl_text("net.ipv4.tcp_rmem"),
        sender_tcp_wmem: wmem,
        sender_congestion_control: cc,
        sender_rtt_ms: mean(&rtts.into_inner().unwrap_or_else(|p| p.into_inner())),
    })
}

/// Accepts `streams` connections and writes to each until `end`, one thread per stream. A receiver that
/// never connects is given up on after the connect timeout, so the run still ends.
fn send_all(
    listener: &TcpListener,
    streams: usize,
    started: Instant,
    end: Duration,
    stop: &AtomicBool,
    rtts: &Mutex<Vec<f64>>,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    std::thread::scope(|scope| {
        let mut accepted = 0;
        while accepted < streams
            && started.elapsed() < CONNECT_TIMEOUT
            && !stop.load(Ordering::Relaxed)
        {
            let mut socket = match listener.accept() {
                Ok((socket, _)) if socket.set_nonblocking(false).is_ok() => socket,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(_) => return,
            };
            accepted += 1;
            scope.spawn(move || {
                let chunk = vec![b'b'; 64 * 1024];
                // A write blocks while the path is full; the timeout lets the loop see the end.
                let _ = socket.set_write_timeout(Some(Duration::from_millis(200)));
                while started.elapsed() < end && !stop.load(Ordering::Relaxed) {
                    match socket.write(&chunk) {
                        Ok(_) => {}
                        Err(e) if timed_out(&e) => {}
                        Err(_) => return,
                    }
                }
                if let Some(rtt) = smoothed_rtt_ms(&socket) {
                    rtts.lock().unwrap_or_else(|p| p.into_inner()).push(rtt);
                }
            });
        }
    });
}

/// Reads one stream until `end` and returns the bytes that arrived after `warmup`.
fn receive(
    target: SocketAddr,
    started: Instant,
    warmup: Duration,
    end: Duration,
    stop: &AtomicBool,
) -> io::Result<u64> {
    let mut socket = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut counted = 0u64;
    while started.elapsed() < end && !stop.load(Ordering::Relaxed) {
        match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if started.elapsed() >= warmup => counted += n as u64,
            Ok(_) => {}
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(counted)
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The kernel's smoothed round-trip time of a connection, in ms (`tcpi_rtt`).
fn smoothed_rtt_ms(socket: &TcpStream) -> Option<f64> {
    // SAFETY: tcp_info is plain data; all-zero is a valid value for the kernel to fill.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a tcp_info and `len` its size; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut libc::tcp_info as *mut libc::c_void,
            &mut len,
        )
    };
    (r == 0).then(|| f64::from(info.tcpi_rtt) / 1000.0)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// A blocking read or write that waited its timeout out: the loop looks at the clock and goes on.
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The block printed for people.
impl Human for BulkReport {
    fn human(&self, _colour: bool) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        format!(
            "{} streams for {:.1} s: {:.1} Mbit/s in all, slowest stream {:.1} Mbit/s, round trip {}\n  receiver \
             tcp_rmem {}, sender tcp_wmem {}, congestion control {}\n",
            self.streams,
            self.duration_s,
            self.mbit_s,
            self.slowest_mbit_s,
            self.sender_rtt_ms
                .map_or("?".into(), |ms| format!("{ms:.1} ms")),
            opt(&self.receiver_tcp_rmem),
            opt(&self.sender_tcp_wmem),
            opt(&self.sender_congestion_control)
        )
    }
}
