//! The steps a rollout performs on one host, each a short script through the host's transport: upload a
//! release (hard-linking binaries the host already has), switch `current`, tune, gate on health, record
//! `deployed.json`, and revert.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::commands;
use crate::error::{Error, Result};
use crate::facts::Deployed;
use crate::manifest::{Host, Rollout, Tuning};
use crate::plan::PackagesBack;
use crate::release::{open_binary, Binary, Release};
use crate::service::Service;
use crate::transport::Transport;

/// A host with its open transport and its service manager: what every step acts on.
pub struct Target {
    pub host: Host,
    pub transport: Box<dyn Transport>,
    pub service: Box<dyn Service>,
}

/// Adds the server's last log lines to a failed health gate: usually the reason (a port in use, a bad CPU list).
pub(crate) fn with_server_log(error: Error, target: &Target) -> Error {
    let log = target
        .transport
        .run(&target.service.log_script(), b"")
        .map(|o| o.stdout)
        .unwrap_or_default();
    match error {
        Error::Step { host, step, detail } if !log.trim().is_empty() => Error::Step {
            host,
            step,
            detail: format!(
                "{detail}; server log: {}",
                log.trim().lines().collect::<Vec<_>>().join(" | ")
            ),
        },
        other => other,
    }
}

/// Puts a host back on `previous` (or, with none, stops the server and undoes the tuning), with its packages
/// as `packages` says.
pub(crate) fn revert(
    target: &Target,
    previous: Option<&str>,
    packages: &PackagesBack,
    failed_dir: &str,
    url: &str,
    rollout: &Rollout,
) -> Result<()> {
    let t = &*target.transport;
    let host = &target.host;
    match previous {
        Some(prev) => {
            let dir = commands::release_dir(host, prev);
            switch(t, host, prev)?;
            if let PackagesBack::Reinstall = packages {
                install_packages(t, &dir)?;
            }
            retune(t, host, &dir)?;
            back_to_current(target)?;
            health_gate(t, &*target.service, url, rollout)
        }
        None => {
            target.service.stop(t)?;
            t.check("remove current", &commands::remove_current(host), b"")?;
            t.check(
                "tuner rollback",
                &commands::tuner_rollback(host, failed_dir),
                b"",
            )?;
            match packages {
                PackagesBack::Remove(names) if !names.is_empty() => t
                    .check("remove the packages", &commands::deb::remove(names), b"")
                    .map(drop),
                _ => Ok(()),
            }
        }
    }
}

/// `dpkg -i` the packages of the release in `dir` (quoted).
pub(crate) fn install_packages(t: &dyn Transport, dir: &str) -> Result<()> {
    t.check(
        "install the packages (dpkg -i)",
        &commands::deb::install(dir),
        b"",
    )
    .map(drop)
}

/// Puts the release `current` points at back in service after `current` was switched back: by a handoff
/// when a server still runs with listeners that release can take (a successor that failed to start left
/// the old server serving; one that failed its health gate hands back), otherwise, or if that is refused,
/// by a restart.
pub(crate) fn back_to_current(target: &Target) -> Result<()> {
    let t = &*target.transport;
    if let Err(e) = target.service.upgrade(t) {
        tracing::info!(host = %target.host.name, error = %e, "no upgrade in place back; restarting");
        target.service.restart(t)?;
    }
    Ok(())
}

/// Streams a release binary to `dest` and checks that what was sent is what the release was hashed from:
/// a binary rebuilt since then would otherwise be installed under the old release's id.
fn upload_binary(t: &dyn Transport, binary: &Binary, dest: &str, mode: u32) -> Result<()> {
    let mut stream = open_binary(&binary.path, "a release binary")?;
    t.upload_from(&mut stream, dest, mode)?;
    let (size, sha256) = stream.finish();
    if sha256 != binary.sha256 {
        return Err(Error::step(
            t.host(),
            &format!("upload {dest}"),
            format!(
                "{} changed since the release was read ({} bytes, sha256 {}; now {size} bytes, sha256 {sha256}): wait for the build to finish, then run the command again",
                binary.path.display(),
                binary.size,
                binary.sha256
            ),
        ));
    }
    Ok(())
}

/// Uploads `release` into `INSTALL/releases/ID/` and checks its config there; complete only when all of it is.
pub(crate) fn upload(t: &dyn Transport, host: &Host, release: &Release) -> Result<()> {
    let dir = format!("{}/releases/{}", host.paths.install, release.id);
    let partial = format!("{}/releases/.{}.partial", host.paths.install, release.id);
    let [server_name, tuner_name] = release.file_names();
    let binaries = [
        (server_name, &release.server, &release.hashes.server),
        (tuner_name, &release.tuner, &release.hashes.tuner),
    ];
    let mode = if release.packages.is_some() {
        0o644
    } else {
        0o755
    };
    // Binaries already on the host in an earlier release (same SHA-256) are hard-linked instead of uploaded.
    let hashes: Vec<(&str, &str)> = binaries
        .iter()
        .map(|(name, _, sum)| (*name, sum.as_str()))
        .collect();
    let linked = t.check(
        "prepare the release directory",
        &commands::prepare_release(host, &partial, &hashes),
        b"",
    )?;
    for (name, binary, _) in binaries {
        if !linked.lines().any(|l| l == name) {
            upload_binary(t, binary, &format!("{partial}/{name}"), mode)?;
        }
    }
    let sums = format!(
        "{}  {server_name}\n{}  {tuner_name}\n",
        release.hashes.server, release.hashes.tuner
    );
    let argument = match &release.tuning {
        Tuning::Builtin(name) => name.clone(),
        Tuning::File { .. } => format!("{dir}/profile.yaml"),
    };
    let mut files = vec![
        ("SHA256SUMS", sums),
        ("server.yaml", release.config.clone()),
        ("profile.arg", format!("{argument}\n")),
    ];
    if let Tuning::File { text, .. } = &release.tuning {
        files.push(("profile.yaml", text.clone()));
    }
    // The config is checked by the very binary that will run it, on the host, before anything switches.
    let complete = if release.packages.is_some() {
        commands::deb::complete_release(&partial, &dir, &files)
    } else {
        commands::complete_release(&partial, &dir, &files)
    };
    t.check("config check (pincore-server check-config)", &complete, b"")
        .map(drop)
}

/// Installs the host's TLS files into the manifest's directory: private to the service user (directory 0700,
/// files 0600), each replaced atomically. The running server reads them on its next reload or start.
pub(crate) fn install_tls(t: &dyn Transport, host: &Host, service: &dyn Service) -> Result<()> {
    let Some(tls) = &host.tls else {
        return Ok(());
    };
    t.check(
        "prepare the TLS directory",
        &service.tls_dir_script(&tls.dir),
        b"",
    )?;
    for (name, pem) in tls.files() {
        t.check(
            &format!("install {name}"),
            &commands::install_secret(&format!("{}/{name}", tls.dir), service.tls_owner()),
            pem.text.as_bytes(),
        )?;
    }
    Ok(())
}

/// Points `INSTALL/current` at release `id` (a rename, so it is never missing or half-written).
pub(crate) fn switch(t: &dyn Transport, host: &Host, id: &str) -> Result<()> {
    t.check("switch current", &commands::switch(host, id), b"")
        .map(drop)
}

/// `pincore-tuner apply --persist` with the profile of the release in `dir`.
pub(crate) fn tune(t: &dyn Transport, host: &Host, dir: &str) -> Result<()> {
    t.check(
        "tune (pincore-tuner apply --persist)",
        &commands::tune(host, dir),
        b"",
    )
    .map(drop)
}

/// Back to the values before pincore's first apply, then the release's own profile.
pub(crate) fn retune(t: &dyn Transport, host: &Host, dir: &str) -> Result<()> {
    t.check("tuner rollback", &commands::tuner_rollback(host, dir), b"")?;
    tune(t, host, dir)
}

/// Waits until `/healthz` has answered for `min_healthy_time` without a failure, within `healthy_deadline`.
/// A server that has exited for good (`Service::dead_script`) fails the gate at once instead of at the deadline.
pub fn health_gate(
    t: &dyn Transport,
    service: &dyn Service,
    url: &str,
    rollout: &Rollout,
) -> Result<()> {
    let started = Instant::now();
    let mut healthy_since: Option<Instant> = None;
    let mut last = String::from("no answer yet");
    // One round trip per probe: the health check, and on failure whether the server is gone.
    let probe = commands::health_gate_probe(url, &service.dead_script());
    while started.elapsed() < rollout.healthy_deadline {
        let out = t.run(&probe, b"")?;
        if out.success() {
            let since = *healthy_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= rollout.min_healthy_time {
                return Ok(());
            }
        } else if out.stdout.trim() == "exited" {
            return Err(Error::step(
                t.host(),
                "health gate",
                format!("the server exited before {url} was healthy"),
            ));
        } else {
            healthy_since = None;
            last = out.stderr.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::step(
        t.host(),
        "health gate",
        format!(
            "{url} not healthy for {} within {} (last: {last})",
            pincore_cli::duration::format_duration(rollout.min_healthy_time),
            pincore_cli::duration::format_duration(rollout.healthy_deadline),
        ),
    ))
}

/// Records `release` (and the one before it) in `STATE/deployed.json`.
pub(crate) fn record(
    t: &dyn Transport,
    host: &Host,
    release: &Release,
    previous: Option<String>,
) -> Result<()> {
    let deployed = Deployed {
        release: release.id.clone(),
        previous,
        hashes: release.hashes.clone(),
        profile: release.tuning.argument().to_string(),
        deployed_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        listeners: release.listeners(),
    };
    write_record(t, host, &deployed)
}

/// Writes a `deployed.json` record.
pub(crate) fn write_record(t: &dyn Transport, host: &Host, deployed: &Deployed) -> Result<()> {
    // Serialising a struct of strings and numbers cannot fail.
    let json = serde_json::to_string_pretty(deployed).unwrap_or_default();
    t.check("record deployed.json", &commands::make_state_dir(host), b"")?;
    t.upload(
        json.as_bytes(),
        &format!("{}/deployed.json", host.paths.state),
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Local;

    #[test]
    fn a_binary_is_streamed_and_a_changed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("pincore-server");
        std::fs::write(&src, vec![1u8; 200_000]).unwrap();
        let binary = Binary::read(&src, "a binary").unwrap();
        let dest = dir.path().join("installed");
        let local = Local::new("here");
        upload_binary(&local, &binary, dest.to_str().unwrap(), 0o755).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), vec![1u8; 200_000]);

        std::fs::write(&src, b"rebuilt").unwrap();
        let e = upload_binary(&local, &binary, dest.to_str().unwrap(), 0o755)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("changed since the release was read (200000 bytes")
                && e.contains("now 7 bytes"),
            "{e}"
        );
    }
}
