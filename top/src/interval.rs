//! What pincore-top shows for one interval, and the collector that makes one from the previous reading
//! and a new one: the servers' scrapes over HTTP and the host's counters through pincore-tuner. The same
//! value is drawn by the terminal view and printed by `--once --json`.

use std::collections::BTreeSet;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pincore_tuner::doctor::Advice;
use serde::Serialize;

use crate::host::{host_view, HostSample, HostView};
use crate::prom::Scrape;
use crate::scrape::fetch_metrics;
use crate::shards::{shard_rows, ShardRow};

/// One server over the interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerView {
    /// The admin address as given.
    pub address: String,
    /// Both scrapes answered.
    pub up: bool,
    /// Why not, when not (connection refused, timeout, not pincore's /metrics...).
    pub error: Option<String>,
    pub shards: Vec<ShardRow>,
}

/// Everything shown for one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interval {
    /// Seconds between the two readings.
    pub interval_secs: f64,
    pub servers: Vec<ServerView>,
    /// None with `--no-host`.
    pub host: Option<HostView>,
    /// Why the host could not be read, when it could not.
    pub host_error: Option<String>,
}

/// What to watch.
#[derive(Debug, Clone)]
pub struct Watch {
    pub servers: Vec<String>,
    /// Where /proc and /sys are (`/`, or a fixture tree); None: do not read the host.
    pub root: Option<PathBuf>,
    /// Deadline of each scrape's connect and of its answer.
    pub timeout: Duration,
}

/// Keeps the previous reading and makes an [`Interval`] from it and the next.
pub struct Collector {
    watch: Watch,
    advice: Advice,
    previous: Option<Reading>,
}

struct Reading {
    at: Instant,
    scrapes: Vec<Result<Scrape, String>>,
    host: Option<Result<HostSample, String>>,
}

impl Collector {
    pub fn new(watch: Watch) -> Collector {
        // The built-in profiles are embedded; failing to load them would be a build defect, and the view
        // still works without advice (findings then name no profile).
        let advice = Advice::from_builtin_profiles().unwrap_or_default();
        Collector {
            watch,
            advice,
            previous: None,
        }
    }

    /// Takes a reading; from the second one on, returns the interval since the previous.
    pub fn tick(&mut self) -> Option<Interval> {
        let now = self.read();
        let interval = self
            .previous
            .as_ref()
            .map(|before| self.compare(before, &now));
        self.previous = Some(now);
        interval
    }

    /// Two readings `every` apart: what `--once` prints.
    pub fn once(&mut self, every: Duration) -> Interval {
        self.tick();
        std::thread::sleep(every);
        self.tick().unwrap_or_default()
    }

    fn read(&self) -> Reading {
        let scrapes = self
            .watch
            .servers
            .iter()
            .map(|address| {
                fetch_metrics(address, self.watch.timeout).and_then(|text| {
                    Scrape::parse(&text).map_err(|e| format!("{address}: /metrics: {e}"))
                })
            })
            .collect();
        let host = self
            .watch
            .root
            .as_ref()
            .map(|root| HostSample::read(root).map_err(|e| e.to_string()));
        Reading {
            at: Instant::now(),
            scrapes,
            host,
        }
    }

    fn compare(&self, before: &Reading, after: &Reading) -> Interval {
        let elapsed = after.at.duration_since(before.at);
        let seconds = elapsed.as_secs_f64();
        let mut local_cpus: Option<BTreeSet<u32>> = None;
        let servers = self
            .watch
            .servers
            .iter()
            .zip(before.scrapes.iter().zip(&after.scrapes))
            .map(|(address, pair)| match pair {
                (Ok(b), Ok(a)) => {
                    let shards = shard_rows(b, a, seconds);
                    if is_local(address) {
                        local_cpus
                            .get_or_insert_with(BTreeSet::new)
                            .extend(shards.iter().filter_map(|s| s.cpu));
                    }
                    ServerView {
                        address: address.clone(),
                        up: true,
                        error: None,
                        shards,
                    }
                }
                (_, Err(e)) | (Err(e), _) => ServerView {
                    address: address.clone(),
                    up: false,
                    error: Some(e.clone()),
                    shards: Vec::new(),
                },
            })
            .collect();
        let (host, host_error) = match (&before.host, &after.host, &self.watch.root) {
            (Some(Ok(b)), Some(Ok(a)), Some(root)) => (
                Some(host_view(
                    root,
                    b,
                    a,
                    elapsed,
                    &self.advice,
                    local_cpus.as_ref(),
                )),
                None,
            ),
            (_, Some(Err(e)), _) | (Some(Err(e)), _, _) => (None, Some(e.clone())),
            _ => (None, None),
        };
        Interval {
            interval_secs: seconds,
            servers,
            host,
            host_error,
        }
    }
}

/// Whether `address` is on this host (loopback), so its shards' CPUs are this host's CPUs.
fn is_local(address: &str) -> bool {
    address
        .to_socket_addrs()
        .map(|mut a| a.all(|a| a.ip().is_loopback()))
        .unwrap_or(false)
}
