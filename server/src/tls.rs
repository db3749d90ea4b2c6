//! TLS on a service's listener (`services.<name>.tls`): the PEM files read into a rustls server
//! configuration, and the handshake of each accepted connection, bounded and counted.
//!
//! Files are read (bounded, through `pincore_tuner::input`) and checked whole before any shard sees the
//! result: at start-up, by `check-config`, on SIGHUP and on a service's `reconfigure`. A reload with a bad
//! file changes nothing, so the running certificate stays. A shard keeps each service's configuration in an
//! `Arc`: a reload swaps it for new connections, and connections already open keep the session they made.
//!
//! rustls with the *ring* provider, TLS 1.2 and 1.3 only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::server::TlsStream;
use glommio::net::TcpStream;
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Config, TlsConfig};
use crate::error::ServerError;
use crate::metrics::{Counter, ShardMetrics};

/// A service's TLS configuration as connections use it (shared by every shard).
pub type Acceptor = Arc<ServerConfig>;

/// PEM files larger than this are refused: a chain of a few certificates is a few KiB.
const PEM_LIMIT: u64 = 1 << 20;

/// Reads the TLS files of every service in `names` (by index) that has a `tls:` section and is enabled.
pub fn load_all(config: &Config, names: &[&str]) -> Result<Vec<Option<Acceptor>>, ServerError> {
    names
        .iter()
        .map(|name| match config.services.get(name) {
            Some(service) if service.enabled => {
                service.tls.as_ref().map(|tls| load(name, tls)).transpose()
            }
            _ => Ok(None),
        })
        .collect()
}

/// Reads one service's certificate chain, key and (for mutual TLS) client authorities, and checks that the
/// key belongs to the certificate.
pub fn load(service: &str, tls: &TlsConfig) -> Result<Acceptor, ServerError> {
    let fail = |key: &'static str, path: &Path, message: String| ServerError::Tls {
        service: service.to_string(),
        key,
        message: format!("{}: {message}", path.display()),
    };
    let certs = certificates(service, "cert", &tls.cert)?;
    let key_pem = read_pem(service, "key", &tls.key, "a PEM private key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        fail(
            "key",
            &tls.key,
            format!("no private key ({}); give a PEM file with a `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block", pem_problem(&e)),
        )
    })?;
    // ring builds in seconds with no cmake or Go; rustls 0.23.48 marks it deprecated only because it has no
    // post-quantum key exchange, which the clients served here (redis-cli, redis-py, curl) do not require.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| fail("cert", &tls.cert, e.to_string()))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(service, "client_ca", path)? {
                roots.add(cert).map_err(|e| {
                    fail(
                        "client_ca",
                        path,
                        format!("not a usable certificate authority: {e}"),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| fail("client_ca", path, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        fail(
            "key",
            &tls.key,
            format!(
                "cannot be used with the certificate in {}: {e}",
                tls.cert.display()
            ),
        )
    })?;
    Ok(Arc::new(config))
}

fn read_pem(
    service: &str,
    key: &'static str,
    path: &Path,
    what: &'static str,
) -> Result<Vec<u8>, ServerError> {
    let expected = pincore_tuner::input::Expected {
        what,
        limit: PEM_LIMIT,
    };
    pincore_tuner::input::read(path, expected).map_err(|e| ServerError::Tls {
        service: service.to_string(),
        key,
        message: e.to_string(),
    })
}

/// Every certificate in a PEM file, at least one.
fn certificates(
    service: &str,
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let bytes = read_pem(service, key, path, "a PEM certificate file")?;
    let fail = |message: String| ServerError::Tls {
        service: service.to_string(),
        key,
        message: format!("{}: {message}", path.display()),
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM certificate file ({})", pem_problem(&e))))?;
    if certs.is_empty() {
        return Err(fail(
            "no certificate in the file; give a PEM file with `BEGIN CERTIFICATE` blocks".into(),
        ));
    }
    Ok(certs)
}

fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no PEM block of that kind".into(),
        other => format!("{other:?}"),
    }
}

/// Why a handshake did not complete, as counted in `pincore_tls_handshakes_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not completed within `timeouts.request_ms`.
    Timeout,
    /// A certificate was refused: the client's (mutual TLS) or ours by the client.
    BadCertificate,
    /// Anything else the TLS protocol refused: no common version or cipher, not TLS at all.
    Protocol,
    /// The peer closed or reset the connection during the handshake.
    Closed,
}

impl Failure {
    pub const ALL: [Failure; 4] = [
        Failure::Timeout,
        Failure::BadCertificate,
        Failure::Protocol,
        Failure::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::BadCertificate => "bad_certificate",
            Failure::Protocol => "protocol",
            Failure::Closed => "closed",
        }
    }

    fn of(error: &std::io::Error) -> Failure {
        let Some(tls) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        else {
            return Failure::Closed;
        };
        match tls {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                Failure::BadCertificate
            }
            rustls::Error::AlertReceived(alert) if refuses_certificate(*alert) => {
                Failure::BadCertificate
            }
            _ => Failure::Protocol,
        }
    }
}

/// The alerts a client sends when it does not accept the server's certificate.
fn refuses_certificate(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
    )
}

/// One service's handshake counters on one shard.
pub struct Handshakes {
    ok: Counter,
    failed: [Counter; 4],
}

impl Handshakes {
    /// Registers `pincore_tls_handshakes_total{service, result}` for `service` on this shard.
    pub fn register(metrics: &ShardMetrics, service: &str) -> Handshakes {
        let counter = |result: &str| {
            metrics.counter(
                "pincore_tls_handshakes_total",
                "TLS handshakes on services with `tls:`, by result (ok, timeout, bad_certificate, protocol, closed).",
                &[("service", service), ("result", result)],
            )
        };
        Handshakes {
            ok: counter("ok"),
            failed: Failure::ALL.map(|f| counter(f.as_str())),
        }
    }
}

/// Runs the server side of the handshake on `stream`, giving up after `within`, and counts the outcome.
pub async fn handshake(
    acceptor: Acceptor,
    stream: TcpStream,
    within: Duration,
    counted: &Handshakes,
) -> Result<TlsStream<TcpStream>, Failure> {
    let accepted = glommio::timer::timeout(within, async {
        Ok(futures_rustls::TlsAcceptor::from(acceptor)
            .accept(stream)
            .await)
    })
    .await;
    let outcome = match accepted {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(Failure::of(&e)),
        Err(_) => Err(Failure::Timeout),
    };
    match &outcome {
        Ok(_) => counted.ok.inc(),
        Err(why) => counted.failed[*why as usize].inc(),
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: rustls::Error) -> std::io::Error {
        // How futures-rustls hands a TLS error to the caller.
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn handshake_failures_are_told_apart_by_what_refused_them() {
        let cases = [
            (
                wrapped(rustls::Error::NoCertificatesPresented),
                Failure::BadCertificate,
            ),
            (
                wrapped(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired,
                )),
                Failure::BadCertificate,
            ),
            (
                wrapped(rustls::Error::AlertReceived(AlertDescription::UnknownCA)),
                Failure::BadCertificate,
            ),
            (
                wrapped(rustls::Error::AlertReceived(
                    AlertDescription::ProtocolVersion,
                )),
                Failure::Protocol,
            ),
            (
                wrapped(rustls::Error::InvalidMessage(
                    rustls::InvalidMessage::InvalidContentType,
                )),
                Failure::Protocol,
            ),
            (
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                Failure::Closed,
            ),
            (
                std::io::Error::from(std::io::ErrorKind::ConnectionReset),
                Failure::Closed,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(Failure::of(&error), expected, "{error}");
        }
    }

    #[test]
    fn a_missing_file_is_named_with_the_key_it_was_given_for() {
        let tls = TlsConfig {
            cert: "/nonexistent/server.pem".into(),
            key: "/nonexistent/server.key".into(),
            client_ca: None,
        };
        let e = load("resp", &tls).unwrap_err().to_string();
        assert!(
            e.starts_with("services.resp.tls.cert: /nonexistent/server.pem: "),
            "{e}"
        );
    }
}
