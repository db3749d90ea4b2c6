//! End-to-end rollouts against three test hosts (real sshd, each in its own network and mount namespace),
//! driving the `pincore-deploy` binary as a user would.

mod support;

use std::path::{Path, PathBuf};

use pincore_testkit::require;
use support::{deploy, stderr, stdout, Lab, TestHost, DEPLOY};

const HEALTHZ: &str = "http://127.0.0.1:9180/healthz";

/// A manifest for the lab's hosts; `log_level` and `resp_port` vary the release, `extra_hosts` adds lines.
fn manifest(
    lab: &Lab,
    server: &Path,
    tuner: &Path,
    log_level: &str,
    resp_port: u16,
    extra_hosts: &str,
) -> PathBuf {
    let release = format!(
        "  server: {}\n  tuner: {}\n",
        server.display(),
        tuner.display()
    );
    let text = lab.manifest_text(&release, log_level, resp_port, 2, extra_hosts);
    let path = lab
        .dir
        .path()
        .join(format!("manifest-{log_level}-{resp_port}.yaml"));
    std::fs::write(&path, text).expect("write manifest");
    path
}

fn deployed_release(host: &TestHost) -> Option<String> {
    let json: serde_json::Value =
        serde_json::from_str(&host.file("var/lib/pincore/deployed.json")?).ok()?;
    json["release"].as_str().map(str::to_string)
}

fn current_release(host: &TestHost) -> Option<String> {
    let link = std::fs::read_link(host.dir.join("ovl/opt/up/pincore/current")).ok()?;
    link.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn server_pid(host: &TestHost) -> Option<String> {
    host.file("var/lib/pincore/server.pid")
        .map(|p| p.trim().to_string())
}

/// The tuner's own verify, run inside the host's network namespace against the profile.
fn tuner_verifies(host: &TestHost, tuner: &Path) -> bool {
    let state = tempfile::tempdir().expect("tempdir");
    host.command(tuner)
        .arg("--state-dir")
        .arg(state.path())
        .args(["verify", "connections"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes an executable shell script.
fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make it executable");
}

fn untouched(host: &TestHost) -> bool {
    !host.exists("opt/pincore/releases")
        && !host.exists("var/lib/pincore/deployed.json")
        && !host.exists("etc/sysctl.d/60-pincore-connections.conf")
}

#[test]
fn three_host_rollout_rerun_rollback_failure_and_status() {
    require!(support::prerequisites(), support::release_binaries());
    let (server, tuner) = support::release_binaries().expect("checked above");
    let lab = Lab::new(3).expect("make three test hosts");
    let (server, tuner) = lab.release(&server, &tuner);
    let v1 = manifest(&lab, &server, &tuner, "info", 6380, "");

    // A broken manifest: a clear error naming file, line and column; no host touched.
    let broken_path = lab.dir.path().join("broken.yaml");
    let broken = std::fs::read_to_string(&v1)
        .unwrap()
        .replace("profile: connections", "profile: no-such-profile");
    std::fs::write(&broken_path, broken).unwrap();
    for command in ["validate", "apply"] {
        let out = deploy(&[command], &broken_path);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{}:20:3: tuning.profile", broken_path.display())),
            "{err}"
        );
        assert!(err.contains("no-such-profile"), "{err}");
    }

    // An unreachable host: a clear error naming it, exit 3, and no host touched (facts come before any change).
    let ghost = "      ghost:\n        ssh:\n          proxy_command: ip netns exec pincore-no-such-ns socat - TCP:127.0.0.1:22\n";
    let ghosts = format!("{ghost}{}", ghost.replace("ghost:", "ghost2:"));
    let with_ghost = manifest(&lab, &server, &tuner, "info", 6381, ghost);
    let out = deploy(&["apply"], &with_ghost);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("host ghost: unreachable"),
        "{}",
        stderr(&out)
    );
    assert!(
        lab.hosts.iter().all(untouched),
        "an unreachable host must stop the rollout before any change"
    );
    // Several unreachable hosts are all named at once.
    let out = deploy(
        &["plan"],
        &manifest(&lab, &server, &tuner, "info", 6382, &ghosts),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("host ghost, ghost2 (2 hosts): unreachable"),
        "{}",
        stderr(&out)
    );

    // Preflight: h2 pinned to CPUs it does not have. Every host is read first, so nothing is touched anywhere.
    let offline_cpus = lab.dir.path().join("offline-cpus.yaml");
    let text = std::fs::read_to_string(&v1)
        .unwrap()
        .replace("      h2:\n", "      h2:\n        cpus: 60-63\n");
    std::fs::write(&offline_cpus, text).unwrap();
    let out = deploy(&["apply"], &offline_cpus);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("preflight failed, nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains("host h2: cpus 60-63 includes CPU(s) 60,61,62,63 that are not online"),
        "{err}"
    );
    assert!(lab.hosts.iter().all(untouched));

    // Full rollout: every host serves /healthz and the profile verifies inside its namespace.
    assert!(deploy(&["validate"], &v1).status.success());
    let plan = deploy(&["plan", "--json"], &v1);
    assert!(plan.status.success());
    let plans: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan --json");
    assert_eq!(
        plans[0]["steps"],
        serde_json::json!(["upload", "switch", "tune", "restart"])
    );
    let out = deploy(&["apply"], &v1);
    assert!(out.status.success(), "apply failed");
    let first = deployed_release(&lab.hosts[0]).expect("deployed.json on h1");
    for host in &lab.hosts {
        assert!(
            host.http_ok(HEALTHZ),
            "{} does not serve /healthz",
            host.name
        );
        assert!(
            tuner_verifies(host, &tuner),
            "{}: profile does not verify inside its namespace",
            host.name
        );
        assert_eq!(deployed_release(host).as_deref(), Some(first.as_str()));
        assert_eq!(current_release(host).as_deref(), Some(first.as_str()));
        assert!(
            host.file("etc/sysctl.d/60-pincore-connections.conf")
                .is_some(),
            "{}: persisted drop-in",
            host.name
        );
    }

    // Re-running the unchanged manifest changes nothing and restarts nothing.
    let pids: Vec<_> = lab.hosts.iter().map(server_pid).collect();
    let out = deploy(&["apply"], &v1);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).matches("unchanged").count(),
        3,
        "{}",
        stdout(&out)
    );
    assert_eq!(
        lab.hosts.iter().map(server_pid).collect::<Vec<_>>(),
        pids,
        "nothing restarted"
    );
    let out = deploy(&["status"], &v1);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).matches("healthy  verified  in sync").count(),
        3,
        "{}",
        stdout(&out)
    );

    // A second release (config change, same listeners) everywhere, upgraded in place: each host's server
    // hands its listeners to the new release's; then rollback puts every host back on the first.
    let v2 = manifest(&lab, &server, &tuner, "debug", 6380, "");
    let out = deploy(&["plan"], &v2);
    assert!(out.status.success());
    // Same binaries, new config: nothing big to send, and every host says why it changes and how.
    assert_eq!(
        stdout(&out)
            .matches("upload, switch, tune, upgrade  release ")
            .count(),
        3,
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stdout(&out).matches("upgrade in place").count(),
        3,
        "{}",
        stdout(&out)
    );
    let pids: Vec<_> = lab.hosts.iter().map(server_pid).collect();
    let out = deploy(&["apply"], &v2);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    for (host, before) in lab.hosts.iter().zip(&pids) {
        let now = server_pid(host);
        assert!(
            now.is_some() && now != *before,
            "{}: the server was not replaced",
            host.name
        );
        assert!(
            host.http_ok(HEALTHZ),
            "{} healthy after the upgrade",
            host.name
        );
    }
    let second = deployed_release(&lab.hosts[0]).expect("deployed.json");
    assert_ne!(second, first);
    assert!(lab
        .hosts
        .iter()
        .all(|h| current_release(h).as_deref() == Some(second.as_str())));
    // A release whose server cannot start (it checks configurations and asks for upgrades like the real one,
    // and exits when asked to serve): the canary's upgrade is rolled back, its running server never stops,
    // the host goes back to the second release by a handoff, and the rollout stops there.
    let broken_server = lab.dir.path().join("pincore-server-that-cannot-start");
    write_script(
        &broken_server,
        &format!(
            "#!/bin/sh\ncase \"$1\" in check-config|upgrade) exec {} \"$@\";; esac\necho 'this build cannot start' >&2\nexit 1\n",
            server.display()
        ),
    );
    let v2_broken = lab.dir.path().join("manifest-cannot-start.yaml");
    let text = std::fs::read_to_string(&v2).unwrap().replace(
        &format!("server: {}", server.display()),
        &format!("server: {}", broken_server.display()),
    );
    std::fs::write(&v2_broken, text).unwrap();
    let out = deploy(&["apply"], &v2_broken);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}\n{}", stderr(&out));
    assert!(
        table.contains("failed, reverted") && table.contains("rolled back"),
        "{table}"
    );
    for host in &lab.hosts {
        assert_eq!(
            current_release(host).as_deref(),
            Some(second.as_str()),
            "{}: {table}",
            host.name
        );
        assert!(
            host.http_ok(HEALTHZ),
            "{} serves on the second release",
            host.name
        );
    }

    let out = deploy(&["rollback"], &v2);
    assert!(out.status.success(), "rollback failed");
    for host in &lab.hosts {
        assert_eq!(
            current_release(host).as_deref(),
            Some(first.as_str()),
            "{} rolled back",
            host.name
        );
        assert_eq!(deployed_release(host).as_deref(), Some(first.as_str()));
        assert!(host.http_ok(HEALTHZ));
        assert!(tuner_verifies(host, &tuner));
    }
    // status against the second manifest now reports the drift, and exits 1.
    let out = deploy(&["status"], &v2);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("(not the manifest's)"),
        "{}",
        stdout(&out)
    );

    // A third release that cannot become healthy on h2 (its RESP port is taken there): h1 (the canary) gets it,
    // h2 is reverted to the first release and stays healthy, and the rollout stops before h3 (max_fail 0).
    let blocker = pincore_testkit::KillOnDrop::spawn(
        lab.hosts[1]
            .command("socat")
            .args(["TCP-LISTEN:6390,bind=127.0.0.1,fork", "SYSTEM:true"]),
    )
    .expect("start a port blocker in h2");
    // One host per batch after the canary, so the stop is visible: h1, then h2 (fails), then h3 (skipped).
    let v3 = manifest(&lab, &server, &tuner, "info", 6390, "");
    let text = std::fs::read_to_string(&v3)
        .unwrap()
        .replace("max_parallel: 2", "max_parallel: 1");
    std::fs::write(&v3, text).unwrap();
    let out = deploy(&["apply"], &v3);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed host fails the rollout"
    );
    let table = stdout(&out);
    assert!(table.contains("failed, reverted"), "{table}");
    assert!(
        table.contains("server log:"),
        "the failure shows why, from the server's own log: {table}"
    );
    assert!(
        table.contains("the server exited before"),
        "a server that exits fails the gate at once, not at the deadline: {table}"
    );
    assert!(
        table.contains("skipped") && table.contains("rollout stopped"),
        "{table}"
    );
    let third = deployed_release(&lab.hosts[0]).expect("deployed.json");
    assert!(third != first && third != second);
    assert_eq!(
        current_release(&lab.hosts[1]).as_deref(),
        Some(first.as_str()),
        "h2 reverted"
    );
    assert_eq!(
        deployed_release(&lab.hosts[1]).as_deref(),
        Some(first.as_str())
    );
    assert!(
        lab.hosts[1].http_ok(HEALTHZ),
        "h2 healthy again on its previous release"
    );
    assert!(tuner_verifies(&lab.hosts[1], &tuner));
    assert_eq!(
        current_release(&lab.hosts[2]).as_deref(),
        Some(first.as_str()),
        "h3 untouched"
    );
    drop(blocker);
}

/// The load each host gets while a release rolls over it: open loop, GET and SET on the keys written by
/// `fill`, 1,000 requests/s per host over 8 connections.
const LOAD_RATE: &str = "1000";
const LOAD_KEYS: usize = 1000;
const LOAD_VALUE_SIZE: usize = 32;

/// Starts pincore-bench against every host's RESP port (inside its namespace) for `duration`.
fn start_load(lab: &Lab, bench: &Path, duration: &str) -> Vec<pincore_testkit::KillOnDrop> {
    lab.hosts
        .iter()
        .map(|host| {
            pincore_testkit::KillOnDrop::spawn(
                host.command(bench)
                    .args(["run", "--target", "127.0.0.1:6380", "--rate", LOAD_RATE])
                    .args(["--connections", "8", "--threads", "1", "--no-pin"])
                    .args(["--duration", duration, "--warmup", "1s", "--timeout", "5s"])
                    .args(["--keys", &LOAD_KEYS.to_string()])
                    .args(["--value-size", &LOAD_VALUE_SIZE.to_string()])
                    .args(["--set-ratio", "0.5", "--json", "--quiet"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped()),
            )
            .expect("start pincore-bench")
        })
        .collect()
}

/// Waits for every host's load to end and checks its report: every request answered, none an error,
/// no connect refused, nothing lost. Returns the reports.
fn finish_load(lab: &Lab, load: Vec<pincore_testkit::KillOnDrop>) -> Vec<serde_json::Value> {
    load.into_iter()
        .zip(&lab.hosts)
        .map(|(mut child, host)| {
            let status = child
                .wait_timeout(std::time::Duration::from_secs(120))
                .expect("pincore-bench ends");
            let mut out = String::new();
            let mut err = String::new();
            use std::io::Read;
            let _ = child
                .0
                .stdout
                .take()
                .map(|mut s| s.read_to_string(&mut out));
            let _ = child
                .0
                .stderr
                .take()
                .map(|mut s| s.read_to_string(&mut err));
            assert!(
                status.success(),
                "{}: pincore-bench failed: {err}",
                host.name
            );
            let report: serde_json::Value = serde_json::from_str(&out).expect("run --json");
            for field in [
                "error_replies",
                "timeouts",
                "connect_errors",
                "io_errors",
                "lost",
            ] {
                assert_eq!(report[field], 0, "{}: {field} in {report:#}", host.name);
            }
            assert!(
                report["requests"].as_u64().unwrap_or(0) > 1000,
                "{}: {report:#}",
                host.name
            );
            report
        })
        .collect()
}

/// Writes the keys the load reads and overwrites (with the very value it writes, so the load changes
/// nothing), and a sample of other keys of every kind, some expiring in an hour.
fn fill(host: &TestHost) {
    let value = "x".repeat(LOAD_VALUE_SIZE);
    let mut commands = String::new();
    for n in 0..LOAD_KEYS {
        commands.push_str(&format!("SET key:{n:012} {value}\n"));
    }
    for n in 0..100 {
        commands.push_str(&format!("SET sample:{n} value-{n}-{}\n", n * 7919));
        commands.push_str(&format!("HSET hash:{n} field {n} other {}\n", n * 31));
        commands.push_str(&format!("RPUSH list:{n} a{n} b{n} c{n}\n"));
        if n % 4 == 0 {
            commands.push_str(&format!("EXPIRE sample:{n} 3600\n"));
        }
    }
    let mut cli = host
        .command("redis-cli")
        .args(["-p", "6380"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run redis-cli");
    use std::io::Write;
    cli.stdin
        .take()
        .expect("stdin")
        .write_all(commands.as_bytes())
        .expect("send the keys");
    assert!(cli.wait().expect("redis-cli").success());
}

/// What must not change on a host across a rollout: the number of keys, the digest of every value of the
/// sample and of the load's keys, and the expiry deadlines (Unix ms) of the sample's expiring keys.
/// (DEBUG DIGEST of the whole dataset is not compared: it folds in deadlines in the process's own clock.)
#[derive(Debug)]
struct Keyspace {
    dbsize: String,
    values: String,
    deadlines: Vec<i64>,
}

fn keyspace(host: &TestHost) -> Keyspace {
    let ask = |args: &[String]| {
        let out = host
            .command("redis-cli")
            .args(["-p", "6380"])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut digest_value = vec!["DEBUG".to_string(), "DIGEST-VALUE".to_string()];
    digest_value.extend((0..100).flat_map(|n| {
        [
            format!("sample:{n}"),
            format!("hash:{n}"),
            format!("list:{n}"),
        ]
    }));
    digest_value.extend((0..LOAD_KEYS).map(|n| format!("key:{n:012}")));
    let deadlines = (0..100)
        .step_by(4)
        .map(|n| {
            let at = ask(&["PEXPIRETIME".to_string(), format!("sample:{n}")]);
            at.parse::<i64>()
                .unwrap_or_else(|_| panic!("{}: PEXPIRETIME sample:{n}: {at}", host.name))
        })
        .collect();
    Keyspace {
        dbsize: ask(&["DBSIZE".to_string()]),
        values: ask(&digest_value),
        deadlines,
    }
}

/// The keyspace is the same: the values exactly, the deadlines within the 2 ms the two clocks' conversion
/// may move them.
fn assert_same(host: &TestHost, now: &Keyspace, was: &Keyspace) {
    assert_eq!(now.dbsize, was.dbsize, "{}: DBSIZE", host.name);
    assert!(now.values == was.values, "{}: a value changed", host.name);
    assert_eq!(now.deadlines.len(), was.deadlines.len());
    for (a, b) in now.deadlines.iter().zip(&was.deadlines) {
        assert!(
            a > &0 && (a - b).abs() <= 2,
            "{}: a deadline moved: {:?} then {:?}",
            host.name,
            was.deadlines,
            now.deadlines
        );
    }
}

fn p99_ms(report: &serde_json::Value) -> f64 {
    report["latency_us"]["p99_us"].as_f64().unwrap_or(f64::NAN) / 1000.0
}

#[test]
fn a_rollout_under_load_loses_no_request_and_no_key() {
    require!(
        support::prerequisites(),
        support::release_binaries(),
        pincore_testkit::command("redis-cli"),
        pincore_testkit::sibling(DEPLOY, "pincore-bench")
    );
    let (server, tuner) = support::release_binaries().expect("checked above");
    let bench = pincore_testkit::sibling(DEPLOY, "pincore-bench").expect("checked above");
    let lab = Lab::new(3).expect("make three test hosts");
    let (server, tuner) = lab.release(&server, &tuner);
    // DEBUG DIGEST-VALUE fingerprints each host's values.
    let debug = |path: PathBuf| {
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "        listen: 127.0.0.1:6380\n",
            "        listen: 127.0.0.1:6380\n        settings:\n          enable_debug_command: true\n",
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let v1 = debug(manifest(&lab, &server, &tuner, "info", 6380, ""));
    let v2 = debug(manifest(&lab, &server, &tuner, "warn", 6380, ""));
    assert!(deploy(&["apply"], &v1).status.success(), "first apply");
    for host in &lab.hosts {
        fill(host);
    }
    let before: Vec<_> = lab.hosts.iter().map(keyspace).collect();
    for (host, was) in lab.hosts.iter().zip(&before) {
        assert_eq!(was.dbsize, (LOAD_KEYS + 300).to_string(), "{}", host.name);
    }

    // The same load without a rollout, for the p99 beside it.
    let quiet = finish_load(&lab, start_load(&lab, &bench, "4s"));

    // A second release rolled over the three hosts under load: each server hands over in place.
    let pids: Vec<_> = lab.hosts.iter().map(server_pid).collect();
    let started = std::time::Instant::now();
    let load = start_load(&lab, &bench, "20s");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = deploy(&["apply"], &v2);
    let rolled_in = started.elapsed();
    let rolled = finish_load(&lab, load);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        rolled_in < std::time::Duration::from_secs(20),
        "the rollout ({rolled_in:?}) outlasted the load: lengthen the load"
    );
    for ((host, pid), was) in lab.hosts.iter().zip(&pids).zip(&before) {
        assert_ne!(&server_pid(host), pid, "{}: not upgraded", host.name);
        assert_same(host, &keyspace(host), was);
    }

    // A release whose server cannot start on h2: h1 and h3 take it, h2 stays on the second release with
    // every key, and no request is lost anywhere.
    let h2_ns = std::fs::metadata(format!("/run/netns/{}", lab.hosts[1].ns.name()))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("h2's namespace");
    let broken_server = lab.dir.path().join("pincore-server-broken-on-h2");
    write_script(
        &broken_server,
        &format!(
            "#!/bin/sh\nif [ \"$(stat -L -c %i /proc/self/ns/net)\" = {h2_ns} ]; then\n  case \"$1\" in check-config|upgrade) ;; *) echo 'this build cannot start on h2' >&2; exit 1;; esac\nfi\nexec {} \"$@\"\n",
            server.display()
        ),
    );
    let v3 = lab.dir.path().join("manifest-broken-on-h2.yaml");
    let text = std::fs::read_to_string(&v2).unwrap().replace(
        &format!("server: {}", server.display()),
        &format!("server: {}", broken_server.display()),
    );
    std::fs::write(&v3, text).unwrap();
    let second = current_release(&lab.hosts[1]).expect("h2's release");
    let started = std::time::Instant::now();
    let load = start_load(&lab, &bench, "20s");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = deploy(&["apply"], &v3);
    let failed_in = started.elapsed();
    let broken = finish_load(&lab, load);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("failed, reverted"),
        "{}",
        stdout(&out)
    );
    assert!(
        failed_in < std::time::Duration::from_secs(20),
        "{failed_in:?}"
    );
    assert_eq!(
        current_release(&lab.hosts[1]),
        Some(second),
        "h2 on the second release"
    );
    assert_ne!(
        current_release(&lab.hosts[0]),
        current_release(&lab.hosts[1]),
        "h1 took the third"
    );
    for (host, was) in lab.hosts.iter().zip(&before) {
        assert!(host.http_ok(HEALTHZ), "{} serves", host.name);
        assert_same(host, &keyspace(host), was);
    }

    let resent = |reports: &[serde_json::Value]| {
        reports
            .iter()
            .map(|r| r["resent"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    for (i, host) in lab.hosts.iter().enumerate() {
        eprintln!(
            "{}: p99 {:.2} ms without a rollout, {:.2} ms during it, {:.2} ms during the failed one",
            host.name,
            p99_ms(&quiet[i]),
            p99_ms(&rolled[i]),
            p99_ms(&broken[i])
        );
    }
    eprintln!(
        "rollout in {rolled_in:?}, failed rollout in {failed_in:?}; requests sent again after a clean close: {} and {}",
        resent(&rolled),
        resent(&broken)
    );
}
