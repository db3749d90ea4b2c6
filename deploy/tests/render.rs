//! Renders checked by the engines' own tools: `systemd-analyze verify`, `kubernetes-validate`,
//! `ansible-playbook --syntax-check`, and a real Ansible run against a test host (sshd in its own network and
//! mount namespace) that must end in the same state `pincore-deploy status` calls in sync.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pincore_deploy::manifest::Manifest;
use pincore_testkit::{command, require};
use support::Lab;

const DEPLOY: &str = env!("CARGO_BIN_EXE_pincore-deploy");

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster.yaml")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    eprintln!(
        "$ {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn render(manifest: &Path, format: &str, out: &Path) -> Vec<PathBuf> {
    let result = run(Command::new(DEPLOY)
        .arg("render")
        .arg(manifest)
        .args(["--format", format, "--out"])
        .arg(out));
    assert!(result.status.success(), "render --format {format} failed");
    String::from_utf8_lossy(&result.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

#[test]
fn example_manifest_validates() {
    let m = Manifest::load(&example()).expect("the README's example manifest is valid");
    assert_eq!(m.hosts.len(), 4);
    assert_eq!(
        m.hosts[3].ssh.proxy_command.as_deref(),
        Some("ssh -W %h:%p bastion.example.net")
    );
    assert_eq!(m.hosts[3].cpus.as_deref(), Some("4-7"));
    assert_eq!(m.hosts[0].cpus.as_deref(), Some("2-15"));
    assert_eq!(m.rollout.max_parallel, 2);
    let out = run(Command::new(DEPLOY).arg("validate").arg(example()));
    assert!(out.status.success());
}

#[test]
fn rendered_unit_passes_systemd_analyze_verify() {
    require!(command("systemd-analyze"));
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart= exists: give the host an install directory with an executable there.
    let install = dir.path().join("opt");
    std::fs::create_dir_all(install.join("current")).unwrap();
    std::fs::copy("/bin/true", install.join("current/pincore-server")).unwrap();
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace(
            "install: /opt/pincore",
            &format!("install: {}", install.display()),
        )
        .replace("../../target", "target");
    let manifest = dir.path().join("cluster.yaml");
    std::fs::write(&manifest, text).unwrap();
    let files = render(&manifest, "systemd", &dir.path().join("out"));
    assert!(files
        .iter()
        .any(|f| f.ends_with("60-pincore-connections.conf")));
    let units: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.ends_with("pincore-server.service"))
        .collect();
    assert_eq!(units.len(), 4, "one unit per host");
    // systemd-analyze wants the unit's own file name.
    let unit = units
        .iter()
        .find(|u| u.to_string_lossy().contains("edge-1"))
        .unwrap();
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(text.contains("CPUAffinity=4-7\n"), "{text}");
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit));
    assert!(
        out.status.success(),
        "systemd-analyze verify rejected the unit"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "no warnings expected"
    );
}

#[test]
fn kubernetes_objects_pass_kubernetes_validate() {
    require!(command("kubernetes-validate"));
    let dir = tempfile::tempdir().unwrap();
    let files = render(&example(), "kubernetes", dir.path());
    assert_eq!(files.len(), 5);
    let daemonset = std::fs::read_to_string(dir.path().join("daemonset.yaml")).unwrap();
    for expected in [
        "hostNetwork: true",
        "privileged: true",
        "type: Unconfined",
        "maxUnavailable: 2",
        "cpu: '4'",
    ] {
        assert!(
            daemonset.contains(expected),
            "missing `{expected}` in:\n{daemonset}"
        );
    }
    let config_map = std::fs::read_to_string(dir.path().join("configmap.yaml")).unwrap();
    assert!(
        config_map.contains("60-pincore-connections.conf:")
            && config_map.contains("profile: connections")
    );
    let dashboard = std::fs::read_to_string(dir.path().join("grafana-dashboard.yaml")).unwrap();
    assert!(
        dashboard.contains("grafana_dashboard: '1'")
            && dashboard.contains("pincore_commands_total"),
        "{dashboard}"
    );
    let rules = std::fs::read_to_string(dir.path().join("prometheus-rules.yaml")).unwrap();
    assert!(rules.contains("PincoreShardStalled"), "{rules}");
    let out = run(Command::new("kubernetes-validate")
        .args(["-k", "1.33.0", "--strict"])
        .args(&files));
    assert!(
        out.status.success(),
        "kubernetes-validate rejected the objects"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("passed")
            .count(),
        5
    );
}

#[test]
fn kubernetes_render_without_a_kubernetes_section_says_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    let text = &text[..text
        .find("# Only for `render --format kubernetes`.")
        .unwrap()];
    let manifest = dir.path().join("cluster.yaml");
    std::fs::write(&manifest, text.replace("../../target", "target")).unwrap();
    let out = run(Command::new(DEPLOY)
        .arg("render")
        .arg(&manifest)
        .args(["--format", "kubernetes", "--out"])
        .arg(dir.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `kubernetes:` section"));
}

#[test]
fn ansible_playbook_passes_syntax_check_and_deploys_a_test_host() {
    require!(
        support::prerequisites(),
        support::release_binaries(),
        command("ansible-playbook"),
        command("ansible-inventory")
    );
    let (server, tuner) = support::release_binaries().expect("checked above");
    let lab = Lab::new(1).expect("make a test host");
    let (server, tuner) = lab.release(&server, &tuner);
    let host = &lab.hosts[0];
    let manifest = lab.dir.path().join("manifest.yaml");
    std::fs::write(
        &manifest,
        format!(
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
tuning:
  profile: connections
rollout:
  canary: 1
  max_parallel: 1
  healthy_deadline: 20s
  min_healthy_time: 300ms
defaults:
{defaults}groups:
  edge:
    hosts:
{hosts}",
            server = server.display(),
            tuner = tuner.display(),
            defaults = lab.ssh_defaults(),
            hosts = lab.host_lines("      "),
        ),
    )
    .unwrap();
    let out_dir = lab.dir.path().join("ansible");
    render(&manifest, "ansible", &out_dir);

    // Keep Ansible's own files in the lab: controller side in the temp dir, remote side inside the host.
    let ansible = |program: &str| {
        let mut c = Command::new(program);
        c.current_dir(&out_dir)
            .env("ANSIBLE_HOME", lab.dir.path().join("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", lab.dir.path().join("ansible-tmp"))
            .env(
                "ANSIBLE_SSH_CONTROL_PATH_DIR",
                lab.dir.path().join("ansible-cp"),
            )
            .env("ANSIBLE_REMOTE_TMP", "/run/pincore-ansible")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0");
        c
    };
    let graph = run(ansible("ansible-inventory").args(["-i", "inventory.yml", "--graph"]));
    assert!(graph.status.success());
    assert!(String::from_utf8_lossy(&graph.stdout).contains("@edge:"));
    let check = run(ansible("ansible-playbook").args([
        "-i",
        "inventory.yml",
        "--syntax-check",
        "playbook.yml",
    ]));
    assert!(check.status.success(), "syntax check failed");

    let play = run(ansible("ansible-playbook").args(["-i", "inventory.yml", "playbook.yml"]));
    assert!(
        play.status.success(),
        "the playbook run failed; the server's log on the host:\n{}",
        host.file("var/lib/pincore/server.log").unwrap_or_default()
    );
    assert!(String::from_utf8_lossy(&play.stdout).contains("failed=0"));

    // The same end state the ssh rollout reaches: pincore-deploy itself finds the host in sync.
    assert!(host.http_ok("http://127.0.0.1:9180/healthz"));
    assert!(host
        .file("etc/sysctl.d/60-pincore-connections.conf")
        .is_some());
    let status = run(Command::new(DEPLOY).arg("status").arg(&manifest));
    assert!(
        status.status.success(),
        "status after the Ansible run is not in sync"
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("healthy  verified  in sync"));
}

/// The example manifest with its release made of (control-only) Debian packages, in `dir`.
fn deb_example(dir: &Path) -> PathBuf {
    let deb = |name: &str| {
        pincore_testkit::control_only_deb(dir, name, "0.1.0-1", "amd64").expect("dpkg-deb -b")
    };
    let (server, tuner) = (deb("pincore-server"), deb("pincore-tuner"));
    let text = std::fs::read_to_string(example()).unwrap();
    let release_at = text.find("release:\n").unwrap();
    let server_line = text[release_at..].find("  server: ").unwrap() + release_at;
    let tuner_end = text[server_line..].find("\nserver:").unwrap() + server_line;
    let text = format!(
        "{}  deb: {}\n  tuner_deb: {}{}",
        &text[..server_line],
        server.display(),
        tuner.display(),
        &text[tuner_end..]
    );
    let path = dir.join("cluster-debs.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn deb_release_renders_apt_tasks_that_pass_the_syntax_check_and_a_systemd_mapping() {
    require!(command("dpkg-deb"), command("ansible-playbook"));
    let dir = tempfile::tempdir().unwrap();
    let manifest = deb_example(dir.path());
    let out_dir = dir.path().join("ansible");
    render(&manifest, "ansible", &out_dir);
    let playbook = std::fs::read_to_string(out_dir.join("playbook.yml")).unwrap();
    let plays: serde_yaml::Value = serde_yaml::from_str(&playbook).unwrap();
    let tasks = &plays[0]["tasks"][0];
    let named = |list: &serde_yaml::Value, name: &str| -> serde_yaml::Value {
        list.as_sequence()
            .unwrap()
            .iter()
            .find(|t| t["name"].as_str().is_some_and(|n| n.starts_with(name)))
            .unwrap_or_else(|| panic!("no task `{name}` in:\n{playbook}"))
            .clone()
    };
    let install = named(&tasks["block"], "Install the packages");
    assert_eq!(
        install["ansible.builtin.apt"]["deb"].as_str(),
        Some("{{ release_dir }}/{{ item }}")
    );
    assert_eq!(
        serde_yaml::to_string(&install["loop"]).unwrap(),
        "- pincore-tuner.deb\n- pincore-server.deb\n"
    );
    let copied = named(&tasks["block"], "Server package pincore-server 0.1.0-1");
    assert!(copied["ansible.builtin.copy"]["src"]
        .as_str()
        .unwrap()
        .ends_with("pincore-server_0.1.0-1_amd64.deb"));
    let back = named(
        &tasks["rescue"],
        "Reinstall the previous release's packages",
    );
    assert!(back["when"]
        .as_str()
        .unwrap()
        .contains("previous_deb.stat.exists"));
    let rescue = tasks["rescue"].as_sequence().unwrap();
    let position = |name: &str| {
        rescue
            .iter()
            .position(|t| t["name"].as_str().is_some_and(|n| n.starts_with(name)))
            .unwrap()
    };
    // The previous packages come back before the previous release's tuner runs; removal comes after the
    // tuning is undone with the installed tuner.
    assert!(position("Reinstall") < position("Back to the previous release's tuning"));
    assert!(position("No previous release: remove") > position("No previous release: undo"));
    let check = run(Command::new("ansible-playbook")
        .current_dir(&out_dir)
        .env("ANSIBLE_HOME", dir.path().join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", dir.path().join("ansible-tmp"))
        .args(["-i", "inventory.yml", "--syntax-check", "playbook.yml"]));
    assert!(check.status.success(), "syntax check failed");

    // systemd: the package brings the unit; the render is what goes beside it.
    let files = render(&manifest, "systemd", &dir.path().join("systemd"));
    let names: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(dir.path().join("systemd"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert!(names.contains(&"server.yaml".to_string()), "{names:?}");
    assert!(
        names.contains(&"hosts/edge-1/pincore-server.service.d/cpus.conf".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.ends_with("/pincore-server.service")),
        "{names:?}"
    );
    let dropin = std::fs::read_to_string(
        dir.path()
            .join("systemd/hosts/edge-1/pincore-server.service.d/cpus.conf"),
    )
    .unwrap();
    assert!(dropin.contains("[Service]\nCPUAffinity=4-7\n"), "{dropin}");
}
