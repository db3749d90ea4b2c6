//! The manifest as written: serde's view of the YAML, before anything is merged, resolved or checked. Syntax,
//! type and unknown-key errors come from here, with the parser's line and column.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::manifest::model::{HostSettings, Kubernetes};

/// Parses manifest `text` (named `file` in errors), refusing deep nesting before the parser sees it.
pub(super) fn parse(text: &str, file: &str) -> Result<RawManifest> {
    pincore_tuner::nesting::check(text).map_err(|deep| Error::Manifest {
        file: file.to_string(),
        line: deep.line,
        column: deep.column,
        message: deep.to_string(),
    })?;
    serde_yaml::from_str(text).map_err(|e| {
        let (at, message) = pincore_cli::position::yaml_error(file, &e);
        Error::Manifest {
            file: at.file,
            line: at.line.max(1),
            column: at.column.max(1),
            message,
        }
    })
}

/// The manifest file as written: every key it may have, nothing merged, resolved or checked yet.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub(super) release: RawRelease,
    pub(super) server: RawServer,
    pub(super) tuning: RawTuning,
    #[serde(default)]
    pub(super) rollout: RawRollout,
    #[serde(default)]
    pub(super) defaults: HostSettings,
    pub(super) groups: Ordered<RawGroup>,
    pub(super) kubernetes: Option<Kubernetes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelease {
    pub(super) server: Option<PathBuf>,
    pub(super) tuner: Option<PathBuf>,
    /// A pincore-server Debian package, instead of `server`.
    pub(super) deb: Option<PathBuf>,
    /// The pincore-tuner Debian package that goes with `deb`.
    pub(super) tuner_deb: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) config: Option<serde_yaml::Value>,
    pub(super) config_file: Option<PathBuf>,
    pub(super) tls: Option<RawTls>,
}

/// `server.tls`: the services that serve TLS and where hosts keep the files.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) services: Vec<String>,
    pub(super) dir: Option<String>,
    pub(super) expiry_warning_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTuning {
    pub(super) profile: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRollout {
    pub(super) canary: Option<usize>,
    pub(super) max_parallel: Option<usize>,
    pub(super) max_fail: Option<usize>,
    pub(super) healthy_deadline: Option<String>,
    pub(super) min_healthy_time: Option<String>,
    pub(super) auto_revert: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    #[serde(default)]
    pub(super) vars: HostSettings,
    pub(super) hosts: Ordered<HostSettings>,
}

/// A YAML mapping read in document order (serde maps would sort or lose it); duplicate keys are an error.
pub(super) struct Ordered<T>(pub(super) Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names")
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                // A set beside the list: checking the list itself made 60 000 hosts take seconds.
                let mut seen: HashSet<String> = HashSet::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("`{key}` appears twice")));
                    }
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_any(OrderedVisitor(PhantomData))
    }
}
