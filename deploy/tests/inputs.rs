//! Files a manifest names, and the manifest itself, that are not what they should be: `/dev/zero`, sparse
//! files far over the limits. Each is refused with exit 2 and a message naming the path, quickly and within a
//! memory cap; release binaries are hashed as a stream, so a large one fits in little memory. The old tool
//! validated `release.server: /dev/zero` and then read it until memory ran out.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pincore_testkit::{run_bounded, BoundedRun};

const DEPLOY: &str = env!("CARGO_BIN_EXE_pincore-deploy");

/// A temp dir with a manifest whose release binaries are small files (override any part with `replace`).
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let dir = Dir {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(dir.path("pincore-server"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path("pincore-tuner"), "#!/bin/sh\n").unwrap();
        dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sparse(&self, name: &str, size: u64) -> PathBuf {
        let p = self.path(name);
        std::fs::File::create(&p).unwrap().set_len(size).unwrap();
        p
    }

    /// Writes `m.yaml` with `server`, `tuner`, the server config lines and `profile`.
    fn manifest(&self, server: &str, config: &str, profile: &str) -> PathBuf {
        let p = self.path("m.yaml");
        std::fs::write(
            &p,
            format!(
                "release:\n  server: {server}\n  tuner: pincore-tuner\nserver:\n{config}\ntuning:\n  profile: {profile}\ngroups:\n  g:\n    hosts:\n      h1: {{ address: 127.0.0.1 }}\n"
            ),
        )
        .unwrap();
        p
    }
}

const INLINE: &str = "  config:\n    services:\n      admin: { listen: 127.0.0.1:9180 }";

fn deploy(args: &[&OsStr], memory_mib: u64) -> BoundedRun {
    let run = run_bounded(Path::new(DEPLOY), args, memory_mib, Duration::from_secs(20)).unwrap();
    assert!(!run.timed_out, "still running after 20 s: {run:?}");
    run
}

fn refused(args: &[&OsStr], message: &str) {
    let run = deploy(args, 512);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains(message), "{message:?} not in {run:?}");
}

#[test]
fn a_manifest_that_is_a_device_or_oversized_is_refused() {
    let validate = OsStr::new("validate");
    refused(
        &[validate, OsStr::new("/dev/zero")],
        "/dev/zero: not a regular file (a character device); give the path of a YAML deploy manifest",
    );
    let dir = Dir::new();
    let big = dir.sparse("big.yaml", 1 << 40);
    refused(
        &[validate, big.as_os_str()],
        "1099511627776 bytes is over the limit of 16777216 bytes (16 MiB); give the path of a YAML deploy manifest of at most 16 MiB",
    );
}

#[test]
fn a_release_binary_that_is_a_device_fails_validate_and_plan() {
    let dir = Dir::new();
    let m = dir.manifest("/dev/zero", INLINE, "connections");
    for command in ["validate", "plan", "render"] {
        let mut args = vec![OsStr::new(command), m.as_os_str()];
        if command == "render" {
            args.extend([
                OsStr::new("--format"),
                OsStr::new("ansible"),
                OsStr::new("--out"),
            ]);
            args.push(dir.dir.path().as_os_str());
        }
        refused(
            &args,
            "/dev/zero: not a regular file (a character device); give the path of the pincore-server binary (release.server",
        );
    }
    // Over 4 GiB: refused from its size, without reading it.
    dir.sparse("huge-server", 5 << 30);
    let m = dir.manifest("huge-server", INLINE, "connections");
    refused(
        &[OsStr::new("plan"), m.as_os_str()],
        "over the limit of 4294967296 bytes",
    );
}

#[test]
fn a_large_release_binary_is_hashed_as_a_stream_in_little_memory() {
    let dir = Dir::new();
    // 768 MiB of zeros under a 512 MiB address-space cap: only a streamed hash gets through.
    dir.sparse("big-server", 768 << 20);
    let m = dir.manifest("big-server", INLINE, "connections");
    let out = dir.path("out");
    let run = deploy(
        &[
            OsStr::new("render"),
            m.as_os_str(),
            OsStr::new("--format"),
            OsStr::new("ansible"),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
        512,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let playbook = std::fs::read_to_string(out.join("playbook.yml")).unwrap();
    // SHA-256 of 768 MiB of zeros.
    let expected = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..768 {
            h.update(&zeros);
        }
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(
        playbook.contains(&expected),
        "{expected} not in the playbook"
    );
}

#[test]
fn a_config_file_or_profile_that_is_a_device_names_its_key_and_line() {
    let dir = Dir::new();
    let m = dir.manifest("pincore-server", "  config_file: /dev/zero", "connections");
    refused(
        &[OsStr::new("validate"), m.as_os_str()],
        ":5:3: server.config_file: /dev/zero: not a regular file (a character device); give the path of a YAML pincore-server configuration",
    );
    let m = dir.manifest("pincore-server", INLINE, "/dev/zero");
    refused(
        &[OsStr::new("validate"), m.as_os_str()],
        "tuning.profile: /dev/zero: not a regular file (a character device); give the path of a YAML profile",
    );
    dir.sparse("big-profile.yaml", 1 << 40);
    let m = dir.manifest("pincore-server", INLINE, "big-profile.yaml");
    refused(&[OsStr::new("validate"), m.as_os_str()], "over the limit");
}

#[test]
fn a_mistyped_key_or_profile_name_in_a_manifest_gets_a_suggestion() {
    let dir = Dir::new();
    let m = dir.manifest("pincore-server", INLINE, "connections");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace("  profile: connections", "  profle: connections"),
    )
    .unwrap();
    refused(
        &[OsStr::new("validate"), m.as_os_str()],
        "tuning: unknown field `profle`",
    );
    refused(
        &[OsStr::new("validate"), m.as_os_str()],
        " — did you mean `profile`?",
    );
    let m = dir.manifest("pincore-server", INLINE, "conections");
    refused(
        &[OsStr::new("validate"), m.as_os_str()],
        "profile `conections` not found — did you mean `connections`?",
    );
}
