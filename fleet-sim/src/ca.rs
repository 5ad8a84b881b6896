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
        let mut p = CertificateParams::new(Vec::<String>::new())?;
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
