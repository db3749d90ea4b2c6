//! Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT drain and stop, SIGUSR2 starts a successor
//! that takes the listeners over (`crate::handoff`).
//!
//! glommio has no signal API. Shard 0 waits for signals on its blocking pool (`spawn_blocking`, so no shard
//! thread ever blocks) and broadcasts what to do to every shard over the channel mesh. The configuration file
//! is read on the blocking pool too.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use sd_notify::NotifyState;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::config::Config;
use crate::error::ServerError;
use crate::framework::settings::AnySettings;
use crate::mesh::Op;
use crate::shard::Shard;
use crate::tls::{self, Acceptor};

/// Registers the handlers. Called before any shard starts so that no signal is lost during start-up.
pub fn install_signals() -> std::io::Result<Signals> {
    Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR2])
}

/// Tells systemd (only when `NOTIFY_SOCKET` is set).
pub fn notify(state: NotifyState) {
    if let Err(e) = sd_notify::notify(false, &[state]) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// Runs on shard 0 until a shutdown signal.
pub async fn signal_loop(shard: Rc<Shard>) {
    let taken = shard.shared.signals.lock().ok().and_then(|mut s| s.take());
    let Some(mut signals) = taken else { return };
    loop {
        let (back, received) = glommio::executor()
            .spawn_blocking(move || {
                let received: Vec<i32> = signals.wait().collect();
                (signals, received)
            })
            .await;
        signals = back;
        for signal in received {
            if signal == SIGHUP {
                reload(&shard).await;
            } else if signal == SIGUSR2 {
                crate::handoff::upgrade_on_signal(&shard).await;
            } else {
                tracing::info!(
                    signal = if signal == SIGTERM {
                        "SIGTERM"
                    } else {
                        "SIGINT"
                    },
                    drain_ms = shard.config().timeouts.drain_ms,
                    "shutting down: no new connections, draining"
                );
                notify(NotifyState::Stopping);
                for target in 0..shard.count {
                    shard.tell(target, Op::Drain).await;
                }
                return;
            }
        }
    }
}

/// Re-reads the configuration file and applies its live parts on every shard; restart-only changes are
/// reported, and an invalid file leaves the running configuration untouched.
async fn reload(shard: &Rc<Shard>) {
    notify(NotifyState::Reloading);
    let Some(path) = shard.shared.config_path.clone() else {
        tracing::info!("SIGHUP: running on the embedded default configuration, nothing to reload (start with --config FILE)");
        notify(NotifyState::Ready);
        return;
    };
    let shared = shard.shared.clone();
    let read = glommio::executor()
        .spawn_blocking(move || {
            // Every registered service's settings and TLS files are read and checked here, before any
            // shard sees them.
            let (mut config, settings) = shared.catalog.read(&path)?;
            if let Some(cpus) = shared.cpus_override.clone() {
                config.shards.cpus = cpus;
            }
            let tls = tls::load_all(&config, &shared.catalog.names())?;
            Ok::<_, ServerError>((config, settings, tls))
        })
        .await;
    match read {
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the running configuration and certificates are kept")
        }
        Ok((new, settings, tls)) => {
            let running = shard.config();
            for key in running.needs_restart(&new) {
                tracing::warn!(
                    key,
                    "changed in the file but needs a restart to apply; the running value is kept"
                );
            }
            apply_live(shard, &running, &new, settings, tls).await;
            tracing::info!(
                "configuration reloaded: limits, timeouts, log level, services' settings and TLS certificates applied on every shard"
            );
        }
    }
    notify(NotifyState::Ready);
}

/// Applies the live parts of `new` (checked whole, with `settings` parsed from it) on every shard.
async fn apply_live(
    shard: &Rc<Shard>,
    running: &Config,
    new: &Config,
    settings: Vec<AnySettings>,
    tls: Vec<Option<Acceptor>>,
) {
    let merged = running.with_live_settings_of(new);
    shard.shared.log.set(merged.log.level);
    let version = shard.shared.config_version.fetch_add(1, Ordering::Relaxed) + 1;
    // Every shard's acknowledgement is awaited, so that "applied on every shard" (the log line, CONFIG SET's
    // +OK) is true when it is said: a request that follows on any shard sees the change.
    let tickets = shard
        .broadcast(|| {
            Op::Reconfigure(
                version,
                Box::new(merged.clone()),
                settings.clone(),
                tls.clone(),
            )
        })
        .await;
    for ticket in tickets {
        ticket.await;
    }
}

/// Replaces the running configuration with `changed` (the running one with some values changed by a
/// service, e.g. RESP's CONFIG SET) through the path of a SIGHUP reload: the whole configuration is
/// written out and read back through the catalog, so every check a reloaded file passes applies, and then
/// the live parts go to every shard. A change to a key that needs a restart is refused, naming it; either
/// way an invalid change changes nothing. A later SIGHUP re-reads the file, which wins.
pub(crate) async fn reconfigure(shard: &Rc<Shard>, changed: Config) -> Result<(), String> {
    replace(
        shard,
        &changed.to_yaml(),
        "the changed configuration",
        false,
    )
    .await
    .map(|_| ())
    .map_err(|refused| refused.to_string())
}

/// Why a new configuration was not applied. Nothing of it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// It does not parse or does not pass the checks a configuration file must pass.
    #[error("{0}")]
    Invalid(String),
    /// It changes keys that only a restart can apply (listeners, shards, log format), named here.
    #[error("{} cannot change while the server runs; change the file and restart", .0.join(", "))]
    NeedsRestart(Vec<String>),
    /// Writing it to the configuration file failed (or there is no file: the server runs on the embedded
    /// default).
    #[error("{0}")]
    Persist(String),
}

/// Replaces the running configuration with the configuration `text` (named `origin` in errors) as a
/// SIGHUP reload does: checked whole by the catalog, refused if it changes a restart-only key, and, when
/// `persist` asks, written to the configuration file (temporary file, fsync, rename) before its live
/// parts go to every shard. Returns the configuration now running.
pub(crate) async fn replace(
    shard: &Rc<Shard>,
    text: &str,
    origin: &str,
    persist: bool,
) -> Result<Config, Refused> {
    let (mut new, settings) = shard
        .shared
        .catalog
        .parse(text, origin)
        .map_err(|e| match e {
            ServerError::Config { message, .. } => Refused::Invalid(message),
            other => Refused::Invalid(other.to_string()),
        })?;
    let running = shard.config();
    // `--cpus` overrides the file's list, as it does on every reload.
    if let Some(cpus) = shard.shared.cpus_override.clone() {
        new.shards.cpus = cpus;
    }
    let restart = running.needs_restart(&new);
    if !restart.is_empty() {
        return Err(Refused::NeedsRestart(restart));
    }
    // The TLS files are read again (on the blocking pool: they are files), as a SIGHUP would, before
    // anything is written: a certificate that does not load refuses the whole change.
    let names = shard.shared.catalog.names();
    let (new, tls) = glommio::executor()
        .spawn_blocking(move || tls::load_all(&new, &names).map(|tls| (new, tls)))
        .await
        .map_err(|e| Refused::Invalid(e.to_string()))?;
    if persist {
        let shared = shard.shared.clone();
        let to_write = running.with_live_settings_of(&new);
        glommio::executor()
            .spawn_blocking(move || persist_config(&shared, to_write))
            .await?;
    }
    apply_live(shard, &running, &new, settings, tls).await;
    tracing::info!(
        origin,
        persist,
        "configuration replaced: live parts applied on every shard"
    );
    Ok(shard.config().as_ref().clone())
}

/// Writes `config` over the configuration file the server was started with, atomically and synced to
/// disk. The file's own `shards.cpus` is kept when `--cpus` overrides it, so a restart reads what it read
/// before; comments are not kept.
fn persist_config(shared: &crate::shard::Shared, mut config: Config) -> Result<(), Refused> {
    let Some(path) = shared.config_path.clone() else {
        return Err(Refused::Persist(
            "the server runs on the embedded default configuration (no --config FILE): nothing to write to"
                .to_string(),
        ));
    };
    if shared.cpus_override.is_some() {
        let (file, _) = shared
            .catalog
            .read(&path)
            .map_err(|e| Refused::Persist(format!("reading {} again: {e}", path.display())))?;
        config.shards.cpus = file.shards.cpus;
    }
    pincore_tuner::atomic::write_atomically(
        &path,
        config.to_yaml().as_bytes(),
        pincore_tuner::atomic::Durability::Reboot,
    )
    .map_err(|e| Refused::Persist(e.to_string()))
}
