//! `pincore-tuner doctor` driven like a user: on recorded fixture trees (`--root BEFORE --after AFTER`), one
//! symptom at a time, and for real inside a network namespace with a listener that never accepts.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/doctor/host");

fn tuner() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Two copies of the recorded host; `edit` changes the second as the kernel would have over the interval.
struct Snapshots {
    before: tempfile::TempDir,
    after: tempfile::TempDir,
}

impl Snapshots {
    fn new() -> Snapshots {
        let s = Snapshots {
            before: tempfile::tempdir().unwrap(),
            after: tempfile::tempdir().unwrap(),
        };
        copy_tree(Path::new(FIXTURE), s.before.path());
        copy_tree(Path::new(FIXTURE), s.after.path());
        s
    }

    /// Adds `by` to `section.name` in a paired counter file (netstat, snmp) of the after tree.
    fn bump(&self, file: &str, section: &str, name: &str, by: i64) -> &Self {
        let path = self.after.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with(&format!("{section}:")))
            .unwrap();
        let index = lines[header]
            .split_whitespace()
            .position(|n| n == name)
            .unwrap();
        let mut values: Vec<String> = lines[header + 1]
            .split_whitespace()
            .map(String::from)
            .collect();
        values[index] = (values[index].parse::<i64>().unwrap() + by).to_string();
        lines[header + 1] = values.join(" ");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        self
    }

    /// Adds `processed`, `dropped` and `squeezed` to the first CPU's row of softnet_stat.
    fn bump_softnet(&self, processed: u64, dropped: u64, squeezed: u64) {
        let path = self.after.path().join("proc/net/softnet_stat");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut cols: Vec<u64> = lines[0]
            .split_whitespace()
            .map(|c| u64::from_str_radix(c, 16).unwrap())
            .collect();
        cols[0] += processed;
        cols[1] += dropped;
        cols[2] += squeezed;
        lines[0] = cols
            .iter()
            .map(|c| format!("{c:08x}"))
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    fn set(&self, file: &str, text: &str) {
        std::fs::write(self.after.path().join(file), text).unwrap();
    }

    fn doctor(&self) -> Output {
        tuner()
            .arg("--root")
            .arg(self.before.path())
            .args(["doctor", "--interval", "5s", "--json", "--after"])
            .arg(self.after.path())
            .output()
            .unwrap()
    }
}

/// Runs doctor and returns (exit code, the findings as (symptom, knob) pairs, the full report).
fn findings(s: &Snapshots) -> (i32, Vec<(String, String)>, Value) {
    let out = s.doctor();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let pairs = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["symptom"].as_str().unwrap().to_string(),
                f["knob"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code().unwrap(), pairs, report)
}

fn pair(symptom: &str, knob: &str) -> Vec<(String, String)> {
    vec![(symptom.to_string(), knob.to_string())]
}

#[test]
fn unchanged_counters_are_healthy() {
    let s = Snapshots::new();
    let (code, found, report) = findings(&s);
    assert_eq!((code, found), (0, vec![]));
    assert_eq!(report["healthy"], true);
    // Recorded trees show listeners from /proc/net/tcp: queue lengths, no backlogs.
    assert_eq!(report["listener_source"], "proc-net-tcp");
    assert_eq!(report["listeners"][1]["local"], "127.0.0.1:7000");
    assert_eq!(report["listeners"][1]["queued"], 2);
    let human = tuner()
        .arg("--root")
        .arg(s.before.path())
        .args(["doctor", "--after"])
        .arg(s.after.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).starts_with("healthy: no findings over 5.0s"));
}

#[test]
fn the_interval_takes_durations_as_every_pincore_tool_writes_them() {
    let s = Snapshots::new();
    for (text, secs) in [("1.5s", 1.5), ("250ms", 0.25), ("2m", 120.0), ("3", 3.0)] {
        let out = tuner()
            .arg("--root")
            .arg(s.before.path())
            .args(["doctor", "--json", "--interval", text, "--after"])
            .arg(s.after.path())
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["interval_secs"], secs, "{text}: {report:#}");
    }
    let out = tuner()
        .args(["doctor", "--interval", "5h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit `h`"));
}

#[test]
fn listen_overflows_advise_somaxconn() {
    let s = Snapshots::new();
    s.bump("proc/net/netstat", "TcpExt", "ListenOverflows", 37)
        .bump("proc/net/netstat", "TcpExt", "ListenDrops", 37);
    let (code, found, report) = findings(&s);
    assert_eq!(
        (code, found),
        (1, pair("ListenOverflows", "net.core.somaxconn"))
    );
    let f = &report["findings"][0];
    assert_eq!(f["evidence"][0], "TcpExt.ListenOverflows +37 in 5.0s");
    assert_eq!(f["current"], "4096");
    // The value comes from the built-in profile with the largest somaxconn.
    assert_eq!(f["profile"], "connections");
    assert!(f["note"].as_str().unwrap().contains("listen()"), "{f}");
}

#[test]
fn syn_queue_time_wait_buffers_and_memory_map_to_their_knobs() {
    let cases = [
        (
            "proc/net/netstat",
            "TcpExt",
            "TCPReqQFullDrop",
            "SynBacklogOverflow",
            "net.ipv4.tcp_max_syn_backlog",
        ),
        (
            "proc/net/netstat",
            "TcpExt",
            "TCPTimeWaitOverflow",
            "TimeWaitOverflow",
            "net.ipv4.tcp_max_tw_buckets",
        ),
        (
            "proc/net/netstat",
            "TcpExt",
            "TCPRcvQDrop",
            "SocketBacklogDrops",
            "net.ipv4.tcp_rmem",
        ),
        (
            "proc/net/netstat",
            "TcpExt",
            "TCPMemoryPressures",
            "TcpMemoryPressure",
            "net.ipv4.tcp_mem",
        ),
        (
            "proc/net/snmp",
            "Udp",
            "RcvbufErrors",
            "UdpBufferErrors",
            "net.core.rmem_max",
        ),
    ];
    for (file, section, counter, symptom, knob) in cases {
        let s = Snapshots::new();
        s.bump(file, section, counter, 3);
        let (code, found, report) = findings(&s);
        assert_eq!((code, found), (1, pair(symptom, knob)), "{counter}");
        assert_eq!(
            report["findings"][0]["evidence"][0],
            format!("{section}.{counter} +3 in 5.0s")
        );
        assert!(report["findings"][0]["value"]
            .as_str()
            .unwrap()
            .chars()
            .next()
            .unwrap()
            .is_ascii_digit());
    }
}

#[test]
fn softnet_drops_and_squeezes() {
    let s = Snapshots::new();
    s.bump_softnet(1000, 12, 0);
    let (code, found, report) = findings(&s);
    assert_eq!(
        (code, found),
        (1, pair("SoftnetDrops", "net.core.netdev_max_backlog"))
    );
    assert_eq!(
        report["findings"][0]["evidence"][0],
        "softnet_stat cpu0: dropped +12 in 5.0s"
    );

    let s = Snapshots::new();
    s.bump_softnet(1000, 0, 40);
    let (code, found, _) = findings(&s);
    assert_eq!(
        (code, found),
        (1, pair("SoftnetTimeSqueeze", "net.core.netdev_budget"))
    );
}

#[test]
fn limits_and_io_uring() {
    let s = Snapshots::new();
    let limits = std::fs::read_to_string(s.after.path().join("proc/self/limits")).unwrap();
    s.set(
        "proc/self/limits",
        &limits.replace(
            "Max open files            1048576              1048576",
            "Max open files            1024                 4096   ",
        ),
    );
    let (code, found, report) = findings(&s);
    assert_eq!((code, found), (1, pair("FileLimitLow", "RLIMIT_NOFILE")));
    assert_eq!(
        report["findings"][0]["evidence"][0],
        "RLIMIT_NOFILE soft 1024, hard 4096 (want at least 65536)"
    );

    let s = Snapshots::new();
    s.set(
        "proc/self/limits",
        &limits.replace(
            "8388608              8388608",
            "65536                65536  ",
        ),
    );
    assert_eq!(findings(&s).1, pair("MemlockLow", "RLIMIT_MEMLOCK"));

    let s = Snapshots::new();
    s.set("proc/sys/kernel/io_uring_disabled", "2\n");
    let (code, found, report) = findings(&s);
    assert_eq!(
        (code, found),
        (1, pair("IoUringDisabled", "kernel.io_uring_disabled"))
    );
    assert_eq!(report["findings"][0]["value"], "0");
}

#[test]
fn absent_files_are_reported_not_visible() {
    let s = Snapshots::new();
    for tree in [s.before.path(), s.after.path()] {
        std::fs::remove_file(tree.join("proc/sys/net/core/netdev_max_backlog")).unwrap();
        std::fs::remove_file(tree.join("proc/net/softnet_stat")).unwrap();
    }
    let (code, _, report) = findings(&s);
    assert_eq!(code, 0);
    let hidden: Vec<&str> = report["not_visible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        hidden.iter().any(|p| p.ends_with("proc/net/softnet_stat")),
        "{hidden:?}"
    );
    assert!(
        hidden
            .iter()
            .any(|p| p.ends_with("proc/sys/net/core/netdev_max_backlog")),
        "{hidden:?}"
    );
}

#[test]
fn a_corrupt_counter_file_is_an_error_naming_file_and_line() {
    let s = Snapshots::new();
    s.set(
        "proc/net/netstat",
        "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n",
    );
    let out = s.doctor();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("proc/net/netstat, line 2") && err.contains("2 names but 1 values"),
        "{err}"
    );
}

/// Runs `work` on a thread that has joined the namespace; sockets it creates stay in that namespace.
fn in_netns<T: Send + 'static>(ns: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns(2) on an open namespace descriptor; it changes only this short-lived thread.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns {path}"
        );
        work()
    })
    .join()
    .unwrap()
}

#[test]
fn listen_overflow_inside_a_namespace_is_diagnosed() {
    pincore_testkit::require!(pincore_testkit::netns());
    let ns = pincore_testkit::NetNs::new("doctor").unwrap();
    // A listener with a backlog of 1 that never accepts: the second handshake on fills it.
    let listener = in_netns(ns.name(), || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: listen(2) again on a listening socket just changes its backlog.
        assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 1) }, 0);
        l
    });
    let addr: SocketAddr = listener.local_addr().unwrap();

    // Connect from inside the namespace for as long as doctor samples: bounded in count and time.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_connecting = stop.clone();
    let name = ns.name().to_string();
    let connector = std::thread::spawn(move || {
        in_netns(&name, move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut held = Vec::new();
            for _ in 0..200 {
                if stop_connecting.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
                    held.push(s);
                }
            }
            held.len()
        })
    });

    let out = tuner()
        .args(["--netns", ns.name(), "doctor", "--interval", "1s", "--json"])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let established = connector.join().unwrap();
    eprintln!("{established} connections completed before the accept queue filled");
    drop(listener);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    std::io::stderr()
        .write_all(serde_json::to_string_pretty(&report).unwrap().as_bytes())
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{report}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["symptom"] == "ListenOverflows")
        .unwrap_or_else(|| panic!("no ListenOverflows finding: {report}"));
    assert_eq!(f["knob"], "net.core.somaxconn");
    assert_eq!(f["profile"], "connections");
    let evidence: Vec<&str> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.starts_with("TcpExt.ListenOverflows +")),
        "{evidence:?}"
    );
    assert!(
        evidence.contains(&format!("{addr}: accept queue 2 over backlog 1 (full)").as_str()),
        "{evidence:?}"
    );
    assert_eq!(report["listener_source"], "netlink");
    // The namespace has its own listeners only: the host's are not in the report.
    assert_eq!(report["listeners"].as_array().unwrap().len(), 1, "{report}");
    // Host-global sysctls do not exist inside a namespace: listed, not failed.
    let hidden: Vec<&str> = report["not_visible"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        hidden.contains(&"/proc/sys/net/core/netdev_max_backlog"),
        "{hidden:?}"
    );
}
