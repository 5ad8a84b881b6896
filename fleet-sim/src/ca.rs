//! Device certificates for simulated devices, issued from the fleet CA's private key.
//!
//! The server trusts device certificates that chain to its `tls.device_ca` (ota-server/README.md,
//! "Configuration"). `ota-server init` makes a development fleet CA whose key it writes to
//! `tls/fleet-ca.key`; given that key, fleet-sim issues certificates under the same issuer name
//! (the CA's subject, `CN=ota-server development fleet CA`) and key, so they chain to the CA
//! certificate the server has. A CA with another subject is not supported.

use anyhow::{Context, Result};
use ota_protocol::device::DEVICE_ID_URI_PREFIX;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// The subject of the development fleet CA `ota-server init` makes.
pub const DEV_FLEET_CA_NAME: &str = "ota-server development fleet CA";

/// The fleet CA, able to issue device certificates.
pub struct FleetCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl std::fmt::Debug for FleetCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetCa").finish_non_exhaustive()
    }
}

/// A device's PEM certificate and PKCS#8 private key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl FleetCa {
    /// The development fleet CA from its private key (PEM, PKCS#8).
    pub fn from_key_pem(key_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("fleet CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, DEV_FLEET_CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // Only the issuer name and key of this certificate are used.
        let cert = params.self_signed(&key)?;
        Ok(Self { key, cert })
    }

    /// A client certificate naming the device as the server reads it: the URI SAN
    /// `urn:fwsign:device:<id>` and the CN its id, the OU its class.
    pub fn issue_device(&self, id: &str, class: Option<&str>) -> Result<Issued> {
        self.issue_device_for(id, class, None)
    }

    /// [`FleetCa::issue_device`], valid for `days` from now if given (a certificate due for
    /// renewal, to exercise rotation).
    pub fn issue_device_for(&self, id: &str, class: Option<&str>, days: Option<u32>) -> Result<Issued> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        if let Some(days) = days {
            let now = std::time::SystemTime::now();
            p.not_before = (now - std::time::Duration::from_secs(60)).into();
            p.not_after = (now + std::time::Duration::from_secs(u64::from(days) * 86_400)).into();
        }
        p.distinguished_name.push(DnType::CommonName, id);
        if let Some(c) = class {
            p.distinguished_name.push(DnType::OrganizationalUnitName, c);
        }
        p.subject_alt_names = vec![SanType::URI(format!("{DEVICE_ID_URI_PREFIX}{id}").try_into()?)];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.cert, &self.key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A PEM certificate's serial number as lower-case hex without leading zero bytes (as the
/// server lists certificates).
pub fn serial_of(cert_pem: &str) -> Option<String> {
    use x509_cert::der::DecodePem as _;
    let cert = x509_cert::Certificate::from_pem(cert_pem).ok()?;
    let bytes = cert.tbs_certificate.serial_number.as_bytes();
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    Some(hex::encode(&bytes[start..]))
}
