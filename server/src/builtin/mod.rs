//! The services of `pincore-server`, built on the public framework API only ([`crate::framework`]), as a
//! user's own service would be.

pub mod admin;
pub mod echo;
pub mod resp;

use std::sync::Arc;

use crate::config::{
    config_error, Config, ConfigError, BUILTIN_SERVICES, DEFAULT_ORIGIN, DEFAULT_YAML,
};
use crate::error::ServerError;
use crate::framework::{Options, Server, Settings as _};
use crate::logging::LogLevelHandle;

/// A server with the built-in services: `resp` (on one keyspace and one pub/sub registry shared by every
/// shard), `echo`, `admin`.
pub fn server() -> Server {
    let keyspace = Arc::new(resp::keyspace::Keyspace::default());
    let pubsub = Arc::new(resp::pubsub::PubSub::default());
    let stats = Arc::new(resp::stats::Baseline::default());
    Server::new()
        .service(move |ctx| resp::Resp::new(ctx, keyspace.clone(), pubsub.clone(), stats.clone()))
        .service(|_| echo::Echo)
        .service(|_| admin::Admin)
}

/// Runs `pincore-server` until SIGTERM or SIGINT has drained it. The entry point of the binary.
pub fn serve(options: Options, log: LogLevelHandle) -> Result<(), ServerError> {
    server().run(options, log)
}

/// pincore-server's own configuration: the generic model ([`Config::from_yaml_for`]) with the built-in
/// services' settings checked here, where their types are known (`config.rs` knows no service).
impl Config {
    /// Parses and validates configuration text for `pincore-server` (its built-in services: only `resp` takes
    /// settings, its users). `origin` names the text in errors (a path, or [`DEFAULT_ORIGIN`]). Keys missing from the
    /// text take their default values.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config = Config::from_yaml_for(text, origin, &BUILTIN_SERVICES)?;
        for name in BUILTIN_SERVICES {
            let Some(settings) = config.services.get(name).map(|s| &s.settings) else {
                continue;
            };
            let path = format!("services.{name}.settings");
            if name == "resp" {
                // The key-value service's users (see `builtin::resp::auth`).
                let parsed: resp::auth::RespSettings = if settings.is_null() {
                    Default::default()
                } else {
                    serde_yaml::from_value(settings.clone())
                        .map_err(|e| config_error(text, origin, &path, e.to_string()))?
                };
                parsed
                    .validate()
                    .map_err(|e| config_error(text, origin, &path, e))?;
                if config.services.resp.enabled {
                    parsed
                        .check_exposure(config.services.resp.listen)
                        .map_err(|e| config_error(text, origin, "services.resp.listen", e))?;
                }
                continue;
            }
            if !settings.is_null() {
                return Err(config_error(
                    text,
                    origin,
                    &path,
                    format!("the built-in {name} service takes no settings; remove it"),
                ));
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
