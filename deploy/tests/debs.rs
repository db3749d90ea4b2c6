//! A release of Debian packages (`release: {deb, tuner_deb}`) rolled to two test hosts whose /usr, /etc and
//! /var are overlays private to each host: installed with dpkg, upgraded in place, and on a host whose health
//! gate fails reverted to the package it had; `rollback` reinstalls the previous package. The machine's own
//! package database never changes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use pincore_testkit::{command, require, root};
use support::{deploy, stdout, Lab, TestHost};

const HEALTHZ: &str = "http://127.0.0.1:9180/healthz";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The pincore packages this machine has installed, as `dpkg-query` lists them.
fn machine_packages() -> String {
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${db:Status-Abbrev} ${Package} ${Version}\\n",
            "pincore*",
        ])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The version of `package` installed inside `host` (its dpkg status file, in the host's overlay).
fn installed(host: &TestHost, package: &str) -> Option<String> {
    let status = host.file("var/lib/dpkg/status")?;
    let stanza = status
        .split("\n\n")
        .find(|s| s.lines().any(|l| l == format!("Package: {package}")))?;
    if !stanza.lines().any(|l| l == "Status: install ok installed") {
        return None;
    }
    stanza
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .map(str::to_string)
}

fn current_release(host: &TestHost) -> Option<String> {
    let link = std::fs::read_link(host.written("opt/pincore/current")?).ok()?;
    link.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn server_pid(host: &TestHost) -> Option<String> {
    host.file("var/lib/pincore/server.pid")
        .map(|p| p.trim().to_string())
}

/// The suite's debug pincore-server and pincore-tuner, packaged by `packaging/build-debs.sh`.
fn build_debs(out: &Path) -> (PathBuf, PathBuf) {
    let made = Command::new(workspace().join("packaging/build-debs.sh"))
        .args(["--profile", "dev", "--no-build", "--only"])
        .arg("pincore-server pincore-tuner")
        .arg("--out")
        .arg(out)
        .output()
        .expect("run build-debs.sh");
    assert!(
        made.status.success(),
        "build-debs.sh failed:\n{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let find = |prefix: &str| {
        std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}*.deb in {}", out.display()))
    };
    (find("pincore-server_"), find("pincore-tuner_"))
}

fn field(deb: &Path, name: &str) -> String {
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(deb)
        .arg(name)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The package `deb` again with version `version` (the same files): a newer build, as far as dpkg can tell.
fn with_version(deb: &Path, version: &str, dir: &Path) -> PathBuf {
    let tree = dir.join(format!("tree-{version}"));
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let old = field(deb, "Version");
    std::fs::write(
        &control,
        text.replace(
            &format!("Version: {old}\n"),
            &format!("Version: {version}\n"),
        ),
    )
    .unwrap();
    let out = dir.join(format!("pincore-server_{version}.deb"));
    run(Command::new("dpkg-deb")
        .args(["-Zgzip", "-z1", "--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&out));
    std::fs::remove_dir_all(&tree).unwrap();
    out
}

/// A manifest rolling `server_deb` and `tuner_deb` to the lab's hosts (one at a time after the canary), the
/// RESP service on `resp_port`.
fn manifest(lab: &Lab, server_deb: &Path, tuner_deb: &Path, resp_port: u16) -> PathBuf {
    let release = format!(
        "  deb: {}\n  tuner_deb: {}\n",
        server_deb.display(),
        tuner_deb.display()
    );
    let text = lab.manifest_text(&release, "info", resp_port, 1, "");
    let name = server_deb.file_stem().unwrap().to_string_lossy();
    let path = lab
        .dir
        .path()
        .join(format!("manifest-{name}-{resp_port}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn deb_release_installs_upgrades_in_place_and_a_failing_host_gets_its_previous_package_back() {
    require!(
        root(),
        support::prerequisites(),
        support::release_binaries(),
        command("cargo-deb"),
        command("dpkg-deb"),
        command("dpkg-shlibdeps"),
    );
    let before = machine_packages();
    let lab = Lab::with_packages(2).expect("make two test hosts");
    let debs = lab.dir.path().join("debs");
    let (server_a, tuner) = build_debs(&debs);
    let a = field(&server_a, "Version");
    let (b, c) = (format!("{a}+b"), format!("{a}+c"));
    let server_b = with_version(&server_a, &b, &debs);
    let server_c = with_version(&server_a, &c, &debs);

    // The manifest's packages are checked before any host is: a binary is not a package, and a package is not
    // the other one.
    let wrong = manifest(&lab, &tuner, &tuner, 6380);
    let out = deploy(&["validate"], &wrong);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        support::stderr(&out).contains(&format!(
            "release.deb: {} is the package `pincore-tuner`, not pincore-server",
            tuner.display()
        )),
        "{}",
        support::stderr(&out)
    );

    // First release: both hosts get the packages from nothing and serve.
    let v1 = manifest(&lab, &server_a, &tuner, 6380);
    let out = deploy(&["validate"], &v1);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(&format!("(pincore-server {a} ")),
        "{}",
        stdout(&out)
    );
    let plan = deploy(&["plan", "--json"], &v1);
    assert!(plan.status.success());
    let plans: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan --json");
    assert_eq!(
        plans[0]["steps"],
        serde_json::json!(["upload", "switch", "install_packages", "tune", "restart"])
    );
    assert!(
        plans[0]["reasons"]
            .to_string()
            .contains(&format!("pincore-server (not installed) → {a}")),
        "{}",
        plans[0]["reasons"]
    );
    let out = deploy(&["apply"], &v1);
    assert!(
        out.status.success(),
        "apply of the first deb release failed"
    );
    let first = current_release(&lab.hosts[0]).expect("current on h1");
    for host in &lab.hosts {
        assert_eq!(
            installed(host, "pincore-server").as_deref(),
            Some(a.as_str())
        );
        assert!(installed(host, "pincore-tuner").is_some());
        assert!(
            host.exists("usr/bin/pincore-server"),
            "{}: /usr/bin",
            host.name
        );
        assert!(host.http_ok(HEALTHZ), "{} serves", host.name);
    }

    // A newer package, same listeners: installed, then the running server hands over to the new binary.
    let v2 = manifest(&lab, &server_b, &tuner, 6380);
    let out = deploy(&["plan"], &v2);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out)
            .matches(&format!("pincore-server {a} → {b}"))
            .count(),
        2,
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stdout(&out)
            .matches("upload, switch, install-packages, tune, upgrade")
            .count(),
        2,
        "{}",
        stdout(&out)
    );
    let pids: Vec<_> = lab.hosts.iter().map(server_pid).collect();
    let out = deploy(&["apply"], &v2);
    assert!(
        out.status.success(),
        "apply of the second deb release failed"
    );
    let second = current_release(&lab.hosts[0]).expect("current on h1");
    assert_ne!(first, second);
    for (host, pid) in lab.hosts.iter().zip(&pids) {
        assert_eq!(
            installed(host, "pincore-server").as_deref(),
            Some(b.as_str())
        );
        let now = server_pid(host);
        assert!(
            now.is_some() && now != *pid,
            "{}: not handed over",
            host.name
        );
        assert!(
            host.http_ok(HEALTHZ),
            "{} serves after the upgrade",
            host.name
        );
    }

    // A third package whose server cannot start on h2 (its RESP port is taken there): h1, the canary, gets it;
    // h2 fails its health gate and goes back to the second release and its package, serving again.
    let blocker = pincore_testkit::KillOnDrop::spawn(
        lab.hosts[1]
            .command("socat")
            .args(["TCP-LISTEN:6390,bind=127.0.0.1,fork", "SYSTEM:true"]),
    )
    .expect("start a port blocker in h2");
    let v3 = manifest(&lab, &server_c, &tuner, 6390);
    let out = deploy(&["apply"], &v3);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("failed, reverted"), "{table}");
    let (h1, h2) = (&lab.hosts[0], &lab.hosts[1]);
    assert_eq!(installed(h1, "pincore-server").as_deref(), Some(c.as_str()));
    assert!(h1.http_ok(HEALTHZ));
    assert_eq!(
        installed(h2, "pincore-server").as_deref(),
        Some(b.as_str()),
        "h2 has its previous package back"
    );
    assert_eq!(current_release(h2).as_deref(), Some(second.as_str()));
    assert!(h2.http_ok(HEALTHZ), "h2 serves on its previous package");
    drop(blocker);

    // rollback on h1 reinstalls the package before it.
    let out = deploy(&["rollback", "--host", "h1"], &v3);
    assert!(out.status.success(), "rollback failed");
    assert_eq!(installed(h1, "pincore-server").as_deref(), Some(b.as_str()));
    assert_eq!(current_release(h1).as_deref(), Some(second.as_str()));
    assert!(h1.http_ok(HEALTHZ), "h1 serves after the rollback");

    drop(lab);
    assert_eq!(
        machine_packages(),
        before,
        "the machine's own package database changed"
    );
    if !before.contains("pincore-server") {
        assert!(
            !Path::new("/usr/bin/pincore-server").exists(),
            "/usr/bin/pincore-server appeared on the machine"
        );
    }
}
