//! The checks a manifest gets from the libraries that own the formats: the tuning profile is flattened by
//! pincore-tuner's profile library and the server config parsed by pincore-server's, exactly as the binaries on
//! the hosts will read them. A bad profile or config is caught here, before any host is touched.

use pincore_server::config::Config;
use pincore_tuner::{FlatProfile, ProfileLibrary};

use crate::error::Result;
use crate::manifest::locate::Locator;
use crate::manifest::model::{ServerConfig, Tuning};

/// Flattens the manifest's profile (built-in or file, with its includes).
pub fn profile(tuning: &Tuning, locator: &Locator) -> Result<FlatProfile> {
    let argument = match tuning {
        Tuning::Builtin(name) => name.clone(),
        Tuning::File { path, .. } => path.display().to_string(),
    };
    ProfileLibrary::builtin_only()
        .flatten(&argument)
        .map_err(|e| {
            let names: Vec<&str> = ProfileLibrary::builtin_names().collect();
            locator.error(
                &["tuning", "profile"],
                format!(
                    "{e} (built-in profiles: {}; or give a profile file path)",
                    names.join(", ")
                ),
            )
        })
}

/// Parses the server config; the admin service must be on, since rollouts gate on its `/healthz`.
pub fn server_config(server: &ServerConfig, locator: &Locator) -> Result<Config> {
    let key: &[&str] = if server.origin.ends_with("(server.config)") {
        &["server", "config"]
    } else {
        &["server", "config_file"]
    };
    let config = Config::from_yaml(&server.text, &server.origin)
        .map_err(|e| locator.error(key, format!("invalid server config: {e}")))?;
    if !config.services.admin.enabled {
        return Err(locator.error(
            key,
            "services.admin is disabled: rollouts gate on the admin endpoint's /healthz, so enable it",
        ));
    }
    Ok(config)
}
