//! rustls server configuration (mutual TLS against the fleet CAs) and device identity from the
//! client certificate.
//!
//! The handshake only proves the certificate chains to a fleet CA; revocation is checked per
//! request against the store (so a revoked device is refused on an already-open connection too).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _, Tag, Tagged as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::config::TlsConfig;

/// URI SAN prefix that names a device (`urn:fwsign:device:<id>`); takes precedence over the CN.
pub use ota_protocol::device::DEVICE_ID_URI_PREFIX as DEVICE_URI_PREFIX;

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// Who a client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub id: String,
    /// Device class from the subject OU, if the CA put one there.
    pub class: Option<String>,
    /// The certificate itself; `None` for the development header identity.
    pub certificate: Option<PresentedCertificate>,
}

/// What the server needs of the certificate a device connected with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCertificate {
    /// Lower-case hex (`ca::serial_hex`): checked against the device's revoked serials.
    pub serial: String,
    /// End of validity: the check-in answer asks for renewal ahead of it.
    pub not_after_ms: crate::domain::Millis,
    /// DER SubjectPublicKeyInfo: a re-enrolment must bring another key.
    pub spki_der: Vec<u8>,
}

/// Device ids: 1–128 of `[A-Za-z0-9._:-]`.
pub fn valid_device_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn attr_string(value: &x509_cert::attr::AttributeValue) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(value.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// Device id (URI SAN `urn:fwsign:device:<id>`, else subject CN) and class (subject OU).
pub fn identity_from_cert(der: &[u8]) -> Option<DeviceIdentity> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let mut cn = None;
    let mut ou = None;
    for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == OID_CN && cn.is_none() {
                cn = attr_string(&atv.value);
            } else if atv.oid == OID_OU && ou.is_none() {
                ou = attr_string(&atv.value);
            }
        }
    }
    let mut uri_id = None;
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id != OID_SAN {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes()).ok()?;
        for name in san.0 {
            if let GeneralName::UniformResourceIdentifier(uri) = name {
                if let Some(id) = uri.as_str().strip_prefix(DEVICE_URI_PREFIX) {
                    uri_id.get_or_insert_with(|| id.to_owned());
                }
            }
        }
    }
    let id = uri_id.or(cn)?;
    let not_after = tbs.validity.not_after.to_unix_duration().as_millis();
    let certificate = PresentedCertificate {
        serial: crate::ca::serial_hex(tbs.serial_number.as_bytes()),
        not_after_ms: crate::domain::Millis::try_from(not_after).unwrap_or(crate::domain::Millis::MAX),
        spki_der: tbs.subject_public_key_info.to_der().ok()?,
    };
    valid_device_id(&id).then_some(DeviceIdentity {
        id,
        class: ou,
        certificate: Some(certificate),
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
    Ok(certs)
}

/// Server config: our certificate, client certificates optional at the handshake (admins use
/// bearer tokens) but, when presented, verified against the fleet CAs.
///
/// `issuing_ca`: the enrolment CA (`[enrollment] ca_cert`), trusted for client certificates
/// too, so that a device presents only the certificate EST gave it.
pub fn server_config(tls: &TlsConfig, issuing_ca: Option<&Path>) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in tls.device_ca.iter().map(PathBuf::as_path).chain(issuing_ca) {
        for cert in load_certs(ca)? {
            roots.add(cert).with_context(|| format!("fleet CA {}", ca.display()))?;
        }
    }
    anyhow::ensure!(!roots.is_empty(), "tls.device_ca names no fleet CA");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("client verifier")?;
    let certs = load_certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).with_context(|| format!("reading {}", tls.key.display()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .context("server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(params: rcgen::CertificateParams) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn id_from_cn_and_class_from_ou() {
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "dev-001");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "sensor-v2");
        let id = identity_from_cert(&cert(p)).unwrap();
        assert_eq!(id.id, "dev-001");
        assert_eq!(id.class.as_deref(), Some("sensor-v2"));
    }

    #[test]
    fn uri_san_wins_over_cn() {
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "ignored");
        p.subject_alt_names = vec![rcgen::SanType::URI("urn:fwsign:device:abc-9".try_into().unwrap())];
        assert_eq!(identity_from_cert(&cert(p)).unwrap().id, "abc-9");
    }

    #[test]
    fn hostile_ids_refused() {
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "../../etc");
        assert_eq!(identity_from_cert(&cert(p)), None);
        assert!(!valid_device_id(""));
        assert!(!valid_device_id(&"a".repeat(129)));
    }
}
