//! TLS through pincore-deploy: `validate` on the files a manifest names (certificates made here with rcgen),
//! the renders that carry them, and a rollout to a test host (sshd in its own namespaces) whose RESP port
//! then answers `redis-cli --tls --cacert`, with a rotated certificate reloaded without a restart.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pincore_testkit::{command, require};
use support::pki::{Ca, Until};
use support::{deploy, stderr, Lab};

/// A manifest with `server.tls` on `resp`; `tls_extra` adds keys to `server.tls`, `defaults` and `hosts` are
/// the manifest's blocks (the hosts' lines indented for `groups.edge.hosts`).
fn manifest(
    dir: &Path,
    release: (&Path, &Path),
    tls_extra: &str,
    defaults: &str,
    hosts: &str,
) -> PathBuf {
    let text = format!(
        "release:
  server: {server}
  tuner: {tuner}
server:
  config:
    shards:
      cpus: \"0\"
      io_memory_bytes: 65536
    services:
      resp:
        listen: 127.0.0.1:6380
      echo:
        enabled: false
        listen: 127.0.0.1:7007
      admin:
        listen: 127.0.0.1:9180
  tls:
    services: [resp]
{tls_extra}tuning:
  profile: connections
rollout:
  healthy_deadline: 20s
  min_healthy_time: 300ms
defaults:
{defaults}groups:
  edge:
    hosts:
{hosts}",
        server = release.0.display(),
        tuner = release.1.display(),
    );
    let path = dir.join("manifest.yaml");
    std::fs::write(&path, text).expect("write manifest");
    path
}

/// `tls:` lines for a host or `defaults`, at `indent`.
fn tls_lines(indent: &str, cert: &Path, key: &Path, client_ca: Option<&Path>) -> String {
    let mut s = format!(
        "{indent}tls:\n{indent}  cert: {}\n{indent}  key: {}\n",
        cert.display(),
        key.display()
    );
    if let Some(ca) = client_ca {
        s.push_str(&format!("{indent}  client_ca: {}\n", ca.display()));
    }
    s
}

fn fake_release(dir: &Path) -> (PathBuf, PathBuf) {
    let (server, tuner) = (dir.join("pincore-server"), dir.join("pincore-tuner"));
    std::fs::write(&server, "#!/bin/sh\n").unwrap();
    std::fs::write(&tuner, "#!/bin/sh\n").unwrap();
    (server, tuner)
}

#[test]
fn validate_checks_each_hosts_files_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, tuner) = fake_release(d);
    let release = (server.as_path(), tuner.as_path());
    let ca = Ca::new("validate CA");
    let (cert, key) = ca.issue(d, "good", Until::Far);
    let (other_cert, other_key) = ca.issue(d, "other", Until::Far);
    let (expired_cert, expired_key) = ca.issue(d, "expired", Until::Year(2021));
    let (soon_cert, soon_key) = ca.issue(d, "soon", Until::Year(2040));
    let hosts = "      h1: {address: 127.0.0.2}\n      h2: {address: 127.0.0.3}\n";

    let good = manifest(d, release, "", &tls_lines("  ", &cert, &key, None), hosts);
    let out = deploy(&["validate"], &good);
    assert!(out.status.success());
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // The key of another certificate, given in defaults: the error points at defaults.tls.key.
    let m = manifest(
        d,
        release,
        "",
        &tls_lines("  ", &cert, &other_key, None),
        hosts,
    );
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("defaults.tls.key: host `h1`"), "{e}");
    assert!(
        e.contains("other.key") && e.contains("cannot be used with the certificate"),
        "{e}"
    );

    // An expired certificate given for one host overrides the defaults and is refused at that host's key.
    let h2 = format!(
        "      h1: {{address: 127.0.0.2}}\n      h2:\n        address: 127.0.0.3\n{}",
        tls_lines("        ", &expired_cert, &expired_key, None)
    );
    let m = manifest(d, release, "", &tls_lines("  ", &cert, &key, None), &h2);
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("groups.edge.hosts.h2.tls.cert: host `h2`"),
        "{e}"
    );
    assert!(e.contains("expired on 2021-01-01"), "{e}");

    // Expiring within the warning window: valid, with a warning naming the file and the date.
    let m = manifest(
        d,
        release,
        "    expiry_warning_days: 36500\n",
        &tls_lines("  ", &soon_cert, &soon_key, None),
        hosts,
    );
    let out = deploy(&["validate"], &m);
    assert!(out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("warning: ") && e.contains("soon.pem") && e.contains("expires on 2040-01-01"),
        "{e}"
    );
    let m = manifest(
        d,
        release,
        "",
        &tls_lines("  ", &soon_cert, &soon_key, None),
        hosts,
    );
    assert!(!stderr(&deploy(&["validate"], &m)).contains("warning"));

    // Not PEM at all, and a missing file: named with their paths.
    std::fs::write(d.join("garbage.pem"), "not a certificate\n").unwrap();
    let m = manifest(
        d,
        release,
        "",
        &tls_lines("  ", &d.join("garbage.pem"), &key, None),
        hosts,
    );
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("defaults.tls.cert") && stderr(&out).contains("garbage.pem"));
    let m = manifest(
        d,
        release,
        "",
        &tls_lines("  ", &cert, &d.join("absent.key"), None),
        hosts,
    );
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("absent.key"), "{}", stderr(&out));

    // Client authorities on one host only would need two server configs.
    let ca_file = ca.write(&d.join("ca.pem"));
    let h1 = format!(
        "      h1:\n        address: 127.0.0.2\n{}      h2: {{address: 127.0.0.3}}\n",
        tls_lines("        ", &cert, &key, Some(&ca_file))
    );
    let m = manifest(d, release, "", &tls_lines("  ", &cert, &key, None), &h1);
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("host `h2` has no tls.client_ca"),
        "{}",
        stderr(&out)
    );

    // A host without files, and a directory the unit's sandbox hides.
    let m = manifest(d, release, "", "", hosts);
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("groups.edge.hosts.h1: host `h1`: no certificate"),
        "{}",
        stderr(&out)
    );
    let m = manifest(
        d,
        release,
        "    dir: /home/ops/tls\n",
        &tls_lines("  ", &cert, &key, None),
        hosts,
    );
    let out = deploy(&["validate"], &m);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ProtectHome=yes"), "{}", stderr(&out));

    // Other files of the other certificate are fine for another host.
    let h2 = format!(
        "      h1: {{address: 127.0.0.2}}\n      h2:\n        address: 127.0.0.3\n{}",
        tls_lines("        ", &other_cert, &other_key, None)
    );
    let m = manifest(d, release, "", &tls_lines("  ", &cert, &key, None), &h2);
    assert!(deploy(&["validate"], &m).status.success());
}

#[test]
fn renders_carry_the_files_and_the_config_points_at_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, tuner) = fake_release(d);
    let ca = Ca::new("render CA");
    let (cert, key) = ca.issue(d, "server", Until::Far);
    let hosts = "      h1: {address: 127.0.0.2}\n      h2: {address: 127.0.0.3}\n";
    let defaults = format!("  service: systemd\n{}", tls_lines("  ", &cert, &key, None));
    let m = manifest(d, (&server, &tuner), "", &defaults, hosts);
    let mut text = std::fs::read_to_string(&m).unwrap();
    text.push_str("kubernetes:\n  image: registry.example.net/pincore:1\n");
    std::fs::write(&m, text).unwrap();

    let out = d.join("systemd");
    assert!(deploy(
        &[
            "render",
            "--format",
            "systemd",
            "--out",
            out.to_str().unwrap()
        ],
        &m
    )
    .status
    .success());
    let unit = std::fs::read_to_string(out.join("hosts/h1/pincore-server.service")).unwrap();
    assert!(unit.contains("ReadOnlyPaths=-/etc/pincore-tls\n"), "{unit}");
    let config = std::fs::read_to_string(out.join("server.yaml")).unwrap();
    assert!(
        config.contains("cert: /etc/pincore-tls/cert.pem")
            && config.contains("key: /etc/pincore-tls/key.pem"),
        "{config}"
    );

    let out = d.join("ansible");
    assert!(deploy(
        &[
            "render",
            "--format",
            "ansible",
            "--out",
            out.to_str().unwrap()
        ],
        &m
    )
    .status
    .success());
    let inventory = std::fs::read_to_string(out.join("inventory.yml")).unwrap();
    assert!(
        inventory.contains("pincore_tls_dir: /etc/pincore-tls"),
        "{inventory}"
    );
    assert!(
        inventory.contains(&format!("src: {}", key.display())),
        "{inventory}"
    );
    let playbook: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(out.join("playbook.yml")).unwrap()).unwrap();
    let tasks = &playbook[0]["tasks"][0]["block"];
    let names: Vec<&str> = tasks
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|n| n.starts_with(name))
            .unwrap_or(usize::MAX)
    };
    assert!(
        at("TLS files") < at("Server config"),
        "files before the config check: {names:?}"
    );
    let files = tasks
        .as_sequence()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "TLS files")
        .unwrap();
    assert_eq!(files["ansible.builtin.copy"]["mode"], "0600");
    assert!(files["ansible.builtin.copy"]["owner"]
        .as_str()
        .unwrap()
        .contains("'pincore'"));
    assert_eq!(files["notify"], "reload pincore-server");
    let handlers = serde_yaml::to_string(&playbook[0]["handlers"]).unwrap();
    assert!(
        handlers.contains("state: reloaded") && handlers.contains("kill -HUP"),
        "{handlers}"
    );

    let out = d.join("kubernetes");
    assert!(deploy(
        &[
            "render",
            "--format",
            "kubernetes",
            "--out",
            out.to_str().unwrap()
        ],
        &m
    )
    .status
    .success());
    let secret = std::fs::read_to_string(out.join("tls-secret.yaml")).unwrap();
    assert!(
        secret.contains("kind: Secret") && secret.contains("key.pem:"),
        "{secret}"
    );
    let daemonset = std::fs::read_to_string(out.join("daemonset.yaml")).unwrap();
    for expected in [
        "mountPath: /etc/pincore-tls",
        "secretName: pincore-server-tls",
        "defaultMode: 384",
        "pincore.dev/tls-sha256",
    ] {
        assert!(
            daemonset.contains(expected),
            "missing `{expected}` in:\n{daemonset}"
        );
    }
    if command("kubernetes-validate").is_ok() || pincore_testkit::in_ci() {
        let files: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let check = Command::new("kubernetes-validate")
            .args(["-k", "1.33.0", "--strict"])
            .args(&files)
            .output()
            .expect("run kubernetes-validate");
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&check.stdout)
                .matches("passed")
                .count(),
            6
        );
    }

    // Different files per host cannot be one Secret.
    let (cert2, key2) = ca.issue(d, "server2", Until::Far);
    let text = std::fs::read_to_string(&m).unwrap().replace(
        "      h2: {address: 127.0.0.3}\n",
        &format!(
            "      h2:\n        address: 127.0.0.3\n{}",
            tls_lines("        ", &cert2, &key2, None)
        ),
    );
    std::fs::write(&m, text).unwrap();
    let out = deploy(
        &[
            "render",
            "--format",
            "kubernetes",
            "--out",
            d.join("k2").to_str().unwrap(),
        ],
        &m,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("hosts h1 and h2 have different TLS files"),
        "{}",
        stderr(&out)
    );
}

/// `redis-cli --tls --cacert CA PING` inside the host's network namespace.
fn tls_ping(host: &support::TestHost, ca: &Path) -> String {
    let out = host
        .command("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca)
        .args(["-h", "127.0.0.1", "-p", "6380", "PING"])
        .output()
        .expect("run redis-cli");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

#[test]
fn a_tls_rollout_answers_redis_cli_and_a_rotated_certificate_is_reloaded_without_a_restart() {
    require!(
        support::prerequisites(),
        support::release_binaries(),
        command("redis-cli")
    );
    let (server, tuner) = support::release_binaries().expect("checked above");
    let lab = Lab::new(1).expect("make a test host");
    let (server, tuner) = lab.release(&server, &tuner);
    let host = &lab.hosts[0];
    let d = lab.dir.path();
    let first_ca = Ca::new("first CA");
    let ca1 = first_ca.write(&d.join("ca1.pem"));
    let (cert, key) = first_ca.issue(d, "server", Until::Far);
    let defaults = format!(
        "{}{}",
        lab.ssh_defaults(),
        tls_lines("  ", &cert, &key, None)
    );
    let m = manifest(
        d,
        (&server, &tuner),
        "    dir: /var/lib/pincore-tls\n",
        &defaults,
        &lab.host_lines("      "),
    );

    let out = deploy(&["apply"], &m);
    assert!(out.status.success(), "apply failed");
    assert_eq!(tls_ping(host, &ca1), "PONG");
    let plain = host
        .command("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6380", "PING"])
        .output()
        .unwrap();
    assert_ne!(
        String::from_utf8_lossy(&plain.stdout).trim(),
        "PONG",
        "plain RESP must not be served"
    );
    let installed = host.dir.join("ovl/varlib/up/pincore-tls");
    for name in ["cert.pem", "key.pem"] {
        let mode = std::fs::metadata(installed.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(installed.join("key.pem")).unwrap(),
        std::fs::read_to_string(&key).unwrap()
    );
    let pid = host.file("var/lib/pincore/server.pid").expect("pidfile");

    // Unchanged: nothing to do.
    let plan = deploy(&["plan"], &m);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("in sync"),
        "{plan:?}"
    );

    // A certificate from another authority at the same paths: installed, reloaded, same process.
    let second_ca = Ca::new("second CA");
    let ca2 = second_ca.write(&d.join("ca2.pem"));
    let (new_cert, new_key) = second_ca.issue(d, "rotated", Until::Far);
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    let plan = deploy(&["plan", "--json"], &m);
    let plans: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan --json");
    assert_eq!(
        plans[0]["steps"],
        serde_json::json!(["install_tls", "reload"]),
        "{plans}"
    );
    let out = deploy(&["apply"], &m);
    assert!(
        out.status.success(),
        "apply of the rotated certificate failed"
    );
    assert_eq!(
        host.file("var/lib/pincore/server.pid").as_deref(),
        Some(pid.as_str()),
        "restarted"
    );
    assert_eq!(tls_ping(host, &ca2), "PONG");
    assert_ne!(
        tls_ping(host, &ca1),
        "PONG",
        "the old certificate is still served"
    );
    assert!(String::from_utf8_lossy(&deploy(&["plan"], &m).stdout).contains("in sync"));
}
