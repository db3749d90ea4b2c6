//! A release: the exact bytes installed on a host (server and tuner binaries, server config, profile), named by
//! a content hash so that an unchanged manifest maps to the same release and nothing is restarted.

use std::io::Read;
use std::path::{Path, PathBuf};

use pincore_tuner::input::{self, Expected};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, Packages, Tuning};

/// Release binaries larger than this are refused (a debug build of the server is about 100 MiB).
pub const BINARY_LIMIT: u64 = 4 * 1024 * 1024 * 1024;

/// Everything uploaded to a host's `releases/ID/` directory.
#[derive(Debug, Clone)]
pub struct Release {
    /// First 16 hex digits of the SHA-256 over every part: the directory name on hosts.
    pub id: String,
    pub server: Binary,
    pub tuner: Binary,
    pub config: String,
    pub tuning: Tuning,
    pub hashes: Hashes,
    /// Set when `server` and `tuner` are Debian packages (installed with dpkg on each host).
    pub packages: Option<Packages>,
}

/// A release binary: hashed as a stream when the release is read, and streamed again from `path` when it is
/// uploaded (never held in memory); the upload checks that the bytes sent still have this hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub path: PathBuf,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// SHA-256 of each part of a release, recorded on the host in `deployed.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    pub server: String,
    pub tuner: String,
    pub config: String,
    pub profile: String,
}

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader that hashes what passes through it, so a binary is hashed while it is read or uploaded.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The number of bytes read and their hex SHA-256.
    pub fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What a release binary must be, for the checked open.
pub fn expected(what: &'static str) -> Expected {
    Expected {
        what,
        limit: BINARY_LIMIT,
    }
}

/// Opens a release binary (a regular file of at most [`BINARY_LIMIT`]) as a bounded, hashing stream.
pub fn open_binary(
    path: &Path,
    what: &'static str,
) -> Result<Hashing<std::io::Take<std::fs::File>>> {
    let (file, _) = input::open(path, expected(what))?;
    Ok(Hashing::new(file.take(BINARY_LIMIT + 1)))
}

impl Binary {
    /// Hashes the binary at `path` as a stream; `what` names it in errors.
    pub fn read(path: &Path, what: &'static str) -> Result<Binary> {
        let mut stream = open_binary(path, what)?;
        std::io::copy(&mut stream, &mut std::io::sink()).map_err(|e| Error::io(path, e))?;
        let (size, sha256) = stream.finish();
        if size > BINARY_LIMIT {
            return Err(input::InputError {
                path: path.to_path_buf(),
                problem: input::Problem::TooLarge {
                    size,
                    limit: BINARY_LIMIT,
                },
                expected: expected(what),
            }
            .into());
        }
        Ok(Binary {
            path: path.to_path_buf(),
            size,
            sha256,
        })
    }
}

/// What `validate` checks of the release without hashing it: each binary that exists must be a regular file
/// of at most [`BINARY_LIMIT`]. A binary not built yet is not an error here (plan and apply need it); its
/// path comes back so the caller can say so.
pub fn check_paths(manifest: &Manifest) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    for (path, what) in binaries(manifest) {
        match input::open(path, expected(what)) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => missing.push(path.to_path_buf()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(missing)
}

fn binaries(manifest: &Manifest) -> [(&Path, &'static str); 2] {
    if manifest.release.packages.is_some() {
        return [
            (
                &manifest.release.server,
                "the pincore-server package (release.deb; build it with packaging/build-debs.sh)",
            ),
            (
                &manifest.release.tuner,
                "the pincore-tuner package (release.tuner_deb; build it with packaging/build-debs.sh)",
            ),
        ];
    }
    [
        (
            &manifest.release.server,
            "the pincore-server binary (release.server; build it with `cargo build --release -p pincore-server`)",
        ),
        (
            &manifest.release.tuner,
            "the pincore-tuner binary (release.tuner; build it with `cargo build --release -p pincore-tuner`)",
        ),
    ]
}

impl Release {
    /// What the server's listening sockets depend on in this release's configuration: each enabled
    /// service's address and the shard settings. Between two releases with the same value the running
    /// server hands its listeners to the new one (an upgrade in place); otherwise it restarts. `None` when
    /// the configuration does not parse (checked before any host is touched, so only in tests).
    pub fn listeners(&self) -> Option<String> {
        let config =
            pincore_server::config::Config::from_yaml(&self.config, "server config").ok()?;
        let json: serde_json::Value = serde_json::from_str(&config.to_json()).ok()?;
        let shards = &json["shards"];
        let mut parts = vec![format!(
            "shards.cpus={} shards.nic={}",
            shards["cpus"], shards["nic"]
        )];
        for (name, service) in json["services"].as_object()? {
            if service["enabled"] == true {
                parts.push(format!("{name}={}", service["listen"]));
            }
        }
        parts.sort();
        Some(parts.join(" "))
    }

    /// Hashes the release's binaries at the paths the manifest names (streamed, not loaded).
    pub fn read(manifest: &Manifest) -> Result<Release> {
        let [(server, s), (tuner, t)] = binaries(manifest);
        let (server, tuner) = (Binary::read(server, s)?, Binary::read(tuner, t)?);
        let mut release = Release::from_parts(
            server,
            tuner,
            manifest.server.text.clone(),
            manifest.tuning.clone(),
        );
        release.packages = manifest.release.packages.clone();
        Ok(release)
    }

    /// A release from its parts (the id is derived from their content).
    pub fn from_parts(server: Binary, tuner: Binary, config: String, tuning: Tuning) -> Release {
        let profile = match &tuning {
            Tuning::Builtin(name) => format!("builtin:{name}"),
            Tuning::File { text, .. } => text.clone(),
        };
        let hashes = Hashes {
            server: server.sha256.clone(),
            tuner: tuner.sha256.clone(),
            config: sha256(config.as_bytes()),
            profile: sha256(profile.as_bytes()),
        };
        let all = format!(
            "{}\n{}\n{}\n{}\n",
            hashes.server, hashes.tuner, hashes.config, hashes.profile
        );
        Release {
            id: sha256(all.as_bytes())[..16].to_string(),
            server,
            tuner,
            config,
            tuning,
            hashes,
            packages: None,
        }
    }

    /// The names the release's two files have in its directory on a host: the binaries themselves, or the
    /// packages (`pincore-server.deb`), beside links to the binaries they install.
    pub fn file_names(&self) -> [&'static str; 2] {
        if self.packages.is_some() {
            ["pincore-server.deb", "pincore-tuner.deb"]
        } else {
            ["pincore-server", "pincore-tuner"]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(content: &[u8]) -> Binary {
        Binary {
            path: PathBuf::from("/bin/x"),
            size: content.len() as u64,
            sha256: sha256(content),
        }
    }

    fn release(config: &str) -> Release {
        Release::from_parts(
            binary(b"server"),
            binary(b"tuner"),
            config.into(),
            Tuning::Builtin("connections".into()),
        )
    }

    #[test]
    fn id_follows_content_only() {
        assert_eq!(release("a: 1\n").id, release("a: 1\n").id);
        assert_ne!(release("a: 1\n").id, release("a: 2\n").id);
        let other_profile = Release::from_parts(
            binary(b"server"),
            binary(b"tuner"),
            "a: 1\n".into(),
            Tuning::Builtin("throughput".into()),
        );
        assert_ne!(release("a: 1\n").id, other_profile.id);
        assert_eq!(release("").id.len(), 16);
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn binaries_are_hashed_as_streams_and_devices_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pincore-server");
        let content = vec![7u8; 300_000];
        std::fs::write(&p, &content).unwrap();
        let b = Binary::read(&p, "a binary").unwrap();
        assert_eq!((b.size, b.sha256), (300_000, sha256(&content)));
        let e = Binary::read(Path::new("/dev/zero"), "a binary").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: not a regular file (a character device); give the path of a binary"
        );
        std::fs::File::create(&p)
            .unwrap()
            .set_len(BINARY_LIMIT + 1)
            .unwrap();
        let e = Binary::read(&p, "a binary").unwrap_err().to_string();
        assert!(
            e.contains("over the limit of 4294967296 bytes (4096 MiB)"),
            "{e}"
        );
    }
}
