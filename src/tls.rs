//! TLS for private rooms, with rustls: the server's certificate (PEM files,
//! or one made at start-up), what the client trusts (the system's CAs, a CA
//! file, or one pinned certificate), and plain words for what went wrong.
//!
//! The `ring` provider is passed to every config explicitly rather than
//! installed as a process-wide default, so no other crate's choice can
//! change it. TLS 1.2 and 1.3 only. Nothing here names a runtime: the
//! streams are `futures` ones, so async-std's sockets plug in as they are.

use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::{self, CryptoProvider, WebPkiSupportedAlgorithms};
use futures_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    ServerConfig, SignatureScheme, SupportedProtocolVersion,
};
use sha2::{Digest, Sha256};

pub use futures_rustls::{TlsAcceptor, TlsConnector};

mod anchor;

/// How long a TLS handshake may take, on either side. A client that has
/// not finished by then is closed, so a stalled one costs one task, briefly.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS 1.3 first; 1.2 for older clients. Nothing older.
static VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::ring::default_provider())
}

/// Whether `bytes` start like a TLS record (a handshake or an alert, in
/// any TLS version): how a plain client recognizes a TLS server.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

/// Whether a client's first byte can start a TLS session (a handshake record).
pub fn starts_handshake(first: u8) -> bool {
    first == 0x16
}

// The server's side.

/// What `serve` needs for TLS, and what it tells people about it.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// The SHA-256 fingerprint of the server's own certificate.
    pub fingerprint: Fingerprint,
    /// Whether the certificate was made at start-up (so clients must pin it).
    pub self_signed: bool,
    /// The certificate file served, with whether its certificate is
    /// self-signed (a client may trust that file itself with `--tls-ca`).
    pub file: Option<(std::path::PathBuf, bool)>,
}

/// Loads a certificate chain and its private key from PEM files.
pub fn load_server(cert: &Path, key: &Path) -> anyhow::Result<ServerTls> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(e, "certificate"))
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
    let Some(leaf) = chain.first() else {
        bail!(
            "cannot read the TLS certificate {}: no certificate in it",
            cert.display()
        );
    };
    let fingerprint = Fingerprint::of(leaf);
    let own_anchor = anchor::self_issued(leaf);
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| pem_error(e, "private key"))
        .with_context(|| format!("cannot read the TLS key {}", key.display()))?;
    let config = server_config(chain, private)
        .map_err(key_words)
        .with_context(|| {
            format!(
                "cannot use the TLS certificate {} with the key {}",
                cert.display(),
                key.display()
            )
        })?;
    Ok(ServerTls {
        config,
        fingerprint,
        self_signed: false,
        file: Some((cert.to_path_buf(), own_anchor)),
    })
}

/// Why rustls will not serve a certificate with a key, in words (its own
/// Display says `keys may not be consistent: KeyMismatch`).
fn key_words(error: rustls::Error) -> anyhow::Error {
    match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            anyhow!("the key does not belong to this certificate (they were not made together)")
        }
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown) => {
            anyhow!("cannot tell whether the key belongs to this certificate")
        }
        other => anyhow!(other),
    }
}

fn pem_error(error: rustls::pki_types::pem::Error, what: &str) -> anyhow::Error {
    match error {
        rustls::pki_types::pem::Error::NoItemsFound => anyhow!("no PEM {what} in it"),
        rustls::pki_types::pem::Error::Io(e) => anyhow!(e),
        other => anyhow!("not a valid PEM file: {other}"),
    }
}

/// Makes a certificate for `names` (hostnames or IP addresses) with a new
/// key, valid from now; it lives as long as the process.
pub fn self_signed(names: Vec<String>) -> anyhow::Result<ServerTls> {
    let made = rcgen::generate_simple_self_signed(names)
        .context("cannot make a self-signed certificate")?;
    let leaf = made.cert.der().clone();
    let fingerprint = Fingerprint::of(&leaf);
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| anyhow!("cannot use the self-signed certificate's key: {e}"))?;
    let config =
        server_config(vec![leaf], key).context("cannot use the self-signed certificate")?;
    Ok(ServerTls {
        config,
        fingerprint,
        self_signed: true,
        file: None,
    })
}

/// A server config for one certificate chain; checks that the key fits it.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// What the log says of a client that sent more TLS 1.3 key updates than
/// rustls allows between two records of data (an attempt to make the
/// server spend its time re-keying).
pub const KEY_UPDATE_FLOOD: &str = "the client sent a flood of TLS key updates; closed";

/// Whether `error` is rustls refusing a flood of key updates.
pub fn is_key_update_flood(error: &io::Error) -> bool {
    matches!(
        rustls_error(error),
        Some(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::TooManyKeyUpdateRequests
        ))
    )
}

/// Why a server-side handshake failed, for the log.
pub fn describe_server_error(error: &io::Error) -> String {
    match rustls_error(error) {
        Some(rustls::Error::AlertReceived(alert)) => {
            let alert = crate::words::camel_words(&format!("{alert:?}"));
            format!("the client refused the handshake ({alert}); does it trust this certificate?")
        }
        Some(rustls::Error::InvalidMessage(_)) => "the client does not speak TLS".to_string(),
        Some(rustls::Error::PeerIncompatible(why)) => {
            let why = crate::words::camel_words(&format!("{why:?}"));
            format!("the client has no TLS version or cipher in common ({why})")
        }
        Some(other) => other.to_string(),
        None if error.kind() == io::ErrorKind::UnexpectedEof => {
            "the client hung up during the handshake (did it refuse this certificate?)".to_string()
        }
        None => error.to_string(),
    }
}

// The client's side.

/// What a client trusts to vouch for the server.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The CAs of this system (a certificate from a public CA, for the host).
    System,
    /// Only the CA certificates in this PEM file.
    CaFile(std::path::PathBuf),
    /// Exactly one certificate, by its SHA-256 fingerprint, whatever its
    /// names and issuer: for a self-signed server.
    Pinned(Fingerprint),
}

/// A client config for `trust`.
pub fn client_config(trust: &Trust) -> anyhow::Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .context("cannot set up TLS")?;
    let config = match trust {
        Trust::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(Check::Pinned(*pin))))
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let ca = ca_file(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier::new(Check::CaFile(ca))))
                .with_no_client_auth()
        }
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// What a CA file vouches for: chains to its CAs, and each of its
/// certificates as itself (a self-signed server's own certificate).
fn ca_file(path: &Path) -> anyhow::Result<anchor::CaFile> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(e, "certificate"))?;
    anchor::CaFile::new(certs)
}

fn system_roots() -> anyhow::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    // Unusable entries in the system store are skipped, as browsers do.
    let (_added, _skipped) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = match found.errors.first() {
            Some(e) => format!(": {e}"),
            None => String::new(),
        };
        bail!(
            "cannot verify the server: no CA certificates found on this system{why} \
             (give one with --tls-ca FILE, or pin the server with --tls-fingerprint)"
        );
    }
    Ok(roots)
}

/// The name the client expects in the server's certificate: `host` as typed,
/// without brackets (an IP address is matched against the certificate's IP
/// addresses).
pub fn server_name(host: &str) -> anyhow::Result<ServerName<'static>> {
    ServerName::try_from(host.to_string())
        .map_err(|_| anyhow!("{host:?} is not a hostname or IP address TLS can check"))
}

/// Why a client-side handshake with `host` failed, in words a person can
/// act on. `trust` says what the client had trusted.
pub fn describe_client_error(error: &io::Error, host: &str, trust: &Trust) -> String {
    let Some(tls) = rustls_error(error) else {
        return match error.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => {
                "the server closed the connection during the handshake".to_string()
            }
            _ => error.to_string(),
        };
    };
    match tls {
        rustls::Error::InvalidMessage(_) => {
            "the server does not speak TLS (it answered in plain text): drop --tls".to_string()
        }
        rustls::Error::InvalidCertificate(cert) => {
            let why = describe_certificate_error(cert, host, trust);
            format!("the server's certificate was refused: {why}")
        }
        rustls::Error::AlertReceived(alert) => {
            let alert = crate::words::camel_words(&format!("{alert:?}"));
            format!("the server refused the handshake ({alert})")
        }
        rustls::Error::PeerIncompatible(why) => {
            let why = crate::words::camel_words(&format!("{why:?}"));
            format!("the server has no TLS version or cipher in common with this client ({why})")
        }
        other => other.to_string(),
    }
}

/// Why the server's certificate was refused, completing "the server's
/// certificate was refused: …".
fn describe_certificate_error(error: &CertificateError, host: &str, trust: &Trust) -> String {
    match error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (is this machine's clock right?)".to_string()
        }
        CertificateError::NotValidForName => format!("it is not valid for {host}"),
        CertificateError::NotValidForNameContext { presented, .. } => {
            let names = match presented.is_empty() {
                true => "no host".to_string(),
                false => {
                    let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
                    names.join(", ")
                }
            };
            format!("it is not valid for {host} (it names {names})")
        }
        CertificateError::UnknownIssuer => match trust {
            Trust::CaFile(path) => format!("it is not signed by the CA in {}", path.display()),
            _ => "it is not signed by a CA this system trusts (give its CA with --tls-ca FILE, \
                  or pin a self-signed server with --tls-fingerprint)"
                .to_string(),
        },
        CertificateError::BadSignature => "its signature is bad".to_string(),
        CertificateError::Other(other) => {
            if let Some(mismatch) = other.0.downcast_ref::<PinMismatch>() {
                return mismatch.to_string();
            }
            match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => {
                    "it is a CA certificate used as the server's own (self-signed? \
                     give that very certificate with --tls-ca, or pin it with --tls-fingerprint)"
                        .to_string()
                }
                _ => other.to_string(),
            }
        }
        other => crate::words::camel_words(&format!("{other:?}")),
    }
}

/// A name as webpki lists it in a refusal (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`), as a person writes it.
fn presented_name(listed: &str) -> &str {
    for kind in ["DnsName", "IpAddress", "UniformResourceIdentifier"] {
        let inner = listed
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'));
        if let Some(inner) = inner {
            return inner.trim_matches('"');
        }
    }
    listed
}

/// Whether the handshake failed because the server's certificate was
/// refused (not for the connection or the protocol).
pub fn certificate_refused(error: &io::Error) -> bool {
    matches!(
        rustls_error(error),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Checks the server's certificate as `check` says; the handshake's
/// signatures are always verified against that certificate's key, so only
/// the holder of its private key can pass.
#[derive(Debug)]
struct Verifier {
    /// What the certificate must be.
    check: Check,
    /// For the handshake's signatures.
    algorithms: WebPkiSupportedAlgorithms,
}

/// What a server's certificate must be.
#[derive(Debug)]
enum Check {
    /// The one certificate whose fingerprint is pinned, whatever its names,
    /// issuer and dates: pinning replaces those checks.
    Pinned(Fingerprint),
    /// One of a CA file's certificates, or one that chains to them.
    CaFile(anchor::CaFile),
}

impl Verifier {
    fn new(check: Check) -> Self {
        Verifier {
            check,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

/// The server showed another certificate than the pinned one.
#[derive(Debug)]
struct PinMismatch {
    presented: Fingerprint,
    pinned: Fingerprint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its SHA-256 fingerprint is {}, not the pinned {}",
            self.presented, self.pinned
        )
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pin = match &self.check {
            Check::Pinned(pin) => *pin,
            Check::CaFile(ca) => {
                return ca.verify(end_entity, intermediates, server_name, ocsp_response, now)
            }
        };
        let presented = Fingerprint::of(end_entity);
        if presented == pin {
            return Ok(ServerCertVerified::assertion());
        }
        let mismatch = PinMismatch {
            presented,
            pinned: pin,
        };
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(mismatch)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// Fingerprints.

/// The SHA-256 digest of a certificate (DER). Shown as `openssl x509
/// -fingerprint -sha256` shows it: uppercase hex pairs joined by `:`.
/// Read with or without the colons, in any case.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(cert_der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(cert_der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let text = text
            .strip_prefix("SHA256:")
            .or_else(|| text.strip_prefix("sha256:"))
            .or_else(|| text.strip_prefix("sha256 Fingerprint="))
            .or_else(|| text.strip_prefix("SHA256 Fingerprint="))
            .unwrap_or(text);
        let hex: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
        let wanted = "a SHA-256 fingerprint: 64 hex digits, colons allowed";
        if hex.len() != 64 {
            return Err(format!("expected {wanted}; got {} digits", hex.len()));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => *byte = (high * 16 + low) as u8,
                _ => {
                    return Err(format!(
                        "expected {wanted}; found a character that is not hex"
                    ))
                }
            }
        }
        Ok(Fingerprint(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9";

    #[test]
    fn fingerprints_read_with_or_without_colons_in_any_case() {
        let canonical: Fingerprint = FP.parse().unwrap();
        assert_eq!(canonical.to_string(), FP);
        let bare = FP.replace(':', "").to_lowercase();
        assert_eq!(bare.parse::<Fingerprint>(), Ok(canonical));
        let openssl = format!("sha256 Fingerprint={FP}");
        assert_eq!(openssl.parse::<Fingerprint>(), Ok(canonical));
    }

    #[test]
    fn malformed_fingerprints_are_refused_with_the_expected_form() {
        let short = "AB:CD".parse::<Fingerprint>().unwrap_err();
        assert!(short.contains("64 hex digits"), "{short}");
        let not_hex = FP.replace("0A", "0G").parse::<Fingerprint>().unwrap_err();
        assert!(not_hex.contains("not hex"), "{not_hex}");
        assert!("".parse::<Fingerprint>().is_err());
        assert!(format!("{FP}:00").parse::<Fingerprint>().is_err());
    }

    #[test]
    fn a_fingerprint_is_the_sha256_of_the_der_certificate() {
        // SHA-256 of the empty input, a known value.
        assert_eq!(
            Fingerprint::of(b"").to_string().replace(':', ""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
    }

    #[test]
    fn tls_records_are_told_from_text() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(!looks_like_tls(b"Server: Welcome"));
        assert!(!looks_like_tls(&[0x16]));
        assert!(starts_handshake(0x16));
        assert!(!starts_handshake(b'\n'));
    }

    /// A certificate that is its own CA (as `openssl req -x509` makes by
    /// default), trusted as a CA and shown as the server's own: webpki's
    /// refusal, as rustls reports it, gets words of its own.
    #[test]
    fn a_ca_certificate_used_as_the_servers_own_is_named() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .unwrap();
        let name = server_name("localhost").unwrap();
        let refused = verifier
            .verify_server_cert(cert.der(), &[], &name, &[], UnixTime::now())
            .unwrap_err();
        let error = io::Error::new(io::ErrorKind::InvalidData, refused);
        let ca = Trust::CaFile("ca.pem".into());
        let text = describe_client_error(&error, "localhost", &ca);
        assert_eq!(
            text,
            "the server's certificate was refused: it is a CA certificate used as the \
             server's own (self-signed? give that very certificate with --tls-ca, or pin it \
             with --tls-fingerprint)"
        );
    }

    #[test]
    fn names_in_a_refusal_are_written_as_people_write_them() {
        let refusal = CertificateError::NotValidForNameContext {
            expected: server_name("chat.lan").unwrap(),
            presented: vec![
                "DnsName(\"localhost\")".to_string(),
                "IpAddress(127.0.0.1)".to_string(),
            ],
        };
        let text = describe_certificate_error(&refusal, "chat.lan", &Trust::System);
        assert_eq!(
            text,
            "it is not valid for chat.lan (it names localhost, 127.0.0.1)"
        );
    }

    #[test]
    fn a_self_signed_certificate_serves_and_reports_its_fingerprint() {
        let tls = self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(tls.self_signed);
        assert_eq!(tls.fingerprint.to_string().len(), 95);
    }
}
