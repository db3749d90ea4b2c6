//! The host under the servers, over one interval: per-CPU softirq share, interrupts per NIC queue, softnet
//! drops and squeezes, TCP counters that grew, and the doctor's findings. Every kernel file is read through
//! pincore-tuner's doctor and NIC libraries under a root (`/`, or a fixture tree with `--root`); what is
//! computed from two readings is pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pincore_tuner::doctor::{self, Advice, Finding, Sample};
use pincore_tuner::nic;
use serde::Serialize;

/// One reading of the host.
#[derive(Debug, Clone, Default)]
pub struct HostSample {
    pub doctor: Sample,
    /// IRQ → (name, count per CPU).
    pub interrupts: nic::InterruptCounts,
    /// Queue vectors of every network device: (device, queue, irq).
    pub queues: Vec<(String, u32, u32)>,
}

impl HostSample {
    /// Reads everything under `root`. A device whose vectors cannot be read is skipped (a virtual device
    /// has none); a tree that is not a /proc tree at all is an error.
    pub fn read(root: &Path) -> Result<HostSample, pincore_tuner::Error> {
        let doctor = Sample::read(root, doctor::is_live_root(root))?;
        let interrupts = nic::interrupt_counts(root)?;
        let mut queues = Vec::new();
        for device in nic::device_names(root) {
            if let Ok(found) = nic::discover(root, &device) {
                for v in found.vectors {
                    queues.push((device.clone(), v.queue, v.irq));
                }
            }
        }
        Ok(HostSample {
            doctor,
            interrupts,
            queues,
        })
    }
}

/// One CPU of the host over the interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuRow {
    pub cpu: u32,
    /// Shares of the interval, 0..1.
    pub busy: f64,
    pub irq: f64,
    pub softirq: f64,
    /// Interrupts per second of NIC queue vectors on this CPU.
    pub queue_interrupts_per_sec: f64,
    /// `softnet_stat` deltas: packets dropped (input queue full) and NET_RX budget squeezes.
    pub softnet_dropped: u64,
    pub softnet_squeezed: u64,
    /// Whether a shard of a watched local server runs here.
    pub has_shard: bool,
}

/// One NIC queue's interrupt over the interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueRow {
    pub device: String,
    pub queue: u32,
    pub irq: u32,
    pub per_sec: f64,
    /// CPUs that took it during the interval, with their rate.
    pub cpus: BTreeMap<u32, f64>,
}

/// A host TCP counter that grew during the interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterDelta {
    /// `Section.Name` as in /proc/net/netstat and snmp, such as `TcpExt.ListenOverflows`.
    pub counter: String,
    pub delta: u64,
}

/// The host over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostView {
    pub root: PathBuf,
    pub cpus: Vec<CpuRow>,
    pub queues: Vec<QueueRow>,
    /// Watched TCP counters that grew (none listed: none grew).
    pub tcp_grew: Vec<CounterDelta>,
    /// Sockets in TIME-WAIT now (sockstat `TCP tw`).
    pub time_wait: Option<u64>,
    /// Pages of memory TCP uses now, and whether the kernel reported memory pressure in the interval.
    pub tcp_memory_pages: Option<u64>,
    pub tcp_memory_pressure: bool,
    /// The doctor's findings over the interval, each with its knob, value and profile.
    pub findings: Vec<Finding>,
    /// NIC queue interrupts taken on CPUs where no shard runs.
    pub placement_warnings: Vec<String>,
    /// Files the kernel does not show here (global ones inside a network namespace).
    pub not_visible: Vec<PathBuf>,
}

/// The TCP counters watched for growth.
const WATCHED: &[(&str, &str)] = &[
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("TcpExt", "TCPTimeWaitOverflow"),
    ("TcpExt", "TCPMemoryPressures"),
    ("TcpExt", "TCPAbortOnMemory"),
    ("TcpExt", "TCPBacklogDrop"),
    ("TcpExt", "TCPReqQFullDrop"),
    ("TcpExt", "TCPRetransFail"),
    ("Tcp", "RetransSegs"),
    ("Tcp", "AttemptFails"),
    ("Tcp", "EstabResets"),
];

/// The host between two readings `interval` apart; `shard_cpus` are the CPUs local servers' shards run on
/// (None: no local server was read, so no placement is judged).
pub fn host_view(
    root: &Path,
    before: &HostSample,
    after: &HostSample,
    interval: Duration,
    advice: &Advice,
    shard_cpus: Option<&BTreeSet<u32>>,
) -> HostView {
    let seconds = interval.as_secs_f64().max(1e-3);
    let (b, a) = (&before.doctor, &after.doctor);
    let mut cpus: BTreeMap<u32, CpuRow> = BTreeMap::new();
    if let (Some(old), Some(new)) = (&b.cpus, &a.cpus) {
        for now in new {
            if let Some(then) = old.iter().find(|c| c.cpu == now.cpu) {
                let (busy, irq, softirq) = now.shares_since(then);
                let row = cpus.entry(now.cpu).or_default();
                (row.busy, row.irq, row.softirq) = (busy, irq, softirq);
            }
        }
    }
    if let (Some(old), Some(new)) = (&b.softnet, &a.softnet) {
        for now in new {
            if let Some(then) = old.iter().find(|r| r.cpu == now.cpu) {
                let row = cpus.entry(now.cpu).or_default();
                row.softnet_dropped = now.dropped.saturating_sub(then.dropped);
                row.softnet_squeezed = now.time_squeeze.saturating_sub(then.time_squeeze);
            }
        }
    }
    let mut queues = Vec::new();
    let mut placement_warnings = Vec::new();
    for (device, queue, irq) in &after.queues {
        let counts = |s: &HostSample| {
            s.interrupts
                .get(irq)
                .map(|(_, c)| c.clone())
                .unwrap_or_default()
        };
        let (old, new) = (counts(before), counts(after));
        let mut row = QueueRow {
            device: device.clone(),
            queue: *queue,
            irq: *irq,
            ..QueueRow::default()
        };
        for (cpu, n) in new {
            let then = old.iter().find(|(c, _)| *c == cpu).map_or(n, |(_, v)| *v);
            let rate = n.saturating_sub(then) as f64 / seconds;
            if rate > 0.0 {
                row.cpus.insert(cpu, rate);
                row.per_sec += rate;
                cpus.entry(cpu).or_default().queue_interrupts_per_sec += rate;
                if shard_cpus.is_some_and(|s| !s.contains(&cpu)) {
                    placement_warnings.push(format!(
                        "{device} queue {queue} (IRQ {irq}) interrupts CPU {cpu}, where no shard runs: \
                         `pincore-tuner nic apply --dev {device} --cpus <shard CPUs>` moves it"
                    ));
                }
            }
        }
        queues.push(row);
    }
    for (cpu, row) in cpus.iter_mut() {
        row.cpu = *cpu;
        row.has_shard = shard_cpus.is_some_and(|s| s.contains(cpu));
    }
    let mut tcp_grew = Vec::new();
    let mut tcp_memory_pressure = false;
    for (section, name) in WATCHED {
        let counters = |s: &Sample| {
            if *section == "Tcp" {
                s.snmp.clone()
            } else {
                s.netstat.clone()
            }
        };
        let (Some(old), Some(new)) = (counters(b), counters(a)) else {
            continue;
        };
        if let Some(delta) = new.delta(&old, section, name).filter(|d| *d > 0) {
            tcp_memory_pressure |= *name == "TCPMemoryPressures";
            tcp_grew.push(CounterDelta {
                counter: format!("{section}.{name}"),
                delta,
            });
        }
    }
    let sockstat = |key: &str| {
        a.sockstat
            .as_ref()
            .and_then(|s| s.get("TCP", key))
            .and_then(|v| u64::try_from(v).ok())
    };
    HostView {
        root: root.to_path_buf(),
        cpus: cpus.into_values().collect(),
        queues,
        tcp_grew,
        time_wait: sockstat("tw"),
        tcp_memory_pages: sockstat("mem"),
        tcp_memory_pressure,
        findings: doctor::diagnose(b, a, interval, advice),
        placement_warnings,
        not_visible: a.not_visible.clone(),
    }
}
