//! Development keys and the demo's firmware: the repository's real Cortex-M4 v1 and v2 payloads,
//! re-signed with freshly generated keys, and releases cut with `signer`'s library (SUIT
//! envelope, delta patches) exactly as `signer release` does.
//!
//! Every signature goes through `signer`'s [`AuditedKey`], as the `signer` commands' do: its
//! record is appended to [`AUDIT_LOG`] in the demo's directory before the signed image or
//! release exists.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use manifest::image::{ImageVersion, ImageView, TrailerLayout};
use signer::audit::{sha256_hex, AuditEntry, AuditedKey};
use signer::image::SignSettings;
use signer::keys::{generate_file_key, load_file_key, FileKey, KeyAlgorithm, SigningKey as _};
use signer::output::Overwrite;
use signer::release::sign::KeyCoseSigner;
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseBundle, ReleaseInput};

/// Flash slot the demo images are signed for.
pub const SLOT_SIZE: u32 = 0x20000;

/// The signing audit log, in the demo's directory: one JSON line per signature (image or
/// manifest), written before the signed output exists. Kept across runs with the keys.
pub const AUDIT_LOG: &str = "audit.jsonl";

/// The two development keys: MCUboot image key and SUIT manifest key (separate, as in
/// production). They sign only through the audit log ([`DevKeys::sign`], [`DevKeys::cut_release`]
/// open them as [`AuditedKey`]s); the key files stay private to this type.
#[derive(Debug)]
pub struct DevKeys {
    image: PathBuf,
    manifest: PathBuf,
    image_spki: Vec<u8>,
    manifest_spki: Vec<u8>,
    pub image_pub: PathBuf,
    pub manifest_pub: PathBuf,
    /// Where every signature is recorded ([`AUDIT_LOG`] in the demo's directory).
    pub audit_log: PathBuf,
}

/// The development key `<name>.pem` in `dir`, loaded if present, else generated (mode 0600);
/// its public PEM beside it. Returns the key, its public PEM's path and whether it was kept.
fn load_or_generate_key(dir: &Path, name: &str) -> Result<(FileKey, PathBuf, bool)> {
    let path = dir.join(format!("{name}.pem"));
    let (key, reused) = if path.exists() {
        keep_private(&path)?;
        let key = load_file_key(&path).map_err(|f| anyhow::anyhow!("{f}"))?;
        (key, true)
    } else {
        let key =
            generate_file_key(KeyAlgorithm::Ed25519, &path, Overwrite::Refuse).map_err(|f| anyhow::anyhow!("{f}"))?;
        (key, false)
    };
    let spki = key.public_spki().map_err(|f| anyhow::anyhow!("{f}"))?;
    let pem = spki::der::pem::encode_string("PUBLIC KEY", spki::der::pem::LineEnding::LF, &spki)
        .map_err(|e| anyhow::anyhow!("encoding a public key: {e}"))?;
    let public = dir.join(format!("{name}.pub.pem"));
    // The public half is derived: written when missing or not the key's (never a secret).
    if std::fs::read_to_string(&public).ok().as_deref() != Some(pem.as_str()) {
        std::fs::write(&public, pem).with_context(|| format!("writing {}", public.display()))?;
    }
    Ok((key, public, reused))
}

/// A private key file kept from an earlier run must be readable by its owner only (0600): a
/// broader mode (copied around, restored from a backup) is narrowed, never widened.
pub fn keep_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "{} is not a file", path.display());
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to mode 0600", path.display()))?;
    }
    Ok(())
}

impl DevKeys {
    /// The image and manifest keys in `dir` (Ed25519, PKCS#8 files, mode 0600) and their public
    /// PEMs: kept from an earlier run when present (never replaced), generated otherwise.
    /// Signatures are recorded in `dir`/[`AUDIT_LOG`]. Returns whether both keys were kept.
    pub fn load_or_generate(dir: &Path) -> Result<(Self, bool)> {
        let (image, image_pub, kept_image) = load_or_generate_key(dir, "image-key")?;
        let (manifest, manifest_pub, kept_manifest) = load_or_generate_key(dir, "manifest-key")?;
        let spki = |key: &FileKey| key.public_spki().map_err(|f| anyhow::anyhow!("{f}"));
        let keys = Self {
            image_spki: spki(&image)?,
            manifest_spki: spki(&manifest)?,
            image: dir.join("image-key.pem"),
            manifest: dir.join("manifest-key.pem"),
            image_pub,
            manifest_pub,
            audit_log: dir.join(AUDIT_LOG),
        };
        Ok((keys, kept_image && kept_manifest))
    }

    pub fn image_spki(&self) -> Result<Vec<u8>> {
        Ok(self.image_spki.clone())
    }

    pub fn manifest_spki(&self) -> Result<Vec<u8>> {
        Ok(self.manifest_spki.clone())
    }

    /// The key file at `path`, opened for signing through the audit log (as the `signer`
    /// commands open `-k`): `template` holds the operation's fields, the key's are filled in.
    fn audited(&self, path: &Path, template: AuditEntry) -> Result<AuditedKey> {
        let key = load_file_key(path).map_err(|f| anyhow::anyhow!("{f}"))?;
        AuditedKey::new(Box::new(key), self.audit_log.clone(), template).map_err(|f| anyhow::anyhow!("{f}"))
    }

    /// Signs `payload` as MCUboot image `major.minor.0` with the image key, through the audit log.
    pub fn sign(&self, payload: &[u8], major: u8, minor: u8) -> Result<Vec<u8>> {
        let settings = SignSettings::new(
            ImageVersion {
                major,
                minor,
                revision: 0,
                build: 0,
            },
            SLOT_SIZE,
        )
        .pad_header(true)
        .security_counter(Some(0))
        .trailer(TrailerLayout::for_align(8, None));
        // As `signer sign` fills its template (input and output are in memory here).
        let mut template = AuditEntry::for_command("sign");
        template.input_sha256 = Some(sha256_hex(payload));
        template.version = Some(settings.image.version.to_string());
        template.security_counter = settings.image.security_counter;
        let key = self.audited(&self.image, template)?;
        Ok(key
            .sign_image(payload, &settings)
            .map_err(|f| anyhow::anyhow!("{f}"))?
            .bytes)
    }

    /// Cuts a signed release bundle (envelope, image, patches, summary) with the manifest key,
    /// through the audit log.
    pub fn cut_release(&self, spec: &ReleaseSpec<'_>) -> Result<ReleaseBundle> {
        let deltas = spec
            .delta_from
            .iter()
            .enumerate()
            .map(|(i, base)| {
                let patch = signer::delta::create(base, spec.image, &|_, _| {}).map_err(|f| anyhow::anyhow!("{f}"))?;
                Ok(DeltaRef {
                    format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
                    precursor_image: base.to_vec(),
                    patch,
                    file_name: format!("delta-{i}.patch"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // As `signer release` fills its template.
        let mut template = AuditEntry::for_command("release");
        template.input_sha256 = Some(sha256_hex(spec.image));
        template.version = Some(spec.version.into());
        template.sequence = Some(spec.sequence);
        let key = self.audited(&self.manifest, template)?;
        let cose = KeyCoseSigner::new(&key).map_err(|f| anyhow::anyhow!("{f}"))?;
        build_release(
            ReleaseInput {
                image: spec.image.to_vec(),
                image_name: "firmware.bin".into(),
                image_uri: None,
                sequence: spec.sequence,
                vendor_domain: spec.vendor_domain.into(),
                class_name: spec.class.into(),
                version: spec.version.into(),
                notes: format!("demo release {}", spec.version),
                deltas,
            },
            &[&cose as &dyn CoseSigner],
        )
        .map_err(|f| anyhow::anyhow!("{f}"))
    }
}

/// The firmware body of a signed MCUboot image.
pub fn payload(signed: &[u8]) -> Result<Vec<u8>> {
    let view = ImageView::parse(signed).map_err(|e| anyhow::anyhow!("not an MCUboot image: {e:?}"))?;
    Ok(view.body().to_vec())
}

/// The repository's real firmware pair (v1 → v2 of a Cortex-M4 application), as payloads.
pub fn repo_payloads(repo: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = repo.join("fixtures/images").join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        payload(&bytes)
    };
    Ok((read("fw-v1.signed.bin")?, read("fw-v2.signed.bin")?))
}

/// What a release is cut from.
#[derive(Debug)]
pub struct ReleaseSpec<'a> {
    pub image: &'a [u8],
    pub version: &'a str,
    pub sequence: u64,
    pub class: &'a str,
    pub vendor_domain: &'a str,
    /// Images devices may run now: a delta patch is made from each.
    pub delta_from: Vec<&'a [u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use signer::audit::read_log;

    /// Each image and manifest signature is in the audit log, naming the key that made it and,
    /// for images, the signed digest and the exact bytes returned.
    #[test]
    fn every_signature_is_in_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, kept) = DevKeys::load_or_generate(dir.path()).unwrap();
        assert!(!kept);
        let payload = vec![0x5a; 4096];
        let v1 = keys.sign(&payload, 1, 0).unwrap();
        let v2 = keys.sign(&payload[..2048], 2, 0).unwrap();
        let bundle = keys
            .cut_release(&ReleaseSpec {
                image: &v2,
                version: "2.0.0",
                sequence: 2,
                class: "c",
                vendor_domain: "example.com",
                delta_from: vec![&v1],
            })
            .unwrap();
        assert_eq!(bundle.image, v2);

        let log = read_log(&dir.path().join(AUDIT_LOG)).unwrap();
        let commands: Vec<&str> = log.iter().map(|e| e.command.as_str()).collect();
        assert_eq!(commands, ["sign", "sign", "release"]);
        let key_hash = |spki: Vec<u8>| hex_of(&signer::keys::key_hash(&spki));
        for (entry, image) in log.iter().zip([&v1, &v2]) {
            assert_eq!(entry.key_hash, key_hash(keys.image_spki().unwrap()));
            assert_eq!(entry.output_sha256, Some(sha256_hex(image)));
            assert!(entry.signed_digest.is_some(), "{entry:?}");
        }
        assert_eq!(log[1].version.as_deref(), Some("2.0.0+0"));
        let release = &log[2];
        assert_eq!(release.key_hash, key_hash(keys.manifest_spki().unwrap()));
        assert_eq!(release.sequence, Some(2));
        assert_eq!(release.input_sha256, Some(sha256_hex(&v2)));
        assert!(release.signed_message_sha256.is_some(), "{release:?}");
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
