//! The TLS a manifest turns on (`server.tls`, and each host's `tls: {cert, key, client_ca}`): the checks its
//! files get before any host is touched, and the server config that points at them once installed.
//!
//! A host's files are checked as the server will read them — by pincore-server's own loader (PEM, a key that
//! is the certificate's, usable client authorities) — and their dates read from the certificate: an expired
//! (or not yet valid) certificate is an error, one that expires within `server.tls.expiry_warning_days` a
//! warning. Errors name the file's manifest field; the caller places them.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pincore_server::config::TlsConfig;
use pincore_tuner::input::{self, Expected};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::manifest::{HostTls, Pem, TlsSettings, TLS_CERT, TLS_CLIENT_CA, TLS_KEY};

/// The default of `server.tls.dir`: outside `/etc/pincore`, so Kubernetes can mount the Secret there beside
/// the config map without nesting one volume in another.
pub const DEFAULT_DIR: &str = "/etc/pincore-tls";

/// The default of `server.tls.expiry_warning_days`.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 30;

/// PEM files larger than this are refused (the server's own limit).
const PEM_LIMIT: u64 = 1 << 20;

/// What is wrong with one of a host's TLS files: the field (`cert`, `key`, `client_ca`) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

impl Problem {
    fn new(field: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            field,
            message: message.into(),
        }
    }
}

/// A host's checked files, and a warning when its certificate expires within `warning_days`.
pub struct Checked {
    pub tls: HostTls,
    pub warning: Option<String>,
}

/// Reads and checks the files `settings` names (local paths, already resolved) for installation in `dir`.
pub fn check_files(
    settings: &TlsSettings,
    dir: &str,
    warning_days: u32,
) -> Result<Checked, Problem> {
    let cert_path = settings.cert.as_deref().ok_or_else(|| {
        Problem::new(
            "cert",
            "no certificate: server.tls turns TLS on, so every host needs `tls: {cert, key}` (in defaults, its group's vars or the host)",
        )
    })?;
    let key_path = settings.key.as_deref().ok_or_else(|| {
        Problem::new(
            "key",
            "no private key: give `tls.key` beside `tls.cert` (the key of the certificate, PEM)",
        )
    })?;
    let cert = read(cert_path, "cert", "a PEM certificate chain")?;
    let key = read(key_path, "key", "a PEM private key")?;
    let client_ca = settings
        .client_ca
        .as_deref()
        .map(|p| read(p, "client_ca", "PEM certificate authorities"))
        .transpose()?;
    // The server's own loader: what `check-config` on the host and the running server will accept.
    let config = TlsConfig {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        client_ca: settings.client_ca.clone(),
    };
    pincore_server::tls::load("tls", &config).map_err(|e| match e {
        pincore_server::error::ServerError::Tls { key, message, .. } => Problem::new(key, message),
        other => Problem::new("cert", other.to_string()),
    })?;
    let warning = dates(&cert, warning_days)?;
    Ok(Checked {
        tls: HostTls {
            dir: dir.to_string(),
            cert,
            key,
            client_ca,
        },
        warning,
    })
}

fn read(path: &Path, field: &'static str, what: &'static str) -> Result<Pem, Problem> {
    let expected = Expected {
        what,
        limit: PEM_LIMIT,
    };
    let text = input::read_text(path, expected).map_err(|e| Problem::new(field, e.to_string()))?;
    Ok(Pem {
        path: path.to_path_buf(),
        text,
    })
}

/// Checks the leaf certificate's validity dates against now: an error when it has expired or is not valid
/// yet, a warning when it expires within `warning_days`.
fn dates(cert: &Pem, warning_days: u32) -> Result<Option<String>, Problem> {
    let at = cert.path.display();
    let der = CertificateDer::pem_slice_iter(cert.text.as_bytes())
        .next()
        .and_then(|c| c.ok())
        .ok_or_else(|| Problem::new("cert", format!("{at}: no PEM certificate")))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Problem::new("cert", format!("{at}: not an X.509 certificate: {e}")))?;
    let validity = parsed.validity();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let date = |t: &x509_parser::time::ASN1Time| t.to_datetime().date().to_string();
    let not_after = validity.not_after.timestamp();
    if not_after < now {
        return Err(Problem::new(
            "cert",
            format!(
                "{at}: the certificate expired on {}: renew it (clients refuse an expired certificate)",
                date(&validity.not_after)
            ),
        ));
    }
    if validity.not_before.timestamp() > now {
        return Err(Problem::new(
            "cert",
            format!(
                "{at}: the certificate is not valid before {}: check the issuing machine's clock, or wait",
                date(&validity.not_before)
            ),
        ));
    }
    let left = (not_after - now) / 86_400;
    Ok((left < i64::from(warning_days)).then(|| {
        format!(
            "{at}: the certificate expires on {} ({left} days from now): renew it and apply again (the server reloads it without a restart)",
            date(&validity.not_after)
        )
    }))
}

/// Why `dir` cannot hold the TLS files the hardened unit's server reads, if it cannot: `ProtectHome=` hides
/// home directories and `PrivateTmp=` gives the server its own /tmp.
pub fn check_dir(dir: &str) -> Result<(), String> {
    let p = Path::new(dir);
    for (hidden, by) in [
        ("/home", "ProtectHome=yes"),
        ("/root", "ProtectHome=yes"),
        ("/run/user", "ProtectHome=yes"),
        ("/tmp", "PrivateTmp=yes"),
        ("/var/tmp", "PrivateTmp=yes"),
    ] {
        if p.starts_with(hidden) {
            return Err(format!(
                "is under {hidden}, which the server's unit cannot see ({by}): use a directory such as {DEFAULT_DIR}"
            ));
        }
    }
    Ok(())
}

/// `text` (the server config) with a `tls:` section in each of `services`, pointing at the files in `dir`.
/// A service that is not enabled, or already has a `tls:` section of its own, is refused.
pub fn config_with_tls(
    text: &str,
    config: &pincore_server::config::Config,
    services: &[String],
    dir: &str,
    client_ca: bool,
) -> Result<String, String> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    if doc.is_null() {
        doc = serde_yaml::Value::Mapping(Default::default());
    }
    for name in services {
        match config.services.get(name) {
            Some(service) if service.enabled => {}
            _ => {
                return Err(format!(
                    "service `{name}` is not enabled in the server config: list only services the server runs"
                ))
            }
        }
        if name == "admin" {
            return Err(
                "`admin` cannot serve TLS under pincore-deploy: rollouts gate on its /healthz over plain HTTP"
                    .into(),
            );
        }
        let section = doc
            .as_mapping_mut()
            .and_then(|m| {
                let services = m
                    .entry("services".into())
                    .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                services.as_mapping_mut()
            })
            .map(|m| {
                m.entry(name.as_str().into())
                    .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()))
            })
            .and_then(|s| {
                if s.is_null() {
                    *s = serde_yaml::Value::Mapping(Default::default());
                }
                s.as_mapping_mut()
            })
            .ok_or_else(|| format!("services.{name} is not a mapping"))?;
        if section.contains_key("tls") {
            return Err(format!(
                "the server config already has services.{name}.tls: with server.tls the deploy installs the files and writes that section, so remove one of them"
            ));
        }
        let mut tls = serde_yaml::Mapping::new();
        tls.insert("cert".into(), format!("{dir}/{TLS_CERT}").into());
        tls.insert("key".into(), format!("{dir}/{TLS_KEY}").into());
        if client_ca {
            tls.insert("client_ca".into(), format!("{dir}/{TLS_CLIENT_CA}").into());
        }
        section.insert("tls".into(), serde_yaml::Value::Mapping(tls));
    }
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_the_unit_cannot_see_are_refused() {
        assert!(check_dir("/etc/pincore-tls").is_ok());
        assert!(check_dir("/var/lib/pincore-tls").is_ok());
        let e = check_dir("/home/ops/tls").unwrap_err();
        assert!(e.contains("ProtectHome=yes"), "{e}");
        assert!(check_dir("/tmp/tls").unwrap_err().contains("PrivateTmp"));
        // A prefix of a name is not the directory.
        assert!(check_dir("/homes/tls").is_ok());
    }

    #[test]
    fn the_config_gets_a_tls_section_per_service_and_conflicts_are_refused() {
        let text = "services:\n  resp:\n    listen: 127.0.0.1:6380\n  files:\n    listen: 127.0.0.1:8080\n    settings: {root: /srv}\n";
        let config = pincore_server::config::Config::from_yaml(text, "c").unwrap();
        let out = config_with_tls(text, &config, &["resp".into()], "/etc/t", true).unwrap();
        let parsed = pincore_server::config::Config::from_yaml(&out, "c").unwrap();
        let tls = parsed.services.resp.tls.expect("resp has tls");
        assert_eq!(tls.cert, Path::new("/etc/t/cert.pem"));
        assert_eq!(tls.key, Path::new("/etc/t/key.pem"));
        assert_eq!(
            tls.client_ca.as_deref(),
            Some(Path::new("/etc/t/client_ca.pem"))
        );
        assert_eq!(parsed.services.files.tls, None);
        assert_eq!(parsed.services.files.listen, config.services.files.listen);

        let e = config_with_tls(text, &config, &["echo2".into()], "/d", false).unwrap_err();
        assert!(e.contains("`echo2` is not enabled"), "{e}");
        let e = config_with_tls(text, &config, &["admin".into()], "/d", false).unwrap_err();
        assert!(e.contains("/healthz"), "{e}");
        let both = format!("{text}    tls: {{cert: /c, key: /k}}\n");
        let config = pincore_server::config::Config::from_yaml(&both, "c").unwrap();
        let e = config_with_tls(&both, &config, &["files".into()], "/d", false).unwrap_err();
        assert!(e.contains("already has services.files.tls"), "{e}");
    }
}
