//! A release: the exact bytes installed on a host (server and tuner binaries, server config, profile), named by
//! a content hash so that an unchanged manifest maps to the same release and nothing is restarted.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, Tuning};

/// Everything uploaded to a host's `releases/ID/` directory.
#[derive(Debug, Clone)]
pub struct Release {
    /// First 16 hex digits of the SHA-256 over every part: the directory name on hosts.
    pub id: String,
    pub server: Arc<Vec<u8>>,
    pub tuner: Arc<Vec<u8>>,
    pub config: String,
    pub tuning: Tuning,
    pub hashes: Hashes,
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
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Release {
    /// Reads the release's binaries from the paths the manifest names.
    pub fn read(manifest: &Manifest) -> Result<Release> {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    e.kind(),
                    format!("{e} (release.{what}: build it first, e.g. `cargo build --release -p pincore-{what}`)"),
                ),
            })
        };
        let server = read(&manifest.release.server, "server")?;
        let tuner = read(&manifest.release.tuner, "tuner")?;
        Ok(Release::from_parts(
            server,
            tuner,
            manifest.server.text.clone(),
            manifest.tuning.clone(),
        ))
    }

    /// A release from its parts (the id is derived from their content).
    pub fn from_parts(server: Vec<u8>, tuner: Vec<u8>, config: String, tuning: Tuning) -> Release {
        let profile = match &tuning {
            Tuning::Builtin(name) => format!("builtin:{name}"),
            Tuning::File { text, .. } => text.clone(),
        };
        let hashes = Hashes {
            server: sha256(&server),
            tuner: sha256(&tuner),
            config: sha256(config.as_bytes()),
            profile: sha256(profile.as_bytes()),
        };
        let all = format!(
            "{}\n{}\n{}\n{}\n",
            hashes.server, hashes.tuner, hashes.config, hashes.profile
        );
        Release {
            id: sha256(all.as_bytes())[..16].to_string(),
            server: Arc::new(server),
            tuner: Arc::new(tuner),
            config,
            tuning,
            hashes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(config: &str) -> Release {
        Release::from_parts(
            b"server".to_vec(),
            b"tuner".to_vec(),
            config.into(),
            Tuning::Builtin("connections".into()),
        )
    }

    #[test]
    fn id_follows_content_only() {
        assert_eq!(release("a: 1\n").id, release("a: 1\n").id);
        assert_ne!(release("a: 1\n").id, release("a: 2\n").id);
        let other_profile = Release::from_parts(
            b"server".to_vec(),
            b"tuner".to_vec(),
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
}
