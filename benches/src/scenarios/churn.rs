//! Connection churn: many short-lived connections per second, each one connect, one echo round trip and a
//! close by the client, which leaves the client's side in TIME_WAIT. What bites with the defaults is the
//! ephemeral port range (`net.ipv4.ip_local_port_range`) and TIME_WAIT reuse (`net.ipv4.tcp_tw_reuse`).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pincore_cli::output::Human;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::load::latency::{self, Percentiles};
use crate::scenarios::netstat::{self, time_wait_sockets, TcpExt};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnSpec {
    /// An echo server.
    pub target: SocketAddr,
    /// Client threads, each opening one connection at a time.
    pub threads: usize,
    pub duration: Duration,
    /// Connect and round-trip timeout per connection.
    pub timeout: Duration,
}

/// The result of one churn run (`--json` fields; latencies in microseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnReport {
    pub target: String,
    pub threads: usize,
    pub duration_s: f64,
    /// Connections that completed connect, round trip and close.
    pub connections: u64,
    /// Completed connections per second.
    pub rate: f64,
    /// Connections that failed, by error (e.g. "AddrNotAvailable": no free local port).
    pub errors: BTreeMap<String, u64>,
    /// Connect + round trip + close, per completed connection.
    pub latency_us: Percentiles,
    /// TIME_WAIT sockets in the namespace before and after the run (/proc/net/sockstat `tw`).
    pub time_wait_before: Option<u64>,
    pub time_wait: Option<u64>,
    pub tcpext: BTreeMap<String, u64>,
}

impl ChurnReport {
    pub fn failures(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Churns connections against `spec.target` for `spec.duration`.
pub fn run(spec: &ChurnSpec, stop: &AtomicBool) -> Result<ChurnReport> {
    if spec.threads == 0 {
        return Err(BenchError::invalid("--threads", "must be at least 1"));
    }
    let before = TcpExt::read();
    let time_wait_before = time_wait_sockets();
    let started = Instant::now();
    let results: Vec<(hdrhistogram::Histogram<u64>, u64, BTreeMap<String, u64>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..spec.threads)
                .map(|_| scope.spawn(|| churn_thread(spec, started, stop)))
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
    if stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    let mut histogram = latency::histogram();
    let mut connections = 0;
    let mut errors = BTreeMap::new();
    for (h, n, e) in results {
        let _ = histogram.add(&h);
        connections += n;
        for (k, v) in e {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    let duration_s = spec.duration.as_secs_f64();
    Ok(ChurnReport {
        target: spec.target.to_string(),
        threads: spec.threads,
        duration_s,
        connections,
        rate: connections as f64 / duration_s,
        errors,
        latency_us: Percentiles::of(&histogram),
        time_wait_before,
        time_wait: time_wait_sockets(),
        tcpext: TcpExt::read().since(&before).0,
    })
}

fn churn_thread(
    spec: &ChurnSpec,
    started: Instant,
    stop: &AtomicBool,
) -> (hdrhistogram::Histogram<u64>, u64, BTreeMap<String, u64>) {
    let mut histogram = latency::histogram();
    let mut done = 0u64;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let payload = [b'c'; 16];
    let mut reply = [0u8; 16];
    while started.elapsed() < spec.duration && !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let mut once = || -> io::Result<()> {
            let mut s = TcpStream::connect_timeout(&spec.target, spec.timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(spec.timeout))?;
            s.write_all(&payload)?;
            s.read_exact(&mut reply)?;
            Ok(())
        };
        match once() {
            Ok(()) => {
                latency::record(&mut histogram, t.elapsed().as_nanos() as u64);
                done += 1;
            }
            Err(e) => {
                *errors.entry(format!("{:?}", e.kind())).or_insert(0) += 1;
                // A failing connect (no local port) fails fast: do not spin on it.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    (histogram, done, errors)
}

/// The block printed for people.
impl Human for ChurnReport {
    fn human(&self, _colour: bool) -> String {
        let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        let mut s = format!(
            "{}: {} threads churning connections (connect, 16 B echo, close) for {:.1} s\n",
            self.target, self.threads, self.duration_s
        );
        s.push_str(&format!(
            "  rate        {} connections/s ({} in all)\n",
            crate::load::report::group(self.rate),
            self.connections
        ));
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        s.push_str(&format!(
            "  failed      {}\n",
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        ));
        s.push_str(&format!(
            "  TIME_WAIT   {} before, {} after\n",
            opt(self.time_wait_before),
            opt(self.time_wait)
        ));
        s.push_str(&self.latency_us.human_rows("latency"));
        s.push_str(&netstat::counter_lines(&self.tcpext));
        s
    }
}
