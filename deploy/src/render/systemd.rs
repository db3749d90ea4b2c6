//! `render --format systemd`: each host's unit (they differ only in `CPUAffinity=`) and the profile's sysctl.d
//! drop-in, for hosts managed by other means; with `server.tls`, also the server config whose `tls:` sections
//! point at the files in `server.tls.dir` (install them there, mode 0600, owned by the service user). For a
//! release of Debian packages the package installs the unit itself (`/usr/bin` paths, `/etc/pincore/server.yaml`),
//! so the render is what goes beside it instead: the server config for `/etc/pincore/server.yaml` and, for hosts
//! with `cpus`, a drop-in with their `CPUAffinity=`.

use crate::manifest::Manifest;
use crate::unit;

/// `hosts/HOST/pincore-server.service` per host, and the drop-in at the top.
pub fn render(manifest: &Manifest) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = if manifest.release.packages.is_some() {
        packaged(manifest)
    } else {
        manifest
            .hosts
            .iter()
            .map(|h| {
                (
                    format!("hosts/{}/{}", h.name, unit::UNIT_NAME),
                    unit::render(h).into_bytes(),
                )
            })
            .collect()
    };
    let (name, text) = super::sysctl::dropin(manifest);
    files.push((name, text.into_bytes()));
    if manifest.tls.is_some() && manifest.release.packages.is_none() {
        files.push((
            "server.yaml".into(),
            manifest.server.text.clone().into_bytes(),
        ));
    }
    files
}

/// For the packaged unit: `server.yaml` and `hosts/HOST/pincore-server.service.d/cpus.conf`.
fn packaged(manifest: &Manifest) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![(
        "server.yaml".to_string(),
        manifest.server.text.clone().into_bytes(),
    )];
    for host in &manifest.hosts {
        if let Some(cpus) = &host.cpus {
            files.push((
                format!("hosts/{}/{}.d/cpus.conf", host.name, unit::UNIT_NAME),
                format!(
                    "# Rendered by pincore-deploy for host {}: the packaged unit, pinned to the host's CPUs.\n[Service]\nCPUAffinity={}\n",
                    host.name,
                    cpus.replace(',', " ")
                )
                .into_bytes(),
            ));
        }
    }
    files
}
