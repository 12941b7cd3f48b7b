//! Trusting a CA file the way curl and openssl do: a server certificate
//! that is, byte for byte, one of the file's certificates is trusted as its
//! own anchor (the self-signed certificate of `openssl req -x509`, which
//! marks itself a CA), with its dates and its name still checked. Any other
//! certificate must chain to the file's CAs, checked by webpki as usual.

use std::sync::Arc;

use futures_rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use futures_rustls::rustls::client::WebPkiServerVerifier;
use futures_rustls::rustls::{self, CertificateError, RootCertStore};

/// The certificates of a CA file: anchors for chains, and accepted as
/// they are when the server shows one of them as its own.
#[derive(Debug)]
pub struct CaFile {
    /// The file's certificates, as DER.
    certs: Vec<CertificateDer<'static>>,
    /// Chains to the file's certificates, for everything else.
    chains: Arc<WebPkiServerVerifier>,
}

impl CaFile {
    pub fn new(certs: Vec<CertificateDer<'static>>) -> anyhow::Result<CaFile> {
        let mut roots = RootCertStore::empty();
        for cert in &certs {
            roots
                .add(cert.clone())
                .map_err(|e| anyhow::anyhow!("a certificate in it is not usable as a CA: {e}"))?;
        }
        if roots.is_empty() {
            anyhow::bail!("no PEM certificate in it");
        }
        let chains = WebPkiServerVerifier::builder_with_provider(roots.into(), super::provider())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot use its certificates: {e}"))?;
        Ok(CaFile { certs, chains })
    }

    /// Checks the server's certificate (the handshake's signatures are
    /// checked by the caller).
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return self.chains.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let refused = |e: CertificateError| rustls::Error::InvalidCertificate(e);
        let (not_before, not_after) =
            validity(end_entity).ok_or(refused(CertificateError::BadEncoding))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now < not_before {
            return Err(refused(CertificateError::NotValidYet));
        }
        if now > not_after {
            return Err(refused(CertificateError::Expired));
        }
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| refused(CertificateError::BadEncoding))?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|e| match e {
                // With the names the certificate is for, as rustls's own
                // verifier gives them, so the person is told.
                webpki::Error::CertNotValidForName(context) => {
                    refused(CertificateError::NotValidForNameContext {
                        expected: context.expected,
                        presented: context.presented,
                    })
                }
                _ => refused(CertificateError::NotValidForName),
            })?;
        Ok(ServerCertVerified::assertion())
    }
}

/// A certificate's validity (not before, not after), in seconds since
/// 1970, read from its DER: Certificate → tbsCertificate → (version,)
/// serial, signature algorithm, issuer, then validity.
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, certificate, _) = item(der)?;
    let (_, tbs, _) = item(certificate)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = item(rest)?.2; // [0] version
    }
    for _field in ["serial", "signature algorithm", "issuer"] {
        rest = item(rest)?.2;
    }
    let (0x30, validity, _) = item(rest)? else {
        return None;
    };
    let (tag, not_before, rest) = item(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = item(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// Whether a DER certificate is self-issued (its issuer is its subject),
/// as a self-signed one is.
pub fn self_issued(der: &[u8]) -> bool {
    let fields = || {
        let (_, certificate, _) = item(der)?;
        let (_, tbs, _) = item(certificate)?;
        let mut rest = tbs;
        if rest.first() == Some(&0xa0) {
            rest = item(rest)?.2; // [0] version
        }
        rest = item(rest)?.2; // serial
        rest = item(rest)?.2; // signature algorithm
        let (_, issuer, rest) = item(rest)?;
        let rest = item(rest)?.2; // validity
        let (_, subject, _) = item(rest)?;
        Some(issuer == subject)
    };
    fields().unwrap_or(false)
}

/// One DER item at the start of `input`: its tag, its contents, what follows.
fn item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let n = usize::from(first - 0x80);
            let bytes = rest.get(..n)?;
            let len = bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            (len, &rest[n..])
        }
        _ => return None,
    };
    let contents = rest.get(..len)?;
    Some((tag, contents, &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in
/// seconds since 1970.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    // Digits only, so that every slice below falls on a char boundary.
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |at: usize| rest[at..at + 2].parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// well-known algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_with_a_multibyte_character_is_refused_not_a_panic() {
        // 12 bytes of UTCTime, but a two-byte character across the slices.
        assert_eq!(time(0x17, "2é0101000000Z".as_bytes()), None);
        assert_eq!(time(0x18, "20é010100000Z".as_bytes()), None);
        assert_eq!(time(0x17, b"700101000000Z"), Some(0));
    }

    /// A self-signed certificate that calls itself a CA, as `openssl req
    /// -x509` makes one, valid between the two dates.
    fn self_signed_ca(
        name: &str,
        from: (i32, u8, u8),
        to: (i32, u8, u8),
    ) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn the_dates_are_read_from_the_certificate() {
        let cert = self_signed_ca("localhost", (2020, 3, 1), (2049, 12, 31));
        // 2020-03-01 and 2049-12-31 (UTCTime), 00:00:00.
        assert_eq!(validity(&cert), Some((1_583_020_800, 2_524_521_600)));
        let cert = self_signed_ca("localhost", (1975, 1, 1), (2051, 1, 1));
        // 2051 is written as GeneralizedTime.
        assert_eq!(validity(&cert), Some((157_766_400, 2_556_144_000)));
        assert_eq!(validity(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(validity(&[]), None);
    }

    #[test]
    fn a_self_signed_certificate_is_told_from_one_a_ca_signed() {
        let own = self_signed_ca("localhost", (2020, 1, 1), (4000, 1, 1));
        assert!(self_issued(&own));
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        assert!(!self_issued(leaf.der()));
        assert!(!self_issued(b"junk"));
    }

    fn verify(cert: &CertificateDer<'static>, name: &str) -> Result<(), rustls::Error> {
        let verifier = CaFile::new(vec![cert.clone()]).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify(cert, &[], &name, &[], UnixTime::now())
            .map(drop)
    }

    #[test]
    fn a_self_signed_certificate_in_the_ca_file_is_its_own_anchor() {
        let cert = self_signed_ca("localhost", (2020, 1, 1), (4000, 1, 1));
        assert!(verify(&cert, "localhost").is_ok());
    }

    #[test]
    fn its_name_and_dates_are_still_checked() {
        let cert = self_signed_ca("localhost", (2020, 1, 1), (4000, 1, 1));
        let wrong_name = verify(&cert, "chat.example.org").unwrap_err();
        let rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) = wrong_name
        else {
            panic!("not a name mismatch with its names: {wrong_name:?}");
        };
        assert_eq!(presented, [r#"DnsName("localhost")"#]);
        let expired = self_signed_ca("localhost", (2000, 1, 1), (2001, 1, 1));
        assert_eq!(
            verify(&expired, "localhost").unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::Expired)
        );
        let early = self_signed_ca("localhost", (3000, 1, 1), (3001, 1, 1));
        assert_eq!(
            verify(&early, "localhost").unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::NotValidYet)
        );
    }

    #[test]
    fn another_certificate_must_chain_to_the_file() {
        let in_file = self_signed_ca("localhost", (2020, 1, 1), (4000, 1, 1));
        let other = self_signed_ca("localhost", (2020, 1, 1), (4000, 1, 1));
        let verifier = CaFile::new(vec![in_file]).unwrap();
        let name = ServerName::try_from("localhost".to_string()).unwrap();
        let refused = verifier
            .verify(&other, &[], &name, &[], UnixTime::now())
            .unwrap_err();
        assert!(
            matches!(refused, rustls::Error::InvalidCertificate(_)),
            "{refused:?}"
        );
    }
}
