//! A service's typed settings (`services.<name>.settings`) and how the engine holds and parses them
//! without knowing their types.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A service's own configuration section, `services.<name>.settings` in the YAML file.
///
/// It is parsed and checked by `check-config` and at start-up, and again on SIGHUP, where a valid new value
/// replaces the running one on every shard and [`Service::on_reload`] is called. Missing means
/// `Default::default()`; unknown keys are errors when the type says `#[serde(deny_unknown_fields)]`.
pub trait Settings:
    DeserializeOwned + Serialize + Default + Clone + PartialEq + Debug + Send + Sync + 'static
{
    /// Checks what serde cannot (ranges, relations between keys). The message should name the key.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Checks the settings against the address the service listens on, at start-up and on every reload
    /// (for example, refusing to serve without authentication beyond loopback). The message should say
    /// what to change.
    fn check_listen(&self, _listen: std::net::SocketAddr) -> Result<(), String> {
        Ok(())
    }
}

/// A service that takes no settings.
impl Settings for () {}

/// Settings of any service, as the engine stores and sends them.
pub(crate) type AnySettings = Arc<dyn Any + Send + Sync>;

pub(crate) fn parse_settings<T: Settings>(
    value: &serde_yaml::Value,
) -> Result<AnySettings, String> {
    let settings: T = if value.is_null() {
        T::default()
    } else {
        serde_yaml::from_value(value.clone()).map_err(|e| e.to_string())?
    };
    settings.validate()?;
    Ok(Arc::new(settings))
}

/// [`Settings::check_listen`] on settings [`parse_settings`] made.
pub(crate) fn check_listen<T: Settings>(
    settings: &AnySettings,
    listen: std::net::SocketAddr,
) -> Result<(), String> {
    match settings.downcast_ref::<T>() {
        Some(settings) => settings.check_listen(listen),
        None => Ok(()),
    }
}
