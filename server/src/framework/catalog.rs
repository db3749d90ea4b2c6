//! The registered services as the engine knows them (name, admission class, settings parser), and reading a
//! configuration for exactly those.

use std::path::Path;

use super::settings::AnySettings;
use crate::config::{config_error, Config};
use crate::error::ServerError;

/// How a service's connections are admitted against the shard's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionClass {
    /// Counted against `limits.max_connections_per_shard` and `limits.max_connections_per_ip`.
    Data,
    /// A control port (metrics, probes): its own small caps (64 per shard, `limits.max_admin_connections_per_ip`
    /// per address), apart from the data ports', so a flood there cannot lock out scrapes. At a cap the
    /// connection idle the longest is closed to admit the new one; a service marks its connections idle with
    /// [`Connection::set_idle`].
    Control,
}

/// A registered service as the engine's configuration side knows it: its name, admission class and how to
/// read its settings. (How to build it on a shard is kept by the [`super::Server`], see `erased.rs`.)
pub(crate) struct Spec {
    pub name: &'static str,
    pub admission: AdmissionClass,
    /// Parses and validates `services.<name>.settings` (`Null` when absent).
    pub parse: fn(&serde_yaml::Value) -> Result<AnySettings, String>,
    /// Checks parsed settings against the service's `listen` address (see `Settings::check_listen`).
    pub check_listen: fn(&AnySettings, std::net::SocketAddr) -> Result<(), String>,
}

/// The services a server runs, by index (the order they were registered).
#[derive(Default)]
pub struct Catalog {
    pub(crate) specs: Vec<Spec>,
}

impl Catalog {
    pub fn names(&self) -> Vec<&'static str> {
        self.specs.iter().map(|s| s.name).collect()
    }

    /// Parses and validates configuration text, the settings of every registered service included.
    /// Returns the configuration and each service's settings, by service index.
    pub fn parse(
        &self,
        text: &str,
        origin: &str,
    ) -> Result<(Config, Vec<AnySettings>), ServerError> {
        let config = Config::from_yaml_for(text, origin, &self.names())?;
        let settings = self.settings_of(&config, text, origin)?;
        Ok((config, settings))
    }

    /// Each service's settings from an already parsed configuration (`text` locates errors).
    pub fn settings_of(
        &self,
        config: &Config,
        text: &str,
        origin: &str,
    ) -> Result<Vec<AnySettings>, ServerError> {
        self.specs
            .iter()
            .map(|spec| {
                let service = config.services.get(spec.name);
                let value = service.map(|s| s.settings.clone()).unwrap_or_default();
                let settings = (spec.parse)(&value).map_err(|message| {
                    config_error(
                        text,
                        origin,
                        &format!("services.{}.settings", spec.name),
                        message,
                    )
                })?;
                if let Some(service) = service.filter(|s| s.enabled) {
                    (spec.check_listen)(&settings, service.listen).map_err(|message| {
                        config_error(
                            text,
                            origin,
                            &format!("services.{}.listen", spec.name),
                            message,
                        )
                    })?;
                }
                Ok(settings)
            })
            .collect()
    }

    /// Reads a configuration file (bounded, see [`pincore_tuner::input`]) and parses it as [`Catalog::parse`].
    pub fn read(&self, path: &Path) -> Result<(Config, Vec<AnySettings>), ServerError> {
        let expected =
            pincore_tuner::input::Expected::text("a YAML configuration file (see `print-config`)");
        let text = pincore_tuner::input::read_text(path, expected)?;
        self.parse(&text, &path.display().to_string())
    }
}
