//! The registered services as the engine knows them, and reading a configuration for exactly those.

use std::path::Path;

use super::service::{AnySettings, Spec};
use crate::config::{config_error, Config};
use crate::error::ServerError;

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
                let value = config
                    .services
                    .get(spec.name)
                    .map(|s| s.settings.clone())
                    .unwrap_or_default();
                (spec.parse)(&value).map_err(|message| {
                    config_error(
                        text,
                        origin,
                        &format!("services.{}.settings", spec.name),
                        message,
                    )
                })
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
