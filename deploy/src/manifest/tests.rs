//! Loading manifests, from text to the model, through every layer: the errors a user sees and where they point.

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, Paths, ServiceKind, Tuning};

const GOOD: &str = "\
release:
  server: bin/pincore-server
  tuner: bin/pincore-tuner
server:
  config:
    services:
      admin:
        listen: 127.0.0.1:9180
tuning:
  profile: connections
rollout:
  canary: 1
  max_parallel: 2
  healthy_deadline: 10s
  min_healthy_time: 500ms
defaults:
  ssh:
    user: deploy
groups:
  web:
    vars:
      service: supervisor
      ssh:
        port: 2222
    hosts:
      web1:
        address: 10.0.0.1
        cpus: 2-3
      web2:
        ssh:
          user: root
  edge:
    hosts:
      edge1: {}
";

fn parse(text: &str) -> Result<Manifest> {
    Manifest::from_yaml(text, Path::new("/srv/m.yaml"))
}

#[test]
fn merges_defaults_group_vars_and_host_settings_in_order() {
    let m = parse(GOOD).unwrap();
    let names: Vec<_> = m.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["web1", "web2", "edge1"]);
    let web1 = &m.hosts[0];
    assert_eq!(web1.address, "10.0.0.1");
    assert_eq!(web1.ssh.user.as_deref(), Some("deploy"));
    assert_eq!(web1.ssh.port, Some(2222));
    assert_eq!(web1.service, ServiceKind::Supervisor);
    assert_eq!(m.hosts[1].ssh.user.as_deref(), Some("root"));
    assert_eq!(m.hosts[2].service, ServiceKind::Systemd);
    assert_eq!(m.hosts[2].address, "edge1");
    assert_eq!(m.hosts[2].paths, Paths::default());
    assert_eq!(m.release.server, Path::new("/srv/bin/pincore-server"));
    assert_eq!(m.rollout.min_healthy_time, Duration::from_millis(500));
    assert_eq!(m.tuning, Tuning::Builtin("connections".into()));
    assert!(m.server.text.contains("listen"));
    assert_eq!(m.health_url(), "http://127.0.0.1:9180/healthz");
    assert_eq!(m.profile.name, "connections");
}

fn error_of(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(Error::Manifest {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a manifest error, got {other:?}"),
    }
}

#[test]
fn unknown_key_names_its_line() {
    let bad = GOOD.replace("        cpus: 2-3", "        cpu: 2-3");
    let (line, _, message) = error_of(&bad);
    assert_eq!(line, 28, "{message}");
    assert!(message.contains("unknown field `cpu`"), "{message}");
}

#[test]
fn bad_cpu_list_points_at_the_key() {
    let bad = GOOD.replace("cpus: 2-3", "cpus: 3-2");
    let (line, column, message) = error_of(&bad);
    assert_eq!((line, column), (28, 9), "{message}");
    assert!(message.contains("groups.web.hosts.web1.cpus"), "{message}");
}

#[test]
fn duplicate_host_across_groups_is_rejected() {
    let bad = GOOD.replace("edge1: {}", "web1: {}");
    let (line, _, message) = error_of(&bad);
    assert_eq!(line, 34, "{message}");
    assert!(message.contains("listed twice"), "{message}");
}

#[test]
fn the_tuner_state_cannot_live_where_the_service_user_writes() {
    let bad = GOOD.replace(
        "        cpus: 2-3",
        "        cpus: 2-3\n        paths: {state: /var/lib/pincore, tuner: /var/lib/pincore/tuner}",
    );
    let (line, _, message) = error_of(&bad);
    assert_eq!(line, 29, "{message}");
    assert!(
        message.contains("paths.tuner") && message.contains("only root can write"),
        "{message}"
    );
    let m = parse(GOOD).unwrap();
    assert_eq!(m.hosts[0].paths.tuner, "/var/lib/pincore-tuner");
}

#[test]
fn rollout_numbers_are_checked() {
    let (line, _, message) = error_of(&GOOD.replace("canary: 1", "canary: 4"));
    assert_eq!(line, 12);
    assert!(message.contains("3 host(s)"), "{message}");
    let (line, _, message) = error_of(&GOOD.replace("500ms", "5 parsecs"));
    assert_eq!(line, 15);
    assert!(message.contains("not a duration"), "{message}");
    let (_, _, message) = error_of(&GOOD.replace("500ms", "10s"));
    assert!(
        message.contains("shorter than healthy_deadline"),
        "{message}"
    );
}

#[test]
fn server_config_needs_exactly_one_source() {
    let bad = GOOD.replace(
        "server:\n  config:",
        "server:\n  config_file: x.yaml\n  config:",
    );
    let (line, _, message) = error_of(&bad);
    assert_eq!(line, 4);
    assert!(message.contains("exactly one"), "{message}");
}

#[test]
fn bad_profile_and_bad_server_config_are_caught_before_any_host() {
    let (line, _, message) =
        error_of(&GOOD.replace("profile: connections", "profile: no-such-profile"));
    assert_eq!(line, 10, "{message}");
    assert!(
        message.contains("no-such-profile") && message.contains("built-in profiles"),
        "{message}"
    );
    let (line, _, message) = error_of(&GOOD.replace("listen: 127.0.0.1:9180", "listen: nowhere"));
    assert_eq!(line, 5, "{message}");
    assert!(message.contains("invalid server config"), "{message}");
    let off = GOOD.replace(
        "listen: 127.0.0.1:9180",
        "listen: 127.0.0.1:9180\n        enabled: false",
    );
    let (_, _, message) = error_of(&off);
    assert!(message.contains("/healthz"), "{message}");
}

#[test]
fn syntax_error_names_line_and_column() {
    let (line, _, _) = error_of("release:\n  server: [a\n");
    assert!(line >= 2);
}

fn many_hosts(n: usize) -> String {
    let mut text = GOOD.split("groups:").next().unwrap().to_string();
    text.push_str("groups:\n  g:\n    hosts:\n");
    for i in 0..n {
        text.push_str(&format!(
            "      h{i}: {{address: 10.{}.{}.{}}}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    text
}

#[test]
fn validation_time_grows_linearly_with_the_hosts() {
    let time = |n: usize| {
        let text = many_hosts(n);
        let start = std::time::Instant::now();
        assert_eq!(parse(&text).unwrap().hosts.len(), n);
        start.elapsed().as_secs_f64()
    };
    time(1000); // warm up
                // The fastest of a few runs each, so a busy machine does not decide the ratio.
    let small = (0..3).map(|_| time(10_000)).fold(f64::MAX, f64::min);
    let large = (0..2).map(|_| time(40_000)).fold(f64::MAX, f64::min);
    // Linear is 4x; the pairwise duplicate check made it 16x.
    assert!(
        large / small < 8.0,
        "10 000 hosts {small:.2}s, 40 000 hosts {large:.2}s"
    );
}

#[test]
fn duplicate_and_empty_addresses_name_their_line() {
    // web1 is 10.0.0.1 on the web group's ssh port 2222.
    let same = "edge1: {address: 10.0.0.1, ssh: {port: 2222}}";
    let (line, column, message) = error_of(&GOOD.replace("edge1: {}", same));
    assert_eq!((line, column), (34, 15), "{message}");
    assert!(
        message.contains(
            "host `edge1` has the same address `10.0.0.1` and ssh port 2222 as host `web1`"
        ),
        "{message}"
    );
    // A host without an address is reached by its name: another host's address may not be that name.
    let (line, _, message) =
        error_of(&GOOD.replace("edge1: {}", "edge1: {address: web2, ssh: {port: 2222}}"));
    assert_eq!(line, 34, "{message}");
    assert!(message.contains("as host `web2`"), "{message}");
    // The same address on another ssh port is another machine (containers, namespaces).
    parse(&GOOD.replace("edge1: {}", "edge1: {address: 10.0.0.1, ssh: {port: 2200}}")).unwrap();
    let (line, _, message) = error_of(&GOOD.replace("edge1: {}", "edge1: {address: ''}"));
    assert_eq!(line, 34, "{message}");
    assert!(message.contains("the address is empty"), "{message}");
}

#[test]
fn system_directories_and_relative_paths_are_refused_as_host_paths() {
    for (path, why) in [
        ("/", "is a system directory (/)"),
        ("/etc", "is a system directory (/etc)"),
        ("/etc/", "is a system directory (/etc)"),
        ("//usr/./", "is a system directory (/usr)"),
        ("/bin", "system directory"),
        ("/var", "system directory"),
        ("/var/lib", "is a system directory (/var/lib): a deploy creates, writes and chowns its paths, so give a directory of pincore's own, e.g. /var/lib/pincore"),
        ("var/lib/pincore", "must be an absolute path"),
        ("/var/lib/pincore/../..", "must not contain `..`"),
    ] {
        for key in ["install", "state", "tuner", "sysctl"] {
            let bad = GOOD.replace(
                "        cpus: 2-3",
                &format!("        cpus: 2-3\n        paths: {{{key}: '{path}'}}"),
            );
            let bad = bad.replace("'/'", "/").replace(&format!("'{path}'"), path);
            let (line, _, message) = error_of(&bad);
            assert_eq!(line, 29, "{message}");
            assert!(
                message.contains(&format!("groups.web.hosts.web1.paths.{key}")) && message.contains(why),
                "{path}: {message}"
            );
        }
    }
    parse(&GOOD.replace("        cpus: 2-3", "        cpus: 2-3\n        paths: {state: /var/lib/pincore-b, install: /opt/pincore-b, sysctl: /etc/sysctl.d}")).unwrap();
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let deep = GOOD.replace(
        "  profile: connections",
        &format!(
            "  profile: connections\n  x: {}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    );
    let start = std::time::Instant::now();
    let (line, _, message) = error_of(&deep);
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(line, 11, "{message}");
    assert!(message.contains("nested more than 64 levels"), "{message}");
}

#[test]
fn durations_use_the_grammar_of_every_pincore_tool() {
    let m = parse(&GOOD.replace("500ms", "1.5s")).unwrap();
    assert_eq!(m.rollout.min_healthy_time, Duration::from_millis(1500));
    let m = parse(&GOOD.replace("500ms", "3")).unwrap();
    assert_eq!(m.rollout.min_healthy_time, Duration::from_secs(3));
    let (_, _, message) = error_of(&GOOD.replace("500ms", "1h"));
    assert!(message.contains("unknown unit `h`"), "{message}");
}

/// A control-only Debian package named `name` for `arch`.
fn tiny_deb(dir: &Path, name: &str, arch: &str) -> std::path::PathBuf {
    pincore_testkit::control_only_deb(dir, name, "1.2-3", arch).expect("dpkg-deb -b")
}

fn with_release(release: &str) -> String {
    GOOD.replace(
        "  server: bin/pincore-server\n  tuner: bin/pincore-tuner\n",
        release,
    )
}

#[test]
fn a_deb_release_is_read_with_dpkg_deb() {
    let dir = tempfile::tempdir().unwrap();
    let server = tiny_deb(dir.path(), "pincore-server", "amd64");
    let tuner = tiny_deb(dir.path(), "pincore-tuner", "amd64");
    let text = with_release(&format!(
        "  deb: {}\n  tuner_deb: {}\n",
        server.display(),
        tuner.display()
    ));
    let m = parse(&text).unwrap();
    let packages = m.release.packages.as_ref().expect("a deb release");
    assert_eq!(
        (
            packages.server.package.as_str(),
            packages.server.version.as_str()
        ),
        ("pincore-server", "1.2-3")
    );
    assert_eq!(packages.architecture(), Some("amd64"));
    assert_eq!(m.release.server, server);
    assert!(parse(GOOD).unwrap().release.packages.is_none());
}

#[test]
fn a_deb_release_names_what_is_wrong_with_each_package() {
    let dir = tempfile::tempdir().unwrap();
    let server = tiny_deb(dir.path(), "pincore-server", "amd64");
    let tuner = tiny_deb(dir.path(), "pincore-tuner", "amd64");
    let tuner_arm = tiny_deb(dir.path(), "pincore-tuner", "arm64");
    let not_deb = dir.path().join("pincore-server");
    std::fs::write(&not_deb, "#!/bin/sh\n").unwrap();
    let release = |deb: &Path, tuner_deb: &Path| {
        with_release(&format!(
            "  deb: {}\n  tuner_deb: {}\n",
            deb.display(),
            tuner_deb.display()
        ))
    };
    let (line, column, message) = error_of(&release(&not_deb, &tuner));
    assert_eq!((line, column), (2, 3), "{message}");
    assert!(
        message.starts_with("release.deb: ") && message.contains("not a Debian package"),
        "{message}"
    );
    let (line, _, message) = error_of(&release(&tuner, &tuner));
    assert_eq!(line, 2);
    assert!(
        message.contains("is the package `pincore-tuner`, not pincore-server"),
        "{message}"
    );
    let (line, _, message) = error_of(&release(&server, &dir.path().join("missing.deb")));
    assert_eq!(line, 3);
    assert!(
        message.starts_with("release.tuner_deb: ") && message.contains("missing.deb"),
        "{message}"
    );
    let (_, _, message) = error_of(&release(&server, &tuner_arm));
    assert!(
        message.contains("pincore-tuner is built for arm64 but pincore-server for amd64"),
        "{message}"
    );
    let (_, _, message) = error_of(&with_release(&format!("  deb: {}\n", server.display())));
    assert!(message.contains("needs `tuner_deb` too"), "{message}");
    let (_, _, message) = error_of(&with_release(&format!(
        "  deb: {}\n  tuner_deb: {}\n  server: bin/pincore-server\n",
        server.display(),
        tuner.display()
    )));
    assert!(message.contains("not parts of both"), "{message}");
    let (_, _, message) = error_of(&with_release("  tuner: bin/pincore-tuner\n"));
    assert!(message.contains("`server` is missing"), "{message}");
}
