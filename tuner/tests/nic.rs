//! `pincore-tuner nic` driven like a user: on a fixture host modelling a two-port mlx5 (8 queues, NUMA
//! node 1), an ixgbe (`eth0-TxRx-N`) and a single-queue virtio-net, and on a real veth pair inside a
//! namespace the test creates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nic/host");

fn tuner() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pincore-tuner"))
}

/// Copies the fixture, keeping its sysfs-style relative symlinks.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn host() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(Path::new(FIXTURE), dir.path());
    dir
}

/// Every regular file under `root` (except pincore's own state) and its content.
fn contents(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            let path = entry.path();
            if kind.is_dir() && !path.ends_with("var") {
                walk(root, &path, out);
            } else if kind.is_file() {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read_to_string(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn run(root: &Path, args: &[&str]) -> Output {
    tuner().arg("--root").arg(root).args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// (setting as displayed, target) of each change in a `nic plan --json`.
fn targets(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let setting = match c["kind"].as_str().unwrap() {
                "irq-affinity" => format!("irq {}", c["irq"]),
                "queue" => format!(
                    "{} {}",
                    c["queue"].as_str().unwrap(),
                    c["file"].as_str().unwrap()
                ),
                _ => c["key"].as_str().unwrap().to_string(),
            };
            (setting, c["target"].as_str().unwrap().to_string())
        })
        .collect()
}

/// "IRQ NAME" of each vector a `nic plan --json` leaves alone.
fn left_alone(plan: &Value) -> Vec<String> {
    plan["left_alone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{} {}", v["irq"], v["name"].as_str().unwrap_or("-")))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn mlx5_queues_go_to_the_local_node_and_the_async_vector_stays() {
    let h = host();
    let plan = json(&run(
        h.path(),
        &["nic", "plan", "--dev", "enp59s0f0np0", "--json"],
    ));
    assert_eq!(
        plan["cpus"],
        serde_json::json!([8, 9, 10, 11, 12, 13, 14, 15])
    );
    let t = targets(&plan);
    let irqs: Vec<(String, String)> = t
        .iter()
        .filter(|(s, _)| s.starts_with("irq"))
        .cloned()
        .collect();
    let expected: Vec<(String, String)> = (0..8)
        .map(|q| (format!("irq {}", 101 + q), format!("cpus {}", 8 + q)))
        .collect();
    // IRQ 100 (mlx5_async0) is not a queue vector: it is not in the plan, and the plan says so.
    assert_eq!(irqs, expected);
    assert_eq!(left_alone(&plan), vec!["100 mlx5_async0@pci:0000:3b:00.0"]);
    // Eight queues for eight CPUs: RPS would be redundant; XPS maps one CPU per queue.
    assert!(!t.iter().any(|(s, _)| s.ends_with("rps_cpus")), "{t:?}");
    assert_eq!(t.iter().filter(|(s, _)| s.ends_with("xps_cpus")).count(), 8);
    assert!(t.contains(&("tx-3 xps_cpus".to_string(), "cpus 11".to_string())));

    // The second port has its own vectors (110-118), never the first port's.
    let plan = json(&run(
        h.path(),
        &["nic", "plan", "--dev", "enp59s0f1np1", "--json"],
    ));
    let irqs: Vec<String> = targets(&plan)
        .into_iter()
        .filter(|(s, _)| s.starts_with("irq"))
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        irqs,
        (111..119).map(|i| format!("irq {i}")).collect::<Vec<_>>()
    );
}

#[test]
fn cpus_outside_the_device_node_come_after_the_local_ones() {
    let h = host();
    let plan = json(&run(
        h.path(),
        &[
            "nic",
            "plan",
            "--dev",
            "enp59s0f0np0",
            "--cpus",
            "4-11",
            "--json",
        ],
    ));
    assert_eq!(plan["cpus"], serde_json::json!([8, 9, 10, 11, 4, 5, 6, 7]));
}

#[test]
fn ixgbe_gets_rps_when_queues_are_fewer_than_cpus() {
    let h = host();
    let plan = json(&run(
        h.path(),
        &[
            "nic", "plan", "--dev", "eth0", "--cpus", "0-7", "--rfs", "--json",
        ],
    ));
    let t = targets(&plan);
    assert_eq!(
        t,
        pairs(&[
            ("irq 120", "cpus 0"),
            ("irq 121", "cpus 1"),
            ("irq 122", "cpus 2"),
            ("irq 123", "cpus 3"),
            ("rx-0 rps_cpus", "cpus 0-7"),
            ("rx-1 rps_cpus", "cpus 0-7"),
            ("rx-2 rps_cpus", "cpus 0-7"),
            ("rx-3 rps_cpus", "cpus 0-7"),
            ("net.core.rps_sock_flow_entries", "32768"),
            ("rx-0 rps_flow_cnt", "8192"),
            ("rx-1 rps_flow_cnt", "8192"),
            ("rx-2 rps_flow_cnt", "8192"),
            ("rx-3 rps_flow_cnt", "8192"),
            ("tx-0 xps_cpus", "cpus 0,4"),
            ("tx-1 xps_cpus", "cpus 1,5"),
            ("tx-2 xps_cpus", "cpus 2,6"),
            ("tx-3 xps_cpus", "cpus 3,7"),
        ])
    );
    // The link vector named after the device is not a queue's.
    assert_eq!(left_alone(&plan), vec!["124 eth0"]);
    // The mask is written in the file's own width.
    let rps = &plan["changes"][4];
    assert_eq!(
        (rps["current"].as_str(), rps["write"].as_str()),
        (Some("0000"), Some("00ff"))
    );
}

#[test]
fn single_queue_virtio_pins_both_vectors_and_spreads_with_rps() {
    let h = host();
    let plan = json(&run(
        h.path(),
        &["nic", "plan", "--dev", "ens3", "--cpus", "2-5", "--json"],
    ));
    assert_eq!(
        targets(&plan),
        pairs(&[
            ("irq 38", "cpus 2"),
            ("irq 39", "cpus 2"),
            ("rx-0 rps_cpus", "cpus 2-5"),
            ("tx-0 xps_cpus", "cpus 2-5"),
        ])
    );
    assert_eq!(left_alone(&plan), vec!["37 virtio2-config"]);
    let human = run(h.path(), &["nic", "plan", "--dev", "ens3"]);
    assert!(String::from_utf8_lossy(&human.stdout)
        .contains("left alone: irq 37 virtio2-config (control or async vector, not a queue)"));
}

#[test]
fn apply_verify_drift_and_rollback_on_a_fixture_host() {
    let h = host();
    let before = contents(h.path());
    let out = run(
        h.path(),
        &["nic", "apply", "--dev", "eth0", "--cpus", "0-7", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["changed"].as_array().unwrap().len(), 12);
    let read = |p: &str| std::fs::read_to_string(h.path().join(p)).unwrap();
    assert_eq!(read("proc/irq/122/smp_affinity_list"), "2\n");
    assert_eq!(
        read("proc/irq/124/smp_affinity_list"),
        "0-15\n",
        "the link vector is left alone"
    );
    assert_eq!(read("sys/class/net/eth0/queues/rx-1/rps_cpus"), "00ff\n");
    assert_eq!(read("sys/class/net/eth0/queues/tx-1/xps_cpus"), "0022\n");
    assert!(h
        .path()
        .join("var/lib/pincore-tuner/nic/last-apply.json")
        .is_file());

    let verify = run(
        h.path(),
        &["nic", "verify", "--dev", "eth0", "--cpus", "0-7"],
    );
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Something else moves an interrupt: verify names it.
    std::fs::write(h.path().join("proc/irq/121/smp_affinity_list"), "0-15\n").unwrap();
    let verify = run(
        h.path(),
        &["nic", "verify", "--dev", "eth0", "--cpus", "0-7", "--json"],
    );
    assert_eq!(verify.status.code(), Some(1));
    let drift = json(&verify);
    assert_eq!(drift["drift"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            drift["drift"][0]["irq"].as_u64(),
            drift["drift"][0]["current"].as_str()
        ),
        (Some(121), Some("0-15"))
    );

    let rollback = run(h.path(), &["nic", "rollback"]);
    assert_eq!(
        rollback.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rollback.stderr)
    );
    assert_eq!(contents(h.path()), before);
    assert!(!h
        .path()
        .join("var/lib/pincore-tuner/nic/last-apply.json")
        .exists());
    let again = run(h.path(), &["nic", "rollback"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to roll back"));
}

#[test]
fn a_write_that_fails_half_way_leaves_the_host_as_it_was() {
    let h = host();
    // IRQ 106's affinity file reads fine but refuses writes (a read-only kernel file stands in for it), so
    // the apply fails after IRQs 101-105 were written.
    let broken = h.path().join("proc/irq/106/smp_affinity_list");
    std::fs::remove_file(&broken).unwrap();
    std::os::unix::fs::symlink("/sys/devices/system/cpu/possible", &broken).unwrap();
    let before = contents(h.path());
    let out = run(h.path(), &["nic", "apply", "--dev", "enp59s0f0np0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("irq/106/smp_affinity_list") && err.contains("restored"),
        "{err}"
    );
    assert_eq!(contents(h.path()), before);
    assert!(!h
        .path()
        .join("var/lib/pincore-tuner/nic/last-apply.json")
        .exists());
}

#[test]
fn irqbalance_blocks_apply_and_says_how_to_ban() {
    let h = host();
    std::fs::create_dir_all(h.path().join("proc/4242")).unwrap();
    std::fs::write(h.path().join("proc/4242/comm"), "irqbalance\n").unwrap();
    let before = contents(h.path());
    let out = run(h.path(), &["nic", "apply", "--dev", "enp59s0f0np0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("irqbalance is running (pid 4242)"), "{err}");
    assert!(
        err.contains("--banirq=101") && err.contains("--banirq=108"),
        "{err}"
    );
    assert!(
        err.contains("IRQBALANCE_BANNED_CPULIST=8-15") && err.contains("/etc/default/irqbalance"),
        "{err}"
    );
    assert_eq!(contents(h.path()), before);

    let out = run(
        h.path(),
        &[
            "nic",
            "apply",
            "--dev",
            "enp59s0f0np0",
            "--allow-irqbalance",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["irqbalance"], serde_json::json!([4242]));
}

#[test]
fn bad_devices_and_cpus_are_clear_errors() {
    let h = host();
    let out = run(h.path(), &["nic", "plan", "--dev", "nope0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no network device `nope0`"));
    let out = run(
        h.path(),
        &["nic", "plan", "--dev", "eth0", "--cpus", "12-19"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CPUs 16-19 are not online (online: 0-15)")
    );
    let out = run(h.path(), &["nic", "plan", "--dev", "eth0", "--cpus", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

fn mask(text: &str) -> Vec<u32> {
    pincore_tuner::nic::CpuSet::parse_mask(text)
        .unwrap()
        .iter()
        .collect()
}

/// CPUs 0 and 1 are online (the veth test spreads one queue over two CPUs).
fn two_cpus() -> Result<(), pincore_testkit::Missing> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let ok = online.trim().starts_with("0-") || online.trim().starts_with("0,1");
    if ok {
        Ok(())
    } else {
        Err(pincore_testkit::Missing(format!(
            "needs CPUs 0 and 1 online, online is {:?}",
            online.trim()
        )))
    }
}

#[test]
fn rps_and_xps_on_a_veth_inside_a_namespace() {
    pincore_testkit::require!(pincore_testkit::netns(), two_cpus());
    let ns = pincore_testkit::NetNs::new("nic").unwrap();
    // One queue each way: fewer receive queues than CPUs, so RPS applies.
    pincore_testkit::run_checked(Command::new("ip").args([
        "-n",
        ns.name(),
        "link",
        "add",
        "pcva",
        "type",
        "veth",
        "peer",
        "name",
        "pcvb",
    ]))
    .unwrap();
    let read = |file: &str| {
        let out = pincore_testkit::run_checked(
            ns.command("cat")
                .arg(format!("/sys/class/net/pcva/queues/{file}")),
        )
        .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // State goes to the test's own directory, never the host's /var/lib/pincore.
    let state = tempfile::tempdir().unwrap();
    let tuner_in_ns = |args: &[&str]| {
        tuner()
            .args(["--netns", ns.name()])
            .arg("--state-dir")
            .arg(state.path())
            .args(args)
            .output()
            .unwrap()
    };
    let (rps_before, xps_before, flow_before) = (
        read("rx-0/rps_cpus"),
        read("tx-0/xps_cpus"),
        read("rx-0/rps_flow_cnt"),
    );

    // The device exists only in the namespace: without --netns the tuner does not see it.
    let outside = tuner()
        .args(["nic", "plan", "--dev", "pcva"])
        .output()
        .unwrap();
    assert_eq!(
        outside.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&outside.stdout)
    );

    let out = tuner_in_ns(&[
        "nic", "apply", "--dev", "pcva", "--cpus", "0-1", "--rfs", "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["changed"].as_array().unwrap().len(), 3, "{report}");
    // The RFS table size is host-global: not this namespace's to change.
    assert_eq!(
        report["skipped"][0]["key"],
        "net.core.rps_sock_flow_entries"
    );
    assert_eq!(report["skipped"][0]["action"], "not-visible-in-namespace");
    assert_eq!(mask(&read("rx-0/rps_cpus")), vec![0, 1]);
    assert_eq!(mask(&read("tx-0/xps_cpus")), vec![0, 1]);
    assert_eq!(read("rx-0/rps_flow_cnt"), "32768");

    let verify = tuner_in_ns(&["nic", "verify", "--dev", "pcva", "--cpus", "0-1", "--rfs"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    pincore_testkit::run_checked(
        ns.command("sh")
            .args(["-c", "echo 0 > /sys/class/net/pcva/queues/rx-0/rps_cpus"]),
    )
    .unwrap();
    let verify = tuner_in_ns(&[
        "nic", "verify", "--dev", "pcva", "--cpus", "0-1", "--rfs", "--json",
    ]);
    assert_eq!(verify.status.code(), Some(1));
    assert_eq!(json(&verify)["drift"][0]["file"], "rps_cpus");

    let rollback = tuner_in_ns(&["nic", "rollback"]);
    assert_eq!(
        rollback.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rollback.stderr)
    );
    assert_eq!(
        (
            read("rx-0/rps_cpus"),
            read("tx-0/xps_cpus"),
            read("rx-0/rps_flow_cnt")
        ),
        (rps_before, xps_before, flow_before)
    );
}

const EDGE: &str = "name: edge
description: An edge host's NICs.
include: [base]
nic:
  - device: eth0
    cpus: 0-7
    rfs: true
  - device: ens3
    cpus: 2
";

const EDGE_CHILD: &str = "name: edge-child
include: [edge]
nic:
  - device: eth0
    cpus: 4-7
    xps: false
";

fn with_profiles(h: &Path) -> PathBuf {
    let dir = h.join("etc/pincore/profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("edge.yaml"), EDGE).unwrap();
    std::fs::write(dir.join("edge-child.yaml"), EDGE_CHILD).unwrap();
    dir
}

#[test]
fn a_profile_nic_section_flattens_per_device() {
    let h = host();
    with_profiles(h.path());
    let show = json(&run(h.path(), &["show", "edge-child", "--json"]));
    let nic: Vec<(String, String, String, bool)> = show["nic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap_or("").to_string();
            (
                s("device"),
                s("cpus"),
                s("from"),
                n["xps"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nic,
        vec![
            ("eth0".into(), "4-7".into(), "edge-child".into(), false),
            ("ens3".into(), "2".into(), "edge".into(), true),
        ]
    );
}

#[test]
fn apply_verify_and_rollback_a_profile_with_nics() {
    let h = host();
    with_profiles(h.path());
    let before = contents(h.path());
    let plan = json(&run(h.path(), &["plan", "edge", "--json"]));
    assert_eq!(plan["nic"].as_array().unwrap().len(), 2);

    let out = run(h.path(), &["apply", "edge"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |p: &str| std::fs::read_to_string(h.path().join(p)).unwrap();
    assert_eq!(read("proc/irq/121/smp_affinity_list"), "1\n");
    assert_eq!(read("proc/irq/38/smp_affinity_list"), "2\n");
    assert_eq!(read("proc/sys/net/core/rps_sock_flow_entries"), "32768\n");
    assert_eq!(
        read("sys/class/net/eth0/queues/rx-2/rps_flow_cnt"),
        "8192\n"
    );
    assert_eq!(run(h.path(), &["verify", "edge"]).status.code(), Some(0));

    assert_eq!(read("sys/class/net/ens3/queues/tx-0/xps_cpus"), "0004\n");
    std::fs::write(
        h.path().join("sys/class/net/ens3/queues/tx-0/xps_cpus"),
        "0000\n",
    )
    .unwrap();
    let verify = run(h.path(), &["verify", "edge", "--json"]);
    assert_eq!(verify.status.code(), Some(1));
    let v = json(&verify);
    assert_eq!(v["nic_drift"][0]["device"], "ens3");
    assert_eq!(v["nic_drift"][0]["file"], "xps_cpus");

    // One rollback undoes the sysctls and the NIC settings the profile applied.
    let out = run(h.path(), &["rollback"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(contents(h.path()), before);
}

#[test]
fn a_profile_apply_also_respects_irqbalance() {
    let h = host();
    with_profiles(h.path());
    std::fs::create_dir_all(h.path().join("proc/77")).unwrap();
    std::fs::write(h.path().join("proc/77/comm"), "irqbalance\n").unwrap();
    let before = contents(h.path());
    let out = run(h.path(), &["apply", "edge"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--banirq=120"));
    assert_eq!(contents(h.path()), before);
    assert_eq!(
        run(h.path(), &["apply", "edge", "--allow-irqbalance"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn bad_nic_entries_name_file_line_and_column() {
    let h = host();
    let dir = with_profiles(h.path());
    let cases = [
        (
            "typo",
            "nic:\n  - device: eth0\n    cpu: 1\n",
            "typo.yaml:3:",
            "unknown field `cpu`",
        ),
        (
            "backwards",
            "nic:\n  - device: eth0\n    cpus: 7-3\n",
            "backwards.yaml:3:",
            "runs backwards",
        ),
        (
            "twice",
            "nic:\n  - device: eth0\n  - device: eth0\n",
            "twice.yaml:",
            "listed twice",
        ),
    ];
    for (name, yaml, location, message) in cases {
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).unwrap();
        let out = run(h.path(), &["show", name]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(location) && err.contains(message),
            "{name}: {err}"
        );
    }
}
