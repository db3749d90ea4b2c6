//! The state file is as powerful as root: rollback acts only on a state file no other user could have written,
//! and only on what an apply of this tuner could have written.

mod fixture;

use std::os::unix::fs::PermissionsExt;

use fixture::FixtureHost;

/// The attack: a state file naming a host-global key (a core_pattern pipe is root code execution) and a file
/// outside the drop-in directory.
fn hostile_state(outside: &std::path::Path) -> String {
    serde_json::json!({
        "version": 1,
        "profile": "connections",
        "netns": null,
        "settings": [
            {"kind": "sysctl", "key": "kernel.core_pattern", "previous": "|/tmp/evil", "applied": "core"},
            {"kind": "sysctl", "key": "net.core.somaxconn", "previous": "4096", "applied": "16384"}
        ],
        "files": [{"path": outside, "previous": "owned\n"}]
    })
    .to_string()
}

fn host_with_core_pattern() -> FixtureHost {
    let host = FixtureHost::new();
    host.set_sysctl("kernel.core_pattern", "core");
    host.set_sysctl("net.core.somaxconn", "16384");
    host
}

#[test]
fn a_state_file_another_user_could_write_is_refused_and_nothing_is_written() {
    let host = host_with_core_pattern();
    let outside = tempfile::tempdir().unwrap();
    let owned = outside.path().join("owned");
    let state = host.path("var/lib/pincore-tuner");
    host.write(
        "var/lib/pincore-tuner/last-apply.json",
        &hostile_state(&owned),
    );
    // What a careless chown/chmod of the directory leaves: anyone could have replaced the file.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = host.snapshot();
    let run = host.run(&["rollback"]).expect(2);
    assert!(
        run.stderr.contains("writable by group or others") && run.stderr.contains("pincore-tuner"),
        "{}",
        run.stderr
    );
    assert_eq!(
        host.snapshot(),
        before,
        "an untrusted state file must change nothing"
    );
    assert!(!owned.exists());

    // The directory made private again, the file itself world-writable: still refused.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = state.join("last-apply.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = host.run(&["rollback"]).expect(2);
    assert!(run.stderr.contains("mode 666"), "{}", run.stderr);
    assert_eq!(host.sysctl("kernel.core_pattern"), "core");
}

#[test]
fn a_state_file_owned_by_another_user_is_refused() {
    pincore_testkit::require!(pincore_testkit::root());
    let host = host_with_core_pattern();
    let outside = tempfile::tempdir().unwrap();
    host.write(
        "var/lib/pincore-tuner/last-apply.json",
        &hostile_state(&outside.path().join("owned")),
    );
    let file = host.path("var/lib/pincore-tuner/last-apply.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // nobody: what the server's user is to the tuner.
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    let run = host.run(&["rollback"]).expect(2);
    assert!(run.stderr.contains("owned by uid 65534"), "{}", run.stderr);
    assert_eq!(host.sysctl("kernel.core_pattern"), "core");
}

#[test]
fn rollback_restores_only_what_an_apply_could_have_written() {
    let host = host_with_core_pattern();
    let outside = tempfile::tempdir().unwrap();
    let owned = outside.path().join("owned");
    host.write(
        "var/lib/pincore-tuner/last-apply.json",
        &hostile_state(&owned),
    );
    // A trusted file (root's, private), but naming a file outside the drop-in directory: refused, while the
    // sysctls (a host run may write any key a profile names) are restored.
    let run = host.run(&["rollback"]).expect(3);
    assert!(
        run.stderr.contains("refused 1 entry") && run.stderr.contains("not a pincore drop-in"),
        "{}",
        run.stderr
    );
    assert!(
        !owned.exists(),
        "a file outside the drop-in directory was written"
    );
    assert_eq!(host.sysctl("net.core.somaxconn"), "4096");
    assert!(
        host.path("var/lib/pincore-tuner/last-apply.json").exists(),
        "the state file is kept for the operator to inspect"
    );
}

#[test]
fn a_sysctl_key_that_climbs_out_of_proc_sys_is_refused() {
    let host = FixtureHost::new();
    host.write("etc/shadow", "root:x:1:\n");
    let state = serde_json::json!({
        "version": 1, "profile": "p", "netns": null,
        "settings": [{"kind": "sysctl", "key": "net.//.//.//etc.shadow", "previous": "owned", "applied": "x"}],
        "files": []
    });
    host.write("var/lib/pincore-tuner/last-apply.json", &state.to_string());
    let run = host.run(&["rollback"]).expect(2);
    assert!(
        run.stderr.contains("not a valid sysctl name"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(host.path("etc/shadow")).unwrap(),
        "root:x:1:\n"
    );
}

#[test]
fn a_state_file_in_the_old_shared_location_is_not_acted_on_but_explained() {
    let host = host_with_core_pattern();
    let outside = tempfile::tempdir().unwrap();
    host.write(
        "var/lib/pincore/last-apply.json",
        &hostile_state(&outside.path().join("owned")),
    );
    let run = host.run(&["rollback"]).expect(2);
    assert!(
        run.stderr.contains("earlier pincore-tuner") && run.stderr.contains("mv "),
        "{}",
        run.stderr
    );
    assert_eq!(host.sysctl("kernel.core_pattern"), "core");
}

#[test]
fn apply_keeps_its_state_private() {
    let host = FixtureHost::new();
    host.run(&["apply", "connections"]).expect(0);
    let dir = host.path("var/lib/pincore-tuner");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "state directory mode {mode:o}");
    let file = std::fs::metadata(dir.join("last-apply.json")).unwrap();
    assert_eq!(file.permissions().mode() & 0o022, 0);
    host.run(&["rollback"]).expect(0);
}
