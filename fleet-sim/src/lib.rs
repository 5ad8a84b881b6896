//! Fleet simulator: N virtual devices against a real `ota-server`, each with its own
//! certificate, two flash slots and persistent anti-rollback state, running `device-verifier`
//! on every download. Library part of the `fleet-sim` binary, so tests and the demo drive it
//! in-process.
//!
//! Device-side code only: it speaks the device API through `ota-protocol`'s types and never
//! links the server (docs/ARCHITECTURE.md, "Crates").

pub mod ca;
pub mod device;
pub mod firmware;
pub mod net;
pub mod plan;
pub mod server_config;
pub mod summary;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::SubjectPublicKeyInfoDer;

pub use ca::{FleetCa, Issued};
pub use device::{DeviceReport, EndState};
pub use firmware::Provisioning;
pub use plan::{fleet, BootFailScope, DeviceFaults, DeviceSpec, FaultRates, FleetOptions};
pub use server_config::ServerConfig;
pub use summary::Summary;

/// Provisioning for a class: its vendor/class ids (derived as `signer release` does,
/// [`manifest::suit::class_ids`]) and the keys its devices trust.
pub fn provisioning(
    class: &str,
    vendor_domain: &str,
    manifest_keys: Vec<Vec<u8>>,
    image_keys: Vec<Vec<u8>>,
) -> Provisioning {
    let ids = manifest::suit::class_ids(vendor_domain, class);
    Provisioning {
        manifest_keys,
        image_keys,
        vendor_id: ids.vendor_id,
        class_id: ids.class_id,
    }
}

/// A PEM public key file as SPKI DER.
pub fn read_spki_pem(path: &Path) -> Result<Vec<u8>> {
    let der = SubjectPublicKeyInfoDer::from_pem_file(path).with_context(|| format!("public key {}", path.display()))?;
    Ok(der.as_ref().to_vec())
}

/// SHA-256 of `bytes`, in hex (how the device API names images and patches).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    <sha2::Sha256 as sha2::Digest>::digest(bytes).into()
}

/// Issues each device a certificate from `ca`, runs them all concurrently, and summarises.
pub async fn run(ca: &FleetCa, opts: &FleetOptions, specs: Vec<DeviceSpec>) -> Result<Summary> {
    let mut links = Vec::with_capacity(specs.len());
    for s in &specs {
        let issued = ca.issue_device_for(&s.id, Some(&s.class), opts.certificate_days)?;
        let serial = ca::serial_of(&issued.cert_pem);
        links.push((net::Link::new(opts, &issued).map_err(anyhow::Error::msg)?, serial));
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (spec, (link, serial))) in specs.into_iter().zip(links).enumerate() {
        let opts = opts.clone();
        tasks.spawn(async move { (i, device::run(spec, opts, link, serial).await) });
    }
    let mut reports = Vec::new();
    while let Some(r) = tasks.join_next().await {
        reports.push(r.context("device task")?);
    }
    reports.sort_by_key(|(i, _)| *i);
    let reports = reports.into_iter().map(|(_, r)| r).collect();
    Ok(Summary::new(reports, started.elapsed(), opts.clock_skew_s))
}
