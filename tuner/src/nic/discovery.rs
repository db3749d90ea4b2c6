//! Finding a network device's queues, interrupt vectors and NUMA locality in sysfs and procfs.
//!
//! The device's MSI vectors (`/sys/class/net/DEV/device/msi_irqs`, or the parent PCI function's for
//! virtio, whose netdev hangs off a `virtioN` child device) are cross-checked with the names in
//! `/proc/interrupts` to tell queue vectors (`mlx5_comp3@pci:…`, `eth0-TxRx-3`, `virtio2-input.0`) from
//! control and async ones (`mlx5_async0@pci:…`, the plain `eth0` link vector, `virtio2-config`), which are
//! left where they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cpuset::CpuSet;
use crate::error::{Error, Result};

/// What a vector serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VectorKind {
    /// One queue pair (`-TxRx-N`, `mlx5_compN`, `-fp-N`).
    Combined,
    /// A receive queue (`virtioN-input.Q`, `-rx-N`).
    Rx,
    /// A transmit queue (`virtioN-output.Q`, `-tx-N`).
    Tx,
}

/// An interrupt vector that serves a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vector {
    pub irq: u32,
    pub name: String,
    pub kind: VectorKind,
    pub queue: u32,
}

/// A vector of the device that pincore leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedVector {
    pub irq: u32,
    pub name: Option<String>,
    pub reason: String,
}

/// A network device as sysfs and procfs describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    pub name: String,
    pub driver: Option<String>,
    /// The bus device that owns the vectors, such as a PCI address `0000:3b:00.0`.
    pub bus_id: Option<String>,
    /// `None` when the platform does not say (`numa_node` is -1) or the device is virtual.
    pub numa_node: Option<u32>,
    pub local_cpus: Option<CpuSet>,
    /// Queue numbers from `queues/rx-N` and `queues/tx-N`.
    pub rx_queues: Vec<u32>,
    pub tx_queues: Vec<u32>,
    /// Queue vectors, ordered by queue.
    pub vectors: Vec<Vector>,
    pub skipped: Vec<SkippedVector>,
}

/// The host's CPUs and NUMA nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub online: CpuSet,
    /// CPUs per NUMA node; empty when the kernel has no NUMA information.
    pub nodes: BTreeMap<u32, CpuSet>,
}

impl Topology {
    /// Reads `sys/devices/system/cpu/online` and `sys/devices/system/node/nodeN/cpulist` under `root`.
    pub fn read(root: &Path) -> Result<Topology> {
        let online_path = root.join("sys/devices/system/cpu/online");
        let online = read_cpulist(&online_path)?.ok_or_else(|| {
            Error::io("reading", &online_path, std::io::ErrorKind::NotFound.into())
        })?;
        let mut nodes = BTreeMap::new();
        let node_dir = root.join("sys/devices/system/node");
        if let Ok(entries) = std::fs::read_dir(&node_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(n) = name
                    .strip_prefix("node")
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Some(cpus) = read_cpulist(&entry.path().join("cpulist"))? {
                    nodes.insert(n, cpus);
                }
            }
        }
        Ok(Topology { online, nodes })
    }

    /// The NUMA node a CPU belongs to, if known.
    pub fn node_of(&self, cpu: u32) -> Option<u32> {
        self.nodes
            .iter()
            .find(|(_, cpus)| cpus.contains(cpu))
            .map(|(n, _)| *n)
    }
}

fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

fn read_cpulist(path: &Path) -> Result<Option<CpuSet>> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    CpuSet::parse_list(&text)
        .map(Some)
        .map_err(|why| Error::Parse {
            path: path.to_path_buf(),
            line: 1,
            why,
        })
}

/// Parses `/proc/interrupts` into IRQ number → action name (the last column).
pub fn parse_interrupts(text: &str, path: &Path) -> Result<BTreeMap<u32, String>> {
    // Architecture rows (NMI, LOC, ...) have names, not numbers, and no MSI vector is among them.
    Ok(parse_interrupt_counts(text, path)?
        .into_iter()
        .filter(|(_, (name, _))| !name.is_empty())
        .map(|(irq, (name, _))| (irq, name))
        .collect())
}

/// IRQ number → (action name, (CPU, count) for each CPU column of `/proc/interrupts`).
pub type InterruptCounts = BTreeMap<u32, (String, Vec<(u32, u64)>)>;

/// Each interrupt's per-CPU counts under `root` (`ROOT/proc/interrupts`; empty when it is not there): what
/// a live view turns into interrupts per second per queue.
pub fn interrupt_counts(root: &Path) -> Result<InterruptCounts> {
    let path = root.join("proc/interrupts");
    match read_text(&path)? {
        Some(text) => parse_interrupt_counts(&text, &path),
        None => Ok(BTreeMap::new()),
    }
}

/// Parses `/proc/interrupts` into IRQ number → (action name, count per CPU), the CPUs numbered by the
/// header's `CPUn` columns (offline CPUs have no column).
pub fn parse_interrupt_counts(text: &str, path: &Path) -> Result<InterruptCounts> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let cpus: Vec<u32> = header
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("CPU")?.parse().ok())
        .collect();
    let mut irqs = BTreeMap::new();
    for (no, line) in lines.enumerate() {
        let Some((irq, rest)) = line.trim_start().split_once(':') else {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: no + 2,
                why: "expected `IRQ: counts ...`".into(),
            });
        };
        let Ok(irq) = irq.trim().parse::<u32>() else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let counts: Vec<(u32, u64)> = cpus
            .iter()
            .zip(&words)
            .map_while(|(cpu, w)| w.parse::<u64>().ok().map(|n| (*cpu, n)))
            .collect();
        let name = words.last().map(|n| n.to_string()).unwrap_or_default();
        irqs.insert(irq, (name, counts));
    }
    Ok(irqs)
}

/// What a vector name says about it: `Some((kind, queue))` for queue vectors.
fn classify(name: &str) -> Option<(VectorKind, u32)> {
    let number = |s: &str| s.parse::<u32>().ok();
    if let Some(rest) = name.split_once("mlx5_comp").map(|(_, r)| r) {
        let digits = rest.split('@').next()?;
        return Some((VectorKind::Combined, number(digits)?));
    }
    for (marker, kind) in [
        ("-TxRx-", VectorKind::Combined),
        ("-fp-", VectorKind::Combined),
        ("-rx-", VectorKind::Rx),
        ("-tx-", VectorKind::Tx),
        ("-input.", VectorKind::Rx),
        ("-output.", VectorKind::Tx),
    ] {
        if let Some((_, queue)) = name.rsplit_once(marker) {
            return Some((kind, number(queue)?));
        }
    }
    None
}

/// The network device names under `ROOT/sys/class/net`, sorted (empty when the directory cannot be read):
/// what an error about a missing device lists as the alternatives.
pub fn device_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("sys/class/net"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Reads device `name` under `root`.
pub fn discover(root: &Path, name: &str) -> Result<Nic> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::Usage(format!(
            "`{name}` is not a network device name (`ip link` lists them)"
        )));
    }
    let dev = root.join("sys/class/net").join(name);
    if !dev.exists() {
        return Err(Error::Usage(format!(
            "no network device `{name}` in {} (`ip link` lists the devices; inside a namespace pass --netns)",
            dev.parent().unwrap_or(&dev).display()
        )));
    }
    let (rx_queues, tx_queues) = queues(&dev.join("queues"))?;
    let mut nic = Nic {
        name: name.to_string(),
        driver: None,
        bus_id: None,
        numa_node: None,
        local_cpus: None,
        rx_queues,
        tx_queues,
        vectors: Vec::new(),
        skipped: Vec::new(),
    };
    // A virtual device (veth, bridge, loopback) has no `device` link and no interrupts of its own.
    let Ok(device) = std::fs::canonicalize(dev.join("device")) else {
        return Ok(nic);
    };
    nic.driver = std::fs::read_link(device.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let bus: PathBuf = if device.join("msi_irqs").is_dir() {
        device.clone()
    } else {
        device
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| device.clone())
    };
    let device_id = device
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bus_id = bus.file_name().map(|n| n.to_string_lossy().into_owned());
    nic.bus_id = bus_id.clone();
    for dir in [&device, &bus] {
        if nic.numa_node.is_none() {
            nic.numa_node = read_text(&dir.join("numa_node"))?
                .and_then(|n| n.parse::<i64>().ok())
                .and_then(|n| u32::try_from(n).ok());
        }
        if nic.local_cpus.is_none() {
            nic.local_cpus = read_cpulist(&dir.join("local_cpulist"))?;
        }
    }

    let msi_dir = bus.join("msi_irqs");
    let mut irqs: Vec<u32> = match std::fs::read_dir(&msi_dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("reading", &msi_dir, e)),
    };
    irqs.sort_unstable();
    let interrupts_path = root.join("proc/interrupts");
    let interrupts = match read_text(&interrupts_path)? {
        Some(text) => parse_interrupts(&text, &interrupts_path)?,
        None => BTreeMap::new(),
    };
    for irq in irqs {
        let Some(vector_name) = interrupts.get(&irq) else {
            nic.skipped.push(SkippedVector {
                irq,
                name: None,
                reason: "not listed in /proc/interrupts".into(),
            });
            continue;
        };
        // A name that carries an owner must carry this device's: `virtio2-…` for virtio2, `…@pci:ADDR`.
        let owner_mismatch = (vector_name.starts_with("virtio")
            && !vector_name.starts_with(&format!("{device_id}-")))
            || vector_name
                .split_once("@pci:")
                .is_some_and(|(_, addr)| Some(addr) != bus_id.as_deref());
        match classify(vector_name) {
            Some(_) if owner_mismatch => nic.skipped.push(SkippedVector {
                irq,
                name: Some(vector_name.clone()),
                reason: "named for another device".into(),
            }),
            Some((kind, queue)) => nic.vectors.push(Vector {
                irq,
                name: vector_name.clone(),
                kind,
                queue,
            }),
            None => nic.skipped.push(SkippedVector {
                irq,
                name: Some(vector_name.clone()),
                reason: "control or async vector, not a queue".into(),
            }),
        }
    }
    nic.vectors.sort_by_key(|v| (v.queue, v.irq));
    Ok(nic)
}

fn queues(dir: &Path) -> Result<(Vec<u32>, Vec<u32>)> {
    let (mut rx, mut tx) = (Vec::new(), Vec::new());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((rx, tx)),
        Err(e) => return Err(Error::io("reading", dir, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("rx-").and_then(|n| n.parse().ok()) {
            rx.push(n);
        } else if let Some(n) = name.strip_prefix("tx-").and_then(|n| n.parse().ok()) {
            tx.push(n);
        }
    }
    rx.sort_unstable();
    tx.sort_unstable();
    Ok((rx, tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_names() {
        assert_eq!(
            classify("mlx5_comp3@pci:0000:3b:00.0"),
            Some((VectorKind::Combined, 3))
        );
        assert_eq!(classify("eth0-TxRx-7"), Some((VectorKind::Combined, 7)));
        assert_eq!(
            classify("i40e-eth0-TxRx-2"),
            Some((VectorKind::Combined, 2))
        );
        assert_eq!(classify("eth0-fp-1"), Some((VectorKind::Combined, 1)));
        assert_eq!(classify("virtio2-input.0"), Some((VectorKind::Rx, 0)));
        assert_eq!(classify("virtio2-output.3"), Some((VectorKind::Tx, 3)));
        for control in [
            "mlx5_async0@pci:0000:3b:00.0",
            "eth0",
            "virtio2-config",
            "virtio3-rx",
            "mlx5_pages_eq",
        ] {
            assert_eq!(classify(control), None, "{control}");
        }
    }

    #[test]
    fn interrupts_table() {
        let text = "           CPU0       CPU1\n 38:          0       4815 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n NMI:          0          0   Non-maskable interrupts\n";
        let names = parse_interrupts(text, Path::new("interrupts")).unwrap();
        assert_eq!(names.get(&38).map(String::as_str), Some("virtio2-input.0"));
        assert_eq!(names.len(), 1);
        let counts = parse_interrupt_counts(text, Path::new("interrupts")).unwrap();
        assert_eq!(counts[&38].1, vec![(0, 0), (1, 4815)]);
    }
}
