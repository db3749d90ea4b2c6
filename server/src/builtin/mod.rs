//! The services of `pincore-server`, built on the public framework API only ([`crate::framework`]), as a
//! user's own service would be.

pub mod admin;
pub mod echo;
pub mod files;
mod http;
pub mod resp;

use std::sync::Arc;

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
    let keyspace = Arc::new(resp::keyspace::Keyspace::default());
    let pubsub = Arc::new(resp::pubsub::PubSub::default());
    let stats = Arc::new(resp::stats::Baseline::default());
    Server::new()
        .service(move |ctx| resp::Resp::new(ctx, keyspace.clone(), pubsub.clone(), stats.clone()))
        .service(|_| echo::Echo)
        .service(admin::Admin::new)
        .service(files::Files::new)
}

/// Runs `pincore-server` until SIGTERM or SIGINT has drained it. The entry point of the binary.
pub fn serve(options: Options, log: LogLevelHandle) -> Result<(), ServerError> {
    server().run(options, log)
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
