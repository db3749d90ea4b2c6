//! The same manifest for existing engines: an Ansible inventory and playbook, Kubernetes objects, or the systemd
//! unit and sysctl drop-in alone. Every render is built from the values the ssh rollout uses (the release id,
//! the unit, the supervisor scripts, the tuner's own drop-in rendering), so the engines reach the same state.

pub mod ansible;
pub mod kubernetes;
pub mod monitoring;
pub mod sysctl;
pub mod systemd;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// The render targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ansible,
    Kubernetes,
    Systemd,
}

/// Renders `manifest` as `format` into `out`; returns the files written.
pub fn render(manifest: &Manifest, format: Format, out: &Path) -> Result<Vec<PathBuf>> {
    let files = match format {
        Format::Ansible => ansible::render(manifest)?,
        Format::Kubernetes => kubernetes::render(manifest)?,
        Format::Systemd => systemd::render(manifest),
    };
    let mut written = Vec::new();
    for (relative, content) in files {
        let path = out.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
