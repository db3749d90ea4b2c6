//! The deployment manifest: hosts and groups, the release (paths of the built binaries), the server config, the
//! tuning profile and the rollout block.
//!
//! Loading checks everything that can be checked without touching a host, and every error names the manifest's
//! file, line and column: syntax and type errors come from the YAML parser, and the checks made after parsing
//! (names, CPU lists, rollout numbers, the profile and the server config) point at the key they are about.
//!
//! Layers, each knowing only those below it: [`model`] (the typed manifest the rest of the crate uses) and
//! [`locate`] (key → line and column) at the bottom; `raw` (serde's view of the file); `validate` (raw → model,
//! with the profile and server config checked by [`checks`](crate::checks)); this module ties them together.

mod deb;
pub mod locate;
pub mod model;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

use std::path::Path;

use pincore_tuner::input::{self, Expected};

use crate::error::Result;

pub use locate::Locator;
pub use model::{
    health_url, DebInfo, Group, Host, HostSettings, HostTls, Kubernetes, Manifest, Packages,
    PathSettings, Paths, Pem, Release, Rollout, ServerConfig, ServiceKind, SshSettings, Tls,
    TlsSettings, TransportKind, Tuning, TLS_CERT, TLS_CLIENT_CA, TLS_KEY,
};

impl Manifest {
    /// Reads and validates the manifest at `path` (and the profile or server config files it names).
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = input::read_text(path, Expected::text("a YAML deploy manifest"))?;
        Manifest::from_yaml(&text, path)
    }

    /// Parses and validates manifest `text`; `path` names it in errors and anchors relative paths.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Manifest> {
        let file = path.display().to_string();
        let raw = raw::parse(text, &file)?;
        validate::manifest(raw, path, &Locator::new(text, file))
    }
}
