//! A `deb` release as written (`release: {deb, tuner_deb}`): each file must be a Debian package — read with
//! `dpkg-deb --field`, the tool that installs it on the host — of the right name, and both must be built for one
//! architecture. The host's own architecture is checked at preflight, where it is known.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Result;
use crate::manifest::locate::Locator;
use crate::manifest::model::{DebInfo, Packages};

/// The packages at `server` and `tuner` (the manifest's `release.deb` and `release.tuner_deb`).
pub(super) fn packages(server: &Path, tuner: &Path, locator: &Locator) -> Result<Packages> {
    let server = package(server, "pincore-server", "deb", locator)?;
    let tuner = package(tuner, "pincore-tuner", "tuner_deb", locator)?;
    let archs = [&server.architecture, &tuner.architecture];
    if archs[0] != archs[1] && !archs.contains(&&"all".to_string()) {
        return Err(locator.error(
            &["release", "tuner_deb"],
            format!(
                "pincore-tuner is built for {} but pincore-server for {}: build both for the hosts' architecture",
                tuner.architecture, server.architecture
            ),
        ));
    }
    Ok(Packages { server, tuner })
}

/// Reads the package at `path`, which must be named `name`; errors point at `release.KEY`.
fn package(path: &Path, name: &str, key: &str, locator: &Locator) -> Result<DebInfo> {
    let at = ["release", key];
    let info = read(path).map_err(|why| locator.error(&at, why))?;
    if info.package != name {
        return Err(locator.error(
            &at,
            format!(
                "{} is the package `{}`, not {name}",
                path.display(),
                info.package
            ),
        ));
    }
    Ok(info)
}

/// Package, Version and Architecture of the `.deb` at `path`, or why it is not one.
pub(super) fn read(path: &Path) -> std::result::Result<DebInfo, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "{}: not a regular file; give the path of a .deb (packaging/build-debs.sh builds them)",
            path.display()
        ));
    }
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(path)
        .args(["Package", "Version", "Architecture"])
        .output()
        .map_err(|e| {
            format!("cannot run dpkg-deb ({e}): a deb release is read with it, so install dpkg")
        })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{}: not a Debian package ({})",
            path.display(),
            why.trim().trim_start_matches("dpkg-deb: error: ")
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{}: the package has no {name} field", path.display()))
    };
    Ok(DebInfo {
        package: field("Package")?,
        version: field("Version")?,
        architecture: field("Architecture")?,
    })
}

/// The release's paths: the binaries, or the packages — exactly one of the two forms, given whole.
pub(super) fn form(
    server: Option<PathBuf>,
    tuner: Option<PathBuf>,
    deb: Option<PathBuf>,
    tuner_deb: Option<PathBuf>,
    locator: &Locator,
) -> Result<(PathBuf, PathBuf, bool)> {
    match (server, tuner, deb, tuner_deb) {
        (Some(s), Some(t), None, None) => Ok((s, t, false)),
        (None, None, Some(d), Some(t)) => Ok((d, t, true)),
        (None, None, Some(_), None) => Err(locator.error(
            &["release", "deb"],
            "a deb release needs `tuner_deb` too (the pincore-tuner package): each host is tuned by the release's own tuner; packaging/build-debs.sh builds both",
        )),
        (s, _, None, None) => Err(locator.error(
            &["release"],
            format!(
                "`{}` is missing: give `server` and `tuner` (built binaries), or `deb` and `tuner_deb` (Debian packages)",
                if s.is_none() { "server" } else { "tuner" }
            ),
        )),
        _ => Err(locator.error(
            &["release"],
            "give either `server` and `tuner` (built binaries) or `deb` and `tuner_deb` (Debian packages), not parts of both",
        )),
    }
}
