//! `render --format systemd`: each host's unit (they differ only in `CPUAffinity=`) and the profile's sysctl.d
//! drop-in, for hosts managed by other means; with `server.tls`, also the server config whose `tls:` sections
//! point at the files in `server.tls.dir` (install them there, mode 0600, owned by the service user).

use crate::manifest::Manifest;
use crate::unit;

/// `hosts/HOST/pincore-server.service` per host, and the drop-in at the top.
pub fn render(manifest: &Manifest) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = manifest
        .hosts
        .iter()
        .map(|h| {
            (
                format!("hosts/{}/{}", h.name, unit::UNIT_NAME),
                unit::render(h).into_bytes(),
            )
        })
        .collect();
    let (name, text) = super::sysctl::dropin(manifest);
    files.push((name, text.into_bytes()));
    if manifest.tls.is_some() {
        files.push((
            "server.yaml".into(),
            manifest.server.text.clone().into_bytes(),
        ));
    }
    files
}
