//! The issuing CA for device certificates (EST enrolment, `service/enrollment.rs`): a CA
//! certificate that chains to a fleet CA and its private key, kept apart from the fleet root and
//! from every firmware key. It issues operational device certificates from PKCS#10 requests,
//! signs the CRL, and packs certificates as EST answers them (CMS certs-only).
//!
//! Each check cites its source: RFC 7030 (EST), RFC 2986 (PKCS#10), RFC 5280 (certificates and
//! CRLs), RFC 5652 (CMS).

use std::path::Path;

use anyhow::Context as _;
use rand_core::{OsRng, RngCore as _};
use rcgen::{
    CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode as _, Encode as _};

use crate::domain::Millis;

/// Largest PKCS#10 request accepted (a P-384 or RSA-4096 request is well under 4 KiB).
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// Why a certificate request was refused (each maps to a stable error code in `http/`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsrError {
    #[error("the body is not a DER PKCS#10 certification request (RFC 2986)")]
    Malformed,
    /// RFC 7030 §3.4 / RFC 2986 §3: the request's signature, made with the private key of the
    /// public key it carries, is the proof that the client holds that key.
    #[error("the request's signature does not verify with the public key it carries (no proof of possession)")]
    NoProofOfPossession,
    #[error("the request's key algorithm is not one devices may use (ECDSA P-256/P-384, Ed25519, RSA ≥ 2048)")]
    UnsupportedKey,
}

/// A certification request whose proof of possession was checked.
#[derive(Debug)]
pub struct CheckedCsr {
    spki_der: Vec<u8>,
    /// The subject's common name, if the request names one.
    pub common_name: Option<String>,
}

impl CheckedCsr {
    /// The DER SubjectPublicKeyInfo the request carries.
    pub fn public_key(&self) -> &[u8] {
        &self.spki_der
    }
}

/// Parses a DER PKCS#10 request and checks its self-signature (proof of possession).
pub fn check_csr(der: &[u8]) -> Result<CheckedCsr, CsrError> {
    use x509_parser::prelude::FromDer as _;
    if der.len() > MAX_CSR_BYTES {
        return Err(CsrError::Malformed);
    }
    let (rest, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(der).map_err(|_| CsrError::Malformed)?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed);
    }
    // RFC 2986 §4.2: the signature over certificationRequestInfo, verified with its own key.
    csr.verify_signature().map_err(|_| CsrError::NoProofOfPossession)?;
    let info = &csr.certification_request_info;
    let spki_der = info.subject_pki.raw.to_vec();
    // rcgen accepts exactly the key types it can put into a certificate.
    rcgen::SubjectPublicKeyInfo::from_der(&spki_der).map_err(|_| CsrError::UnsupportedKey)?;
    if let x509_parser::public_key::PublicKey::RSA(rsa) =
        info.subject_pki.parsed().map_err(|_| CsrError::UnsupportedKey)?
    {
        if rsa.key_size() < 2048 {
            return Err(CsrError::UnsupportedKey);
        }
    }
    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    Ok(CheckedCsr { spki_der, common_name })
}

/// The subject and extensions of a device certificate, as `tls::identity_from_cert` reads
/// them: CN and URI SAN `urn:fwsign:device:<id>` name the device, OU its class; client
/// authentication only. The one definition for this CA and the development CA (`init`).
pub fn device_certificate_params(id: &str, class: Option<&str>) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, id);
    if let Some(c) = class {
        p.distinguished_name.push(DnType::OrganizationalUnitName, c);
    }
    p.subject_alt_names = vec![SanType::URI(
        format!("{}{id}", crate::tls::DEVICE_URI_PREFIX).try_into()?,
    )];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub der: Vec<u8>,
    /// Lower-case hex of the serial number's bytes.
    pub serial: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub fingerprint: String,
    pub not_before_ms: Millis,
    pub not_after_ms: Millis,
}

/// One entry of the CRL.
#[derive(Debug, Clone)]
pub struct RevokedSerial {
    pub serial: String,
    pub revoked_ms: Millis,
}

/// The issuing CA (its key in a file, mode 0600).
pub struct IssuingCa {
    /// The CA certificate as loaded (what `cacerts` returns).
    cert_der: Vec<u8>,
    /// rcgen's view of the CA for signing: its name, key identifier and key usages.
    signer: rcgen::Certificate,
    key: KeyPair,
    certificate_days: u32,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa")
            .field("certificate_days", &self.certificate_days)
            .finish_non_exhaustive()
    }
}

fn to_time(ms: Millis) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A fresh positive 16-byte serial (RFC 5280 §4.1.2.2: unique, positive, at most 20 octets).
fn new_serial() -> Vec<u8> {
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f).max(1);
    serial.to_vec()
}

/// Lower-case hex of a serial number's magnitude (leading zero bytes dropped), the form the
/// store, the API and the CRL use. `openssl x509 -serial` prints the same digits upper-case.
pub fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(&bytes[start..])
}

impl IssuingCa {
    /// Loads the CA certificate (PEM) and its private key (PKCS#8 PEM).
    pub fn load(cert: &Path, key: &Path, certificate_days: u32) -> anyhow::Result<Self> {
        let cert_pem = std::fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
        let key_pem = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
        Self::from_pem(&cert_pem, &key_pem, certificate_days)
            .with_context(|| format!("issuing CA {} with key {}", cert.display(), key.display()))
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str, certificate_days: u32) -> anyhow::Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("the CA key is not a PKCS#8 PEM private key")?;
        let cert_der = rustls::pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
            .context("the CA certificate is not a PEM certificate")?;
        let parsed = x509_cert::Certificate::from_der(&cert_der).context("parsing the CA certificate")?;
        let spki = parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .context("the CA certificate's public key")?;
        anyhow::ensure!(
            spki == key.public_key_der(),
            "the CA key does not belong to the CA certificate"
        );
        let mut params = CertificateParams::from_ca_cert_pem(cert_pem).context("reading the CA certificate")?;
        anyhow::ensure!(
            matches!(params.is_ca, rcgen::IsCa::Ca(_)),
            "the certificate is not a CA certificate (basicConstraints cA)"
        );
        // Issued certificates name this CA's subject key identifier (RFC 5280 §4.2.1.1);
        // a CA without one gets it derived from its key, as `init` derives it.
        if matches!(&params.key_identifier_method, KeyIdMethod::PreSpecified(id) if id.is_empty()) {
            params.key_identifier_method = KeyIdMethod::Sha256;
        }
        let signer = params.self_signed(&key).context("preparing the CA for signing")?;
        Ok(Self {
            cert_der,
            signer,
            key,
            certificate_days: certificate_days.max(1),
        })
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Issues an operational certificate for device `id` (CN and URI SAN; class in the OU, as
    /// `tls::identity_from_cert` reads them) for the key of `csr`, valid from now.
    pub fn issue(
        &self,
        csr: &CheckedCsr,
        id: &str,
        class: Option<&str>,
        now: Millis,
    ) -> anyhow::Result<IssuedCertificate> {
        let mut p = device_certificate_params(id, class)?;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.use_authority_key_identifier_extension = true;
        // A minute back, for devices whose clock runs a little behind.
        let not_before = now.saturating_sub(60_000);
        let not_after = now.saturating_add(Millis::from(self.certificate_days).saturating_mul(86_400_000));
        p.not_before = to_time(not_before);
        p.not_after = to_time(not_after);
        let serial = new_serial();
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(csr.public_key())?;
        let cert = p.signed_by(&public_key, &self.signer, &self.key)?;
        let der = cert.der().to_vec();
        Ok(IssuedCertificate {
            fingerprint: hex::encode(Sha256::digest(&der)),
            serial: serial_hex(&serial),
            not_before_ms: not_before.div_euclid(1000) * 1000,
            not_after_ms: not_after.div_euclid(1000) * 1000,
            der,
        })
    }

    /// A DER CRL (RFC 5280 §5) of `revoked`, valid from now for `next_update_s`; its CRL
    /// number is the generation time in milliseconds, so it grows with every new list.
    pub fn crl(&self, revoked: &[RevokedSerial], now: Millis, next_update_s: u64) -> anyhow::Result<Vec<u8>> {
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&hex::decode(&r.serial)?),
                    revocation_time: to_time(r.revoked_ms),
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let next_update_ms = Millis::try_from(next_update_s.max(1))
            .unwrap_or(Millis::MAX)
            .saturating_mul(1000);
        let params = CertificateRevocationListParams {
            this_update: to_time(now),
            next_update: to_time(now.saturating_add(next_update_ms)),
            crl_number: SerialNumber::from(u64::try_from(now).unwrap_or(0)),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.signer.params().key_identifier_method.clone(),
        };
        Ok(params.signed_by(&self.signer, &self.key)?.der().to_vec())
    }
}

/// `certs` as a CMS certs-only message (RFC 5652 SignedData with no signers), DER: the
/// `application/pkcs7-mime` body of EST's `cacerts` and `simpleenroll` (RFC 7030 §4.1.3, §4.2.3).
pub fn certs_only(certs: &[&[u8]]) -> anyhow::Result<Vec<u8>> {
    let path = certs
        .iter()
        .map(|der| x509_cert::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cms::content_info::ContentInfo::try_from(path)?.to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> IssuingCa {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "test issuing CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key).unwrap();
        IssuingCa::from_pem(&cert.pem(), &key.serialize_pem(), 90).unwrap()
    }

    fn csr(key: &KeyPair, cn: &str) -> Vec<u8> {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serialize_request(key).unwrap().der().to_vec()
    }

    #[test]
    fn issues_a_certificate_the_server_reads_as_the_device() {
        let ca = ca();
        let device_key = KeyPair::generate().unwrap();
        let checked = check_csr(&csr(&device_key, "ignored")).unwrap();
        assert_eq!(checked.common_name.as_deref(), Some("ignored"));
        let issued = ca
            .issue(&checked, "dev-7", Some("sensor-v1"), 1_700_000_000_000)
            .unwrap();
        let id = crate::tls::identity_from_cert(&issued.der).unwrap();
        assert_eq!((id.id.as_str(), id.class.as_deref()), ("dev-7", Some("sensor-v1")));
        // What the server reads off the certificate at the handshake (tls.rs) is what was issued.
        let presented = id.certificate.unwrap();
        assert_eq!(presented.serial, issued.serial);
        assert_eq!(presented.not_after_ms, issued.not_after_ms);
        assert_eq!(issued.not_after_ms - issued.not_before_ms, 90 * 86_400_000 + 60_000);
    }

    #[test]
    fn request_signed_by_another_key_has_no_proof_of_possession() {
        // A request carrying key A, signed by key B: splice A's public key into B's request.
        let (a, b) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let mut der = csr(&b, "dev");
        let (spki_a, spki_b) = (a.public_key_der(), b.public_key_der());
        let at = der.windows(spki_b.len()).position(|w| w == spki_b.as_slice()).unwrap();
        der[at..at + spki_a.len()].copy_from_slice(&spki_a);
        assert_eq!(check_csr(&der).unwrap_err(), CsrError::NoProofOfPossession);
        assert_eq!(check_csr(b"not a request").unwrap_err(), CsrError::Malformed);
    }

    #[test]
    fn serial_hex_drops_leading_zeros() {
        assert_eq!(serial_hex(&[0, 0x8f, 1]), "8f01");
        assert_eq!(serial_hex(&[0]), "00");
    }
}
