//! The services of `pincore-server`, built on the public framework API only ([`crate::framework`]), as a
//! user's own service would be.

pub mod admin;
pub mod echo;
pub mod files;
mod http;
pub mod resp;

use crate::config::{
    config_error, Config, ConfigError, ServiceConfig, BUILTIN_SERVICES, DEFAULT_ORIGIN,
    DEFAULT_YAML,
};
use crate::error::ServerError;
use crate::framework::{Options, Server, Settings};
use crate::logging::LogLevelHandle;

/// A server with the built-in services: `resp` (on one keyspace and one pub/sub registry shared by every
/// shard), `echo`, `admin`, `files`.
pub fn server() -> Server {
    server_on(&resp::Shared::default())
}

/// [`server`] with `resp` serving `shared` (a keyspace loaded from a snapshot, say).
pub fn server_on(shared: &resp::Shared) -> Server {
    let shared = shared.clone();
    Server::new()
        .service(move |ctx| resp::Resp::new(ctx, &shared))
        .service(|_| echo::Echo)
        .service(admin::Admin::new)
        .service(files::Files::new)
}

/// Where the keyspace starts from when `services.resp.settings.persistence.dir` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// The snapshot in the directory, if there is one; an unusable one stops the start.
    #[default]
    Snapshot,
    /// Empty, whatever the directory holds (`--start-empty`); the next save replaces the snapshot.
    Empty,
}

/// Runs `pincore-server` until SIGTERM or SIGINT has drained it, loading the snapshot first when persistence
/// is on. The entry point of the binary.
pub fn serve(options: Options, log: LogLevelHandle) -> Result<(), ServerError> {
    serve_from(options, log, Start::Snapshot)
}

/// [`serve`], starting the keyspace as `start` says. With `persistence.dir` set, the directory is checked and
/// the snapshot loaded before any listener is opened, and a drain ends with a snapshot
/// (`persistence.save_on_shutdown`). A successor (`--upgrade-from`) gets the keyspace from its predecessor
/// instead, and a server that handed its keyspace over does not save it at shutdown.
pub fn serve_from(options: Options, log: LogLevelHandle, start: Start) -> Result<(), ServerError> {
    let persistence = resp_settings(&options.config)?.persistence;
    let shared = resp::Shared::default();
    // A successor takes the keyspace over from its predecessor (`Service::take_over`), not from the disk.
    let successor = options.upgrade_from.is_some();
    if successor {
        shared.aof.await_predecessor();
    } else if let Some(dir) = persistence.dir.as_ref() {
        load_at_start(&shared, dir, start, persistence.appendonly)?;
    }
    let served = server_on(&shared).run(options, log);
    // Every write appended so far reaches the file, flushed, whatever ended the server.
    shared.aof.shutdown();
    served?;
    // The shards have stopped: nothing changes the keyspace any more, so this snapshot is the final state
    // (unless it went to a successor, which saves from now on).
    if let Some(path) = persistence
        .path()
        .filter(|_| persistence.save_on_shutdown() && !shared.saves.was_handed_over())
    {
        let saved = resp::snapshot::save_snapshot(&shared.keyspace, &path).map_err(|e| {
            ServerError::Persistence(format!("the snapshot at shutdown failed: {e}"))
        })?;
        tracing::info!(keys = saved.keys, bytes = saved.bytes, path = %path.display(), "snapshot saved at shutdown");
    }
    Ok(())
}

/// The `resp` service's settings in a checked configuration.
fn resp_settings(config: &Config) -> Result<resp::auth::RespSettings, ServerError> {
    let section = config.services.get("resp");
    match section.map(|s| &s.settings) {
        Some(value) if !value.is_null() => serde_yaml::from_value(value.clone())
            .map_err(|e| ServerError::Persistence(format!("services.resp.settings: {e}"))),
        _ => Ok(Default::default()),
    }
}

/// Checks the snapshot directory and loads its snapshot into `shared` (unless `start` is [`Start::Empty`]).
/// With `appendonly` on, the append-only file is loaded instead when there is one (see [`resp::aof`]): its
/// RDB base here, its command files checked here and replayed by shard 0 before any shard serves.
fn load_at_start(
    shared: &resp::Shared,
    dir: &std::path::Path,
    start: Start,
    appendonly: bool,
) -> Result<(), ServerError> {
    resp::persistence::check_directory(dir).map_err(ServerError::Persistence)?;
    let stale = resp::snapshot::remove_stale_temporaries(dir);
    if stale > 0 {
        tracing::warn!(dir = %dir.display(), files = stale, "removed temporary files of snapshots cut short");
    }
    let path = resp::snapshot::snapshot_path(dir);
    if start == Start::Empty {
        tracing::warn!(path = %path.display(), "starting with an empty keyspace (--start-empty): the snapshot is not loaded, and the next save replaces it");
        return Ok(());
    }
    if appendonly {
        let advice = "restore the directory from a backup, or start with --start-empty to serve an empty keyspace (the next rewrite replaces the file)";
        let plan = resp::aof::plan(dir, true)
            .map_err(|e| ServerError::Persistence(format!("{e}; {advice}")))?;
        if let Some(plan) = plan {
            if let Some(base) = &plan.rdb_base {
                let (keys, expired) = resp::aof::load_rdb_base(&shared.keyspace, base)
                    .map_err(|e| ServerError::Persistence(format!("{e}; {advice}")))?;
                tracing::info!(path = %base.display(), keys, expired, "append-only base loaded");
            }
            let replay = (!plan.command_files.is_empty()).then_some(plan);
            shared.aof.loaded_from(replay);
            return Ok(());
        }
        tracing::info!(dir = %dir.display(), "no append-only file yet: one is written from the keyspace as it starts");
    }
    if !path.exists() {
        tracing::info!(path = %path.display(), "no snapshot yet: starting with an empty keyspace");
        return Ok(());
    }
    match resp::snapshot::load_snapshot(&shared.keyspace, &path) {
        Ok(loaded) => {
            shared.saves.loaded(loaded.saved_at_ms);
            tracing::info!(path = %path.display(), keys = loaded.keys, expired = loaded.expired, bytes = loaded.bytes, took_ms = loaded.took.as_millis() as u64, "snapshot loaded");
            Ok(())
        }
        Err(e) => Err(ServerError::Persistence(format!(
            "{e}; restore a good copy of the snapshot, or start with --start-empty to serve an empty keyspace (the next save replaces the snapshot)"
        ))),
    }
}

/// pincore-server's own configuration: the generic model ([`Config::from_yaml_for`]) with the built-in
/// services' settings checked here, where their types are known (`config.rs` knows no service).
impl Config {
    /// Parses and validates configuration text for `pincore-server` (its built-in services: `resp` takes
    /// settings, its users, and `files` its root directory). `origin` names the text in errors (a path, or [`DEFAULT_ORIGIN`]). Keys missing from the
    /// text take their default values.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config = Config::from_yaml_for(text, origin, &BUILTIN_SERVICES)?;
        for name in BUILTIN_SERVICES {
            let Some(section) = config.services.get(name) else {
                continue;
            };
            let at = |key: &str, e: String| {
                config_error(text, origin, &format!("services.{name}.{key}"), e)
            };
            match name {
                // The key-value service's users (see `builtin::resp::auth`); an exposure names `listen`.
                "resp" => check_settings::<resp::auth::RespSettings>(section, "listen", at)?,
                // The directory served; a missing one names `settings`.
                "files" => check_settings::<files::FilesSettings>(section, "settings", at)?,
                // The bearer token's file for `PATCH /config`.
                "admin" => check_settings::<admin::AdminSettings>(section, "settings", at)?,
                _ if !section.settings.is_null() => {
                    return Err(at(
                        "settings",
                        format!("the built-in {name} service takes no settings; remove it"),
                    ))
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// The embedded default configuration.
    pub fn embedded_default() -> Config {
        // The embedded text is checked by a unit test to parse and to equal `Config::default()`.
        Config::from_yaml(DEFAULT_YAML, DEFAULT_ORIGIN).unwrap_or_default()
    }

    /// Reads (a regular file of at most 16 MiB, see [`pincore_tuner::input`]) and validates a configuration file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let expected = pincore_tuner::input::Expected::text(
            "a YAML configuration file (see `pincore-server print-config`)",
        );
        let text = pincore_tuner::input::read_text(path, expected)?;
        Config::from_yaml(&text, &path.display().to_string())
    }
}

/// Parses and checks a built-in service's `settings` as its [`Settings`] type does, and against its listener
/// when it is enabled (an error there is reported at `services.NAME.<listen_key>`).
fn check_settings<T: Settings>(
    section: &ServiceConfig,
    listen_key: &str,
    at: impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let parsed: T = if section.settings.is_null() {
        T::default()
    } else {
        serde_yaml::from_value(section.settings.clone())
            .map_err(|e| at("settings", e.to_string()))?
    };
    parsed.validate().map_err(|e| at("settings", e))?;
    if section.enabled {
        parsed
            .check_listen(section.listen)
            .map_err(|e| at(listen_key, e))?;
    }
    Ok(())
}
