//! Certificates made in the test with rcgen, as PEM files in a temp dir of
//! their own: a CA, a server certificate for 127.0.0.1/localhost, an expired
//! one, one for another name, and an unrelated CA.

use std::path::PathBuf;
use std::sync::Arc;

use futures_rustls::rustls::{ClientConfig, ServerConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sockchat::tls::{self, Trust};
use tempfile::TempDir;

use super::write_file;

/// A server certificate and its key, as PEM files.
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Identity {
    /// A server config as `serve --tls-cert --tls-key` makes it.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        tls::load_server(&self.cert, &self.key)
            .expect("load the test certificate")
            .config
    }
}

/// Everything a TLS test needs.
pub struct Pki {
    /// Holds the files below; removed when dropped.
    _dir: TempDir,
    /// The CA that signed `good`, `expired` and `wrong_name` (PEM).
    pub ca: PathBuf,
    /// A CA that signed none of them.
    pub other_ca: PathBuf,
    /// Valid now, for 127.0.0.1 and localhost.
    pub good: Identity,
    /// For 127.0.0.1 and localhost, but expired in 2021.
    pub expired: Identity,
    /// Valid now, but for example.org only.
    pub wrong_name: Identity,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let ca = make_ca("sockchat test CA");
        let other = make_ca("some other CA");
        let local = ["127.0.0.1", "localhost"];
        let good = make_leaf(&dir, "good", &ca, &local, false);
        let expired = make_leaf(&dir, "expired", &ca, &local, true);
        let wrong_name = make_leaf(&dir, "wrong-name", &ca, &["example.org"], false);
        Pki {
            ca: write_file(dir.path(), "ca.pem", &ca.pem()),
            other_ca: write_file(dir.path(), "other-ca.pem", &other.pem()),
            good,
            expired,
            wrong_name,
            _dir: dir,
        }
    }

    /// A client config trusting this test CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        tls::client_config(&Trust::CaFile(self.ca.clone())).expect("client config")
    }
}

/// A self-signed certificate for `names` and its key, in `dir`.
pub fn self_signed(dir: &std::path::Path, names: &[&str]) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    Identity {
        cert: write_file(dir, "self-signed.crt", &made.cert.pem()),
        key: write_file(dir, "self-signed.key", &made.signing_key.serialize_pem()),
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    CertifiedIssuer::self_signed(params, key).expect("CA certificate")
}

fn make_leaf(
    dir: &TempDir,
    stem: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    expired: bool,
) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, stem);
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, ca).expect("leaf certificate");
    Identity {
        cert: write_file(dir.path(), &format!("{stem}.crt"), &cert.pem()),
        key: write_file(dir.path(), &format!("{stem}.key"), &key.serialize_pem()),
    }
}
