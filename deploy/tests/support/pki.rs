//! Certificates made by a test: an authority, and server certificates it issues for `localhost` and
//! 127.0.0.1, written as PEM files the manifest names.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

/// A certificate authority of one test.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// Validity of an issued certificate.
#[derive(Clone, Copy)]
pub enum Until {
    /// rcgen's default (far in the future).
    Far,
    /// The first of January of a year.
    Year(i32),
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        Ca { cert, key }
    }

    /// Writes the authority's certificate to `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.cert.pem()).expect("write CA");
        path.to_path_buf()
    }

    /// Issues a server certificate valid `until`, written to `dir/NAME.pem` with its key in `dir/NAME.key`;
    /// returns both paths.
    pub fn issue(&self, dir: &Path, name: &str, until: Until) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        if let Until::Year(year) = until {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(year, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("issue");
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k)
    }
}
